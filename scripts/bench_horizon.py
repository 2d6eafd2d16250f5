#!/usr/bin/env python3
"""Measure what a multi-day plan is worth on the demo: the week against simpler ways to plan it.

Three ways to plan ``--days`` days from ``--date`` (China preset, the same solver time per
day, so the same total solver time):

- ``week``: `optimizer.horizon` as ``plan --days`` runs it (days in sequence, a case once in
  the horizon, the urgency of a case that loses value by waiting; ``--urgency`` weight);
- ``sequence``: five one-day plans made in sequence, each planned alone from what the
  previous days left (the same, urgency 0);
- ``repeat``: the one-day plan repeated, each day planned alone from the whole case list with
  no memory of the other days (what running ``plan`` every morning on the same export gives).
  Its value counts a case's first visit only; its later visits are counted as wasted, and those
  inside the policy's cooldown as broken rules.

Value = the sum of each visit's expected recovery on its own day (days past due grown).

    python scripts/bench_horizon.py --date 2026-11-30 --days 5 --time-limit 10
    python scripts/bench_horizon.py --date 2026-12-02 --days 5 --time-limit 120 --max-solutions 60
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optimizer.geo import geocode as gc  # noqa: E402
from optimizer.geo import network as nw  # noqa: E402
from optimizer.horizon import day_cases, horizon_dates, plan_days  # noqa: E402
from optimizer.io.inputs import read_inputs  # noqa: E402
from optimizer.plan import solve_day  # noqa: E402
from optimizer.settings import HorizonSettings, option_defaults  # noqa: E402


def _weekend_only(case) -> bool:
    return bool(case.availability) and all(w.weekdays <= {5, 6} for w in case.availability)


def _report(name: str, plans, cases, wall_s: float, cooldown_days: int) -> dict:
    """The week's figures of one variant's day plans."""
    first: dict[str, date] = {}
    value = 0.0
    wasted = 0
    broken = 0
    per_day = []
    for plan in plans:
        day_value = 0.0
        for r in plan.routes:
            for s in r.stops:
                cid = s.case.case_id
                if cid in first:
                    wasted += 1
                    broken += (plan.plan_date - first[cid]).days < cooldown_days
                    continue
                first[cid] = plan.plan_date
                day_value += s.value
        value += day_value
        per_day.append({"date": plan.plan_date.isoformat(), "value": round(day_value),
                        "visits": sum(len(r.stops) for r in plan.routes)})
    by_id = {c.case_id: c for c in cases}
    weekend = [cid for cid in first if _weekend_only(by_id[cid])]
    return {"variant": name, "value": round(value), "cases_visited": len(first),
            "visits": sum(p["visits"] for p in per_day), "wasted_visits": wasted,
            "visits_inside_cooldown": broken, "weekend_only_cases_visited": len(weekend),
            "per_day": per_day, "wall_s": round(wall_s, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--date", default="2026-11-30", help="first day (default 2026-11-30, Mon)")
    p.add_argument("--days", type=int, default=5)
    p.add_argument("--time-limit", type=float, default=10.0, help="solver seconds per day")
    p.add_argument("--max-solutions", type=int, default=None,
                   help="stop each day's search after this many improving solutions (the "
                        "same budget for every variant on a loaded machine; the time limit "
                        "stays a cap)")
    p.add_argument("--urgency", type=float, default=1.0, help="urgency weight of `week`")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args()

    cases, collectors = read_inputs(None, None)
    base = option_defaults()
    base = replace(base, plan_date=date.fromisoformat(args.date), cache_dir=args.cache_dir,
                   solver=replace(base.solver, time_limit_s=args.time_limit,
                                  max_solutions=args.max_solutions))
    geocoder = gc.make_geocoder("offline", cache_dir=args.cache_dir)
    network = nw.load_network(cache_dir=args.cache_dir)

    def one(cases_d, settings_d, context, steering, progress):
        return solve_day(cases_d, collectors, settings_d, geocoder=geocoder, network=network,
                         context=context)

    results = []
    for name, weight in (("week", args.urgency), ("sequence", 0.0)):
        st = replace(base, horizon=HorizonSettings(days=args.days, urgency_weight=weight))
        t0 = time.perf_counter()
        plan = plan_days(cases, collectors, st, one)
        results.append(_report(name, [d.plan for d in plan.days], cases,
                               time.perf_counter() - t0, base.policy.cooldown_days))
        print(json.dumps(results[-1]), flush=True)
    t0 = time.perf_counter()
    dates = horizon_dates(base.plan_date, args.days)
    repeat = []
    for day in dates:
        planned = one(day_cases(cases, day, dates[0], {}), replace(base, plan_date=day), None,
                      None, None)
        repeat.append(planned.plan)
    results.append(_report("repeat", repeat, cases, time.perf_counter() - t0,
                           base.policy.cooldown_days))
    print(json.dumps(results[-1]), flush=True)
    ref = results[0]["value"]
    print(f"\n{'variant':<10} {'value':>12} {'vs week':>8} {'cases':>6} {'visits':>6} "
          f"{'wasted':>6} {'in cooldown':>11} {'weekend-only':>12}")
    for r in results:
        print(f"{r['variant']:<10} {r['value']:>12,} {(r['value'] - ref) / ref:>+8.2%} "
              f"{r['cases_visited']:>6} {r['visits']:>6} {r['wasted_visits']:>6} "
              f"{r['visits_inside_cooldown']:>11} {r['weekend_only_cases_visited']:>12}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
