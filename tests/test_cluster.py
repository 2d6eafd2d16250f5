"""The Dask executor on a real cluster: a ``dask scheduler`` and two ``dask worker`` processes on
localhost (started here on free ports, torn down after the module), the executor contract, and
plans and what-if runs through it equal to the local-process ones under ``--max-solutions``.

The workers get this checkout and the test folder on their path (``PYTHONPATH``), as a real
worker has the package installed: the functions they run are pickled by reference.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the dask extra: pip install '.[dask]'")

from optimizer import executor  # noqa: E402
from optimizer.cluster import (  # noqa: E402
    DaskCluster,
    ExecutorSettings,
    SchedulerError,
    make_executor,
)
from optimizer.errors import ConfigError  # noqa: E402
from optimizer.executor import LocalProcesses, WorkerDied  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
WHATIF = TESTS / "data" / "whatif"


def _square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError(f"three is refused (item {x})")
    return x * x


def _steps(n: int) -> int:
    for i in range(n):
        executor.emit(("step", n, i))
    return n


def _die(_: object) -> None:
    os._exit(3)  # as if killed (out of memory): no result, no exception


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)]),
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two single-threaded workers."""
    from distributed import Client

    tmp = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = []
    procs = []

    def start(name: str, args: list[str]) -> None:
        log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        procs.append(subprocess.Popen(["dask", *args], env=_env(), cwd=tmp, stdout=log,
                                      stderr=subprocess.STDOUT))

    start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                        "--no-dashboard"])
    for i in range(2):
        start(f"worker{i}", ["worker", address, "--nthreads", "1", "--no-dashboard",
                             "--local-directory", str(tmp / f"w{i}"), "--name", f"w{i}"])
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout=5, set_as_default=False) as c:
                    c.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in logs:
            log.close()


def test_results_in_order_a_failure_in_its_place_and_events_back(scheduler):
    seen = []
    with DaskCluster(scheduler) as ex:
        assert ex.workers == 2
        got = list(ex.map(_square_or_fail, [1, 2, 3, 4, 5]))
        counts = list(ex.map(_steps, [3, 2], on_event=seen.append))
    assert got[:2] == [1, 4] and got[3:] == [16, 25]
    assert isinstance(got[2], ValueError) and "item 3" in str(got[2])
    assert counts == [3, 2]
    assert sorted(seen) == sorted([("step", 3, i) for i in range(3)]
                                  + [("step", 2, i) for i in range(2)])


def test_a_dead_worker_and_a_stuck_item_are_reported_in_their_place(scheduler):
    from distributed import Client

    with DaskCluster(scheduler) as ex:
        got = list(ex.map(_sleep, [0.1, 30.0], timeout_s=3.0))
    assert got[0] == 0.1 and isinstance(got[1], TimeoutError)
    with DaskCluster(scheduler) as ex:
        died = list(ex.map(_die, [None]))
    assert isinstance(died[0], WorkerDied)
    with Client(scheduler, timeout=10, set_as_default=False) as c:  # the nanny restarts it
        c.wait_for_workers(2, timeout=60)


def test_make_executor_picks_by_settings(scheduler):
    assert isinstance(make_executor(ExecutorSettings(), max_workers=2), LocalProcesses)
    ex = make_executor(ExecutorSettings("dask", scheduler), max_workers=2)
    assert isinstance(ex, DaskCluster) and ex.address == scheduler
    with pytest.raises(ConfigError, match="not an address"):
        ExecutorSettings("dask", "127.0.0.1")
    with pytest.raises(ConfigError, match="needs a scheduler"):
        make_executor(ExecutorSettings("dask"), max_workers=1)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=600)


# the what-if fixture's day: 25 cases, 2 collectors; a solution limit ends every search
DAY = ["--cases", str(WHATIF / "cases.csv"), "--collectors", str(WHATIF / "collectors.csv"),
       "--date", "2026-11-30", "--policy", "none", "--time-limit", "60", "--max-solutions",
       "100", "--no-maps", "-q"]


