"""Serve the web application (`optimizer.web.app`) on uvicorn, over a plan folder and a store.

``collector-routes serve DIR --store URL`` comes here (without a store, `optimizer.web.serve`
serves the pages alone). The socket is bound before uvicorn starts, so a port in use or an
unknown host is a one-line `ServeError` (the same messages as ``serve``), and ``--port 0``
knows its port before the links are printed. One process; the routes run in uvicorn's thread
pool, each outcome in its own store transaction, committed before the answer is sent.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import uvicorn

from optimizer.store.db import Store
from optimizer.web.app import create_app
from optimizer.web.serve import REQUEST_QUEUE_SIZE, ServeError, bind_problem, public_host
from optimizer.web.settings import WebSettings
from optimizer.web.site import Links, format_links, load_tokens, manifest_or_error

logger = logging.getLogger(__name__)


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
    """A prepared server: `run` it here, or `start` it in a thread (tests)."""

    server: uvicorn.Server
    sock: socket.socket
    store: Store
    base_url: str
    links: Links
    thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

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
        self.store.close()

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare(plan_dir: str | Path, *, store_url: str | None, host: str = "127.0.0.1",
            port: int = 8000, token_file: str | Path | None = None,
            public_url: str | None = None, settings: WebSettings | None = None) -> AppServer:
    """Check the plan folder, open (and migrate) the store, bind the socket.

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
    store = Store.open(store_url)
    try:
        sock = listen(host, port)
    except BaseException:
        store.close()
        raise
    bound = int(sock.getsockname()[1])
    base_url = (public_url or f"http://{public_host(host)}:{bound}").rstrip("/")
    base = settings or WebSettings(plan_dir=plan_dir)
    settings = WebSettings(plan_dir=plan_dir, base_url=base_url, token_file=tokens,
                           store_url=store.url, max_body_bytes=base.max_body_bytes,
                           max_import_bytes=base.max_import_bytes,
                           export_page=base.export_page,
                           collectors_file=base.collectors_file, cache_dir=base.cache_dir)
    app = create_app(settings, store=store)
    links = app.state.site.links()
    if links is None:
        sock.close()
        store.close()
        raise ServeError(f"{plan_dir}: the plan changed while the server started; fix: start "
                         "it again")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, timeout_keep_alive=30,
                            timeout_graceful_shutdown=10)
    return AppServer(uvicorn.Server(config), sock, store, base_url, links)


def serve_forever(plan_dir: str | Path, *, store_url: str | None, host: str = "127.0.0.1",
                  port: int = 8000, public_url: str | None = None, out: TextIO | None = None,
                  on_ready: Callable[[AppServer], None] | None = None,
                  settings: WebSettings | None = None) -> None:
    """The CLI's entry point: print the links to `out` (default stdout), serve until Ctrl-C."""
    server = prepare(plan_dir, store_url=store_url, host=host, port=port,
                     public_url=public_url, settings=settings)
    stream = out if out is not None else sys.stdout
    stream.write(f"Serving with the store {server.store.url}; open these links (Ctrl-C "
                 "stops):\n" + format_links(server.links) + "\n")
    stream.flush()
    if on_ready is not None:
        on_ready(server)
    server.run()
