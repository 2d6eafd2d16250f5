"""Value of the bundled demo plan: the current solver default vs the previous one, same budget.

Builds the demo day's solver problem exactly as ``collector-routes plan`` does (bundled cases,
collectors and Chengdu roads; policy preset per ``--policy``), then solves it with

- ``previous``: one cold OR-Tools guided local search (the solver's first default), and
- ``default``: the current default (portfolio over 2 processes: VROOM + OR-Tools, PyVRP +
  OR-Tools when the problem has no breaks, else a cold OR-Tools search),

each with the same time limit, and prints the value visited, visits, travel and the objective.
Every plan is re-checked with `optimizer.routing.verify.check_solution`.

Example
-------
    python scripts/bench_solver_demo.py --policy none,china --time-limit 30
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer import plan as pl  # noqa: E402
from optimizer.io.inputs import read_inputs  # noqa: E402
from optimizer.planning import rules  # noqa: E402
from optimizer.planning.build import build_problem  # noqa: E402
from optimizer.routing import verify  # noqa: E402
from optimizer.routing.params import SolveSettings  # noqa: E402
from optimizer.routing.solve import solve  # noqa: E402
from optimizer.settings import PlanSettings  # noqa: E402

CONFIGS = {
    "previous": {"num_workers": 1, "warm_start": "none"},
    "default": {},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policy", default="none,china", help="comma list of policy presets")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--date",
        type=date.fromisoformat,
        default=date(2026, 11, 30),
        help="plan date (default 2026-11-30, a Monday)",
    )
    ap.add_argument("--configs", default="previous,default")
    args = ap.parse_args(argv)
    cases, collectors = read_inputs()
    print("| policy | solver | value visited | visits | travel h | objective | verified | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for pol in args.policy.split(","):
        settings = PlanSettings(plan_date=args.date, policy=rules.policy_preset(pol))
        crews = rules.form_crews(collectors, settings.policy, plan_date=settings.plan_date)
        loc = pl.locate(cases, crews, settings)
        problem = build_problem(cases, loc, plan_date=settings.plan_date, policy=settings.policy,
                                weighting=settings.weighting,
                                travel_cost_per_h=settings.travel_cost_per_h).problem
        for name in args.configs.split(","):
            t0 = time.monotonic()
            sol = solve(
                problem,
                SolveSettings(time_limit_s=args.time_limit, seed=args.seed, **CONFIGS[name]),
            )
            wall = time.monotonic() - t0
            cost = verify.route_cost(problem, sol)
            ok = not verify.check_solution(problem, sol)
            print(
                f"| {pol} | {name} ({sol.solver}) | {cost['value_visited']:,.0f} | "
                f"{sum(len(r.stops) for r in sol.routes)} of {len(problem.visits)} | "
                f"{cost['travel_s'] / 3600:.1f} | {sol.objective:,.0f} | {ok} | {wall:.1f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
