"""Re-planning through the lender's API (``POST /api/v1/replan``), over real HTTP on uvicorn, on
SQLite and on PostgreSQL.

The demo day is planned with ``plan --store`` into the served folder (recorded and published);
the first stops of two routes are reported done before 13:00; the API re-plans at 13:00 with K03
absent and two urgent cases, as tests/test_replan.py does through the command line. Checked:
the key is needed, a bad body names every field at once, the answer lists the done visits and
the changes, the served folder passes tests/plancheck.py, the links are the same and each
collector page says "Updated at HH:MM" with the changes of its own route only (as text), the
new version is the published one.
"""

from __future__ import annotations

import csv
import html
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from demoplan import ARGS, PLAN_DATE
from plancheck import check_plan_outputs
from webhelp import call

from optimizer.cli import main
from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS, read_cases, read_collectors
from optimizer.loop import stored_case_list
from optimizer.planning.rules import PRESETS
from optimizer.store import apikeys
from optimizer.store.db import Store
from optimizer.store.events import record_outcome
from optimizer.store.outcomes import parse_outcome
from optimizer.store.plans import published_plan
from optimizer.web.run import prepare
from optimizer.web.settings import WebSettings

pytestmark = pytest.mark.slow

URGENT = [
    {"case_id": "U-1", "customer_name": "急一", "lat": 30.6612, "lon": 104.0706,
     "amount_overdue": 30000, "days_past_due": 40, "windows": "14:00-18:00",
     "service_minutes": 20},
    {"case_id": "U-2", "customer_name": "急二", "lat": 30.6745, "lon": 104.0512,
     "amount_overdue": 22000, "days_past_due": 75, "windows": "15:00-19:00",
     "service_minutes": 20},
    # markup in an id: every page shows it as text
    {"case_id": "U-<i>3</i>", "customer_name": "<b>急三</b>", "lat": 30.6700, "lon": 104.0650,
     "amount_overdue": 18000, "days_past_due": 30, "windows": "13:30-19:30",
     "service_minutes": 20},
]


def _routes(folder: Path) -> dict[str, dict]:
    data = json.loads((folder / "routes.json").read_text(encoding="utf-8"))
    return {r["collector_id"]: r for r in data["routes"]}


def _secs(clock: str) -> int:
    h, m, s = (int(x) for x in clock.split(":"))
    return h * 3600 + m * 60 + s


def test_the_api_replans_the_served_day(store_url, tmp_path, cache_dir):
    out = tmp_path / "plan"
    assert main([*ARGS, "--store", store_url, "--out", str(out), "--cache-dir",
                 str(cache_dir)]) == 0
    before = _routes(out)
    firsts = [r["stops"][0]["case_id"] for r in before.values() if r["stops"]][:2]
    cst = timezone(timedelta(hours=8))
    with Store.open(store_url) as store:
        with store.session() as s:
            _, key = apikeys.add_key(s, "dispatch", actor="test")
            for k, cid in enumerate(firsts):
                record_outcome(s, parse_outcome({
                    "key": f"k{k}", "case_id": cid, "outcome": "not_home", "collectors": "K01",
                    "event_time": datetime(2026, 11, 30, 10, 0, tzinfo=cst).isoformat(),
                    "source": "api"}), actor="test")
        with store.reading() as s:
            rec = published_plan(s, PLAN_DATE)
            assert rec is not None
            first_version = rec.version
    auth = {"Authorization": f"Bearer {key}"}
    settings = WebSettings(plan_dir=out, cache_dir=cache_dir)
    with prepare(out, store_url=store_url, port=0, settings=settings).start() as server:
        links = dict(server.links.collectors)
        url = server.base_url + "/api/v1/replan"
        assert call("POST", url, {"at": "13:00"}).status == 401
        bad = call("POST", url, {"at": "25:10", "absent": ["K99"], "urgent": "U-1",
                                 "time_limit_s": -1, "colour": "red"}, headers=auth)
        assert bad.status == 422
        fields = {p["field"] for p in bad.json()["problems"]}
        assert fields == {"at", "absent", "urgent", "time_limit_s", "colour"}
        assert _routes(out) == before  # nothing re-planned
        ok = call("POST", url, {"at": "13:00", "absent": ["K03"], "urgent": URGENT,
                                "time_limit_s": 300, "max_solutions": 30}, headers=auth,
                  timeout=600)
        assert ok.status == 200, ok.body[:2000]
        answer = ok.json()
        assert server.links.collectors == links  # the same links
        pages = {cid: call("GET", link) for cid, link in links.items()}

    assert sorted(answer["done"]) == sorted(firsts) and answer["at"] == "13:00"
    assert re.fullmatch(r"\d\d:\d\d", answer["updated_at"])
    assert answer["absent"] == ["K03"] and answer["urgent"] == ["U-1", "U-2", "U-<i>3</i>"]
    moves = {m["case_id"]: m for m in answer["moves"]}
    after = _routes(out)
    routed = {s["case_id"]: rid for rid, r in after.items() for s in r["stops"]}
    for cid in ("U-1", "U-2", "U-<i>3</i>"):
        assert moves[cid]["before"] == "" and moves[cid]["after"] == routed[cid]
    at = _secs("13:00:00")
    for rid, r in after.items():
        for s in r["stops"]:
            assert s["case_id"] in firsts or _secs(s["start"]) >= at, (rid, s)
    cases = read_cases(DEMO_CASES) + read_cases_from(URGENT, tmp_path)
    from optimizer.geo.network import load_network

    assert check_plan_outputs(out, cases, read_collectors(DEMO_COLLECTORS), PLAN_DATE,
                              PRESETS["china"], network=load_network(cache_dir=cache_dir)) == []
    changes = json.loads((out / "changes.json").read_text(encoding="utf-8"))
    assert changes["updated_at"] == answer["updated_at"]
    with Store.open(store_url) as store:
        with store.reading() as s:
            rec = published_plan(s, PLAN_DATE)
            assert rec is not None and rec.version == first_version + 1 == answer["version"]
        # the urgent cases joined the store, but the case list a later plan takes is the demo's
        assert len(stored_case_list(store)) == len(read_cases(DEMO_CASES))

    # each page: updated at, and only its own route's changes
    for cid, page in pages.items():
        assert page.status == 200
        text = page.body.decode("utf-8")
        assert f"Updated at {answer['updated_at']}" in text and "(re-planned from 13:00)" in text
        rid = next(r for r, route in after.items() if cid in route["members"])
        notice = text.split('id="cr-changes">', 1)[1].split("</ul>", 1)[0]
        mine = {m["case_id"] for m in answer["moves"] if rid in (m["before"], m["after"])}
        assert "<i>" not in notice  # the markup of an id is text
        shown = {html.unescape(x) for x in re.findall(r"<li>([^:<]+):", notice)
                 if not x.startswith("No ")}
        assert shown == mine, (cid, shown, mine)
        if rid in answer["stopped"]:
            assert "No further visits today" in notice
        if not mine and rid not in answer["stopped"]:
            assert "No change to your stops" in notice


def read_cases_from(rows: list[dict], tmp_path: Path):
    p = tmp_path / "urgent.csv"
    with p.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return read_cases(p)
