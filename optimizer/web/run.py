"""Serve the web application (`optimizer.web.app`) on uvicorn, over a plan folder and a store.

``collector-routes serve DIR [--store URL]`` comes here. Without a store the application
serves the pages alone: each collector's page behind its own token, the overview with its QR
codes, the bundled assets, no outcome form; a collector's outcome endpoint answers 403
``recording_disabled`` and the lender API does not exist (empty 404). With a store the pages
carry the outcome form and the lender API is there (docs/api.md). The socket is bound before
uvicorn starts, so a port in use or an unknown host is a one-line `ServeError`, and
``--port 0`` knows its port before the links are printed. One process; the routes run in
uvicorn's thread pool, each outcome in its own store transaction, committed before the answer
is sent.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import uvicorn
from fastapi import FastAPI

from optimizer.store.db import Store
from optimizer.web.app import create_app
from optimizer.web.settings import WebSettings
from optimizer.web.site import (
    Links,
    ServeError,
    Site,
    format_links,
    load_tokens,
    manifest_or_error,
)

logger = logging.getLogger(__name__)

#: pending connections the listening socket holds (a small backlog makes the kernel drop
#: connection attempts of a busy morning, which clients retry only after 1 s, 3 s, ...)
REQUEST_QUEUE_SIZE = 128


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


def bind_problem(host: str, port: int, exc: BaseException) -> ServeError:
    """What to do when listening on `host`:`port` failed with `exc`."""
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


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (``ServeError`` naming the fix otherwise)."""
    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, OverflowError) as exc:
        raise bind_problem(host, port, exc) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(REQUEST_QUEUE_SIZE)
    except (OSError, OverflowError) as exc:
        sock.close()
        raise bind_problem(host, port, exc) from None
    sock.set_inheritable(True)
    return sock


@dataclass
class AppServer:
    """A prepared server: `run` it here, or `start` it in a thread (tests).

    ``store`` is None for the pages alone (``serve DIR`` without ``--store``).
    """

    server: uvicorn.Server
    sock: socket.socket
    store: Store | None
    base_url: str
    links: Links
    app: FastAPI
    thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def site(self) -> Site:
        """The plan folder served (`optimizer.web.site.Site`)."""
        site: Site = self.app.state.site
        return site

    def run(self) -> None:
        """Serve until Ctrl-C (uvicorn closes gracefully, then `KeyboardInterrupt` goes on)."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self._release()

    def start(self) -> AppServer:
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="collector-routes-app", daemon=True)
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            self.thread.join(0.02)
        if not self.server.started:
            self._release()
            raise ServeError("the web application did not start; see the log above")
        return self

    def close(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self._release()

    def _release(self) -> None:
        self.sock.close()
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare(plan_dir: str | Path, *, store_url: str | None = None, host: str = "127.0.0.1",
            port: int = 8000, token_file: str | Path | None = None,
            public_url: str | None = None, settings: WebSettings | None = None) -> AppServer:
    """Check the plan folder, open (and migrate) the store if `store_url` is given, bind the
    socket.

    Parameters
    ----------
    plan_dir
        A plan output folder with pages (``plan`` without ``--no-maps``).
    store_url
        The case store (a SQLAlchemy URL); None: the pages alone, no outcomes recorded.
    host, port
        Where to listen; ``0.0.0.0`` for phones on the network, port 0 = any free port.
    token_file
        Where the link tokens are kept (default ``plan_dir/links.json``).
    public_url
        The address phones use, in links and QR codes (default ``http://HOST:PORT``).
    settings
        Body limits and the export page size (`WebSettings`; its other fields are set here).

    Raises
    ------
    ServeError
        No complete plan in the folder, a damaged ``links.json``, the address cannot be used.
    StoreConfigError, StoreUnavailable
        The store cannot be opened.
    """
    plan_dir = Path(plan_dir)
    manifest = manifest_or_error(plan_dir)
    if not manifest.get("overview") and not manifest["pages"]:
        raise ServeError(f"{plan_dir}: the plan has no pages (written with --no-maps); fix: run "
                         f"`collector-routes plan --out {plan_dir}` without --no-maps")
    tokens = Path(token_file) if token_file else None
    load_tokens(plan_dir, token_file=tokens, collector_ids=list(manifest["pages"]))
    store = Store.open(store_url) if store_url is not None else None
    try:
        sock = listen(host, port)
    except BaseException:
        if store is not None:
            store.close()
        raise
    bound = int(sock.getsockname()[1])
    base_url = (public_url or f"http://{public_host(host)}:{bound}").rstrip("/")
    base = settings or WebSettings(plan_dir=plan_dir)
    settings = WebSettings(plan_dir=plan_dir, base_url=base_url, token_file=tokens,
                           store_url=store.url if store is not None else None,
                           max_body_bytes=base.max_body_bytes,
                           max_import_bytes=base.max_import_bytes,
                           export_page=base.export_page,
                           collectors_file=base.collectors_file, cache_dir=base.cache_dir)
    app = create_app(settings, store=store)
    links = app.state.site.links()
    if links is None:
        sock.close()
        if store is not None:
            store.close()
        raise ServeError(f"{plan_dir}: the plan changed while the server started; fix: start "
                         "it again")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, timeout_keep_alive=30,
                            timeout_graceful_shutdown=10)
    return AppServer(uvicorn.Server(config), sock, store, base_url, links, app)


def start_server(plan_dir: str | Path, *, store_url: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, token_file: str | Path | None = None,
                 public_url: str | None = None) -> AppServer:
    """`prepare` and start in a background thread (``port=0``: any free port); close it with
    ``close()`` or use it as a context manager."""
    return prepare(plan_dir, store_url=store_url, host=host, port=port, token_file=token_file,
                   public_url=public_url).start()


def serve_forever(plan_dir: str | Path, *, store_url: str | None = None,
                  host: str = "127.0.0.1",
                  port: int = 8000, public_url: str | None = None, out: TextIO | None = None,
                  on_ready: Callable[[AppServer], None] | None = None,
                  settings: WebSettings | None = None) -> None:
    """The CLI's entry point: print the links to `out` (default stdout), serve until Ctrl-C."""
    server = prepare(plan_dir, store_url=store_url, host=host, port=port,
                     public_url=public_url, settings=settings)
    stream = out if out is not None else sys.stdout
    what = (f"with the store {server.store.url}" if server.store is not None
            else "the pages alone (no case store: outcomes are not recorded)")
    stream.write(f"Serving {what}; open these links (Ctrl-C stops):\n"
                 + format_links(server.links) + "\n")
    stream.flush()
    if on_ready is not None:
        on_ready(server)
    server.run()
