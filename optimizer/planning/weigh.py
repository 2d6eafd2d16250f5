"""What a visit is worth: a value per case from its overdue amount and days past due.

The default preset, ``expected_recovery``, is the overdue amount times a collectability curve over
days past due (DPD). The default curve follows the collection industry's rules of thumb (the
README's *Weighting* item): 95 % collectable when just overdue, 90 % at 60 days, 50 % at 90 days,
20 % at 180 days, 8 % at a year and 3 % at two years. Between the points the curve
is linear; past the last point it stays flat. Calibrate it on your own outcomes: every point is
configurable (``--curve "0:0.95,60:0.9,90:0.5,180:0.2"``).

Presets:

``expected_recovery``
    amount x collectability(dpd) (x ``broken_promise_factor`` if a promise to pay was broken)
``amount``
    the overdue amount as it is
``urgency``
    amount x (1 + dpd / 30): older debt first, ignoring how collectable it still is
``count``
    every case worth 1: visit as many customers as possible
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer.errors import ConfigError
from optimizer.model import Case

DEFAULT_CURVE: tuple[tuple[int, float], ...] = (
    (0, 0.95), (60, 0.90), (90, 0.50), (180, 0.20), (365, 0.08), (730, 0.03),
)
PRESETS = ("expected_recovery", "amount", "urgency", "count")


@dataclass(frozen=True)
class Weighting:
    """How case values are computed.

    Parameters
    ----------
    preset
        One of ``PRESETS``.
    curve
        Collectability points ``(dpd, share)``, dpd increasing, share in [0, 1].
    broken_promise_factor
        Multiplier for cases whose promise to pay was broken (urgency), default 1.2.
    """

    preset: str = "expected_recovery"
    curve: tuple[tuple[int, float], ...] = DEFAULT_CURVE
    broken_promise_factor: float = 1.2

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"weighting preset {self.preset!r} is unknown; "
                              f"use one of {', '.join(PRESETS)}")
        days = [d for d, _ in self.curve]
        if not self.curve or days != sorted(days) or len(set(days)) != len(days):
            raise ConfigError(f"collectability curve {self.curve!r}: days must be increasing; "
                              "write it as 'dpd:share,...', e.g. '0:0.95,90:0.5,180:0.2'")
        if any(not 0 <= s <= 1 for _, s in self.curve):
            raise ConfigError(f"collectability curve {self.curve!r}: shares must be in 0..1")
        if self.broken_promise_factor < 0:
            raise ConfigError("broken_promise_factor must be >= 0")


def parse_curve(text: str) -> tuple[tuple[int, float], ...]:
    """Parse ``'0:0.95,60:0.9,90:0.5'`` into curve points."""
    try:
        pts = tuple((int(a), float(b)) for a, b in
                    (p.split(":") for p in text.replace(" ", "").split(",") if p))
    except ValueError:
        raise ConfigError(f"collectability curve {text!r} is not 'dpd:share,...'; "
                          "e.g. '0:0.95,60:0.9,90:0.5,180:0.2'") from None
    return pts


def collectability(days_past_due: float, curve: Sequence[tuple[int, float]] = DEFAULT_CURVE
                   ) -> float:
    """Share of the overdue amount expected to be recovered at this DPD (linear between points)."""
    xs = [d for d, _ in curve]
    ys = [s for _, s in curve]
    return float(np.interp(days_past_due, xs, ys))


def case_value(case: Case, weighting: Weighting = Weighting()) -> float:
    """The value of visiting `case` under `weighting` (same unit as the amount, or visits)."""
    p = weighting.preset
    if p == "count":
        return 1.0
    if p == "amount":
        return case.amount_overdue
    if p == "urgency":
        return case.amount_overdue * (1.0 + case.days_past_due / 30.0)
    v = case.amount_overdue * collectability(case.days_past_due, weighting.curve)
    if case.promise_broken:
        v *= weighting.broken_promise_factor
    return v
