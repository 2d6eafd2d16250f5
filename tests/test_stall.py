"""The stall rule (`optimizer.routing.stall`) on a hand-driven clock, and the sized budget."""

from __future__ import annotations

import pytest

from optimizer.routing.params import SolveSettings, default_budget_s
from optimizer.routing.stall import Stall


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_search_stops_when_it_has_not_improved_for_half_its_time():
    clock = _Clock()
    stall = Stall(0.5, min_s=2.0, min_gain=0.0, clock=clock)
    clock.t += 1.0
    stall.seen(1000.0)  # first solution at 1 s
    clock.t += 5.0
    stall.seen(900.0)  # improvement at 6 s
    clock.t += 5.9
    assert not stall.stalled()  # 11.9 s: 5.9 s without improvement < 0.5 x 11.9 = 5.95
    clock.t += 0.1
    assert stall.stalled()  # 12 s: 6 s without improvement = 0.5 x 12


def test_a_worse_or_equal_cost_is_no_improvement():
    clock = _Clock()
    stall = Stall(0.5, min_s=2.0, min_gain=0.0, clock=clock)
    stall.seen(1000.0)
    clock.t += 1.0
    stall.seen(1200.0)  # a metaheuristic accepts a worse solution
    clock.t += 1.0
    stall.seen(1000.0)
    assert stall.best_after_s() == 0.0
    assert stall.stalled()  # 2 s without improvement: min_s reached, > 0.5 x 2


def test_no_stall_in_the_first_seconds_nor_before_a_first_solution():
    clock = _Clock()
    stall = Stall(0.5, min_s=2.0, clock=clock)
    clock.t += 50.0
    assert not stall.stalled()  # no solution yet: only the time limit ends the search
    stall.seen(10.0)
    clock.t += 1.9
    assert not stall.stalled()  # 1.9 s < min_s


def test_tiny_steps_do_not_keep_a_search_going_but_add_up():
    clock = _Clock()
    stall = Stall(0.5, min_s=2.0, min_gain=1e-3, clock=clock)
    stall.seen(1_000_000.0)
    for _ in range(9):  # nine steps of 100: each below 0.1 %, together 0.09 %
        clock.t += 1.0
        stall.seen(stall.best - 100.0)
    assert stall.best == 999_100.0 and stall.best_after_s() == 0.0
    assert stall.stalled()
    clock.t += 1.0
    stall.seen(stall.best - 100.0)  # the tenth: exactly 0.1 % since the last counted, not more
    assert stall.best_after_s() == 0.0
    clock.t += 1.0
    stall.seen(998_999.0)  # one unit more: together more than 0.1 %, it counts (at 11 s)
    assert stall.best_after_s() == 11.0 and not stall.stalled()


@pytest.mark.parametrize(("visits", "vehicles", "budget"), [
    (0, 3, 10.0),  # at least 10 s
    (500, 7, 17.0),  # the demo day with the China preset's teams
    (500, 15, 25.0),  # the demo day, single collectors
    (2000, 40, 170.0),
    (10_000, 200, 300.0),  # at most 300 s
])
def test_the_default_budget_grows_with_visits_times_vehicles(visits, vehicles, budget):
    assert default_budget_s(visits, vehicles) == pytest.approx(budget)
    assert SolveSettings().time_budget_s(visits, vehicles) == pytest.approx(budget)
    assert SolveSettings(time_limit_s=4.0).time_budget_s(visits, vehicles) == 4.0  # a cap given


def test_the_stall_rule_is_off_in_deterministic_mode():
    assert SolveSettings().stall == 0.5
    assert SolveSettings(max_solutions=10).stall is None
    assert SolveSettings(stall_share=None).stall is None
