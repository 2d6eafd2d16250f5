"""Searching with travel by time of day: static stand-ins for the searches, refined in rounds.

OR-Tools' routing model takes a fixed transit per arc. Its cumul-dependent transits
(``RoutingModel.RegisterCumulDependentTransitCallback`` with
``AddDimensionWithCumulDependentVehicleTransitAndCapacity``, OR-Tools 9.15: the transit of
``i -> j`` a piecewise-linear function of the cumul at ``i``) are declared in the Python wrapper
but cannot be used from it: the callback must return a C++ ``FloatSlopePiecewiseLinearFunction``,
which the wrapper neither builds nor converts (``TypeError: ... argument 2 of type
'operations_research::RoutingModel::CumulDependentTransitCallback2'``). So time-dependent legs
are planned by iterated band assignment:

1. `stand_in`: a static problem with one location per node (each visit, then each vehicle's
   start and end), whose row for a node is the travel from it when it is left, as band weights
   (`first_weights`): a visit's row is the average over the times it can be left (its windows
   plus its service, inside the vehicles' day), each band weighted by how long it lasts there;
   a vehicle's start row is its band at the shift start. The warm-start engines (PyVRP, VROOM)
   and the first OR-Tools search see this stand-in.
2. The routes found are re-simulated with the real travel (`optimizer.routing.schedule`, the
   problem's `model.drive`), and each node a route leaves gets the row of the band it is left
   in, its used arc the exact time-dependent time (`refined`); OR-Tools searches again from
   those routes (greedy descent, which stops by itself).
3. Repeated until a route set comes back (stable, or a cycle), a round finds nothing in its
   time (OR-Tools refused its starting routes and found none from scratch), or after `ROUNDS`
   rounds. The plan kept is the best route set (`objective`, on the real travel) that passes
   the check on the real problem (`optimizer.routing.verify`); if none does, the last is cut
   until it does (`repair`: a route that breaks a rule loses the stop whose removal mends it,
   the least valuable first).

Every time reported is the time-dependent one: the routes of each round are simulated on the
real problem (`ortools_model.search`'s ``timing``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from optimizer import model
from optimizer.errors import InfeasibleError
from optimizer.routing import ortools_model
from optimizer.routing.ortools_model import Routes
from optimizer.routing.params import SolveSettings
from optimizer.routing.schedule import simulate_route
from optimizer.routing.verify import check_solution, route_cost

log = logging.getLogger(__name__)

#: searches after the first, at most
ROUNDS = 4
#: share of the time left that the first search leaves to the later rounds
REFINE_SHARE = 0.2
#: what a round needs at least, seconds
MIN_ROUND_S = 0.5

FloatArray = npt.NDArray[np.float64]
#: node -> location of the stand-in's travel matrices: visits, then each vehicle's start, end
Arc = tuple[int, int]


def _bands(problem: model.Problem) -> model.TimeBands:
    if problem.traffic is None:
        raise ValueError("the problem has no time bands: search it as it is")
    return problem.traffic


def node_locations(problem: model.Problem) -> npt.NDArray[np.int64]:
    """The location of each node of the stand-in: visits, then each vehicle's start and end."""
    locs = [v.location for v in problem.visits]
    for veh in problem.vehicles:
        locs += [veh.start, veh.end]
    return np.asarray(locs, dtype=np.int64)


def _overlap_weights(tb: model.TimeBands, spans: Sequence[tuple[float, float]]) -> FloatArray:
    """Per band, the share of the time `spans` spend in it (a point span: its band)."""
    w = np.zeros(len(tb.start_s))
    ends = (*tb.start_s[1:], math.inf)
    for a, b in spans:
        if b <= a:
            w[tb.band(a)] += 1.0
            continue
        for k, (s, e) in enumerate(zip(tb.start_s, ends, strict=True)):
            w[k] += max(0.0, min(b, e) - max(a, s))
    total = float(w.sum())
    if total <= 0:
        w[0] = total = 1.0
    return np.asarray(w / total, dtype=float)


