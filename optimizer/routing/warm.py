"""Starting routes from a second engine (PyVRP or VROOM) for the OR-Tools search.

`optimizer.routing.solve` uses these when the problem fits the engine's model closely enough: the
engine's routes are loaded into OR-Tools, which checks them against the full model (every
product constraint) and improves them. A route OR-Tools cannot accept is never used as is.

Both engines work in integers; the conversion uses the same units as the OR-Tools model
(``time_ticks_per_s`` ticks per second, rounded up; money times ``value_scale``), so an engine's
objective equals ours up to the constraints the engine does not model.

What each engine models (anything else is relaxed and left to OR-Tools):

- **PyVRP 0.14**: prize-collecting (prize = value), required visits, several windows per visit
  (a client group of one client per window, at most one served), shifts, start/end places,
  capacity and ``max_visits`` (load dimensions), ``max_duration_s``, allowed vehicles (one
  routing profile per vehicle type with the forbidden visits made unreachable), arc costs, fixed
  cost. Not modelled: breaks (the problem is then not fit for PyVRP), overtime cost (overtime is
  allowed for free), preferences and balance (soft, ignored).
- **VROOM 1.15**: several windows, breaks, skills (allowed vehicles), ``max_tasks`` (max visits),
  capacity, shifts. Values become integer priorities 0..100 (VROOM maximises the priority sum
  before the cost): approximate for the product's money values, exact for TOPTW scores.
  ``max_duration_s`` is not modelled.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from optimizer import interrupts, model
from optimizer.routing.schedule import simulate_route
from optimizer.routing.stall import Stall

if TYPE_CHECKING:  # the engines load when a worker runs them
    import pyvrp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineRoutes:
    """Routes found by an engine: visit indices (into ``problem.visits``) per vehicle."""

    engine: str
    routes: tuple[tuple[int, ...], ...]
    wall_s: float


def pyvrp_misfit(problem: model.Problem) -> str | None:
    """Why `problem` cannot be given to PyVRP (``None``: it can)."""
    if any(v.breaks for v in problem.vehicles):
        return "vehicles have breaks (PyVRP has no breaks)"
    return None


#: visit indices (into ``problem.visits``) per vehicle, in visiting order
Routes = Sequence[Sequence[int]]


def _ticks_ceil(x: npt.ArrayLike, tps: int) -> npt.NDArray[np.int64]:
    return np.ceil(np.asarray(x, dtype=float) * tps - 1e-6).astype(np.int64)


def _horizon(problem: model.Problem) -> float:
    return float(max(v.shift.end_s + v.overtime_s for v in problem.vehicles))


def _vehicle_groups(problem: model.Problem, allowed_sig: bool) -> list[list[int]]:
    """Vehicles that are interchangeable for the engine, in input order."""
    groups: dict[tuple[object, ...], list[int]] = {}
    for k, v in enumerate(problem.vehicles):
        key: tuple[object, ...] = (v.start, v.end, v.shift, v.capacity, v.max_visits,
                                   v.max_duration_s, v.overtime_s)
        if allowed_sig:
            key = (*key, k)  # every vehicle has its own profile
        groups.setdefault(key, []).append(k)
    return list(groups.values())


def _integer_matrices(problem: model.Problem, locs: Sequence[int], tps: int, value_scale: float
                      ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int, int]:
    """Travel in ticks (rounded up) and arc costs in ``value_scale`` units between `locs`.

    Returns ``(duration, cost, big_duration, big_cost)``: a pair with no road gets the big
    values (above any horizon, above any route's cost), the diagonal 0.
    """
    horizon = int(math.floor(_horizon(problem) * tps))
    big_t = 10 * horizon + 10**6
    idx = np.asarray(locs)
    dur = np.asarray(problem.duration_s, dtype=float)[np.ix_(idx, idx)]
    dist = np.asarray(problem.distance_m, dtype=float)[np.ix_(idx, idx)]
    bad = ~np.isfinite(dur) | ~np.isfinite(dist)
    dur_t = _ticks_ceil(np.where(bad, 0.0, dur), tps)
    cost = np.rint(
        (
            problem.cost_per_s * np.where(bad, 0.0, dur)
            + problem.cost_per_m * np.where(bad, 0.0, dist)
        )
        * value_scale
    ).astype(np.int64)
    big_c = int(cost.max(initial=0)) * len(locs) + 10**9
    dur_t[bad] = big_t
    cost[bad] = big_c
    np.fill_diagonal(dur_t, 0)
    np.fill_diagonal(cost, 0)
    return dur_t, cost, big_t, big_c


def _uses_load(problem: model.Problem) -> bool:
    return (any(v.capacity is not None for v in problem.vehicles)
            or any(v.demand for v in problem.visits))


@dataclass(frozen=True)
class _PyvrpClients:
    """PyVRP's clients of a problem: one per window of each visit (a group when several)."""

    clients: list[pyvrp.Client]
    groups: list[pyvrp.ClientGroup]
    visit: list[int]  # client -> index into problem.visits
    of_visit: list[list[tuple[int, int, int]]]  # visit -> (client, window start, end in ticks)


def _pyvrp_clients(problem: model.Problem, first_location: int, tps: int, value_scale: float
                   ) -> _PyvrpClients:
    """The clients of `problem`'s visits; visit ``i`` is at location ``first_location + i``."""
    import pyvrp

    horizon = int(math.floor(_horizon(problem) * tps))
    use_load = _uses_load(problem)
    use_count = any(v.max_visits is not None for v in problem.vehicles)
    clients: list[pyvrp.Client] = []
    groups: list[pyvrp.ClientGroup] = []
    visit: list[int] = []
    of_visit: list[list[tuple[int, int, int]]] = []
    for i, v in enumerate(problem.visits):
        amount = ([int(v.demand)] if use_load else []) + ([1] if use_count else [])
        wins = v.windows or (model.TimeWindow(0, int(_horizon(problem))),)
        wins_t: list[tuple[int, int]] = [
            (
                max(0, math.ceil(w.start_s * tps - 1e-6)),
                min(horizon, math.floor(w.end_s * tps + 1e-6)),
            )
            for w in wins
        ]
        wins_t = [w for w in wins_t if w[0] <= w[1]] or [(horizon, horizon)]
        group = None
        if len(wins_t) > 1:
            group = len(groups)
            members = list(range(len(clients), len(clients) + len(wins_t)))
            groups.append(pyvrp.ClientGroup(members, required=v.required))
        of_visit.append([(len(clients) + j, a, b) for j, (a, b) in enumerate(wins_t)])
        for a, b in wins_t:
            clients.append(
                pyvrp.Client(
                    location=first_location + i,
                    delivery=amount,
                    service_duration=int(math.ceil(v.service_s * tps - 1e-6)),
                    tw_early=int(a),
                    tw_late=int(b),
                    prize=0 if v.required else int(round(max(v.value, 0.0) * value_scale)),
                    required=v.required and group is None,
                    group=group,
                )
            )
            visit.append(i)
    return _PyvrpClients(clients, groups, visit, of_visit)


def _pyvrp_vehicle_types(problem: model.Problem, groups: list[list[int]],
                         depot_index: dict[int, int], matrices: tuple[Any, Any, int, int],
                         tps: int, value_scale: float
                         ) -> tuple[list[pyvrp.VehicleType], list[Any], list[Any]]:
    """One vehicle type per group of interchangeable vehicles, and the matrices of their
    profiles: a vehicle with forbidden visits (``allowed_vehicles``) gets a profile where they
    cannot be reached.

    Returns ``(vehicle_types, cost_matrices, duration_matrices)`` (Any: PyVRP's stubs type a
    matrix as ndarray[int], a shape type numpy does not use).
    """
    import pyvrp

    dur_t, cost, big_t, big_c = matrices
    visits = problem.visits
    has_allowed = any(v.allowed_vehicles is not None for v in visits)
    use_load = _uses_load(problem)
    use_count = any(v.max_visits is not None for v in problem.vehicles)
    n_depots = len(depot_index)
    vtypes: list[pyvrp.VehicleType] = []
    dist_mats: list[Any] = [cost]
    dur_mats: list[Any] = [dur_t]
    for members in groups:
        veh = problem.vehicles[members[0]]
        cap: list[int] = []
        if use_load:
            cap.append(int(veh.capacity) if veh.capacity is not None else 10**9)
        if use_count:
            cap.append(int(veh.max_visits) if veh.max_visits is not None else len(visits))
        profile = 0
        if has_allowed:
            k = members[0]
            forbid = [
                n_depots + i
                for i, vis in enumerate(visits)
                if vis.allowed_vehicles is not None and k not in vis.allowed_vehicles
            ]
            if forbid:
                c2, d2 = cost.copy(), dur_t.copy()
                c2[:, forbid] = big_c
                d2[:, forbid] = big_t
                np.fill_diagonal(c2, 0)
                np.fill_diagonal(d2, 0)
                dist_mats.append(c2)
                dur_mats.append(d2)
                profile = len(dist_mats) - 1
        shift_duration = _NO_LIMIT  # PyVRP's default: no limit
        if veh.max_duration_s is not None:
            shift_duration = int(math.floor((veh.max_duration_s + veh.overtime_s) * tps + 1e-6))
        vtypes.append(pyvrp.VehicleType(
            num_available=len(members),
            capacity=cap,
            start_depot=depot_index[veh.start],
            end_depot=depot_index[veh.end],
            fixed_cost=int(round(problem.fixed_cost * value_scale)),
            tw_early=int(math.ceil(veh.shift.start_s * tps - 1e-6)),
            tw_late=int(math.floor((veh.shift.end_s + veh.overtime_s) * tps + 1e-6)),
            shift_duration=shift_duration,
            unit_distance_cost=1,
            unit_duration_cost=0,
            profile=profile,
        ))
    return vtypes, dist_mats, dur_mats


def solve_pyvrp(
    problem: model.Problem,
    *,
    time_limit_s: float,
    seed: int = 0,
    time_ticks_per_s: int = 1,
    value_scale: float = 100.0,
    max_iterations: int | None = None,
    initial_routes: Routes | None = None,
    stall_share: float | None = None,
) -> EngineRoutes:
    """Solve `problem` (relaxed as described in the module notes) with PyVRP.

    Parameters
    ----------
    time_limit_s
        Run time of PyVRP's iterated local search, seconds (building its data included).
    seed
        PyVRP's seed.
    time_ticks_per_s
        Integer time units per second, as in the OR-Tools model.
    value_scale
        Money units per value unit, as in the OR-Tools model.
    max_iterations
        Also stop after this many iterations (deterministic when reached first).
    initial_routes
        Visit indices per vehicle to start the search from (e.g. VROOM's routes); a visit with
        several windows is given the client of the first window it can start in.
    stall_share
        Also stop when the best feasible cost has not improved for this share of the search's
        time (`optimizer.routing.stall`). ``None`` (default): no stall rule.

    Ctrl-C stops the search at its next iteration (`interrupts.ctrl_c_stops`) and raises
    `KeyboardInterrupt`.
    """
    import pyvrp  # here, not at the top: a worker loads only the engine it runs
    from pyvrp import stop

    t0 = time.monotonic()
    tps = time_ticks_per_s
    vehicles = problem.vehicles
    groups = _vehicle_groups(problem, any(v.allowed_vehicles is not None for v in problem.visits))
    # locations: one per depot place, then one per visit (clients of one visit share it)
    depot_locs = sorted({v.start for v in vehicles} | {v.end for v in vehicles})
    loc_of = list(depot_locs) + [v.location for v in problem.visits]
    matrices = _integer_matrices(problem, loc_of, tps, value_scale)
    clients = _pyvrp_clients(problem, len(depot_locs), tps, value_scale)
    depot_index = {loc: i for i, loc in enumerate(depot_locs)}
    vtypes, dist_mats, dur_mats = _pyvrp_vehicle_types(problem, groups, depot_index, matrices,
                                                       tps, value_scale)
    data = pyvrp.ProblemData([pyvrp.Location(0, 0) for _ in loc_of], clients.clients,
                             [pyvrp.Depot(location=i) for i in range(len(depot_locs))], vtypes,
                             dist_mats, dur_mats, clients.groups)
    # PyVRP's penalties for excess load and time warp must be able to outweigh any prize, or the
    # search settles on infeasible routes that collect more prizes
    max_prize = max((c.prize for c in clients.clients), default=0)
    params = pyvrp.SolveParams(
        penalty=pyvrp.PenaltyParams(max_penalty=float(max(100_000, 10 * max_prize)))
    )
    t_build = time.monotonic() - t0
    init = None
    if initial_routes is not None:
        init = _pyvrp_initial(problem, data, groups, clients.of_visit, initial_routes, tps)
    with interrupts.ctrl_c_stops() as ctrl_c:
        criteria: list[pyvrp.stop.StoppingCriterion] = [
            stop.MaxRuntime(max(0.05, time_limit_s - t_build))]
        if max_iterations is not None:
            criteria.append(stop.MaxIterations(int(max_iterations)))
        if stall_share is not None:
            criteria.append(_Stalled(Stall(stall_share)))
        if ctrl_c.armed:
            criteria.append(_CtrlC(ctrl_c))  # last: the others count their calls
        stopper = criteria[0] if len(criteria) == 1 else stop.MultipleCriteria(criteria)
        result = pyvrp.solve(data, stopper, seed=seed, display=False, collect_stats=False,
                             params=params, initial_solution=init)
    best = result.best
    if not best.is_feasible():
        log.info("PyVRP found no feasible solution in %.1f s", time_limit_s)
    routes: list[list[int]] = [[] for _ in vehicles]
    next_member = [0] * len(groups)
    for r in best.routes():
        t = r.vehicle_type()
        k = groups[t][next_member[t]]
        next_member[t] += 1
        routes[k] = [clients.visit[a.idx] for a in r.schedule() if a.is_client()]
    return EngineRoutes("pyvrp", tuple(tuple(r) for r in routes), time.monotonic() - t0)


class _CtrlC:
    """PyVRP stopping criterion: Ctrl-C was pressed (`interrupts.ctrl_c_stops`)."""

    def __init__(self, request: interrupts.StopRequest) -> None:
        self._request = request

    def __call__(self, best_cost: int) -> bool:
        return self._request.is_set()


#: PyVRP's cost of an infeasible solution is "a very large number": at or above this
_INFEASIBLE_COST = 2**62


class _Stalled:
    """PyVRP stopping criterion: the best feasible cost stopped improving (`Stall`)."""

    def __init__(self, stall: Stall) -> None:
        self._stall = stall

    def __call__(self, best_cost: int) -> bool:
        if best_cost < _INFEASIBLE_COST:
            self._stall.seen(float(best_cost))
        return self._stall.stalled()


#: PyVRP's "no limit" of a shift duration (its default)
_NO_LIMIT = np.iinfo(np.int64).max


def solve_vroom(
    problem: model.Problem,
    *,
    time_ticks_per_s: int = 1,
    value_scale: float = 100.0,
    exploration_level: int = 5,
    threads: int = 1,
    time_limit_s: float | None = None,
) -> EngineRoutes:
    """Solve `problem` (relaxed as described in the module notes) with VROOM.

    Parameters
    ----------
    time_ticks_per_s
        Integer time units per second, as in the OR-Tools model.
    value_scale
        Money units per value unit, as in the OR-Tools model.
    exploration_level
        VROOM's search depth, 0-5.
    threads
        VROOM's threads.
    time_limit_s
        VROOM's timeout, seconds (``None``: it stops by itself).

    VROOM holds the interpreter until it returns: a Ctrl-C meanwhile takes effect then
    (`interrupts.ctrl_c_stops` keeps it, where VROOM would lose it) as `KeyboardInterrupt`.
    """
    import vroom  # here, not at the top: a worker loads only the engine it runs

    t0 = time.monotonic()
    vehicles, visits = problem.vehicles, problem.visits
    locs = [v.start for v in vehicles] + [v.end for v in vehicles] + [v.location for v in visits]
    uniq = sorted(set(locs))
    where = {loc: i for i, loc in enumerate(uniq)}
    dur_t, cost, _, _ = _integer_matrices(problem, uniq, time_ticks_per_s, value_scale)
    inp = vroom.Input()
    inp.set_durations_matrix("car", dur_t.astype(np.uint32) if dur_t.max() < 2**31 else dur_t)
    if cost.any():
        inp.set_costs_matrix("car", cost)
    # allowed vehicles -> skills: one skill per distinct allowed set
    skill_of: dict[tuple[int, ...], int] = {}
    for v in visits:
        if v.allowed_vehicles is not None:
            skill_of.setdefault(tuple(sorted(v.allowed_vehicles)), len(skill_of) + 1)
    for vehicle in _vroom_vehicles(problem, where, skill_of, time_ticks_per_s):
        inp.add_vehicle(vehicle)
    for job in _vroom_jobs(problem, where, skill_of, time_ticks_per_s):
        inp.add_job(job)
    solve_kw: dict[str, Any] = dict(exploration_level=exploration_level, nb_threads=threads)
    if time_limit_s is not None:
        solve_kw["timeout"] = timedelta(seconds=time_limit_s)
    with interrupts.ctrl_c_stops():
        sol = inp.solve(**solve_kw)
    routes: list[list[int]] = [[] for _ in vehicles]
    for row in sol.routes.itertuples(index=False):
        if str(row.type) == "job":
            routes[int(row.vehicle_id) - 1].append(int(row.id) - 1)
    return EngineRoutes("vroom", tuple(tuple(r) for r in routes), time.monotonic() - t0)


def _vroom_vehicles(problem: model.Problem, where: dict[int, int],
                    skill_of: dict[tuple[int, ...], int], tps: int) -> list[Any]:
    """VROOM's vehicles (ids from 1): shift, breaks, skills, capacity, max visits."""
    import vroom

    use_load = _uses_load(problem)
    out = []
    for k, veh in enumerate(problem.vehicles):
        skills = {s for allowed, s in skill_of.items() if k in allowed}
        brks = [
            vroom.Break(
                b_i + 1,
                time_windows=[
                    vroom.TimeWindow(
                        math.ceil(b.earliest_s * tps - 1e-6), math.floor(b.latest_s * tps + 1e-6)
                    )
                ],
                service=math.ceil(b.duration_s * tps - 1e-6),
            )
            for b_i, b in enumerate(veh.breaks)
        ]
        kw: dict[str, Any] = dict(
            start=vroom.LocationIndex(where[veh.start]),
            end=vroom.LocationIndex(where[veh.end]),
            time_window=vroom.TimeWindow(
                math.ceil(veh.shift.start_s * tps - 1e-6),
                math.floor((veh.shift.end_s + veh.overtime_s) * tps + 1e-6),
            ),
            breaks=brks,
        )
        if use_load:
            kw["capacity"] = [int(veh.capacity) if veh.capacity is not None else 10**9]
        if skills:
            kw["skills"] = skills
        if veh.max_visits is not None:
            kw["max_tasks"] = int(veh.max_visits)
        out.append(vroom.Vehicle(k + 1, **kw))
    return out


def _vroom_jobs(problem: model.Problem, where: dict[int, int],
                skill_of: dict[tuple[int, ...], int], tps: int) -> list[Any]:
    """VROOM's jobs (ids from 1): windows, service, skills, and the value as a priority 0..100
    (required visits 100); a visit with no window inside the horizon is left out."""
    import vroom

    use_load = _uses_load(problem)
    horizon = int(math.floor(_horizon(problem) * tps))
    vmax = max((v.value for v in problem.visits if not v.required), default=0.0)
    out = []
    for i, v in enumerate(problem.visits):
        wins = [
            vroom.TimeWindow(
                max(0, math.ceil(w.start_s * tps - 1e-6)),
                min(horizon, math.floor(w.end_s * tps + 1e-6)),
            )
            for w in v.windows
            if math.ceil(w.start_s * tps - 1e-6) <= min(horizon, math.floor(w.end_s * tps + 1e-6))
        ]
        if v.windows and not wins:
            continue  # cannot be visited at all
        kw: dict[str, Any] = dict(
            location=vroom.LocationIndex(where[v.location]),
            default_service=math.ceil(v.service_s * tps - 1e-6),
        )
        if wins:
            kw["time_windows"] = wins
        if use_load:
            kw["delivery"] = [int(v.demand)]
        if v.allowed_vehicles is not None:
            kw["skills"] = {skill_of[tuple(sorted(v.allowed_vehicles))]}
        if v.required:
            kw["priority"] = 100
        elif vmax > 0:
            kw["priority"] = int(round(100 * max(v.value, 0.0) / vmax))
        out.append(vroom.Job(i + 1, **kw))
    return out


def _pyvrp_initial(problem: model.Problem, data: pyvrp.ProblemData, groups: list[list[int]],
                   client_of: list[list[tuple[int, int, int]]], routes: Routes, tps: int
                   ) -> pyvrp.Solution:
    """A PyVRP solution for `routes`; each visit gets the client of the window it starts in."""
    import pyvrp

    type_of = {k: g for g, members in enumerate(groups) for k in members}
    out = []
    tps_routes: list[tuple[list[int], int]] = []
    for k, seq in enumerate(routes):
        if not seq:
            continue
        veh = problem.vehicles[k]
        sim = simulate_route(problem, k, list(seq), leave_s=float(veh.shift.start_s))
        clients = []
        for i, stop in zip(seq, sim.stops, strict=True):
            opts = client_of[i]
            pick = opts[0][0]
            for c, _, b in opts:  # window bounds are in ticks
                if stop.start_s * tps <= b + 1e-6:
                    pick = c
                    break
            clients.append(pick)
        tps_routes.append((clients, type_of[k]))
    for clients, vt in tps_routes:
        out.append(pyvrp.Route(data, clients, vt))
    return pyvrp.Solution(data, out)
