"""Time from upload to a published plan in the dispatcher console, on the demo (wall clock).

Starts ``collector-routes console`` on a fresh SQLite store in a temporary folder (a real
server process), signs in, uploads the demo's case and collector files (the upload form plans
with the defaults: the solver budget given here), polls the job until the plan is ready,
publishes it, and reports each phase. Repeats ``--runs`` times (a new store each time) and
prints the median.

    PYTHONPATH=$PWD python scripts/bench_console.py --time-limit 30 --runs 3
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
PASSWORD = "bench password 1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _csrf(text: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', text)
    assert m, "no CSRF token on the page"
    return m.group(1)


def one_run(time_limit: float, max_solutions: int | None) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{tmp}/store.db"
        subprocess.run([sys.executable, "-m", "optimizer", "users", "add", "bench", "--role",
                        "dispatcher", "--store", store], input=PASSWORD + "\n", text=True,
                       check=True, env=env, capture_output=True)
        port = _free_port()
        cmd = [sys.executable, "-m", "optimizer", "console", "--port", str(port), "--store",
               store, "--dir", f"{tmp}/work", "--time-limit", str(time_limit)]
        if max_solutions:
            cmd += ["--max-solutions", str(max_solutions)]
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        try:
            assert server.stdout is not None
            server.stdout.readline()  # "Console at ..." once it listens
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=600) as http:
                page = http.get("/")
                r = http.post("/console/login", data={"csrf": _csrf(page.text),
                                                      "username": "bench",
                                                      "password": PASSWORD})
                assert r.status_code == 303, r.text
                day = http.get("/console/day")
                t0 = time.perf_counter()
                with (DEMO / "cases.csv").open("rb") as c, (DEMO / "collectors.csv").open(
                        "rb") as k:
                    r = http.post("/console/day/upload", data={"csrf": _csrf(day.text)},
                                  files={"cases": ("cases.csv", c, "text/csv"),
                                         "collectors": ("collectors.csv", k, "text/csv")})
                assert r.status_code == 303, r.text[:2000]
                job = r.headers["location"].rsplit("/", 1)[1]
                t_upload = time.perf_counter()
                while True:
                    s = http.get(f"/console/api/jobs/{job}").json()
                    if s["state"] != "running":
                        break
                    time.sleep(0.2)
                assert s["state"] == "done", s
                t_plan = time.perf_counter()
                plan_page = http.get(s["url"])
                r = http.post(f"{s['url']}/publish", data={"csrf": _csrf(plan_page.text)})
                assert r.status_code == 303, r.text[:2000]
                pub = http.get("/console/published")
                assert "cr-links" in pub.text
                t_pub = time.perf_counter()
        finally:
            server.terminate()
            server.wait(timeout=20)
    return {"upload_s": t_upload - t0, "plan_s": t_plan - t_upload,
            "publish_s": t_pub - t_plan, "total_s": t_pub - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--time-limit", type=float, default=30.0, help="solver budget, seconds")
    p.add_argument("--max-solutions", type=int, default=None)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    runs = []
    for i in range(a.runs):
        r = one_run(a.time_limit, a.max_solutions)
        runs.append(r)
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in r.items()), flush=True)
    print(f"median over {a.runs} run(s), solver budget {a.time_limit:g} s"
          + (f", max {a.max_solutions} solutions" if a.max_solutions else "") + ": "
          + ", ".join(f"{k} {statistics.median(r[k] for r in runs):.1f}" for k in runs[0]))


if __name__ == "__main__":
    main()
