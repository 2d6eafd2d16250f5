"""The offline geocoder: a query to the place of an extract's index it names (`Gazetteer`).

Matching rules
--------------
Names and queries are normalised the same way (`optimizer.geo.geocode.normalize`). Before
matching a query: comma-separated parts that only name the area (``Jinniu District``,
``成都市``, a postcode, the extract's ``addr:city`` values) are dropped; building/unit/room
details (``3栋2单元501``, ``Bldg 3 Unit 2 Rm 501``) and trailing fillers (``附近``, ``near``)
are cut off; leading administrative prefixes (``四川省``, ``成都市``, ``锦江区``...) are
stripped one by one, and a generic ``小区`` suffix is tried without. The extract's own admin
names are used, so another extract works the same way. A query naming a different city or
province (``北京市...``) is a miss, not a match to a same-named street here.

Then, in order: (1) exact name match; (2) house number: an exact ``addr:*`` point, a named
compound written after the number, or the street with the number interpolated (the rule:
`optimizer.geo.geocode.index`); (3) the longest known name contained in the query, scored by
the share of the query it explains, against (4) the best fuzzy match (character n-gram
candidates ranked by `difflib.SequenceMatcher` ratio): the higher score wins and is accepted at
``min_score`` (default 0.75) or above. An exact name shared by places more than `AMBIGUOUS_M`
(300 m) apart (chain stores) scores `AMBIGUOUS_SCORE` (0.8) and says so in ``matched``;
otherwise places whose label is the name come first, then by kind (address, building, poi,
place, street).

Several towns in one extract
----------------------------
When a part of the query after the first comma names a known town or postcode ("Bahnhofstraße
21, 69117 Heidelberg"), only places there are answers: by their own tag when they have one, else
by distance; of several same-name streets there, the one nearest the town's centre. A name
found only in other towns is a miss whose reason says where it is. Without a town, an address or
street that exists in several places scores `AMBIGUOUS_SCORE` and says "one of N".
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
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

DEFAULT_MIN_SCORE = 0.75
AMBIGUOUS_M = 300.0  # an exact name shared by places farther apart than this is ambiguous
AMBIGUOUS_SCORE = 0.8

_KIND_RANK = {k: i for i, k in enumerate(KINDS)}
_PARTS = re.compile(r"[,，;；]")  # what separates the parts of a query
_POSTCODE_IN_PART = re.compile(r"(?<!\d)\d{4,6}(?!\d)")
_POSTCODE_AT_END = re.compile(r"^\d{4,6}|\d{4,6}$")
_DIGITS = re.compile(r"\d{4,6}")
# a CJK admin name followed by one of these is a name of its own ("XX市场", "XX省体育馆")
_NOT_ADMIN_NEXT = ("场", "政", "民", "中", "级", "委", "立", "体", "图", "医", "第")


@dataclass(frozen=True)
class Match:
    """The gazetteer's best guess for a query, accepted or not."""

    result: GeocodeResult | None
    best_label: str
    best_score: float
    note: str = ""
    elsewhere: str = ""  # a miss: the name exists, but not in the town the query names


# --------------------------------------------------------------------------- helpers