def first_weights(problem: model.Problem) -> FloatArray:
    """Round 0's band weights per node: when each node is likely left (see the module notes)."""
    tb = _bands(problem)
    day_start = min(float(v.shift.start_s) for v in problem.vehicles)
    day_end = max(float(v.shift.end_s + v.overtime_s) for v in problem.vehicles)
    rows = []
    for vis in problem.visits:
        wins = vis.windows or (model.TimeWindow(0, model.DAY_S),)
        spans = [(max(w.start_s + vis.service_s, day_start), min(w.end_s + vis.service_s, day_end))
                 for w in wins]
        spans = [(a, b) for a, b in spans if a <= b] or [(day_start, day_start)]
        rows.append(_overlap_weights(tb, spans))
    for veh in problem.vehicles:
        start = float(veh.shift.start_s)
        rows += [_overlap_weights(tb, [(start, start)])] * 2
    return np.asarray(rows, dtype=float)


def stand_in(problem: model.Problem, weights: FloatArray | None = None,
             exact: Mapping[Arc, tuple[float, float]] | None = None) -> model.Problem:
    """A static problem for the searches: one location per node (`node_locations`); node
    ``a``'s row of travel times and distances is the sum over bands of ``weights[a, b]`` times
    band ``b``'s row of its location (default weights: `first_weights`); `exact` overrides
    single arcs (node -> node: seconds, metres). Same visits and vehicles, in the same order."""
    tb = _bands(problem)
    w = first_weights(problem) if weights is None else weights
    locs = node_locations(problem)
    grid = np.ix_(locs, locs)
    dur = np.zeros((locs.size, locs.size))
    dist = np.zeros((locs.size, locs.size))
    base = np.asarray(problem.duration_s, dtype=float)[grid]
    seen: dict[int, FloatArray] = {}
    for b in range(len(tb.start_s)):
        if not w[:, b].any():
            continue
        for out, mats in ((dur, tb.duration_s), (dist, tb.distance_m)):
            m = np.asarray(mats[b], dtype=float)
            sub = seen.get(id(m))
            if sub is None:
                sub = seen[id(m)] = np.where(np.isfinite(m), m, 0.0)[grid]
            out += w[:, b, None] * sub
    for (a, c), (t_s, d_m) in (exact or {}).items():
        dur[a, c], dist[a, c] = t_s, d_m
    blocked = ~np.isfinite(base)
    dur[blocked] = dist[blocked] = np.inf
    np.fill_diagonal(dur, 0.0)
    np.fill_diagonal(dist, 0.0)
    n = len(problem.visits)
    visits = tuple(dataclasses.replace(v, location=i) for i, v in enumerate(problem.visits))
    vehicles = tuple(dataclasses.replace(v, start=n + 2 * k, end=n + 2 * k + 1)
                     for k, v in enumerate(problem.vehicles))
    return dataclasses.replace(problem, visits=visits, vehicles=vehicles, duration_s=dur,
                               distance_m=dist, traffic=None)


def refined(problem: model.Problem, solution: model.Solution,
            weights: FloatArray) -> tuple[FloatArray, dict[Arc, tuple[float, float]]]:
    """The next round's weights and exact arcs: every node `solution` leaves gets the band it
    is left in, and the arc it is left by its time-dependent travel from then
    (`model.drive`); the other nodes keep their `weights`."""
    tb = _bands(problem)
    w = weights.copy()
    locs = node_locations(problem)
    n = len(problem.visits)
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    veh_index = {v.vehicle_id: k for k, v in enumerate(problem.vehicles)}
    exact: dict[Arc, tuple[float, float]] = {}
    for r in solution.routes:
        if not r.stops:
            continue
        k = veh_index[r.vehicle_id]
        nodes = [n + 2 * k, *(index[s.visit_id] for s in r.stops), n + 2 * k + 1]
        leaves = [r.leave_s, *(s.depart_s for s in r.stops)]
        for a, c, t in zip(nodes[:-1], nodes[1:], leaves, strict=True):
            w[a] = 0.0
            w[a, tb.band(t)] = 1.0
            leg = model.drive(problem, int(locs[a]), int(locs[c]), t)
            exact[(a, c)] = (leg.travel_s, leg.distance_m)
    return w, exact


