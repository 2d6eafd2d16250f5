"""What every geocoder shares: the result, the protocol, the configuration error.

Kept apart from the package's ``__init__`` (which re-exports them) so that the geocoders can
import them without importing the package that builds the geocoders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from optimizer.errors import ConfigError


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
