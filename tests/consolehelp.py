"""The dispatcher console started for tests: a real uvicorn server on 127.0.0.1 (port 0) in a
thread, over a fresh SQLite store with one account per role, and an HTTP client that signs in
the way a browser does (the sign-in page's CSRF token and cookie)."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from optimizer.console.run import prepare
from optimizer.console.settings import ConsoleSettings
from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS
from optimizer.store.db import Store
from optimizer.store.users import add_user
from optimizer.web.run import AppServer

PASSWORDS = {"disp": "dispatcher pass 1", "plan": "planner pass 1", "boss": "admin pass 1"}
ROLES = {"disp": "dispatcher", "plan": "planner", "boss": "admin"}
#: the budget of the tests' plans: a few solutions (the time limit only caps a loaded machine)
MAX_SOLUTIONS = 5


@dataclass
class Console:
    server: AppServer
    work_dir: Path
    store_url: str

    @property
    def base(self) -> str:
        return self.server.base_url

    @property
    def desk(self):
        return self.server.server.config.app.state.desk


def start(tmp: Path, cache_dir: Path, **settings) -> AppServer:
    store_url = f"sqlite:///{tmp}/store.db"
    with Store.open(store_url) as store, store.session() as s:
        for name, role in ROLES.items():
            add_user(s, name, PASSWORDS[name], role=role, actor="test")
    console = ConsoleSettings(work_dir=tmp / "work", time_limit_s=600,
                              max_solutions=MAX_SOLUTIONS, cache_dir=cache_dir, **settings)
    return prepare(store_url=store_url, console=console, port=0).start()


@contextmanager
def running(tmp: Path, cache_dir: Path, **settings):
    with start(tmp, cache_dir, **settings) as server:
        yield Console(server, tmp / "work", f"sqlite:///{tmp}/store.db")


def csrf(text: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', text)
    assert m, "no CSRF token in the page"
    return m.group(1)


def signed_in(base: str, name: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=600)
    page = http.get("/")
    r = http.post("/console/login", data={"csrf": csrf(page.text), "username": name,
                                          "password": PASSWORDS[name]})
    assert r.status_code == 303, r.text
    return http


def upload(http: httpx.Client, cases: Path = DEMO_CASES, collectors: Path = DEMO_COLLECTORS,
           **fields: str) -> httpx.Response:
    token = csrf(http.get("/console/day").text)
    with cases.open("rb") as c, collectors.open("rb") as k:
        return http.post("/console/day/upload", data={"csrf": token, **fields},
                         files={"cases": (cases.name, c), "collectors": (collectors.name, k)})
