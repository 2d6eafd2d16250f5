"""Serve a plan's pages over HTTP, each behind its own unguessable link.

``serve(plan_dir)`` serves the pages written by `optimizer.maps` in a plan output directory:

- each collector page at ``/<token>/`` (the page's collector is read from its
  ``collector-routes:collector-id`` meta tag, so file names do not matter);
- the dispatcher overview at ``/<overview token>/``, with its collector-links section replaced at
  request time by the served links and a QR code per collector link (so the QR codes always carry
  the address the server really listens on);
- the bundled map assets (Leaflet, our helper script and stylesheet; no case data) at
  ``/<any valid token>/assets/...`` and ``/assets/...``.

Everything else answers ``404`` with an empty body: no directory listing, no file names, no hint
whether a token exists. Tokens come from `secrets.token_urlsafe` (256 bits) and are kept in
``plan_dir/links.json`` (mode 0600) so links survive restarts; a collector without a token gets one.

The server only reads the plan directory. Pages are read from disk on every request, so a plan
written again into the same directory is served without a restart (new collectors need one).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import secrets
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

from optimizer import maps

logger = logging.getLogger(__name__)

__all__ = [
    "Links",
    "RunningServer",
    "build_links",
    "format_links",
    "load_tokens",
    "serve",
    "serve_forever",
    "start_server",
]

LINKS_FILE = "links.json"
_TOKEN_BYTES = 32

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


@dataclass(frozen=True)
class _Pages:
    overview: Path | None
    collectors: dict[str, Path]  # collector_id -> page file


def _members(meta: Mapping[str, str]) -> list[str]:
    try:
        members = json.loads(meta.get("members") or "[]")
    except json.JSONDecodeError:
        return []
    return [m for m in members if isinstance(m, str)]


def _discover(plan_dir: Path) -> _Pages:
    overview = None
    collectors: dict[str, Path] = {}
    for path in sorted(plan_dir.glob("*.html")):
        try:
            with path.open(encoding="utf-8") as fh:
                meta = maps.page_meta(fh.read(8000))
        except (OSError, UnicodeDecodeError):
            continue
        if meta.get("page") == "overview":
            if overview is None or path.name == "index.html":
                overview = path
        elif meta.get("page") == "collector" and meta.get("collector-id"):
            cid = meta["collector-id"]
            # a team member's copy of the route's page, named after the member
            if path.name != maps.collector_page_filename(cid):
                cid = next(
                    (m for m in _members(meta) if path.name == maps.collector_page_filename(m)),
                    cid,
                )
            # two pages for one collector: keep the one with the canonical file name
            if cid not in collectors or path.name == maps.collector_page_filename(cid):
                collectors[cid] = path
    return _Pages(overview=overview, collectors=collectors)


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
        Collectors that need a token; default: those whose pages are in `plan_dir`.

    Returns
    -------
    dict
        ``{"overview": token, "collectors": {collector_id: token}}``.
    """
    plan_dir = Path(plan_dir)
    path = Path(token_file) if token_file else plan_dir / LINKS_FILE
    if collector_ids is None:
        collector_ids = list(_discover(plan_dir).collectors)
    tokens: dict = {"overview": None, "collectors": {}}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{path}: not valid JSON ({exc}); delete the file to issue new links"
            ) from exc
        if isinstance(loaded, dict):
            tokens["overview"] = loaded.get("overview")
            tokens["collectors"] = dict(loaded.get("collectors") or {})
    changed = False
    if not tokens["overview"]:
        tokens["overview"] = secrets.token_urlsafe(_TOKEN_BYTES)
        changed = True
    for cid in collector_ids:
        if not tokens["collectors"].get(cid):
            tokens["collectors"][cid] = secrets.token_urlsafe(_TOKEN_BYTES)
            changed = True
    if changed:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(tokens, fh, ensure_ascii=False, indent=2)
        os.replace(tmp, path)
        logger.info("saved link tokens to %s", path)
    return tokens


