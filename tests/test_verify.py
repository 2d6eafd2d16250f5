"""`verify.check_solution` finds each kind of violation on hand-written solutions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from optimizer import model
from optimizer.routing.verify import check_solution, route_cost

W = model.TimeWindow


def base_problem(**veh_kw) -> model.Problem:
    # depot 0, a at 100, b at 200 (line; time = distance)
    x = np.array([0.0, 100.0, 200.0])
    d = np.abs(x[:, None] - x[None, :])
    visits = (
        model.Visit("a", 1, 5.0, 60, (W(0, 1000),), demand=1),
        model.Visit("b", 2, 7.0, 60, (W(0, 100), W(300, 400)), demand=1),
    )
    veh = model.Vehicle("v", 0, 0, W(0, 1000), **veh_kw)
    return model.Problem(visits, (veh,), d, d.copy(), cost_per_s=0.01)


def good_solution(breaks=()) -> model.Solution:
    # leave 0, a: arrive 100, start 100, depart 160; b: arrive 260, wait to 300, depart 360;
    # back at 560.
    stops = (
        model.Stop("a", 100, 100, 160, 100, 100),
        model.Stop("b", 260, 300, 360, 100, 100),
    )
    route = model.Route("v", stops, 0, 560, 400, 400, breaks)
    return model.Solution((route,), ())


def replace_stop(sol, i, **kw):
    r = sol.routes[0]
    stops = list(r.stops)
    stops[i] = dataclasses.replace(stops[i], **kw)
    return dataclasses.replace(sol, routes=(dataclasses.replace(r, stops=tuple(stops)),))


def replace_route(sol, **kw):
    return dataclasses.replace(sol, routes=(dataclasses.replace(sol.routes[0], **kw),))


def test_good_solution_passes():
    p = base_problem()
    assert check_solution(p, good_solution()) == []
    cost = route_cost(p, good_solution())
    assert cost["value_visited"] == 12.0
    assert cost["objective"] == pytest.approx(0.01 * 400)


def test_dropping_is_fine_when_listed():
    p = base_problem()
    r = model.Route("v", (model.Stop("a", 100, 100, 160, 100, 100),), 0, 260, 200, 200)
    assert check_solution(p, model.Solution((r,), ("b",))) == []


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda s: dataclasses.replace(s, dropped=("a",)), "both routed and dropped"),
        (
            lambda s: replace_route(
                s, stops=s.routes[0].stops[:1], return_s=260, travel_s=200, travel_m=200
            ),
            "neither routed nor dropped",
        ),
        (
            lambda s: replace_route(s, stops=s.routes[0].stops + s.routes[0].stops[:1]),
            "routed 2 times",
        ),
        (lambda s: replace_stop(s, 1, start_s=200, depart_s=260), "outside its windows"),
        (
            lambda s: replace_stop(s, 0, arrive_s=50, start_s=50, depart_s=110),
            "earlier than leaving",
        ),
        (lambda s: replace_stop(s, 0, start_s=90, depart_s=150), "before arriving"),
        (lambda s: replace_stop(s, 0, depart_s=130), "start + service"),
        (lambda s: replace_stop(s, 0, travel_s=90), "differs from the matrix"),
        (lambda s: replace_route(s, travel_m=300), "travel_m total"),
        (lambda s: replace_route(s, leave_s=-10), "before its shift starts"),
        (lambda s: replace_route(s, vehicle_id="ghost"), "unknown vehicle"),
    ],
)
def test_violations_found(mutate, fragment):
    errors = check_solution(base_problem(), mutate(good_solution()))
    assert any(fragment in e for e in errors), errors


def test_shift_end():
    p = base_problem()
    p = dataclasses.replace(p, vehicles=(dataclasses.replace(p.vehicles[0], shift=W(0, 500)),))
    assert any("after its shift ends" in e for e in check_solution(p, good_solution()))


def test_overtime_extends_shift_end():
    p = base_problem()
    veh = dataclasses.replace(p.vehicles[0], shift=W(0, 500), overtime_s=100)
    assert check_solution(dataclasses.replace(p, vehicles=(veh,)), good_solution()) == []


@pytest.mark.parametrize(
    ("veh_kw", "fragment"),
    [
        ({"max_visits": 1}, "above max_visits"),
        ({"capacity": 1}, "above capacity"),
        ({"max_duration_s": 500}, "above its limit"),
    ],
)
def test_vehicle_limits(veh_kw, fragment):
    errors = check_solution(base_problem(**veh_kw), good_solution())
    assert any(fragment in e for e in errors), errors


def test_allowed_vehicles():
    p = base_problem()
    a = dataclasses.replace(p.visits[0], allowed_vehicles=(1,))
    p = dataclasses.replace(p, visits=(a, p.visits[1]))
    assert any("not allowed" in e for e in check_solution(p, good_solution()))


def test_required_visit_dropped():
    p = base_problem()
    b = dataclasses.replace(p.visits[1], required=True)
    p = dataclasses.replace(p, visits=(p.visits[0], b))
    r = model.Route("v", (model.Stop("a", 100, 100, 160, 100, 100),), 0, 260, 200, 200)
    errors = check_solution(p, model.Solution((r,), ("b",)))
    assert any("required visit b" in e for e in errors)


def test_unreachable_arc():
    p = base_problem()
    d = p.duration_s.copy()
    d[1, 2] = np.inf
    p = dataclasses.replace(p, duration_s=d)
    assert any("cannot reach" in e for e in check_solution(p, good_solution()))


def test_breaks():
    brk = model.Break(150, 300, 40)
    p = base_problem(breaks=(brk,))
    # missing break
    assert any("takes 0 breaks" in e for e in check_solution(p, good_solution()))
    # taken while waiting at b (260-300): fine
    assert check_solution(p, good_solution(breaks=((260, 300),))) == []
    # taken during a's service
    errors = check_solution(p, good_solution(breaks=((150, 190),)))
    assert any("overlaps the service of a" in e for e in errors), errors
    # too short
    errors = check_solution(p, good_solution(breaks=((260, 290),)))
    assert any("shorter than" in e for e in errors), errors
    # outside its window
    errors = check_solution(p, good_solution(breaks=((400, 440),)))
    assert any("outside its window" in e for e in errors), errors


def test_break_must_be_paid_by_time_between_services():
    # a 60 s break between a (depart 160) and b (start 300): 100 s travel + 60 > 140 s gap
    p = base_problem(breaks=(model.Break(150, 300, 60),))
    errors = check_solution(p, good_solution(breaks=((200, 260),)))
    assert any("less than travel" in e for e in errors), errors
