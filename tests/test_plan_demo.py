"""End to end: plan the bundled demo with the CLI and re-check the written plan independently."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from demoplan import ARGS, PLAN_DATE
from plancheck import check_plan_outputs

from optimizer.cli import main
from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS, read_cases, read_collectors
from optimizer.planning.explain import BY_CHOICE, IMPOSSIBLE
from optimizer.planning.rules import PRESETS


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_demo_plan_writes_every_output(demo_plan):
    for name in ("routes.csv", "routes.json", "routes.xlsx", "unassigned.csv", "summary.json",
                 "index.html"):
        assert (demo_plan / name).is_file(), name
    routes = _rows(demo_plan / "routes.csv")
    from openpyxl import load_workbook

    book = load_workbook(demo_plan / "routes.xlsx", read_only=True)
    stops = []
    for ws in book.worksheets[1:-1]:  # the route sheets: their table starts at "Stop"
        rows = list(ws.iter_rows(values_only=True))
        head = next(i for i, r in enumerate(rows) if r and r[0] == "Stop")
        assert head == 3  # title, route line, a blank row
        stops += [r for r in rows[head + 1:] if r and r[0] is not None]
    assert sorted(r[5] for r in stops) == sorted(r["case_id"] for r in routes)
    assert {"collector_id", "stop", "case_id", "lat", "lon", "arrive", "start", "depart",
            "travel_s", "travel_m", "value"} <= set(routes[0])
    for member in {m for r in routes for m in r["members"].split("+")}:
        assert (demo_plan / f"{member}.html").is_file(), member
    summary = json.loads((demo_plan / "summary.json").read_text())
    for key in ("cases_total", "cases_visited", "value_total", "value_visited", "travel_s_total",
                "travel_m_total", "per_collector"):
        assert key in summary
    assert summary["cases_total"] == 500
    assert summary["cases_visited"] == len(routes)
    assert summary["value_visited"] == pytest.approx(sum(float(r["value"]) for r in routes),
                                                     abs=1.0)
    assert summary["travel_m_total"] >= sum(float(r["travel_m"]) for r in routes) - 1.0
    per = {p["collector_id"]: p for p in summary["per_collector"]}
    for cid, p in per.items():
        assert p["cases_visited"] == sum(r["collector_id"] == cid for r in routes)


@pytest.mark.slow
def test_demo_plan_passes_independent_resimulation(demo_plan, cache_dir):
    from optimizer.geo.network import load_network

    errs = check_plan_outputs(demo_plan, read_cases(DEMO_CASES), read_collectors(DEMO_COLLECTORS),
                              PLAN_DATE, PRESETS["china"],
                              network=load_network(cache_dir=cache_dir))
    assert errs == []


@pytest.mark.slow
def test_demo_is_a_backlog_and_visits_the_valuable_cases(demo_plan):
    routes = _rows(demo_plan / "routes.csv")
    unassigned = _rows(demo_plan / "unassigned.csv")
    assert len(unassigned) > len(routes)  # the team cannot visit every case in a day
    mean_visited = sum(float(r["value"]) for r in routes) / len(routes)
    mean_left = sum(float(u["value"]) for u in unassigned) / len(unassigned)
    assert mean_visited > mean_left
    codes = {u["reason_code"] for u in unassigned}
    assert codes <= IMPOSSIBLE | BY_CHOICE
    assert "lower_value" in codes and "no_coordinates" in codes


@pytest.mark.slow
def test_same_inputs_and_seed_give_the_same_plan(demo_plan, tmp_path, cache_dir):
    out = tmp_path / "again"
    assert main([*ARGS, "--out", str(out), "--cache-dir", str(cache_dir), "--no-maps"]) == 0
    assert (out / "routes.csv").read_bytes() == (demo_plan / "routes.csv").read_bytes()
    assert (out / "unassigned.csv").read_bytes() == (demo_plan / "unassigned.csv").read_bytes()


def test_resimulation_catches_a_tampered_plan(demo_plan, tmp_path, cache_dir):
    """The checker is not a rubber stamp: shift a visit out of its window, drop a case."""
    import shutil

    from optimizer.geo.network import load_network

    bad = tmp_path / "bad"
    shutil.copytree(demo_plan, bad)
    cases = {c.case_id: c for c in read_cases(DEMO_CASES)}
    rows = _rows(bad / "routes.csv")
    # a stop whose customer cannot be found at 23:30 today and gave no consent to late visits
    k = next(i for i, r in enumerate(rows)
             if not cases[r["case_id"]].consent_outside_hours
             and not any(w.contains(23.5 * 3600)
                         for w in cases[r["case_id"]].windows_on(PLAN_DATE)))
    rows[k]["start"] = "23:30:00"
    rows[k]["depart"] = "23:59:59"
    with (bad / "routes.csv").open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    data = json.loads((bad / "routes.json").read_text())
    stop = next(s for r in data["routes"] for s in r["stops"] if s["case_id"] == rows[k]["case_id"])
    stop["start"], stop["depart"] = "23:30:00", "23:59:59"
    (bad / "routes.json").write_text(json.dumps(data))
    lines = (bad / "unassigned.csv").read_text(encoding="utf-8-sig").splitlines()
    (bad / "unassigned.csv").write_text("\n".join(lines[:1] + lines[2:]) + "\n",
                                        encoding="utf-8-sig")
    errs = check_plan_outputs(bad, read_cases(DEMO_CASES), read_collectors(DEMO_COLLECTORS),
                              PLAN_DATE, PRESETS["china"],
                              network=load_network(cache_dir=cache_dir))
    text = "\n".join(errs)
    assert "outside its windows" in text
    assert "outside legal hours" in text
    assert "appears 0 times" in text


@pytest.mark.slow
def test_demo_plan_says_how_each_case_was_located(demo_plan):
    summary = json.loads((demo_plan / "summary.json").read_text())
    geo = summary["geocoding"]
    cases = read_cases(DEMO_CASES)
    with_latlon = sum(c.lat is not None for c in cases)
    assert geo["from_input"] == with_latlon
    assert sum(geo.values()) == summary["cases_total"]
    unassigned = _rows(demo_plan / "unassigned.csv")
    assert geo["not_found"] == sum(u["reason_code"] == "no_coordinates" for u in unassigned) > 0
    rows = [*_rows(demo_plan / "routes.csv"), *unassigned]
    scored = [r for r in rows if r["geocode_score"] != ""]
    assert len(scored) == summary["cases_total"] - geo["not_found"]
    assert sum(float(r["geocode_score"]) < 1 for r in scored) == geo["uncertain"]
    given = {c.case_id for c in cases if c.lat is not None}
    assert all(r["geocode_match"] == "lat/lon given" for r in scored if r["case_id"] in given)
    assert all(r["geocode_match"] for r in scored)
    by_case = {r["case_id"]: r for r in _rows(demo_plan / "routes.csv")}
    stops = [s for r in json.loads((demo_plan / "routes.json").read_text())["routes"]
             for s in r["stops"]]
    assert len(stops) == len(by_case)
    for s in stops:
        assert s["geocode_match"] == by_case[s["case_id"]]["geocode_match"]
        assert str(s["geocode_score"]) == by_case[s["case_id"]]["geocode_score"]


def test_evening_shift_plans_without_lunch_under_china(tmp_path, cache_dir):
    """An evening team (14:00-22:00) misses the lunch window 11:30-13:30: it takes no break, the
    day team of the same plan takes its lunch, and the plan passes the re-simulation."""
    from optimizer.geo.network import load_network

    cases = tmp_path / "cases.csv"
    cases.write_text(
        "case_id,lat,lon,amount_overdue,days_past_due,windows\n"
        "E1,30.6620,104.0650,9000,30,18:00-21:00\n"
        "E2,30.6700,104.0720,8000,30,19:00-21:00\n"
        "D1,30.6580,104.0600,7000,30,09:00-11:00\n"
        "D2,30.6650,104.0800,6000,30,13:00-16:00\n", encoding="utf-8")
    team = tmp_path / "collectors.csv"
    team.write_text(
        "collector_id,start_lat,start_lon,shift\n"
        "K01,30.670778,104.053299,08:30-17:30\n"
        "K02,30.670778,104.053299,08:30-17:30\n"
        "K03,30.675017,104.108028,14:00-22:00\n"
        "K04,30.675017,104.108028,14:00-22:00\n", encoding="utf-8")
    out = tmp_path / "plan"
    assert main([*ARGS, "--cases", str(cases), "--collectors", str(team), "--out", str(out),
                 "--cache-dir", str(cache_dir), "--no-maps"]) == 0
    data = json.loads((out / "routes.json").read_text())
    routes = {r["collector_id"]: r for r in data["routes"]}
    assert routes["K03+K04"]["breaks"] == []
    assert {"E1", "E2"} <= {s["case_id"] for s in routes["K03+K04"]["stops"]}
    assert len(routes["K01+K02"]["breaks"]) == 1
    network = load_network(cache_dir=cache_dir)
    policy = PRESETS["china"]
    assert check_plan_outputs(out, read_cases(cases), read_collectors(team), PLAN_DATE, policy,
                              network=network) == []
    # the check still holds the day team to its lunch: without it the plan fails
    next(r for r in data["routes"] if r["collector_id"] == "K01+K02")["breaks"] = []
    (out / "routes.json").write_text(json.dumps(data))
    errs = check_plan_outputs(out, read_cases(cases), read_collectors(team), PLAN_DATE, policy,
                              network=network)
    assert errs == ["route K01+K02: no lunch break of 30 min in 11:30-13:30 (breaks [])"]
