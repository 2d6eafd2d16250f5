"""Forward simulation of one route: the times a plan reports, and the check of a sequence.

A route is a sequence of visits for one vehicle; its schedule starts every service as early as
the vehicle's arrival and the visit's windows allow (a visit with several windows takes the
earliest one still open), takes breaks on the way or while waiting, and leaves the start place
later when that only removes waiting at the first stop. This is the one simulator of a route:
the solver (`optimizer.routing.ortools_model`) reports the times of its routes from
`simulate_route`, the warm starts (`optimizer.routing.warm`) read their routes with it, and the
explanations (`optimizer.planning.explain`) build their one-visit routes with it and test
insertions with `feasible_route`. `optimizer.routing.verify` re-checks every schedule on its own,
on purpose: it is the check.

A leg's time is the problem's (`model.drive`): with time bands it depends on when the leg
starts, and a break taken on the way is a pause, after which the rest of the leg goes at the
pace of the time it resumes. Leaving later never arrives earlier, so the schedule drives as
soon as it can, and moves the departure later only as far as the first stop's window allows
(`model.depart_by`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from optimizer import model

#: tolerance of `feasible_route` on the shift end and the working-time limit, seconds
EPS_S = 1e-6


def simulate_route(
    problem: model.Problem,
    vehicle: int,
    seq: Sequence[int],
    *,
    leave_s: float,
    breaks: Sequence[tuple[int, model.Break]] = (),
) -> model.Route:
    """Forward-simulate one route with earliest starts of service.

    Parameters
    ----------
    problem
        The problem.
    vehicle
        Index of the vehicle in ``problem.vehicles``.
    seq
        Indices into ``problem.visits`` in visiting order.
    leave_s
        Earliest departure from the start place, seconds since midnight (the shift start, or
        the solver's start time).
    breaks
        ``(leg, Break)`` pairs: the leg on which the break is taken, ``-1`` before leaving,
        ``p`` on the way to stop ``p`` (or while waiting there), ``len(seq)`` on the way back,
        ``len(seq) + 1`` after returning. The break starts as early as its window and the route
        allow.

    Returns
    -------
    model.Route
        Times of every stop, seconds since midnight, and the seconds and metres of each leg
        (`model.drive`); the departure is moved later when that only removes waiting at the
        first stop. Nothing is checked: a stop that arrives after its
        last window starts at its arrival (`optimizer.routing.verify` flags it), see
        `feasible_route` for the check.
    """
    return _forward(problem, vehicle, seq, leave_s, breaks)[0]


def feasible_route(problem: model.Problem, vehicle: int, seq: Sequence[int]) -> model.Route | None:
    """The schedule of `seq` from the shift start without breaks, or ``None`` if it breaks a rule.

    The cheap check of a sequence (the explanations' one-visit proofs and insertions): breaks
    only add time, so a sequence that fails here fails with its breaks too.

    Parameters
    ----------
    problem
        The problem.
    vehicle
        Index of the vehicle in ``problem.vehicles``.
    seq
        Indices into ``problem.visits`` in visiting order.

    Returns
    -------
    model.Route or None
        `simulate_route` leaving at the shift start with no break, or ``None`` when a leg has no
        road (``np.inf``), a visit arrives after its last window, the route makes more than
        ``max_visits`` visits or carries more than ``capacity``, returns after the shift end plus
        overtime, or works longer than ``max_duration_s`` plus overtime (all within `EPS_S`).
    """
    veh = problem.vehicles[vehicle]
    visits = problem.visits
    if veh.max_visits is not None and len(seq) > veh.max_visits:
        return None
    if veh.capacity is not None and sum(visits[i].demand for i in seq) > veh.capacity:
        return None
    locs = [veh.start] + [visits[i].location for i in seq] + [veh.end]
    if not np.isfinite(problem.duration_s[locs[:-1], locs[1:]]).all():
        return None
    route, on_time = _forward(problem, vehicle, seq, float(veh.shift.start_s), ())
    if not on_time or route.return_s > veh.shift.end_s + veh.overtime_s + EPS_S:
        return None
    if (veh.max_duration_s is not None
            and route.return_s - route.leave_s > veh.max_duration_s + veh.overtime_s + EPS_S):
        return None
    return route


def _forward(
    problem: model.Problem,
    vehicle: int,
    seq: Sequence[int],
    leave_s: float,
    breaks: Sequence[tuple[int, model.Break]],
) -> tuple[model.Route, bool]:
    """`simulate_route`, and whether every visit started inside one of its windows."""
    veh = problem.vehicles[vehicle]
    visits = problem.visits
    if not seq:
        start = float(veh.shift.start_s)
        return model.Route(veh.vehicle_id, (), start, start, 0.0, 0.0, ()), True
    locs = [veh.start] + [visits[i].location for i in seq] + [veh.end]
    legs: dict[int, list[model.Break]] = {}
    for leg, brk in breaks:
        legs.setdefault(leg, []).append(brk)
    taken: list[tuple[float, float]] = []
    t = leave_s
    for brk in legs.get(-1, []):
        b = float(max(brk.earliest_s, veh.shift.start_s))
        taken.append((b, b + brk.duration_s))
        t = max(t, b + brk.duration_s)
    leave = t
    stops: list[model.Stop] = []
    on_time = True
    total_s = total_m = 0.0
    ret = t
    for p in range(len(seq) + 1):
        a, b_loc = locs[p], locs[p + 1]
        t, arrive, travel, metres = _travel_with_breaks(problem, a, b_loc, t, legs.get(p, []),
                                                        taken)
        total_s += travel
        total_m += metres
        if p == len(seq):
            ret = arrive
            break
        vis = visits[seq[p]]
        begin = _earliest_start(vis.windows, t)
        if begin is None:  # no window left: report the arrival itself (verify flags it)
            on_time = False
            begin = t
        depart = begin + vis.service_s
        stops.append(model.Stop(vis.visit_id, arrive, begin, depart, travel, metres))
        t = depart
    for brk in legs.get(len(seq) + 1, []):
        b = max(float(brk.earliest_s), t)
        taken.append((b, b + brk.duration_s))
        t = b + brk.duration_s
    # leave later instead of waiting at the first stop: as late as still arrives in time
    if not legs.get(0) and not legs.get(-1) and stops[0].start_s > stops[0].arrive_s:
        first = stops[0]
        leave = max(leave, model.depart_by(problem, locs[0], locs[1], first.start_s))
        drove = model.drive(problem, locs[0], locs[1], leave)
        if drove.travel_s != first.travel_s:  # by time of day; else the sums stay as they are
            total_s += drove.travel_s - first.travel_s
            total_m += drove.distance_m - first.travel_m
        stops[0] = model.Stop(first.visit_id, min(drove.end_s, first.start_s), first.start_s,
                              first.depart_s, drove.travel_s, drove.distance_m)
    route = model.Route(
        vehicle_id=veh.vehicle_id,
        stops=tuple(stops),
        leave_s=leave,
        return_s=ret,
        travel_s=total_s,
        travel_m=total_m,
        breaks=tuple(sorted(taken)),
    )
    return route, on_time


def _earliest_start(windows: tuple[model.TimeWindow, ...], t: float) -> float | None:
    """The earliest start of service at or after `t` inside one of `windows` (``None``: all
    closed; no windows: any time)."""
    if not windows:
        return t
    best = math.inf
    for w in windows:
        if w.end_s >= t - 1e-9:
            best = min(best, max(t, float(w.start_s)))
    return None if best == math.inf else best


def _travel_with_breaks(
    problem: model.Problem, i: int, j: int, t: float, brks: list[model.Break],
    taken: list[tuple[float, float]]
) -> tuple[float, float, float, float]:
    """Drive from location `i` to `j` from time `t`, taking `brks` on the way (a pause) or
    while waiting on arrival.

    Returns (time ready to start service, arrival time, seconds driven, metres driven);
    appends the breaks taken to `taken`.
    """
    left = 1.0
    arrive = None
    seconds = metres = 0.0
    for brk in sorted(brks, key=lambda b: b.earliest_s):
        b = max(t, float(brk.earliest_s))
        if arrive is None:
            part = model.drive(problem, i, j, t, fraction=left, until_s=b)
            seconds += part.travel_s
            metres += part.distance_m
            if part.fraction >= left:  # there before the break: taken while waiting
                arrive = part.end_s
            left -= part.fraction
        taken.append((b, b + brk.duration_s))
        t = b + brk.duration_s
    if arrive is None:
        part = model.drive(problem, i, j, t, fraction=left)
        seconds += part.travel_s
        metres += part.distance_m
        arrive = t = part.end_s
    return t, arrive, seconds, metres
