"""Output folders, caches and processes under stress, on real processes.

Every `plan` here is a real ``python -m optimizer`` child process (this checkout on its path);
the server is a real ``serve`` process on 127.0.0.1. Small days keep it quick: the what-if fixture
(25 cases with lat/lon, 2 collectors, central Chengdu) where the solver portfolio needs its
worker process, the hand-made tiny network where only caches matter. Every plan folder a test
ends with is re-checked by `plancheck` and against its manifest.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pytest
from plancheck import check_plan_outputs

from optimizer.io.inputs import read_cases, read_collectors
from optimizer.outputs.write import check_plan_folder, read_manifest
from optimizer.planning.rules import PRESETS

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
WHATIF = DATA / "whatif"
TINY_OSM = DATA / "tiny_network.osm"
MONDAY = date(2026, 11, 30)


# --------------------------------------------------------------------------- helpers


def _env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def start(argv: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "optimizer", *map(str, argv)], cwd=ROOT,
                            env=kw.pop("env", _env()), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, **kw)


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "optimizer", *map(str, argv)], cwd=ROOT,
                          env=kw.pop("env", _env()), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=600, **kw)


def plan_args(out: Path, cache: Path, *, collectors: Path = WHATIF / "collectors.csv",
              time_limit: float = 3, max_solutions: int | None = 100) -> list:
    args = ["plan", "--cases", WHATIF / "cases.csv", "--collectors", collectors, "--policy",
            "none", "--date", MONDAY.isoformat(), "--time-limit", time_limit, "--out", out,
            "--cache-dir", cache, "-q"]
    return args + (["--max-solutions", max_solutions] if max_solutions else [])


def one_collector(tmp_path: Path) -> Path:
    """The what-if collectors without B1."""
    lines = (WHATIF / "collectors.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "one-collector.csv"
    path.write_text("".join(line for line in lines if not line.startswith("B1,")),
                    encoding="utf-8")
    return path


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_for(predicate, timeout_s: float, *, poll_s: float = 0.05):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    return None


def leftovers(out: Path) -> list[str]:
    """Temporary or set-aside folders of interrupted writes beside `out`."""
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*")
                  if not p.name.endswith(".lock"))


def assert_one_complete_plan(out: Path, collectors_file: Path, network) -> dict:
    """The folder holds exactly the files of one plan, as its manifest lists them, and the plan
    passes the independent re-simulation; returns the manifest."""
    assert check_plan_folder(out) == []
    m = read_manifest(out)
    assert sorted(p.name for p in out.glob("*.html")) == sorted(["index.html",
                                                                  *m["pages"].values()])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    routes = json.loads((out / "routes.json").read_text(encoding="utf-8"))["routes"]
    with (out / "routes.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [p["collector_id"] for p in summary["per_collector"]] == m["routes"]
    assert [r["collector_id"] for r in routes] == m["routes"]
    assert {r["collector_id"] for r in rows} <= set(m["routes"])
    assert summary["cases_visited"] == len(rows)
    errs = check_plan_outputs(out, read_cases(WHATIF / "cases.csv"),
                              read_collectors(collectors_file), MONDAY, PRESETS["none"],
                              network=network)
    assert errs == []
    return m


@pytest.fixture(scope="module")
def warm(cache_dir):
    """The session's cache with the Chengdu road network and gazetteer built (once)."""
    from optimizer.geo.network import load_network

    probe = cache_dir / "warm-probe"
    r = run(plan_args(probe, cache_dir, time_limit=1, max_solutions=10))
    assert r.returncode == 0, r.stderr
    return cache_dir, load_network(cache_dir=cache_dir)


# --------------------------------------------------------------------------- output folders


def test_two_plans_into_one_folder_leave_one_complete_plan(tmp_path, warm):
    cache, network = warm
    out = tmp_path / "day"
    one = one_collector(tmp_path)
    # two dispatchers plan the same day at the same time, with different teams
    procs = [start(plan_args(out, cache)), start(plan_args(out, cache, collectors=one))]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert "Traceback" not in err
    m = read_manifest(out)
    assert m["collectors"] in (["A1", "B1"], ["A1"])
    assert_one_complete_plan(out, one if m["collectors"] == ["A1"] else
                             WHATIF / "collectors.csv", network)
    assert leftovers(out) == []