class _AdminNames:
    """The extract's administrative names (provinces, cities, districts, ``addr:city``...):
    stripped from queries, and how a query in another city is told."""

    def __init__(self, admin: Sequence[str], area_words: Sequence[str]) -> None:
        self.cjk, self.latin = admin_forms(admin)
        self.names = set(self.cjk) | set(self.latin)
        # whole comma-separated parts of a query that only name the area ("Jinniu District",
        # "69117 Heidelberg") are dropped before matching
        self.words = {normalize(a) for a in [*admin, *area_words]} | self.names

    def is_area_part(self, part: str) -> bool:
        """Whether a comma-separated part of a query only names the area (or is empty)."""
        k = POSTCODE.sub("", normalize(part))
        return not k or k in self.words

    def variants(self, key: str, *, latin: bool = True) -> list[str]:
        """The key, then with leading admin names stripped one at a time (longest first);
        with ``latin``, also Latin admin words anywhere."""
        out = [key]
        k = key
        changed = True
        while changed:
            changed = False
            for a in self.cjk:
                if k.startswith(a) and len(k) > len(a) + 1:
                    k = k[len(a) :]
                    out.append(k)
                    changed = True
                    break
        # Latin admin words anywhere ("12 chunxi lu jinjiang district chengdu")
        for a in self.latin if latin else ():
            if a in k and len(k) > len(a) + 2:
                k = k.replace(a, "")
                out.append(k)
        return out

    def foreign(self, key: str, known: Collection[str]) -> str:
        """The province or city a key starts with when it is not one of the extract's
        ("北京市" of "北京市朝阳区..."), else ""; ``known``: the name keys of the index."""
        m = FOREIGN_ADMIN.match(key)
        if not m:
            return ""
        name = m.group(0)
        if any(c in m.group(1) for c in "省市区县"):
            return ""
        if name in self.cjk or m.group(1) in self.cjk:
            return ""
        if any(a.startswith(m.group(1)) for a in self.cjk):
            return ""
        # "XX市场", "XX省体育馆": only a bare admin word followed by more text counts
        rest = key[len(name) :]
        if rest[:1] in _NOT_ADMIN_NEXT:
            return ""
        if len(rest) < 2:
            return ""
        # a name the gazetteer knows (e.g. "四川省体育馆") is never foreign
        if any(k.startswith(name) for k in known if len(k) > len(name)):
            return ""
        return name


class _Names:
    """Name keys -> entry ids, best first; the keys' n-grams for fuzzy candidates; the keys
    looked for inside longer queries."""

    def __init__(
        self,
        entries: Sequence[GazetteerEntry],
        entry_keys: Sequence[Sequence[str]],
        admin: _AdminNames,
    ) -> None:
        # A name is also indexed without its leading city/district ("成都市第八中学" is found as
        # "第八中学" when the query says "成都市金牛区第八中学"), ranked after places that carry
        # the key as their own label or name.
        rank: dict[tuple[str, int], int] = {}
        for i, ks in enumerate(entry_keys):
            label_key = normalize(entries[i].label)
            for k in ks:
                rank.setdefault((k, i), 0 if k == label_key else 1)
                for short in [*admin.variants(k, latin=False)[1:], *generic_cuts(k)]:
                    if len(short) >= 3:
                        rank.setdefault((short, i), 2)
        ids: dict[str, list[int]] = defaultdict(list)
        for k, i in rank:
            if len(k) >= 2 and not k.isdigit():
                ids[k].append(i)
        for k, found in ids.items():
            found.sort(key=lambda i: (rank[(k, i)], _KIND_RANK[entries[i].kind], i))
        self.ids = dict(ids)
        grams: dict[str, set[str]] = defaultdict(set)
        for k in self.ids:
            for g in ngrams(k):
                grams[g].add(k)
        self.grams = dict(grams)
        # admin names are not places to land on
        self.contained = sorted(
            (k for k in self.ids if len(k) >= (3 if has_cjk(k) else 6) and k not in admin.names),
            key=lambda k: (-len(k), k),
        )

    def fuzzy(self, k: str) -> list[tuple[str, float]]:
        """The 5 keys most like ``k`` with their `difflib.SequenceMatcher` ratio, best first
        (of the 60 that share the most n-grams with it)."""
        if len(k) < 2:
            return []
        counts: dict[str, int] = defaultdict(int)
        for g in ngrams(k):
            for cand in self.grams.get(g, ()):
                counts[cand] += 1
        top = sorted(counts, key=lambda c: (-counts[c], abs(len(c) - len(k)), c))[:60]
        out = []
        for cand in top:
            out.append((cand, difflib.SequenceMatcher(None, k, cand, autojunk=False).ratio()))
        out.sort(key=lambda x: (-x[1], x[0]))
        return out[:5]


