"""Geocoding: case addresses to WGS-84 ``lat``/``lon``.

Three geocoders share one small interface (`Geocoder`): ``geocode(query)`` returns a
`GeocodeResult` or ``None``, and ``explain_miss(query)`` says in a sentence why a query found
nothing.

- `Gazetteer` works offline on an OpenStreetMap extract (the bundled
  ``data/osm/chengdu_ring2.osm.bz2`` by default). It knows addresses (``addr:street`` +
  ``addr:housenumber``), named buildings and residential compounds, named POIs, place nodes and
  named streets, under their ``name``, ``name:zh``, ``name:en``, ``name:zh_pinyin`` (and
  ``name:zh_py``, ``alt_name``) tags.
- `GeopyGeocoder` asks any online service geopy supports, rate limited, with retries.
- `CachedGeocoder` wraps either with a persistent sqlite cache (hits and misses).

`make_geocoder` builds the usual combinations; `geocode_cases` geocodes a case list and never
drops a case: every case ends up with a result or with a reason.

Matching rules of the gazetteer
-------------------------------
Names and queries are normalised the same way (`normalize`): NFKC (full-width digits and letters
become half-width), case-folded, pinyin tone marks removed, Latin road words mapped to pinyin
(``Road``/``Rd`` -> ``lu``, ``Street``/``St`` -> ``jie``, ``Lane``/``Alley`` -> ``xiang``,
``Avenue`` -> ``dadao``, ``North``/``South``/``East``/``West``/``Middle`` -> ``bei``/``nan``/
``dong``/``xi``/``zhong``, ``Section 2`` -> ``erduan``), Arabic section numbers in Chinese
(``2段`` -> ``二段``), then everything but letters, digits and CJK characters removed.
A parenthesised qualifier in a name ("Lazy Bones (Tianfu Square)") is not a name of its own.

Before matching a query: comma-separated parts that only name the area (``Jinniu District``,
``成都市``, a postcode, the extract's ``addr:city`` values) are dropped; building/unit/room
details (``3栋2单元501``, ``Bldg 3 Unit 2 Rm 501``) and trailing fillers (``附近``, ``near``)
are cut off; leading administrative prefixes (``四川省``, ``成都市``, ``锦江区``...) are
stripped one by one, and a generic ``小区`` suffix is tried without. The extract's own admin
names are used, so another extract works the same way. A query naming a different city or
province (``北京市...``) is a miss, not a match to a same-named street here.

Then, in order: (1) exact name match; (2) house number: an exact ``addr:*`` point, a named
compound written after the number, or the street with the number interpolated; (3) the longest
known name contained in the query, scored by the share of the query it explains, against (4)
the best fuzzy match (character n-gram candidates ranked by `difflib.SequenceMatcher` ratio):
the higher score wins and is accepted at ``min_score`` (default 0.75) or above. An exact name
shared by places more than 300 m apart (chain stores) scores 0.8 and says so in ``matched``;
otherwise places whose label is the name come first, then by kind (address, building, poi,
place, street).

Several towns in one extract
----------------------------
Same-name street chains more than ``STREET_SPLIT_M`` (1 km) apart are different streets (the
Hauptstraße of each village). Towns and postcodes are known from ``addr:city`` /
``addr:postcode`` tags (an area around their tagged points) and ``place=city/town/village``
nodes (`LOCALITY_RADIUS_M`). When a part of the query after the first comma names a known town
or postcode ("Bahnhofstraße 21, 69117 Heidelberg"), only places there are answers: by their own
tag when they have one, else by distance; of several same-name streets there, the one nearest
the town's centre. A name found only in other towns is a miss whose reason says where it is.
Without a town, an address or street that exists in several places scores ``AMBIGUOUS_SCORE``
and says "one of N".

House-number interpolation rule
-------------------------------
A street's geometry is the longest chain of its same-name ways joined end to end, oriented to
start at the end nearer the centre of the extract (house numbers in Chinese cities usually grow
away from the centre). House number ``n`` lands at distance ``min(n / max_n, 1) * length`` from
the start, where ``max_n = max(length_m / 5, largest numeric house number tagged on that street
in the extract)``: one number every 5 m, numbers beyond the end clamp to the end. A street named
without a number lands at its middle.
"""

from __future__ import annotations

import difflib
import gzip
import json
import logging
import math
import os
import re
import sqlite3
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from optimizer.cache import CACHE_ENV, default_cache_dir, file_sha256, set_aside
from optimizer.errors import ConfigError
from optimizer.model import Case, Collector, geocode_status
from optimizer.osmfile import FORMATS, iter_osm
from optimizer.progress import Progress, ensure

logger = logging.getLogger(__name__)

KINDS = ("address", "building", "poi", "place", "street")
_KIND_RANK = {k: i for i, k in enumerate(KINDS)}

DEFAULT_OSM_PATH = Path(__file__).resolve().parents[1] / "data" / "osm" / "chengdu_ring2.osm.bz2"
# bump when the index layout or the normalisation changes: old cache files are then ignored
INDEX_VERSION = 17
METRES_PER_HOUSE_NUMBER = 5.0
DEFAULT_MIN_SCORE = 0.75
AMBIGUOUS_M = 300.0  # an exact name shared by places farther apart than this is ambiguous
AMBIGUOUS_SCORE = 0.8
STREET_SPLIT_M = 1000.0  # same-name street chains farther apart are different streets
#: radius of a place=* node's locality, metres (a query naming the place keeps results within)
LOCALITY_RADIUS_M = {"city": 15_000.0, "town": 5_000.0, "village": 2_000.0}
LOCALITY_MARGIN_M = 1_000.0  # added to the spread of a town's or postcode's address points


@dataclass(frozen=True)
class GeocodeResult:
    """Where an address was found.

    Attributes
    ----------
    lat, lon : float
        WGS-84 degrees.
    matched : str
        What the query matched, for a human ("春熙路 (house number 12 interpolated)").
    kind : str
        One of ``"address"``, ``"building"``, ``"poi"``, ``"place"``, ``"street"``.
    score : float
        Match quality 0..1 (1 = exact text match; services without a score give 1).
    provider : str
        ``"offline"``, the geopy service name, or ``"input"`` for coordinates given in the input.
    """

    lat: float
    lon: float
    matched: str
    kind: str
    score: float
    provider: str


class Geocoder(Protocol):
    """What `geocode_cases` and `CachedGeocoder` need from a geocoder."""

    provider: str  # cache key part: changes when answers may change

    def geocode(self, query: str) -> GeocodeResult | None:  # pragma: no cover - protocol
        ...

    def explain_miss(self, query: str) -> str:  # pragma: no cover - protocol
        """Why `geocode` found nothing, as a clause ("not found in ... (best match ...)")."""
        ...


class GeocoderConfigError(ConfigError):
    """A geocoder cannot be built as configured (unknown service, missing user agent...)."""


def geopy_service(provider: str, *, user_agent: str | None = None, timeout_s: float = 10,
                  **provider_kwargs: Any) -> Any:
    """The geopy geocoder of an online service, built without a request.

    Raises `GeocoderConfigError` (with the fix) for an unknown service, Nominatim without a
    user agent, or options the service refuses (Google without an API key...); the command
    line calls it while it checks its options, before any work.
    """
    from geopy.exc import ConfigurationError, GeocoderNotFound
    from geopy.geocoders import get_geocoder_for_service

    try:
        cls = get_geocoder_for_service(provider)
    except GeocoderNotFound as exc:
        raise GeocoderConfigError(
            f"unknown geocoding service {provider!r}; fix: use 'offline' or a geopy service "
            "name such as 'nominatim', 'arcgis', 'baiduv3'"
        ) from exc
    if provider.lower() == "nominatim" and not user_agent:
        raise GeocoderConfigError(
            "the Nominatim service requires a user agent that identifies your application; "
            "fix: pass user_agent='my-company-collector-routes' (--user-agent; see "
            "https://operations.osmfoundation.org/policies/nominatim/)"
        )
    kwargs = dict(provider_kwargs)
    kwargs.setdefault("timeout", timeout_s)
    if user_agent:
        kwargs.setdefault("user_agent", user_agent)
    try:
        return cls(**kwargs)
    except (TypeError, ConfigurationError) as exc:
        raise GeocoderConfigError(
            f"geocoding service {provider!r} cannot be used with the options given "
            f"({', '.join(sorted(kwargs))}): {exc}; fix: use another service (--geocoder "
            "offline works without one), or one that needs no API key such as nominatim"
        ) from exc


