"""The stall rule: a search that has stopped improving stops (``SolveSettings.stall_share``).

One rule, shared by the OR-Tools search (`optimizer.routing.ortools_model`) and PyVRP's warm
start (`optimizer.routing.warm`): each search has its own `Stall` clock, started when it starts,
told every cost it reaches (`Stall.seen`), and asked whether to stop (`Stall.stalled`):

    stop at elapsed time t when  t - t_best >= max(min_s, share * t)

where ``t_best`` is when the best cost was last lowered by more than ``min_gain`` (default
`STALL_MIN_GAIN`, a share of the cost: steps of a few cents on a day's objective of millions do
not keep a search going). With the default share 0.5 a
search whose last improvement came at 6 s stops at 12 s; one that improves steadily runs to
its time limit. ``min_s`` (default 2 s) keeps a search from stopping during its first seconds;
a search that has no solution yet never stalls (its time limit ends it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from optimizer.routing.params import STALL_MIN_GAIN, STALL_MIN_S


class Stall:
    """The clock of one search: when it last improved, and whether it has stalled.

    Parameters
    ----------
    share
        Share of the elapsed time without improvement that stops the search, in (0, 1).
    min_s
        Seconds without improvement that never stop it. Default `STALL_MIN_S`.
    min_gain
        Smallest improvement, as a share of the best cost, that counts. Default
        `STALL_MIN_GAIN`.
    clock
        Seconds, monotonic (tests give their own). Default `time.monotonic`.
    """

    def __init__(self, share: float, *, min_s: float = STALL_MIN_S,
                 min_gain: float = STALL_MIN_GAIN,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.share = float(share)
        self.min_gain = float(min_gain)
        self.min_s = float(min_s)
        self._clock = clock
        self.started = clock()
        self.best = math.inf
        self._mark = math.inf  # the cost at the last improvement counted
        self.best_at = self.started

    def seen(self, cost: float) -> None:
        """The search reached `cost` (lower is better)."""
        self.best = min(self.best, cost)
        # small steps add up: the gain is counted from the cost of the last improvement counted
        if math.isinf(self._mark) or cost < self._mark - self.min_gain * abs(self._mark):
            self._mark = cost
            self.best_at = self._clock()

    def stalled(self) -> bool:
        """True when the search has gone `share` of its time (and `min_s`) without improving."""
        if math.isinf(self.best):
            return False
        now = self._clock()
        return now - self.best_at >= max(self.min_s, self.share * (now - self.started))

    def elapsed_s(self) -> float:
        """Seconds since the search started."""
        return self._clock() - self.started

    def best_after_s(self) -> float:
        """Seconds from the start to the best cost so far."""
        return self.best_at - self.started
