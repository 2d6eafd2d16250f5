"""Benchmark readers: Solomon VRPTW and TOPTW files into `model.Problem`, best-known tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import instances as bm
from optimizer.routing.params import SolveSettings
from optimizer.routing.solve import solve
from optimizer.routing.verify import check_solution

DATA = Path(__file__).parent / "data" / "bench"


def test_read_solomon_c101():
    inst = bm.read_solomon(DATA / "solomon" / "C101.txt")
    p = inst.problem
    assert inst.name == "C101" and inst.objective == "distance"
    assert len(p.visits) == 100 and len(p.vehicles) == 25
    assert {v.capacity for v in p.vehicles} == {200}
    assert p.vehicles[0].shift.start_s == 0 and p.vehicles[0].shift.end_s == 1236
    # customer 1: 45 68 demand 10, window 912-967, service 90
    c1 = p.visits[0]
    assert (c1.visit_id, c1.demand, c1.service_s) == ("1", 10, 90)
    assert (c1.windows[0].start_s, c1.windows[0].end_s) == (912, 967)
    assert all(v.required for v in p.visits)
    # full-precision Euclidean: depot (40, 50) -> customer 1 (45, 68)
    assert p.distance_m[0, 1] == pytest.approx(math.hypot(5, 18), abs=1e-12)
    assert np.array_equal(p.duration_s, p.distance_m)


def test_read_toptw_truncates_to_one_decimal():
    inst = bm.read_toptw(DATA / "toptw" / "c101.txt", vehicles=2)
    p = inst.problem
    assert inst.name == "c101" and inst.objective == "score"
    assert len(p.visits) == 100 and len(p.vehicles) == 2
    assert p.vehicles[0].shift.end_s == 1236
    assert not any(v.required for v in p.visits)
    # vertex 1: 45 68, service 90, score 10, window 912-967
    v1 = p.visits[0]
    assert (v1.value, v1.service_s) == (10, 90)
    assert (v1.windows[0].start_s, v1.windows[0].end_s) == (912, 967)
    assert p.duration_s[0, 1] == pytest.approx(18.6)  # hypot(5, 18) = 18.68 -> 18.6


def test_read_toptw_split_header():
    inst = bm.read_toptw(DATA / "toptw" / "c204.txt", vehicles=1)
    assert len(inst.problem.visits) == 100
    assert inst.problem.vehicles[0].shift.end_s == 3390


def test_best_known_tables():
    bks = bm.load_bks(DATA / "solomon_bks.csv")
    assert bks == {"C101": 828.94, "R201": 1149.68}
    opt = bm.load_toptw_optima(DATA / "toptw" / "toptw_m1_optima.csv")
    assert opt == {("c101", 1): 320.0, ("r101", 1): 198.0}  # r104 has no proven optimum


def test_broken_files_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(
        "X\n\nVEHICLE\nNUMBER CAPACITY\n 25 200\n\nCUSTOMER\nCUST NO.\n 0 40 50 0 0 1236\n"
    )
    with pytest.raises(bm.InstanceError, match=r"bad.txt line 9: expected 7 fields"):
        bm.read_solomon(bad)
    bad.write_text("4 10 100 1\n0 200\n  0 40.00 50.00 0.00 0.00 0 0 0 x\n")
    with pytest.raises(bm.InstanceError, match=r"bad.txt line 3"):
        bm.read_toptw(bad)
    bad.write_text("hello\n")
    with pytest.raises(bm.InstanceError, match="no vertex 0"):
        bm.read_toptw(bad)


def test_toptw_solution_verifies_and_is_scored():
    # one cold search, one second: the plan is valid and its score within the proven optimum
    inst = bm.read_toptw(DATA / "toptw" / "r101.txt", vehicles=1)
    s = inst.settings(time_limit_s=1, num_workers=1, warm_start="none", max_solutions=2000)
    assert isinstance(s, SolveSettings) and s.time_ticks_per_s == 10
    sol = solve(inst.problem, s)
    assert check_solution(inst.problem, sol) == []
    score = inst.value(sol)
    assert 0 < score <= 198.0


def test_harness_summary_against_best_found(tmp_path):
    """The harness's comparison where no best-known exists (TOPTW m >= 2): gaps to the best
    value any solver found, and how often ours is at least PyVRP's; also from results.csv."""
    import argparse
    import csv
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_vrptw", Path(__file__).parents[1] / "scripts" / "bench_vrptw.py"
    )
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    rows = []
    for inst, values in (("c101", (100, 90, 80)), ("c102", (95, 100, 100))):
        for solver, v in zip(("ours", "pyvrp", "vroom"), values, strict=True):
            rows.append({"suite": "toptw", "instance": inst, "family": "C1", "m": 2,
                         "solver": solver, "value": float(v), "best_known": "", "gap_pct": "",
                         "valid": True, "violations": 0, "note": "", "routes": 2, "dropped": 0,
                         "wall_s": 1.0, "winner": solver})  # fmt: skip
    args = argparse.Namespace(suite="toptw", time_limit=10.0, seed=0)
    md = harness.summary_markdown(rows, ["ours", "pyvrp", "vroom"], args)
    # c101: best 100 (ours); c102: best 100, ours 5 % below
    row = "| C1 m=2 | 2 | 2.50 % / 5.00 % | 5.00 % / 10.00 % | 10.00 % / 20.00 % | 1 of 2 | 1 |"
    assert row in md
    assert "ours >= pyvrp on 1 of 2 instance runs" in md
    out = tmp_path / "run"
    out.mkdir()
    with open(out / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert harness.main(["--summarize", str(out), "--time-limit", "10"]) == 0
    assert (out / "summary.md").read_text() == md
