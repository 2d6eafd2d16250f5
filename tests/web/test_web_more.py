"""The web application: a team route (two links, one route), the device's distance from the pin,
a page without a published route, and the command line (``serve --store``, ``apikey``)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from maps_plan import make_plan
from sqlalchemy import select
from webhelp import call, record_site, write_site

from optimizer.store.db import Store, sqlite_url
from optimizer.store.tables import OutcomeCollector
from optimizer.web.collector import CONFIG_ID
from optimizer.web.run import prepare

ROOT = Path(__file__).resolve().parents[2]
VISIT = "2026-11-30T10:05:00+08:00"


def _team_plan():
    plan = make_plan()
    team = dataclasses.replace(plan.routes[0], members=("C01", "C07"))
    return dataclasses.replace(plan, routes=(team, *plan.routes[1:]))


@pytest.fixture
def team_web(tmp_path, store_url):
    plan = _team_plan()
    write_site(plan, tmp_path / "plan")
    record_site(plan, store_url)
    with prepare(tmp_path / "plan", store_url=store_url, port=0).start() as server:
        yield server


def _crew(url: str) -> list[list[str]]:
    with Store.open(url) as store, store.reading() as s:
        rows = s.scalars(select(OutcomeCollector).order_by(OutcomeCollector.outcome_id,
                                                           OutcomeCollector.position))
        out: dict[int, list[str]] = {}
        for r in rows:
            out.setdefault(r.outcome_id, []).append(r.collector_id)
        return list(out.values())


def test_team_members_record_for_their_route_both_present_by_default(team_web, store_url):
    links = team_web.links.collectors
    assert {"C01", "C07"} <= set(links)
    api = {cid: links[cid] + "api/outcomes" for cid in ("C01", "C07", "C02")}
    a = call("POST", api["C07"], {"key": "t-1", "case_id": "K-1001", "outcome": "not_home",
                                  "event_time": VISIT})
    assert a.status == 201, a.body
    a = call("POST", api["C01"], {"key": "t-2", "case_id": "K-1002", "outcome": "refused",
                                  "event_time": VISIT, "collectors": ["C01"]})
    assert a.status == 201, a.body
    # C07 alone may not record a visit that leaves C07 out
    a = call("POST", api["C07"], {"key": "t-3", "case_id": "K-1003", "outcome": "refused",
                                  "event_time": VISIT, "collectors": ["C01"]})
    assert a.status == 422 and a.json()["problems"][0]["field"] == "collectors"
    assert _crew(store_url) == [["C01", "C07"], ["C01"]]
    # both members see both outcomes of their route; C02 sees none of them
    for cid in ("C01", "C07"):
        assert [o["key"] for o in call("GET", api[cid]).json()["outcomes"]] == ["t-1", "t-2"]
    assert call("GET", api["C02"]).json()["outcomes"] == []
    page = call("GET", links["C07"]).body.decode("utf-8")
    assert '"members":["C01","C07"]' in page and '"collector":"C07"' in page


def test_device_position_far_from_the_pin_is_flagged(team_web):
    url = team_web.links.collectors["C02"] + "api/outcomes"
    plan = make_plan()
    stop = plan.routes[1].stops[0]
    near = call("POST", url, {"key": "p-1", "case_id": stop.case.case_id, "outcome": "not_home",
                              "event_time": VISIT, "device_lat": stop.lat + 0.001,
                              "device_lon": stop.lon, "device_accuracy_m": 12})
    assert near.status == 201, near.body
    assert 100 < near.json()["distance_m"] < 120 and near.json()["far_from_pin"] is False
    far = call("POST", url, {"key": "p-2", "case_id": stop.case.case_id, "outcome": "not_home",
                             "event_time": VISIT, "device_lat": stop.lat + 0.01,
                             "device_lon": stop.lon, "device_accuracy_m": 12})
    assert far.json()["far_from_pin"] is True


def test_a_plan_not_in_the_store_is_served_without_the_form(tmp_path):
    plan = make_plan()
    write_site(plan, tmp_path / "plan")
    url = sqlite_url(tmp_path / "empty.sqlite")  # the plan was never recorded here
    with prepare(tmp_path / "plan", store_url=url, port=0).start() as server:
        a = call("GET", server.links.collectors["C01"])
        assert a.status == 200 and CONFIG_ID not in a.body.decode("utf-8")
        assert "connect-src 'none'" in a.headers["content-security-policy"]
        a = call("POST", server.links.collectors["C01"] + "api/outcomes", {
            "key": "n-1", "case_id": "K-1001", "outcome": "not_home", "event_time": VISIT})
        assert a.status == 403


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_command_line_apikey_and_serve_start_up_errors(tmp_path):
    url = sqlite_url(tmp_path / "s.sqlite")
    made = _cli("apikey", "add", "loan-system", "--store", url)
    assert made.returncode == 0, made.stderr
    key = made.stdout.split()[-1]
    assert key.startswith("crk_")
    listed = _cli("apikey", "list", "--store", url)
    assert "loan-system" in listed.stdout and key not in listed.stdout
    again = _cli("apikey", "add", "loan-system", "--store", url)
    assert again.returncode == 2 and again.stderr.startswith("error: ")
    assert _cli("apikey", "revoke", "loan-system", "--store", url).returncode == 0
    missing = _cli("apikey", "add", "--store", url)
    assert missing.returncode == 2 and "name" in missing.stderr

    plan = make_plan()
    write_site(plan, tmp_path / "plan")
    for args, says in ((["--store", "nosuchdb://x"], "store"),
                       (["--store", url, "--port", "70000"], "--port"),
                       (["--store", url, "--host", "256.1.1.1"], "--host")):
        r = _cli("serve", str(tmp_path / "plan"), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("error: ") and says in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
