"""Where parallel work runs: this machine's processes, or a Dask distributed cluster.

`ExecutorSettings` names the executor (``--executor local|dask``, ``--scheduler
tcp://HOST:8786``) and `make_executor` opens it; both kinds keep the contract of
`optimizer.executor.Executor`, so the solver portfolio, the what-if variants and the partitions
of a large day run the same module-level functions of plain data on either.

`DaskCluster` runs the items on the workers of a running Dask scheduler (``dask scheduler`` and
``dask worker tcp://HOST:8786 --nthreads 1`` on each machine; one thread per worker process,
since a search holds the interpreter). A worker needs only this package (the same version) and
whatever the items name on disk: the road network cache (``--cache-dir``) or the OSM extract at a
path it can reach (a shared folder). Results come back to the caller, which verifies them
(`optimizer.routing.verify` in the pipeline) before anything is written.

- The items are submitted at once (``client.submit(..., pure=False)``); results come back in the
  order of the items, a failure in its item's place: the exception the item raised,
  `WorkerDied` when Dask gave up on it (``KilledWorker``: its worker died, e.g. out of memory)
  or it was lost, `TimeoutError` after ``timeout_s``.
- `emit` works on a worker: events go to the scheduler as Dask worker events (``log_event``) on
  a topic of the `map` call, and come back to the caller's ``on_event`` while it waits.
- Leaving the ``with`` block cancels what has not finished. Dask cannot stop a running task: a
  search still running on a worker ends at its own time limit.
"""

from __future__ import annotations

import logging
import queue
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from optimizer.errors import ConfigError
from optimizer.executor import Executor, LocalProcesses, WorkerDied, call_with_sink

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "dask")
#: a scheduler address: ``tcp://HOST:PORT`` (or ``tls://``)
SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+:\d{1,5}$")
#: how long to try to reach the scheduler, and to wait for its first worker, seconds
CONNECT_TIMEOUT_S = 10.0
#: how often the caller looks for events while it waits for a result, seconds
_POLL_S = 0.25


class SchedulerError(ConfigError, ConnectionError):
    """The Dask scheduler named cannot be reached, has no workers, or its workers lack the
    package."""


@dataclass(frozen=True)
class ExecutorSettings:
    """Which executor runs the parallel work.

    Parameters
    ----------
    kind
        ``"local"`` (default: fresh processes on this machine) or ``"dask"``.
    scheduler
        With ``"dask"``: the scheduler's address, ``tcp://HOST:PORT``.
    """

    kind: str = "local"
    scheduler: str | None = None

    def __post_init__(self) -> None:
        # each field alone; the rules across them are the options' (`optimizer.settings`)
        if self.kind not in EXECUTORS:
            raise ConfigError(f"executor {self.kind!r} is unknown; use one of {EXECUTORS}")
        if self.scheduler is not None and not SCHEDULER_ADDRESS.match(self.scheduler):
            raise ConfigError(f"scheduler {self.scheduler!r} is not an address; give "
                              "tcp://HOST:PORT, e.g. tcp://127.0.0.1:8786")


def make_executor(settings: ExecutorSettings, *, max_workers: int) -> Executor:
    """The executor `settings` names: `LocalProcesses` of `max_workers` processes, or a
    `DaskCluster` (connected when its ``with`` block starts; the cluster decides how many
    items run at once).

    Raises
    ------
    ConfigError
        The dask executor without a scheduler.
    """
    if settings.kind == "dask":
        if settings.scheduler is None:
            raise ConfigError("the dask executor needs a scheduler; give --scheduler "
                              "tcp://HOST:8786 (started with `dask scheduler`)")
        return DaskCluster(settings.scheduler)
    return LocalProcesses(max_workers)


# --------------------------------------------------------------------------- on a worker


def _run_item(fn: Callable[[T], R], item: T, topic: str) -> R:
    """One item on a Dask worker, its events sent as worker events on `topic`."""
    from distributed import get_worker

    worker = get_worker()
    return call_with_sink(fn, item, lambda event: worker.log_event(topic, event))


def _package_here() -> str:
    """Where a worker imports the package from (run on every worker when connecting)."""
    return str(Path(__file__).resolve().parent)


# --------------------------------------------------------------------------- the caller


