"""Travel by time of day on the bundled demo: how far the ETAs move and what the plan is worth.

Plans the demo day (bundled cases, collectors and Chengdu roads, the China policy, the command
line's defaults otherwise) with ``--traffic none`` and ``--traffic default``, each `--runs`
times with a solution limit (so the runs do not depend on the machine's speed), and prints

- per band of the profile, how much longer the demo's trips take than on the network's own
  times (mean and median of the ratio over every pair of places);
- per traffic setting, the median over the runs of the value visited, the visits, the travel,
  the wall time, and whether the runs gave the same routes;
- the share of the visits in both plans whose ETA (arrival) moves by more than
  `--threshold-min` between the two (the runs of the median value);
- the static plan driven with the profile (its own routes, leaving when it leaves): the share
  of its visits that arrive more than `--threshold-min` later than its ETA says, and how many
  of its visits the time-dependent check (`optimizer.routing.verify`) then finds outside
  their windows or shifts.

Every plan passed the independent re-simulation of the pipeline (`plan.search` verifies).

Example
-------
    python scripts/bench_traffic.py --runs 3 --max-solutions 60 --time-limit 60
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer import model  # noqa: E402
from optimizer import plan as pl  # noqa: E402
from optimizer.geo import network as nw  # noqa: E402
from optimizer.io.inputs import read_inputs  # noqa: E402
from optimizer.routing import schedule, timedep, verify  # noqa: E402
from optimizer.settings import load_settings  # noqa: E402


def _band_ratios(planned: pl.Planned) -> list[tuple[str, float, float]]:
    """Per band: its start (HH:MM), mean and median of band time / own time over all pairs."""
    problem = planned.built.problem
    tb = problem.traffic
    assert tb is not None
    base = np.asarray(problem.duration_s, dtype=float)
    ok = np.isfinite(base) & (base > 0)
    out = []
    for start, dur in zip(tb.start_s, tb.duration_s, strict=True):
        r = np.asarray(dur, dtype=float)[ok] / base[ok]
        out.append((model.hhmm(start), float(r.mean()), float(np.median(r))))
    return out


def _etas(planned: pl.Planned) -> dict[str, float]:
    """case id -> arrival, seconds since midnight."""
    return {s.case.case_id: s.arrive_s for r in planned.plan.routes for s in r.stops}


def _driven_with(problem: model.Problem, solution: model.Solution
                 ) -> tuple[model.Solution, list[str]]:
    """`solution`'s routes (same order, same departure, same break legs) driven on `problem`'s
    travel, and what the check finds wrong with them."""
    veh = {v.vehicle_id: k for k, v in enumerate(problem.vehicles)}
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    routes = []
    for r in solution.routes:
        k = veh[r.vehicle_id]
        legs = timedep._break_legs(r, problem.vehicles[k].breaks) if r.stops else []
        routes.append(schedule.simulate_route(problem, k, [index[s.visit_id] for s in r.stops],
                                              leave_s=r.leave_s, breaks=legs))
    driven = model.Solution(tuple(routes), solution.dropped)
    return driven, verify.check_solution(problem, driven)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--date", default="2026-11-30", help="plan date (default a Monday)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-solutions", type=int, default=60)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--threshold-min", type=float, default=10.0)
    args = ap.parse_args(argv)
    cases, collectors = read_inputs()
    network = nw.load_network()
    runs: dict[str, list[pl.Planned]] = {}
    walls: dict[str, list[float]] = {}
    for traffic in ("none", "default"):
        settings = load_settings({"date": args.date, "traffic": traffic,
                                  "max_solutions": args.max_solutions,
                                  "time_limit": args.time_limit})
        for _ in range(args.runs):
            t0 = time.perf_counter()
            planned = pl.solve_day(cases, collectors, settings, network=network)
            walls.setdefault(traffic, []).append(time.perf_counter() - t0)
            runs.setdefault(traffic, []).append(planned)

    print(f"demo {args.date}, {args.runs} run(s) each, --max-solutions {args.max_solutions}, "
          f"--time-limit {args.time_limit:g}\n")
    print("| band from | mean trip / own time | median |")
    print("|---|---|---|")
    for start, mean, median in _band_ratios(runs["default"][0]):
        print(f"| {start} | {mean:.3f} | {median:.3f} |")
    print("\n| --traffic | value visited: median (runs) | visits | travel h | wall s | "
          "runs agree |")
    print("|---|---|---|---|---|---|")
    for traffic, planned in runs.items():
        s = [p.plan.summary for p in planned]
        same = len({tuple((r.collector.collector_id, tuple(x.case.case_id for x in r.stops))
                          for r in p.plan.routes) for p in planned}) == 1
        values = sorted(x.value_visited for x in s)
        print(f"| {traffic} | {statistics.median(values):,.0f} "
              f"({', '.join(f'{v:,.0f}' for v in values)}) | "
              f"{statistics.median(x.cases_visited for x in s):g} | "
              f"{statistics.median(x.travel_s_total for x in s) / 3600:.2f} | "
              f"{statistics.median(walls[traffic]):.1f} | {'yes' if same else 'no'} |")
    limit = args.threshold_min * 60
    def median_run(planned: list[pl.Planned]) -> pl.Planned:
        """The run of the median value (the lower one of an even count)."""
        ranked = sorted(planned, key=lambda p: p.plan.summary.value_visited)
        return ranked[(len(ranked) - 1) // 2]

    none_p, default_p = median_run(runs["none"]), median_run(runs["default"])
    a, b = _etas(none_p), _etas(default_p)
    both = sorted(set(a) & set(b))
    moved = [c for c in both if abs(a[c] - b[c]) > limit]
    print(f"\nvisits in both plans: {len(both)} (only without traffic {len(set(a) - set(b))}, "
          f"only with it {len(set(b) - set(a))}); ETA moved by more than "
          f"{args.threshold_min:g} min: {len(moved)} = {len(moved) / max(1, len(both)):.1%}; "
          f"median move {statistics.median(abs(a[c] - b[c]) for c in both) / 60:.1f} min")
    driven, errors = _driven_with(default_p.built.problem, none_p.solution)
    planned_at = {s.visit_id: s.arrive_s for r in none_p.solution.routes for s in r.stops}
    real = {s.visit_id: s.arrive_s for r in driven.routes for s in r.stops}
    late = [v for v in planned_at if real[v] - planned_at[v] > limit]
    print(f"the plan made without traffic, driven with the default profile: "
          f"{len(late)} of {len(planned_at)} visits ({len(late) / max(1, len(planned_at)):.1%})"
          f" arrive more than {args.threshold_min:g} min after their ETA; median lateness "
          f"{statistics.median(real[v] - planned_at[v] for v in planned_at) / 60:.1f} min, "
          f"max {max(real[v] - planned_at[v] for v in planned_at) / 60:.1f} min; the "
          f"time-dependent check finds {len(errors)} problem(s)"
          + (f", e.g. {errors[0]}" if errors else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
