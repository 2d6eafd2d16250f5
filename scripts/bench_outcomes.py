#!/usr/bin/env python3
"""Measure outcome POSTs to the web application: p50/p99 latency under concurrent phones.

A real server (``python -m optimizer serve DIR --store URL --port 0``, its own process) on
127.0.0.1 over a plan of ``--clients`` routes of 5 stops each, recorded in the store; one client
thread per collector, each posting its share of ``--requests`` outcomes to its own token's
``/api/outcomes`` (a new connection per request, as a phone on a weak network), each with a new
idempotency key: every POST is a committed transaction. Then the same posts again (retries of
recorded keys: the idempotent path). Reports per run the median, p90, p99 and maximum latency and
the throughput, and the median over the runs. Loopback only; a bounded number of requests.

    python scripts/bench_outcomes.py --requests 1000 --clients 20 --runs 3
    python scripts/bench_outcomes.py --store postgresql+psycopg://cr:cr@127.0.0.1:5432/cr_bench

The store is a new SQLite file in a temporary folder unless ``--store`` is given (then the
plan is recorded there as a new version of its date: use a scratch database).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "store")]

from storehelp import case, tiny_plan  # noqa: E402
from webhelp import record_site, write_site  # noqa: E402

from optimizer.store.db import sqlite_url  # noqa: E402

CST = timezone(timedelta(hours=8))


def start_server(plan_dir: Path, store_url: str, collectors: int
                 ) -> tuple[subprocess.Popen, dict[str, str]]:
    """The server process and the collector links it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "optimizer", "serve", str(plan_dir), "--store", store_url,
         "--host", "127.0.0.1", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    links: dict[str, str] = {}
    for line in proc.stdout:
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("http://") and parts[0] != "overview":
            links[parts[0]] = parts[1]
        if len(links) == collectors:
            break
    if not links:
        proc.kill()
        sys.exit(f"the server did not start: {proc.stderr.read() if proc.stderr else ''}")
    return proc, links


def post(url: str, body: dict) -> tuple[float, int]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()
        status = resp.status
    return time.perf_counter() - t0, status


def one_pass(jobs: dict[str, list[dict]], links: dict[str, str], want: int) -> dict:
    lat: list[float] = []
    bad: list[int] = []
    lock = threading.Lock()

    def client(cid: str) -> None:
        url = links[cid] + "api/outcomes"
        mine = []
        for body in jobs[cid]:
            try:
                dt, status = post(url, body)
            except Exception as exc:  # counted, the run goes on
                with lock:
                    bad.append(getattr(exc, "code", -1))
                continue
            mine.append(dt)
            if status != want:
                with lock:
                    bad.append(status)
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client, args=(cid,)) for cid in jobs]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()

    def q(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

    return {"n": len(lat), "errors": len(bad), "p50_ms": q(0.50), "p90_ms": q(0.90),
            "p99_ms": q(0.99), "max_ms": lat[-1] * 1000, "per_s": len(lat) / wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000, help="outcome POSTs per run")
    ap.add_argument("--clients", type=int, default=20, help="concurrent phones (collectors)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--store", default=None, help="a SQLAlchemy URL (default: new SQLite file)")
    a = ap.parse_args()
    day = (datetime.now(CST) - timedelta(days=1)).date()
    routes = {f"R{i:02d}": ((f"R{i:02d}",), [case(f"B{i:02d}-{k}") for k in range(5)])
              for i in range(a.clients)}
    plan = tiny_plan(day, routes)
    with tempfile.TemporaryDirectory() as tmp:
        store_url = a.store or sqlite_url(Path(tmp) / "bench.sqlite")
        write_site(plan, Path(tmp) / "plan")
        record_site(plan, store_url)
        proc, links = start_server(Path(tmp) / "plan", store_url, a.clients)
        try:
            visit = datetime.combine(day, datetime.min.time(), CST) + timedelta(hours=10)
            fresh, again = [], []
            run_id = os.urandom(4).hex()
            for run in range(a.runs):
                jobs = {cid: [{"key": f"bench-{run_id}-{run}-{cid}-{k}",
                               "case_id": f"B{cid[1:]}-{k % 5}", "outcome": "not_home",
                               "event_time": visit.isoformat(), "note": "bench"}
                              for k in range(a.requests // a.clients)] for cid in links}
                fresh.append(one_pass(jobs, links, 201))
                again.append(one_pass(jobs, links, 200))
                for name, r in (("new", fresh[-1]), ("retry", again[-1])):
                    print(f"run {run + 1} {name:5}: {r['n']} posts, {r['errors']} errors, "
                          f"p50 {r['p50_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms, "
                          f"p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms, "
                          f"{r['per_s']:.0f}/s", flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    for name, rs in (("new outcomes", fresh), ("retries", again)):
        med = {k: statistics.median(r[k] for r in rs) for k in ("p50_ms", "p99_ms", "per_s")}
        print(f"median of {a.runs} runs, {name}: p50 {med['p50_ms']:.1f} ms, "
              f"p99 {med['p99_ms']:.1f} ms, {med['per_s']:.0f} posts/s "
              f"({a.requests} posts from {a.clients} clients, store {store_url.split(':')[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
