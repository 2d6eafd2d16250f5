"""The gazetteer's index: what an OpenStreetMap extract names, and where.

`load_index` reads an extract (XML or PBF, `optimizer.geo.osmfile`) once and keeps the result
in the cache folder; `Index` is the typed form the matcher (`optimizer.geo.geocode.gazetteer`)
works on: named places (`GazetteerEntry`), street lines (`StreetLine`), address points by street
and number, and the towns and postcodes (localities) a query can name.

What is indexed
---------------
Addresses (``addr:street`` + ``addr:housenumber``), named buildings and residential compounds,
named POIs, place nodes and named streets, under their ``name``, ``name:zh``, ``name:en``,
``name:zh_pinyin`` (and ``name:zh_py``, ``alt_name``) tags. Ways named only in Latin letters
join the Chinese street whose other ways carry that name as ``name:en``/pinyin.

Several towns in one extract
----------------------------
Same-name street chains more than ``STREET_SPLIT_M`` (1 km) apart are different streets (the
Hauptstraße of each village): instances ``key``, ``key#2``... Towns and postcodes are known from
``addr:city`` / ``addr:postcode`` tags (an area around their tagged points) and
``place=city/town/village`` nodes (`LOCALITY_RADIUS_M`).

House-number interpolation rule
-------------------------------
A street's geometry is the longest chain of its same-name ways joined end to end, oriented to
start at the end nearer the centre of the extract (house numbers in Chinese cities usually grow
away from the centre). House number ``n`` lands at distance ``min(n / max_n, 1) * length`` from
the start, where ``max_n = max(length_m / 5, largest numeric house number tagged on that street
in the extract)``: one number every 5 m, numbers beyond the end clamp to the end. A street named
without a number lands at its middle.

The cache file
--------------
``gazetteer-<sha256 of the extract, 20 hex>-v<INDEX_VERSION>.json.gz``: gzipped JSON (plain data,
not a pickle: a shared cache folder cannot run code) holding ``sha256``, ``version``, ``bounds``
(min lat, min lon, max lat, max lon), ``entries`` (label, kind, lat, lon, names, area),
``addresses`` (label, lat, lon, n, streets, number, area), ``streets`` (key -> label, lat, lon,
max_n, names), ``aliases`` (name key -> street key), ``admin``, ``area_words`` and
``localities`` (key -> lat, lon, radius_m). It is written under a temporary name and renamed into
place; one that cannot be read (truncated by a crash, not ours) is set aside and rebuilt.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optimizer import atomic
from optimizer.bundled import default_osm_path
from optimizer.cache import default_cache_dir, file_sha256, set_aside
from optimizer.errors import MissingFileError
from optimizer.geo.geocode.normalize import (
    has_cjk,
    leading_number,
    normalize,
    primary_name,
    split_name,
)
from optimizer.geo.osmfile import FORMATS, OsmElement, OsmFileError, iter_osm
from optimizer.progress import Progress, ensure

logger = logging.getLogger(__name__)

KINDS = ("address", "building", "poi", "place", "street")

DEFAULT_OSM_PATH = default_osm_path()
# bump when the index layout or the normalisation changes: old cache files are then ignored
INDEX_VERSION = 17
METRES_PER_HOUSE_NUMBER = 5.0
STREET_SPLIT_M = 1000.0  # same-name street chains farther apart are different streets
#: radius of a place=* node's locality, metres (a query naming the place keeps results within)
LOCALITY_RADIUS_M = {"city": 15_000.0, "town": 5_000.0, "village": 2_000.0}
LOCALITY_MARGIN_M = 1_000.0  # added to the spread of a town's or postcode's address points

# what a cache file that is not a readable index of ours raises while it is read
_UNREADABLE = (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, AttributeError)


# --------------------------------------------------------------------------- geometry


def dist_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(min(1.0, a)))


@dataclass(frozen=True)
class StreetLine:
    """A named street as a polyline, for house-number interpolation."""

    label: str
    names: tuple[str, ...]
    lat: tuple[float, ...]
    lon: tuple[float, ...]
    cum_m: tuple[float, ...]  # distance from the start to each vertex
    max_n: float

    @property
    def length_m(self) -> float:
        return self.cum_m[-1]

    def point_at(self, distance_m: float) -> tuple[float, float]:
        """The point ``distance_m`` along the line from its start, clamped to its ends."""
        d = min(max(distance_m, 0.0), self.length_m)
        for i in range(1, len(self.cum_m)):
            if self.cum_m[i] >= d:
                seg = self.cum_m[i] - self.cum_m[i - 1]
                f = 0.0 if seg <= 0 else (d - self.cum_m[i - 1]) / seg
                return (
                    self.lat[i - 1] + f * (self.lat[i] - self.lat[i - 1]),
                    self.lon[i - 1] + f * (self.lon[i] - self.lon[i - 1]),
                )
        return self.lat[-1], self.lon[-1]

    def house(self, number: int) -> tuple[float, float]:
        """Where house ``number`` lands by the interpolation rule (module docstring)."""
        return self.point_at(min(number / self.max_n, 1.0) * self.length_m)


def _cumulative(lat: Sequence[float], lon: Sequence[float]) -> list[float]:
    cum = [0.0]
    for i in range(1, len(lat)):
        cum.append(cum[-1] + dist_m(lat[i - 1], lon[i - 1], lat[i], lon[i]))
    return cum


def _join(a: list[int], b: list[int]) -> list[int] | None:
    """The two node chains joined at a shared end (``b`` reversed if need be), else ``None``."""
    if a[-1] == b[0]:
        return a + b[1:]
    if a[-1] == b[-1]:
        return a + b[-2::-1]
    if a[0] == b[-1]:
        return b + a[1:]
    if a[0] == b[0]:
        return b[::-1] + a[1:]
    return None


def _chains(ways: list[list[int]]) -> list[list[int]]:
    """Ways (node id lists) joined end to end into as few chains as the shared ends allow."""
    chains = [list(w) for w in ways]
    merged = True
    while merged:
        merged = False
        for i in range(len(chains)):
            for j in range(i + 1, len(chains)):
                if chains[i][0] == chains[i][-1] or chains[j][0] == chains[j][-1]:
                    continue  # closed rings stay as they are
                joined = _join(chains[i], chains[j])
                if joined is not None:
                    chains[i] = joined
                    del chains[j]
                    merged = True
                    break
            if merged:
                break
    return chains


_Line = tuple[float, list[tuple[float, float]]]  # (length in metres, its (lat, lon) points)


def _proximity_groups(lines: list[_Line], max_gap_m: float) -> list[list[_Line]]:
    """Group polylines that come within ``max_gap_m`` of each other (single linkage)."""
    if len(lines) <= 1:
        return [lines] if lines else []
    lat0 = math.radians(sum(pts[0][0] for _, pts in lines) / len(lines))
    m_per_deg = 111_195.0
    xy = []
    for _, pts in lines:
        a = [((p[1] * math.cos(lat0)) * m_per_deg, p[0] * m_per_deg) for p in pts]
        xs, ys = [q[0] for q in a], [q[1] for q in a]
        xy.append((a, (min(xs), min(ys), max(xs), max(ys))))
    parent = list(range(len(lines)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if find(i) == find(j):
                continue
            (a, ba), (b, bb) = xy[i], xy[j]
            gap_x = max(ba[0] - bb[2], bb[0] - ba[2], 0.0)
            gap_y = max(ba[1] - bb[3], bb[1] - ba[3], 0.0)
            if math.hypot(gap_x, gap_y) > max_gap_m:
                continue  # the bounding boxes are already too far apart
            limit = max_gap_m * max_gap_m
            if any((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 <= limit for p in a for q in b):
                parent[find(j)] = find(i)
    groups: dict[int, list[_Line]] = defaultdict(list)
    for i, line in enumerate(lines):
        groups[find(i)].append(line)
    return list(groups.values())


# --------------------------------------------------------------------------- OSM tags

_POI_KEYS = ("amenity", "shop", "tourism", "leisure", "office", "historic", "craft", "healthcare")
_NAME_KEYS = ("name", "name:zh", "name:en", "name:zh_pinyin", "name:zh_py", "alt_name")
_ADMIN_PLACES = {"city", "town", "suburb", "district", "borough", "province", "state", "county"}
_SKIP_HIGHWAYS = {"bus_stop", "platform", "traffic_signals", "crossing", "stop", "elevator"}
_TRANSPORT_RELATIONS = ("public_transport", "route", "network")
# tags whose values name the area, not a place: dropped when a whole part of a query
_AREA_WORD_KEYS = ("addr:city", "addr:district", "addr:suburb", "addr:province", "addr:state")


def _classify(tags: dict[str, str], element: str) -> str | None:
    """The kind of place an element is, ``None`` for elements that are none."""
    if element == "way" and "highway" in tags and tags["highway"] not in _SKIP_HIGHWAYS:
        return "street"
    if any(k in tags for k in _POI_KEYS) or tags.get("railway") == "station":
        return "poi"
    if "building" in tags or tags.get("landuse") == "residential":
        return "building"
    if "place" in tags:
        return "place"
    return None


def _names(tags: dict[str, str]) -> list[str]:
    """Every name an element carries (all name tags, ``;``-lists and bilingual halves split)."""
    out: list[str] = []
    for k in _NAME_KEYS:
        for value in tags.get(k, "").split(";"):
            for part in split_name(value.strip()):
                if part and part not in out:
                    out.append(part)
    return out


def _area_tags(tags: dict[str, str]) -> list[str]:
    """The town and postcode an element is tagged with, as locality keys."""
    out = []
    for k in ("addr:city", "addr:postcode"):
        key = normalize(tags.get(k, ""))
        if key and key not in out:
            out.append(key)
    return out


# --------------------------------------------------------------------------- reading an extract

# street, number, lat, lon, name, area (locality keys) of an addr:street + addr:housenumber
_AddressPoint = tuple[str, str, float, float, str, list[str]]


@dataclass
class _Reading:
    """What one pass over the elements of an extract collects (`_read_elements`)."""

    nodes: dict[int, tuple[float, float]] = field(default_factory=dict)
    way_nodes: dict[int, list[int]] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    # street key (its primary name) -> (label, node ids) of each of its ways
    street_ways: dict[str, list[tuple[str, list[int]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # name key -> street key -> how many of the street's ways carry that name
    street_aliases: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    street_names: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # all
    address_points: list[_AddressPoint] = field(default_factory=list)
    places: list[tuple[str, str, float, float]] = field(default_factory=list)  # kind, name, pos
    admin: set[str] = field(default_factory=set)
    area_words: set[str] = field(default_factory=set)  # only dropped as whole parts of a query
    bounds: tuple[float, float, float, float] | None = None

    def _centre(self, refs: Iterable[int]) -> tuple[float, float] | None:
        """The mean position of the distinct nodes read so far among ``refs``."""
        pts = {r: self.nodes[r] for r in refs if r in self.nodes}
        if not pts:
            return None
        return (
            sum(p[0] for p in pts.values()) / len(pts),
            sum(p[1] for p in pts.values()) / len(pts),
        )

    def _position(self, el: OsmElement) -> tuple[float, float] | None:
        """Where an element is (ways and relations: the mean of their nodes); nodes and ways
        are kept for the ways and relations that follow them."""
        if el.kind == "node":
            self.nodes[el.id] = (el.lat, el.lon)
            return el.lat, el.lon
        if el.kind == "way":
            self.way_nodes[el.id] = el.refs
            return self._centre(el.refs)
        refs = [r for kind, ref in el.members if kind == "way" for r in self.way_nodes.get(ref, [])]
        return self._centre(refs)

    def add(self, el: OsmElement) -> None:
        """Record one node, way or relation."""
        pos = self._position(el)
        tags = el.tags
        if not tags:
            return
        if tags.get("boundary") == "administrative" or tags.get("place") in _ADMIN_PLACES:
            self.admin.update(_names(tags))
            if tags.get("boundary") == "administrative":
                return
        if el.kind == "relation" and tags.get("type") in _TRANSPORT_RELATIONS:
            return
        if pos is None:
            return
        self.area_words.update(tags[k] for k in _AREA_WORD_KEYS if tags.get(k))
        area = _area_tags(tags)
        if tags.get("place") in LOCALITY_RADIUS_M and tags.get("name"):
            self.places.append((tags["place"], tags["name"], pos[0], pos[1]))
        street, number = tags.get("addr:street"), tags.get("addr:housenumber")
        if street and number:
            self.address_points.append(
                (street, number, pos[0], pos[1], tags.get("name", ""), area)
            )
        kind = _classify(tags, el.kind)
        names = _names(tags)
        if kind is None or not names:
            return
        if kind == "street":
            primary = primary_name(tags.get("name") or names[0])
            pkey = normalize(primary)
            self.street_ways[pkey].append((primary, self.way_nodes[el.id]))
            for name in names:
                self.street_aliases[normalize(name)][pkey] += 1
            self.street_names[pkey].update(names)
            return
        self.entries.append({"label": names[0], "kind": kind, "lat": pos[0], "lon": pos[1],
                             "names": names, "area": area})  # fmt: skip

    def merge_latin_streets(self) -> None:
        """Ways named only in Latin letters ("Fuqing Road 3rd section") join the Chinese street
        whose other ways carry the same name as name:en/pinyin."""
        for pkey in [k for k in self.street_ways if not has_cjk(k)]:
            owners = {k: c for k, c in self.street_aliases.get(pkey, {}).items() if has_cjk(k)}
            if owners:
                target = max(owners, key=lambda k: (owners[k], k))
                self.street_ways[target].extend(self.street_ways.pop(pkey))
                self.street_names[target].update(self.street_names.pop(pkey, set()))
                self.street_aliases[pkey] = defaultdict(int, {target: 1})


def _read_elements(path: Path, progress: Progress | None) -> _Reading:
    reading = _Reading()
    with ensure(progress).step(f"Reading {path.name}", total=None) as advance:
        for el in iter_osm(path):
            if el.kind == "bounds":
                reading.bounds = el.box
                continue
            advance(1)
            reading.add(el)
    return reading


def _addresses(points: list[_AddressPoint]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The address points as index records, and the largest house number per street key."""
    addresses: list[dict[str, Any]] = []
    largest: dict[str, int] = defaultdict(int)
    for street, number, lat, lon, name, area in points:
        n = leading_number(number)
        label = f"{street} {number}" + (f" ({name})" if name else "")
        street_keys = [normalize(s) for s in split_name(street)]
        addresses.append({"label": label, "lat": lat, "lon": lon, "n": n, "streets": street_keys,
                          "number": normalize(number), "area": area})  # fmt: skip
        if n is not None:
            for sk in street_keys:
                largest[sk] = max(largest[sk], n)
    return addresses, largest


