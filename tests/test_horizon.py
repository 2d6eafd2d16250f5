"""Multi-day plans (`plan --days N`): one plan folder per day, rules across the days.

The demo is planned over Friday to Sunday through the command line, two collectors working
Monday to Friday only; every day is re-checked by `plancheck` against the cases as that day
sees them (the last visit date moved to the day the plan visits a case, worked out here from
the written routes, not by the planner), and every case is in each day exactly once. The rule
across days and the urgency are shown on tiny hand-computed days.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from plancheck import check_plan_outputs
from tinyday import MONDAY, case, collector, locate_tiny

from optimizer.cli import main
from optimizer.horizon import plan_days, urgency
from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS, read_cases, read_collectors
from optimizer.plan import solve_located
from optimizer.planning.rules import PRESETS, Policy
from optimizer.planning.weigh import Weighting
from optimizer.routing.params import SolveSettings
from optimizer.settings import HorizonSettings, PlanSettings

FIRST = date(2026, 12, 4)  # a Friday: the days are Fri, Sat, Sun
DAYS = 3


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def week(tmp_path_factory, cache_dir):
    """The demo over three days; K01 and K02 work Monday to Friday only."""
    tmp = tmp_path_factory.mktemp("horizon")
    rows = _rows(DEMO_COLLECTORS)
    for r in rows:
        r["workdays"] = "Mon-Fri" if r["collector_id"] in ("K01", "K02") else ""
    team = tmp / "collectors.csv"
    with team.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp / "week"
    assert main(["plan", "--days", str(DAYS), "--date", FIRST.isoformat(), "--collectors",
                 str(team), "--time-limit", "300", "--max-solutions", "20", "-q", "--out", str(out),
                 "--cache-dir", str(cache_dir)]) == 0
    return out, read_collectors(team)


@pytest.mark.slow
def test_every_day_of_the_horizon_passes_the_re_simulation(week, cache_dir):
    from optimizer.geo.network import load_network

    out, collectors = week
    network = load_network(cache_dir=cache_dir)
    cases = read_cases(DEMO_CASES)
    visited_on: dict[str, date] = {}
    for i in range(DAYS):
        day = FIRST + timedelta(days=i)
        folder = out / day.isoformat()
        assert (folder / "manifest.json").is_file()
        # the cases as this day sees them: a visit planned on an earlier day is the last visit
        seen = tuple(replace(c, last_visit_date=visited_on.get(c.case_id, c.last_visit_date))
                     for c in cases)
        assert check_plan_outputs(folder, seen, collectors, day, PRESETS["china"],
                                  network=network) == []
        routes = _rows(folder / "routes.csv")
        unassigned = {u["case_id"]: u for u in _rows(folder / "unassigned.csv")}
        for r in routes:  # once in the horizon
            assert r["case_id"] not in visited_on, (r["case_id"], day)
        for cid, earlier in visited_on.items():  # and explained on every later day
            assert unassigned[cid]["reason_code"] == "planned_earlier"
            assert f"planned on {earlier.isoformat()}" in unassigned[cid]["reason"]
        members = {m for r in routes for m in r["members"].split("+")}
        if day.weekday() >= 5:
            assert not members & {"K01", "K02"}
        else:
            assert {"K01", "K02"} <= members
        for r in routes:
            visited_on[r["case_id"]] = day
    assert len(visited_on) > 150  # three days' visits, none twice


@pytest.mark.slow
def test_the_horizon_summary_adds_up_the_days(week):
    out, _ = week
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (s["first_date"], s["last_date"], s["days"]) == ("2026-12-04", "2026-12-06", 3)
    days = [json.loads((out / d["folder"] / "summary.json").read_text(encoding="utf-8"))
            for d in s["per_day"]]
    assert [d["plan_date"] for d in days] == ["2026-12-04", "2026-12-05", "2026-12-06"]
    assert all(d["cases_total"] == 500 for d in days)
    assert s["visits"] == s["cases_visited"] == sum(d["cases_visited"] for d in days)
    assert s["value_visited"] == pytest.approx(sum(d["value_visited"] for d in days), abs=0.05)
    assert s["cases_total"] == 500
    week_rows = _rows(out / "week.csv")
    for d in s["per_day"]:  # a cell is a member's visits that day: a team's visits count twice
        routes = _rows(out / d["folder"] / "routes.csv")
        assert sum(int(r[d["folder"]] or 0) for r in week_rows) == sum(
            len(r["members"].split("+")) for r in routes)
    k01 = next(r for r in week_rows if r["collector_id"] == "K01")
    assert k01["2026-12-05"] == k01["2026-12-06"] == ""  # off at the weekend
    page = (out / "index.html").read_text(encoding="utf-8")
    # the week map: a layer per day, the table linking each day's overview and pages
    for d in s["per_day"]:
        assert f'{d["plan_date"]} ({d["cases_visited"]})' in page
        assert f'href="{d["folder"]}/index.html"' in page
    assert 'href="2026-12-04/K01.html"' in page and 'href="2026-12-05/K01.html"' not in page
    assert (out / "2026-12-04" / "K01.html").is_file()
    assert not (out / "2026-12-05" / "K01.html").exists()
    assert (out / "routes.xlsx").is_file() and (out / "2026-12-04" / "routes.xlsx").is_file()


def test_bad_days_date_and_folder_are_all_reported_at_once(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code = main(["plan", "--days", "15", "--date", "2026-13-01", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "--days value '15'" in err and "--date value '2026-13-01'" in err
    code = main(["plan", "--days", "0", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--days value '0'" in err
    code = main(["plan", "--days", "2", "--date", "2026-12-01", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "notes.txt" in err and "Traceback" not in err


# ---------------------------------------------------------------- tiny days


def _tiny(policy: Policy = PRESETS["none"], **horizon) -> PlanSettings:
    return PlanSettings(plan_date=MONDAY, weighting=Weighting("amount"), policy=policy,
                        solver=SolveSettings(time_limit_s=2.0, max_solutions=200),
                        travel_cost_per_h=0.0, horizon=HorizonSettings(**horizon))


def _run(cases, collectors, st: PlanSettings):
    def one(cases_d, settings_d, context, steering, progress):
        return solve_located(cases_d, locate_tiny(cases_d, collectors, settings_d), settings_d,
                             context=context, steering=steering)
    return plan_days(cases, collectors, st, one)


def _visits(week) -> list[set[str]]:
    return [{s.case.case_id for r in d.plan.routes for s in r.stops} for d in week.days]


def test_revisits_wait_for_the_gap_and_the_cooldown():
    # K1 at 0 with time for one 4-hour visit a day; A at 1 (value 1000), B at 2 (900), over
    # four days. Once per horizon: A, B, then nothing (both planned_earlier). A revisit gap of
    # 1 day with a 2-day cooldown: A, B, A, B (each back after two days, the cooldown).
    cs = [case("A", 1, service_min=240), case("B", 2, value=900.0, service_min=240)]
    ks = [collector("K1", shift="08:00-12:10")]
    once = _run(cs, ks, _tiny(days=4))
    assert _visits(once) == [{"A"}, {"B"}, set(), set()]
    last = once.days[3].plan
    assert {u.case.case_id: u.reason_code for u in last.unassigned} == {
        "A": "planned_earlier", "B": "planned_earlier"}
    again = _run(cs, ks, _tiny(Policy(cooldown_days=2), days=4, revisit_gap_days=1))
    assert _visits(again) == [{"A"}, {"B"}, {"A"}, {"B"}]
    # Tuesday sees A as visited on Monday: the cooldown, not the gap, keeps it out that day
    assert again.days[1].cases[0].last_visit_date == MONDAY
    reasons = {u.case.case_id: u.reason_code for u in again.days[1].plan.unassigned}
    assert reasons == {"A": "cooldown"}
    assert again.summary.cases_visited == 2 and again.summary.visits == 4


def test_a_last_chance_is_taken_first():
    # K1 at 0, one 4-hour visit a day, Monday and Tuesday. A (value 1000) can be found any day,
    # M (value 900) only on Mondays. Greedy (urgency 0): Monday visits A, Tuesday nothing left
    # for M, so 1000. With urgency, M's last chance is Monday (loss 900 -> 1800 for the solver):
    # M on Monday, A on Tuesday: 1900.
    cs = [case("A", 1, service_min=240),
          case("M", 2, value=900.0, service_min=240, windows="Mon 08:00-12:00")]
    ks = [collector("K1", shift="08:00-12:10")]
    greedy = _run(cs, ks, _tiny(days=2, urgency_weight=0.0))
    assert _visits(greedy) == [{"A"}, set()]
    assert greedy.summary.value_visited == 1000.0
    ahead = _run(cs, ks, _tiny(days=2))
    assert _visits(ahead) == [{"M"}, {"A"}]
    assert ahead.summary.value_visited == 1900.0
    assert urgency(cs, MONDAY, (MONDAY + timedelta(days=1),), _tiny(), ks, 1.0) == {"M": 2.0}


def test_the_week_workbook_is_the_week_and_each_day_keeps_its_route_sheets(tmp_path):
    # K1 works every day, K2 Monday only; three cases over Mon-Wed with one 4-hour visit a
    # day each: Monday visits two (one per collector), Tuesday the third, Wednesday nothing.
    # DIR/routes.xlsx has Week (K2 'off' on Tue and Wed), Visits (the 3 visits as routed) and
    # Not visited (none left); every day folder keeps its own routes.xlsx (the route sheets),
    # --no-maps too. Input text stays text (a customer named like a formula).
    from openpyxl import load_workbook

    from optimizer.outputs.write import write_horizon

    cs = [case("A", 1, service_min=240, customer_name="=1+1"),
          case("B", 2, value=900.0, service_min=240), case("C", 3, value=800.0,
                                                            service_min=240)]
    ks = [collector("K1", shift="08:00-12:10"),
          collector("K2", shift="08:00-12:10", workdays=frozenset({0}))]
    week = _run(cs, ks, _tiny(days=3))
    assert [len(v) for v in _visits(week)] == [2, 1, 0]
    out = write_horizon(week, tmp_path / "week", maps=False)
    for d in week.days:
        assert (out / d.plan.plan_date.isoformat() / "routes.xlsx").is_file()
    wb = load_workbook(out / "routes.xlsx")
    assert wb.sheetnames == ["Week", "Visits", "Not visited"]
    grid = [[c.value for c in row] for row in wb["Week"].iter_rows(min_row=4)]
    assert grid[0] == ["Collector", "Mon 2026-11-30", "Tue 2026-12-01", "Wed 2026-12-02",
                       "Total"]
    by_id = {r[0]: r[1:] for r in grid[1:]}
    assert by_id["K1"] == [1, 1, 0, 2]
    assert by_id["K2"] == [1, "off", "off", 1]
    assert by_id["Visits"] == [2, 1, 0, 3]
    assert by_id["Value"][3] == week.summary.value_visited == 2700.0
    visits = [[c.value for c in row] for row in wb["Visits"].iter_rows(min_row=2)]
    planned = sorted((d.plan.plan_date.isoformat(), r.collector.collector_id, s.case.case_id)
                     for d in week.days for r in d.plan.routes for s in r.stops)
    assert sorted((v[0], v[2], v[7]) for v in visits) == planned
    named = next(row for row in wb["Visits"].iter_rows(min_row=2) if row[7].value == "A")
    assert named[8].value == "=1+1" and named[8].data_type == "s"
    assert wb["Not visited"].max_row == 1  # the header: every case visited once