class _Localities:
    """The towns and postcodes a query can name, and whether a place lies in them.

    ``named`` arguments are locality keys a query names (`named_in`); none named: everywhere.
    """

    def __init__(
        self,
        localities: Mapping[str, tuple[float, float, float]],
        streets: Mapping[str, StreetLine],
    ) -> None:
        self.localities = localities  # key -> (centre lat, centre lon, radius m)
        self._streets = streets

    def named_in(self, parts: Sequence[str]) -> dict[str, str]:
        """Locality keys (towns, postcodes) the query names, with the text that names them
        ("..., 69117 Heidelberg" -> 69117, heidelberg): a comma-separated part that is a known
        town (with or without a postcode), and known postcodes in the parts after the first
        (the first holds the street, whose numbers are not postcodes)."""
        named: dict[str, str] = {}
        if len(parts) < 2:
            return named
        for i, part in enumerate(parts):
            if i > 0:
                for m in _POSTCODE_IN_PART.finditer(part):
                    if m.group(0) in self.localities:
                        named.setdefault(m.group(0), m.group(0))
            k = _POSTCODE_AT_END.sub("", normalize(part))
            if k in self.localities:
                named.setdefault(k, _DIGITS.sub("", part).strip())
        return named

    def contains(self, e: GazetteerEntry, named: Sequence[str]) -> bool:
        """Whether a place lies in every named locality: by its own addr:city/addr:postcode tag
        when it has one of that sort, else by distance from the locality's centre (a street:
        any of its points)."""
        for key in named:
            same_sort = [a for a in e.area if a.isdigit() == key.isdigit()]
            if same_sort:
                if key not in same_sort:
                    return False
                continue
            lat, lon, radius = self.localities[key]
            if e.kind == "street" and e.street in self._streets:
                s = self._streets[e.street]
                pts = zip(s.lat, s.lon, strict=True)
            else:
                pts = zip((e.lat,), (e.lon,), strict=True)
            if not any(dist_m(a, b, lat, lon) <= radius for a, b in pts):
                return False
        return True

    def off_centre_m(self, lat: float, lon: float, named: Sequence[str]) -> float:
        """Distance from the centres of the named localities (0 when none is named)."""
        return sum(dist_m(lat, lon, *self.localities[k][:2]) for k in named)

    def street_off_centre_m(self, s: StreetLine, named: Sequence[str]) -> float:
        """The distance of a street's nearest point from the named localities' centres."""
        return min(self.off_centre_m(a, b, named) for a, b in zip(s.lat, s.lon, strict=True))


def _elsewhere(e: GazetteerEntry | None, town_text: Mapping[str, str]) -> str:
    """The reason of a miss whose name exists only outside the towns the query names."""
    if e is None or not town_text:
        return ""
    return (f"'{e.label}' exists only outside {' '.join(town_text.values())} (e.g. at "
            f"{e.lat:.5f},{e.lon:.5f})")  # fmt: skip


@dataclass(frozen=True)
class _Query:
    """A query as the matching steps read it."""

    town_text: dict[str, str]  # locality keys it names -> the text that names them
    named: tuple[str, ...]  # those keys: answers must lie there
    keys: tuple[str, ...]  # its keys: as written and without unit details, admin names
    # stripped one at a time, a generic suffix cut; the last is the most stripped
    house_numbers: tuple[tuple[str, int, str], ...]  # (street part, number, rest) found


# --------------------------------------------------------------------------- the gazetteer