def test_a_plan_through_the_cluster_is_the_local_plan(scheduler, tmp_path, cache_dir):
    from plancheck import check_plan_outputs

    from optimizer.io.inputs import read_inputs
    from optimizer.planning import rules

    common = [*DAY, "--cache-dir", str(cache_dir)]
    local = _cli("plan", *common, "--out", str(tmp_path / "local"), cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    remote = _cli("plan", *common, "--executor", "dask", "--scheduler", scheduler, "--out",
                  str(tmp_path / "dask"), cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr
    for name in ("routes.csv", "unassigned.csv", "routes.json"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    cases, collectors = read_inputs(WHATIF / "cases.csv", WHATIF / "collectors.csv")
    errs = check_plan_outputs(tmp_path / "dask", cases, collectors, date(2026, 11, 30),
                              rules.PRESETS["none"])
    assert errs == [], errs[:3]
    with open(tmp_path / "dask" / "routes.csv", encoding="utf-8-sig") as f:
        assert sum(1 for _ in csv.DictReader(f)) > 0  # something was planned


def test_a_day_in_parts_through_the_cluster_is_the_local_plan(scheduler, tmp_path, cache_dir):
    # at most 12 cases a part: the 25 cases in two parts, planned on the two workers
    common = [*DAY, "--cache-dir", str(cache_dir), "--max-part-cases", "12"]
    local = _cli("-v", "plan", *common, "--out", str(tmp_path / "local"), cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    assert "25 cases in 2 parts" in local.stderr
    remote = _cli("-v", "plan", *common, "--executor", "dask", "--scheduler", scheduler,
                  "--out", str(tmp_path / "dask"), cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr
    assert "25 cases in 2 parts" in remote.stderr
    for name in ("routes.csv", "unassigned.csv", "routes.json"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()


def test_a_whatif_run_through_the_cluster_has_the_local_numbers(scheduler, tmp_path,
                                                                cache_dir):
    import yaml

    data = yaml.safe_load((WHATIF / "scenario.yaml").read_text(encoding="utf-8"))
    data["base"].update(cases=str(WHATIF / "cases.csv"),
                        collectors=str(WHATIF / "collectors.csv"), cache_dir=str(cache_dir),
                        time_limit=60)
    data["variants"] = {k: data["variants"][k] for k in ("plus_one", "amount")}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    runs = {}
    for name, extra in (("local", []), ("dask", ["--executor", "dask", "--scheduler",
                                                  scheduler])):
        res = _cli("whatif", str(path), "--out", str(tmp_path / name), "-q", *extra,
                   cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        kpis = json.loads((tmp_path / name / "kpis.json").read_text(encoding="utf-8"))
        # the numbers of each variant, without its timings
        runs[name] = {r["variant"]: {k: v for k, v in r.items() if k != "wall_s"}
                      for r in kpis["variants"]}
    assert runs["dask"] == runs["local"]
    assert {v for v, r in runs["dask"].items()
            if r["status"] == "ok" and r["search_stop"] == "solution limit"} == {
        "base", "plus_one", "amount"}


def test_an_unreachable_scheduler_is_a_clear_error_with_the_fix(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        with DaskCluster(address, connect_timeout_s=2):
            pass
    res = _cli("plan", *DAY, "--executor", "dask", "--scheduler", address, "--out",
               str(tmp_path / "out"), cwd=tmp_path)
    assert res.returncode == 2
    assert f"cannot reach the Dask scheduler at {address}" in res.stderr
    assert "dask scheduler" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out" / "routes.csv").exists()


def test_executor_options_are_checked_with_the_others(tmp_path):
    res = _cli("plan", "--executor", "dask", "--scheduler", "localhost", "--cooldown-days",
               "-1", cwd=tmp_path)
    assert res.returncode == 2
    assert "--scheduler value 'localhost': is not a scheduler address" in res.stderr
    assert "--cooldown-days" in res.stderr
    res = _cli("plan", "--executor", "dask", cwd=tmp_path)
    assert res.returncode == 2 and "needs a scheduler" in res.stderr
    res = _cli("whatif", str(WHATIF / "scenario.yaml"), "--scheduler", "tcp://127.0.0.1:1",
               cwd=tmp_path)
    assert res.returncode == 2 and "only the dask executor uses a scheduler" in res.stderr


def test_a_multi_city_day_through_the_cluster_is_the_local_plan(scheduler, tmp_path,
                                                                 cache_dir):
    from test_cities import check_cities, plan_cities

    local = plan_cities(tmp_path / "local", cache_dir)
    assert local.returncode == 0, local.stderr
    remote = plan_cities(tmp_path / "dask", cache_dir, "--executor", "dask", "--scheduler",
                         scheduler)
    assert remote.returncode == 0, remote.stderr
    for city in ("chengdu", "heidelberg"):
        for name in ("routes.csv", "unassigned.csv", "routes.json"):
            assert ((tmp_path / "dask" / city / name).read_bytes()
                    == (tmp_path / "local" / city / name).read_bytes()), (city, name)
    check_cities(tmp_path / "dask", cache_dir)