class DaskCluster:
    """`optimizer.executor.Executor` on the workers of a Dask distributed scheduler.

    Parameters
    ----------
    address
        ``tcp://HOST:PORT`` of a running ``dask scheduler``.
    connect_timeout_s
        How long to try to reach it and to wait for a first worker. Default
        `CONNECT_TIMEOUT_S`.

    Raises (when the ``with`` block starts)
    ---------------------------------------
    SchedulerError
        The scheduler cannot be reached, has no worker, or a worker cannot import the package.
    """

    def __init__(self, address: str, *, connect_timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        self.address = address
        self.connect_timeout_s = float(connect_timeout_s)
        self._client: Any = None
        self._futures: list[Any] = []
        self._topics: list[str] = []

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Connect to the scheduler and check its workers (see the class notes)."""
        if self._client is not None:
            return
        from distributed import Client

        fix = (f"start one with `dask scheduler --port {self.address.rsplit(':', 1)[-1]}` and "
               f"workers with `dask worker {self.address} --nthreads 1`, or give the address "
               "of a running one (--scheduler tcp://HOST:PORT)")
        try:
            client = Client(self.address, timeout=self.connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"cannot reach the Dask scheduler at {self.address} "
                                 f"({type(exc).__name__}: {exc}); {fix}") from None
        try:
            client.wait_for_workers(1, timeout=self.connect_timeout_s)
        except (OSError, TimeoutError):
            client.close()
            raise SchedulerError(f"the Dask scheduler at {self.address} has no workers after "
                                 f"{self.connect_timeout_s:.0f} s; start at least one with "
                                 f"`dask worker {self.address} --nthreads 1`") from None
        try:
            where = client.run(_package_here)
        except Exception as exc:  # noqa: BLE001 - a worker without the package: its own error
            client.close()
            raise SchedulerError(f"a worker of the Dask scheduler at {self.address} cannot "
                                 f"import collector-routes ({type(exc).__name__}: {exc}); "
                                 "install the package where the workers run (the same "
                                 "version), or start them with it on PYTHONPATH") from None
        log.info("Dask scheduler %s: %d worker(s), package at %s", self.address, len(where),
                 sorted(set(where.values())))
        self._client = client

    @property
    def workers(self) -> int:
        """How many workers the scheduler has now."""
        self.connect()
        return len(self._client.scheduler_info().get("workers", {}))

    def map(self, fn: Callable[[T], R], items: Iterable[T], *, timeout_s: float | None = None,
            on_event: Callable[[Any], None] | None = None) -> Iterator[R | Exception]:
        self.connect()
        client = self._client
        topic = f"collector-routes-{uuid.uuid4().hex}"
        events: queue.Queue[Any] = queue.Queue()
        if on_event is not None:
            # called in the client's event-loop thread: handed over to the caller's thread
            client.subscribe_topic(topic, lambda ev: events.put(ev[1]))
            self._topics.append(topic)
        futures = [client.submit(_run_item, fn, item, topic, pure=False) for item in items]
        self._futures += futures
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        return self._results(futures, deadline, events, on_event)

    def _results(self, futures: Sequence[Any], deadline: float | None, events: queue.Queue[Any],
                 on_event: Callable[[Any], None] | None) -> Iterator[Any]:
        def drain() -> None:
            while on_event is not None:
                try:
                    event = events.get_nowait()
                except queue.Empty:
                    return
                on_event(tuple(event) if isinstance(event, list) else event)

        for fut in futures:
            while True:
                step = _POLL_S
                if deadline is not None:
                    step = min(step, max(0.0, deadline - time.monotonic()))
                try:
                    fut.result(timeout=step)
                except Exception:  # noqa: BLE001, S110 - not done yet, or failed: see below
                    pass
                drain()
                if fut.done():
                    result = _outcome(fut)
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    fut.cancel()
                    result = TimeoutError("no result within the time allowed")
                    break
            drain()
            yield result

    def close(self) -> None:
        """Cancel what has not finished and disconnect."""
        client, self._client = self._client, None
        if client is None:
            return
        unfinished = [f for f in self._futures if not f.done()]
        if unfinished:
            client.cancel(unfinished)
        for topic in self._topics:
            try:
                client.unsubscribe_topic(topic)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        self._futures.clear()
        self._topics.clear()
        client.close()


def _outcome(fut: Any) -> Any:
    """A finished future's result, or its failure as the executor contract names it."""
    from distributed import KilledWorker

    if fut.status == "finished":
        return fut.result()
    if fut.status == "error":
        exc = fut.exception()
        if isinstance(exc, KilledWorker):
            return WorkerDied(f"Dask gave up on the item: {exc}")
        return exc
    return WorkerDied(f"the item was {fut.status} on the Dask cluster")
