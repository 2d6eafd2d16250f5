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

Tokens, links and what a token opens are `optimizer.web.site`'s, shared with the web
application (`optimizer.web.run`, ``serve --store``). The HTTP layer here (`_Handler`, stdlib
`http.server`) only maps requests to `Site` answers.
"""

from __future__ import annotations

import errno
import gzip
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

from optimizer.outputs import maps
from optimizer.web.security import tile_hosts
from optimizer.web.site import (
    Links,
    ServeError,
    Site,
    build_links,
    format_links,
    load_tokens,
    manifest_or_error,
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

#: pending connections the listening socket holds (the stdlib's default of 5 makes the kernel
#: drop connection attempts of a busy morning, which clients retry only after 1 s, 3 s, ...)
REQUEST_QUEUE_SIZE = 128


_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    "": "text/plain; charset=utf-8",
}


def _csp() -> str:
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: {' '.join(tile_hosts())}; connect-src 'none'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": _csp(),
}


class _Handler(BaseHTTPRequestHandler):
    server_version = "collector-routes"
    sys_version = ""
    timeout = 30  # seconds a slow client may hold a connection
    site: Site  # set on the subclass made per server

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
        if parts[1] == maps.ASSETS_DIRNAME and self.site.access(parts[0]) is not None:
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
        found = self.site.page(token)
        if found.status == 200:
            self._send(200, found.body, "text/html; charset=utf-8", cache="no-store")
        elif found.status == 503:  # no complete plan in the folder right now
            self._send(503, b"", "text/plain; charset=utf-8", cache="no-store",
                       extra={"Retry-After": "5"})
        else:
            self._not_found()


def public_host(host: str) -> str:
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


def bind_problem(host: str, port: int, exc: BaseException) -> ServeError:
    """What to do when listening on `host`:`port` failed with `exc` (also `optimizer.web.run`)."""
    if isinstance(exc, socket.gaierror):
        return ServeError(f"--host {host!r} is not an address or a name this machine can "
                          "resolve; fix: give 127.0.0.1 (this machine), 0.0.0.0 (every network) "
                          "or one of its addresses")
    if isinstance(exc, OverflowError):
        return ServeError(f"--port {port} is not a port; fix: give 0-65535")
    err = getattr(exc, "errno", None)
    if err == errno.EADDRINUSE:
        return ServeError(f"port {port} on {host} is already in use (another server, or "
                          "another `collector-routes serve`); fix: give another --port, or "
                          "stop the other server")
    if err == errno.EADDRNOTAVAIL:
        return ServeError(f"--host {host} is not an address of this machine; fix: give "
                          "127.0.0.1, 0.0.0.0 or one of its addresses")
    if err == errno.EACCES:
        return ServeError(f"port {port} needs administrator rights; fix: give a port "
                          "above 1023, e.g. --port 8000")
    why = getattr(exc, "strerror", None) or exc
    return ServeError(f"cannot listen on {host}:{port}: {why}; fix: give another --host or "
                      "--port")


def _bind(host: str, port: int, handler) -> ThreadingHTTPServer:
    """Listen on `host`:`port`; `ServeError` saying what to do when that is not possible."""
    cls = _Server6 if ":" in host else _Server
    try:
        return cls((host, port), handler)
    except (OSError, OverflowError) as exc:  # socket.gaierror is an OSError
        raise bind_problem(host, port, exc) from None


def _make_server(
    plan_dir: str | Path,
    *,
    host: str,
    port: int,
    token_file: str | Path | None,
    public_url: str | None,
) -> tuple[ThreadingHTTPServer, str, Links]:
    plan_dir = Path(plan_dir)
    manifest = manifest_or_error(plan_dir)
    if not manifest.get("overview") and not manifest["pages"]:
        raise ServeError(f"{plan_dir}: the plan has no pages (written with --no-maps); fix: run "
                         f"`collector-routes plan --out {plan_dir}` without --no-maps")
    # the tokens first: a damaged links.json is reported before a port is taken
    load_tokens(plan_dir, token_file=token_file, collector_ids=list(manifest["pages"]))
    handler: type[_Handler] = type("Handler", (_Handler,), {})
    httpd = _bind(host, port, handler)
    try:
        bound_port = httpd.server_address[1]
        base_url = (public_url or f"http://{public_host(host)}:{bound_port}").rstrip("/")
        handler.site = Site(plan_dir, token_file=Path(token_file) if token_file else None,
                            base_url=base_url)
        links = handler.site.links()
        if links is None:
            raise ServeError(f"{plan_dir}: the plan changed while the server started; fix: "
                             "start it again")
    except BaseException:
        httpd.server_close()
        raise
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
