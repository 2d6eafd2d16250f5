#!/usr/bin/env python3
"""Measure the demo plan end to end: wall time cold and warm, step times, value share.

Each run is a separate `collector-routes plan` process (as a dispatcher runs it). A *cold* run
uses a fresh, empty cache folder (the OSM extract is parsed, the gazetteer built); a *warm* run
reuses it. Reports medians over ``--runs`` runs (the machine is shared and noisy).

    python scripts/bench_plan.py --runs 3 --time-limit 30

Options ``--solver-option KEY=VALUE`` are passed to the planner, e.g. to compare the default
solver with ``--solver-option warm_start=none --solver-option num_workers=1``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_plan(out: Path, cache: Path, args: argparse.Namespace) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "optimizer", "plan", "--date", args.date, "--time-limit",
           str(args.time_limit), "--out", str(out), "--cache-dir", str(cache), "-q"]
    if args.no_maps:
        cmd.append("--no-maps")
    for opt in args.solver_option:
        cmd += ["--solver-option", opt]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "summary.json").read_text())


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="cold+warm pairs (default 3)")
    p.add_argument("--time-limit", type=float, default=30.0, help="solver seconds (default 30)")
    p.add_argument("--date", default="2026-11-30", help="plan date (default 2026-11-30, Mon)")
    p.add_argument("--no-maps", action="store_true", help="skip writing maps")
    p.add_argument("--solver-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args()

    rows = {"cold": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.runs):
            cache = Path(tmp) / f"cache{r}"
            for kind in ("cold", "warm"):
                wall, summary = run_plan(Path(tmp) / f"out{r}{kind}", cache, args)
                rows[kind].append({"wall_s": wall, **summary["timings_s"],
                                   "value_share": summary["value_share"],
                                   "value_visited": summary["value_visited"],
                                   "cases_visited": summary["cases_visited"]})
                print(f"run {r + 1} {kind}: wall {wall:.1f} s, steps {summary['timings_s']}, "
                      f"value share {summary['value_share']:.1%}", flush=True)

    def med(kind: str, key: str) -> float:
        return statistics.median(x[key] for x in rows[kind])

    print(f"\nDemo plan, median of {args.runs} runs, time limit {args.time_limit:g} s, "
          f"options {args.solver_option or 'default'}")
    print("| | cold (empty cache) | warm (cached) |")
    print("|---|---|---|")
    for key, label in (("wall_s", "wall time, s"), ("geocode", "geocoding, s"),
                       ("network", "road network load + snap, s"), ("matrix", "travel matrix, s"),
                       ("solve", "solve, s"), ("explain", "explain + paths, s")):
        print(f"| {label} | {med('cold', key):.2f} | {med('warm', key):.2f} |")
    print(f"| value share visited | {med('cold', 'value_share'):.1%} | "
          f"{med('warm', 'value_share'):.1%} |")
    print(f"| cases visited | {med('cold', 'cases_visited'):.0f} | "
          f"{med('warm', 'cases_visited'):.0f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
