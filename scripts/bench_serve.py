#!/usr/bin/env python3
"""Measure `collector-routes serve` under concurrent clients: p50/p99 latency of N requests.

A real server (`python -m optimizer serve DIR --port 0`, its own process) on 127.0.0.1, and
``--threads`` client threads in this process that share ``--requests`` GET requests of the
collector pages (a new connection per request, as a phone opening its link). Loopback only, a
bounded number of requests. Reports the latency median, p90, p99 and maximum, and the throughput.

    python scripts/bench_serve.py --requests 2000 --threads 50 --runs 3

Without ``--dir`` a small plan (tests/data/whatif: 25 cases, 2 collectors) is made first in a
temporary folder.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "data" / "whatif"


def make_plan(out: Path, cache: Path) -> None:
    cmd = [sys.executable, "-m", "optimizer", "plan", "--cases", str(SMALL / "cases.csv"),
           "--collectors", str(SMALL / "collectors.csv"), "--date", "2026-11-30",
           "--policy", "none", "--time-limit", "2", "--max-solutions", "50",
           "--out", str(out), "--cache-dir", str(cache), "-q"]
    subprocess.run(cmd, check=True, cwd=ROOT)


def start_server(plan_dir: Path) -> tuple[subprocess.Popen, list[str]]:
    """The server process and the page URLs it printed (overview first)."""
    import queue

    proc = subprocess.Popen(
        [sys.executable, "-m", "optimizer", "serve", str(plan_dir), "--host", "127.0.0.1",
         "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    urls: list[str] = []
    timeout = 60.0  # start-up; then the links come in one write: stop when it stays quiet
    while True:
        try:
            parts = lines.get(timeout=timeout).split()
        except queue.Empty:
            break
        if parts and parts[-1].startswith("http://127.0.0.1:"):
            urls.append(parts[-1])
            timeout = 1.0
    if not urls:
        proc.kill()
        raise SystemExit("the server printed no links: " + proc.stderr.read())
    return proc, urls


def run(urls: list[str], *, requests: int, threads: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    per = [requests // threads + (1 if i < requests % threads else 0) for i in range(threads)]
    start = threading.Barrier(threads + 1)

    def client(i: int) -> None:
        mine: list[float] = []
        bad: list[str] = []
        start.wait()
        for k in range(per[i]):
            url = urls[(i + k) % len(urls)]
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=60) as resp:
                    resp.read()
                    if resp.status != 200:
                        bad.append(str(resp.status))
            except OSError as exc:
                bad.append(type(exc).__name__)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)
            errors.extend(bad)

    pool = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"requests": len(latencies), "threads": threads, "errors": len(errors),
            "p50_ms": round(q[49] * 1000, 1), "p90_ms": round(q[89] * 1000, 1),
            "p99_ms": round(q[98] * 1000, 1), "max_ms": round(max(latencies) * 1000, 1),
            "requests_per_s": round(len(latencies) / wall, 1), "wall_s": round(wall, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=None, help="a plan folder to serve (default: "
                   "make a small plan in a temporary folder)")
    p.add_argument("--requests", type=int, default=2000, help="requests per run (default 2000)")
    p.add_argument("--threads", type=int, default=50, help="client threads (default 50)")
    p.add_argument("--runs", type=int, default=3, help="runs; medians reported (default 3)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args()
    if not (1 <= args.threads <= 500 and 1 <= args.requests <= 100_000 and 1 <= args.runs <= 20):
        p.error("keep --threads 1..500, --requests 1..100000, --runs 1..20")

    with tempfile.TemporaryDirectory() as tmp:
        plan_dir = args.dir
        if plan_dir is None:
            plan_dir = Path(tmp) / "plan"
            make_plan(plan_dir, Path(tmp) / "cache")
        proc, urls = start_server(plan_dir)
        try:
            pages = urls[1:] or urls  # the collector pages (the overview once is enough)
            run(pages, requests=min(50, args.requests), threads=min(5, args.threads))  # warm-up
            results = [run(pages, requests=args.requests, threads=args.threads)
                       for _ in range(args.runs)]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    keys = ("p50_ms", "p90_ms", "p99_ms", "max_ms", "requests_per_s")
    median = {k: statistics.median(r[k] for r in results) for k in keys}
    for i, r in enumerate(results, 1):
        print(f"run {i}: " + ", ".join(f"{k} {r[k]}" for k in (*keys, "errors")))
    print(f"median of {len(results)} runs ({args.requests} requests, {args.threads} threads): "
          + ", ".join(f"{k} {v}" for k, v in median.items()))
    if args.json:
        args.json.write_text(json.dumps({"runs": results, "median": median}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