def test_kill_during_writing_keeps_the_previous_plan(tmp_path, warm):
    cache, network = warm
    out = tmp_path / "day"
    assert run(plan_args(out, cache)).returncode == 0
    before = read_manifest(out)
    one = one_collector(tmp_path)
    killed = 0
    for delay_s in (0.0, 0.05, 0.2):
        p = start(plan_args(out, cache, collectors=one))
        writing = wait_for(lambda p=p: leftovers(out) or p.poll() is not None, 300,
                           poll_s=0.002)
        assert writing
        if p.poll() is None:
            time.sleep(delay_s)
            p.kill()
        p.communicate(timeout=60)
        if p.returncode == -signal.SIGKILL:
            killed += 1
            # the previous plan, whole: nothing of the killed run got in
            assert read_manifest(out)["plan_id"] == before["plan_id"]
            assert_one_complete_plan(out, WHATIF / "collectors.csv", network)
        else:  # it finished first: then its plan, whole
            assert p.returncode == 0
            before = assert_one_complete_plan(out, one, network)
    assert killed >= 1, "no run was killed while writing"
    # the next run clears what the killed ones left beside the folder
    r = run(plan_args(out, cache, collectors=one))
    assert r.returncode == 0, r.stderr
    assert leftovers(out) == []
    assert assert_one_complete_plan(out, one, network)["collectors"] == ["A1"]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _serve(plan_dir: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """A real `serve` process on a free port: (process, overview URL, collector URLs)."""
    p = start(["serve", plan_dir, "--host", "127.0.0.1", "--port", "0"])
    assert p.stdout is not None
    head = p.stdout.readline()
    assert head.startswith("Serving"), head + (p.stderr.read() if p.stderr else "")
    overview = p.stdout.readline().split()[1]
    n = len(read_manifest(plan_dir)["pages"])
    links = dict(p.stdout.readline().split() for _ in range(n))
    return p, overview, links


def _exchange_supported(tmp_path: Path) -> bool:
    from optimizer import atomic

    a, b = tmp_path / "xa", tmp_path / "xb"
    a.mkdir()
    b.mkdir()
    return atomic._exchange(a, b)


def test_replan_while_serving_never_serves_a_stale_or_empty_page(tmp_path, warm):
    cache, network = warm
    out = tmp_path / "day"
    assert run(plan_args(out, cache)).returncode == 0
    old = {cid: (out / page).read_bytes() for cid, page in read_manifest(out)["pages"].items()}
    server, overview, links = _serve(out)
    try:
        assert set(links) == {"A1", "B1"}
        # requests by the time they were sent (one sent before the swap may answer after)
        seen: list[tuple[float, str, int, bytes]] = []
        answered: list[tuple[float, float, str, int]] = []
        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                for cid, url in links.items():
                    sent = time.monotonic()
                    status, body = _get(url)
                    seen.append((sent, cid, status, body))
                    answered.append((sent, time.monotonic(), cid, status))

        clients = [threading.Thread(target=client) for _ in range(3)]
        for t in clients:
            t.start()
        time.sleep(0.5)
        # B1 leaves the team: the dispatcher plans again into the folder being served
        r = run(plan_args(out, cache, collectors=one_collector(tmp_path)))
        done = time.monotonic()
        time.sleep(0.5)
        stop.set()
        for t in clients:
            t.join()
        assert r.returncode == 0, r.stderr
        new = {cid: (out / page).read_bytes()
               for cid, page in read_manifest(out)["pages"].items()}
        assert set(new) == {"A1"}
        swap_ok = _exchange_supported(tmp_path)
        b1 = [(t, s) for t, cid, s, _ in seen if cid == "B1"]
        assert any(s == 200 for _, s in b1) and any(s == 404 for _, s in b1)
        for t, cid, status, body in seen:
            if status == 200:
                # a whole page of one plan or the other, never empty, never a mix
                assert body and body in (old[cid], new.get(cid)), cid
            elif status == 503:  # only if the folder could not be swapped in one step
                assert not swap_ok
            else:
                assert (cid, status) == ("B1", 404)
            if cid == "B1" and t > done:
                assert status == 404  # no stale page for a collector no longer planned
        # once gone, B1 stays gone: no request sent after a 404 came back gets the page
        gone = min(got for _, got, cid, s in answered if cid == "B1" and s == 404)
        assert all(s != 200 for sent, _, cid, s in answered if cid == "B1" and sent > gone)
        status, body = _get(overview)
        assert status == 200 and links["A1"].encode() in body and links["B1"].encode() not in body
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 130 and err.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in err
    assert_one_complete_plan(out, one_collector(tmp_path), network)


# --------------------------------------------------------------------------- caches


def _tiny_inputs(tmp_path: Path, *, addresses: int = 0) -> tuple[Path, Path]:
    """Three cases and a collector on the hand-made tiny network (lat/lon given), and
    `addresses` more cases with an address only (``A1``...: ``Nowhere Road <n>``)."""
    cases = tmp_path / "tiny-cases.csv"
    cases.write_text(
        "case_id,address,lat,lon,amount_overdue,days_past_due\n"
        "T1,,30.7000,104.0520,1000,10\nT2,,30.7010,104.0510,2000,20\n"
        "T3,,30.7000,104.0510,500,5\n"
        + "".join(f"A{i},Nowhere Road {i},,,{100 * i},3\n" for i in range(1, addresses + 1)),
        encoding="utf-8")
    collectors = tmp_path / "tiny-collectors.csv"
    collectors.write_text("collector_id,start_lat,start_lon,shift\nK1,30.7000,104.0500,"
                          "09:00-17:00\n", encoding="utf-8")
    return cases, collectors


def _damage(kind: str, cache: Path) -> Path:
    if kind == "network":
        path = next(cache.glob("network-drive-*.npz"))
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "gazetteer":
        path = next(cache.glob("gazetteer-*.json.gz"))
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path = cache / "geocode.sqlite"
        for extra in cache.glob("geocode.sqlite-*"):
            extra.unlink()
        path.unlink()
        if kind == "sqlite-garbage":
            path.write_bytes(b"this is not a database\n" * 200)
        else:  # another program's database under our name
            db = sqlite3.connect(path)
            db.execute("CREATE TABLE geocode (address TEXT, x REAL, y REAL)")
            db.execute("INSERT INTO geocode VALUES ('somewhere', 1.0, 2.0)")
            db.commit()
            db.close()
    return path


@pytest.mark.parametrize("kind", ["network", "gazetteer", "sqlite-garbage", "sqlite-schema"])
def test_damaged_cache_is_set_aside_and_rebuilt(tmp_path, kind):
    cases, collectors = _tiny_inputs(tmp_path)
    cache = tmp_path / "cache"
    out = tmp_path / "day"
    args = ["plan", "--cases", cases, "--collectors", collectors, "--osm", TINY_OSM,
            "--policy", "none", "--date", MONDAY.isoformat(), "--time-limit", "1",
            "--max-solutions", "20", "--cache-dir", cache, "--out", out, "-q"]
    first = run(args)
    assert first.returncode == 0, first.stderr
    damaged = _damage(kind, cache)
    second = run(args)
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    assert f"{damaged}" in second.stderr and "set aside as" in second.stderr
    aside = list(cache.glob(damaged.name + ".corrupt-*"))
    assert len(aside) == 1
    # rebuilt: the next run is quiet, and the plans are the same
    third = run(args)
    assert third.returncode == 0 and "WARNING" not in third.stderr, third.stderr
    assert check_plan_folder(out) == []
    with (out / "routes.csv").open(encoding="utf-8-sig") as fh:
        assert {r["case_id"] for r in csv.DictReader(fh)} == {"T1", "T2", "T3"}


# --------------------------------------------------------------------------- processes


def _pool_workers(pid: int) -> list[int]:
    """The worker processes `optimizer.executor` started for `pid` (not its resource tracker)."""
    return [c for c in children(pid) if "multiprocessing.spawn" in cmdline(c)
            and "resource_tracker" not in cmdline(c)]


def _solver_worker(pid: int) -> int | None:
    kids = _pool_workers(pid)
    return kids[0] if kids else None


def test_solver_worker_dies_with_a_killed_plan(tmp_path, warm):
    cache, _ = warm
    p = start(plan_args(tmp_path / "day", cache, time_limit=60, max_solutions=None))
    try:
        worker = wait_for(lambda: _solver_worker(p.pid), 300)
        assert worker, "the plan started no solver worker"
        time.sleep(1.0)  # into the search
        p.kill()
        p.communicate(timeout=30)
        gone = wait_for(lambda: not alive(worker), 5.0)
        assert gone, f"solver worker {worker} outlived its killed parent"
    finally:
        if p.poll() is None:
            p.kill()
    assert not (tmp_path / "day").exists()


def test_whatif_workers_die_with_a_killed_whatif(tmp_path, warm):
    cache, _ = warm
    p = start(["whatif", WHATIF / "scenario.yaml", "--out", tmp_path / "wi", "-q"],
              env=_env(COLLECTOR_ROUTES_CACHE=str(cache)))
    try:
        workers = wait_for(lambda: _pool_workers(p.pid), 300)
        assert workers, "the what-if run started no worker process"
        time.sleep(0.5)
        p.kill()
        p.communicate(timeout=30)
        assert wait_for(lambda: not any(alive(w) for w in workers), 5.0), workers
    finally:
        if p.poll() is None:
            p.kill()


@pytest.mark.parametrize("engine", ["none", "pyvrp", "vroom"])
def test_ctrl_c_during_the_search_ends_within_seconds(tmp_path, warm, engine):
    # A two-minute search (no solution limit): OR-Tools from the start ("none"), or after a
    # PyVRP or VROOM warm start, in this process and in the worker. The compiled search holds
    # the interpreter, so before the search polled for Ctrl-C it took effect at the time limit;
    # now the plan ends within seconds (the bound is loose on purpose: it is a behaviour, not a
    # speed), with one line, and its worker goes with it.
    cache, _ = warm
    out = tmp_path / "day"
    p = start([*plan_args(out, cache, time_limit=120, max_solutions=None),
               "--solver-option", f"warm_start={engine}"])
    worker = wait_for(lambda: _solver_worker(p.pid), 300)
    assert worker
    time.sleep(1.0)  # into the search
    sent = time.monotonic()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    took = time.monotonic() - sent
    assert p.returncode == 130
    assert err.strip().splitlines() == ["interrupted"], err
    assert took < 15, f"Ctrl-C took {took:.1f} s to end a search of 120 s"
    assert wait_for(lambda: not alive(worker), 5.0)
    assert not out.exists() and leftovers(out) == []  # nothing half-written


def test_ctrl_c_while_writing_keeps_the_previous_plan(tmp_path, warm):
    cache, network = warm
    out = tmp_path / "day"
    assert run(plan_args(out, cache)).returncode == 0
    before = read_manifest(out)
    for _ in range(3):
        p = start(plan_args(out, cache, collectors=one_collector(tmp_path)))
        assert wait_for(lambda p=p: leftovers(out) or p.poll() is not None, 300, poll_s=0.002)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
        if p.returncode == 130:
            break
        before = read_manifest(out)  # it finished first; try again
    assert p.returncode == 130, "no run was interrupted while writing"
    assert err.strip().splitlines() == ["interrupted"], err
    assert read_manifest(out)["plan_id"] == before["plan_id"]
    assert leftovers(out) == []  # the temporary folder went with the interrupt
    assert check_plan_folder(out) == []


# --------------------------------------------------------------------------- online geocoder


class Unreachable:
    """A geopy geocoder class whose service cannot be reached (the network edge)."""

    calls: list[str] = []

    def __init__(self, *, user_agent=None, timeout=None, **kwargs):
        pass

    def geocode(self, query, exactly_one=True):
        from geopy.exc import GeocoderUnavailable

        Unreachable.calls.append(query)
        raise GeocoderUnavailable("[Errno 111] Connection refused")


def test_unreachable_geocoder_trips_the_breaker(tmp_path, monkeypatch, capsys):
    import geopy.geocoders

    from optimizer.cli import main

    monkeypatch.setitem(geopy.geocoders.SERVICE_TO_GEOCODER, "unreachable", Unreachable)
    Unreachable.calls = []
    cases, collectors = _tiny_inputs(tmp_path, addresses=3)
    cache = tmp_path / "cache"
    out = tmp_path / "day"
    t0 = time.perf_counter()
    code = main(["plan", "--cases", str(cases), "--collectors", str(collectors), "--osm",
                 str(TINY_OSM), "--geocoder", "unreachable", "--policy", "none", "--date",
                 MONDAY.isoformat(), "--time-limit", "1", "--max-solutions", "20",
                 "--cache-dir", str(cache), "--out", str(out), "-q"])
    wall_s = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 0, err
    # the first address tried three times, then the breaker opened: the others not asked
    assert Unreachable.calls == ["Nowhere Road 1"] * 3
    assert wall_s < 60  # not 11.7 s per address; a bound for a broken breaker, not a timing
    lines = [line for line in err.splitlines() if line.startswith("warning: geocoder unavailable")]
    assert len(lines) == 1, err
    assert "'unreachable'" in lines[0] and "--geocoder offline" in lines[0]
    assert "Traceback" not in err
    with (out / "unassigned.csv").open(encoding="utf-8-sig") as fh:
        missed = {r["case_id"]: r for r in csv.DictReader(fh)}
    for cid in ("A1", "A2", "A3"):
        assert missed[cid]["reason_code"] == "no_coordinates"
        assert "geocoder unavailable" in missed[cid]["reason"]
        assert "'unreachable'" in missed[cid]["reason"]
    # no negative answers cached for a service that did not answer
    db = sqlite3.connect(cache / "geocode.sqlite")
    assert db.execute("SELECT COUNT(*) FROM geocode WHERE provider = 'unreachable'"
                      ).fetchone() == (0,)
    db.close()


def test_breaker_with_nominatim_on_a_closed_port():
    from optimizer.geo.geocode.online import GeopyGeocoder

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    g = GeopyGeocoder("nominatim", user_agent="collector-routes-tests", min_delay_s=0,
                      error_wait_s=0, timeout_s=5, domain=f"127.0.0.1:{port}", scheme="http")
    for q in ("a", "b", "c", "d"):
        assert g.geocode(q) is None
        assert g.is_transient_miss(q)
    assert g.skipped == 3
    assert "geocoder unavailable" in g.explain_miss("d") and "'nominatim'" in g.explain_miss("d")


# --------------------------------------------------------------------------- serve start-up


@pytest.fixture(scope="module")
def written_plan(tmp_path_factory) -> Path:
    from maps_plan import make_plan

    from optimizer.outputs.write import write_plan

    out = tmp_path_factory.mktemp("served") / "day"
    write_plan(make_plan(), out)
    return out


def _serve_error(argv: list) -> str:
    r = run(["serve", *argv])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_serve_start_up_errors_are_one_line(written_plan):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert "already in use" in _serve_error([written_plan, "--port", port])
    assert "is not an address of this machine" in _serve_error(
        [written_plan, "--host", "192.0.2.77", "--port", "0"])
    assert "is not an address or a name" in _serve_error(
        [written_plan, "--host", "no-such-host.invalid", "--port", "0"])


def _good_tokens(plan_dir: Path) -> dict:
    from optimizer.web.site import load_tokens

    return load_tokens(plan_dir)


@pytest.mark.parametrize(("edit", "words"), [
    (lambda t: "{not json", ["links.json: not valid JSON", "delete the file"]),
    (lambda t: json.dumps({**t, "overview": "short"}),
     ["the token of overview is weak (5 characters", "43 URL-safe characters"]),
    (lambda t: json.dumps({**t, "collectors": {**t["collectors"], "C02": "a/" * 30}}),
     ["the token of collector C02 is weak", "'/' outside the URL-safe alphabet"]),
    (lambda t: json.dumps({**t, "collectors": {**t["collectors"],
                                               "C02": t["collectors"]["C01"]}}),
     ["the token of collector C02 is the same as that of collector C01"]),
    (lambda t: json.dumps(["a list"]), ["it is not {\"overview\""]),
])
def test_hand_edited_links_file_is_refused(written_plan, tmp_path, edit, words):
    import shutil

    plan = tmp_path / "day"
    shutil.copytree(written_plan, plan)
    tokens = _good_tokens(plan)
    (plan / "links.json").write_text(edit(tokens), encoding="utf-8")
    line = _serve_error([plan, "--port", "0"])
    for w in words:
        assert w in line, line
