"""One seam for parallel work: a plain function over plain data, results in order.

The solver portfolio (`optimizer.routing.portfolio`) and the what-if variants
(`optimizer.whatif.runner`) hand their work to an `Executor`. `LocalProcesses`, fresh
interpreters on this machine, is the default; a distributed engine (e.g. Dask) implements the same
protocol (`optimizer.cluster.DaskCluster` runs the items on a Dask distributed cluster;
`make_executor` picks one by `ExecutorSettings`). What every implementation keeps:

- ``map(fn, items)`` starts the items at once (as many at a time as it has workers) and returns
  an iterator over the results **in the order of** `items`. The caller may do other work before
  it iterates (the solver runs its own search meanwhile).
- `fn` is a module-level function and every item plain data: both travel to the worker by
  pickle, and nothing else is shared.
- A failure belongs to its item: in that item's place the iterator yields the exception `fn`
  raised, `WorkerDied` when the worker was lost (killed, out of memory), or `TimeoutError` when
  ``timeout_s`` passed; it never raises them. A dead worker may take the items it shared a pool
  with down too (each then yields `WorkerDied`).
- Progress: `fn` may call `emit` with any picklable value; the caller's ``on_event(value)`` runs
  in the caller's process and thread, while it iterates.
- Leaving the ``with`` block after an error, an interrupt or a timeout stops whatever still runs.

Children die with their parent. If the parent is killed (``kill -9``, out of memory, a closed
terminal) nothing would stop them: a solver worker would run on to its time limit and hold a
core. Each child of `LocalProcesses` calls `die_with_parent` first:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child the moment its
  parent dies. The kernel ties this to the parent *thread* that started the child, so the parent
  asks for it (`pdeathsig_safe`) only when it starts children from its main thread;
- everywhere, a watchdog thread that ends the child when its parent process is gone (its parent
  id changes; checked twice a second).

Ctrl-C is the parent's to handle: children ignore SIGINT, and the parent stops them.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import itertools
import logging
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from optimizer.errors import CollectorRoutesError, ConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: how often the watchdog looks for the parent, seconds
POLL_S = 0.5
#: how often the parent looks for events while it waits for a result, seconds
_EVENT_POLL_S = 0.25


class WorkerDied(CollectorRoutesError, RuntimeError):
    """The worker running an item ended before returning its result (killed, out of memory)."""


class Executor(Protocol):
    """Runs a function over items in parallel; see the module notes for the contract."""

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, timeout_s: float | None = None,
            on_event: Callable[[Any], None] | None = None) -> Iterator[R | Exception]:
        """Start ``fn(item)`` for every item; iterate over the results in the order of `items`.

        Parameters
        ----------
        fn
            A module-level function (it is pickled by reference).
        items
            Plain, picklable data, one per call.
        timeout_s
            Seconds, counted from this call, after which an unfinished item yields
            `TimeoutError`. ``None``: no limit.
        on_event
            Called in this process with every value `fn` passes to `emit`.
        """
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


# --------------------------------------------------------------------------- in the worker

_events: Any = None  # the parent's event queue, set in each child by `_init_child`
_call_id = 0  # which `map` call the running item belongs to (events are routed by it)
#: per thread, where `emit` sends events on a worker of another executor (`call_with_sink`):
#: a Dask worker runs several items at once, one per thread
_sinks = threading.local()


def emit(event: object) -> None:
    """Send `event` to the ``on_event`` of the `map` call running this item.

    Outside a worker (e.g. the caller running an item itself) it does nothing. Progress is only
    a display: an event that cannot be sent is dropped.
    """
    sink = getattr(_sinks, "sink", None)
    try:
        if sink is not None:
            sink(event)
        elif _events is not None:
            _events.put((_call_id, event))
    except Exception:  # noqa: BLE001 - progress is only a display
        pass


def call_with_sink(fn: Callable[[T], R], item: T, sink: Callable[[object], None]) -> R:
    """``fn(item)`` with `emit` sending to `sink` in this thread (for executors whose workers
    are not `LocalProcesses` children, e.g. `optimizer.cluster.DaskCluster`)."""
    _sinks.sink = sink
    try:
        return fn(item)
    finally:
        _sinks.sink = None


def _init_child(events: Any, parent_pid: int, kernel_signal: bool) -> None:
    global _events
    die_with_parent(parent_pid, kernel_signal=kernel_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops us
    _events = events


def _call(fn: Callable[[T], R], item: T, call_id: int) -> R:
    global _call_id
    _call_id = call_id
    try:
        return fn(item)
    finally:
        _call_id = 0


# --------------------------------------------------------------------------- local processes


class LocalProcesses:
    """`Executor` over up to `max_workers` fresh Python interpreters on this machine.

    Processes are started by the ``spawn`` method (never a fork of a threaded parent) when work
    arrives, and live until the ``with`` block ends; each runs one item at a time. Create and use
    the executor in one thread (the kernel's parent-death signal is tied to it, see the module
    notes). As with any ``spawn`` pool, a worker imports the caller's main script again (not
    ``python -m optimizer``'s): a script that plans must keep its work under
    ``if __name__ == "__main__":`` and be a file (not piped into ``python -``).
    """

    def __init__(self, max_workers: int) -> None:
        if max_workers < 1:
            raise ConfigError(f"max_workers={max_workers}: an executor needs at least one "
                              "worker; give max_workers >= 1")
        self.max_workers = int(max_workers)
        self._ctx = mp.get_context("spawn")
        self._pool: cf.ProcessPoolExecutor | None = None
        self._events: Any = None
        self._handlers: dict[int, Callable[[Any], None]] = {}
        self._calls = itertools.count(1)
        self._futures: list[cf.Future[Any]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(stop=exc_type is not None)

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, timeout_s: float | None = None,
            on_event: Callable[[Any], None] | None = None) -> Iterator[R | Exception]:
        pool = self._start()
        call_id = next(self._calls)
        if on_event is not None:
            self._handlers[call_id] = on_event
        futures: list[cf.Future[Any] | Exception] = []
        for item in items:
            try:
                fut = pool.submit(_call, fn, item, call_id)
            except cf.BrokenExecutor as exc:  # a worker died earlier: nothing more runs here
                futures.append(WorkerDied(f"not run: a worker process died ({exc})"))
                continue
            self._futures.append(fut)
            futures.append(fut)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        return self._results(futures, deadline)

    def _start(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._events = self._ctx.Queue()
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.max_workers, mp_context=self._ctx, initializer=_init_child,
                initargs=(self._events, os.getpid(), pdeathsig_safe()))
        return self._pool

    def _results(self, futures: Sequence[cf.Future[Any] | Exception], deadline: float | None
                 ) -> Iterator[Any]:
        for fut in futures:
            if isinstance(fut, Exception):
                yield fut
                continue
            while True:
                wait = _EVENT_POLL_S
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - time.monotonic()))
                try:
                    result = fut.result(timeout=wait)
                except cf.TimeoutError:
                    self._drain()
                    if deadline is not None and time.monotonic() >= deadline:
                        result = TimeoutError("no result within the time allowed")
                        break
                    continue
                except cf.BrokenExecutor as exc:
                    result = WorkerDied(f"a worker process died ({exc})")
                except Exception as exc:  # noqa: BLE001 - the item's own failure, returned
                    result = exc
                break
            self._drain()
            yield result

    def _drain(self) -> None:
        """Hand the events that arrived to their calls' ``on_event``."""
        if self._events is None:
            return
        while True:
            try:
                call_id, event = self._events.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                return
            handler = self._handlers.get(call_id)
            if handler is not None:
                handler(event)

    def close(self, *, stop: bool = False) -> None:
        """Wait for the workers to finish and end them, or with ``stop=True`` end them now.

        Work that has not finished (an item that timed out, results never asked for) is always
        stopped.
        """
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if stop or not all(f.done() for f in self._futures):
            # ProcessPoolExecutor cannot stop a running call: end its processes
            procs = list((getattr(pool, "_processes", None) or {}).values())
            for p in procs:
                p.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                p.join(timeout=5.0)
        else:
            pool.shutdown(wait=True)
            self._drain()  # events sent just before the last result
        self._handlers.clear()
        self._futures.clear()
        if self._events is not None:
            self._events.close()
            self._events = None


# --------------------------------------------------------------------------- dying with the parent


def pdeathsig_safe() -> bool:
    """True when a child started now from this thread may use the kernel's parent-death signal.

    The signal fires when the *thread* that started the child ends, so only children of the
    main thread (which ends with the process) use it.
    """
    return sys.platform.startswith("linux") and (
        threading.current_thread() is threading.main_thread())


def die_with_parent(parent_pid: int, *, kernel_signal: bool = True) -> None:
    """Make this process end when the process `parent_pid` ends.

    Parameters
    ----------
    parent_pid
        The parent's pid as the parent saw it (``os.getpid()`` there, passed to the child): if it
        is already gone when the child starts, the child ends at once.
    kernel_signal
        Also ask Linux for SIGKILL on the parent's death (see `pdeathsig_safe`).
    """
    if kernel_signal and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
                log.debug("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:  # no libc symbol: the watchdog still works
            log.debug("prctl unavailable: %s", exc)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), name="collector-routes-parent-watch",
                     daemon=True).start()


def _watch(parent_pid: int) -> None:
    while True:
        time.sleep(POLL_S)
        if os.getppid() != parent_pid:
            os._exit(1)
