"""Serve a plan's pages over HTTP, each behind its own unguessable link.

``serve(plan_dir)`` serves the complete plan in a plan output folder, as its ``manifest.json``
(`optimizer.outputs.write.write_manifest`) lists it:

- each collector page of the manifest at ``/<token>/``;
- the dispatcher overview at ``/<overview token>/``, with its collector-links section replaced at
  request time by the served links and a QR code per collector link (so the QR codes always carry
  the address the server really listens on);
- the bundled map assets (Leaflet, our helper script and stylesheet; no case data) at
  ``/<any valid token>/assets/...`` and ``/assets/...``.

Everything else answers ``404`` with an empty body: no directory listing, no file names, no hint
whether a token exists. Tokens come from `secrets.token_urlsafe` (256 bits) and are kept in
``plan_dir/links.json`` (mode 0600) so links survive restarts and re-plans; a collector without a
token gets one. A hand-edited ``links.json`` with a weak (short or not URL-safe) or duplicate
token is refused at start-up.

The server only reads the plan (and saves new tokens under the folder's lock). Every request reads
the current manifest and the page through one handle on the folder and checks the page against
the manifest's hash, so a plan written again into the folder while serving
(`optimizer.outputs.write` swaps the folder whole) is served at once: a collector no longer in
the plan gets ``404``, a new one gets a link (shown on the overview), and no request ever sees a
mix of two plans. A folder without a complete plan answers ``503``.

The HTTP layer (`_Handler`, stdlib `http.server`) only maps requests to `_Site` answers.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

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
    "Links",
    "RunningServer",
    "ServeError",
    "build_links",
    "format_links",
    "load_tokens",
    "serve",
    "serve_forever",
    "start_server",
]

_TOKEN_BYTES = 32
# what `secrets.token_urlsafe(32)` gives: 43 characters of the URL-safe base64 alphabet
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43,}")
#: pending connections the listening socket holds (the stdlib's default of 5 makes the kernel
#: drop connection attempts of a busy morning, which clients retry only after 1 s, 3 s, ...)
REQUEST_QUEUE_SIZE = 128


class ServeError(ConfigError):
    """The server cannot start: the message names the problem and the fix (exit code 2)."""

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    "": "text/plain; charset=utf-8",
}


def _csp() -> str:
    tile_hosts = " ".join(
        sorted({"https://" + t.url.split("/")[2].replace("{s}", "*") for t in maps.TILES.values()})
    )
    tile_hosts = tile_hosts.replace("https://webrd0*.is.autonavi.com", "https://*.is.autonavi.com")
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: {tile_hosts}; connect-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": _csp(),
}


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


def _add_tokens(tokens: dict, collector_ids) -> bool:
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
        collector_ids = list(_manifest_or_error(plan_dir)["pages"])
    # under the folder's lock: a plan written into the folder meanwhile keeps what is saved
    with atomic.folder_lock(plan_dir):
        tokens = _read_tokens(path)
        if _add_tokens(tokens, collector_ids):
            _save_tokens(path, tokens)
    return tokens


def _manifest_or_error(plan_dir: Path) -> dict:
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
    manifest = _manifest_or_error(plan_dir)
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
    overview_token: str | None
    links: Links


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


class _Site:
    """What a request gets: resolves tokens against the current manifest, reads checked pages.

    Kept apart from the HTTP layer (a later web framework calls the same methods).
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
    def folder(self) -> Iterator[_Folder | None]:
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

    def view(self, folder: _Folder) -> _View | None:
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
            overview = None
            if manifest.get("overview"):
                overview = t["overview"]
                routes[overview] = manifest["overview"]
            self._view = _View(manifest, routes, overview, _links(manifest, t, self.base_url))
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
    def page_for(view: _View, token: str) -> str | None:
        for known, page in view.routes.items():
            if secrets.compare_digest(known.encode(), token.encode()):
                return page
        return None

    def page(self, token: str) -> tuple[int, bytes]:
        """``(status, body)`` of the page behind `token`: 200, 404 or 503 (no complete plan)."""
        for _ in range(2):  # the folder may be swapped between reading the manifest and the page
            with self.folder() as folder:
                view = self.view(folder) if folder is not None else None
                if folder is None or view is None:
                    return 503, b""
                page = self.page_for(view, token)
                if page is None:
                    return 404, b""
                try:
                    body = folder.read(page)
                except (_Gone, OSError):
                    continue
                digest = view.manifest["files"].get(page)
                if digest is None or hashlib.sha256(body).hexdigest() != digest or not body:
                    continue
                if token == view.overview_token:
                    body = _with_links(body.decode("utf-8"), view.links).encode("utf-8")
                return 200, body
        return 503, b""

    def valid_token(self, token: str) -> bool:
        with self.folder() as folder:
            view = self.view(folder) if folder is not None else None
        return view is not None and self.page_for(view, token) is not None


