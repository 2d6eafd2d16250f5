"""The OR-Tools routing model of a `model.Problem`: one function per constraint family.

Everything OR-Tools stays inside this module: `search` takes a `model.Problem` and plain
starting routes and returns a `model.Solution` whose times come from the one forward simulation
of a route (`optimizer.routing.schedule`) on the float matrices, so what is reported is exactly
what `optimizer.routing.verify` re-checks. OR-Tools' Python objects are untyped; they live in
`_Model` and never leave this module.

Nodes and units
---------------
One node per visit plus a start node and an end node per vehicle (so every vehicle has its own
start, end and shift): `nodes` lays them out and computes the integer matrices, with no OR-Tools
object. Time is counted in integer *ticks* (``SolveSettings.time_ticks_per_s`` per second):
``transit[i][j] = service(i) + travel(i, j)``, both rounded *up*, so the integer schedule found by
OR-Tools is never earlier than the float one and the float re-simulation stays feasible; windows
are rounded inwards. Money (values, costs per second or metre) is multiplied by
``SolveSettings.value_scale`` and rounded to integers. The matrices are registered as matrices
(``RegisterTransitMatrix`` / ``RegisterUnaryTransitVector``): no Python callback runs per arc.

Constraint families
-------------------
`FAMILIES` lists them in the order `build` adds them; each function's docstring states its rule,
and tests/test_ortools_model.py shows each one changing the answer of a tiny problem:

- `add_arc_costs`: travel cost per arc, fixed cost per used vehicle;
- `add_preference_costs`: a vehicle that is not preferred by a visit pays on entering it;
- `add_time_dimension`: the schedule, the shifts and the overtime past them;
- `add_working_time_limits`: ``max_duration_s`` on the route's span;
- `add_balance`: the day's span (latest return - earliest departure);
- `add_windows`: several windows per visit;
- `add_disjunctions`: every visit optional at the price of its value (required ones at any price);
- `add_allowed_vehicles`: who may make a visit;
- `add_unreachable_arcs`: pairs with no road are never used;
- `add_max_visits_and_capacity`: counts per route;
- `add_breaks`: breaks on the time dimension, never during a service.

Search
------
`search` loads the candidate starting routes (``ReadAssignmentFromRoutes``; a route the model
rejects is repaired by dropping stops) and improves the best one, or searches from scratch.
Unless in deterministic mode, the search also stops when it stalls (`optimizer.routing.stall`):
a callback at every accepted solution records its cost, and the custom search limit below asks
the stall rule too.
OR-Tools holds the interpreter for the whole search; a custom search limit polls
`optimizer.interrupts.ctrl_c_stops`' request (a Python function, so the interpreter runs its
signal handler meanwhile), so Ctrl-C stops the search within a moment and `KeyboardInterrupt`
is raised once it has stopped. The poll is armed only where Ctrl-C is ours (the main thread of a
process that has not set SIGINT aside); it costs a few per cent of the search's speed (on Solomon
R101 about 270,000 polls a second, 3-4 % CPU time at the same number of solutions).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from optimizer import interrupts, model
from optimizer.errors import ConfigError, InfeasibleError, ProblemError, SearchTimeout
from optimizer.routing.params import SolveSettings
from optimizer.routing.schedule import simulate_route
from optimizer.routing.stall import Stall

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
#: visit indices (into ``problem.visits``) per vehicle, in visiting order
Routes = Sequence[Sequence[int]]

#: OR-Tools' ``RoutingModel.status()`` codes
_STATUS = {
    0: "not_solved",
    1: "success",
    2: "partial_success",
    3: "fail",
    4: "fail_timeout",
    5: "invalid",
    6: "infeasible",
    7: "optimal",
}
#: transit of an arc that cannot be used, above any horizon: 4 horizons plus this, ticks
_BIG_TRANSIT = 1_000_000
#: arc cost of an unreachable pair, money units times ``value_scale``
_BIG_COST = 10**12


# --------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class Nodes:
    """The node layout of OR-Tools' model and its integer matrices (no OR-Tools object).

    Nodes ``0 .. n_vis - 1`` are the visits in the order of `perm`; then each vehicle ``k`` has
    its start node ``n_vis + 2k`` and its end node ``n_vis + 2k + 1``.

    Attributes
    ----------
    perm
        Node -> index into ``problem.visits`` (a seeded permutation; seed 0 keeps the order).
    node_loc
        Node -> location index into the travel matrices.
    unreachable
        ``(n_nodes, n_nodes)``: no road between the two nodes' places (a vehicle's own start
        -> end arc is always allowed: its empty route).
    service
        Service time per node, ticks (0 at start and end nodes).
    transit
        ``service[i] + travel[i, j]``, ticks; unreachable arcs above any horizon.
    arc
        Travel cost per arc, ``value_scale`` units; unreachable arcs `_BIG_COST`.
    horizon
        Latest end of any shift plus its overtime, ticks.
    """

    perm: IntArray
    node_loc: IntArray
    n_vis: int
    n_veh: int
    unreachable: BoolArray
    service: IntArray
    transit: IntArray
    arc: IntArray
    horizon: int

    @property
    def n_nodes(self) -> int:
        return self.n_vis + 2 * self.n_veh

    def start(self, k: int) -> int:
        """Start node of vehicle `k`."""
        return self.n_vis + 2 * k

    def end(self, k: int) -> int:
        """End node of vehicle `k`."""
        return self.n_vis + 2 * k + 1


def ceil_ticks(x: npt.ArrayLike, tps: int) -> IntArray:
    """Seconds rounded up to whole ticks; float noise tolerated (10.0000000001 s is 10 ticks)."""
    return np.ceil(np.asarray(x, dtype=float) * tps - 1e-6).astype(np.int64)


def floor_ticks(x: float, tps: int) -> int:
    """Seconds rounded down to whole ticks, float noise tolerated."""
    return int(math.floor(x * tps + 1e-6))


def _ceil_tick(x: float, tps: int) -> int:
    return int(math.ceil(x * tps - 1e-6))


def money(x: float, scale: float) -> int:
    """Money in `scale` units, rounded to an integer."""
    return int(round(x * scale))


def nodes(problem: model.Problem, settings: SolveSettings) -> Nodes:
    """Lay out the nodes of `problem` and compute the integer matrices OR-Tools works on.

    Raises
    ------
    ProblemError
        The problem has no vehicle, repeated visit ids, a location outside the matrices or
        matrices of different shapes.
    """
    check_problem(problem)
    tps = settings.time_ticks_per_s
    visits, vehicles = problem.visits, problem.vehicles
    n_vis, n_veh = len(visits), len(vehicles)
    # visit order inside OR-Tools: seeded permutation (seed 0 = input order)
    if settings.seed:
        perm = np.random.default_rng(settings.seed).permutation(n_vis).astype(np.int64)
    else:
        perm = np.arange(n_vis, dtype=np.int64)
    n_nodes = n_vis + 2 * n_veh
    node_loc = np.empty(n_nodes, dtype=np.int64)
    node_loc[:n_vis] = [visits[i].location for i in perm]
    node_loc[n_vis::2] = [v.start for v in vehicles]
    node_loc[n_vis + 1 :: 2] = [v.end for v in vehicles]

    dur = np.asarray(problem.duration_s, dtype=float)[np.ix_(node_loc, node_loc)]
    dist = np.asarray(problem.distance_m, dtype=float)[np.ix_(node_loc, node_loc)]
    inf = ~np.isfinite(dur) | ~np.isfinite(dist)
    np.fill_diagonal(inf, False)
    # a vehicle's own start -> end arc is its empty route: always allowed
    for k in range(n_veh):
        s, e = n_vis + 2 * k, n_vis + 2 * k + 1
        if inf[s, e]:
            log.warning(
                "vehicle %s cannot reach its end from its start; it can only stay unused",
                vehicles[k].vehicle_id,
            )
        inf[s, e] = False
    dur_f = np.where(np.isfinite(dur), dur, 0.0)
    dist_f = np.where(np.isfinite(dist), dist, 0.0)

    horizon = floor_ticks(max(v.shift.end_s + v.overtime_s for v in vehicles), tps)
    service = np.zeros(n_nodes, dtype=np.int64)
    service[:n_vis] = ceil_ticks([visits[i].service_s for i in perm], tps)
    transit = service[:, None] + ceil_ticks(dur_f, tps)
    transit[inf] = 4 * horizon + _BIG_TRANSIT
    np.fill_diagonal(transit, 0)

    scale = settings.value_scale
    arc = np.rint((problem.cost_per_s * dur_f + problem.cost_per_m * dist_f) * scale)
    arc = arc.astype(np.int64)
    arc[inf] = _BIG_COST
    np.fill_diagonal(arc, 0)
    return Nodes(perm=perm, node_loc=node_loc, n_vis=n_vis, n_veh=n_veh, unreachable=inf,
                 service=service, transit=transit, arc=arc, horizon=horizon)


def check_problem(problem: model.Problem) -> None:
    """Every location inside the matrices, visit ids unique, at least one vehicle.

    Raises
    ------
    ProblemError
        Naming every problem found.
    """
    if not problem.vehicles:
        raise ProblemError("the problem has no vehicles; add at least one collector")
    n_loc = np.asarray(problem.duration_s).shape[0]
    errors = []
    ids = [v.visit_id for v in problem.visits]
    if len(set(ids)) != len(ids):
        errors.append("visit ids are not unique")
    for v in problem.visits:
        if not 0 <= v.location < n_loc:
            errors.append(f"visit {v.visit_id}: location {v.location} outside the matrix")
    for veh in problem.vehicles:
        for loc in (veh.start, veh.end):
            if not 0 <= loc < n_loc:
                errors.append(f"vehicle {veh.vehicle_id}: location {loc} outside the matrix")
    if np.asarray(problem.distance_m).shape != np.asarray(problem.duration_s).shape:
        errors.append("duration_s and distance_m have different shapes")
    if problem.traffic is not None and (
            np.shape(problem.traffic.duration_s[0]) != np.asarray(problem.duration_s).shape):
        errors.append("the time bands' matrices and duration_s have different shapes")
    if errors:
        raise ProblemError("invalid problem: " + "; ".join(errors))


def break_ticks(veh: model.Vehicle, b_i: int, brk: model.Break, tps: int
                ) -> tuple[int, int, int]:
    """Earliest and latest start and the duration of a break, in ticks, inside the shift.

    Raises
    ------
    ConfigError
        The break cannot be taken inside the shift (plus overtime): the rules give a crew only
        the breaks its shift can hold (`rules.crew_breaks`), so this is a problem built by hand
        or by another caller.
    """
    dur_t = _ceil_tick(brk.duration_s, tps)
    lo = max(_ceil_tick(brk.earliest_s, tps), _ceil_tick(veh.shift.start_s, tps))
    hi = min(
        floor_ticks(brk.latest_s, tps),
        floor_ticks(veh.shift.end_s + veh.overtime_s, tps) - dur_t,
    )
    if hi < lo:
        raise ConfigError(
            f"vehicle {veh.vehicle_id}: break {b_i + 1} "
            f"({model.hhmm(brk.earliest_s)}-{model.hhmm(brk.latest_s)}, "
            f"{brk.duration_s} s) cannot be taken inside the shift "
            f"{veh.shift.label()}; move the break window into the shift or give this "
            "vehicle no break"
        )
    return lo, hi, dur_t


def check_breaks(problem: model.Problem, settings: SolveSettings) -> None:
    """Every break of every vehicle fits its shift (`break_ticks`), before any search starts."""
    for veh in problem.vehicles:
        for b_i, brk in enumerate(veh.breaks):
            break_ticks(veh, b_i, brk, settings.time_ticks_per_s)


# --------------------------------------------------------------------------- the model


@dataclass
class _Model:
    """One problem's OR-Tools model while it is built and searched (OR-Tools objects: `Any`)."""

    problem: model.Problem
    settings: SolveSettings
    nodes: Nodes
    manager: Any  # pywrapcp.RoutingIndexManager
    routing: Any  # pywrapcp.RoutingModel
    time_dimension: Any = None  # pywrapcp.RoutingDimension "time", see add_time_dimension
    #: break interval variables per vehicle, see add_breaks
    break_vars: list[list[Any]] = field(default_factory=list)

    @property
    def time(self) -> Any:
        if self.time_dimension is None:  # the model's own order of families, not the input's
            raise RuntimeError("add_time_dimension must come before the families that use time")
        return self.time_dimension

    def index(self, node: int) -> int:
        """OR-Tools' variable index of a visit node."""
        return int(self.manager.NodeToIndex(node))

    def visit(self, node: int) -> model.Visit:
        """The visit of a visit node."""
        return self.problem.visits[int(self.nodes.perm[node])]


