"""A large day in parts: the split by territories (hand-built), and a day planned in parts
through the command line, re-simulated by tests/plancheck.py and holding every case once."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from optimizer.model import Collector, Place, TimeWindow
from optimizer.planning.partition import split_day, territories

ROOT = Path(__file__).resolve().parents[1]
WHATIF = Path(__file__).parent / "data" / "whatif"
SHIFT = TimeWindow(9 * 3600, 17 * 3600)


def _collector(cid: str, lat: float, lon: float, *, districts: tuple[str, ...] = (),
               team: str = "") -> Collector:
    return Collector(collector_id=cid, start=Place(lat, lon), end=Place(lat, lon), shift=SHIFT,
                     team=team, districts=frozenset(districts))


def test_territories_follow_the_districts_collectors_cover():
    north = [_collector("N1", 41.3, -8.6, districts=("N",)),
             _collector("N2", 41.3, -8.6, districts=("N",))]
    south = [_collector("S1", 41.1, -8.6, districts=("S",))]
    starts = {c.collector_id: (c.start.lat, c.start.lon) for c in north + south}
    # six cases: C1 is in district S but lies in the north (the district rule decides); the
    # others have no district and go to the nearest part with room. Rooms: N has 2 of 3
    # collectors, ceil(6 x 2/3 x 1.05) = 5 cases; S ceil(6 x 1/3 x 1.05) = 3
    latlon = {"C1": (41.3, -8.6), "C2": (41.31, -8.6), "C3": (41.29, -8.6), "C4": (41.1, -8.6),
              "C5": (41.11, -8.6), "C6": (41.2, -8.6)}
    parts = split_day(list(latlon), latlon, [*north, *south], starts, max_cases=100,
                      case_district={"C1": "S"})
    by = {p.name: p for p in parts}
    assert set(by) == {"N", "S"}
    assert by["N"].collector_ids == ("N1", "N2") and by["S"].collector_ids == ("S1",)
    assert set(by["S"].case_ids) == {"C1", "C4", "C5"}
    assert set(by["N"].case_ids) == {"C2", "C3", "C6"}  # C6, half-way: S is full


def test_without_districts_start_places_split_a_territory_and_teams_stay_together():
    # two teams of two in the north and two single collectors in the south; 400 cases with at
    # most 200 a part: two areas, each team whole in one of them
    cs = [_collector("A", 41.3, -8.60, team="T1"), _collector("B", 41.3, -8.61, team="T1"),
          _collector("C", 41.31, -8.6, team="T2"), _collector("D", 41.31, -8.61, team="T2"),
          _collector("E", 41.1, -8.6), _collector("F", 41.1, -8.61)]
    starts = {c.collector_id: (c.start.lat, c.start.lon) for c in cs}
    groups = territories(cs, starts, n_cases=400, max_cases=200)
    members = sorted(tuple(sorted(c.collector_id for c in m)) for _, m in groups)
    assert members == [("A", "B", "C", "D"), ("E", "F")]


def test_every_case_lands_in_exactly_one_part_and_unlocated_ones_in_the_first():
    cs = [_collector("N1", 41.3, -8.6, districts=("N",)),
          _collector("S1", 41.1, -8.6, districts=("S",))]
    starts = {c.collector_id: (c.start.lat, c.start.lon) for c in cs}
    ids = [f"C{i}" for i in range(50)]
    latlon = {cid: (41.1 + 0.004 * i, -8.6) for i, cid in enumerate(ids) if i % 10}
    parts = split_day(ids, latlon, cs, starts, max_cases=10)
    got = [cid for p in parts for cid in p.case_ids]
    assert sorted(got) == sorted(ids)
    assert {"C0", "C10", "C20"} <= set(parts[0].case_ids)


def test_a_day_larger_than_the_part_limit_is_planned_in_parts(tmp_path, cache_dir):
    from plancheck import check_plan_outputs

    from optimizer.io.inputs import read_inputs
    from optimizer.planning import rules

    out = tmp_path / "plan"
    # 25 cases, 2 collectors, at most 12 cases a part: two areas, one collector each
    res = subprocess.run(
        [sys.executable, "-m", "optimizer", "-v", "plan", "--cases", str(WHATIF / "cases.csv"),
         "--collectors", str(WHATIF / "collectors.csv"), "--date", "2026-11-30", "--policy",
         "none", "--time-limit", "30", "--max-solutions", "100", "--max-part-cases", "12",
         "--no-maps", "-q", "--cache-dir", str(cache_dir), "--out", str(out)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "25 cases in 2 parts" in res.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["cases_total"] == 25 and summary["solver"]["search"].startswith("2 parts")
    with open(out / "routes.csv", encoding="utf-8-sig") as f:
        routed = [r["case_id"] for r in csv.DictReader(f)]
    with open(out / "unassigned.csv", encoding="utf-8-sig") as f:
        left = [r["case_id"] for r in csv.DictReader(f)]
    assert len(routed) + len(left) == 25 == len(set(routed) | set(left)) and routed
    cases, collectors = read_inputs(WHATIF / "cases.csv", WHATIF / "collectors.csv")
    errs = check_plan_outputs(out, cases, collectors, date(2026, 11, 30), rules.PRESETS["none"])
    assert errs == [], errs[:3]
    # the border step planned the two parts' routes again together, guarded by their value
    assert "border groups: border area-1/area-2" in res.stderr
    assert "1 border group(s)" in summary["solver"]["search"]
    alone = tmp_path / "no-borders"
    res = subprocess.run(
        [sys.executable, "-m", "optimizer", "plan", "--cases", str(WHATIF / "cases.csv"),
         "--collectors", str(WHATIF / "collectors.csv"), "--date", "2026-11-30", "--policy",
         "none", "--time-limit", "30", "--max-solutions", "100", "--max-part-cases", "12",
         "--border-routes", "0", "--no-maps", "-q", "--cache-dir", str(cache_dir), "--out",
         str(alone)], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    parts_only = json.loads((alone / "summary.json").read_text(encoding="utf-8"))
    assert "border" not in parts_only["solver"]["search"]
    assert summary["value_visited"] >= parts_only["value_visited"] - 1e-6


def test_border_groups_pair_the_nearest_parts_and_take_the_routes_facing_each_other():
    from optimizer.planning.partition import FreeCase, PlacedRoute, border_groups

    # parts 0 and 1 side by side on a line of longitude, part 2 far east; 3 routes each
    routes = [PlacedRoute(p, (f"c{p}{i}",), (f"k{p}{i}",), (0.0, x))
              for p, xs in enumerate(([0.0, 0.1, 0.2], [0.3, 0.4, 0.5], [5.0, 5.1, 5.2]))
              for i, x in enumerate(xs)]
    free = [FreeCase(0, "f-near", (0.0, 0.26)), FreeCase(1, "f-far", (0.0, 0.9)),
            FreeCase(2, "f-other", (0.0, 0.25))]
    groups = border_groups(["a", "b", "c"], routes, free, max_routes=1, max_cases=3)
    assert len(groups) == 1  # part 2 has no partner left: each part in at most one group
    g = groups[0]
    assert g.name == "border a/b"
    assert g.collector_ids == ("c02", "c10")  # the route of each part nearest the other part
    assert g.case_ids == ("k02", "k10", "f-near")  # stops, then free cases by distance, capped
    assert border_groups(["a"], routes[:3], [], max_routes=2, max_cases=10) == ()
    # of the nearest free cases (POOL times the room), the most valuable go in
    valued = [FreeCase(0, "cheap-near", (0.0, 0.26), 10.0), FreeCase(1, "dear-far", (0.0, 0.9),
                                                                      5000.0)]
    g = border_groups(["a", "b", "c"], routes, valued, max_routes=1, max_cases=3)[0]
    assert g.case_ids == ("k02", "k10", "dear-far")
