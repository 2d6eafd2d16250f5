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

import logging
import os
import re
import sqlite3
import time
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.cache import CACHE_ENV, default_cache_dir, set_aside
from optimizer.geo.geocode.base import GeocodeResult, Geocoder, GeocoderConfigError
from optimizer.geo.geocode.gazetteer import DEFAULT_MIN_SCORE, Gazetteer
from optimizer.geo.geocode.index import DEFAULT_OSM_PATH
from optimizer.model import Case, Collector, geocode_status
from optimizer.progress import Progress, ensure

logger = logging.getLogger(__name__)

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
        # geopy only for online geocoding: the offline gazetteer never loads it
        from geopy.exc import GeocoderNotFound
        from geopy.extra.rate_limiter import RateLimiter
        from geopy.geocoders import get_geocoder_for_service

        self.provider = provider
        if geocoder is None:
            try:
                cls = get_geocoder_for_service(provider)
            except GeocoderNotFound as exc:
                raise GeocoderConfigError(
                    f"unknown geocoding service {provider!r}; use 'offline' or a geopy service "
                    "name such as 'nominatim', 'arcgis', 'baiduv3'"
                ) from exc
            if provider.lower() == "nominatim" and not user_agent:
                raise GeocoderConfigError(
                    "the Nominatim service requires a user agent that identifies your "
                    "application; pass user_agent='my-company-collector-routes' "
                    "(see https://operations.osmfoundation.org/policies/nominatim/)"
                )
            kwargs = dict(provider_kwargs)
            kwargs.setdefault("timeout", timeout_s)
            if user_agent:
                kwargs.setdefault("user_agent", user_agent)
            try:
                geocoder = cls(**kwargs)
            except TypeError as exc:
                raise GeocoderConfigError(
                    f"geocoding service {provider!r} rejected the options {sorted(kwargs)}: {exc}"
                ) from exc
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
                f"cannot use the geocoding cache {self.path}: {exc}; point ${CACHE_ENV} (or the "
                "cache_dir option) to a writable folder"
            ) from exc
        self.hits = 0
        self.misses = 0

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
        return self._db.execute(
            "SELECT found, lat, lon, matched, kind, score, result_provider, reason FROM geocode "
            "WHERE provider = ? AND query = ?",
            (self.provider, key),
        ).fetchone()

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