# --------------------------------------------------------------------------- normalisation

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NOT_KEY = re.compile(rf"[^0-9a-z{_CJK}]+")
_CJK_RUN = re.compile(rf"[{_CJK}][{_CJK}0-9]*")
_HAS_CJK = re.compile(rf"[{_CJK}]")
_CN_DIGITS = "零一二三四五六七八九"
_PY_DIGITS = ("ling", "yi", "er", "san", "si", "wu", "liu", "qi", "ba", "jiu")

_LATIN_WORDS = {
    "road": "lu", "rd": "lu", "lu": "lu",
    "street": "jie", "st": "jie", "str": "jie", "jie": "jie",
    "lane": "xiang", "ln": "xiang", "alley": "xiang", "alleys": "xiang", "xiang": "xiang",
    "avenue": "dadao", "ave": "dadao", "av": "dadao", "boulevard": "dadao", "blvd": "dadao",
    "north": "bei", "south": "nan", "east": "dong", "west": "xi",
    "middle": "zhong", "central": "zhong", "center": "zhong", "centre": "zhong",
}  # fmt: skip
_ROAD_TYPES = {"lu", "jie", "xiang", "dadao"}
_DIRECTIONS = {"bei", "nan", "dong", "xi", "zhong"}

# building / unit / floor / room details, cut before matching
_CJK_UNIT = re.compile(
    r"(?:\d+|[一二三四五六七八九十]+)\s*(?:栋|幢|座|号楼|单元|楼|层|室|号房|户)"
    r"|[a-z]\s*(?:栋|座|区)\s*\d"
)
_LATIN_UNIT = re.compile(
    r"\b(?:room|rm|apt|apartment|flat|unit|bldg|building|blk|block|tower|floor|fl|suite|ste)"
    r"\s*[.#:]?\s*[0-9a-z]{0,1}\d*[a-z]?\b|#\s*\d+|\b\d+(?:st|nd|rd|th)?\s*(?:floor|fl)\b|\b\d+f\b"
)
_POSTCODE = re.compile(r"^\s*\d{5,6}(?!\d)|(?<!\d)\d{5,6}\s*$")  # a leading/trailing postcode
_SECTION_CJK = re.compile(r"(\d)\s*段")
_SECTION_LATIN = re.compile(r"\b(?:sec(?:tion)?\.?\s*(\d)|(\d)(?:st|nd|rd|th)?\s*sec(?:tion)?)\b")
_HOUSE_CJK = re.compile(r"(\d+)\s*号(?!楼|院|线)")
# a number written straight after a street name without 号 ("横桥街 10", "红星路三段103")
_HOUSE_CJK_BARE = re.compile(r"(?<=[路街巷道段弄])\s*(\d+)\s*$")
_HOUSE_LATIN_NO = re.compile(r"\bno\.?\s*(\d+)\b")
_HOUSE_LATIN_LEAD = re.compile(r"^\s*(\d+)\s+(?=[a-z])")
# "plock 31", and ranges or letters as German and Dutch addresses write them: "31-41", "30a",
# "30a-g", "14 - 18" (after _prep the dash is a space); the first number is the house
_HOUSE_LATIN_TRAIL = re.compile(
    r"(?<=[a-z])\s+(\d+)(?:\s?[a-z])?(?:\s+\d+(?:\s?[a-z])?|\s+[a-z])?\s*$"
)
_FOREIGN_ADMIN = re.compile(rf"^([{_CJK}]{{2,4}}?)(省|市|自治区)")

_BASE_ADMIN_CJK = ("中华人民共和国", "中国")
_BASE_ADMIN_LATIN = ("pr china", "p r china", "china")


