"""A plan folder as the web application serves it: link tokens, the current plan, checked pages.

`Site` answers for the plan in a plan output folder, as its ``manifest.json``
(`optimizer.outputs.write.write_manifest`) lists it:

- which page (and which collector) a token opens: each collector page of the manifest behind
  its collector's token, the dispatcher overview behind its own token;
- the page's bytes, checked against the manifest's SHA-256, read through one handle on the
  folder, so a plan written again into the folder while serving (`optimizer.outputs.write`
  swaps the folder whole) is served at once and no request ever sees a mix of two plans: a
  collector no longer in the plan has no page (404), a new one gets a token, a folder without
  a complete plan has none (503);
- the served overview, its collector-links section replaced by the served links with a QR code
  each (`with_links`).

Tokens come from `secrets.token_urlsafe` (256 bits) and are kept in ``plan_dir/links.json``
(mode 0600) so links survive restarts and re-plans; a collector without a token gets one. A
hand-edited ``links.json`` with a weak (short or not URL-safe) or duplicate token is refused
(`ServeError`). The site only reads the plan (and saves new tokens under the folder's lock).
No HTTP here: `optimizer.web.collector` maps requests onto these answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from optimizer import atomic
from optimizer.errors import ConfigError
from optimizer.outputs import maps
from optimizer.outputs.write import (
    LINKS_FILE,
    MANIFEST,
    IncompletePlan,
    parse_manifest,
    read_manifest,
)

logger = logging.getLogger(__name__)

__all__ = [
    "Access",
    "Links",
    "Page",
    "ServeError",
    "Site",
    "build_links",
    "format_links",
    "load_tokens",
    "manifest_or_error",
    "with_links",
]

_TOKEN_BYTES = 32
# what `secrets.token_urlsafe(32)` gives: 43 characters of the URL-safe base64 alphabet
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43,}")


class ServeError(ConfigError):
    """The server cannot start: the message names the problem and the fix (exit code 2)."""

@dataclass(frozen=True)
class Links:
    """The served URLs: the overview's and one per collector."""

    overview: str | None
    collectors: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"overview": self.overview, "collectors": dict(self.collectors)}


# --------------------------------------------------------------------------- tokens


def _token_problems(loaded: object, path: Path) -> list[str]:
    """What is wrong with the content of a ``links.json`` (empty: nothing)."""
    if not isinstance(loaded, dict) or not isinstance(loaded.get("collectors", {}), dict):
        return ['it is not {"overview": token, "collectors": {collector_id: token}}']
    entries: list[tuple[str, object]] = []
    if loaded.get("overview") is not None:
        entries.append(("overview", loaded["overview"]))
    entries += [(f"collector {cid}", t) for cid, t in (loaded.get("collectors") or {}).items()]
    problems = []
    seen: dict[str, str] = {}
    for name, token in entries:
        if not isinstance(token, str):
            problems.append(f"the token of {name} is not text")
        elif not _TOKEN_RE.fullmatch(token):
            bad = sorted(set(re.sub(r"[A-Za-z0-9_-]", "", token)))
            problems.append(f"the token of {name} is weak ({len(token)} characters"
                            + (f", with {''.join(bad)!r} outside the URL-safe alphabet" if bad
                               else "") + "; the links this server issues have 43 URL-safe "
                            "characters, 256 random bits)")
        elif token in seen:
            problems.append(f"the token of {name} is the same as that of {seen[token]}")
        else:
            seen[token] = name
    return problems


def _read_tokens(path: Path) -> dict:
    """The tokens saved in `path` (none if it does not exist); `ServeError` if they are unsafe."""
    tokens: dict = {"overview": None, "collectors": {}}
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return tokens
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeError(f"{path}: cannot be read ({exc}); fix: delete the file to issue new "
                         "links") from None
    try:
        loaded = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ServeError(f"{path}: not valid JSON ({exc}); fix: delete the file to issue new "
                         "links (or repair it)") from None
    problems = _token_problems(loaded, path)
    if problems:
        raise ServeError(f"{path}: {'; '.join(problems)}; fix: delete those entries (or the "
                         "file) to issue new links")
    tokens["overview"] = loaded.get("overview")
    tokens["collectors"] = dict(loaded.get("collectors") or {})
    return tokens


def _save_tokens(path: Path, tokens: dict) -> None:
    data = json.dumps(tokens, ensure_ascii=False, indent=2).encode("utf-8")
    atomic.write_file(path, data, mode=0o600)
    logger.info("saved link tokens to %s", path)


