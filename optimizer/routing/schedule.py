"""Forward simulation of one route: the times a plan reports.

A route is a sequence of visits for one vehicle; its schedule starts every service as early as
the vehicle's arrival and the visit's windows allow (a visit with several windows takes the
earliest one still open), takes breaks on the way or while waiting, and leaves the start place
later when that only removes waiting at the first stop. The solver (`optimizer.routing.solve`)
reports the times of its routes from here and the warm starts (`optimizer.routing.warm`) read
their routes with it. `optimizer.routing.verify` re-checks every schedule on its own, on purpose:
it is the check.
"""

from __future__ import annotations

import math

from optimizer import model


def simulate_route(
    problem: model.Problem,
    vehicle: int,
    seq: list[int],
    *,
    leave_s: float,
    breaks: list[tuple[int, model.Break]] = (),
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
        Earliest departure from the start place (the shift start, or the solver's start time).
    breaks
        ``(leg, Break)`` pairs: the leg on which the break is taken, ``-1`` before leaving,
        ``p`` on the way to stop ``p`` (or while waiting there), ``len(seq)`` on the way back,
        ``len(seq) + 1`` after returning. The break starts as early as its window and the route
        allow.

    Returns
    -------
    model.Route
        Times of every stop; the departure is moved later when that only removes waiting at the
        first stop.
    """
    veh = problem.vehicles[vehicle]
    dur = problem.duration_s
    dist = problem.distance_m
    visits = problem.visits
    if not seq:
        return model.Route(
            veh.vehicle_id, (), float(veh.shift.start_s), float(veh.shift.start_s), 0.0, 0.0, ()
        )
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
    stops = []
    total_s = total_m = 0.0
    first_leg_has_break = bool(legs.get(0))
    for p in range(len(seq) + 1):
        a, b_loc = locs[p], locs[p + 1]
        travel = float(dur[a, b_loc])
        t, arrive = _travel_with_breaks(t, travel, legs.get(p, []), taken)
        total_s += travel
        total_m += float(dist[a, b_loc])
        if p == len(seq):
            ret = arrive
            break
        vis = visits[seq[p]]
        start = _earliest_start(vis.windows, t)
        depart = start + vis.service_s
        stops.append([vis.visit_id, arrive, start, depart, travel, float(dist[a, b_loc])])
        t = depart
    for brk in legs.get(len(seq) + 1, []):
        b = max(float(brk.earliest_s), t)
        taken.append((b, b + brk.duration_s))
        t = b + brk.duration_s
    # leave later instead of waiting at the first stop
    if stops and not first_leg_has_break and not legs.get(-1):
        wait = stops[0][2] - stops[0][1]
        if wait > 0:
            leave += wait
            stops[0][1] += wait
    return model.Route(
        vehicle_id=veh.vehicle_id,
        stops=tuple(model.Stop(*s) for s in stops),
        leave_s=leave,
        return_s=ret,
        travel_s=total_s,
        travel_m=total_m,
        breaks=tuple(sorted(taken)),
    )


def _earliest_start(windows: tuple[model.TimeWindow, ...], t: float) -> float:
    if not windows:
        return t
    best = math.inf
    for w in windows:
        if w.end_s >= t - 1e-9:
            best = min(best, max(t, float(w.start_s)))
    # no window left: report the arrival itself (verify flags it)
    return t if best == math.inf else best


def _travel_with_breaks(
    t: float, travel: float, brks: list[model.Break], taken: list[tuple[float, float]]
) -> tuple[float, float]:
    """Travel `travel` seconds from time `t`, taking `brks` on the way or while waiting.

    Returns (time ready to start service, arrival time).
    """
    remaining = travel
    arrive = None
    for brk in sorted(brks, key=lambda b: b.earliest_s):
        b = max(t, float(brk.earliest_s))
        if arrive is None and b < t + remaining:
            remaining -= b - t  # travelled until the break
        elif arrive is None:
            arrive = t + remaining
            remaining = 0.0
        taken.append((b, b + brk.duration_s))
        t = b + brk.duration_s
    if arrive is None:
        arrive = t + remaining
        t = arrive
    return t, arrive
