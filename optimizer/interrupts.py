"""Ctrl-C, promptly: compiled searches that stop when asked, and a one-line exit.

Python turns SIGINT into `KeyboardInterrupt` only when the main thread runs Python code; a long
call into a compiled solver (OR-Tools, VROOM) holds the interpreter for the rest of its time
limit, and neither the exception nor any other thread can run meanwhile. Two pieces:

- `ctrl_c_stops`, around a compiled search: within the block Ctrl-C only sets a flag, which the
  search polls through a Python callback (OR-Tools: a custom search limit; PyVRP: a stopping
  criterion). Polling a Python function lets the interpreter run its pending signal handler, so
  the flag is set within a moment of the key press; the search then stops, and leaving the block
  raises `KeyboardInterrupt`.
- `one_line_exit`, around a whole command: it watches for the signal from a helper thread
  (through the interpreter's wakeup fd) and, if the main thread has not finished unwinding
  ``grace_s`` seconds after it, ends the process itself.

Nothing is half-written either way: plan folders are written into a temporary folder and moved
into place (`optimizer.outputs.write`), and child processes die with their parent
(`optimizer.executor`).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class StopRequest:
    """Whether Ctrl-C was pressed inside `ctrl_c_stops`; a search polls `is_set`.

    ``armed`` is False where Ctrl-C is not ours to take (see `ctrl_c_stops`): `is_set` then
    stays False and a search need not poll it at all.
    """

    def __init__(self, *, armed: bool) -> None:
        self.armed = armed
        self._set = False

    def is_set(self) -> bool:
        """True once Ctrl-C was pressed.

        A Python function on purpose: compiled code calling it lets the interpreter run the
        pending signal handler (which sets the flag) first.
        """
        return self._set

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self._set = True


@contextmanager
def ctrl_c_stops() -> Iterator[StopRequest]:
    """Within the block, Ctrl-C asks a search to stop; leaving the block then raises
    `KeyboardInterrupt`.

    Armed only in the main thread while Python's own SIGINT handler is in place: a worker process
    that ignores SIGINT (`optimizer.executor`) or a caller with a handler of its own keeps its
    behaviour, and the request is never set. Inside another `ctrl_c_stops` block the request of
    the outer block is shared (the outer block raises).

    Yields
    ------
    StopRequest
        Poll `StopRequest.is_set` from the search.
    """
    if threading.current_thread() is not threading.main_thread():
        yield StopRequest(armed=False)
        return
    current = signal.getsignal(signal.SIGINT)
    outer = getattr(current, "__self__", None)
    if isinstance(outer, StopRequest):
        yield outer
        return
    if current is not signal.default_int_handler:
        yield StopRequest(armed=False)
        return
    request = StopRequest(armed=True)
    signal.signal(signal.SIGINT, request._on_sigint)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, current)
        if request.is_set():
            raise KeyboardInterrupt


@contextmanager
def one_line_exit(grace_s: float = 3.0) -> Iterator[None]:
    """Within the block, a Ctrl-C ends the process within `grace_s` seconds at the latest.

    The usual path is a `KeyboardInterrupt` in the main thread (the caller prints the line); the
    helper thread only acts when the main thread is stuck in compiled code.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        previous = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        os.close(r)
        os.close(w)
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if not select.select([r], [], [], 0.5)[0]:
                continue
            try:
                data = os.read(r, 64)
            except OSError:
                return
            if signal.SIGINT in data and not done.wait(grace_s):
                try:
                    sys.stderr.write("interrupted\n")
                    sys.stderr.flush()
                finally:
                    os._exit(EXIT_INTERRUPTED)

    watcher = threading.Thread(target=watch, name="collector-routes-interrupt", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.set_wakeup_fd(previous)
        watcher.join(timeout=1.0)
        os.close(r)
        os.close(w)
