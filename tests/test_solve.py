"""Solver tests on tiny hand-computed problems; every plan is re-checked by `verify`.

Locations lie on a line: travel time (s) = distance (m) = |x_i - x_j|. Location 0 is the depot
unless said otherwise.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from optimizer import model
from optimizer.errors import InfeasibleError
from optimizer.routing.params import SolveSettings
from optimizer.routing.solve import solve
from optimizer.routing.verify import check_solution

W = model.TimeWindow
ANY_TIME = (W(0, 10_000),)
FAST = SolveSettings(time_limit_s=1, max_solutions=200)


def line(*xs: float) -> np.ndarray:
    x = np.asarray(xs, dtype=float)
    return np.abs(x[:, None] - x[None, :])


def problem(xs, visits, vehicles, **kw) -> model.Problem:
    d = line(*xs) if not isinstance(xs, np.ndarray) else xs
    return model.Problem(tuple(visits), tuple(vehicles), d, d.copy(), **kw)


def visit(vid, loc, value=10.0, service=60, windows=ANY_TIME, **kw) -> model.Visit:
    return model.Visit(vid, loc, value, service, tuple(windows), **kw)


def vehicle(vid="v", start=0, end=0, shift=(0, 10_000), **kw) -> model.Vehicle:
    return model.Vehicle(vid, start, end, W(*shift), **kw)


def run(p: model.Problem, settings: SolveSettings = FAST, **kw) -> model.Solution:
    sol = solve(p, settings, **kw)
    assert check_solution(p, sol) == []
    return sol


def routed(sol: model.Solution) -> dict[str, str]:
    return {s.visit_id: r.vehicle_id for r in sol.routes for s in r.stops}


def test_window_forces_drop():
    # c is 300 s away but must start by 100: impossible; a and b fit.
    p = problem(
        [0, 100, 200, 300],
        [visit("a", 1), visit("b", 2), visit("c", 3, windows=[W(0, 100)])],
        [vehicle()],
        cost_per_s=0.001,
    )
    sol = run(p)
    assert set(routed(sol)) == {"a", "b"}
    assert sol.dropped == ("c",)


def test_second_window_only_fits():
    # at 500 s away, the window 0-100 is missed; the visit starts when 600-700 opens.
    p = problem(
        [0, 500], [visit("a", 1, windows=[W(0, 100), W(600, 700)])], [vehicle()], cost_per_s=0.001
    )
    sol = run(p)
    (stop,) = sol.routes[0].stops
    assert stop.start_s == pytest.approx(600)
    assert stop.arrive_s <= 600


def test_more_valuable_visit_wins_when_only_one_fits():
    # shift 300 s: one round trip (200 s + 60 s service) fits, both (400 s + 120 s) do not.
    p = problem(
        [0, 100, -100],
        [visit("x", 1, value=5), visit("y", 2, value=8)],
        [vehicle(shift=(0, 300))],
        cost_per_s=0.001,
    )
    sol = run(p)
    assert set(routed(sol)) == {"y"}
    assert sol.dropped == ("x",)


def test_allowed_vehicles():
    # v0 sits on the visit, v1 is 1000 s away; only v1 is allowed.
    p = problem(
        [0, 1000],
        [visit("a", 0, allowed_vehicles=(1,))],
        [vehicle("v0", 0, 0), vehicle("v1", 1, 1)],
        cost_per_s=0.001,
    )
    sol = run(p)
    assert routed(sol) == {"a": "v1"}


def test_allowed_vehicles_empty_means_dropped():
    p = problem([0, 10], [visit("a", 1, allowed_vehicles=())], [vehicle()], cost_per_s=0.001)
    sol = run(p)
    assert sol.dropped == ("a",)


def test_max_visits_keeps_most_valuable():
    p = problem(
        [0, 10, 20, 30, 40],
        [visit(f"v{i}", i, value=float(i)) for i in range(1, 5)],
        [vehicle(max_visits=2)],
        cost_per_s=0.001,
    )
    sol = run(p)
    assert set(routed(sol)) == {"v3", "v4"}


def test_break_forces_drop():
    # No break: 0 -> 50 -> 100 -> 0 takes 200 s travel + 120 s service = 320 <= 400: both visited.
    # A 200 s break: only a fits (100 + 60 + 200 = 360); b alone needs 200 + 60 + 200 = 460.
    visits = [visit("a", 1, value=5), visit("b", 2, value=10)]
    p0 = problem([0, 50, 100], visits, [vehicle(shift=(0, 400))], cost_per_s=0.001)
    assert set(routed(run(p0))) == {"a", "b"}
    brk = model.Break(0, 400, 200)
    p1 = problem([0, 50, 100], visits, [vehicle(shift=(0, 400), breaks=(brk,))], cost_per_s=0.001)
    sol = run(p1)
    assert set(routed(sol)) == {"a"}
    (taken,) = sol.routes[0].breaks
    assert taken[1] - taken[0] == pytest.approx(200)


def test_break_taken_while_waiting():
    # a opens at 500; the 100 s lunch (300-400) fits in the wait and costs nothing.
    p = problem(
        [0, 100],
        [visit("a", 1, windows=[W(500, 600)])],
        [vehicle(shift=(0, 1000), breaks=(model.Break(300, 400, 100),))],
        cost_per_s=0.001,
    )
    sol = run(p)
    assert set(routed(sol)) == {"a"}
    assert sol.routes[0].stops[0].start_s == pytest.approx(500)


def test_break_outside_the_shift_is_our_error_not_a_crash():
    # shift 500-1000, a 100 s break to start in 0-300: it cannot be taken inside the shift.
    from optimizer.errors import CollectorRoutesError

    p = problem([0, 100], [visit("a", 1)],
                [vehicle("K04", shift=(500, 1000), breaks=(model.Break(0, 300, 100),))])
    with pytest.raises(CollectorRoutesError, match="vehicle K04: break 1 .* cannot be taken"):
        solve(p, FAST)


def test_capacity_and_required_visits():
    # 4 required visits of demand 1, two vehicles of capacity 2: both vehicles must work.
    p = problem(
        [0, 10, 20, 30, 40],
        [visit(f"c{i}", i, required=True, demand=1) for i in range(1, 5)],
        [vehicle("v0", capacity=2), vehicle("v1", capacity=2)],
        cost_per_m=1.0,
    )
    sol = run(p)
    assert sol.dropped == ()
    assert sorted(len(r.stops) for r in sol.routes) == [2, 2]


def test_required_visit_that_cannot_fit_raises():
    from optimizer.errors import CollectorRoutesError

    p = problem([0, 500], [visit("a", 1, required=True, windows=[W(0, 100)])], [vehicle()])
    with pytest.raises(InfeasibleError, match=r"1 required visit\(s\) could not be served") as err:
        solve(p, FAST)
    # one of the project's errors, with its own exit code (the CLI prints it on one line)
    assert isinstance(err.value, CollectorRoutesError) and err.value.exit_code == 3


def test_unreachable_arcs_are_never_used():
    # depot cannot drive to c directly (inf) but can via b; d cannot be reached at all.
    d = line(0, 10, 20, 30)
    d[0, 2] = np.inf
    d[:, 3] = np.inf
    d[3, 3] = 0
    p = problem(d, [visit("b", 1), visit("c", 2), visit("d", 3)], [vehicle()], cost_per_s=0.001)
    sol = run(p)
    assert set(routed(sol)) == {"b", "c"}
    assert [s.visit_id for s in sol.routes[0].stops] == ["b", "c"]
    assert sol.dropped == ("d",)


def test_preferred_vehicle():
    # two identical vehicles; serving a with v0 costs 50, with v1 nothing.
    p = problem(
        [0, 10],
        [visit("a", 1, preferred_vehicles=(1,), off_preference_cost=50.0)],
        [vehicle("v0"), vehicle("v1")],
        cost_per_s=0.001,
    )
    assert routed(run(p)) == {"a": "v1"}


def test_overtime_allowed_with_cost():
    # shift ends at 300 but the visit needs 500 + 60 + 500 s; 800 s of overtime at 0.001/s < value.
    v = visit("a", 1, value=10)
    no_ot = problem([0, 500], [v], [vehicle(shift=(0, 300))])
    assert run(no_ot).dropped == ("a",)
    ot = problem(
        [0, 500], [v], [vehicle(shift=(0, 300), overtime_s=800, overtime_cost_per_s=0.001)]
    )
    sol = run(ot)
    assert routed(sol) == {"a": "v"}
    assert sol.routes[0].return_s > 300


def test_max_duration():
    # shift is long but working time is limited to 500 s: only the near visit fits.
    p = problem(
        [0, 100, 300],
        [visit("near", 1, value=1), visit("far", 2, value=2)],
        [vehicle(max_duration_s=500)],
        cost_per_s=0.001,
    )
    sol = run(p)
    # far alone: 600 + 60 > 500; near alone: 200 + 60 fits
    assert set(routed(sol)) == {"near"}


def test_vehicle_own_start_end_and_shift():
    # v0 only works 0-100 and cannot reach a (at 500) in time; v1 starts next to it at 1000.
    p = problem(
        [0, 500, 550],
        [visit("a", 1)],
        [vehicle("v0", 0, 0, shift=(0, 100)), vehicle("v1", 2, 2, shift=(1000, 2000))],
        cost_per_s=0.001,
    )
    sol = run(p)
    assert routed(sol) == {"a": "v1"}
    r1 = next(r for r in sol.routes if r.vehicle_id == "v1")
    assert r1.leave_s >= 1000


def random_problem(n: int = 30, seed: int = 7, *, breaks: bool = True) -> model.Problem:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 3000, size=(n + 1, 2))
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    visits = []
    for i in range(1, n + 1):
        a = int(rng.integers(0, 20_000))
        visits.append(
            visit(
                f"c{i}", i, value=float(rng.integers(1, 100)), service=300, windows=[W(a, a + 7200)]
            )
        )
    vehicles = [
        vehicle(
            f"v{k}",
            shift=(0, 28_800),
            max_visits=6,
            breaks=(model.Break(12_000, 14_000, 1800),) if breaks else (),
        )
        for k in range(3)
    ]
    return model.Problem(tuple(visits), tuple(vehicles), d, d, cost_per_s=0.001)


def test_same_problem_and_seed_give_same_plan():
    p = random_problem()
    # the solution limit ends the search (about 0.5 s); the time limit is only a guard, set
    # high so that a loaded machine cannot cut the search short and change the plan
    s = SolveSettings(time_limit_s=120, max_solutions=100, seed=3)
    a, b = run(p, s), run(p, s)
    assert a.routes == b.routes
    assert a.dropped == b.dropped
    assert len(a.dropped) > 0  # a real backlog: 30 visits, 18 slots


# deterministic and cheap: work limits that end the searches long before the time limit
DET = {"time_limit_s": 120, "max_solutions": 100, "max_warm_iterations": 300}


@pytest.mark.parametrize("engine", ["pyvrp", "vroom"])
def test_warm_start_engines(engine):
    p = random_problem(breaks=False)
    sol = run(p, SolveSettings(num_workers=1, warm_start=engine, **DET))
    # VROOM's routes then seed PyVRP (the problem fits it); the better start is improved
    assert sol.solver == {"pyvrp": "ortools+pyvrp", "vroom": "ortools+vroom+pyvrp"}[engine]


def test_pyvrp_cannot_take_breaks_so_vroom_starts():
    sol = run(random_problem(), SolveSettings(num_workers=1, warm_start="pyvrp", **DET))
    assert sol.solver == "ortools+vroom"


def test_portfolio_same_seed_same_plan():
    p = random_problem(breaks=False)
    s = SolveSettings(num_workers=2, seed=1, **DET)
    a, b = run(p, s), run(p, s)
    assert a.routes == b.routes and a.solver == b.solver


def test_initial_plan_is_kept_or_improved():
    p = random_problem()
    first = run(
        p, SolveSettings(num_workers=1, warm_start="none", time_limit_s=10, max_solutions=1)
    )
    again = run(p, SolveSettings(num_workers=1, **DET), initial=first)
    assert again.solver == "ortools+initial"
    assert again.objective <= first.objective + 1e-9


def test_initial_plan_that_breaks_a_rule_is_cut():
    # yesterday's plan, today v0's shift ends at 15000: its route is cut, the plan stays valid
    p = random_problem()
    first = run(
        p, SolveSettings(num_workers=1, warm_start="none", time_limit_s=10, max_solutions=1)
    )
    v0 = dataclasses.replace(p.vehicles[0], shift=W(0, 15_000))
    p2 = dataclasses.replace(p, vehicles=(v0, *p.vehicles[1:]))
    sol = run(p2, SolveSettings(num_workers=1, **DET), initial=first)
    assert sol.routes[0].return_s <= 15_000


def test_an_executor_handed_in_runs_the_other_workers():
    # solve(executor=...): worker 0 here, worker 1 through the executor handed in, which stays
    # open for the next call; the plan is the one the default local processes give
    from optimizer.executor import LocalProcesses

    class Counting(LocalProcesses):
        calls = 0

        def map(self, fn, items, **kw):
            Counting.calls += 1
            return super().map(fn, items, **kw)

    p = random_problem(breaks=False)
    s = SolveSettings(num_workers=2, seed=1, **DET)
    with Counting(1) as executor:
        first = run(p, s, executor=executor)
        again = run(p, s, executor=executor)
    assert Counting.calls == 2
    assert first.routes == again.routes == run(p, s).routes


def test_a_search_that_stops_improving_ends_before_its_time_limit():
    # 30 visits on a line converge within a second; with a cap of 120 s the stall rule (no
    # improvement for half the search's time, at least 2 s) ends OR-Tools' search, and
    # PyVRP's warm start, long before; plan.search then names the stall as the stop
    from optimizer.plan import search

    p = random_problem(breaks=False)
    found = search(p, SolveSettings(time_limit_s=120, num_workers=1, warm_start="pyvrp"))
    assert found.search_stop == "stalled"
    assert found.solution.budget_s == 120 and found.solution.wall_s < 60
    assert check_solution(p, found.solution) == []
