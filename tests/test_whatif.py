"""What-if scenarios: KPI arithmetic, scenario validation, and one small real run.

The run plans the fixture in tests/data/whatif (25 cases in central Chengdu, 2 collectors, no
jurisdiction rules) on the bundled OSM extract, with a few variants: more capacity (one more
collector, longer shifts, more visits), the base again from scratch, another weighting and bad
variants. Solver budgets are short (2 s, deterministic solution limit).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, replace
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from plancheck import check_plan_outputs

from optimizer.cli import main
from optimizer.errors import ConfigError, InputError
from optimizer.io.inputs import read_cases, read_collectors
from optimizer.model import (
    Case,
    Collector,
    Place,
    Plan,
    PlannedRoute,
    PlannedStop,
    TimeWindow,
    Unassigned,
)
from optimizer.plan import summarize
from optimizer.whatif import edits, kpis, runner, scenario

DATA = Path(__file__).parent / "data" / "whatif"
H = 3600


# --------------------------------------------------------------------------- KPI arithmetic


def _case(cid: str, dpd: int, amount: float) -> Case:
    return Case(case_id=cid, amount_overdue=amount, days_past_due=dpd, lat=30.65, lon=104.06)


def _collector(cid: str, shift: TimeWindow) -> Collector:
    p = Place(lat=30.65, lon=104.06)
    return Collector(collector_id=cid, start=p, end=p, shift=shift)


def _stop(cid: str, n: int, case: Case, value: float) -> PlannedStop:
    return PlannedStop(collector_id=cid, stop=n, case=case, lat=30.65, lon=104.06, arrive_s=0,
                       start_s=0, depart_s=0, travel_s=0, travel_m=0, value=value,
                       window=TimeWindow(0, 86400))


def _route(col: Collector, stops, leave_s, return_s, travel_s, travel_m) -> PlannedRoute:
    return PlannedRoute(collector=col, stops=tuple(stops), start_lat=30.65, start_lon=104.06,
                        end_lat=30.65, end_lon=104.06, leave_s=leave_s, return_s=return_s,
                        travel_s=travel_s, travel_m=travel_m, value=sum(s.value for s in stops),
                        members=(col.collector_id,))


def hand_made_plan() -> Plan:
    """Three routes, three visits, two cases left.

    A (shift 09:00-17:00, 8 h) works 09:00-13:00: 4 h = 50 %; visits dpd 10 (100) and dpd 45
    (200); 1 h travel, 20 km.  B (shift 08:00-12:00, 4 h) works 08:00-11:00: 75 %; visits dpd 95
    (300); 0.5 h, 12 km.  C (09:00-17:00) stays idle: 0 %.  Left: dpd 70 (400, lower_value) and
    dpd 0 (50, no_window_today).
    """
    a = _collector("A", TimeWindow(9 * H, 17 * H))
    b = _collector("B", TimeWindow(8 * H, 12 * H))
    c = _collector("C", TimeWindow(9 * H, 17 * H))
    ra = _route(a, [_stop("A", 1, _case("c1", 10, 1000), 100.0),
                    _stop("A", 2, _case("c2", 45, 1000), 200.0)], 9 * H, 13 * H, 3600, 20000)
    rb = _route(b, [_stop("B", 1, _case("c3", 95, 1000), 300.0)], 8 * H, 11 * H, 1800, 12000)
    rc = _route(c, [], 9 * H, 9 * H, 0, 0)
    un = (Unassigned(_case("c4", 70, 1000), "lower_value", "...", value=400.0),
          Unassigned(_case("c5", 0, 1000), "no_window_today", "...", value=50.0))
    summary = summarize((ra, rb, rc), un, plan_date=date(2026, 11, 30), policy="none",
                        weighting="amount")
    return Plan(plan_date=date(2026, 11, 30), routes=(ra, rb, rc), unassigned=un,
                summary=summary)


def test_kpis_of_a_hand_made_plan():
    k = asdict(kpis.plan_kpis(hand_made_plan()))
    assert k["collectors"] == 3 and k["routes"] == 3 and k["routes_used"] == 2
    assert k["cases_total"] == 5 and k["cases_visited"] == 3
    # dpd 0 and 10 -> 1-30 (only the visited one counts), 45 -> 31-60, 95 -> 91+
    assert k["visited_by_dpd"] == {"1-30": 1, "31-60": 1, "61-90": 0, "91+": 1}
    assert k["value_by_dpd"] == {"1-30": 100.0, "31-60": 200.0, "61-90": 0.0, "91+": 300.0}
    assert k["value_visited"] == 600.0
    assert k["value_total"] == 1050.0  # 600 visited + 400 + 50 left
    assert k["value_share"] == pytest.approx(600 / 1050, abs=1e-4)
    assert k["travel_h"] == 1.5 and k["travel_km"] == 32.0
    assert k["travel_s_total"] == 5400.0 and k["travel_m_total"] == 32000.0
    assert k["utilisation"] == {"A": 0.5, "B": 0.75, "C": 0.0}
    assert k["utilisation_mean"] == pytest.approx((0.5 + 0.75 + 0) / 3, abs=1e-4)
    assert k["utilisation_min"] == 0.0 and k["utilisation_max"] == 0.75
    assert k["utilisation_spread"] == 0.75
    assert k["unassigned_by_reason"] == {"lower_value": 1, "no_window_today": 1}


def _row(variant: str, collectors: int, value_visited: float, value_total: float
         ) -> kpis.VariantRow:
    figures = replace(kpis.plan_kpis(hand_made_plan()), collectors=collectors,
                      value_visited=value_visited, value_total=value_total)
    return kpis.VariantRow(variant, "ok", kpis=figures)


def test_marginal_value_per_collector():
    rows = [
        _row("base", 15, 1000.0, 5000.0),
        # 5 more collectors, +400: 80 per collector
        _row("more", 20, 1400.0, 5000.0),
        # 5 fewer, -300: each of the 5 was worth 60
        _row("fewer", 10, 700.0, 5000.0),
        # another weighting: values not comparable
        _row("amount", 15, 3000.0, 9000.0),
        kpis.VariantRow.failed("broken", "..."),
    ]
    by = {r.variant: r for r in kpis.compare_to_base(rows)}
    assert by["more"].marginal_value_per_collector == 80.0
    assert by["more"].value_vs_base == 400.0
    assert by["fewer"].marginal_value_per_collector == 60.0
    assert by["base"].marginal_value_per_collector is None
    assert by["amount"].value_vs_base is None
    assert by["broken"].marginal_value_per_collector is None


# --------------------------------------------------------------------------- validation


def _write(tmp_path: Path, data: dict, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


def _base(**kw) -> dict:
    b = {"cases": str(DATA / "cases.csv"), "collectors": str(DATA / "collectors.csv"),
         "date": "2026-11-30", "policy": "none", "time_limit": 2, "maps": False}
    b.update(kw)
    return b


@pytest.mark.parametrize(("variant", "key", "words"), [
    ({"colectors": "x.csv"}, "colectors", ["unknown key", "did you mean `collectors`"]),
    ({"shift_hours": "long"}, "shift_hours", ["is not a number"]),
    ({"shift_hours": 30}, "shift_hours", ["must be <= 24"]),
    ({"max_visits": 0}, "max_visits", ["must be >= 1"]),
    ({"policy": "mars"}, "policy", ["use one of: none, china, us_fdcpa"]),
    ({"contact_hours": "21:00-08:00"}, "contact_hours", ["before start"]),
    ({"weighting": "amount", "curve": "0:2"}, "curve", ["shares must be in 0..1"]),
    ({"solver": {"num_wrkers": 2}}, "solver", ["unknown solver option(s) num_wrkers"]),
    ({"add_collectors": {"count": 2}}, "add_collectors", ["needs `like`"]),
    ({"add_collectors": {"count": -1, "like": "A1"}}, "add_collectors", ["must be >= 1"]),
    ({"remove_collectors": {"count": 1, "ids": ["A1"]}}, "remove_collectors", ["either"]),
    ({"cases": "nowhere.csv"}, "cases", ["not found"]),
    # found by scripts/hostile_inputs.py: 100,000 new collectors planned for hours (a hang);
    # NaN reached OR-Tools (a traceback)
    ({"add_collectors": {"count": 100_000, "like": "A1"}}, "add_collectors", ["must be <= 1000"]),
    ({"remove_collectors": {"count": 5000}}, "remove_collectors", ["must be <= 1000"]),
    ({"solver": {"value_scale": float("nan")}}, "solver",
     ["value_scale=nan must be a positive, finite number"]),
])
def test_bad_variant_value_is_named_with_its_fix(tmp_path, variant, key, words):
    path = _write(tmp_path, {"base": _base(), "variants": {"good": {"seed": 1}, "bad": variant}})
    sc = scenario.load_scenario(path)
    assert sc.variant("good").issues == ()
    issues = sc.variant("bad").issues
    assert len(issues) == 1
    text = str(issues[0])
    assert text.startswith("s.yaml (variant bad): field '" + key + "'")
    assert "fix: " in text
    for w in words:
        assert w in text, text


def test_yaml_keys_twice_and_bad_dates_are_named(tmp_path):
    # PyYAML keeps the last of two equal keys silently (a variant vanished from the report),
    # and turned 2026-02-30 into a ValueError without the key's name
    twice = tmp_path / "twice.yaml"
    twice.write_text(yaml.safe_dump({"base": _base()}) + "variants:\n  a: {seed: 1}\n"
                     "  a: {seed: 2}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="the key 'a' is written twice"):
        scenario.load_scenario(twice)
    bad_date = tmp_path / "date.yaml"
    bad_date.write_text(yaml.safe_dump({"base": _base()}).replace("date: '2026-11-30'",
                                                                  "date: 2026-02-30")
                        + "variants: {}\n", encoding="utf-8")
    with pytest.raises(InputError, match="field 'date' value '2026-02-30': is not a date"):
        scenario.load_scenario(bad_date)


def test_variant_names_that_differ_only_in_case_are_an_error_naming_both(tmp_path):
    # on a file system that ignores case (Windows, macOS) `Base/` and `base/` (or `Late/` and
    # `late/`) are one folder: one variant's pages would overwrite the other's
    for names, both in ((["Base"], ("base", "Base")), (["late", "LATE"], ("late", "LATE"))):
        path = _write(tmp_path, {"base": _base(), "variants": {
            "other": {"seed": 1}, **{n: {"seed": 2} for n in names}}})
        with pytest.raises(InputError) as err:
            scenario.load_scenario(path)
        text = str(err.value)
        assert f"s.yaml: field 'variants' value '{both[0]} and {both[1]}'" in text, text
        assert f"the names `{both[0]}` and `{both[1]}` differ only in case" in text, text
        assert "fix: give them names that differ in more than case" in text, text
        assert "other" not in text, text
    # nor the name of a file beside the variants' folders
    path = _write(tmp_path, {"base": _base(), "variants": {"KPIs.json": {"seed": 1}}})
    assert "the name is the one of a file of the results folder" in str(
        scenario.load_scenario(path).variant("KPIs.json").issues[0])
    path = _write(tmp_path, {"base": _base(), "variants": {"late": {}, "LATE": {}}})
    # through the command line: exit code 2, nothing run
    code = main(["whatif", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert code == 2 and not (tmp_path / "out").exists()


def test_all_problems_of_a_variant_at_once(tmp_path):
    path = _write(tmp_path, {"base": _base(), "variants": {
        "bad": {"seed": "x", "mode": "boat", "speed_factor": 0}}})
    issues = scenario.load_scenario(path).variant("bad").issues
    assert sorted(i.field for i in issues) == ["mode", "seed", "speed_factor"]


def test_bad_base_stops_everything_with_exit_code_2(tmp_path, capsys):
    path = _write(tmp_path, {"base": _base(time_limit=-1, shift_hours=8), "varients": {}})
    with pytest.raises(InputError) as exc:
        scenario.load_scenario(path)
    msg = str(exc.value)
    assert "unknown top-level key" in msg and "varients" in msg
    assert "field 'time_limit' value '-1': must be > 0" in msg
    assert "team edits belong to variants" in msg
    assert main(["whatif", str(path), "--out", str(tmp_path / "out"), "-q"]) == 2
    assert "varients" in capsys.readouterr().err


def _team(raw: dict) -> edits.TeamEdits:
    """Team edits as a variant writes them."""
    return edits.TeamEdits.of({k: edits.TEAM_KEYS[k](v) for k, v in raw.items()})


def test_team_edits():
    cols = read_collectors(DATA / "collectors.csv")
    vals = {"add_collectors": {"count": 2, "like": "A1", "id_prefix": "X"},
            "extend_shift_hours": 1.5, "max_visits": 9}
    out = edits.edit_collectors(cols, _team(vals))
    assert [c.collector_id for c in out] == ["A1", "B1", "X01", "X02"]
    assert all(c.shift.end_s == 14 * H for c in out)  # 12:30 + 1.5 h
    assert out[2].start == cols[0].start and all(c.max_visits == 9 for c in out)
    assert [c.collector_id for c in edits.edit_collectors(
        cols, _team({"remove_collectors": {"count": 1}}))] == ["A1"]
    with pytest.raises(InputError, match="no such collector"):
        edits.edit_collectors(cols, _team({"remove_collectors": {"ids": ["Z9"]}}), file="s.yaml",
                              where="variant v")
    with pytest.raises(InputError, match="after midnight"):
        edits.edit_collectors(cols, _team({"shift_hours": 16.0}))


def test_toml_scenario_reads_like_yaml(tmp_path):
    (tmp_path / "s.toml").write_text(f"""