class _Handler(BaseHTTPRequestHandler):
    server_version = "collector-routes"
    sys_version = ""
    timeout = 30  # seconds a slow client may hold a connection
    site: _Site  # set on the subclass made per server

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # the stdlib's error page names the server and echoes the request: send nothing instead
        self.close_connection = True
        self._send(code, b"", "text/plain; charset=utf-8", cache="no-store")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        # never log request paths: they carry the tokens
        logger.debug("%s %s", self.address_string(), args[1] if len(args) > 1 else "")

    def _accepts_gzip(self) -> bool:
        accept = self.headers.get("Accept-Encoding", "")
        return any(part.split(";")[0].strip() == "gzip" for part in accept.split(","))

    def _send(self, status: int, body: bytes, content_type: str, *, cache: str,
              extra: Mapping[str, str] | None = None) -> None:
        compress = len(body) > 1024 and content_type.startswith("text/") and self._accepts_gzip()
        if compress:  # weak networks: text shrinks to about a quarter
            body = gzip.compress(body, compresslevel=6, mtime=0)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Vary", "Accept-Encoding")
        if compress:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Cache-Control", cache)
        for key, value in {**_SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_found(self) -> None:
        self._send(404, b"", "text/plain; charset=utf-8", cache="no-store")

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib name
        self.do_GET()

    def _refuse(self) -> None:
        self._not_found()

    # every other method: the same empty 404 as an unknown path
    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        try:
            self._get()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _get(self) -> None:
        raw = urlsplit(self.path).path
        parts = [unquote(p) for p in raw.split("/")[1:]]
        if parts and parts[-1] == "":
            parts = parts[:-1]
        if not parts or any(p in ("", ".", "..") for p in parts):
            return self._not_found()
        # shared assets: /assets/<file>
        if parts[0] == maps.ASSETS_DIRNAME:
            return self._asset("/".join(parts))
        if len(parts) == 1:
            return self._page(parts[0])
        if parts[1] == maps.ASSETS_DIRNAME and self.site.valid_token(parts[0]):
            return self._asset("/".join(parts[1:]))
        return self._not_found()

    def _asset(self, rel: str) -> None:
        data = self.site.assets.get(rel)
        if data is None or rel.endswith("LICENSE"):
            return self._not_found()
        ext = os.path.splitext(rel)[1]
        self._send(
            200, data, _CONTENT_TYPES.get(ext, _CONTENT_TYPES[""]), cache="public, max-age=3600"
        )

    def _page(self, token: str) -> None:
        status, body = self.site.page(token)
        if status == 200:
            self._send(200, body, "text/html; charset=utf-8", cache="no-store")
        elif status == 503:  # no complete plan in the folder right now
            self._send(503, b"", "text/plain; charset=utf-8", cache="no-store",
                       extra={"Retry-After": "5"})
        else:
            self._not_found()


def _with_links(text: str, links: Links) -> str:
    begin = text.find(maps.LINKS_BEGIN)
    end = text.find(maps.LINKS_END, begin + 1)
    if begin < 0 or end < 0:
        return text
    section = maps.collector_links_html(links.collectors, qr=True)
    return text[:begin] + section + text[end + len(maps.LINKS_END) :]


def _public_host(host: str) -> str:
    """An address phones can use when the server listens on every interface."""
    if host in ("0.0.0.0", "", "::"):
        # the machine's own addresses as its name resolves (no traffic is sent); pass
        # `public_url` when phones reach the server another way
        try:
            infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        except OSError:
            infos = []
        for info in infos:
            addr = str(info[4][0])  # AF_INET: (address, port)
            if not addr.startswith("127."):
                return addr
        logger.warning("no network address found for the links; pass public_url")
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


@dataclass
class RunningServer:
    """A server running in a background thread (see `start_server`)."""

    server: ThreadingHTTPServer
    thread: threading.Thread
    base_url: str
    links: Links

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    request_queue_size = REQUEST_QUEUE_SIZE
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def _bind(host: str, port: int, handler) -> ThreadingHTTPServer:
    """Listen on `host`:`port`; `ServeError` saying what to do when that is not possible."""
    cls = _Server6 if ":" in host else _Server
    try:
        return cls((host, port), handler)
    except socket.gaierror:
        raise ServeError(f"--host {host!r} is not an address or a name this machine can "
                         "resolve; fix: give 127.0.0.1 (this machine), 0.0.0.0 (every network) "
                         "or one of its addresses") from None
    except OverflowError:
        raise ServeError(f"--port {port} is not a port; fix: give 0-65535") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is already in use (another server, or "
                             "another `collector-routes serve`); fix: give another --port, or "
                             "stop the other server") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise ServeError(f"--host {host} is not an address of this machine; fix: give "
                             "127.0.0.1, 0.0.0.0 or one of its addresses") from None
        if exc.errno == errno.EACCES:
            raise ServeError(f"port {port} needs administrator rights; fix: give a port "
                             "above 1023, e.g. --port 8000") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; fix: give "
                         "another --host or --port") from None


