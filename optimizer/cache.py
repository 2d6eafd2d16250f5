"""Where caches live, the content hash that keys them, and setting aside a damaged one (shared
by network and geocode)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from optimizer import atomic

CACHE_ENV = "COLLECTOR_ROUTES_CACHE"


def default_cache_dir() -> Path:
    """Cache directory: ``$COLLECTOR_ROUTES_CACHE`` or ``~/.cache/collector-routes``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "collector-routes"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's content, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def set_aside(path: str | os.PathLike[str], *companions: str) -> Path | None:
    """Move a damaged cache file out of the way: ``<name>.corrupt-<time>``, kept for a look.

    `companions` are suffixes of files that belong to it (``"-wal"``, ``"-shm"`` of sqlite) and
    move with it. Returns the new path (``None`` if the file could not be renamed and was
    removed instead, so that the cache can still be rebuilt).
    """
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in companions:
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            atomic.set_aside(extra, stamp=stamp)
    return atomic.set_aside(path, stamp=stamp)
