"""Planning a day by time of day through the command line (`--traffic`), on a hand-made road
network, checked by the independent re-simulation with the same profile (tests/plancheck.py).

The network (tests/data/ring_network.osm): a depot D and two places A and B on a triangle of
about 1 km a side. A primary ring road runs one way round D -> A -> B -> D (30 km/h: 2 minutes
a side), residential lanes the other way round D -> B -> A -> D (15 km/h: 4 minutes a side).
The profile (tests/data/traffic/ring_peak.csv) makes the ring road three times as slow on
working days from 17:00 to 20:00 (6 minutes a side), the lanes keep their pace.

Visiting A then B drives 3 sides of the ring: 6 minutes off-peak, 18 in the peak (each side's
lane detour, two lanes, takes 8). Visiting B then A drives 3 lanes: 12 minutes at any time. So
the morning plan goes A, B and the evening plan B, A.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from plancheck import check_plan_outputs

from optimizer.cli import main
from optimizer.geo import network as nw
from optimizer.geo import traffic as tr
from optimizer.io.inputs import read_cases, read_collectors
from optimizer.planning.rules import PRESETS

DATA = Path(__file__).parent / "data"
RING_OSM = DATA / "ring_network.osm"
PEAK = DATA / "traffic" / "ring_peak.csv"
WEDNESDAY = date(2026, 12, 2)


def plan(tmp_path: Path, cache_dir: Path, shift: str, traffic: str) -> tuple[Path, dict]:
    cases = tmp_path / "cases.csv"
    cases.write_text("case_id,lat,lon,amount_overdue,days_past_due\n"
                     "A,30.7000,104.0604,9000,30\n"
                     "B,30.7078,104.0552,9000,30\n", encoding="utf-8")
    team = tmp_path / "collectors.csv"
    team.write_text("collector_id,start_lat,start_lon,shift\n"
                    f"K01,30.7000,104.0500,{shift}\n", encoding="utf-8")
    out = tmp_path / f"plan-{shift.replace(':', '')}-{Path(traffic).stem}"
    assert main(["plan", "--cases", str(cases), "--collectors", str(team), "--osm",
                 str(RING_OSM), "--date", WEDNESDAY.isoformat(), "--policy", "none",
                 "--traffic", traffic, "--time-limit", "20", "--max-solutions", "50",
                 "--out", str(out), "--cache-dir", str(cache_dir), "--no-maps", "-q"]) == 0
    route = json.loads((out / "routes.json").read_text(encoding="utf-8"))["routes"][0]
    return out, route


def check(out: Path, tmp_path: Path, profile: tr.TrafficProfile | None) -> list[str]:
    return check_plan_outputs(out, read_cases(tmp_path / "cases.csv"),
                              read_collectors(tmp_path / "collectors.csv"), WEDNESDAY,
                              PRESETS["none"], network=nw.load_network(RING_OSM, use_cache=False),
                              traffic=profile)


def first_leg_min(route: dict) -> float:
    """Minutes from leaving the depot to arriving at the first stop."""
    def minutes(clock: str) -> float:
        h, m, s = (int(x) for x in clock.split(":"))
        return h * 60 + m + s / 60

    return minutes(route["stops"][0]["arrive"]) - minutes(route["leave"])


@pytest.mark.slow
def test_the_order_of_two_visits_flips_in_the_evening_peak(tmp_path, cache_dir):
    peak = tr.load_profile(PEAK)
    morning, route = plan(tmp_path, cache_dir, "08:00-12:00", str(PEAK))
    assert [s["case_id"] for s in route["stops"]] == ["A", "B"]
    assert first_leg_min(route) == pytest.approx(2, abs=0.1)
    assert check(morning, tmp_path, peak) == []
    evening, route = plan(tmp_path, cache_dir, "17:00-21:00", str(PEAK))
    assert [s["case_id"] for s in route["stops"]] == ["B", "A"]
    # the lane D -> B: 4 minutes, whatever the time
    assert first_leg_min(route) == pytest.approx(4, abs=0.1)
    assert check(evening, tmp_path, peak) == []
    # without the profile the evening keeps the morning's order, and its ETAs (2 minutes to A
    # on the ring road at 17:00) are caught by the check that knows the peak
    static, route = plan(tmp_path, cache_dir, "17:00-21:00", "none")
    assert [s["case_id"] for s in route["stops"]] == ["A", "B"]
    assert check(static, tmp_path, None) == []
    errs = check(static, tmp_path, peak)
    assert [e.split(":")[0] for e in errs] == ["A", "B", "route K01"]
    assert "A: arrives 17:01:59 but cannot be there before 17.099 h" in errs  # 17:06


def test_a_bad_profile_is_refused_before_any_work_with_every_problem(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["plan", "--traffic", str(DATA / "traffic" / "bad_rows.csv"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "--traffic" in err and "bad_rows.csv row 10" in err and "field 'factor'" in err
    assert "bad_rows.csv row 5" in err and "not an OSM highway class" in err
    assert "Traceback" not in err