def sequences(problem: model.Problem, solution: model.Solution) -> tuple[tuple[int, ...], ...]:
    """Visit indices per vehicle of `problem`, in visiting order."""
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    by_vehicle = {r.vehicle_id: r for r in solution.routes}
    return tuple(tuple(index[s.visit_id] for s in by_vehicle[v.vehicle_id].stops)
                 if v.vehicle_id in by_vehicle else () for v in problem.vehicles)


def objective(problem: model.Problem, solution: model.Solution) -> float:
    """The objective OR-Tools minimises, on the solution's reported times: the value left out,
    travel, fixed and preference costs (`verify.route_cost`), overtime past the shift end and
    past ``max_duration_s`` at ``overtime_cost_per_s``, and the balance cost of the day's span
    (latest return minus earliest departure of the routes used)."""
    total = route_cost(problem, solution)["objective"]
    veh = {v.vehicle_id: v for v in problem.vehicles}
    used = [r for r in solution.routes if r.stops]
    for r in used:
        v = veh[r.vehicle_id]
        if v.overtime_s > 0 and v.overtime_cost_per_s > 0:
            total += v.overtime_cost_per_s * max(0.0, r.return_s - v.shift.end_s)
            if v.max_duration_s is not None:
                total += v.overtime_cost_per_s * max(0.0, r.return_s - r.leave_s
                                                     - v.max_duration_s)
    if used and problem.balance_cost_per_s > 0:
        total += problem.balance_cost_per_s * (max(r.return_s for r in used)
                                               - min(r.leave_s for r in used))
    return total


def search(problem: model.Problem, settings: SolveSettings, *, planning: model.Problem,
           starts: Sequence[Routes] = (), deadline: float) -> model.Solution:
    """Search `problem` (with time bands) through static stand-ins (see the module notes).

    Parameters
    ----------
    planning
        Round 0's stand-in (`stand_in`), which `starts` were found on.
    starts
        Candidate starting routes for the first search.
    deadline
        ``time.time()`` by which every round has ended; the first search leaves
        `REFINE_SHARE` of the time to the others, shared out between them (with
        ``settings.max_solutions``, each round may use all that is left: it ends on the limit or
        its local optimum, not on the clock, so a plan can be repeated).

    Returns
    -------
    model.Solution
        Times simulated on the real travel, passing `verify.check_solution` on `problem`;
        ``objective`` is `objective` (the real travel's).
    """
    t0 = time.monotonic()
    first_deadline = deadline - REFINE_SHARE * max(0.0, deadline - time.time())
    sol = ortools_model.search(planning, settings, starts=starts, deadline=first_deadline,
                               timing=problem)
    log.info("time-dependent first search: %.1f s, objective %.2f, %s", sol.wall_s,
             objective(problem, sol), "passes" if not check_solution(problem, sol)
             else "fails the check")
    weights = first_weights(problem)
    seen = {sequences(problem, sol)}
    best = sol if not check_solution(problem, sol) else None
    descent = dataclasses.replace(settings, metaheuristic="greedy_descent")
    rounds = 0
    for rounds in range(1, ROUNDS + 1):
        left_s = deadline - time.time()
        if left_s < MIN_ROUND_S:
            break
        weights, exact = refined(problem, sol, weights)
        nxt = stand_in(problem, weights, exact)
        # with a solution limit the rounds end by themselves (greedy descent, the limit), so
        # the same inputs give the same plan: the clock is only the cap of the whole search
        round_deadline = deadline if settings.max_solutions is not None else (
            time.time() + max(MIN_ROUND_S, left_s / (ROUNDS - rounds + 1)))
        try:
            sol = ortools_model.search(nxt, descent, starts=[sequences(problem, sol)],
                                       deadline=round_deadline, timing=problem)
        except InfeasibleError:
            # the model refused the routes as a start and its search from scratch found
            # nothing in the round's time: keep what the rounds before found
            log.info("time-dependent round %d: no routes in its time; stopping", rounds)
            break
        log.info("time-dependent round %d: %.1f s, objective %.2f, %s", rounds, sol.wall_s,
                 objective(problem, sol), "passes" if not check_solution(problem, sol)
                 else "fails the check")
        if not check_solution(problem, sol) and (
                best is None or objective(problem, sol) < objective(problem, best)):
            best = sol
        key = sequences(problem, sol)
        if key in seen:
            break
        seen.add(key)
    if best is None:
        log.info("time-dependent search: no round passed the check; cutting the last one")
        best = repair(problem, sol)
    log.info("time-dependent search: %d round(s) after the first", rounds)
    return dataclasses.replace(best, objective=objective(problem, best),
                               wall_s=time.monotonic() - t0)