def _street_instances(
    skey: str,
    ways: list[tuple[str, list[int]]],
    nodes: dict[int, tuple[float, float]],
    largest: Mapping[str, int],
    centre: tuple[float, float],
) -> dict[str, dict[str, Any]]:
    """The street records of one street key: one per group of chains (module docstring)."""
    label = min((lbl for lbl, _ in ways), key=lambda s: (not has_cjk(s), len(s), s))
    lines: list[_Line] = []
    for chain in _chains([[r for r in refs if r in nodes] for _, refs in ways]):
        pts = [nodes[r] for r in chain]
        length = sum(dist_m(*pts[i - 1], *pts[i]) for i in range(1, len(pts)))
        if len(pts) >= 2 and length > 0:
            lines.append((length, pts))
    # same-name streets of different towns are different streets: chains farther than
    # STREET_SPLIT_M from each other are separate instances ("key", "key#2", ...), the
    # longest chain of each instance is its geometry
    groups = sorted(
        (max(group) for group in _proximity_groups(lines, STREET_SPLIT_M)),
        key=lambda line: -line[0],
    )
    out: dict[str, dict[str, Any]] = {}
    for rank_i, (length, pts) in enumerate(groups):
        if dist_m(*pts[-1], *centre) < dist_m(*pts[0], *centre):
            pts = pts[::-1]
        out[skey if rank_i == 0 else f"{skey}#{rank_i + 1}"] = {
            "label": label,
            "lat": [p[0] for p in pts],
            "lon": [p[1] for p in pts],
            "max_n": max(length / METRES_PER_HOUSE_NUMBER, float(largest.get(skey, 0)), 1.0),
        }
    return out


