"""Where caches live, and the content hash that keys them (shared by network and geocode)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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
