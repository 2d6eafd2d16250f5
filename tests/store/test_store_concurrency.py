"""Concurrent writers (the web server and a plan run, two server workers): two real processes
write into one store at the same time, on SQLite and on PostgreSQL. Every outcome is there
exactly once, and neither writer fails ("database is locked", a unique violation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from storehelp import at, case

from optimizer.store import migrate
from optimizer.store.cases import merge_cases
from optimizer.store.db import Store, make_engine
from optimizer.store.tables import AuditEntry, OutcomeCollector, OutcomeRecord, PromiseRecord

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
N = 200


def writers(url: str, tmp_path: Path, *jobs: list[str]) -> list[list[list[object]]]:
    """Run one writer process per job, started together; their outputs."""
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    procs = [subprocess.Popen([sys.executable, str(HERE / "writer.py"), url, *job, str(go),
                               *(["shared"] if job[0].startswith("shared") else [])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for job in jobs]
    time.sleep(1.0)  # both have opened the store and wait
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "database is locked" not in err
        outs.append(json.loads(out))
    return outs


def seeded(url: str) -> None:
    with Store.open(url) as store, store.session() as s:
        merge_cases(s, [case(f"W{i:02d}") for i in range(20)], file_name="w.csv",
                    sha256="w" * 64, imported_at=at("2026-11-30 08:00"))


def count(url: str, what) -> int:
    with Store.open(url) as store, store.reading() as s:
        return s.scalar(select(func.count()).select_from(what))


def test_two_processes_record_200_outcomes_each_and_all_400_are_there_once(store_url, tmp_path):
    seeded(store_url)
    a, b = writers(store_url, tmp_path, ["A", str(N)], ["B", str(N)])
    assert all(created for _, _, created in a + b)
    with Store.open(store_url) as store, store.reading() as s:
        keys = s.scalars(select(OutcomeRecord.idempotency_key)).all()
        assert len(keys) == 2 * N and len(set(keys)) == 2 * N
        assert set(keys) == {f"{p}-{i}" for p in "AB" for i in range(N)}
        assert sorted(s.scalars(select(OutcomeRecord.id))) == sorted(i for _, i, _ in a + b)
        assert s.scalar(select(func.count()).select_from(OutcomeCollector)) == 4 * N
        assert s.scalar(select(func.count()).where(
            AuditEntry.action == "outcome.recorded")) == 2 * N
        # 1 promise for each promise_to_pay, 3 for each instalment_agreed (every 6th of each)
        per = sum(1 for i in range(N) if i % 6 == 1) + 3 * sum(1 for i in range(N) if i % 6 == 5)
        assert s.scalar(select(func.count()).select_from(PromiseRecord)) == 2 * per


def test_two_processes_sending_the_same_outcomes_record_each_once(store_url, tmp_path):
    seeded(store_url)
    a, b = writers(store_url, tmp_path, ["shared-a", "100"], ["shared-b", "100"])
    # the same outcome id for every key on both sides, created by exactly one of them
    assert [(k, i) for k, i, _ in a] == [(k, i) for k, i, _ in b]
    assert [ca + cb for (_, _, ca), (_, _, cb) in zip(a, b, strict=True)] == [1] * 100
    assert count(store_url, OutcomeRecord) == 100
    assert count(store_url, OutcomeCollector) == 200


def test_two_processes_opening_a_new_store_at_once_both_succeed(store_url, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    procs = [subprocess.Popen([sys.executable, str(HERE / "writer.py"), store_url, "open"],
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    engine = make_engine(store_url)
    try:
        assert migrate.current(engine) == migrate.head()
    finally:
        engine.dispose()
