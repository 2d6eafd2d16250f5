"""Online geocoding through geopy: any service it supports, rate limited, with retries and a
circuit breaker (`GeopyGeocoder`).

geopy is imported inside the functions that use it: importing any geopy module loads the whole
package with all its service classes and HTTP adapters (about 0.1 s), which the offline
gazetteer, the default, never needs.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from optimizer.geo.geocode.base import GeocoderConfigError, GeocodeResult

logger = logging.getLogger(__name__)


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
        from geopy.extra.rate_limiter import RateLimiter  # online geocoding only

        self.provider = provider
        if geocoder is None:
            geocoder = geopy_service(provider, user_agent=user_agent, timeout_s=timeout_s,
                                     **provider_kwargs)
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
        self._reasons: dict[str, str] = {}  # query -> why its last lookup found nothing

    def geocode(self, query: str) -> GeocodeResult | None:
        if self._open_until is not None:
            if time.monotonic() < self._open_until:
                self.skipped += 1
                self._reasons[query] = self._unavailable_reason()
                return None
            tries = 1  # half open: one request tells whether the service is back
        else:
            tries = 1 + self.max_retries
        answered, location = self._request(query, tries)
        if not answered:
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

    def _request(self, query: str, tries: int) -> tuple[bool, Any]:
        """(True, the service's answer: a geopy location or ``None``), or (False, ``None``)
        when the service failed ``tries`` times or the breaker opened (the reason is kept)."""
        from geopy.exc import (  # online geocoding only
            ConfigurationError,
            GeocoderAuthenticationFailure,
            GeocoderInsufficientPrivileges,
            GeocoderQueryError,
            GeocoderUnavailable,
            GeopyError,
        )

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
                                        f"refused this query ({exc})")  # fmt: skip
                return False, None
            except GeopyError as exc:
                error = exc
                self._failures += 1
                logger.info("geocoding service %r: %s: %s (query %r, try %d)", self.provider,
                            type(exc).__name__, exc, query, attempt + 1)  # fmt: skip
                if self._failures >= self.breaker_after or self._open_until is not None:
                    self._trip(exc)
                    self._reasons[query] = self._unavailable_reason()
                    return False, None
                continue
            self._answered()
            return True, location
        reason = f"geocoding service {self.provider!r} failed: {type(error).__name__}: {error}"
        logger.warning("%s (query %r)", reason, query)
        self._reasons[query] = reason
        return False, None

    def _answered(self) -> None:
        """The service answered: the breaker closes."""
        self._failures = 0
        if self._open_until is not None:
            logger.warning("geocoding service %r answers again", self.provider)
        self._open_until = None
        self.unavailable = None

    def _trip(self, exc: Exception) -> None:
        """The breaker opens (again) for ``breaker_reset_s``."""
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


def geopy_service(provider: str, *, user_agent: str | None = None, timeout_s: float = 10,
                  **provider_kwargs: Any) -> Any:
    """The geopy geocoder of an online service, built without a request.

    Raises `GeocoderConfigError` (with the fix) for an unknown service, Nominatim without a
    user agent, or options the service refuses (Google without an API key...); the command
    line calls it while it checks its options, before any work.
    """
    from geopy.exc import ConfigurationError, GeocoderNotFound  # online geocoding only
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
    except (TypeError, ConfigurationError) as exc:  # e.g. a service that needs an API key
        raise GeocoderConfigError(
            f"geocoding service {provider!r} cannot be used as configured ({exc}; options "
            f"given: {', '.join(sorted(kwargs))}); fix: give it the options it needs (such as "
            "api_key), or use --geocoder offline, or a service that needs none, such as "
            "nominatim with a user agent"
        ) from exc


def _short_error(exc: Exception) -> str:
    """The gist of a network error ("[Errno 111] Connection refused"), not urllib3's essay."""
    text = str(exc)
    m = re.search(r"\[Errno -?\d+\] [^\"')]+", text)
    if m:
        return m.group(0).rstrip(" .")
    return text if len(text) <= 120 else text[:117] + "..."


def _kind_of_raw(raw: dict[str, Any]) -> str:
    """Our kind of place for a service's raw answer (Nominatim's ``class``/``type``...)."""
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
