"""Geocoding: case addresses to WGS-84 ``lat``/``lon``.

Every geocoder has one small interface (`Geocoder`): ``geocode(query)`` returns a
`GeocodeResult` or ``None``, and ``explain_miss(query)`` says in a sentence why a query found
nothing. `make_geocoder` builds the usual combinations; `geocode_cases` geocodes a case list
and never drops a case (every case ends up with a result or with a reason); `check_addresses`
reports every address of the input files, collectors' start and end places included.

The package's modules, in the order the data flows:

- `normalize`: address text to matching keys (NFKC, pinyin, Latin road words, house numbers,
  unit details, n-grams); pure functions.
- `index`: an OpenStreetMap extract read into the gazetteer's index (named places, street lines
  for house-number interpolation, address points, towns and postcodes), cached on disk.
- `gazetteer`: `Gazetteer`, the offline geocoder matching a query against an index (the
  bundled ``data/osm/chengdu_ring2.osm.bz2`` by default); its module docstring holds the
  matching rules.
- `online`: `GeopyGeocoder`, any online service geopy supports, rate limited, with retries and
  a circuit breaker.
- `cache`: `CachedGeocoder`, either of them with a persistent sqlite cache (hits and misses).
- `base`: the result, the protocol and the configuration error they share (re-exported here).
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.cache import default_cache_dir
from optimizer.geo.geocode.base import Geocoder, GeocoderConfigError, GeocodeResult
from optimizer.geo.geocode.cache import CachedGeocoder
from optimizer.geo.geocode.gazetteer import DEFAULT_MIN_SCORE, Gazetteer
from optimizer.geo.geocode.index import DEFAULT_OSM_PATH
from optimizer.geo.geocode.online import GeopyGeocoder, geopy_service
from optimizer.model import Case, Collector, geocode_status
from optimizer.progress import Progress, ensure

__all__ = [
    "ADDRESS_STATUSES",
    "AddressCheck",
    "GeocodeResult",
    "Geocoder",
    "GeocoderConfigError",
    "check_addresses",
    "geocode_cases",
    "geopy_service",
    "make_geocoder",
]

logger = logging.getLogger(__name__)


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