# --------------------------------------------------------------------------- repair


def _break_legs(route: model.Route, breaks: Sequence[model.Break]
                ) -> list[tuple[int, model.Break]]:
    """On which leg `route` takes each of its vehicle's `breaks` (`simulate_route`'s legs),
    read off its times."""
    taken = sorted(route.breaks)
    n = len(route.stops)
    out = []
    for (bs, be), brk in zip(taken, sorted(breaks, key=lambda b: (b.earliest_s, b.latest_s)),
                             strict=False):
        if be <= route.leave_s + 1e-6:
            leg = -1
        elif bs >= route.return_s - 1e-6:
            leg = n + 1
        else:
            leg = sum(1 for s in route.stops if s.depart_s <= bs + 1e-6)
        out.append((leg, brk))
    return out


def _passes(problem: model.Problem, route: model.Route) -> bool:
    routed = {s.visit_id for s in route.stops}
    others = tuple(v.visit_id for v in problem.visits if v.visit_id not in routed)
    return not check_solution(problem, model.Solution((route,), others))


def _cut(problem: model.Problem, k: int, route: model.Route) -> model.Route:
    """`route` of vehicle `k`, with stops removed until it passes the check."""
    veh = problem.vehicles[k]
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    seq = [index[s.visit_id] for s in route.stops]
    legs = _break_legs(route, veh.breaks)

    def without(j: int) -> tuple[list[int], list[tuple[int, model.Break]]]:
        return seq[:j] + seq[j + 1:], [(leg - 1 if leg > j else leg, b) for leg, b in legs]

    def simulate(s: list[int], lg: list[tuple[int, model.Break]]) -> model.Route:
        return simulate_route(problem, k, s, leave_s=float(veh.shift.start_s), breaks=lg)

    current = route
    while seq and not _passes(problem, current):
        order = sorted(range(len(seq)), key=lambda j: problem.visits[seq[j]].value)
        for j in order:
            cand = simulate(*without(j))
            if _passes(problem, cand):
                seq, legs = without(j)
                current = cand
                break
        else:
            seq, legs = without(order[0])
            current = simulate(seq, legs)
    if not seq:
        start = float(veh.shift.start_s)
        return model.Route(veh.vehicle_id, (), start, start, 0.0, 0.0)
    return current


def repair(problem: model.Problem, solution: model.Solution) -> model.Solution:
    """`solution` with every route that fails the check cut until it passes (`_cut`)."""
    veh_index = {v.vehicle_id: k for k, v in enumerate(problem.vehicles)}
    routes = tuple(r if not r.stops or _passes(problem, r)
                   else _cut(problem, veh_index[r.vehicle_id], r) for r in solution.routes)
    visited = {s.visit_id for r in routes for s in r.stops}
    dropped = tuple(v.visit_id for v in problem.visits if v.visit_id not in visited)
    return dataclasses.replace(solution, routes=routes, dropped=dropped)