def build_links(
    plan_dir: str | Path, base_url: str, *, token_file: str | Path | None = None
) -> Links:
    """The URLs under `base_url` (e.g. ``http://192.168.1.5:8000``) of a plan directory's pages."""
    plan_dir = Path(plan_dir)
    pages = _discover(plan_dir)
    tokens = load_tokens(plan_dir, token_file=token_file, collector_ids=list(pages.collectors))
    base = base_url.rstrip("/")
    return Links(
        overview=f"{base}/{tokens['overview']}/" if pages.overview else None,
        collectors={cid: f"{base}/{tokens['collectors'][cid]}/" for cid in pages.collectors},
    )


def format_links(links: Links) -> str:
    """The links as lines of text for the CLI to print."""
    lines = [f"overview  {links.overview or '(no index.html in the plan directory)'}"]
    width = max((len(c) for c in links.collectors), default=0)
    lines += [f"{cid:<{width}}  {url}" for cid, url in links.collectors.items()]
    return "\n".join(lines)


class _Site:
    """What the handler serves: token -> page, assets; resolved once at start."""

    def __init__(self, plan_dir: Path, links: Links, tokens: dict) -> None:
        pages = _discover(plan_dir)
        self.routes: dict[str, Path] = {}
        self.overview_token: str | None = None
        if pages.overview is not None:
            self.overview_token = tokens["overview"]
            self.routes[tokens["overview"]] = pages.overview
        for cid, path in pages.collectors.items():
            self.routes[tokens["collectors"][cid]] = path
        self.links = links
        self.assets = {
            f"{maps.ASSETS_DIRNAME}/{rel}": data for rel, data in maps.asset_files().items()
        }

    def page_for(self, token: str) -> Path | None:
        for known, path in self.routes.items():
            if secrets.compare_digest(known.encode(), token.encode()):
                return path
        return None


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

    def _send(self, status: int, body: bytes, content_type: str, *, cache: str) -> None:
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
        for key, value in _SECURITY_HEADERS.items():
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
        page = self.site.page_for(parts[0])
        if page is None:
            return self._not_found()
        if len(parts) == 1:
            return self._page(parts[0], page)
        if parts[1] == maps.ASSETS_DIRNAME:
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

    def _page(self, token: str, page: Path) -> None:
        try:
            text = page.read_text(encoding="utf-8")
        except OSError:
            return self._not_found()
        if token == self.site.overview_token:
            text = _with_links(text, self.site.links)
        self._send(200, text.encode("utf-8"), "text/html; charset=utf-8", cache="no-store")


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
            addr = info[4][0]
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


def _make_server(
    plan_dir: str | Path,
    *,
    host: str,
    port: int,
    token_file: str | Path | None,
    public_url: str | None,
) -> tuple[ThreadingHTTPServer, str, Links]:
    plan_dir = Path(plan_dir)
    if not plan_dir.is_dir():
        raise FileNotFoundError(
            f"{plan_dir}: no such plan directory; "
            f"run `collector-routes plan --out {plan_dir}` first"
        )
    pages = _discover(plan_dir)
    if pages.overview is None and not pages.collectors:
        raise FileNotFoundError(
            f"{plan_dir}: no plan pages (index.html, <collector_id>.html) found; "
            f"run `collector-routes plan --out {plan_dir}` first"
        )
    handler = type("Handler", (_Handler,), {})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    bound_port = httpd.server_address[1]
    base_url = (public_url or f"http://{_public_host(host)}:{bound_port}").rstrip("/")
    links = build_links(plan_dir, base_url, token_file=token_file)
    tokens = load_tokens(plan_dir, token_file=token_file, collector_ids=list(pages.collectors))
    handler.site = _Site(plan_dir, links, tokens)
    return httpd, base_url, links


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
    """Serve `plan_dir` until interrupted (Ctrl-C); for ``collector-routes serve DIR``.

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
        httpd.serve_forever()
    except KeyboardInterrupt:
        logger.info("stopped")
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


def links_by_collector(links: Links) -> Mapping[str, str]:
    """``collector_id -> URL`` (what `optimizer.maps.write_overview` takes as ``links``)."""
    return dict(links.collectors)