Family = Callable[[_Model], None]


def add_arc_costs(m: _Model) -> None:
    """Travel cost: ``cost_per_s * travel_s + cost_per_m * distance_m`` on every arc used, and
    ``fixed_cost`` per vehicle that leaves its start.

    Service time is not a cost. One cost matrix for all vehicles (`add_preference_costs` gives
    vehicles their own).
    """
    routing = m.routing
    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(m.nodes.arc.tolist()))
    if m.problem.fixed_cost:
        routing.SetFixedCostOfAllVehicles(money(m.problem.fixed_cost, m.settings.value_scale))


def preference_costs(m: _Model) -> dict[int, IntArray]:
    """Per vehicle, the extra cost of entering each node (`add_preference_costs`' rule).

    A vehicle that is not among a visit's ``preferred_vehicles`` pays the visit's
    ``off_preference_cost`` on entering it; vehicles without any extra are left out.
    """
    scale = m.settings.value_scale
    extra: dict[int, IntArray] = {}
    for node in range(m.nodes.n_vis):
        vis = m.visit(node)
        if vis.preferred_vehicles and vis.off_preference_cost > 0:
            pen = money(vis.off_preference_cost, scale)
            for k in range(m.nodes.n_veh):
                if k not in vis.preferred_vehicles:
                    extra.setdefault(k, np.zeros(m.nodes.n_nodes, dtype=np.int64))[node] += pen
    return extra