def _add_tokens(tokens: dict, collector_ids: Iterable[str]) -> bool:
    """Give the overview and every collector of `collector_ids` a token; True if any was new."""
    changed = False
    taken = {tokens["overview"], *tokens["collectors"].values()}
    if not tokens["overview"]:
        tokens["overview"] = secrets.token_urlsafe(_TOKEN_BYTES)
        taken.add(tokens["overview"])
        changed = True
    for cid in collector_ids:
        if not tokens["collectors"].get(cid):
            token = secrets.token_urlsafe(_TOKEN_BYTES)
            while token in taken:  # never, with 256 bits; but a duplicate would cross pages
                token = secrets.token_urlsafe(_TOKEN_BYTES)
            tokens["collectors"][cid] = token
            taken.add(token)
            changed = True
    return changed


def load_tokens(
    plan_dir: str | Path,
    *,
    token_file: str | Path | None = None,
    collector_ids: list[str] | None = None,
) -> dict:
    """Read the tokens of a plan directory, creating and saving missing ones.

    Parameters
    ----------
    plan_dir : str or Path
        The plan output directory.
    token_file : str or Path, optional
        Where tokens are kept; default ``plan_dir/links.json``.
    collector_ids : list of str, optional
        Collectors that need a token; default: those with a page in the plan's manifest.

    Returns
    -------
    dict
        ``{"overview": token, "collectors": {collector_id: token}}``.

    Raises
    ------
    ServeError
        The token file is damaged, or holds a weak or duplicate token (the message names it).
    """
    plan_dir = Path(plan_dir)
    path = Path(token_file) if token_file else plan_dir / LINKS_FILE
    if collector_ids is None:
        collector_ids = list(manifest_or_error(plan_dir)["pages"])
    # under the folder's lock: a plan written into the folder meanwhile keeps what is saved
    with atomic.folder_lock(plan_dir):
        tokens = _read_tokens(path)
        if _add_tokens(tokens, collector_ids):
            _save_tokens(path, tokens)
    return tokens


def manifest_or_error(plan_dir: Path) -> dict:
    try:
        is_dir = plan_dir.is_dir()
    except OSError as exc:  # a name too long for the file system
        raise ServeError(f"{plan_dir}: cannot be a plan directory ({exc.strerror or exc}); fix: "
                         "give the plan folder written by `collector-routes plan --out`") from None
    if not is_dir:
        raise ServeError(f"{plan_dir}: no such plan directory; fix: run `collector-routes plan "
                         f"--out {plan_dir}` first")
    try:
        return read_manifest(plan_dir)
    except IncompletePlan as exc:
        raise ServeError(str(exc)) from None


def build_links(
    plan_dir: str | Path, base_url: str, *, token_file: str | Path | None = None
) -> Links:
    """The URLs under `base_url` (e.g. ``http://192.168.1.5:8000``) of a plan directory's pages."""
    plan_dir = Path(plan_dir)
    manifest = manifest_or_error(plan_dir)
    tokens = load_tokens(plan_dir, token_file=token_file, collector_ids=list(manifest["pages"]))
    return _links(manifest, tokens, base_url)


def _links(manifest: Mapping, tokens: Mapping, base_url: str) -> Links:
    base = base_url.rstrip("/")
    return Links(
        overview=f"{base}/{tokens['overview']}/" if manifest.get("overview") else None,
        collectors={cid: f"{base}/{tokens['collectors'][cid]}/" for cid in manifest["pages"]},
    )


