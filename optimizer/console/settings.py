"""The console's settings: one frozen object, made by ``collector-routes console``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: largest upload of the day's two files (bytes)
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console plans and where it keeps the day's files.

    Attributes
    ----------
    work_dir : Path
        Uploads (``uploads/``), draft plans (``drafts/``) and the published plan the collector
        links serve (``served/``).
    time_limit_s : float
        The solver budget a plan gets when the form does not give one, seconds.
    max_solutions : int, optional
        Stop the search after this many solutions (reproducible plans; None: the time limit).
    secure_cookies : bool
        Mark the session cookie ``Secure`` (served over HTTPS, e.g. behind a proxy).
    login_attempts, login_window_s : int
        Failed sign-ins allowed per account name and per client address in the window
        (seconds) before further attempts are refused with 429.
    tiles : str
        Background tiles of the maps (`optimizer.outputs.maps.TILES`).
    cache_dir : Path, optional
        The caches of road networks and geocoding (None: the user's cache folder).
    """

    work_dir: Path = Path("maps/console")
    time_limit_s: float = 30.0
    max_solutions: int | None = None
    secure_cookies: bool = False
    login_attempts: int = 5
    login_window_s: int = 300
    tiles: str = "osm"
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    cache_dir: Path | None = None

    @property
    def served_dir(self) -> Path:
        return self.work_dir / "served"
