"""Travel by time of day (`model.TimeBands`, `model.drive`, `model.depart_by`), and the route
simulator and the check on it.

The hand-built day: two places 10 minutes apart off-peak; the peak band 17:00-19:00 doubles every
travel time (20 minutes), distances stay.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from optimizer import model
from optimizer.routing import schedule, verify

W = model.TimeWindow
H = 3600.0
OFF = np.array([[0.0, 600.0], [600.0, 0.0]])  # 10 minutes
METRES = np.array([[0.0, 5000.0], [5000.0, 0.0]])


def two_bands() -> model.TimeBands:
    """Off-peak until 17:00, peak (twice as slow) until 19:00, off-peak after."""
    return model.TimeBands((0.0, 17 * H, 19 * H), (OFF, 2 * OFF, OFF), (METRES,) * 3)


def problem(*visits: model.Visit, traffic: model.TimeBands | None = None,
            shift: W = W(0, 24 * 3600)) -> model.Problem:
    return model.Problem(visits, (model.Vehicle("v", 0, 0, shift),), OFF, METRES,
                         traffic=traffic)


def test_a_leg_that_runs_into_the_peak_slows_down_for_the_rest_of_the_way():
    p = problem(traffic=two_bands())
    # off-peak: 10 minutes; in the peak: 20; leaving at 19:00 or later: 10 again
    assert model.drive(p, 0, 1, 12 * H).end_s == 12 * H + 600
    assert model.drive(p, 0, 1, 18 * H).end_s == 18 * H + 1200
    assert model.drive(p, 0, 1, 19 * H).end_s == 19 * H + 600
    # leaving 16:55: 5 minutes cover half the leg, the other half takes 10 minutes at peak pace
    leg = model.drive(p, 0, 1, 17 * H - 300)
    assert leg == model.Drive(17 * H + 600, 1.0, 900.0, 5000.0)
    # leaving 18:50: 10 minutes cover half the leg, the other half 5 minutes off-peak
    assert model.drive(p, 0, 1, 19 * H - 600).end_s == 19 * H + 300
    # stopped on the way at 17:00 after 5 minutes: half the leg, half its metres
    assert model.drive(p, 0, 1, 17 * H - 300, until_s=17 * H) == model.Drive(
        17 * H, 0.5, 300.0, 2500.0)
    # and the latest departure to be there by 17:10 is 16:55
    assert model.depart_by(p, 0, 1, 17 * H + 600) == pytest.approx(17 * H - 300)


def test_without_bands_a_leg_takes_the_matrix_at_any_time():
    p = problem()
    for t in (0.0, 8 * H, 18 * H):
        assert model.drive(p, 0, 1, t) == model.Drive(t + 600, 1.0, 600.0, 5000.0)
        assert model.depart_by(p, 0, 1, t + 600) == t


@st.composite
def banded(draw):
    """Random bands (1-6, with random paces) on a 2-location matrix."""
    n = draw(st.integers(1, 6))
    cuts = sorted(draw(st.sets(st.integers(1, 47), min_size=n - 1, max_size=n - 1)))
    starts = (0.0, *(c * 1800.0 for c in cuts))
    paces = draw(st.lists(st.floats(60.0, 7200.0), min_size=n, max_size=n))
    durations = tuple(np.array([[0.0, t], [t, 0.0]]) for t in paces)
    return problem(traffic=model.TimeBands(starts, durations, (METRES,) * n))


@given(banded(), st.floats(0.0, 30 * H), st.floats(0.0, 30 * H))
@example(problem(traffic=two_bands()), 17 * H - 1, 17 * H)
def test_leaving_later_never_arrives_earlier(p, t1, t2):
    t1, t2 = min(t1, t2), max(t1, t2)
    assert model.drive(p, 0, 1, t1).end_s <= model.drive(p, 0, 1, t2).end_s + 1e-9


@given(banded(), st.floats(0.0, 30 * H))
def test_the_latest_departure_is_the_inverse_of_the_drive(p, t):
    arrive = model.drive(p, 0, 1, t).end_s
    assert model.depart_by(p, 0, 1, arrive) == pytest.approx(t, abs=1e-6)
    leg = model.drive(p, 0, 1, t)
    assert leg.travel_s == pytest.approx(leg.end_s - t)
    assert leg.distance_m == pytest.approx(5000.0)


@pytest.mark.parametrize(("starts", "n", "message"), [
    ((), 0, "at least one"),
    ((0.0, 10.0), 1, "as many matrices"),
    ((5.0,), 1, "begin at 0"),
    ((0.0, 10.0, 10.0), 3, "increase"),
])
def test_bands_check_themselves(starts, n, message):
    with pytest.raises(ValueError, match=message):
        model.TimeBands(starts, (OFF,) * n, (METRES,) * n)
    with pytest.raises(ValueError, match="one shape"):
        model.TimeBands((0.0,), (np.zeros((3, 3)),), (METRES,))


# --------------------------------------------------------------------------- routes


def test_the_simulator_and_the_check_use_the_bands():
    # a visit at place 1 in 17:30-18:30 (10 min service), from place 0 and back, shift 16:00-20:00:
    # the crew leaves as late as still arrives at 17:30; at peak pace that is 17:10 (not 17:20),
    # serves 17:30-17:40 and is back at 18:00 (20 minutes)
    vis = model.Visit("a", 1, 1.0, 600, (W(int(17.5 * H), int(18.5 * H)),))
    p = problem(vis, traffic=two_bands(), shift=W(16 * 3600, 20 * 3600))
    route = schedule.simulate_route(p, 0, [0], leave_s=16 * H)
    assert (route.leave_s, route.stops[0].arrive_s) == (17 * H + 600, 17.5 * H)
    assert route.return_s == 18 * H
    assert (route.stops[0].travel_s, route.travel_s) == (1200.0, 2400.0)
    assert verify.check_solution(p, model.Solution((route,), ())) == []
    # the same route's times computed with the static matrix are caught
    static = schedule.simulate_route(dataclasses.replace(p, traffic=None), 0, [0],
                                     leave_s=16 * H)
    assert static.leave_s == 17 * H + 1200
    errors = verify.check_solution(p, model.Solution((static,), ()))
    assert any("differs from the matrix 1200.000 leaving at 17:20" in e for e in errors), errors
    assert any("earlier than leaving" in e for e in errors), errors


def test_a_break_on_the_way_is_a_pause_after_which_the_peak_pace_applies():
    # leave 16:50 towards a visit (window to 20:00) with a 20-minute break from 16:55 on the way:
    # 5 minutes cover half the leg, the break ends 17:15, the other half takes 10 minutes at peak
    # pace: arrive 17:25 (driven 15 minutes)
    vis = model.Visit("a", 1, 1.0, 600, (W(0, 20 * 3600),))
    brk = model.Break(int(17 * H - 300), int(17 * H), 1200)
    p = dataclasses.replace(problem(vis, traffic=two_bands()),
                            vehicles=(model.Vehicle("v", 0, 0, W(0, 24 * 3600), breaks=(brk,)),))
    route = schedule.simulate_route(p, 0, [0], leave_s=17 * H - 600, breaks=[(0, brk)])
    assert route.breaks == ((17 * H - 300, 17 * H + 900),)
    assert (route.stops[0].arrive_s, route.stops[0].travel_s) == (17 * H + 1500, 900.0)
    assert verify.check_solution(p, model.Solution((route,), ())) == []
    # a stop reported as if the whole leg had gone at the pace of its start is caught
    early = dataclasses.replace(route.stops[0], arrive_s=17 * H + 1200, start_s=17 * H + 1200,
                                depart_s=17 * H + 1800, travel_s=600.0)
    bad = dataclasses.replace(route, stops=(early,))
    errors = verify.check_solution(p, model.Solution((bad,), ()))
    assert any("less than travel" in e for e in errors), errors


def test_an_unreachable_pair_stays_unreachable_in_every_band():
    blocked = np.array([[0.0, math.inf], [math.inf, 0.0]])
    tb = model.TimeBands((0.0, 17 * H), (blocked, blocked), (blocked, blocked))
    p = model.Problem((), (), blocked, blocked, traffic=tb)
    assert model.drive(p, 0, 1, 8 * H).end_s == math.inf
    assert model.depart_by(p, 0, 1, 18 * H) == -math.inf
