#!/usr/bin/env python3
"""What each collection rule costs on the demo: plan with the China preset, then without each rule.

Geocoding, network and matrices are computed once and shared; every variant is solved with the
same time limit and seed. Prints visited/unvisited counts by reason code for the full preset, and
per rule the value visited without it and the value the rule costs (without - with).

Relaxing a rule only adds options, so each relaxed variant is solved starting from the full
preset's plan (when the crews are the same): its value is then never below the full preset's,
and the difference is what the rule costs rather than search noise.

    python scripts/rule_costs.py --time-limit 20
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.io.inputs import read_inputs  # noqa: E402
from optimizer.outputs.tables import summary_json  # noqa: E402
from optimizer.plan import Initial, locate, solve_located  # noqa: E402
from optimizer.planning import rules  # noqa: E402
from optimizer.routing.params import SolveSettings  # noqa: E402
from optimizer.settings import PlanSettings  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--time-limit", type=float, default=20.0)
    p.add_argument("--date", default="2026-11-30")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    cases, collectors = read_inputs()
    china = rules.PRESETS["china"]
    base = PlanSettings(plan_date=date.fromisoformat(args.date), policy=china,
                        solver=SolveSettings(time_limit_s=args.time_limit, seed=args.seed))
    variants = {
        "China preset (all rules)": china,
        "without legal contact hours": replace(china, contact_start_s=None, contact_end_s=None),
        "without two collectors per visit": replace(china, min_team_size=1),
        "without lunch break": replace(china, lunch_s=0),
        "without 10 h working-time limit": replace(china, max_work_s=None),
        "without cooldown": replace(china, cooldown_days=0),
        "without open-promise rule": replace(china, respect_promises=False),
        "without continuity cost": replace(china, preferred_cost=0.0),
    }
    no_skill_cases = tuple(replace(c, skill="") for c in cases)
    results = {}
    full_solution = None
    full_key: tuple = ()
    loc_cache: dict[tuple, object] = {}
    for name, pol in [*variants.items(), ("without skills", china)]:
        st = replace(base, policy=pol)
        these = no_skill_cases if name == "without skills" else cases
        crews = rules.form_crews(collectors, pol, plan_date=st.plan_date)
        key = tuple(c.crew_id for c in crews)
        if key not in loc_cache:  # geocoding/matrices depend only on the crews' places
            loc_cache[key] = locate(these, crews, st)
        same_crews = full_solution is not None and key == full_key
        day = solve_located(these, loc_cache[key], st, initial=Initial(
            full_solution, search="only") if full_solution and same_crews else None)
        if full_solution is None:
            full_solution, full_key = day.solution, key
        results[name] = summary_json(day.plan.summary)
        print(f"{name}: visited {results[name]['cases_visited']}, value "
              f"{results[name]['value_visited']:,.0f}", flush=True)

    full = results["China preset (all rules)"]
    print("\nDemo, China preset: visited", full["cases_visited"], "of", full["cases_total"])
    print("| reason code | cases |")
    print("|---|---|")
    for code, n in full["unassigned_by_reason"].items():
        print(f"| {code} | {n} |")
    print(f"\n| plan (time limit {args.time_limit:g} s) | cases visited | value visited | "
          "value the rule costs |")
    print("|---|---|---|---|")
    for name, s in results.items():
        cost = s["value_visited"] - full["value_visited"]
        print(f"| {name} | {s['cases_visited']} | {s['value_visited']:,.0f} | "
              f"{'' if s is full else f'{cost:,.0f}'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
