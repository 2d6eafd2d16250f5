"""The offline matcher: a query to the place of the index it names (`Gazetteer`).

PLACEHOLDER
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizer.geo.geocode.base import GeocodeResult
from optimizer.geo.geocode.index import (
    DEFAULT_OSM_PATH,
    INDEX_VERSION,
    KINDS,
    GazetteerEntry,
    Index,
    StreetLine,
    dist_m,
    load_index,
)
from optimizer.geo.geocode.normalize import (
    FOREIGN_ADMIN,
    POSTCODE,
    admin_forms,
    cut_units,
    generic_cuts,
    has_cjk,
    ngrams,
    normalize,
    prepare,
    split_house_number,
    to_key,
)
from optimizer.progress import Progress

_KIND_RANK = {k: i for i, k in enumerate(KINDS)}
DEFAULT_MIN_SCORE = 0.75
AMBIGUOUS_M = 300.0  # an exact name shared by places farther apart than this is ambiguous
AMBIGUOUS_SCORE = 0.8


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
        self, index: Index, *, source: str = "", min_score: float = DEFAULT_MIN_SCORE
    ) -> None:
        self.source = source
        self.min_score = min_score
        self.bounds = index.bounds
        # cache key of answers: the source file and the matching rules' version
        self.provider = f"offline:{index.sha256[:16]}:v{INDEX_VERSION}:{min_score:g}"
        self._streets = dict(index.streets)
        self._street_entry = dict(index.street_entries)
        self._addresses = dict(index.addresses)
        self._localities = dict(index.localities)
        self._entries = list(index.entries)
        entries = self._entries
        keys = index.entry_keys
        self._admin_cjk, self._admin_latin = admin_forms(index.admin)
        # whole comma-separated parts of a query that only name the area ("Jinniu District",
        # "69117 Heidelberg") are dropped before matching
        self._admin_words = (
            {normalize(a) for a in [*index.admin, *index.area_words]}
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
                for short in [*self._strip_admin_variants(k, latin=False)[1:], *generic_cuts(k)]:
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
            for g in ngrams(k):
                self._grams[g].add(k)
        # names looked for inside longer queries; admin names are not places to land on
        admin = set(self._admin_cjk) | set(self._admin_latin)
        self._contained = sorted(
            (
                k
                for k in self._by_key
                if len(k) >= (3 if has_cjk(k) else 6) and k not in admin
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
        """Build (or load from the disk cache) the gazetteer of an OSM extract.

        Parameters
        ----------
        path : path, default the bundled ``data/osm/chengdu_ring2.osm.bz2``
            OSM XML (plain or ``.bz2`` / ``.gz`` compressed) or PBF (``.osm.pbf``).
        cache_dir : path, optional
            Where the parsed index is kept; default `default_cache_dir`.
        use_cache : bool, default True
            False: always parse, write nothing.
        """
        index = load_index(path, cache_dir=cache_dir, use_cache=use_cache, progress=progress)
        return cls(index, source=Path(path).name, min_score=min_score)

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
        prepped = POSTCODE.sub("", prepare(" ".join(kept) if kept else query)).strip()
        raw = to_key(prepped)
        if not raw:
            return Match(None, "", 0.0)
        foreign = self._foreign_admin(self._strip_admin_variants(raw)[-1])
        if foreign:
            return Match(None, "", 0.0, note=f"is in {foreign}")
        cut = cut_units(prepped)
        texts = list(dict.fromkeys([prepped, cut]))
        keys: list[str] = []
        for t in texts:
            keys.extend(self._strip_admin_variants(to_key(t)))
        keys = [k for k in dict.fromkeys([*keys, *(g for k in keys for g in generic_cuts(k))]) if k]

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
            p = split_house_number(t)
            if p is not None:
                parsed.append(p)
        for before, n, after in parsed:
            cands = self._street_candidates(to_key(before))
            for sk in cands:
                points = self._addresses.get((sk, str(n)), [])
                within = [e for e in points if self._entry_within(e, named)]
                within.sort(key=lambda e: self._off_centre_m(e.lat, e.lon, named))
                if within:
                    return self._pick(within, "address points")
                elsewhere = elsewhere or (points[0] if points else None)
            ak = to_key(after)
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
        street_parts = [(self._strip_admin_variants(to_key(b))[-1], n) for b, n, _ in parsed]
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
        k = POSTCODE.sub("", normalize(part))
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
            if not any(dist_m(a, b, lat, lon) <= radius for a, b in pts):
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
        return sum(dist_m(lat, lon, *self._localities[k][:2]) for k in named)

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
            if dist_m(o.lat, o.lon, e.lat, e.lon) > AMBIGUOUS_M
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
            if dist_m(e.lat, e.lon, first.lat, first.lon) > AMBIGUOUS_M
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
        for g in ngrams(k):
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
        m = FOREIGN_ADMIN.match(key)
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