def format_links(links: Links) -> str:
    """The links as lines of text for the CLI to print."""
    lines = [f"overview  {links.overview or '(no index.html in the plan directory)'}"]
    width = max((len(c) for c in links.collectors), default=0)
    lines += [f"{cid:<{width}}  {url}" for cid, url in links.collectors.items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------- what is served


class _Gone(Exception):
    """The plan changed or vanished while a request read it (retry once, then 503)."""


@dataclass(frozen=True)
class _View:
    """One plan as served: its manifest and which token opens which page."""

    manifest: Mapping
    routes: Mapping[str, str]  # token -> page file
    collectors: Mapping[str, str]  # token -> collector id (the overview's token is not here)
    overview_token: str | None
    links: Links


@dataclass(frozen=True)
class Access:
    """Who a token is in the plan being served: a collector (``collector_id``) or the
    dispatcher overview (``collector_id`` None)."""

    collector_id: str | None
    page: str
    plan_id: str
    plan_date: str | None  # YYYY-MM-DD, from the manifest

    @property
    def is_overview(self) -> bool:
        return self.collector_id is None


@dataclass(frozen=True)
class Page:
    """A request's page: ``status`` 200 (``body`` the checked page, ``access`` whose it is),
    404 (no such token in the plan) or 503 (no complete plan in the folder right now)."""

    status: int
    body: bytes = b""
    access: Access | None = None


class _Folder:
    """A handle on the plan folder as it was when opened: reads never mix two plans."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def read(self, name: str) -> bytes:
        try:
            fd = os.open(name, os.O_RDONLY, dir_fd=self.fd)
        except FileNotFoundError:
            raise _Gone(name) from None
        with os.fdopen(fd, "rb") as fh:
            return fh.read()


class Site:
    """What a request gets: resolves tokens against the current manifest, reads checked pages.

    Thread-safe: the web application calls it from its worker threads.
    """

    def __init__(self, plan_dir: Path, *, token_file: Path | None, base_url: str) -> None:
        self.plan_dir = plan_dir
        self.token_path = token_file or plan_dir / LINKS_FILE
        self.base_url = base_url
        self._lock = threading.Lock()
        self._tokens = _read_tokens(self.token_path)
        self._unsaved = False
        self._view: _View | None = None
        self.assets = {
            f"{maps.ASSETS_DIRNAME}/{rel}": data for rel, data in maps.asset_files().items()
        }

    @contextlib.contextmanager
    def _folder(self) -> Iterator[_Folder | None]:
        """The plan folder as it is now (``None`` if it is gone)."""
        try:
            fd = os.open(self.plan_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            yield None
            return
        try:
            yield _Folder(fd)
        finally:
            os.close(fd)

    def _view_of(self, folder: _Folder) -> _View | None:
        """The plan in `folder` (``None``: no complete plan there)."""
        try:
            manifest = parse_manifest(folder.read(MANIFEST))
        except (_Gone, IncompletePlan, OSError):
            return None
        with self._lock:
            if self._view is not None and self._view.manifest["plan_id"] == manifest["plan_id"]:
                if self._unsaved:
                    self._save()
                return self._view
            if _add_tokens(self._tokens, manifest["pages"]) or self._unsaved:
                self._unsaved = True
                self._save()
            t = self._tokens
            routes = {t["collectors"][cid]: page for cid, page in manifest["pages"].items()}
            collectors = {t["collectors"][cid]: cid for cid in manifest["pages"]}
            overview = None
            if manifest.get("overview"):
                overview = t["overview"]
                routes[overview] = manifest["overview"]
            self._view = _View(manifest, routes, collectors, overview,
                               _links(manifest, t, self.base_url))
            return self._view

    def _save(self) -> None:
        """Save new tokens unless a plan is being written right now (then on a later request)."""
        try:
            with atomic.folder_lock(self.plan_dir, blocking=False):
                _save_tokens(self.token_path, self._tokens)
            self._unsaved = False
        except BlockingIOError:
            logger.info("plan folder busy; new link tokens saved later")
        except OSError as exc:
            logger.warning("could not save link tokens to %s: %s", self.token_path, exc)

    @staticmethod
    def _access(view: _View, token: str) -> Access | None:
        found: str | None = None
        for known in view.routes:
            # every known token is compared, in constant time each: no timing hint
            if secrets.compare_digest(known.encode(), token.encode()):
                found = known
        if found is None:
            return None
        m = view.manifest
        return Access(collector_id=view.collectors.get(found), page=view.routes[found],
                      plan_id=m["plan_id"], plan_date=m.get("plan_date"))

    def links(self) -> Links | None:
        """The served links of the plan now in the folder (None: no complete plan)."""
        with self._folder() as folder:
            view = self._view_of(folder) if folder is not None else None
        return view.links if view is not None else None

    def page(self, token: str) -> Page:
        """The page behind `token`, checked against the manifest (see `Page`)."""
        for _ in range(2):  # the folder may be swapped between reading the manifest and the page
            with self._folder() as folder:
                view = self._view_of(folder) if folder is not None else None
                if folder is None or view is None:
                    return Page(503)
                access = self._access(view, token)
                if access is None:
                    return Page(404)
                try:
                    body = folder.read(access.page)
                except (_Gone, OSError):
                    continue
                digest = view.manifest["files"].get(access.page)
                if digest is None or hashlib.sha256(body).hexdigest() != digest or not body:
                    continue
                if access.is_overview:
                    body = with_links(body.decode("utf-8"), view.links).encode("utf-8")
                return Page(200, body, access)
        return Page(503)

    def access(self, token: str) -> Access | None:
        """Who `token` is in the plan now served (None: unknown, stale, or no complete plan)."""
        with self._folder() as folder:
            view = self._view_of(folder) if folder is not None else None
        return self._access(view, token) if view is not None else None


def with_links(text: str, links: Links) -> str:
    """An overview page with its collector-links section replaced by `links` (QR codes)."""
    begin = text.find(maps.LINKS_BEGIN)
    end = text.find(maps.LINKS_END, begin + 1)
    if begin < 0 or end < 0:
        return text
    section = maps.collector_links_html(links.collectors, qr=True)
    return text[:begin] + section + text[end + len(maps.LINKS_END) :]