class Gazetteer:
    """Offline geocoder on an OpenStreetMap extract.

    Build with `Gazetteer.from_osm`; the parsed index is cached on disk (JSON keyed by the
    SHA-256 of the source file), so a second run does not parse the extract again. Matching
    rules: see the module docstring.

    Parameters
    ----------
    index : Index
        The extract's index (`optimizer.geo.geocode.index.load_index`).
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
        self._entries = index.entries
        self._streets = index.streets
        self._street_entry = index.street_entries
        self._addresses = index.addresses
        self._admin = _AdminNames(index.admin, index.area_words)
        self._towns = _Localities(index.localities, index.streets)
        self._names = _Names(index.entries, index.entry_keys, self._admin)

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

    # ------------------------------------------------------------------ what it holds

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
        return dict(self._towns.localities)

    def streets(self) -> dict[str, StreetLine]:
        """Named streets by key (the normalised Chinese name)."""
        return dict(self._streets)

    # ------------------------------------------------------------------ queries

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
        """Resolve a query; the result is ``None`` below ``min_score``.

        The steps of the module docstring in order; a name seen in another town than the
        query names (``elsewhere``) makes the reason of a miss.
        """
        q = self._read(query)
        if isinstance(q, Match):
            return q
        found, elsewhere = self._exact_name(q)
        if found is not None:
            return found
        found, elsewhere = self._house_number(q, elsewhere)
        if found is not None:
            return found
        return self._contained_or_fuzzy(q, elsewhere)

    def _read(self, query: str) -> _Query | Match:
        """The query's parts read (a `Match` without result when it has no text, or names a
        city or province outside the extract)."""
        parts = _PARTS.split(unicodedata.normalize("NFKC", query))
        kept = [p for p in parts if not self._admin.is_area_part(p)]
        # towns and postcodes the query names: results must lie there (same-name streets and
        # places of other towns in the extract are not an answer)
        town_text = self._towns.named_in(parts)
        prepped = POSTCODE.sub("", prepare(" ".join(kept) if kept else query)).strip()
        raw = to_key(prepped)
        if not raw:
            return Match(None, "", 0.0)
        foreign = self._admin.foreign(self._admin.variants(raw)[-1], self._names.ids)
        if foreign:
            return Match(None, "", 0.0, note=f"is in {foreign}")
        texts = list(dict.fromkeys([prepped, cut_units(prepped)]))
        keys: list[str] = []
        for t in texts:
            keys.extend(self._admin.variants(to_key(t)))
        keys = [k for k in dict.fromkeys([*keys, *(g for k in keys for g in generic_cuts(k))]) if k]
        house_numbers = [p for p in map(split_house_number, texts) if p is not None]
        return _Query(town_text, tuple(town_text), tuple(keys), tuple(house_numbers))

    def _exact_name(self, q: _Query) -> tuple[Match | None, GazetteerEntry | None]:
        """1. A key of the query is a name; else the first place seen elsewhere."""
        elsewhere = None
        for k in q.keys:
            if k in self._names.ids:
                ids = self._within(self._names.ids[k], q.named)
                if ids:
                    return self._exact(ids), None
                elsewhere = elsewhere or self._entries[self._names.ids[k][0]]
        return None, elsewhere

    def _house_number(
        self, q: _Query, elsewhere: GazetteerEntry | None
    ) -> tuple[Match | None, GazetteerEntry | None]:
        """2. A house number: an exact address point, a named compound written after the
        number, or the street with the number interpolated."""
        for before, n, after in q.house_numbers:
            streets = self._street_candidates(to_key(before))
            found, seen = self._address_point(streets, n, q.named)
            if found is not None:
                return found, elsewhere
            elsewhere = elsewhere or seen
            ak = to_key(after)
            after_ids = self._within(self._names.ids.get(ak, []), q.named) if len(ak) >= 2 else []
            if after_ids:
                return self._exact(after_ids), elsewhere
            found, seen = self._interpolated(streets, n, q.named)
            if found is not None:
                return found, elsewhere
            elsewhere = elsewhere or seen
        return None, elsewhere

    def _address_point(
        self, streets: Sequence[str], n: int, named: Sequence[str]
    ) -> tuple[Match | None, GazetteerEntry | None]:
        """The tagged address point of number ``n`` on the first of ``streets`` that has one
        in the named towns (nearest their centres first); else one seen elsewhere."""
        seen = None
        for sk in streets:
            points = self._addresses.get((sk, str(n)), ())
            within = [e for e in points if self._towns.contains(e, named)]
            within.sort(key=lambda e: self._towns.off_centre_m(e.lat, e.lon, named))
            if within:
                return self._pick(within, "address points"), seen
            seen = seen or (points[0] if points else None)
        return None, seen

    def _interpolated(
        self, streets: Sequence[str], n: int, named: Sequence[str]
    ) -> tuple[Match | None, GazetteerEntry | None]:
        """House ``n`` interpolated on the first street the text names; of its same-name
        instances ("key", "key#2") in the named towns, the one nearest their centre. Else the
        first street seen elsewhere."""
        lines = [sk for sk in streets if sk in self._streets]
        within_lines = [sk for sk in lines if self._street_within(sk, named)]
        if not within_lines:
            return None, (self._street_entry[lines[0]] if lines else None)
        base = within_lines[0].split("#", 1)[0]
        same = [k for k in within_lines if k.split("#", 1)[0] == base]
        same.sort(key=lambda k: self._towns.street_off_centre_m(self._streets[k], named))
        sk = same[0]
        r = self._street_result(sk, n, 1.0)
        others = len(same) - 1
        if others:
            matched = f"{r.matched} (one of {others + 1} streets with this name)"
            r = GeocodeResult(r.lat, r.lon, matched, r.kind, AMBIGUOUS_SCORE, r.provider)
        return Match(r, self._streets[sk].label, r.score), None

    def _contained_or_fuzzy(self, q: _Query, elsewhere: GazetteerEntry | None) -> Match:
        """3. the longest known name contained in the query, and 4. the best fuzzy match of
        the whole query (and of the street part when a house number was given): the higher
        wins, a miss below ``min_score``."""
        contained = self._contained(q)
        score, cand, n, cand_ids = self._best_fuzzy(q)
        if contained is not None and contained.best_score >= score:
            return contained
        miss = _elsewhere(elsewhere, q.town_text)
        if not cand:
            return Match(None, "", 0.0, elsewhere=miss)
        first = cand_ids[0]
        label = self._entries[first].label
        if score < self.min_score:
            return Match(None, label, score, elsewhere=miss)
        r = self._result(first, score, n)
        return Match(r, r.matched, score)

    def _contained(self, q: _Query) -> Match | None:
        """The longest known name inside the most stripped key, scored by the share of it
        the name explains."""
        core = q.keys[-1]
        for k in self._names.contained:
            if len(k) < len(core) and k in core:
                ids = self._within(self._names.ids[k], q.named)
                if not ids:
                    continue
                score = len(k) / len(core)
                n = q.house_numbers[-1][1] if q.house_numbers else None
                r = self._result(ids[0], score, n)
                return Match(r, r.matched, score)
        return None

    def _best_fuzzy(self, q: _Query) -> tuple[float, str, int | None, list[int]]:
        """The best fuzzy match (score, key, house number, entry ids) of the last three keys
        and of the street parts before house numbers; score 0 when there is none."""
        best: tuple[float, str, int | None, list[int]] = (0.0, "", None, [])
        street_parts = [(self._admin.variants(to_key(b))[-1], n) for b, n, _ in q.house_numbers]
        for k, n in [*((k, None) for k in q.keys[-3:]), *street_parts]:
            for cand, score in self._names.fuzzy(k):
                if score > best[0]:
                    ids = self._within(self._names.ids[cand], q.named)
                    if ids:
                        best = (score, cand, n, ids)
        return best

    # ------------------------------------------------------------------ answers

    def _within(self, ids: list[int], named: Sequence[str]) -> list[int]:
        """The entry ids that lie in the named towns."""
        if not named:
            return ids
        return [i for i in ids if self._towns.contains(self._entries[i], named)]

    def _street_within(self, key: str, named: Sequence[str]) -> bool:
        """Whether street instance `key` lies in every named locality (any of its points)."""
        return self._towns.contains(self._street_entry[key], named)

    def _street_candidates(self, key: str) -> list[str]:
        """Street keys a (possibly Latin) street text stands for, own names included."""
        out: list[str] = []
        for k in self._admin.variants(key):
            out.append(k)
            for i in self._names.ids.get(k, ()):
                e = self._entries[i]
                if e.kind == "street":
                    out.append(e.street)
                    out.extend(normalize(n) for n in e.names)
        return list(dict.fromkeys(out))

    def _pick(self, points: list[GazetteerEntry], what: str) -> Match:
        """The first of address points; points more than `AMBIGUOUS_M` apart make it
        ambiguous."""
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
        """Entry ``i`` as a result; a street with a house number: the number interpolated."""
        e = self._entries[i]
        if e.kind == "street" and number is not None:
            return self._street_result(e.street, number, score)
        return GeocodeResult(e.lat, e.lon, e.label, e.kind, round(score, 3), "offline")

    def _street_result(self, key: str, number: int, score: float) -> GeocodeResult:
        s = self._streets[key]
        lat, lon = s.house(number)
        matched = f"{s.label} (house number {number} interpolated)"
        return GeocodeResult(lat, lon, matched, "street", round(score, 3), "offline")