name = "t"
[base]
cases = "{DATA / 'cases.csv'}"
collectors = "{DATA / 'collectors.csv'}"
date = 2026-11-30
policy = "none"
[variants.more]
add_collectors = {{ count = 1, like = "A1" }}
shift_hours = 4
""", encoding="utf-8")
    sc = scenario.load_scenario(tmp_path / "s.toml")
    more = sc.variant("more")
    assert more.issues == ()
    assert more.values["shift_hours"] == 4.0 and more.values["date"] == date(2026, 11, 30)
    assert more.values["add_collectors"][0].like == "A1"


# --------------------------------------------------------------------------- a real run


CAPACITY = ("plus_one", "longer", "more_visits")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, cache_dir):
    """Run the fixture scenario once (with extra bad variants), as the CLI does."""
    tmp = tmp_path_factory.mktemp("whatif")
    data = yaml.safe_load((DATA / "scenario.yaml").read_text(encoding="utf-8"))
    data["base"].update(cases=str(DATA / "cases.csv"), collectors=str(DATA / "collectors.csv"),
                        cache_dir=str(cache_dir))
    # a value that only shows when the team is edited: the variant fails while running
    data["variants"]["bad_remove"] = {"remove_collectors": ["A1", "Z9"]}
    path = _write(tmp, data, "scenario.yaml")
    out = tmp / "out"
    code = main(["whatif", str(path), "--out", str(out), "--workers", "2", "-q"])
    return code, out, json.loads((out / "kpis.json").read_text(encoding="utf-8")), path


def _rows(kpis: dict) -> dict[str, dict]:
    return {r["variant"]: r for r in kpis["variants"]}


def test_run_reports_failures_and_still_plans_the_rest(small_run):
    code, out, kpis, _ = small_run
    rows = _rows(kpis)
    assert code == 1  # some variants failed, the report is written
    assert [r["variant"] for r in kpis["variants"]] == [
        "base", *CAPACITY, "again", "amount", "bad", "bad_remove"]
    assert rows["bad"]["status"] == "failed"
    assert "scenario.yaml (variant bad): field 'shift_hours' value 'long': is not a number" in (
        rows["bad"]["error"])
    assert "field 'colectors'" in rows["bad"]["error"]
    assert rows["bad_remove"]["status"] == "failed"
    assert "variant bad_remove" in rows["bad_remove"]["error"]
    assert "'Z9'" in rows["bad_remove"]["error"] and "no such collector" in rows[
        "bad_remove"]["error"]
    for name in ("base", *CAPACITY, "again", "amount"):
        assert rows[name]["status"] == "ok", rows[name]
        assert (out / name / "summary.json").is_file()
    assert not (out / "bad").exists()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Failed variants" in page and "is not a number" in page
    with (out / "kpis.csv").open(encoding="utf-8-sig") as f:
        csv_rows = {r["variant"]: r for r in csv.DictReader(f)}
    assert csv_rows["bad"]["status"] == "failed" and csv_rows["bad"]["value_visited"] == ""


def test_added_capacity_never_lowers_value(small_run):
    _, _, kpis, _ = small_run
    rows = _rows(kpis)
    base = rows["base"]
    assert base["cases_visited"] < base["cases_total"]  # the base cannot visit everything
    for name in CAPACITY:
        r = rows[name]
        assert r["capacity_only"] is True, r["not_capacity_only"]
        assert r["searches"] == 2  # its own search and one from the base plan
        assert r["started_from"] in ("base plan", "scratch")
        assert r["value_total"] == base["value_total"]
        assert r["value_visited"] >= base["value_visited"], name
    assert rows["plus_one"]["collectors"] == 3
    # the fixture is short of capacity: one collector more visits more
    assert rows["plus_one"]["value_visited"] > base["value_visited"]
    assert rows["plus_one"]["marginal_value_per_collector"] == pytest.approx(
        rows["plus_one"]["value_visited"] - base["value_visited"], abs=0.01)
    assert rows["amount"]["capacity_only"] is False and rows["amount"]["value_vs_base"] is None


def test_same_inputs_and_seed_give_the_same_numbers(small_run):
    _, _, kpis, _ = small_run
    rows = _rows(kpis)
    a, b = rows["base"], rows["again"]
    assert b["searches"] == 1 and b["routes_from"] == "solver"
    assert a["search_stop"] == b["search_stop"] == "solution limit"
    for key in ("cases_visited", "value_visited", "travel_s_total", "travel_m_total",
                "utilisation", "visited_by_dpd", "unassigned_by_reason", "objective"):
        assert a[key] == b[key], key


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], float] = {}
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        a = dict(attrs)
        if tag == "td" and a.get("data-kpi") and a.get("data-value") is not None:
            self.cells[(a["data-variant"], a["data-kpi"])] = float(a["data-value"])


def _bucket(dpd: int) -> str:
    return "1-30" if dpd <= 30 else "31-60" if dpd <= 60 else "61-90" if dpd <= 90 else "91+"


def test_report_numbers_match_each_variants_summary_json(small_run):
    _, out, kpis, _ = small_run
    page = _Cells()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    assert not {"script", "link", "img", "iframe"} & page.tags  # offline: nothing to fetch
    with (out / "kpis.csv").open(encoding="utf-8-sig") as f:
        csv_rows = {r["variant"]: r for r in csv.DictReader(f)}
    checked = 0
    for r in kpis["variants"]:
        if r["status"] != "ok":
            continue
        name = r["variant"]
        s = json.loads((out / r["plan_dir"] / "summary.json").read_text(encoding="utf-8"))
        with (out / r["plan_dir"] / "routes.csv").open(encoding="utf-8-sig") as f:
            stops = list(csv.DictReader(f))
        expect = {
            "cases_visited": s["cases_visited"],
            "value_visited": s["value_visited"],
            "value_total": s["value_total"],
            "value_share": s["value_share"],
            "travel_h": round(s["travel_s_total"] / 3600, 2),
            "travel_km": round(s["travel_m_total"] / 1000, 1),
            "utilisation_mean": s["utilisation_mean"],
            "utilisation_spread": s["utilisation_spread"],
            "collectors": s["collectors"],
            "routes": s["routes"],
            "cases_unassigned": s["cases_unassigned"],
        }
        for b in ("1-30", "31-60", "61-90", "91+"):
            expect[f"visited_dpd_{b}"] = sum(_bucket(int(x["days_past_due"])) == b for x in stops)
        for key, want in expect.items():
            assert page.cells[(name, key)] == pytest.approx(want, abs=0.011), (name, key)
            if key in csv_rows[name]:
                assert float(csv_rows[name][key]) == pytest.approx(want, abs=0.011), (name, key)
            if key in r:
                assert r[key] == pytest.approx(want, abs=0.011), (name, key)
        assert r["unassigned_by_reason"] == s["unassigned_by_reason"]
        assert r["travel_s_total"] == s["travel_s_total"]
        assert r["utilisation"] == {p["collector_id"]: p["utilisation"]
                                    for p in s["per_collector"]}
        checked += 1
    assert checked == 6


def test_every_variant_plan_passes_independent_resimulation(small_run, cache_dir):
    from optimizer.geo.network import load_network

    _, out, kpis, path = small_run
    sc = scenario.load_scenario(path)
    cases = read_cases(DATA / "cases.csv")
    base_cols = read_collectors(DATA / "collectors.csv")
    net = load_network(cache_dir=cache_dir)
    for r in kpis["variants"]:
        if r["status"] != "ok":
            continue
        v = sc.variant(r["variant"])
        cols = edits.edit_collectors(base_cols, v.team)
        st = v.settings
        assert st is not None
        errs = check_plan_outputs(out / r["plan_dir"], cases, cols, st.plan_date, st.policy,
                                  network=net)
        assert errs == [], (r["variant"], errs[:3])


def test_guard_keeps_the_base_routes_when_a_capacity_variant_comes_out_lower(small_run,
                                                                            tmp_path):
    _, _, _, path = small_run
    jobs, _ = runner.prepare_jobs(scenario.load_scenario(path), tmp_path)
    by = {j.name: j for j in jobs}
    base = runner.run_variant(by["base"])
    # pretend the base was worth more than anything the solver can find: the guard must fall
    # back to the base routes, re-verified in the variant's problem
    job = replace(by["longer"], initial=base.solution, base_value=base.value + 1e9,
                  start_from_base=False)
    res = runner.run_variant(job)
    assert res.row.solved.routes_from == "base plan (guard)"
    assert res.value == pytest.approx(base.value)
    assert res.row.kpis.cases_visited == base.row.kpis.cases_visited
    visited = {s.visit_id for r in res.solution.routes for s in r.stops}
    assert visited == {s.visit_id for r in base.solution.routes for s in r.stops}


@pytest.mark.browser
def test_report_opens_offline_in_a_real_browser(small_run, browser):
    _, out, kpis, _ = small_run
    outside: list[str] = []
    errors: list[str] = []
    page = browser.new_page()  # a page of the session's browser (tests/conftest.py)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto((out / "report.html").as_uri())
    assert page.locator("svg").count() >= 5
    base = next(r for r in kpis["variants"] if r["variant"] == "base")
    cell = page.locator('td[data-variant="base"][data-kpi="value_visited"]')
    assert cell.inner_text() == f"{base['value_visited']:,.0f}"
    assert page.locator("svg rect").count() > 10 and page.locator("svg circle").count() > 0
    assert page.get_by_text("Failed variants").is_visible()
    page.close()
    assert outside == [] and errors == []