def add_preference_costs(m: _Model) -> None:
    """Soft preferred vehicles: serving a visit with a vehicle it does not prefer costs its
    ``off_preference_cost`` (`preference_costs`), added to that vehicle's arcs entering it.

    This is exact (a served visit has exactly one entering arc), unlike
    ``AddSoftSameVehicleConstraint``, which is about pairs of visits. Vehicles with the same
    extra costs share one cost matrix (one cost class).
    """
    extra = preference_costs(m)
    classes: dict[bytes, int] = {}
    for k, cost in sorted(extra.items()):
        key = cost.tobytes()
        if key not in classes:
            classes[key] = m.routing.RegisterTransitMatrix((m.nodes.arc + cost[None, :]).tolist())
        m.routing.SetArcCostEvaluatorOfVehicle(classes[key], k)


def add_time_dimension(m: _Model) -> None:
    """The schedule: a time dimension with ``transit = service + travel`` (ticks), each vehicle's
    start and end inside its shift, and overtime.

    A vehicle leaves no earlier than ``shift.start_s`` and is back no later than ``shift.end_s +
    overtime_s`` (hard); with ``overtime_cost_per_s`` every second back after ``shift.end_s``
    costs that much (a soft upper bound on the end).
    """
    tps, scale, routing = m.settings.time_ticks_per_s, m.settings.value_scale, m.routing
    horizon = m.nodes.horizon
    routing.AddDimension(routing.RegisterTransitMatrix(m.nodes.transit.tolist()),
                         horizon, horizon, False, "time")
    m.time_dimension = time_dim = routing.GetDimensionOrDie("time")
    for k, veh in enumerate(m.problem.vehicles):
        lo = _ceil_tick(veh.shift.start_s, tps)
        hi_hard = floor_ticks(veh.shift.end_s + veh.overtime_s, tps)
        time_dim.CumulVar(routing.Start(k)).SetRange(lo, hi_hard)
        time_dim.CumulVar(routing.End(k)).SetRange(lo, hi_hard)
        if veh.overtime_s > 0 and veh.overtime_cost_per_s > 0:
            time_dim.SetCumulVarSoftUpperBound(routing.End(k), floor_ticks(veh.shift.end_s, tps),
                                               _per_tick(veh.overtime_cost_per_s, scale, tps))