def _detone(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def _latin_words(text: str) -> str:
    """Map Latin road words to pinyin and put a trailing direction before the road type."""
    text = _SECTION_LATIN.sub(lambda m: f" sec{m.group(1) or m.group(2)} ", text)
    words = [w for w in re.split(r"[^0-9a-z" + _CJK + r"]+", text) if w]
    out: list[str] = []
    section = ""
    for w in words:
        if w.startswith("sec") and w[3:].isdigit():
            section = _PY_DIGITS[int(w[3:])] + "duan"
            continue
        if w == "str" or (w.endswith("str") and len(w) > 5 and not w[-4].isdigit()):
            w += "asse"  # German "Hauptstr." / "Haupt Str." for "Hauptstraße" (ß -> ss)
        out.append(_LATIN_WORDS.get(w, w))
    # "Dongchenggen Street South" -> dongchenggen nan jie (pinyin order of 东城根南街)
    for i in range(len(out) - 1):
        if out[i] in _ROAD_TYPES and out[i + 1] in _DIRECTIONS:
            out[i], out[i + 1] = out[i + 1], out[i]
    if section:
        out.append(section)
    return " ".join(out)


def _prep(text: str) -> str:
    """NFKC, case-folded (ß -> ss), no tone marks, Latin words mapped; spaces between words."""
    text = _detone(unicodedata.normalize("NFKC", text)).casefold()
    text = text.replace("’", "'").replace("`", "'").replace("'", "")
    text = _SECTION_CJK.sub(lambda m: _CN_DIGITS[int(m.group(1))] + "段", text)
    return _latin_words(text)


def _key(prepped: str) -> str:
    return _NOT_KEY.sub("", prepped)


def normalize(text: str) -> str:
    """Normalise a name or address fragment to its matching key.

    >>> normalize("Chunxi Road") == normalize("chūnxī lù") == "chunxilu"
    True
    >>> normalize("ＡＢＣ１２３") == "abc123"
    True
    """
    return _key(_prep(text))


def _split_name(value: str) -> list[str]:
    """A name and its parts: "东城根南街 - Dongchenggen Street South" gives both halves.

    A parenthesised part in the other script is a translation and becomes a part
    ("金牛区 (Jinniu)"); in the same script it is a qualifier and is dropped, so that
    "Lazy Bones (Tianfu Square)" is not found as "Tianfu Square".
    """
    parts = [value]
    base_is_cjk = bool(_HAS_CJK.search(re.sub(r"[(（][^)）]*[)）]", "", value)))
    kept = []
    for m in re.finditer(r"[(（]([^)）]*)[)）]", value):
        if bool(_HAS_CJK.search(m.group(1))) != base_is_cjk:
            kept.append(m.group(1))
    bare = re.sub(r"[(（][^)）]*[)）]", "  ", value)
    for piece in [*re.split(r"\s+-\s+|/|;|\s{2,}", bare), *kept]:
        piece = piece.strip(" ,-")
        if piece:
            parts.append(piece)
    if _HAS_CJK.search(bare) and re.search(r"[A-Za-z]{3}", bare):
        parts.extend(m.group(0) for m in _CJK_RUN.finditer(bare))
        latin = _CJK_RUN.sub(" ", bare).strip(" -,/;")
        if latin:
            parts.append(latin)
    return list(dict.fromkeys(parts))


# "near ...", "...附近": where the customer is relative to a named place
_FILLER = re.compile(
    r"(?:附近|旁边|旁|对面|楼下|门口|后面|隔壁|一带)$|\b(?:near|opposite|next to)\b"
)


_GENERIC_SUFFIXES = ("小区", "社区", "花园小区", "住宅小区")


def _generic_cut(key: str) -> list[str]:
    """The key without a generic compound suffix ("锦绣东方小区" -> "锦绣东方")."""
    return [
        key[: -len(s)] for s in _GENERIC_SUFFIXES if key.endswith(s) and len(key) - len(s) >= 3
    ]


def _cut_units(prepped: str) -> str:
    text = _FILLER.sub(" ", _LATIN_UNIT.sub(" ", prepped).strip())
    m = _CJK_UNIT.search(text)
    if m and m.start() > 0:
        text = text[: m.start()]
    return re.sub(r"\s+", " ", text).strip(" ,")


def _house_number(value: str) -> int | None:
    m = re.match(r"\s*(\d+)", unicodedata.normalize("NFKC", value))
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------- geometry


def _dist_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
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


def _join(a: list[str], b: list[str]) -> list[str] | None:
    if a[-1] == b[0]:
        return a + b[1:]
    if a[-1] == b[-1]:
        return a + b[-2::-1]
    if a[0] == b[-1]:
        return b + a[1:]
    if a[0] == b[0]:
        return b[::-1] + a[1:]
    return None


def _chains(ways: list[list[str]]) -> list[list[str]]:
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


# --------------------------------------------------------------------------- OSM parsing

_POI_KEYS = ("amenity", "shop", "tourism", "leisure", "office", "historic", "craft", "healthcare")
_NAME_KEYS = ("name", "name:zh", "name:en", "name:zh_pinyin", "name:zh_py", "alt_name")
_ADMIN_PLACES = {"city", "town", "suburb", "district", "borough", "province", "state", "county"}
_SKIP_HIGHWAYS = {"bus_stop", "platform", "traffic_signals", "crossing", "stop", "elevator"}


_TRANSPORT_RELATIONS = ("public_transport", "route", "network")


def _classify(tags: dict[str, str], element: str) -> str | None:
    if element == "way" and "highway" in tags and tags["highway"] not in _SKIP_HIGHWAYS:
        return "street"
    if any(k in tags for k in _POI_KEYS) or tags.get("railway") == "station":
        return "poi"
    if "building" in tags or tags.get("landuse") == "residential":
        return "building"
    if "place" in tags:
        return "place"
    return None


def _primary_name(name: str) -> str:
    """The Chinese part of a bilingual name ("东城根南街 - Dongchenggen Street South")."""
    for part in _split_name(name)[1:]:
        if _HAS_CJK.search(part) and not re.search(r"[A-Za-z]", part):
            return part
    return name


def _names(tags: dict[str, str]) -> list[str]:
    out: list[str] = []
    for k in _NAME_KEYS:
        for value in tags.get(k, "").split(";"):
            for part in _split_name(value.strip()):
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
        spread = max(_dist_m(lat, lon, p[0], p[1]) for p in pts)
        out[key] = {"lat": lat, "lon": lon, "radius_m": spread + LOCALITY_MARGIN_M}
    for kind, name, lat, lon in places:
        key = normalize(name)
        radius = LOCALITY_RADIUS_M[kind]
        if key and (key not in out or out[key]["radius_m"] < radius):
            out[key] = {"lat": lat, "lon": lon, "radius_m": radius}
    return out


def _proximity_groups(
    lines: list[tuple[float, list[tuple[float, float]]]], max_gap_m: float
) -> list[list[tuple[float, list[tuple[float, float]]]]]:
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
                continue
            limit = max_gap_m * max_gap_m
            if any((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 <= limit for p in a for q in b):
                parent[find(j)] = find(i)
    groups: dict[int, list[tuple[float, list[tuple[float, float]]]]] = defaultdict(list)
    for i, line in enumerate(lines):
        groups[find(i)].append(line)
    return list(groups.values())


def _parse_osm(path: Path, progress: Progress | None) -> dict[str, Any]:
    """Parse an OSM extract (XML or PBF, see `optimizer.osmfile`) into the raw index."""
    nodes: dict[int, tuple[float, float]] = {}
    way_nodes: dict[int, list[int]] = {}
    entries: list[dict[str, Any]] = []
    street_ways: dict[str, list[tuple[str, list[int]]]] = defaultdict(list)  # key -> (label, refs)
    street_aliases: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    street_names: dict[str, set[str]] = defaultdict(set)
    address_points: list[tuple[str, str, float, float, str, list[str]]] = []
    places: list[tuple[str, str, float, float]] = []  # place=city/town/village: kind, name, pos
    admin: set[str] = set()
    area_words: set[str] = set()  # addr:city etc.: only dropped as whole parts of a query
    bounds: tuple[float, float, float, float] | None = None

    def centre(refs: Iterable[int]) -> tuple[float, float] | None:
        pts = {r: nodes[r] for r in refs if r in nodes}
        if not pts:
            return None
        return (
            sum(p[0] for p in pts.values()) / len(pts),
            sum(p[1] for p in pts.values()) / len(pts),
        )

    with ensure(progress).step(f"Reading {path.name}", total=None) as advance:
        for el in iter_osm(path):
            if el.kind == "bounds":
                bounds = el.box
                continue
            advance(1)
            tags = el.tags
            oid = el.id
            pos: tuple[float, float] | None = None
            if el.kind == "node":
                pos = (el.lat, el.lon)
                nodes[oid] = pos
            elif el.kind == "way":
                way_nodes[oid] = el.refs
                pos = centre(el.refs)
            else:
                refs = [
                    r
                    for kind, ref in el.members
                    if kind == "way"
                    for r in way_nodes.get(ref, [])
                ]
                pos = centre(refs)
            if not tags:
                continue
            if tags.get("boundary") == "administrative" or tags.get("place") in _ADMIN_PLACES:
                for name in _names(tags):
                    admin.add(name)
                if tags.get("boundary") == "administrative":
                    continue
            if el.kind == "relation" and tags.get("type") in _TRANSPORT_RELATIONS:
                continue
            if pos is None:
                continue
            for k in ("addr:city", "addr:district", "addr:suburb", "addr:province", "addr:state"):
                if tags.get(k):
                    area_words.add(tags[k])
            area = _area_tags(tags)
            if tags.get("place") in LOCALITY_RADIUS_M and tags.get("name"):
                places.append((tags["place"], tags["name"], pos[0], pos[1]))
            street, number = tags.get("addr:street"), tags.get("addr:housenumber")
            if street and number:
                address_points.append(
                    (street, number, pos[0], pos[1], tags.get("name", ""), area)
                )
            kind = _classify(tags, el.kind)
            names = _names(tags)
            if kind is None or not names:
                continue
            if kind == "street":
                primary = _primary_name(tags.get("name") or names[0])
                pkey = normalize(primary)
                street_ways[pkey].append((primary, way_nodes[oid]))
                for name in names:
                    street_aliases[normalize(name)][pkey] += 1
                street_names[pkey].update(names)
                continue
            entries.append({"label": names[0], "kind": kind, "lat": pos[0], "lon": pos[1],
                            "names": names, "area": area})  # fmt: skip

    if bounds is None and nodes:
        lats = [p[0] for p in nodes.values()]
        lons = [p[1] for p in nodes.values()]
        bounds = (min(lats), min(lons), max(lats), max(lons))
    assert bounds is not None, f"{path}: no nodes"
    centre_lat, centre_lon = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2

    # addresses: exact points, and the largest number per street for interpolation
    addresses: list[dict[str, Any]] = []
    largest: dict[str, int] = defaultdict(int)
    for street, number, lat, lon, name, area in address_points:
        n = _house_number(number)
        label = f"{street} {number}" + (f" ({name})" if name else "")
        street_keys = [normalize(s) for s in _split_name(street)]
        addresses.append({"label": label, "lat": lat, "lon": lon, "n": n, "streets": street_keys,
                          "number": normalize(number), "area": area})  # fmt: skip
        if n is not None:
            for sk in street_keys:
                largest[sk] = max(largest[sk], n)

    # ways named only in Latin letters ("Fuqing Road 3rd section") join the Chinese street
    # whose other ways carry the same name as name:en/pinyin
    for pkey in [k for k, ways in street_ways.items() if not _HAS_CJK.search(k)]:
        owners = {k: c for k, c in street_aliases.get(pkey, {}).items() if _HAS_CJK.search(k)}
        if owners:
            target = max(owners, key=lambda k: (owners[k], k))
            street_ways[target].extend(street_ways.pop(pkey))
            street_names[target].update(street_names.pop(pkey, set()))
            street_aliases[pkey] = defaultdict(int, {target: 1})
    streets: dict[str, dict[str, Any]] = {}
    for skey, ways in street_ways.items():
        if len(skey) < 2:
            continue
        label = min(
            (lbl for lbl, _ in ways), key=lambda s: (not _HAS_CJK.search(s), len(s), s)
        )
        lines: list[tuple[float, list[tuple[float, float]]]] = []
        for chain in _chains([[r for r in refs if r in nodes] for _, refs in ways]):
            pts = [nodes[r] for r in chain]
            length = sum(_dist_m(*pts[i - 1], *pts[i]) for i in range(1, len(pts)))
            if len(pts) >= 2 and length > 0:
                lines.append((length, pts))
        # same-name streets of different towns are different streets: chains farther than
        # STREET_SPLIT_M from each other are separate instances ("key", "key#2", ...), the
        # longest chain of each instance is its geometry
        groups = sorted(
            (max(group) for group in _proximity_groups(lines, STREET_SPLIT_M)),
            key=lambda line: -line[0],
        )
        for rank_i, (length, pts) in enumerate(groups):
            d_last = _dist_m(*pts[-1], centre_lat, centre_lon)
            if d_last < _dist_m(*pts[0], centre_lat, centre_lon):
                pts = pts[::-1]
            streets[skey if rank_i == 0 else f"{skey}#{rank_i + 1}"] = {
                "label": label,
                "lat": [p[0] for p in pts],
                "lon": [p[1] for p in pts],
                "max_n": max(length / METRES_PER_HOUSE_NUMBER, float(largest.get(skey, 0)), 1.0),
            }
    aliases: dict[str, str] = {}
    for alias, counts in street_aliases.items():
        known = [k for k in counts if k in streets]
        if known and len(alias) >= 2:
            aliases[alias] = max(known, key=lambda k: (counts[k], streets[k]["lat"].__len__(), k))
    for skey, st in streets.items():
        st["names"] = sorted(street_names[skey.split("#", 1)[0]])
    return {
        "bounds": bounds,
        "aliases": aliases,
        "entries": entries,
        "addresses": addresses,
        "streets": streets,
        "admin": sorted(admin),
        "area_words": sorted(area_words),
        "localities": _localities(entries, addresses, places),
    }


# --------------------------------------------------------------------------- gazetteer


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
class Match:
    """The gazetteer's best guess for a query, accepted or not."""

    result: GeocodeResult | None
    best_label: str
    best_score: float
    note: str = ""
    elsewhere: str = ""  # a miss: the name exists, but not in the town the query names


class Gazetteer:
    """Offline geocoder on an OpenStreetMap extract.

    Build with `Gazetteer.from_osm`; the parsed index is cached on disk (JSON keyed by the
    SHA-256 of the source file), so a second run does not parse the XML again. Matching rules:
    see the module docstring.

    Parameters
    ----------
    index : dict
        The parsed index (as `from_osm` builds it).
    source : str
        A label for messages ("chengdu_ring2.osm.bz2").
    min_score : float, default 0.75
        Fuzzy matches below this score are misses.
    """

    def __init__(
        self, index: dict[str, Any], *, source: str = "", min_score: float = DEFAULT_MIN_SCORE
    ) -> None:
        self.source = source
        self.min_score = min_score
        self.bounds = tuple(index["bounds"])
        # cache key of answers: the source file and the matching rules' version
        self.provider = f"offline:{index.get('sha256', '')[:16]}:v{INDEX_VERSION}:{min_score:g}"
        self._streets = {
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
        street_keys: dict[str, list[str]] = defaultdict(list)
        for alias, k in index["aliases"].items():
            street_keys[k].append(alias)
        entries: list[GazetteerEntry] = []
        keys: list[list[str]] = []
        for e in index["entries"]:
            entries.append(
                GazetteerEntry(e["label"], e["kind"], e["lat"], e["lon"], tuple(e["names"]),
                               area=tuple(e.get("area", ())))  # fmt: skip
            )
            keys.append([normalize(n) for n in e["names"]])
        self._street_entry: dict[str, GazetteerEntry] = {}  # street key -> its entry
        for k, s in sorted(self._streets.items()):
            mid = s.point_at(s.length_m / 2)
            entries.append(GazetteerEntry(s.label, "street", mid[0], mid[1], s.names, street=k))
            self._street_entry[k] = entries[-1]
            base = k.split("#", 1)[0]  # "key#2": the same name in another town
            keys.append([base, *sorted(street_keys[base])])
        self._addresses: dict[tuple[str, str], list[GazetteerEntry]] = defaultdict(list)
        for a in index["addresses"]:
            entry = GazetteerEntry(a["label"], "address", a["lat"], a["lon"], (a["label"],),
                                   area=tuple(a.get("area", ())))  # fmt: skip
            for sk in a["streets"]:
                numbers = [a["number"]] + ([str(a["n"])] if a["n"] is not None else [])
                for number in dict.fromkeys(numbers):
                    if entry not in self._addresses[(sk, number)]:
                        self._addresses[(sk, number)].append(entry)
        self._localities = {
            k: (v["lat"], v["lon"], v["radius_m"]) for k, v in index["localities"].items()
        }
        self._entries = entries
        self._admin_cjk, self._admin_latin = _admin_forms(index["admin"])
        # whole comma-separated parts of a query that only name the area ("Jinniu District",
        # "69117 Heidelberg") are dropped before matching
        self._admin_words = (
            {normalize(a) for a in [*index["admin"], *index["area_words"]]}
            | set(self._admin_cjk)
            | set(self._admin_latin)
        )
        # name key -> entry ids. A name is also indexed without its leading city/district
        # ("成都市第八中学" is found as "第八中学" when the query says "成都市金牛区第八中学"),
        # ranked after places that carry the key as their own label or name.
        rank: dict[tuple[str, int], int] = {}
        for i, ks in enumerate(keys):
            label_key = normalize(entries[i].label)
            for k in ks:
                rank.setdefault((k, i), 0 if k == label_key else 1)
                for short in [*self._strip_admin_variants(k, latin=False)[1:], *_generic_cut(k)]:
                    if len(short) >= 3:
                        rank.setdefault((short, i), 2)
        self._by_key: dict[str, list[int]] = defaultdict(list)
        for k, i in rank:
            if len(k) >= 2 and not k.isdigit():
                self._by_key[k].append(i)
        for k, ids in self._by_key.items():
            ids.sort(key=lambda i: (rank[(k, i)], _KIND_RANK[self._entries[i].kind], i))
        self._grams: dict[str, set[str]] = defaultdict(set)
        for k in self._by_key:
            for g in _grams(k):
                self._grams[g].add(k)
        # names looked for inside longer queries; admin names are not places to land on
        admin = set(self._admin_cjk) | set(self._admin_latin)
        self._contained = sorted(
            (
                k
                for k in self._by_key
                if len(k) >= (3 if _HAS_CJK.search(k) else 6) and k not in admin
            ),
            key=lambda k: (-len(k), k),
        )

    # ------------------------------------------------------------------ building

    @classmethod
    def from_osm(
        cls,
        path: str | os.PathLike[str] = DEFAULT_OSM_PATH,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        min_score: float = DEFAULT_MIN_SCORE,
        progress: Progress | None = None,
    ) -> Gazetteer:
        """Build (or load from the disk cache) the gazetteer of an OSM XML extract.

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
            raise FileNotFoundError(
                f"OSM extract {path} not found; pass the path of an {FORMATS} file"
            )
        sha = file_sha256(path)
        cache_file = Path(cache_dir or default_cache_dir()) / (
            f"gazetteer-{sha[:20]}-v{INDEX_VERSION}.json.gz"
        )
        if use_cache and cache_file.is_file():
            cached = cls._from_cache(cache_file, sha, source=path.name, min_score=min_score)
            if cached is not None:
                return cached
        t0 = time.perf_counter()
        index = _parse_osm(path, progress)
        index["sha256"] = sha
        index["version"] = INDEX_VERSION
        logger.info(
            "gazetteer of %s: %d named places, %d streets, %d addresses (%.1f s)",
            path.name,
            len(index["entries"]),
            len(index["streets"]),
            len(index["addresses"]),
            time.perf_counter() - t0,
        )
        if use_cache:
            _write_index(cache_file, index)
        return cls(index, source=path.name, min_score=min_score)

    @classmethod
    def _from_cache(cls, cache_file: Path, sha: str, *, source: str, min_score: float
                    ) -> Gazetteer | None:
        """The gazetteer of a cached index; ``None`` (the cache set aside) if it is damaged."""
        try:
            with gzip.open(cache_file, "rt", encoding="utf-8") as f:
                index = json.load(f)
            if index.get("sha256") != sha or index.get("version") != INDEX_VERSION:
                return None  # another extract's or version's: rebuilt and replaced
            gazetteer = cls(index, source=source, min_score=min_score)
        except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError,
                AttributeError) as exc:
            # truncated by a crash (EOFError), or not ours: rebuilt by the caller
            moved = set_aside(cache_file)
            logger.warning("ignoring unreadable gazetteer cache %s (%s: %s); %s, rebuilding it",
                           cache_file, type(exc).__name__, exc,
                           f"set aside as {moved.name}" if moved else "removed")
            return None
        logger.debug("gazetteer index loaded from %s", cache_file)
        return gazetteer

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> tuple[GazetteerEntry, ...]:
        """Every named place (buildings, compounds, POIs, places, streets)."""
        return tuple(self._entries)

    def addresses(self) -> tuple[GazetteerEntry, ...]:
        """The ``addr:street`` + ``addr:housenumber`` points."""
        return tuple(dict.fromkeys(e for es in self._addresses.values() for e in es))

    def localities(self) -> dict[str, tuple[float, float, float]]:
        """Towns and postcodes a query can name: key -> (centre lat, centre lon, radius m)."""
        return dict(self._localities)

    def streets(self) -> dict[str, StreetLine]:
        """Named streets by key (the normalised Chinese name)."""
        return dict(self._streets)

    def geocode(self, query: str) -> GeocodeResult | None:
        """The place `query` names, or ``None`` (see `match` for why)."""
        return self.match(query).result

    def explain_miss(self, query: str) -> str:
        m = self.match(query)
        if m.result is not None:
            return ""
        where = f"the offline gazetteer ({self.source})" if self.source else "the offline gazetteer"
        if m.elsewhere:
            return f"not found in {where}: {m.elsewhere}; check the town or postcode"
        if m.note:
            return f"{m.note}, outside the area of {where}"
        if m.best_label:
            return (
                f"not found in {where} (best match '{m.best_label}' score {m.best_score:.2f}, "
                f"needs {self.min_score:.2f})"
            )
        return f"not found in {where} (no similar name)"

    def match(self, query: str) -> Match:
        """Resolve a query; the result is ``None`` below ``min_score``."""
        parts = re.split(r"[,，;；]", unicodedata.normalize("NFKC", query))
        kept = [p for p in parts if not self._is_area_part(p)]
        # towns and postcodes the query names: results must lie there (same-name streets and
        # places of other towns in the extract are not an answer)
        town_text = self._named_localities(parts)
        named = list(town_text)
        elsewhere: GazetteerEntry | None = None
        prepped = _POSTCODE.sub("", _prep(" ".join(kept) if kept else query)).strip()
        raw = _key(prepped)
        if not raw:
            return Match(None, "", 0.0)
        foreign = self._foreign_admin(self._strip_admin_variants(raw)[-1])
        if foreign:
            return Match(None, "", 0.0, note=f"is in {foreign}")
        cut = _cut_units(prepped)
        texts = list(dict.fromkeys([prepped, cut]))
        keys: list[str] = []
        for t in texts:
            keys.extend(self._strip_admin_variants(_key(t)))
        keys = [k for k in dict.fromkeys([*keys, *(g for k in keys for g in _generic_cut(k))]) if k]

        # 1. exact name
        for k in keys:
            if k in self._by_key:
                ids = self._within(self._by_key[k], named)
                if ids:
                    return self._exact(ids)
                elsewhere = elsewhere or self._entries[self._by_key[k][0]]

        # 2. house number: exact address point, compound after the number, street interpolation
        parsed: list[tuple[str, int, str]] = []
        for t in texts:
            p = _parse_house_number(t)
            if p is not None:
                parsed.append(p)
        for before, n, after in parsed:
            cands = self._street_candidates(_key(before))
            for sk in cands:
                points = self._addresses.get((sk, str(n)), [])
                within = [e for e in points if self._entry_within(e, named)]
                within.sort(key=lambda e: self._off_centre_m(e.lat, e.lon, named))
                if within:
                    return self._pick(within, "address points")
                elsewhere = elsewhere or (points[0] if points else None)
            ak = _key(after)
            after_ids = self._within(self._by_key.get(ak, []), named) if len(ak) >= 2 else []
            if after_ids:
                return self._exact(after_ids)
            lines = [sk for sk in cands if sk in self._streets]
            within_lines = [sk for sk in lines if self._street_within(sk, named)]
            if within_lines:
                # the first street the text names; of its same-name instances ("key", "key#2")
                # in the named town's area, the one nearest the town's centre
                base = within_lines[0].split("#", 1)[0]
                same = [k for k in within_lines if k.split("#", 1)[0] == base]
                same.sort(key=lambda k: self._street_off_centre_m(k, named))
                sk = same[0]
                r = self._street_result(sk, n, 1.0)
                others = len(same) - 1
                if others:
                    matched = f"{r.matched} (one of {others + 1} streets with this name)"
                    r = GeocodeResult(r.lat, r.lon, matched, r.kind, AMBIGUOUS_SCORE, r.provider)
                return Match(r, self._streets[sk].label, r.score)
            if lines and elsewhere is None:
                elsewhere = self._street_entry[lines[0]]

        # 3. the longest known name contained in the query, and 4. the best fuzzy match of the
        # whole query (and of the street part when a house number was given): the higher wins
        core = keys[-1]
        contained: Match | None = None
        for k in self._contained:
            if len(k) < len(core) and k in core:
                ids = self._within(self._by_key[k], named)
                if not ids:
                    continue
                score = len(k) / len(core)  # the share of the query the name explains
                n = parsed[-1][1] if parsed else None
                r = self._result(ids[0], score, n)
                contained = Match(r, r.matched, score)
                break
        best: tuple[float, str, int | None, list[int]] = (0.0, "", None, [])
        street_parts = [(self._strip_admin_variants(_key(b))[-1], n) for b, n, _ in parsed]
        for k, n in [*((k, None) for k in keys[-3:]), *street_parts]:
            for cand, score in self._fuzzy(k):
                if score > best[0]:
                    ids = self._within(self._by_key[cand], named)
                    if ids:
                        best = (score, cand, n, ids)
        score, cand, n, cand_ids = best
        if contained is not None and contained.best_score >= score:
            return contained
        miss = self._elsewhere(elsewhere, town_text)
        if not cand:
            return Match(None, "", 0.0, elsewhere=miss)
        first = cand_ids[0]
        label = self._entries[first].label
        if score < self.min_score:
            return Match(None, label, score, elsewhere=miss)
        r = self._result(first, score, n)
        return Match(r, r.matched, score)

    # ------------------------------------------------------------------ helpers

    def _is_area_part(self, part: str) -> bool:
        k = _POSTCODE.sub("", normalize(part))
        return not k or k in self._admin_words

    def _named_localities(self, parts: list[str]) -> dict[str, str]:
        """Locality keys (towns, postcodes) the query names, with the text that names them
        ("..., 69117 Heidelberg" -> 69117, heidelberg): a comma-separated part that is a known
        town (with or without a postcode), and known postcodes in the parts after the first
        (the first holds the street, whose numbers are not postcodes)."""
        named: dict[str, str] = {}
        if len(parts) < 2:
            return named
        for i, part in enumerate(parts):
            if i > 0:
                for m in re.finditer(r"(?<!\d)\d{4,6}(?!\d)", part):
                    if m.group(0) in self._localities:
                        named.setdefault(m.group(0), m.group(0))
            k = re.sub(r"^\d{4,6}|\d{4,6}$", "", normalize(part))
            if k in self._localities:
                named.setdefault(k, re.sub(r"\d{4,6}", "", part).strip())
        return named

    def _entry_within(self, e: GazetteerEntry, named: Sequence[str]) -> bool:
        """Whether a place lies in every named locality: by its own addr:city/addr:postcode tag
        when it has one of that sort, else by distance from the locality's centre."""
        for key in named:
            same_sort = [a for a in e.area if a.isdigit() == key.isdigit()]
            if same_sort:
                if key not in same_sort:
                    return False
                continue
            lat, lon, radius = self._localities[key]
            if e.kind == "street" and e.street in self._streets:
                s = self._streets[e.street]
                pts = zip(s.lat, s.lon, strict=True)
            else:
                pts = zip((e.lat,), (e.lon,), strict=True)
            if not any(_dist_m(a, b, lat, lon) <= radius for a, b in pts):
                return False
        return True

    def _within(self, ids: list[int], named: Sequence[str]) -> list[int]:
        if not named:
            return ids
        return [i for i in ids if self._entry_within(self._entries[i], named)]

    def _street_within(self, key: str, named: Sequence[str]) -> bool:
        """Whether street instance `key` lies in every named locality (any of its points)."""
        return self._entry_within(self._street_entry[key], named)

    def _off_centre_m(self, lat: float, lon: float, named: Sequence[str]) -> float:
        """Distance from the centres of the named localities (0 when none is named)."""
        return sum(_dist_m(lat, lon, *self._localities[k][:2]) for k in named)

    def _street_off_centre_m(self, key: str, named: Sequence[str]) -> float:
        s = self._streets[key]
        return min(self._off_centre_m(a, b, named) for a, b in zip(s.lat, s.lon, strict=True))

    def _elsewhere(self, e: GazetteerEntry | None, named: dict[str, str]) -> str:
        if e is None or not named:
            return ""
        return f"'{e.label}' exists only outside {' '.join(named.values())} (e.g. at " \
            f"{e.lat:.5f},{e.lon:.5f})"

    def _pick(self, points: list[GazetteerEntry], what: str) -> Match:
        e = points[0]
        far = {
            (round(o.lat, 3), round(o.lon, 3))
            for o in points[1:]
            if _dist_m(o.lat, o.lon, e.lat, e.lon) > AMBIGUOUS_M
        }
        if far:
            matched = f"{e.label} (one of {len(far) + 1} {what} with this address)"
            r = GeocodeResult(e.lat, e.lon, matched, "address", AMBIGUOUS_SCORE, "offline")
        else:
            r = GeocodeResult(e.lat, e.lon, e.label, "address", 1.0, "offline")
        return Match(r, e.label, r.score)

    def _exact(self, ids: list[int]) -> Match:
        """The first-ranked place of an exact key's ``ids``; a name shared by places more than
        `AMBIGUOUS_M` apart (chain stores, a station named after its street) scores
        `AMBIGUOUS_SCORE` and says so."""
        r = self._result(ids[0], 1.0, None)
        first = self._entries[ids[0]]
        others = {
            (round(e.lat, 3), round(e.lon, 3))
            for e in (self._entries[i] for i in ids[1:])
            if _dist_m(e.lat, e.lon, first.lat, first.lon) > AMBIGUOUS_M
        }
        if others:
            matched = f"{r.matched} (one of {len(others) + 1} places with this name)"
            r = GeocodeResult(r.lat, r.lon, matched, r.kind, AMBIGUOUS_SCORE, r.provider)
        return Match(r, r.matched, r.score)

    def _result(self, i: int, score: float, number: int | None) -> GeocodeResult:
        e = self._entries[i]
        if e.kind == "street" and number is not None:
            return self._street_result(e.street, number, score)
        return GeocodeResult(e.lat, e.lon, e.label, e.kind, round(score, 3), "offline")

    def _street_result(self, key: str, number: int, score: float) -> GeocodeResult:
        s = self._streets[key]
        lat, lon = s.house(number)
        matched = f"{s.label} (house number {number} interpolated)"
        return GeocodeResult(lat, lon, matched, "street", round(score, 3), "offline")

    def _street_candidates(self, key: str) -> list[str]:
        """Street keys a (possibly Latin) street text stands for, own names included."""
        out: list[str] = []
        for k in self._strip_admin_variants(key):
            out.append(k)
            for i in self._by_key.get(k, ()):
                e = self._entries[i]
                if e.kind == "street":
                    out.append(e.street)
                    out.extend(normalize(n) for n in e.names)
        return list(dict.fromkeys(out))

    def _fuzzy(self, k: str) -> list[tuple[str, float]]:
        if len(k) < 2:
            return []
        counts: dict[str, int] = defaultdict(int)
        for g in _grams(k):
            for cand in self._grams.get(g, ()):
                counts[cand] += 1
        top = sorted(counts, key=lambda c: (-counts[c], abs(len(c) - len(k)), c))[:60]
        out = []
        for cand in top:
            out.append((cand, difflib.SequenceMatcher(None, k, cand, autojunk=False).ratio()))
        out.sort(key=lambda x: (-x[1], x[0]))
        return out[:5]

    def _strip_admin_variants(self, key: str, *, latin: bool = True) -> list[str]:
        """The key, then with leading admin names stripped one at a time (longest first);
        with ``latin``, also Latin admin words anywhere."""
        out = [key]
        k = key
        changed = True
        while changed:
            changed = False
            for a in self._admin_cjk:
                if k.startswith(a) and len(k) > len(a) + 1:
                    k = k[len(a) :]
                    out.append(k)
                    changed = True
                    break
        # Latin admin words anywhere ("12 chunxi lu jinjiang district chengdu")
        for a in self._admin_latin if latin else ():
            if a in k and len(k) > len(a) + 2:
                k = k.replace(a, "")
                out.append(k)
        return out

    def _foreign_admin(self, key: str) -> str:
        m = _FOREIGN_ADMIN.match(key)
        if not m:
            return ""
        name = m.group(0)
        if any(c in m.group(1) for c in "省市区县"):
            return ""
        if name in self._admin_cjk or m.group(1) in self._admin_cjk:
            return ""
        if any(a.startswith(m.group(1)) for a in self._admin_cjk):
            return ""
        # "XX市场", "XX省体育馆": only a bare admin word followed by more text counts
        rest = key[len(name) :]
        if rest[:1] in ("场", "政", "民", "中", "级", "委", "立", "体", "图", "医", "第"):
            return ""
        if len(rest) < 2:
            return ""
        # a name the gazetteer knows (e.g. "四川省体育馆") is never foreign
        if any(k.startswith(name) for k in self._by_key if len(k) > len(name)):
            return ""
        return name


def _parse_house_number(prepped: str) -> tuple[str, int, str] | None:
    """Split "春熙路12号xx" / "no 12 chunxi lu" into (street part, number, rest)."""
    m = _HOUSE_CJK.search(prepped)
    if m and m.start() > 0:
        return prepped[: m.start()], int(m.group(1)), prepped[m.end() :]
    m = _HOUSE_CJK_BARE.search(prepped)
    if m and m.start() > 0:
        return prepped[: m.start()], int(m.group(1)), ""
    for rx in (_HOUSE_LATIN_NO, _HOUSE_LATIN_LEAD, _HOUSE_LATIN_TRAIL):
        m = rx.search(prepped)
        if m:
            rest = (prepped[: m.start()] + " " + prepped[m.end() :]).strip()
            if rest:
                return rest, int(m.group(1)), ""
    return None


def _grams(key: str) -> set[str]:
    n = 2 if _HAS_CJK.search(key) else 3
    if len(key) <= n:
        return {key}
    return {key[i : i + n] for i in range(len(key) - n + 1)}


def _cumulative(lat: Sequence[float], lon: Sequence[float]) -> list[float]:
    cum = [0.0]
    for i in range(1, len(lat)):
        cum.append(cum[-1] + _dist_m(lat[i - 1], lon[i - 1], lat[i], lon[i]))
    return cum


def _admin_forms(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """CJK and Latin keys of admin names, with their short forms (成都市 -> 成都)."""
    cjk: set[str] = set(_BASE_ADMIN_CJK)
    latin: set[str] = {normalize(a) for a in _BASE_ADMIN_LATIN}
    for name in names:
        k = normalize(name)
        if not k:
            continue
        if _HAS_CJK.search(k):
            if len(k) < 2:
                continue
            cjk.add(k)
            if k[-1] in "省市区县" and len(k) >= 3:
                cjk.add(k[:-1])
        else:
            for suffix in ("district", "qu", "city", "shi", "province", "sheng"):
                if k.endswith(suffix) and len(k) > len(suffix) + 2:
                    latin.add(k)
                    if suffix in ("city", "shi", "province", "sheng"):
                        latin.add(k[: -len(suffix)])
                    break
    # district short forms ("锦江") are not stripped: too many real names start with them
    cjk = {a for a in cjk if not (len(a) == 2 and a + "区" in cjk)}
    latin = {a for a in latin if len(a) >= 5}
    return sorted(cjk, key=lambda a: (-len(a), a)), sorted(latin, key=lambda a: (-len(a), a))


def _write_index(cache_file: Path, index: dict[str, Any]) -> None:
    """Cache a gazetteer index: a temporary file renamed into place, never half a file."""
    from optimizer import atomic

    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic.replaced_file(cache_file) as tmp:
            with gzip.open(tmp, "wt", encoding="utf-8") as f:
                json.dump(index, f, ensure_ascii=False)
    except OSError as exc:
        logger.warning("could not write gazetteer cache %s: %s", cache_file, exc)


# --------------------------------------------------------------------------- online services


class GeopyGeocoder:
    """Any geopy geocoding service, rate limited, with retries.

    Parameters
    ----------
    provider : str
        A geopy service name (``"nominatim"``, ``"arcgis"``, ``"baiduv3"``...).
    user_agent : str
        Identifies the application to the service; required by Nominatim's usage policy.
    min_delay_s : float, default 1.0
        Minimum pause between two requests (Nominatim allows one per second).
    max_retries : int, default 2
        Retries of a request that failed with a service error.
    error_wait_s : float, default 5.0
        Pause before a retry (not when the service cannot be reached at all).
    timeout_s : float, default 10
        Request timeout.
    geocoder : object, optional
        A ready geopy geocoder instance to use instead of building one from ``provider``.
    breaker_after : int, default 3
        Consecutive failed requests (unreachable, timed out, server errors) after which the
        service counts as unavailable: the circuit breaker opens and the following queries are
        misses at once, without a request, instead of costing their retries each.
    breaker_reset_s : float, default 60
        After this long an open breaker lets one request through; if it succeeds the service is
        used again.
    **provider_kwargs
        Passed to the geopy geocoder class (``api_key=...``, ``domain=...``).

    Service errors (timeouts, HTTP errors, quota) make that query a miss with a logged reason
    (`is_transient_miss`: not worth caching); `unavailable` says why the breaker is open, if it
    is. Configuration errors (unknown service, missing user agent, rejected API key) raise
    `GeocoderConfigError`.
    """

    def __init__(
        self,
        provider: str,
        *,
        user_agent: str | None = None,
        min_delay_s: float = 1.0,
        max_retries: int = 2,
        error_wait_s: float = 5.0,
        timeout_s: float = 10,
        geocoder: Any = None,
        breaker_after: int = 3,
        breaker_reset_s: float = 60.0,
        **provider_kwargs: Any,
    ) -> None:
        from geopy.extra.rate_limiter import RateLimiter

        self.provider = provider
        if geocoder is None:
            geocoder = geopy_service(provider, user_agent=user_agent, timeout_s=timeout_s,
                                     **provider_kwargs)
        self._geocoder = geocoder
        # the rate limit only: retries are counted here, for the circuit breaker
        self._geocode = RateLimiter(
            geocoder.geocode,
            min_delay_seconds=min_delay_s,
            max_retries=0,
            swallow_exceptions=False,
        )
        self.max_retries = max(0, int(max_retries))
        self.error_wait_s = max(error_wait_s, min_delay_s)
        self.breaker_after = max(1, int(breaker_after))
        self.breaker_reset_s = breaker_reset_s
        self._failures = 0  # consecutive failed requests
        self._open_until: float | None = None  # monotonic time the open breaker allows a try
        self.unavailable: str | None = None  # why the service counts as unavailable
        self.skipped = 0  # queries not sent because the breaker was open
        self._reasons: dict[str, str] = {}

    def geocode(self, query: str) -> GeocodeResult | None:
        from geopy.exc import (
            ConfigurationError,
            GeocoderAuthenticationFailure,
            GeocoderInsufficientPrivileges,
            GeocoderQueryError,
            GeocoderUnavailable,
            GeopyError,
        )

        if self._open_until is not None:
            if time.monotonic() < self._open_until:
                self.skipped += 1
                self._reasons[query] = self._unavailable_reason()
                return None
            tries = 1  # half open: one request tells whether the service is back
        else:
            tries = 1 + self.max_retries
        error: Exception | None = None
        for attempt in range(tries):
            if attempt and not isinstance(error, GeocoderUnavailable):
                # a slow or overloaded service gets time; an unreachable one is retried at the
                # rate limit's pace (waiting does not bring the network back: the breaker decides)
                time.sleep(self.error_wait_s)
            try:
                location = self._geocode(query, exactly_one=True)
            except (ConfigurationError, GeocoderAuthenticationFailure,
                    GeocoderInsufficientPrivileges) as exc:  # fmt: skip
                raise GeocoderConfigError(
                    f"geocoding service {self.provider!r} refused the request ({exc}); "
                    "check the API key / account settings"
                ) from exc
            except GeocoderQueryError as exc:  # this query's fault, not the service's
                self._reasons[query] = (f"geocoding service {self.provider!r} failed: it "
                                        f"refused this query ({exc})")
                return None
            except GeopyError as exc:
                error = exc
                self._failures += 1
                logger.info("geocoding service %r: %s: %s (query %r, try %d)", self.provider,
                            type(exc).__name__, exc, query, attempt + 1)
                if self._failures >= self.breaker_after or self._open_until is not None:
                    self._trip(exc)
                    self._reasons[query] = self._unavailable_reason()
                    return None
                continue
            self._failures = 0
            if self._open_until is not None:
                logger.warning("geocoding service %r answers again", self.provider)
            self._open_until = None
            self.unavailable = None
            break
        else:
            reason = (f"geocoding service {self.provider!r} failed: {type(error).__name__}: "
                      f"{error}")
            logger.warning("%s (query %r)", reason, query)
            self._reasons[query] = reason
            return None
        if location is None:
            self._reasons[query] = f"not found by the geocoding service {self.provider!r}"
            return None
        self._reasons.pop(query, None)
        raw = getattr(location, "raw", None) or {}
        return GeocodeResult(
            lat=float(location.latitude),
            lon=float(location.longitude),
            matched=str(location.address),
            kind=_kind_of_raw(raw),
            score=1.0,
            provider=self.provider,
        )

    def _trip(self, exc: Exception) -> None:
        first = self._open_until is None
        self._open_until = time.monotonic() + self.breaker_reset_s
        self.unavailable = (f"the geocoding service {self.provider!r} failed {self._failures} "
                            f"times in a row ({type(exc).__name__}: {_short_error(exc)})")
        if first:  # one warning, not one per address
            logger.warning("geocoder unavailable: %s; the remaining addresses are not looked up "
                           "(next try in %.0f s)", self.unavailable, self.breaker_reset_s)

    def _unavailable_reason(self) -> str:
        return (f"was not looked up: geocoder unavailable ({self.unavailable}); check the "
                "network, or geocode offline")

    def explain_miss(self, query: str) -> str:
        return self._reasons.get(query, f"not found by the geocoding service {self.provider!r}")

    def is_transient_miss(self, query: str) -> bool:
        """True when the last miss of `query` was a service error (not worth caching)."""
        reason = self._reasons.get(query, "")
        return "failed:" in reason or "geocoder unavailable" in reason


def _short_error(exc: Exception) -> str:
    """The gist of a network error ("[Errno 111] Connection refused"), not urllib3's essay."""
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\] [^\"')]+", text)
    if m:
        return m.group(0).rstrip(" .")
    return text if len(text) <= 120 else text[:117] + "..."


def _kind_of_raw(raw: dict[str, Any]) -> str:
    cls = str(raw.get("class") or raw.get("category") or "")
    typ = str(raw.get("addresstype") or raw.get("type") or "")
    if cls == "highway" or typ in ("road", "street"):
        return "street"
    if cls == "building" or typ in ("building", "house", "residential"):
        return "building"
    if cls == "place" or typ in ("city", "suburb", "neighbourhood", "quarter"):
        return "place"
    if cls in ("amenity", "shop", "tourism", "leisure", "office"):
        return "poi"
    return "address"


# --------------------------------------------------------------------------- cache

_SCHEMA = """
CREATE TABLE IF NOT EXISTS geocode (
    provider TEXT NOT NULL,
    query TEXT NOT NULL,
    found INTEGER NOT NULL,
    lat REAL, lon REAL, matched TEXT, kind TEXT, score REAL, result_provider TEXT,
    reason TEXT,
    created_utc TEXT NOT NULL,
    PRIMARY KEY (provider, query)
)
"""


_COLUMNS = ("provider", "query", "found", "lat", "lon", "matched", "kind", "score",
            "result_provider", "reason", "created_utc")


class _DamagedCache(Exception):
    """The geocoding cache file is not a usable cache (message: why)."""


def cache_query_key(query: str) -> str:
    """Light normalisation of a query for the cache: NFKC, lowercase, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", query).lower().split())


class CachedGeocoder:
    """A geocoder with a persistent sqlite cache of its answers, misses included.

    Parameters
    ----------
    inner : Geocoder
        The geocoder asked on a cache miss.
    path : path
        The sqlite file (created if missing).
    retry_misses : bool, default False
        True: ask ``inner`` again for queries cached as not found.

    Misses caused by service errors (timeouts...) are not cached, so they are retried next run.
    """

    def __init__(
        self, inner: Geocoder, path: str | os.PathLike[str], *, retry_misses: bool = False
    ) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.path = Path(path)
        self.retry_misses = retry_misses
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._open()
            except _DamagedCache as exc:
                # not a database (truncated, overwritten) or another program's: answers can be
                # asked again, so the file is set aside and a new cache begins
                moved = set_aside(self.path, "-wal", "-shm")
                logger.warning("ignoring unusable geocoding cache %s (%s); %s, starting a new "
                               "one", self.path, exc,
                               f"set aside as {moved.name}" if moved else "removed")
                self._db = self._open()
        except (OSError, sqlite3.Error, _DamagedCache) as exc:
            raise GeocoderConfigError(
                f"cannot use the geocoding cache {self.path}: {exc}; fix: give a writable cache "
                f"folder (--cache-dir, or ${CACHE_ENV}), or remove {self.path.name} there"
            ) from exc
        self.hits = 0
        self.misses = 0
        self._writable = True  # False once another program held the cache past the timeout

    def _open(self) -> sqlite3.Connection:
        """Connect and check the file; `_DamagedCache` if it is not a cache of ours."""
        db = sqlite3.connect(self.path)
        try:
            # WAL + normal sync: a commit per answer stays cheap (no fsync each), and an answer
            # survives a crash of the batch, so a long online run is never asked for twice
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            ok = db.execute("PRAGMA quick_check").fetchone()
            if ok is None or ok[0] != "ok":
                raise _DamagedCache(f"damaged: {ok[0] if ok else 'no answer'}")
            with db:
                db.execute(_SCHEMA)
            columns = tuple(r[1] for r in db.execute("PRAGMA table_info(geocode)"))
            if columns != _COLUMNS:
                raise _DamagedCache(f"its table has columns {', '.join(columns)}, not "
                                    f"{', '.join(_COLUMNS)}")
        except sqlite3.DatabaseError as exc:
            db.close()
            name = getattr(exc, "sqlite_errorname", "")
            if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT") or "malformed" in str(exc):
                raise _DamagedCache(str(exc)) from None
            raise
        except _DamagedCache:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CachedGeocoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _row(self, key: str) -> tuple[Any, ...] | None:
        try:
            return self._db.execute(
                "SELECT found, lat, lon, matched, kind, score, result_provider, reason FROM "
                "geocode WHERE provider = ? AND query = ?",
                (self.provider, key),
            ).fetchone()
        except sqlite3.OperationalError as exc:  # locked by another program: ask the geocoder
            self._busy(exc)
            return None

    def _busy(self, exc: sqlite3.OperationalError) -> None:
        """Another program holds the cache (a second plan, a what-if run): go on without it."""
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise exc
        if self._writable:
            logger.warning("the geocoding cache %s is in use by another program (%s); the "
                        "answers of this run are not cached", self.path, exc)
        self._writable = False

    def geocode(self, query: str) -> GeocodeResult | None:
        key = cache_query_key(query)
        row = self._row(key)
        if row is not None and (row[0] or not self.retry_misses):
            self.hits += 1
            if row[0]:
                return GeocodeResult(row[1], row[2], row[3], row[4], row[5], row[6])
            return None
        self.misses += 1
        result = self.inner.geocode(query)
        transient = getattr(self.inner, "is_transient_miss", None)
        if result is None and transient is not None and transient(query):
            return None
        reason = "" if result is not None else self.inner.explain_miss(query)
        if not self._writable:
            return result
        try:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO geocode VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.provider,
                        key,
                        int(result is not None),
                        None if result is None else result.lat,
                        None if result is None else result.lon,
                        None if result is None else result.matched,
                        None if result is None else result.kind,
                        None if result is None else result.score,
                        None if result is None else result.provider,
                        reason,
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    ),
                )
        except sqlite3.OperationalError as exc:
            self._busy(exc)
        return result

    @property
    def unavailable(self) -> str | None:
        """Why the online service counts as unavailable (its circuit breaker), else ``None``."""
        return getattr(self.inner, "unavailable", None)

    def explain_miss(self, query: str) -> str:
        row = self._row(cache_query_key(query))
        if row is not None and not row[0] and row[7]:
            return str(row[7])
        return self.inner.explain_miss(query)


# --------------------------------------------------------------------------- entry points


def make_geocoder(
    spec: str = "offline",
    *,
    osm_path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    user_agent: str | None = None,
    retry_misses: bool = False,
    min_score: float = DEFAULT_MIN_SCORE,
    progress: Progress | None = None,
    **provider_kwargs: Any,
) -> CachedGeocoder:
    """Build a cached geocoder.

    Parameters
    ----------
    spec : str, default "offline"
        ``"offline"``: the `Gazetteer` of ``osm_path`` (default: the bundled Chengdu extract).
        Any other value: a geopy service name for `GeopyGeocoder`.
    cache_dir : path, optional
        Holds ``geocode.sqlite`` and the gazetteer index; default `default_cache_dir`.
    user_agent : str, optional
        For online services (required by Nominatim).
    retry_misses : bool, default False
        Ask again for queries cached as not found.
    **provider_kwargs
        Passed to `GeopyGeocoder` (``min_delay_s``, ``api_key``...).
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    inner: Geocoder
    if spec == "offline":
        inner = Gazetteer.from_osm(
            osm_path or DEFAULT_OSM_PATH, cache_dir=cache, min_score=min_score, progress=progress
        )
    else:
        inner = GeopyGeocoder(spec, user_agent=user_agent, **provider_kwargs)
    return CachedGeocoder(inner, cache / "geocode.sqlite", retry_misses=retry_misses)


def geocode_cases(
    cases: Sequence[Case],
    geocoder: Geocoder,
    *,
    progress: Progress | None = None,
) -> tuple[dict[str, GeocodeResult], dict[str, str]]:
    """Locate every case; never drops one.

    Cases with ``lat``/``lon`` keep them (provider ``"input"``); the others are geocoded by
    address, each distinct address once.

    Returns
    -------
    results : dict
        ``case_id -> GeocodeResult`` for the cases located.
    reasons : dict
        ``case_id -> sentence`` for the others, saying what to fix.
    """
    results: dict[str, GeocodeResult] = {}
    reasons: dict[str, str] = {}
    todo: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        if c.lat is not None and c.lon is not None:
            results[c.case_id] = GeocodeResult(
                c.lat, c.lon, c.address or "lat/lon from the input", "address", 1.0, "input"
            )
        elif not c.address.strip():
            reasons[c.case_id] = "no address and no lat/lon; add one of them"
        else:
            todo[c.address.strip()].append(c)
    with ensure(progress).step("Geocoding addresses", total=len(todo)) as advance:
        for address, group in todo.items():
            result = geocoder.geocode(address)
            if result is None:
                why = geocoder.explain_miss(address) or "not found"
                reason = f"address '{address}' {why}; add lat/lon or fix the address"
                for c in group:
                    reasons[c.case_id] = reason
            else:
                for c in group:
                    results[c.case_id] = result
            advance(1)
    if reasons:
        logger.info("%d of %d cases could not be geocoded", len(reasons), len(cases))
    return results, reasons


# --------------------------------------------------------------------------- address check

ADDRESS_STATUSES = ("given", "found", "uncertain", "not_found")


@dataclass(frozen=True)
class AddressCheck:
    """How one address of the input lists geocodes (`check_addresses`).

    ``status``: ``given`` (lat/lon in the file), ``found`` (score 1), ``uncertain`` (score below
    1: a near spelling, or one of several same-name places), ``not_found`` (``reason`` says why).
    """

    file: str
    row: int
    record: str  # "case_id=C-1" / "collector_id=K1"
    field: str  # "address", "start_address", "end_address"
    address: str
    status: str
    lat: float | None = None
    lon: float | None = None
    matched: str = ""
    score: float | None = None
    reason: str = ""


def check_addresses(
    cases: Sequence[Case],
    collectors: Sequence[Collector],
    geocoder: Geocoder,
    *,
    cases_file: str = "cases",
    collectors_file: str = "collectors",
    progress: Progress | None = None,
) -> list[AddressCheck]:
    """Geocode every case address and collector start/end address, one row each (none lost)."""
    results, reasons = geocode_cases(cases, geocoder, progress=progress)
    out: list[AddressCheck] = []
    for c in cases:
        where = (cases_file, c.row, f"case_id={c.case_id}", "address", c.address)
        r = results.get(c.case_id)
        if r is None:
            out.append(AddressCheck(*where, "not_found", reason=reasons[c.case_id]))
            continue
        status = geocode_status(r.provider, r.score)
        out.append(AddressCheck(*where, status, r.lat, r.lon, r.matched, r.score))
    for k in collectors:
        for which in ("start", "end"):
            place = getattr(k, which)
            if which == "end" and place == k.start:
                continue  # back to the start place: checked once
            where = (collectors_file, k.row, f"collector_id={k.collector_id}",
                     f"{which}_address", place.address)  # fmt: skip
            if place.has_coords:
                out.append(AddressCheck(*where, "given", place.lat, place.lon, "", 1.0))
                continue
            r = geocoder.geocode(place.address)
            if r is None:
                why = geocoder.explain_miss(place.address) or "not found"
                out.append(AddressCheck(*where, "not_found", reason=f"address {why}"))
            else:
                status = geocode_status(r.provider, r.score)
                out.append(AddressCheck(*where, status, r.lat, r.lon, r.matched, r.score))
    return out
