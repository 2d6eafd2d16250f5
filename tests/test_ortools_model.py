"""Each constraint family of the OR-Tools model, one at a time (Timefold's style).

Every test builds a tiny problem, works the expected answer out by hand in a comment, and solves
it twice: with every family (`ortools_model.FAMILIES`) and with the family under test left out,
so the test shows that this family, and nothing else, changes the answer. Plans of the whole
model are re-checked by `verify`; a plan of a model without a family breaks that family's rule,
and `verify` says so.

Locations lie on a line unless said otherwise: travel time (s) = distance (m) = |x_i - x_j|.
Money in the objective: ``cost_per_s`` per second of travel plus the value of every visit left
out, as `search` reports it (OR-Tools' integer objective / ``value_scale``, default 100).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from optimizer import model
from optimizer.errors import InfeasibleError
from optimizer.routing import ortools_model as om
from optimizer.routing.params import SolveSettings
from optimizer.routing.verify import check_solution

W = model.TimeWindow
DAY = (0, 10_000)
#: deterministic and quick: a solution limit ends every search long before the time limit
FAST = SolveSettings(time_limit_s=5, max_solutions=200)
#: the families that need the time dimension (left out together with it)
TIMED = (om.add_time_dimension, om.add_working_time_limits, om.add_balance, om.add_windows,
         om.add_breaks)


def line(*xs: float) -> np.ndarray:
    x = np.asarray(xs, dtype=float)
    return np.abs(x[:, None] - x[None, :])


def problem(d: np.ndarray, visits, vehicles, **kw) -> model.Problem:
    return model.Problem(tuple(visits), tuple(vehicles), d, d.copy(), **kw)


def visit(vid: str, loc: int, value: float = 100.0, service: float = 60, windows=(W(*DAY),),
          **kw) -> model.Visit:
    return model.Visit(vid, loc, value, service, tuple(windows), **kw)


def vehicle(vid: str = "v", start: int = 0, end: int | None = None, shift=DAY, **kw
            ) -> model.Vehicle:
    return model.Vehicle(vid, start, start if end is None else end, W(*shift), **kw)


def search(p: model.Problem, *, without=(), settings: SolveSettings = FAST) -> model.Solution:
    families = tuple(f for f in om.FAMILIES if f not in without)
    sol = om.search(p, settings, families=families)
    if not without:
        assert check_solution(p, sol) == []
    return sol


def routed(sol: model.Solution) -> dict[str, str]:
    return {s.visit_id: r.vehicle_id for r in sol.routes for s in r.stops}


def order(sol: model.Solution, vehicle_id: str = "v") -> list[str]:
    return [s.visit_id for r in sol.routes if r.vehicle_id == vehicle_id for s in r.stops]


# --------------------------------------------------------------------------- nodes and units


def test_nodes_round_travel_and_service_up_and_keep_the_empty_route():
    # One visit at location 1, 10.4 s from the depot (0), 59.5 s of service, one vehicle whose
    # end (location 2) has no road from its start. Nodes: visit 0, start 1, end 2. Ticks of
    # 1 s, rounded up: travel 0 -> 1 is 11, the visit's transit to the end is 60 + 11 = 71.
    # The start -> end arc is the empty route: always allowed, whatever the matrix says.
    d = np.array([[0.0, 10.4, np.inf], [10.4, 0.0, 10.4], [np.inf, 10.4, 0.0]])
    p = problem(d, [visit("a", 1, service=59.5)], [vehicle(start=0, end=2)])
    n = om.nodes(p, SolveSettings())
    assert list(n.node_loc) == [1, 0, 2]
    assert n.transit[1, 0] == 11 and n.transit[0, 2] == 71
    assert list(n.service) == [60, 0, 0]
    assert not n.unreachable[1, 2] and n.horizon == 10_000
    # ten ticks per second: 10.4 s is 104 ticks
    assert om.nodes(p, SolveSettings(time_ticks_per_s=10)).transit[1, 0] == 104


def test_nodes_refuse_a_malformed_problem_with_every_problem_named():
    from optimizer.errors import ProblemError

    p = problem(line(0, 10), [visit("a", 5), visit("a", 1)], [vehicle(start=9, end=0)])
    with pytest.raises(ProblemError) as err:
        om.nodes(p, SolveSettings())
    assert str(err.value) == ("invalid problem: visit ids are not unique; visit a: location 5 "
                              "outside the matrix; vehicle v: location 9 outside the matrix")
    with pytest.raises(ProblemError, match="no vehicles"):
        om.nodes(problem(line(0, 10), [visit("a", 1)], []), SolveSettings())


def test_window_ticks_round_inwards_and_merge_what_touches():
    # 10.5-20.5 s at 1 tick/s rounds inwards to 11-20; 21-30 touches it (21 = 20 + 1): one
    # window 11-30. 40-45 stays apart; 50.2-50.8 holds no whole tick and is dropped; 9990-20000
    # is cut at the horizon 10000.
    wins = [W(40, 45), W(21, 30), W(10.5, 20.5), W(50.2, 50.8), W(9990, 20000)]
    assert om.window_ticks(wins, 1, 10_000) == [(11, 30), (40, 45), (9990, 10_000)]


# --------------------------------------------------------------------------- costs


def test_arc_costs_make_the_nearer_vehicle_serve():
    # A at 0, B at 100, the visit at 90. With travel costing 1 per second, B serves it for
    # 10 + 10 = 20, A would pay 180; a fixed cost of 5 per used vehicle comes on top: 25.
    # Without the family nothing costs anything: objective 0.
    p = problem(line(0, 100, 90), [visit("x", 2, value=1000)],
                [vehicle("A", 0), vehicle("B", 1)], cost_per_s=1.0, fixed_cost=5.0)
    sol = search(p)
    assert routed(sol) == {"x": "B"} and sol.objective == pytest.approx(25.0)
    assert search(p, without=[om.add_arc_costs]).objective == 0.0


def test_preference_costs_send_the_visit_to_its_preferred_vehicle():
    # v0 at 0, v1 at -1, the visit at 10 prefers v1; another vehicle costs 50.
    # Travel at 0.01/s: v0 pays 2 * 10 s = 0.20, v1 pays 2 * 11 s = 0.22.
    # With preferences: v1 (0.22 < 0.20 + 50). Without: the cheaper v0.
    p = problem(line(0, -1, 10),
                [visit("x", 2, preferred_vehicles=(1,), off_preference_cost=50.0)],
                [vehicle("v0", 0), vehicle("v1", 1)], cost_per_s=0.01)
    sol = search(p)
    assert routed(sol) == {"x": "v1"} and sol.objective == pytest.approx(0.22)
    assert routed(search(p, without=[om.add_preference_costs])) == {"x": "v0"}


def test_preference_costs_per_vehicle_and_node():
    # visit 0 prefers vehicle 1 (cost 2.5 -> 250 units for vehicle 0 entering node 0), visit 1
    # has no preference: only vehicle 0 pays, only on node 0.
    p = problem(line(0, 1, 2),
                [visit("a", 1, preferred_vehicles=(1,), off_preference_cost=2.5), visit("b", 2)],
                [vehicle("v0"), vehicle("v1")])
    m = om.build(p, SolveSettings(), families=())
    extra = om.preference_costs(m)
    assert list(extra) == [0] and list(extra[0]) == [250, 0, 0, 0, 0, 0]


# --------------------------------------------------------------------------- time


def test_time_dimension_keeps_routes_in_the_shift_and_prices_overtime():
    # The visit at 500 needs 500 + 60 + 500 = 1060 s; the shift is 0-300.
    # Shift only: it cannot be made: dropped, objective = its value 100.
    # With 800 s of overtime at 0.01/s: made, back at 1060: 760 s of overtime = 7.6, plus
    # 1000 s of travel at 0.001/s = 1.0: objective 8.6 < 100.
    # Without the time dimension the shift is not a limit at all: made, objective 1.0.
    d = line(0, 500)
    short = problem(d, [visit("x", 1)], [vehicle(shift=(0, 300))], cost_per_s=0.001)
    sol = search(short)
    assert sol.dropped == ("x",) and sol.objective == pytest.approx(100.0)
    overtime = problem(d, [visit("x", 1)], [vehicle(shift=(0, 300), overtime_s=800,
                                                    overtime_cost_per_s=0.01)], cost_per_s=0.001)
    sol = search(overtime)
    assert routed(sol) == {"x": "v"} and sol.routes[0].return_s == pytest.approx(1060)
    assert sol.objective == pytest.approx(8.6)
    free = search(short, without=TIMED)
    assert routed(free) == {"x": "v"} and free.objective == pytest.approx(1.0)
    assert any("after its shift ends" in e for e in check_solution(short, free))


def test_working_time_limit_bounds_the_span_of_a_route():
    # Shift 0-10000, at most 500 s of work. near at 100 (value 1), far at 300 (value 5):
    # near alone 200 + 60 = 260 fits, far alone 600 + 60 = 660 does not, both 600 + 120 = 720
    # neither. With the limit: near only, objective 5 (far dropped) + 0.2 travel = 5.2.
    # Without: both, objective 0.6 (travel only).
    d = line(0, 100, 300)
    visits = [visit("near", 1, value=1), visit("far", 2, value=5)]
    p = problem(d, visits, [vehicle(max_duration_s=500)], cost_per_s=0.001)
    sol = search(p)
    assert set(routed(sol)) == {"near"} and sol.objective == pytest.approx(5.2)
    both = search(p, without=[om.add_working_time_limits])
    assert set(routed(both)) == {"near", "far"} and both.objective == pytest.approx(0.6)
    assert any("above its limit" in e for e in check_solution(p, both))
    # 200 s of overtime at 0.01/s: far alone works 660 s, 160 over: 1.6; near dropped (1) +
    # travel 0.6 + 1.6 = 3.2 < 5.2: far is made, paying for its overtime
    ot = problem(d, visits, [vehicle(max_duration_s=500, overtime_s=200, overtime_cost_per_s=0.01)],
                 cost_per_s=0.001)
    sol = search(ot)
    assert set(routed(sol)) == {"far"} and sol.objective == pytest.approx(3.2)


def test_balance_spreads_the_work_over_the_vehicles():
    # Two vehicles at 0, visits at 100 and 200. One vehicle doing both travels 400 s (0.4 at
    # 0.001/s) and works 400 + 120 = 520 s; one each travel 200 + 400 = 600 s (0.6), and the
    # day's global span (latest return - earliest departure) is 460 s. At 0.01/s of span:
    # one vehicle 0.4 + 5.2 = 5.6, one each 0.6 + 4.6 = 5.2: split. Without balance: one.
    p = problem(line(0, 100, 200), [visit("a", 1), visit("b", 2)], [vehicle("v0"), vehicle("v1")],
                cost_per_s=0.001, balance_cost_per_s=0.01)
    sol = search(p)
    assert sorted(len(r.stops) for r in sol.routes) == [1, 1]
    assert sol.objective == pytest.approx(5.2)
    one = search(p, without=[om.add_balance])
    assert sorted(len(r.stops) for r in one.routes) == [0, 2]
    assert one.objective == pytest.approx(0.4)


def test_windows_decide_the_order_of_the_visits():
    # Start at 0, end at 300; a at 100 may start 400-500, b at 200 only 0-250.
    # a first: b would be reached at 560 > 250. b first: b at 200, a at 360 (waits to 400),
    # back at 460 + 200: travel 200 + 100 + 200 = 500. Without windows the straight way
    # a, b (travel 300) is cheapest, and b then starts outside its window.
    p = problem(line(0, 100, 200, 300),
                [visit("a", 1, windows=[W(400, 500)]), visit("b", 2, windows=[W(0, 250)])],
                [vehicle(start=0, end=3)], cost_per_s=0.001)
    sol = search(p)
    assert order(sol) == ["b", "a"] and sol.routes[0].stops[1].start_s == pytest.approx(400)
    free = search(p, without=[om.add_windows])
    assert order(free) == ["a", "b"]
    assert any("outside its windows" in e for e in check_solution(p, free))


def test_a_visit_with_no_window_inside_the_horizon_is_never_made():
    # The only window 20000-21000 lies after every shift (horizon 10000): inactive, dropped.
    p = problem(line(0, 10), [visit("late", 1, windows=[W(20_000, 21_000)])], [vehicle()])
    assert search(p).dropped == ("late",)


# --------------------------------------------------------------------------- visits


def test_disjunctions_make_visits_optional_at_their_value():
    # Shift 0-300: one round trip (200 s + 60 s) fits, both (400 s + 120 s) do not.
    # x at 100 is worth 5, y at -100 worth 8: keep y, drop x: objective 5 + 0.2 = 5.2.
    # Without disjunctions every visit is mandatory: no plan at all.
    p = problem(line(0, 100, -100), [visit("x", 1, value=5), visit("y", 2, value=8)],
                [vehicle(shift=(0, 300))], cost_per_s=0.001)
    sol = search(p)
    assert routed(sol) == {"y": "v"} and sol.objective == pytest.approx(5.2)
    with pytest.raises(InfeasibleError):
        search(p, without=[om.add_disjunctions])


def test_drop_penalties_are_the_values_and_more_than_any_plan_for_required_visits():
    # values 3 and -1 (a negative value costs nothing to drop): 300 and 0 units; the required
    # visit costs (3 + 0 + 0 + 1) * 100 + the finite arc costs (0 here) + 10**9.
    p = problem(line(0, 1, 2, 3),
                [visit("a", 1, value=3), visit("b", 2, value=-1), visit("r", 3, value=0,
                                                                         required=True)],
                [vehicle()])
    m = om.build(p, SolveSettings(), families=())
    assert om.drop_penalties(m) == [300, 0, 400 + 10**9]


def test_allowed_vehicles_restrict_who_makes_a_visit():
    # v0 sits on the visit, v1 is 1000 s away but the only one allowed: v1 makes it for
    # 2000 s of travel (2.0). Without the family v0 makes it for nothing.
    p = problem(line(0, 1000), [visit("a", 0, allowed_vehicles=(1,))],
                [vehicle("v0", 0), vehicle("v1", 1)], cost_per_s=0.001)
    sol = search(p)
    assert routed(sol) == {"a": "v1"} and sol.objective == pytest.approx(2.0)
    free = search(p, without=[om.add_allowed_vehicles])
    assert routed(free) == {"a": "v0"}
    assert any("not allowed" in e for e in check_solution(p, free))


def test_unreachable_arcs_are_never_used_whatever_the_value():
    # The island (location 2) has no road to or from anywhere. Its value (10**11) is above the
    # cost that stands for a missing road (10**12 units = 10**10), so only the successor domains
    # keep it out: without them (and without the time dimension, whose transits would refuse
    # the arc too) the plan drives there on no road.
    d = line(0, 10, 0)
    d[2, :2] = d[:2, 2] = np.inf
    p = problem(d, [visit("b", 1), visit("island", 2, value=1e11)], [vehicle()], cost_per_s=0.001)
    sol = search(p)
    assert routed(sol) == {"b": "v"} and sol.dropped == ("island",)
    roadless = search(p, without=(om.add_unreachable_arcs, *TIMED))
    assert "island" in routed(roadless)
    assert any("no road" in e for e in check_solution(p, roadless))


def test_max_visits_keeps_the_most_valuable():
    # Four visits worth 1, 2, 3, 4; at most two per route: keep 3 and 4, drop 1 + 2 = 3.
    p = problem(line(0, 10, 20, 30, 40), [visit(f"c{i}", i, value=float(i)) for i in range(1, 5)],
                [vehicle(max_visits=2)], cost_per_s=0.001)
    sol = search(p)
    assert set(routed(sol)) == {"c3", "c4"}
    assert set(routed(search(p, without=[om.add_max_visits_and_capacity]))) == {
        "c1", "c2", "c3", "c4"}


def test_capacity_splits_the_load():
    # Four required visits at 10..40 of demand 1, two vehicles of capacity 2, 1 per metre.
    # One vehicle would take all: 80 m. Two of two: {10, 20} 40 m + {30, 40} 80 m = 120 m is the
    # best split ({10, 40} + {20, 30} and {10, 30} + {20, 40} are 140 m).
    p = problem(line(0, 10, 20, 30, 40),
                [visit(f"c{i}", i, required=True, demand=1) for i in range(1, 5)],
                [vehicle("v0", capacity=2), vehicle("v1", capacity=2)], cost_per_m=1.0)
    sol = search(p)
    assert sorted(len(r.stops) for r in sol.routes) == [2, 2]
    assert sol.objective == pytest.approx(120.0)
    one = search(p, without=[om.add_max_visits_and_capacity])
    assert one.objective == pytest.approx(80.0)
    assert any("above capacity" in e for e in check_solution(p, one))


# --------------------------------------------------------------------------- breaks


def test_breaks_take_time_from_the_day():
    # Shift 0-400, a at 50 (value 5), b at 100 (value 10), 60 s of service each.
    # No break: 0 -> a -> b -> 0 is 200 s travel + 120 s service = 320 <= 400: both.
    # A 200 s break: b alone needs 200 + 60 + 200 = 460 > 400, a alone 100 + 60 + 200 = 360:
    # a only, and the break is taken. Without the family the break is ignored: both.
    visits = [visit("a", 1, value=5), visit("b", 2, value=10)]
    p = problem(line(0, 50, 100), visits,
                [vehicle(shift=(0, 400), breaks=(model.Break(0, 400, 200),))], cost_per_s=0.001)
    sol = search(p)
    assert set(routed(sol)) == {"a"}
    (taken,) = sol.routes[0].breaks
    assert taken[1] - taken[0] == pytest.approx(200)
    both = search(p, without=[om.add_breaks])
    assert set(routed(both)) == {"a", "b"}
    assert any("takes 0 breaks" in e for e in check_solution(p, both))


def test_a_break_that_the_shift_cannot_hold_is_a_config_error():
    from optimizer.errors import ConfigError

    veh = vehicle("K04", shift=(500, 1000), breaks=(model.Break(0, 300, 100),))
    with pytest.raises(ConfigError, match="vehicle K04: break 1 .* cannot be taken"):
        om.check_breaks(problem(line(0, 1), [visit("a", 1)], [veh]), SolveSettings())


# --------------------------------------------------------------------------- Ctrl-C


def _sigint_in(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_stops_the_search_within_a_moment():
    # 60 visits on a 3 km square, no solution limit: the search would run its 60 s. The search
    # holds the interpreter, yet the timer thread runs (the search polls a Python function) and
    # its SIGINT stops the search: KeyboardInterrupt long before the time limit.
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 3000, size=(61, 2))
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    p = problem(d, [visit(f"c{i}", i, service=300) for i in range(1, 61)],
                [vehicle(f"v{k}", shift=(0, 28_800)) for k in range(3)], cost_per_s=0.001)
    t0 = time.monotonic()
    timer = _sigint_in(1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            om.search(p, SolveSettings(time_limit_s=60))
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 20  # a behaviour (it stops), not a speed: 60 s otherwise
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler given back


def test_ctrl_c_stops_is_armed_only_where_ctrl_c_is_ours():
    from optimizer.interrupts import ctrl_c_stops

    with ctrl_c_stops() as request:  # main thread, Python's handler: armed
        assert request.armed and not request.is_set()
        with ctrl_c_stops() as inner:  # nested: the same request
            assert inner is request
    seen = []

    def in_a_thread() -> None:
        with ctrl_c_stops() as request:
            seen.append(request.armed)

    worker = threading.Thread(target=in_a_thread)
    worker.start()
    worker.join()
    assert seen == [False]  # another thread
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # like a pool worker
    try:
        with ctrl_c_stops() as request:
            assert not request.armed
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


# --------------------------------------------------------------------------- starting routes


def test_starting_routes_are_checked_under_a_limit_of_their_own():
    # found by scripts/hostile_inputs.py on a loaded machine: a 300-case day with --time-limit
    # 5 left OR-Tools 0.1 s after VROOM; each check of VROOM's routes ran under that 0.1 s
    # limit and timed out, so accepted routes read as rejected ("initial routes were rejected
    # by the model"), the search started from nothing and the day ended in SearchTimeout. The
    # checks now run under `_LOADING_TIME_LIMIT_S`, the search under its own limit.
    from ortools.constraint_solver import pywrapcp

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.time_limit.FromMilliseconds(100)
    params.solution_limit = 7
    loading = om._loading_parameters(params)
    assert loading.time_limit.ToMilliseconds() == om._LOADING_TIME_LIMIT_S * 1000
    assert loading.solution_limit == 7 and params.time_limit.ToMilliseconds() == 100
    long = pywrapcp.DefaultRoutingSearchParameters()
    long.time_limit.FromSeconds(600)
    assert om._loading_parameters(long).time_limit.ToSeconds() == 600
    # a search whose deadline has passed still starts from (and keeps) routes it accepts
    # (hand-worked: v serves a then b on the line 0-1-2, travel 4 s, no visit left out)
    p = problem(line(0, 1, 2), [visit("a", 1), visit("b", 2)], [vehicle()])
    sol = om.search(p, FAST, starts=[[[0, 1]]], deadline=time.time() - 1)
    assert order(sol) == ["a", "b"] and sol.dropped == ()
    assert check_solution(p, sol) == []