def _per_tick(cost_per_s: float, scale: float, tps: int) -> int:
    """A cost per second as a whole number of money units per tick, at least 1."""
    return max(1, int(round(cost_per_s * scale / tps)))


def add_working_time_limits(m: _Model) -> None:
    """``max_duration_s``: a route's span (back at the end minus leaving the start) is at most
    ``max_duration_s + overtime_s`` (hard); with ``overtime_cost_per_s`` every second above
    ``max_duration_s`` costs that much (soft).
    """
    from ortools.constraint_solver import pywrapcp  # loaded by build already

    tps, scale = m.settings.time_ticks_per_s, m.settings.value_scale
    for k, veh in enumerate(m.problem.vehicles):
        if veh.max_duration_s is None:
            continue
        m.time.SetSpanUpperBoundForVehicle(floor_ticks(veh.max_duration_s + veh.overtime_s, tps), k)
        if veh.overtime_s > 0 and veh.overtime_cost_per_s > 0:
            bound = pywrapcp.BoundCost(floor_ticks(veh.max_duration_s, tps),
                                       _per_tick(veh.overtime_cost_per_s, scale, tps))
            m.time.SetSoftSpanUpperBoundForVehicle(bound, k)


def add_balance(m: _Model) -> None:
    """Workload balance: ``balance_cost_per_s`` per second of the day's span, the latest return
    minus the earliest departure over all routes (OR-Tools' global span cost of the time
    dimension); 0 = off.

    Not the longest minus the shortest route: one long route costs its whole length, so the
    work goes to more routes that start together.
    """
    if m.problem.balance_cost_per_s > 0:
        m.time.SetGlobalSpanCostCoefficient(
            _per_tick(m.problem.balance_cost_per_s, m.settings.value_scale,
                      m.settings.time_ticks_per_s))


def window_ticks(windows: Sequence[model.TimeWindow], tps: int, horizon: int
                 ) -> list[tuple[int, int]]:
    """Windows in ticks, rounded inwards, cut to ``[0, horizon]``, sorted and merged where they
    touch (`add_windows`' rule); a window left empty by the rounding or the cut is dropped."""
    ticks = []
    for w in windows:
        a, b = max(_ceil_tick(w.start_s, tps), 0), min(floor_ticks(w.end_s, tps), horizon)
        if a <= b:
            ticks.append((a, b))
    ticks.sort()
    merged: list[tuple[int, int]] = []
    for a, b in ticks:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def add_windows(m: _Model) -> None:
    """Several windows per visit: the start of service lies in one of them (inclusive).

    The time variable of the visit ranges over the hull of its windows (`window_ticks`) with the
    gaps removed. A visit none of whose windows fits the horizon cannot be made: it is made
    inactive (a required one is left to `add_disjunctions`, and reported infeasible).
    """
    for node in range(m.nodes.n_vis):
        vis = m.visit(node)
        if not vis.windows:
            continue
        index = m.index(node)
        wins = window_ticks(vis.windows, m.settings.time_ticks_per_s, m.nodes.horizon)
        if not wins:
            if not vis.required:
                m.routing.ActiveVar(index).SetValue(0)
            continue
        cumul = m.time.CumulVar(index)
        cumul.SetRange(wins[0][0], wins[-1][1])
        for (_, b0), (a1, _) in zip(wins, wins[1:], strict=False):
            cumul.RemoveInterval(b0 + 1, a1 - 1)