def _make_server(
    plan_dir: str | Path,
    *,
    host: str,
    port: int,
    token_file: str | Path | None,
    public_url: str | None,
) -> tuple[ThreadingHTTPServer, str, Links]:
    plan_dir = Path(plan_dir)
    manifest = _manifest_or_error(plan_dir)
    if not manifest.get("overview") and not manifest["pages"]:
        raise ServeError(f"{plan_dir}: the plan has no pages (written with --no-maps); fix: run "
                         f"`collector-routes plan --out {plan_dir}` without --no-maps")
    # the tokens first: a damaged links.json is reported before a port is taken
    load_tokens(plan_dir, token_file=token_file, collector_ids=list(manifest["pages"]))
    handler: type[_Handler] = type("Handler", (_Handler,), {})
    httpd = _bind(host, port, handler)
    try:
        bound_port = httpd.server_address[1]
        base_url = (public_url or f"http://{_public_host(host)}:{bound_port}").rstrip("/")
        handler.site = _Site(plan_dir, token_file=Path(token_file) if token_file else None,
                             base_url=base_url)
        with handler.site.folder() as folder:
            view = handler.site.view(folder) if folder is not None else None
        if view is None:
            raise ServeError(f"{plan_dir}: the plan changed while the server started; fix: "
                             "start it again")
    except BaseException:
        httpd.server_close()
        raise
    return httpd, base_url, view.links


def start_server(
    plan_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token_file: str | Path | None = None,
    public_url: str | None = None,
) -> RunningServer:
    """Start serving `plan_dir` in a background thread; ``port=0`` picks a free port.

    Returns
    -------
    RunningServer
        With ``port``, ``base_url``, ``links`` and ``close()`` (also a context manager).
    """
    httpd, base_url, links = _make_server(
        plan_dir, host=host, port=port, token_file=token_file, public_url=public_url
    )
    thread = threading.Thread(
        target=httpd.serve_forever, name="collector-routes-serve", daemon=True
    )
    thread.start()
    return RunningServer(server=httpd, thread=thread, base_url=base_url, links=links)


def serve(
    plan_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token_file: str | Path | None = None,
    public_url: str | None = None,
    on_ready: Callable[[Links], None] | None = None,
) -> None:
    """Serve `plan_dir` until interrupted (Ctrl-C raises `KeyboardInterrupt` after closing).

    Parameters
    ----------
    plan_dir : str or Path
        A plan output directory (``index.html``, ``<collector_id>.html``).
    host, port : str, int
        Address to listen on; ``0.0.0.0`` for phones on the same network.
    token_file : str or Path, optional
        Where link tokens are kept; default ``plan_dir/links.json``.
    public_url : str, optional
        Base URL printed in links and QR codes when the server is reached through another address
        (a proxy, a port forward); default ``http://<host>:<port>``.
    on_ready : callable, optional
        Called with the `Links` once the server listens (the CLI prints them with `format_links`).
    """
    httpd, base_url, links = _make_server(
        plan_dir, host=host, port=port, token_file=token_file, public_url=public_url
    )
    logger.info("serving %s at %s", plan_dir, base_url)
    if on_ready is not None:
        on_ready(links)
    try:
        httpd.serve_forever()  # until Ctrl-C: the KeyboardInterrupt goes on to the caller
    finally:
        httpd.server_close()


def serve_forever(
    plan_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    token_file: str | Path | None = None,
    public_url: str | None = None,
    out: TextIO | None = None,
) -> None:
    """The CLI's entry point: write the links to `out` (default stdout), serve until Ctrl-C."""
    stream = out if out is not None else sys.stdout

    def announce(links: Links) -> None:
        stream.write("Serving; open these links (Ctrl-C stops):\n" + format_links(links) + "\n")
        stream.flush()

    serve(
        plan_dir,
        host=host,
        port=port,
        token_file=token_file,
        public_url=public_url,
        on_ready=announce,
    )
