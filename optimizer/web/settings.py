"""The web application's settings: one frozen object (`WebSettings`), made by `serve`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: an outcome body is a few hundred bytes; a 4,000-character note in Chinese is 12 KB
MAX_BODY_BYTES = 32 * 1024
#: a case list sent to the lender's API (about 20,000 cases of 400 bytes)
MAX_IMPORT_BYTES = 8 * 1024 * 1024
#: outcomes per page of the lender's export
EXPORT_PAGE = 1000


@dataclass(frozen=True)
class WebSettings:
    """What the web application serves and how.

    Attributes
    ----------
    plan_dir : Path
        The plan output folder whose pages are served.
    base_url : str
        The address phones use (in links and QR codes), e.g. ``http://192.168.1.5:8000``.
    token_file : Path, optional
        Where link tokens are kept; default ``plan_dir/links.json``.
    store_url : str, optional
        The case store (a SQLAlchemy URL); without it the pages are served without the outcome
        form and there is no lender API.
    max_body_bytes, max_import_bytes : int
        Largest request body (bytes) in general and for the case import (413 above).
    export_page : int
        Outcomes per page of ``GET /api/v1/outcomes``.
    collectors_file : Path, optional
        The collector list a re-plan (``POST /api/v1/replan``) reads; default the demo's.
    cache_dir : Path, optional
        The cache of road networks and geocoding a re-plan uses; default the user's.
    """

    plan_dir: Path
    base_url: str = "http://127.0.0.1:8000"
    token_file: Path | None = None
    store_url: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    max_import_bytes: int = MAX_IMPORT_BYTES
    export_page: int = EXPORT_PAGE
    collectors_file: Path | None = None
    cache_dir: Path | None = None