def drop_penalties(m: _Model) -> list[int]:
    """Per visit node, the price of leaving it out (`add_disjunctions`' rule), ``value_scale``
    units: its value (never negative), or for a required visit more than any plan can cost."""
    scale = m.settings.value_scale
    values = [max(0.0, m.visit(node).value) for node in range(m.nodes.n_vis)]
    big = int(round((sum(values) + 1.0) * scale)) + int(m.nodes.arc[~m.nodes.unreachable].sum())
    big = min(big + 10**9, 2**52)
    return [big if m.visit(node).required else money(values[node], scale)
            for node in range(m.nodes.n_vis)]


def add_disjunctions(m: _Model) -> None:
    """Every visit is optional: leaving it out costs its value (`drop_penalties`), so the plan
    maximises the value visited minus the costs.

    A required visit's penalty is larger than any plan's cost, so the search always starts from
    a solution and serves it whenever it can; a plan that still drops one raises
    `InfeasibleError` (see `search`).
    """
    for node, penalty in enumerate(drop_penalties(m)):
        m.routing.AddDisjunction([m.index(node)], penalty)


def add_allowed_vehicles(m: _Model) -> None:
    """``allowed_vehicles``: only those vehicles may make the visit (an empty tuple: none, the
    visit is dropped); ``None`` = any vehicle."""
    for node in range(m.nodes.n_vis):
        vis = m.visit(node)
        if vis.allowed_vehicles is None:
            continue
        allowed = sorted({int(k) for k in vis.allowed_vehicles if 0 <= k < m.nodes.n_veh})
        m.routing.VehicleVar(m.index(node)).SetValues(allowed if vis.required else [-1, *allowed])


