"""The executor seam on real worker processes: results in order, failures in their item's place,
events back to the caller, dead and stuck workers, and workers that ignore Ctrl-C.

The functions the workers run are defined here, at module level: a worker imports this module by
name (the test folder is on the path it gets from the parent), as it would import a package
module.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from optimizer import executor
from optimizer.executor import LocalProcesses, WorkerDied


def _square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError(f"three is refused (item {x})")
    return x * x


def _steps(n: int) -> int:
    for i in range(n):
        executor.emit(("step", n, i))
    return n


def _whoami(_: object) -> tuple[int, int, bool]:
    return os.getpid(), os.getppid(), signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def _die(_: object) -> None:
    os._exit(3)  # as if killed (out of memory): no result, no exception


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_results_come_in_the_order_of_the_items_and_a_failure_in_its_place():
    with LocalProcesses(2) as ex:
        got = list(ex.map(_square_or_fail, [1, 2, 3, 4, 5]))
    assert got[:2] == [1, 4] and got[3:] == [16, 25]
    assert isinstance(got[2], ValueError) and "item 3" in str(got[2])


def test_the_caller_works_while_the_items_run():
    with LocalProcesses(1) as ex:
        t0 = time.monotonic()
        pending = ex.map(_sleep, [1.0])
        started = time.monotonic() - t0
        assert list(pending) == [1.0]
    assert started < 0.9  # map returned before the item finished


def test_events_reach_the_callers_on_event_in_this_process():
    seen: list[tuple] = []
    with LocalProcesses(2) as ex:
        assert list(ex.map(_steps, [2, 3], on_event=seen.append)) == [2, 3]
    assert sorted(seen) == [("step", 2, 0), ("step", 2, 1), ("step", 3, 0), ("step", 3, 1),
                            ("step", 3, 2)]
    # called in this process, items run elsewhere: emit here does nothing
    executor.emit(("not", "sent"))


def test_workers_are_other_processes_of_this_parent_and_ignore_ctrl_c():
    with LocalProcesses(1) as ex:
        (pid, ppid, ignores_sigint), = list(ex.map(_whoami, [None]))
    assert pid != os.getpid() and ppid == os.getpid() and ignores_sigint


def test_a_dead_worker_is_the_result_of_its_item():
    with LocalProcesses(1) as ex:
        got = list(ex.map(_die, [None]))
    assert len(got) == 1 and isinstance(got[0], WorkerDied)


def test_a_stuck_worker_times_out_and_is_stopped():
    with LocalProcesses(1) as ex:
        (pid, _, _), = list(ex.map(_whoami, [None]))
        t0 = time.monotonic()
        got = list(ex.map(_sleep, [60.0], timeout_s=1.0))
        assert time.monotonic() - t0 < 10
        assert len(got) == 1 and isinstance(got[0], TimeoutError)
    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert not _alive(pid), "the stuck worker outlived the executor"


def test_an_error_of_the_caller_stops_the_workers():
    with pytest.raises(KeyboardInterrupt):
        with LocalProcesses(1) as ex:
            (pid, _, _), = list(ex.map(_whoami, [None]))
            ex.map(_sleep, [60.0])
            raise KeyboardInterrupt  # Ctrl-C while an item runs
    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert not _alive(pid)
