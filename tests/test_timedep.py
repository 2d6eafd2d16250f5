"""Planning with travel by time of day (`optimizer.routing.timedep`): the stand-in the searches
see, the rounds, and the plan they find on a hand-worked day.

The day: a depot (0) and two visits, A (1) and B (2). A ring road runs one way round
0 -> A -> B -> 0, 10 minutes a leg; against it a side street, 20 minutes a leg (0 -> B -> A -> 0).
In the evening peak (band from 17:00) the ring road takes four times as long (40 minutes a leg),
the side street as long as ever.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from optimizer import model
from optimizer.routing import schedule, timedep
from optimizer.routing.params import SolveSettings
from optimizer.routing.solve import solve
from optimizer.routing.verify import check_solution

W = model.TimeWindow
H = 3600
RING = np.array([[0, 600, 1200], [1200, 0, 600], [600, 1200, 0]], dtype=float)  # i -> j
PEAK = np.array([[0, 2400, 1200], [1200, 0, 2400], [2400, 1200, 0]], dtype=float)
METRES = RING * 10.0  # 60 km/h, whatever the band
SETTINGS = SolveSettings(time_limit_s=5.0, max_solutions=100, num_workers=1)


def bands() -> model.TimeBands:
    return model.TimeBands((0.0, 17.0 * H), (RING, PEAK), (METRES, METRES))


def day(shift: W, *, traffic: bool = True) -> model.Problem:
    visits = tuple(model.Visit(name, loc, 10_000.0, 300, (W(0, 24 * H),))
                   for name, loc in (("A", 1), ("B", 2)))
    return model.Problem(visits, (model.Vehicle("v", 0, 0, shift),), RING, METRES,
                         cost_per_s=1.0, traffic=bands() if traffic else None)


def order(solution: model.Solution) -> list[str]:
    return [s.visit_id for s in solution.routes[0].stops]


def test_the_best_order_flips_in_the_peak():
    # morning shift 08:00-11:00: A then B drives 3 x 10 minutes (30), B then A 3 x 20 (60): A, B
    morning = solve(day(W(8 * H, 11 * H)), SETTINGS)
    assert order(morning) == ["A", "B"]
    assert morning.routes[0].travel_s == 1800.0
    # evening shift 17:00-20:00, in the peak: A then B takes 3 x 40 minutes on the ring road
    # (120), B then A still 3 x 20 on the side street (60): B, A
    evening = solve(day(W(17 * H, 20 * H)), SETTINGS)
    assert order(evening) == ["B", "A"]
    route = evening.routes[0]
    assert route.travel_s == 3600.0
    # leave 17:00, B at 17:20, serve 5 minutes, A at 17:45, back at 18:10
    assert [s.arrive_s for s in route.stops] == [17 * H + 1200, 17 * H + 2700]
    assert route.return_s == 18 * H + 600
    assert check_solution(day(W(17 * H, 20 * H)), evening) == []
    # planned without the bands the evening keeps the morning's order, an hour longer by the
    # real travel (3 x 40 minutes against 3 x 20), and its ETAs (17:10 at A) are caught
    static = solve(day(W(17 * H, 20 * H), traffic=False), SETTINGS)
    assert order(static) == ["A", "B"] and static.routes[0].stops[0].arrive_s == 17 * H + 600
    assert any("earlier than leaving" in e for e in check_solution(day(W(17 * H, 20 * H)), static))


def test_the_first_stand_in_averages_the_bands_over_the_times_a_visit_can_be_left():
    # A can be left 16:05-18:05 (window 16:00-18:00, 5 minutes' service): 55 minutes before the
    # peak, 65 in it, so its row is 55/120 of the ring's plus 65/120 of the peak's; B (any time)
    # inside the shift 08:00-20:00: 540 minutes off-peak, 180 in the peak
    p = day(W(8 * H, 20 * H))
    a = dataclasses.replace(p.visits[0], windows=(W(16 * H, 18 * H),))
    p = dataclasses.replace(p, visits=(a, p.visits[1]))
    w = timedep.first_weights(p)
    assert w[0] == pytest.approx([55 / 120, 65 / 120])
    assert w[1] == pytest.approx([0.75, 0.25])
    assert w[2].tolist() == [1.0, 0.0]  # the vehicle leaves at its shift start, 08:00
    s = timedep.stand_in(p)
    # nodes: A, B, the vehicle's start, its end; A -> B on the ring road: 10 or 40 minutes
    assert s.duration_s[0, 1] == pytest.approx(55 / 120 * 600 + 65 / 120 * 2400)
    assert s.duration_s[2, 0] == 600.0 and s.traffic is None
    assert [v.location for v in s.visits] == [0, 1]
    assert (s.vehicles[0].start, s.vehicles[0].end) == (2, 3)


def test_a_later_round_takes_the_band_each_node_is_left_in_and_its_arc_exactly():
    p = day(W(16 * H + 2400, 20 * H))
    # leave 16:40 for A (10 minutes), serve 16:50-16:55, then on the ring road to B: 5 minutes
    # cover half the leg, the other half takes half of 40 minutes: A -> B is 25 minutes
    route = schedule.simulate_route(p, 0, [0, 1], leave_s=16 * H + 2400)
    assert route.stops[1].travel_s == pytest.approx(1500.0)
    weights, exact = timedep.refined(p, model.Solution((route,), ()), timedep.first_weights(p))
    assert weights[0].tolist() == [1.0, 0.0]  # A is left at 16:55, off-peak
    assert exact[(0, 1)] == pytest.approx((1500.0, 6000.0))
    assert exact[(2, 0)] == (600.0, 6000.0)  # the start, left at 16:40


def test_a_route_that_breaks_a_window_by_the_real_travel_is_cut_until_it_holds():
    # B must start by 17:50: leaving 17:00 for A (40 minutes in the peak), serving A 5 minutes
    # and on to B (40 more) starts B at 18:25; without A, B starts at 17:20
    p = day(W(17 * H, 20 * H))
    b = dataclasses.replace(p.visits[1], windows=(W(17 * H, 17 * H + 3000),), value=20_000.0)
    p = dataclasses.replace(p, visits=(p.visits[0], b))
    late = schedule.simulate_route(p, 0, [0, 1], leave_s=17 * H)
    sol = model.Solution((late,), ())
    assert any("outside its windows" in e for e in check_solution(p, sol))
    fixed = timedep.repair(p, sol)
    assert order(fixed) == ["B"] and fixed.dropped == ("A",)
    assert check_solution(p, fixed) == []