def add_unreachable_arcs(m: _Model) -> None:
    """A pair with no road (``np.inf`` in a matrix) is never an arc of a route: it is removed
    from the successor variables (and its transit is above any horizon, see `nodes`)."""
    n = m.nodes
    for i in range(n.n_nodes):
        bad = np.flatnonzero(n.unreachable[i])
        if bad.size == 0 or (i >= n.n_vis and (i - n.n_vis) % 2 == 1):
            continue  # an end node has no successor
        idx_i = m.index(i) if i < n.n_vis else m.routing.Start((i - n.n_vis) // 2)
        targets = []
        for j in bad:
            if j < n.n_vis:
                targets.append(m.index(int(j)))
            elif (j - n.n_vis) % 2 == 1:
                targets.append(m.routing.End(int(j - n.n_vis) // 2))
        if targets:
            m.routing.NextVar(idx_i).RemoveValues(targets)


def add_max_visits_and_capacity(m: _Model) -> None:
    """``max_visits``: at most that many visits per route; ``capacity``: the visits' ``demand``
    on a route sum to at most it. Each is a count dimension, added only when used."""
    n, vehicles, visits, routing = m.nodes, m.problem.vehicles, m.problem.visits, m.routing
    if any(v.max_visits is not None for v in vehicles):
        ones = [1] * n.n_vis + [0] * (2 * n.n_veh)
        caps = [n.n_vis if v.max_visits is None else int(v.max_visits) for v in vehicles]
        routing.AddDimensionWithVehicleCapacity(routing.RegisterUnaryTransitVector(ones), 0, caps,
                                                True, "visits")
    if any(v.capacity is not None for v in vehicles) or any(v.demand for v in visits):
        demand = [int(visits[i].demand) for i in n.perm] + [0] * (2 * n.n_veh)
        cap_max = max(sum(max(d, 0) for d in demand), 1)
        caps = [cap_max if v.capacity is None else int(v.capacity) for v in vehicles]
        routing.AddDimensionWithVehicleCapacity(routing.RegisterUnaryTransitVector(demand), 0,
                                                caps, True, "load")


def add_breaks(m: _Model) -> None:
    """Each vehicle takes each of its breaks: ``duration_s`` starting inside
    ``[earliest_s, latest_s]`` and inside the shift (`break_ticks`), never during a service.

    Breaks are OR-Tools break intervals on the time dimension with the service times as visit
    transits, so a break is paid for by waiting (slack) between two services.
    """
    m.break_vars = [[] for _ in m.problem.vehicles]
    if not any(v.breaks for v in m.problem.vehicles):
        return
    routing, manager, tps = m.routing, m.manager, m.settings.time_ticks_per_s
    solver = routing.solver()
    visit_transit = [int(m.nodes.service[manager.IndexToNode(index)])
                     for index in range(routing.Size())]
    for k, veh in enumerate(m.problem.vehicles):
        ivs = []
        for b_i, brk in enumerate(veh.breaks):
            lo, hi, dur_t = break_ticks(veh, b_i, brk, tps)
            ivs.append(solver.FixedDurationIntervalVar(lo, hi, dur_t, False, f"break_{k}_{b_i}"))
        if ivs:
            m.time.SetBreakIntervalsOfVehicle(ivs, k, visit_transit)
            for iv in ivs:
                routing.AddIntervalToAssignment(iv)
        m.break_vars[k] = ivs


#: every constraint family, in the order `build` adds them
FAMILIES: tuple[Family, ...] = (
    add_arc_costs,
    add_preference_costs,
    add_time_dimension,
    add_working_time_limits,
    add_balance,
    add_windows,
    add_disjunctions,
    add_allowed_vehicles,
    add_unreachable_arcs,
    add_max_visits_and_capacity,
    add_breaks,
)


def build(problem: model.Problem, settings: SolveSettings, *,
          families: Sequence[Family] = FAMILIES) -> _Model:
    """The OR-Tools model of `problem`: `nodes`, then each of `families` in turn."""
    # OR-Tools (0.3 s) when a model is built: the command line checks SolveSettings without it
    from ortools.constraint_solver import pywrapcp

    n = nodes(problem, settings)
    manager = pywrapcp.RoutingIndexManager(
        n.n_nodes, n.n_veh, [n.start(k) for k in range(n.n_veh)],
        [n.end(k) for k in range(n.n_veh)])
    m = _Model(problem, settings, n, manager, pywrapcp.RoutingModel(manager))
    for add in families:
        add(m)
    return m


# --------------------------------------------------------------------------- search


def search(problem: model.Problem, settings: SolveSettings, *, starts: Sequence[Routes] = (),
           deadline: float | None = None, families: Sequence[Family] = FAMILIES,
           timing: model.Problem | None = None) -> model.Solution:
    """Build the model of `problem` and search it, from the best of `starts` when given.

    Parameters
    ----------
    problem
        Visits, vehicles and travel matrices.
    settings
        Search options; the time budget (`SolveSettings.time_budget_s`) bounds the search
        unless `deadline` is given; the stall rule (``stall_share``) may end it before.
    starts
        Candidate starting route sets; each is loaded into the model (repaired where the model
        rejects it) and the one with the lowest objective starts the search.
    deadline
        ``time.time()`` at which the search must end (the time limit is then what is left after
        the model is built, at least 0.1 s).
    families
        The constraint families to add (tests leave one out to show what it does).
    timing
        The problem whose travel the reported times follow (default `problem`): the
        time-dependent problem a static stand-in was made from (`optimizer.routing.timedep`),
        with the same visits and vehicles in the same order.

    Returns
    -------
    model.Solution
        ``solver="ortools"``; ``objective`` is OR-Tools' objective divided by ``value_scale``.

    Raises
    ------
    InfeasibleError
        No solution, or one that leaves a required visit out.
    KeyboardInterrupt
        Ctrl-C during the search (which then stops within a moment).
    """
    t0 = time.monotonic()
    m = build(problem, settings, families=families)
    time_limit_s = settings.time_budget_s(len(problem.visits), len(problem.vehicles))
    if deadline is not None:
        time_limit_s = max(0.1, deadline - time.time())
    assignment = _run(m, _parameters(settings, time_limit_s), starts, time_limit_s=time_limit_s)
    return _extract(m, assignment, wall_s=time.monotonic() - t0, timing=timing or problem)


def _parameters(settings: SolveSettings, time_limit_s: float) -> Any:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    p = pywrapcp.DefaultRoutingSearchParameters()
    fs = settings.first_solution
    if fs == "auto":
        fs = "parallel_cheapest_insertion"
    p.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, fs.upper())
    mh = settings.metaheuristic
    if mh == "auto":
        mh = "guided_local_search"
    p.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic, mh.upper())
    p.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    if settings.max_solutions is not None:
        p.solution_limit = int(settings.max_solutions)
        # each neighbour's completion search has a clock limit of its own (100 ms by default):
        # on a loaded machine it cut different neighbours short, and the same inputs gave
        # another plan; in deterministic mode only the overall time limit is a clock
        p.lns_time_limit.FromMilliseconds(max(int(time_limit_s * 1000), 100))
    p.log_search = settings.log_search
    return p


def _run(m: _Model, params: Any, starts: Sequence[Routes], *, time_limit_s: float) -> Any:
    """OR-Tools' search from the best of `starts` (or from scratch); its assignment.

    Raises `SearchTimeout` when the clock (`time_limit_s`, seconds) ended the search before it
    found a first plan, or at a first plan that drops every visit although a plan of one visit
    is better (an empty plan would then be explained falsely as "the plan kept visits worth
    more"); `InfeasibleError` when there is no plan.
    """
    routing = m.routing
    with interrupts.ctrl_c_stops() as stop:
        share = m.settings.stall
        stall = Stall(share) if share is not None else None
        if stall is not None:
            # called at every solution the search accepts (improving or not); the cost variable
            # exists only once the model is closed, so it is looked up at each call
            routing.AddAtSolutionCallback(lambda: stall.seen(routing.CostVar().Value()))
        limit = _limit(stop if stop.armed else None, stall)
        if limit is not None:
            # the limit polls a Python function, so a Ctrl-C is seen while the search runs
            routing.AddSearchMonitor(routing.solver().CustomLimit(limit))
        assignment = None
        if starts:
            # the model's search limits also bound each check of a starting route set
            # (ReadAssignmentFromRoutes): with the little time a large day leaves, an accepted
            # route read as rejected; the search below sets its own time limit again
            routing.CloseModelWithParameters(_loading_parameters(params))
            init = None
            for cand in starts:
                a = _load_routes(m, cand)
                if a is not None and (init is None or a.ObjectiveValue() < init.ObjectiveValue()):
                    init = a
            if init is None:
                log.warning("initial routes were rejected by the model; solving from scratch")
            else:
                assignment = routing.SolveFromAssignmentWithParameters(init, params)
                if assignment is None and not stop.is_set():
                    # seen on a 3,000-visit day: the search from accepted starting routes
                    # fails (status 3), and a cold search in the time left places nothing;
                    # the starting routes are a plan the model accepts: keep them
                    log.warning("the search from the starting routes failed (status %s); "
                                "keeping the starting routes", routing.status())
                    return init
        if assignment is None and not stop.is_set():
            assignment = routing.SolveWithParameters(params)
    if stall is not None:
        log.info("OR-Tools search: %s after %.1f s, last improvement at %.1f s",
                 "stalled" if stall.stalled() else "ended", stall.elapsed_s(), stall.best_after_s())
    status = _STATUS.get(int(routing.status()))
    if assignment is None and status == "fail_timeout":
        raise SearchTimeout(f"OR-Tools found no first plan in the {time_limit_s:.1f} s left of "
                            "the time limit")
    n = m.nodes
    if (assignment is not None and n.n_vis and n.n_veh and status == "partial_success"
            and all(routing.IsEnd(assignment.Value(routing.NextVar(routing.Start(k))))
                    for k in range(n.n_veh))
            and _one_visit_is_better(m, int(assignment.ObjectiveValue()))):
        raise SearchTimeout(f"the {time_limit_s:.1f} s left of the time limit ended the search "
                            "before it placed a visit")
    if assignment is None:
        raise InfeasibleError(
            f"OR-Tools found no plan (status {routing.status()}); check that every required "
            "visit fits some vehicle's shift, capacity and windows"
        )
    return assignment


def _limit(stop: interrupts.StopRequest | None, stall: Stall | None
           ) -> Callable[[], bool] | None:
    """The search limit OR-Tools polls: Ctrl-C (`stop`, where it is ours) or a stall."""
    checks: list[Callable[[], bool]] = []
    if stop is not None:
        checks.append(stop.is_set)
    if stall is not None:
        checks.append(stall.stalled)
    if len(checks) < 2:
        return checks[0] if checks else None
    return lambda: any(check() for check in checks)


#: least time limit, seconds, of the checks of starting routes (see `_run`)
_LOADING_TIME_LIMIT_S = 60.0


def _loading_parameters(params: Any) -> Any:
    """`params` with a time limit long enough to check starting routes."""
    from ortools.constraint_solver import pywrapcp

    p = pywrapcp.DefaultRoutingSearchParameters()
    p.CopyFrom(params)
    if p.time_limit.ToMilliseconds() < _LOADING_TIME_LIMIT_S * 1000:
        p.time_limit.FromMilliseconds(int(_LOADING_TIME_LIMIT_S * 1000))
    return p


def _one_visit_is_better(m: _Model, empty_objective: int, *, max_checks: int = 50) -> bool:
    """Whether a plan of one visit (the most valuable ones first) beats the empty plan."""
    routing, n = m.routing, m.nodes
    inv = np.empty(n.n_vis, dtype=np.int64)
    inv[n.perm] = np.arange(n.n_vis)
    order = sorted(range(n.n_vis), key=lambda i: -m.problem.visits[i].value)
    checks = 0
    for i in order:
        for k in range(n.n_veh):
            if checks >= max_checks:
                return False
            checks += 1
            routes = [[m.index(int(inv[i]))] if j == k else [] for j in range(n.n_veh)]
            a = routing.ReadAssignmentFromRoutes(routes, True)
            if a is not None and int(a.ObjectiveValue()) < empty_objective:
                return True
    return False


def _load_routes(m: _Model, routes: Routes) -> Any:
    """An assignment for `routes`; routes the model rejects are repaired until it accepts them.

    Routes are independent in the model, so each rejected route is repaired alone: drop the
    single stop (least valuable first) whose removal makes it acceptable; if there is none,
    drop the least valuable stop and try again. The repaired routes together are then a
    feasible assignment.
    """
    routing, manager, n = m.routing, m.manager, m.nodes
    inv = np.empty(n.n_vis, dtype=np.int64)
    inv[n.perm] = np.arange(n.n_vis)
    idx = [[m.index(int(inv[i])) for i in r] for r in routes]
    idx += [[] for _ in range(n.n_veh - len(idx))]
    init = routing.ReadAssignmentFromRoutes(idx, True)
    if init is not None:
        return init

    def value(index: int) -> float:
        return m.visit(int(manager.IndexToNode(index))).value

    def accepted(k: int, r: list[int]) -> bool:
        alone = [r if j == k else [] for j in range(n.n_veh)]
        return routing.ReadAssignmentFromRoutes(alone, True) is not None

    kept = []
    cut = 0
    for k, route in enumerate(idx):
        r = list(route)
        while r and not accepted(k, r):
            order = sorted(range(len(r)), key=lambda j: value(r[j]))
            for j in order:
                if accepted(k, r[:j] + r[j + 1 :]):
                    r = r[:j] + r[j + 1 :]
                    break
            else:
                r = r[: order[0]] + r[order[0] + 1 :]
            cut += 1
        kept.append(r)
    log.info("starting routes: %d stops cut to satisfy the model", cut)
    return routing.ReadAssignmentFromRoutes(kept, True)


# --------------------------------------------------------------------------- results


def _sequences(m: _Model, assignment: Any) -> list[list[int]]:
    """Visit indices (into ``problem.visits``) per vehicle, in visiting order."""
    routing, out = m.routing, []
    for k in range(m.nodes.n_veh):
        seq = []
        index = assignment.Value(routing.NextVar(routing.Start(k)))
        while not routing.IsEnd(index):
            seq.append(int(m.nodes.perm[m.manager.IndexToNode(index)]))
            index = assignment.Value(routing.NextVar(index))
        out.append(seq)
    return out


def _break_legs(m: _Model, assignment: Any, k: int) -> list[tuple[int, model.Break]]:
    """On which leg of vehicle `k`'s route OR-Tools placed each break (`simulate_route`'s
    ``breaks``)."""
    routing = m.routing
    if not m.break_vars or not m.break_vars[k]:
        return []
    # (cumul at the node, end of its service) along the route, start to end
    marks = []
    index = routing.Start(k)
    while True:
        c = int(assignment.Value(m.time.CumulVar(index)))
        marks.append((c, c + int(m.nodes.service[m.manager.IndexToNode(index)])))
        if routing.IsEnd(index):
            break
        index = assignment.Value(routing.NextVar(index))
    n_stops = len(marks) - 2
    out = []
    for b, iv in enumerate(m.break_vars[k]):
        s = int(assignment.StartValue(iv))
        e = s + int(assignment.DurationValue(iv))
        if e <= marks[0][0]:
            leg = -1
        elif s >= marks[-1][0]:
            leg = n_stops + 1
        else:
            leg = 0
            while leg <= n_stops and s >= marks[leg + 1][1]:
                leg += 1
        out.append((leg, m.problem.vehicles[k].breaks[b]))
    return out


def _extract(m: _Model, assignment: Any, *, wall_s: float, timing: model.Problem
             ) -> model.Solution:
    """The `model.Solution` of an assignment: its sequences and breaks, simulated on the travel
    of `timing`."""
    problem, routing = m.problem, m.routing
    tps = m.settings.time_ticks_per_s
    routes = []
    for k, seq in enumerate(_sequences(m, assignment)):
        if m.time_dimension is None:  # a model without time (tests): leave at the shift start
            leave_s = float(problem.vehicles[k].shift.start_s)
        else:
            leave_s = int(assignment.Value(m.time.CumulVar(routing.Start(k)))) / tps
        legs = _break_legs(m, assignment, k) if seq else []
        routes.append(simulate_route(timing, k, seq, leave_s=leave_s, breaks=legs))
    visited = {s.visit_id for r in routes for s in r.stops}
    required_dropped = [
        v.visit_id for v in problem.visits if v.required and v.visit_id not in visited
    ]
    if required_dropped:
        raise InfeasibleError(
            f"{len(required_dropped)} required visit(s) could not be served, e.g. "
            f"{required_dropped[:5]}; give more vehicles or time"
        )
    status = int(routing.status())
    return model.Solution(
        routes=tuple(routes),
        dropped=tuple(v.visit_id for v in problem.visits if v.visit_id not in visited),
        objective=int(assignment.ObjectiveValue()) / m.settings.value_scale,
        solver="ortools",
        wall_s=wall_s,
        status=_STATUS.get(status, str(status)),
    )
