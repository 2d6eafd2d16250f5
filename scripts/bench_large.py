"""Wall time, peak memory and value of ``collector-routes plan`` on a large day.

Runs the command line as a child process (the options after ``--`` are passed on), samples the
resident memory of its whole process tree (the command and its solver/part workers) twice a
second, and prints one table row per run: wall time, peak memory of the tree (sum over its
processes at one instant) and of its largest process, the value visited, cases visited and the
plan's stage times (summed over parts for a partitioned plan). Cases come from
``scripts/make_city_cases.py``.

    python scripts/make_city_cases.py --osm ../shared/data/osm/porto_portugal.osm.pbf \\
        --cases 2000 --collectors 40 --out /tmp/porto2k
    python scripts/bench_large.py --label parts -- --cases /tmp/porto2k/cases.csv \\
        --collectors /tmp/porto2k/collectors.csv --osm ../shared/data/osm/porto_portugal.osm.pbf \\
        --policy none --time-limit 60 --no-maps

With ``--dask``, the script starts a real ``dask scheduler`` and ``--workers`` single-threaded
``dask worker`` processes on localhost (this checkout on their path), passes ``--executor dask
--scheduler tcp://127.0.0.1:PORT`` to the command, samples each worker's memory too (their
peak is reported per worker) and stops them at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def _tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """(sum, largest) resident bytes of `proc` and its descendants."""
    rss = []
    for p in [proc, *proc.children(recursive=True)]:
        try:
            rss.append(p.memory_info().rss)
        except psutil.Error:
            pass
    return sum(rss), max(rss, default=0)


def _sample(proc: psutil.Process, peak: list[int], done: threading.Event) -> None:
    """Keep the peak (sum, largest) memory of `proc`'s tree in `peak` until `done`."""
    while not done.is_set():
        total, largest = _tree_rss(proc)
        peak[0], peak[1] = max(peak[0], total), max(peak[1], largest)
        done.wait(0.5)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, passed = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv \
        else (argv, [])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--label", default="run")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--dask", action="store_true", help="run the parts on a local Dask cluster")
    ap.add_argument("--workers", type=int, default=2, help="Dask workers (with --dask)")
    args = ap.parse_args(ours)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cluster = _start_dask(args.workers, env) if args.dask else None
    try:
        return _runs(args, passed, env, cluster)
    finally:
        if cluster is not None:
            for p in reversed(cluster[1]):
                p.terminate()
            for p in cluster[1]:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


def _start_dask(workers: int, env: dict[str, str]) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and `workers` workers on localhost; (address, processes)."""
    import socket

    from distributed import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    address = f"tcp://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    procs = [subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, cwd=tmp,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    for i in range(workers):
        procs.append(subprocess.Popen(
            ["dask", "worker", address, "--nthreads", "1", "--no-dashboard", "--memory-limit",
             "0", "--local-directory", str(tmp / f"w{i}"), "--name", f"w{i}"], env=env,
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 120
    while True:
        try:
            with Client(address, timeout=5, set_as_default=False) as c:
                c.wait_for_workers(workers, timeout=max(1.0, deadline - time.monotonic()))
            return address, procs
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def _runs(args: argparse.Namespace, passed: list[str], env: dict[str, str],
          cluster: tuple[str, list[subprocess.Popen]] | None) -> int:
    if cluster is not None:
        passed = [*passed, "--executor", "dask", "--scheduler", cluster[0]]
    print("| label | wall s | peak tree GB | peak process GB | visited | value visited | "
          "stages s |")
    print("|---|---|---|---|---|---|---|")
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "optimizer", "plan", "-q", "--out", out, *passed]
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
            peak = [0, 0]
            done = threading.Event()
            t = threading.Thread(target=_sample, args=(psutil.Process(proc.pid), peak, done),
                                 daemon=True)
            t.start()
            worker_peaks: list[list[int]] = []
            watchers = []
            for w in (cluster[1][1:] if cluster is not None else []):
                worker_peaks.append([0, 0])
                watchers.append(threading.Thread(target=_sample, args=(
                    psutil.Process(w.pid), worker_peaks[-1], done), daemon=True))
                watchers[-1].start()
            code = proc.wait()
            done.set()
            t.join()
            for w in watchers:
                w.join()
            if worker_peaks:
                print("peak memory per Dask worker (GB): " + ", ".join(
                    f"{p[0] / 1e9:.2f}" for p in worker_peaks), flush=True)
            wall = time.perf_counter() - t0
            if code != 0:
                print(f"| {args.label} | {wall:.0f} | {peak[0] / 1e9:.2f} | {peak[1] / 1e9:.2f} "
                      f"| exit {code} | | |", flush=True)
                continue
            s = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
            stages = ", ".join(f"{k} {v:.0f}" for k, v in (s.get("timings_s") or {}).items())
            print(f"| {args.label} | {wall:.0f} | {peak[0] / 1e9:.2f} | {peak[1] / 1e9:.2f} | "
                  f"{s['cases_visited']} of {s['cases_total']} | {s['value_visited']:,.0f} | "
                  f"{stages} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
