"""Ctrl-C for the command line: a one-line message and exit code 130, promptly.

Python turns SIGINT into `KeyboardInterrupt` only when the main thread runs Python code; a long
call into a compiled solver (OR-Tools, PyVRP, VROOM) would hold it for the rest of its time
limit. `one_line_exit` watches for the signal from a helper thread (through the interpreter's
wakeup fd) and, if the main thread has not finished unwinding ``grace_s`` seconds after it, ends
the process itself. Nothing is half-written either way: plan folders are written into a
temporary folder and moved into place (`optimizer.outputs.write`), and child processes die with
their parent (`optimizer.executor`).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


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
