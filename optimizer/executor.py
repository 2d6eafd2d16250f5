"""Child processes that die with their parent.

The solver portfolio (`optimizer.routing.solve`) and the what-if variants
(`optimizer.whatif.runner`) run work in child processes. If the parent is killed (``kill -9``,
out of memory, a closed terminal) nothing would stop them: a solver worker would run on to its
time limit and hold a core. A child calls `die_with_parent` first thing:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the child the moment its
  parent dies. The kernel ties this to the parent *thread* that started the child, so the parent
  asks for it (`pdeathsig_safe`) only when it starts children from its main thread;
- everywhere, a watchdog thread that ends the child when its parent process is gone (its parent
  id changes; checked twice a second).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: how often the watchdog looks for the parent, seconds
POLL_S = 0.5


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
            import ctypes

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
