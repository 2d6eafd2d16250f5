"""``collector-routes console``: the console and the collectors' pages in one application.

`build_app` makes the web application (`optimizer.web.app.create_app`) over the console's
served folder (``work_dir/served``, where publishing writes the plan the token links open)
with the console's routes matched first; `prepare` opens the store and binds the socket
(`optimizer.web.run.listen`), `serve_forever` is the command's entry point.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import uvicorn
from fastapi import FastAPI, Request, Response

from optimizer.console import routes
from optimizer.console.auth import LoginLimiter, Refused
from optimizer.console.desk import Desk
from optimizer.console.settings import ConsoleSettings
from optimizer.store.db import Store
from optimizer.web.app import create_app
from optimizer.web.run import AppServer, listen, public_host
from optimizer.web.settings import WebSettings
from optimizer.web.site import Links


def build_app(store: Store, console: ConsoleSettings, *, base_url: str) -> FastAPI:
    """The one application: console routes, collector token pages, the lender's API."""
    console.served_dir.parent.mkdir(parents=True, exist_ok=True)
    web = WebSettings(plan_dir=console.served_dir, base_url=base_url, store_url=store.url)
    app = create_app(web, store=store, routers=(routes.router,),
                     limits={"/console/": console.max_upload_bytes})
    app.state.desk = Desk(store, console)
    app.state.login_limiter = LoginLimiter(console.login_attempts, console.login_window_s)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return routes.refused(request, exc)

    return app


def prepare(*, store_url: str | None, console: ConsoleSettings, host: str = "127.0.0.1",
            port: int = 8000, public_url: str | None = None) -> AppServer:
    """Open (and migrate) the store, bind the socket, build the application."""
    store = Store.open(store_url)
    try:
        sock = listen(host, port)
    except BaseException:
        store.close()
        raise
    bound = int(sock.getsockname()[1])
    base_url = (public_url or f"http://{public_host(host)}:{bound}").rstrip("/")
    app = build_app(store, console, base_url=base_url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, timeout_keep_alive=30,
                            timeout_graceful_shutdown=10)
    return AppServer(uvicorn.Server(config), sock, store, base_url, Links(None), app)


def store_url_of(server: AppServer) -> str:
    """The console's store as it was opened (the console always has one)."""
    assert server.store is not None  # `prepare` opens it
    return server.store.url


def serve_forever(*, store_url: str | None, console: ConsoleSettings, host: str = "127.0.0.1",
                  port: int = 8000, public_url: str | None = None,
                  out: TextIO | None = None) -> None:
    server = prepare(store_url=store_url, console=console, host=host, port=port,
                     public_url=public_url)
    stream = out if out is not None else sys.stdout
    stream.write(f"Console at {server.base_url}/ (store {store_url_of(server)}, files in "
                 f"{Path(console.work_dir)}); Ctrl-C stops.\n")
    stream.flush()
    server.run()