def _street_aliases(
    street_aliases: Mapping[str, Mapping[str, int]], streets: Mapping[str, dict[str, Any]]
) -> dict[str, str]:
    """Name key -> the street it names most often (of the streets indexed)."""
    aliases: dict[str, str] = {}
    for alias, counts in street_aliases.items():
        known = [k for k in counts if k in streets]
        if known and len(alias) >= 2:
            aliases[alias] = max(known, key=lambda k: (counts[k], len(streets[k]["lat"]), k))
    return aliases


def _localities(
    entries: list[dict[str, Any]],
    addresses: list[dict[str, Any]],
    places: list[tuple[str, str, float, float]],
) -> dict[str, dict[str, float]]:
    """Locality key (town or postcode) -> centre and radius.

    A town or postcode tagged on address points and places covers their median point and the
    farthest of them plus `LOCALITY_MARGIN_M`; a ``place=city/town/village`` node covers
    `LOCALITY_RADIUS_M` around it. The larger area wins when a name has both.
    """
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for item in (*entries, *addresses):
        for key in item.get("area", ()):
            points[key].append((item["lat"], item["lon"]))
    out: dict[str, dict[str, float]] = {}
    for key, pts in points.items():
        lats, lons = sorted(p[0] for p in pts), sorted(p[1] for p in pts)
        lat, lon = lats[len(lats) // 2], lons[len(lons) // 2]
        spread = max(dist_m(lat, lon, p[0], p[1]) for p in pts)
        out[key] = {"lat": lat, "lon": lon, "radius_m": spread + LOCALITY_MARGIN_M}
    for kind, name, lat, lon in places:
        key = normalize(name)
        radius = LOCALITY_RADIUS_M[kind]
        if key and (key not in out or out[key]["radius_m"] < radius):
            out[key] = {"lat": lat, "lon": lon, "radius_m": radius}
    return out


def parse_osm(path: Path, progress: Progress | None) -> dict[str, Any]:
    """Parse an OSM extract (XML or PBF, see `optimizer.geo.osmfile`) into the raw index (the
    JSON of the cache file, without ``sha256`` and ``version``).

    Raises `OsmFileError` for a file that is not OSM data, or holds no nodes.
    """
    r = _read_elements(path, progress)
    bounds = r.bounds
    if bounds is None and r.nodes:
        lats = [p[0] for p in r.nodes.values()]
        lons = [p[1] for p in r.nodes.values()]
        bounds = (min(lats), min(lons), max(lats), max(lons))
    if bounds is None:
        raise OsmFileError(
            f"{path}: the file holds no nodes, so no place to geocode; give an OSM extract of "
            f"the area ({FORMATS}), e.g. downloaded from download.geofabrik.de"
        )
    centre = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2

    addresses, largest = _addresses(r.address_points)
    r.merge_latin_streets()
    streets: dict[str, dict[str, Any]] = {}
    for skey, ways in r.street_ways.items():
        if len(skey) >= 2:
            streets.update(_street_instances(skey, ways, r.nodes, largest, centre))
    aliases = _street_aliases(r.street_aliases, streets)
    for skey, st in streets.items():
        st["names"] = sorted(r.street_names[skey.split("#", 1)[0]])
    return {
        "bounds": bounds,
        "aliases": aliases,
        "entries": r.entries,
        "addresses": addresses,
        "streets": streets,
        "admin": sorted(r.admin),
        "area_words": sorted(r.area_words),
        "localities": _localities(r.entries, addresses, r.places),
    }


# --------------------------------------------------------------------------- the typed index


@dataclass(frozen=True)
class GazetteerEntry:
    """One named place of the gazetteer (streets: their middle point)."""

    label: str
    kind: str
    lat: float
    lon: float
    names: tuple[str, ...]  # the OSM names it is known by
    street: str = ""  # street key, for kind == "street"
    area: tuple[str, ...] = ()  # locality keys it is tagged with (addr:city, addr:postcode)


@dataclass(frozen=True)
class Index:
    """The index of one extract, as the matcher reads it (built by `Index.from_json`).

    ``entries`` are the named places in file order, then the streets by key (their middle
    point); ``entry_keys[i]`` are the name keys entry ``i`` is found by. ``addresses`` maps
    (street key, house number key) to the address points there. ``localities`` maps a town or
    postcode key to (centre lat, centre lon, radius m).
    """

    sha256: str
    bounds: tuple[float, ...]
    entries: tuple[GazetteerEntry, ...]
    entry_keys: tuple[tuple[str, ...], ...]
    streets: Mapping[str, StreetLine]
    street_entries: Mapping[str, GazetteerEntry]
    addresses: Mapping[tuple[str, str], tuple[GazetteerEntry, ...]]
    localities: Mapping[str, tuple[float, float, float]]
    admin: tuple[str, ...]
    area_words: tuple[str, ...]

    @classmethod
    def from_json(cls, index: Mapping[str, Any]) -> Index:
        """The typed form of a raw index (`parse_osm`, or a cache file's JSON).

        Raises ``KeyError``/``TypeError``/``ValueError``/``IndexError`` on a malformed one.
        """
        streets = {
            k: StreetLine(
                label=s["label"],
                names=tuple(s["names"]),
                lat=tuple(s["lat"]),
                lon=tuple(s["lon"]),
                cum_m=tuple(_cumulative(s["lat"], s["lon"])),
                max_n=s["max_n"],
            )
            for k, s in index["streets"].items()
        }
        street_aliases: dict[str, list[str]] = defaultdict(list)  # street key -> its aliases
        for alias, k in index["aliases"].items():
            street_aliases[k].append(alias)
        entries: list[GazetteerEntry] = []
        keys: list[tuple[str, ...]] = []
        for e in index["entries"]:
            if e["kind"] not in KINDS:  # a cache file not ours: `_read_cache` rebuilds it
                raise ValueError(f"unknown kind {e['kind']!r}")
            entries.append(
                GazetteerEntry(e["label"], e["kind"], e["lat"], e["lon"], tuple(e["names"]),
                               area=tuple(e.get("area", ())))  # fmt: skip
            )
            keys.append(tuple(normalize(n) for n in e["names"]))
        street_entries: dict[str, GazetteerEntry] = {}
        for k, s in sorted(streets.items()):
            mid = s.point_at(s.length_m / 2)
            entries.append(GazetteerEntry(s.label, "street", mid[0], mid[1], s.names, street=k))
            street_entries[k] = entries[-1]
            base = k.split("#", 1)[0]  # "key#2": the same name in another town
            keys.append((base, *sorted(street_aliases[base])))
        return cls(
            sha256=index.get("sha256", ""),
            bounds=tuple(index["bounds"]),
            entries=tuple(entries),
            entry_keys=tuple(keys),
            streets=streets,
            street_entries=street_entries,
            addresses=_address_table(index["addresses"]),
            localities={
                k: (v["lat"], v["lon"], v["radius_m"]) for k, v in index["localities"].items()
            },
            admin=tuple(index["admin"]),
            area_words=tuple(index["area_words"]),
        )


def _address_table(
    addresses: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], tuple[GazetteerEntry, ...]]:
    """(street key, number key) -> the address points there; a point is found by each of its
    street's keys, under its number as tagged ("30a") and as a plain number ("30")."""
    table: dict[tuple[str, str], list[GazetteerEntry]] = defaultdict(list)
    for a in addresses:
        entry = GazetteerEntry(a["label"], "address", a["lat"], a["lon"], (a["label"],),
                               area=tuple(a.get("area", ())))  # fmt: skip
        for sk in a["streets"]:
            numbers = [a["number"]] + ([str(a["n"])] if a["n"] is not None else [])
            for number in dict.fromkeys(numbers):
                if entry not in table[(sk, number)]:
                    table[(sk, number)].append(entry)
    return {k: tuple(v) for k, v in table.items()}


