"""The web application over real HTTP: uvicorn on 127.0.0.1 (port 0) in a thread, the hand-built
test plan served from a folder and recorded in a store, on SQLite and on PostgreSQL (the
store tests' fixtures: tests/store/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from maps_plan import make_plan
from store.conftest import pg_database, store_url  # noqa: F401  (fixtures)
from webhelp import record_site, write_site

from optimizer.model import Plan
from optimizer.store import apikeys
from optimizer.store.db import Store
from optimizer.web.run import AppServer, prepare


@dataclass(frozen=True)
class Web:
    server: AppServer
    plan: Plan
    plan_dir: Path
    store_url: str
    api_key: str

    @property
    def base(self) -> str:
        return self.server.base_url

    def link(self, collector_id: str) -> str:
        return self.server.links.collectors[collector_id]

    def outcomes_url(self, collector_id: str) -> str:
        return self.link(collector_id) + "api/outcomes"

    def stops(self, collector_id: str) -> list[str]:
        route = next(r for r in self.plan.routes if collector_id in
                     (r.members or (r.collector.collector_id,)))
        return [s.case.case_id for s in route.stops]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def web(store_url: str, tmp_path: Path) -> Iterator[Web]:  # noqa: F811
    plan = make_plan()
    out = tmp_path / "plan"
    write_site(plan, out)
    record_site(plan, store_url)
    with Store.open(store_url) as store, store.session() as s:
        _, key = apikeys.add_key(s, "loan-system", actor="test")
    with prepare(out, store_url=store_url, port=0).start() as server:
        yield Web(server, plan, out, store_url, key)
