"""kill -9 of the server while phones send outcomes loses no acknowledged outcome and records
none twice: a real ``collector-routes serve DIR --store URL`` process, four client threads
posting, SIGKILL after 60 acknowledged posts, a new server on the same store. On SQLite and
PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from maps_plan import make_plan
from sqlalchemy import select
from webhelp import call, record_site, write_site

from optimizer.store.db import Store
from optimizer.store.tables import AuditEntry, OutcomeRecord

ROOT = Path(__file__).resolve().parents[2]
VISIT = "2026-11-30T10:05:00+08:00"
ACKED_BEFORE_KILL = 60


def _serve(plan_dir: Path, store_url: str) -> tuple[subprocess.Popen, dict[str, str]]:
    """A server process and the collectors' links it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "optimizer", "serve", str(plan_dir),
                             "--store", store_url, "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    links: dict[str, str] = {}
    for line in proc.stdout:
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("http://") and parts[0] != "overview":
            links[parts[0]] = parts[1]
        if set(links) == {"C01", "C02", "C03"}:
            break
    assert links, proc.stderr.read() if proc.stderr else ""
    return proc, links


def _stored(store_url: str) -> Counter[str]:
    with Store.open(store_url) as store, store.reading() as s:
        return Counter(s.scalars(select(OutcomeRecord.idempotency_key)))


def _audited(store_url: str) -> Counter[str]:
    with Store.open(store_url) as store, store.reading() as s:
        return Counter(str(a.details["key"]) for a in s.scalars(select(AuditEntry).where(
            AuditEntry.action == "outcome.recorded")))


def test_kill_9_after_acknowledged_posts_loses_nothing(tmp_path, store_url):
    plan = make_plan()
    write_site(plan, tmp_path / "plan")
    record_site(plan, store_url)
    routes = {r.collector.collector_id: [s.case.case_id for s in r.stops] for r in plan.routes}
    proc, links = _serve(tmp_path / "plan", store_url)

    acked: list[str] = []
    sent: dict[str, tuple[str, dict]] = {}  # key -> (collector, body)
    lock = threading.Lock()
    enough = threading.Event()

    def phone(n: int) -> None:
        cid = ("C01", "C02")[n % 2]
        url = links[cid] + "api/outcomes"
        k = 0
        while not enough.is_set() or k < 3:
            key = f"dur-{n}-{k}"
            body = {"key": key, "case_id": routes[cid][k % len(routes[cid])],
                    "outcome": "not_home", "event_time": VISIT, "note": f"try {k}"}
            with lock:
                sent[key] = (cid, body)
            k += 1
            try:
                a = call("POST", url, body, timeout=10)
            except OSError:  # the server is gone
                return
            if a.status == 201:
                with lock:
                    acked.append(key)
                    if len(acked) >= ACKED_BEFORE_KILL:
                        enough.set()

    phones = [threading.Thread(target=phone, args=(n,)) for n in range(4)]
    try:
        for t in phones:
            t.start()
        assert enough.wait(timeout=120), "the server did not acknowledge 60 posts in 2 minutes"
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: other posts are on the way
        proc.wait(timeout=30)
    finally:
        enough.set()
        for t in phones:
            t.join(timeout=30)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    stored = _stored(store_url)
    print(f"kill -9: {len(sent)} sent, {len(acked)} acknowledged, {len(stored)} stored")
    assert len(acked) >= ACKED_BEFORE_KILL
    missing = [k for k in acked if stored[k] != 1]
    assert missing == [], f"acknowledged but not stored once: {missing}"
    assert set(stored) <= set(sent) and max(stored.values()) == 1
    assert _audited(store_url) == stored  # each outcome with its one audit entry

    # the phones send everything again (their outboxes still hold what was not acknowledged)
    proc, links = _serve(tmp_path / "plan", store_url)
    try:
        statuses: Counter[int] = Counter()
        for key, (cid, body) in sent.items():
            a = call("POST", links[cid] + "api/outcomes", body)  # the same tokens (links.json)
            statuses[a.status] += 1
            assert a.status == (200 if key in stored else 201), (key, a.body)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    after = _stored(store_url)
    assert set(after) == set(sent) and set(after.values()) == {1}
    assert statuses[200] == len(stored)
