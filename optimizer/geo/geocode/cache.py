"""The persistent sqlite cache of a geocoder's answers, misses included (`CachedGeocoder`).

One table, ``geocode``, keyed by (provider, query): the provider string changes when answers
may change (another extract, another version of the matching rules, another service), the query
is lightly normalised (`cache_query_key`). Each answer is committed as it comes (WAL journal),
so a batch that crashes is not asked again. A file that is not a usable cache (not a database,
damaged, a table of another program) is set aside and a new cache begins.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
import unicodedata
from pathlib import Path
from typing import Any

from optimizer.cache import CACHE_ENV, set_aside
from optimizer.geo.geocode.base import Geocoder, GeocoderConfigError, GeocodeResult

logger = logging.getLogger(__name__)

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
        """The cached answer of a query key: (found, lat, lon, matched, kind, score,
        result_provider, reason), or ``None``."""
        try:
            row: tuple[Any, ...] | None = self._db.execute(
                "SELECT found, lat, lon, matched, kind, score, result_provider, reason FROM "
                "geocode WHERE provider = ? AND query = ?",
                (self.provider, key),
            ).fetchone()
        except sqlite3.OperationalError as exc:  # locked by another program: ask the geocoder
            self._busy(exc)
            return None
        return row

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
        self._store(key, result, "" if result is not None else self.inner.explain_miss(query))
        return result

    def _store(self, key: str, result: GeocodeResult | None, reason: str) -> None:
        """Keep an answer (a miss: ``result`` None, with its reason), committed at once; not
        while another program holds the cache (`_busy`)."""
        if not self._writable:
            return
        try:
            self._store_now(key, result, reason)
        except sqlite3.OperationalError as exc:
            self._busy(exc)

    def _store_now(self, key: str, result: GeocodeResult | None, reason: str) -> None:
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

    @property
    def unavailable(self) -> str | None:
        """Why the online service counts as unavailable (its circuit breaker), else ``None``."""
        return getattr(self.inner, "unavailable", None)

    def explain_miss(self, query: str) -> str:
        row = self._row(cache_query_key(query))
        if row is not None and not row[0] and row[7]:
            return str(row[7])
        return self.inner.explain_miss(query)
