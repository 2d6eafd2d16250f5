"""The demo plan's wall time and value: the default budget (sized by the day, stall rule on)
against fixed time limits run to the end (the behaviour before: ``--stall-share none``).

Runs ``collector-routes plan`` on the bundled demo (China preset unless ``--policy``) as a
separate process per run, reads each plan's ``summary.json`` and prints, per configuration, the
median over ``--runs`` of the whole command's wall time, the solve step's time and the value
visited (and its range). The machine is shared: compare medians.

Example
-------
    python scripts/bench_budget.py --runs 3 --limits 10,30,120
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_plan(extra: list[str], *, policy: str, out: Path) -> tuple[float, float, float]:
    """(wall s, solve s, value visited) of one ``plan`` run."""
    cmd = [sys.executable, "-m", "optimizer", "plan", "--date", "2026-11-30", "--policy", policy,
           "--no-maps", "-q", "--out", str(out), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return wall, float(summary["timings_s"]["solve"]), float(summary["value_visited"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--limits", default="10,30,120", help="fixed time limits, seconds")
    ap.add_argument("--policy", default="china")
    args = ap.parse_args(argv)
    configs: list[tuple[str, list[str]]] = [("default (sized, stall 0.5)", [])]
    configs += [(f"--time-limit {x} --stall-share none", ["--time-limit", x, "--stall-share",
                                                         "none"])
                for x in args.limits.split(",")]
    print(f"demo, policy {args.policy}, median of {args.runs}")
    print("| configuration | wall s | solve s | value visited (min-max) |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in configs:
            runs = [run_plan(extra, policy=args.policy, out=Path(tmp) / f"p{i}")
                    for i in range(args.runs)]
            walls, solves, values = zip(*runs, strict=True)
            print(f"| {name} | {statistics.median(walls):.1f} | {statistics.median(solves):.1f} | "
                  f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f}) |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