# --------------------------------------------------------------------------- the cache file


def load_index(
    path: str | os.PathLike[str] = DEFAULT_OSM_PATH,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> Index:
    """The index of an OSM extract: from the cache file when there is a readable one, else
    parsed (and cached).

    Parameters
    ----------
    path : path, default the bundled ``data/osm/chengdu_ring2.osm.bz2``
        OSM XML (plain or ``.bz2`` / ``.gz`` compressed) or PBF (``.osm.pbf``).
    cache_dir : path, optional
        Where the parsed index is kept; default `default_cache_dir`.
    use_cache : bool, default True
        False: always parse, write nothing.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"OSM extract {path} not found; pass the path of an {FORMATS} "
                               "file")
    sha = file_sha256(path)
    cache_file = Path(cache_dir or default_cache_dir()) / (
        f"gazetteer-{sha[:20]}-v{INDEX_VERSION}.json.gz"
    )
    if use_cache and cache_file.is_file():
        cached = _read_cache(cache_file, sha)
        if cached is not None:
            return cached
    t0 = time.perf_counter()
    raw = parse_osm(path, progress)
    raw["sha256"] = sha
    raw["version"] = INDEX_VERSION
    logger.info(
        "gazetteer of %s: %d named places, %d streets, %d addresses (%.1f s)",
        path.name,
        len(raw["entries"]),
        len(raw["streets"]),
        len(raw["addresses"]),
        time.perf_counter() - t0,
    )
    if use_cache:
        _write_cache(cache_file, raw)
    return Index.from_json(raw)


def _read_cache(cache_file: Path, sha: str) -> Index | None:
    """The index a cache file holds; ``None`` when it is another extract's or version's, or
    cannot be read (then it is set aside)."""
    try:
        with gzip.open(cache_file, "rt", encoding="utf-8") as f:
            raw = json.load(f)
        if raw.get("sha256") != sha or raw.get("version") != INDEX_VERSION:
            return None  # another extract's or version's: rebuilt and replaced
        index = Index.from_json(raw)
    except _UNREADABLE as exc:
        # truncated by a crash (EOFError), or not ours: rebuilt by the caller
        moved = set_aside(cache_file)
        logger.warning("ignoring unreadable gazetteer cache %s (%s: %s); %s, rebuilding it",
                       cache_file, type(exc).__name__, exc,
                       f"set aside as {moved.name}" if moved else "removed")  # fmt: skip
        return None
    logger.debug("gazetteer index loaded from %s", cache_file)
    return index


def _write_cache(cache_file: Path, index: dict[str, Any]) -> None:
    """Cache a gazetteer index: a temporary file renamed into place, never half a file."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replaced_file(cache_file) as tmp:
            with gzip.open(tmp, "wt", encoding="utf-8") as f:
                json.dump(index, f, ensure_ascii=False)
    except OSError as exc:
        logger.warning("could not write gazetteer cache %s: %s", cache_file, exc)
