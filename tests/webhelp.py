"""What the web application's tests (and scripts/bench_outcomes.py) share: a served plan folder
with its plan recorded in a store, and plain HTTP calls (urllib: what a phone or a lender's
system sends, no test client in between)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer.model import Plan
from optimizer.outputs import maps
from optimizer.outputs.write import write_manifest
from optimizer.store.cases import merge_cases
from optimizer.store.db import Store
from optimizer.store.plans import record_plan


def write_site(plan: Plan, out: Path) -> dict[str, str]:
    """The plan's overview and collector pages and manifest, as `plan` writes them."""
    out.mkdir(parents=True, exist_ok=True)
    maps.write_overview(plan, out / "index.html")
    pages = {}
    for route in plan.routes:
        for member in route.members or (route.collector.collector_id,):
            pages[member] = maps.collector_page_filename(member)
            maps.write_collector_page(plan, route, out / pages[member], collector_id=member)
    write_manifest(plan, out, overview="index.html", pages=pages)
    return pages


def record_site(plan: Plan, store_url: str) -> int:
    """Merge the plan's cases into the store and publish the plan; returns its id there."""
    cases = [s.case for r in plan.routes for s in r.stops] + [u.case for u in plan.unassigned]
    with Store.open(store_url) as store, store.session() as s:
        merge_cases(s, cases, file_name="cases.csv", sha256=f"test-{plan.plan_date}")
        return record_plan(s, plan, actor="test").plan_id


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


def call(method: str, url: str, body: Any = None, *, headers: dict[str, str] | None = None,
         raw: bytes | None = None, timeout: float = 30) -> Answer:
    """One HTTP request; a JSON `body` is sent as application/json."""
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Answer(resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()})
    except urllib.error.HTTPError as err:
        return Answer(err.code, err.read(), {k.lower(): v for k, v in err.headers.items()})
