"""Independent re-simulation of a `model.Solution` against its `model.Problem`.

Nothing here uses OR-Tools or the solver's internals: the check walks every route on the float
travel matrices and tests each rule of the model on the reported times. It is used on every plan
the tests produce, inside `optimizer.routing.solve` as a safety net, and by the benchmark harness
on our solutions and the peers' alike.

A leg's travel is the problem's definition (`model.drive`, by time of day when the problem has
time bands): from the reported departure, driving whenever no break is taken, as early as
possible; leaving later or pausing never arrives earlier (FIFO), so that is the earliest the
next service can start.
"""

from __future__ import annotations

import math
from collections import Counter

from optimizer import model

#: tolerance on times (seconds) and distances (metres): float sums over a route
EPS = 1e-4


def check_solution(problem: model.Problem, solution: model.Solution) -> list[str]:
    """Check every rule of `problem` on `solution`.

    Parameters
    ----------
    problem
        The problem the solution claims to solve.
    solution
        Routes (one per used vehicle at most) and dropped visit ids.

    Returns
    -------
    list[str]
        One sentence per violation; empty when the solution is feasible.

    Notes
    -----
    Checked: every visit is routed or dropped exactly once (required ones routed); a route
    belongs to a known vehicle, at most one route per vehicle; arcs are finite; each stop's
    travel equals the leg's (`model.drive` from the previous departure, paused by the breaks
    taken on the way), ``arrive >= previous depart + travel``, ``start >= arrive``,
    ``depart = start + service``; start of service inside one of the visit's windows; leave and
    return inside the shift (plus overtime); route duration within ``max_duration_s`` (plus
    overtime); ``max_visits``; capacity; allowed vehicles; every break of a working vehicle
    taken once, inside its window, with its duration, inside the shift, never during a service,
    and paid for by the time between two services.
    """
    errors: list[str] = []
    visits = {v.visit_id: v for v in problem.visits}
    veh_index = {v.vehicle_id: k for k, v in enumerate(problem.vehicles)}

    # ---- each visit exactly once, routed or dropped
    routed = Counter(s.visit_id for r in solution.routes for s in r.stops)
    dropped = Counter(solution.dropped)
    for vid, n in routed.items():
        if vid not in visits:
            errors.append(f"route visits unknown visit {vid}")
        elif n > 1:
            errors.append(f"visit {vid} is routed {n} times")
    for vid, n in dropped.items():
        if vid not in visits:
            errors.append(f"dropped list names unknown visit {vid}")
        elif n > 1:
            errors.append(f"visit {vid} is dropped {n} times")
        if vid in routed:
            errors.append(f"visit {vid} is both routed and dropped")
    for vid, vis in visits.items():
        if vid not in routed and vid not in dropped:
            errors.append(f"visit {vid} is neither routed nor dropped")
        if vis.required and vid not in routed:
            errors.append(f"required visit {vid} is not routed")

    seen_vehicles: Counter[str] = Counter(r.vehicle_id for r in solution.routes)
    for vid, n in seen_vehicles.items():
        if n > 1:
            errors.append(f"vehicle {vid} has {n} routes")

    for route in solution.routes:
        if route.vehicle_id not in veh_index:
            errors.append(f"route of unknown vehicle {route.vehicle_id}")
            continue
        k = veh_index[route.vehicle_id]
        errors.extend(_check_route(problem, k, route, visits))
    return errors


def _check_route(problem: model.Problem, k: int, route: model.Route,
                 visits: dict[str, model.Visit]) -> list[str]:
    """Every rule on the route of vehicle `k`: its limits, its breaks, then leg by leg."""
    veh = problem.vehicles[k]
    name = f"vehicle {veh.vehicle_id}"
    stops = [s for s in route.stops if s.visit_id in visits]
    if not stops:
        return []
    return (_check_limits(veh, name, route, stops, visits) + _check_breaks(veh, name, route, stops)
            + _check_legs(veh, k, name, route, stops, visits, problem))


def _check_limits(veh: model.Vehicle, name: str, route: model.Route,
                  stops: list[model.Stop], visits: dict[str, model.Visit]) -> list[str]:
    """Shift (plus overtime), working time, max visits and capacity of one route."""
    errs: list[str] = []
    shift_end = veh.shift.end_s + veh.overtime_s
    if route.leave_s < veh.shift.start_s - EPS:
        errs.append(
            f"{name} leaves at {route.leave_s:.1f} before its shift starts ({veh.shift.start_s})"
        )
    if route.return_s > shift_end + EPS:
        errs.append(
            f"{name} returns at {route.return_s:.1f} after its shift ends "
            f"({veh.shift.end_s} + overtime {veh.overtime_s})"
        )
    if veh.max_duration_s is not None:
        limit = veh.max_duration_s + veh.overtime_s
        if route.return_s - route.leave_s > limit + EPS:
            errs.append(
                f"{name} works {route.return_s - route.leave_s:.1f} s, above its limit {limit} s"
            )
    if veh.max_visits is not None and len(stops) > veh.max_visits:
        errs.append(f"{name} makes {len(stops)} visits, above max_visits {veh.max_visits}")
    if veh.capacity is not None:
        load = sum(visits[s.visit_id].demand for s in stops)
        if load > veh.capacity:
            errs.append(f"{name} carries {load}, above capacity {veh.capacity}")
    return errs


def _check_breaks(veh: model.Vehicle, name: str, route: model.Route, stops: list[model.Stop]
                  ) -> list[str]:
    """Every break taken once, inside its window, with its duration, inside the shift, never
    during a service, before leaving, after returning or between two services."""
    errs: list[str] = []
    shift_end = veh.shift.end_s + veh.overtime_s
    breaks = sorted(route.breaks)
    required = sorted(veh.breaks, key=lambda b: (b.earliest_s, b.latest_s))
    if len(breaks) != len(required):
        errs.append(f"{name} takes {len(breaks)} breaks, expected {len(required)}")
    else:
        for (bs, be), rb in zip(breaks, required, strict=False):
            if not (rb.earliest_s - EPS <= bs <= rb.latest_s + EPS):
                errs.append(
                    f"{name} break at {bs:.1f} outside its window [{rb.earliest_s}, {rb.latest_s}]"
                )
            if be - bs < rb.duration_s - EPS:
                errs.append(f"{name} break {bs:.1f}-{be:.1f} shorter than {rb.duration_s} s")
    for bs, be in breaks:
        if bs < veh.shift.start_s - EPS or be > shift_end + EPS:
            errs.append(f"{name} break {bs:.1f}-{be:.1f} outside the shift")
        for s in stops:
            if bs < s.depart_s - EPS and be > s.start_s + EPS and s.depart_s > s.start_s:
                errs.append(f"{name} break {bs:.1f}-{be:.1f} overlaps the service of {s.visit_id}")
    gaps = [(route.leave_s, stops[0].start_s)]
    gaps += [(a.depart_s, b.start_s) for a, b in zip(stops, stops[1:], strict=False)]
    gaps.append((stops[-1].depart_s, route.return_s))
    for bs, be in breaks:
        if be <= route.leave_s + EPS or bs >= route.return_s - EPS:
            continue
        if not any(g0 - EPS <= bs and be <= g1 + EPS for g0, g1 in gaps):
            errs.append(
                f"{name} break {bs:.1f}-{be:.1f} is neither before leaving, after "
                "returning, nor between two services"
            )
    for a, b in zip(breaks, breaks[1:], strict=False):
        if b[0] < a[1] - EPS:
            errs.append(f"{name} breaks {a} and {b} overlap")
    return errs


def _check_legs(veh: model.Vehicle, k: int, name: str, route: model.Route,
                stops: list[model.Stop], visits: dict[str, model.Visit],
                problem: model.Problem) -> list[str]:
    """Leg by leg: a road, travel as the problem's, arrival, service, window, allowed vehicle,
    the time between services enough for travel and breaks; the route's totals."""
    errs: list[str] = []
    breaks = sorted(route.breaks)
    prev_loc = veh.start
    prev_t = route.leave_s
    total_s = total_m = 0.0
    for p in range(len(stops) + 1):
        stop: model.Stop | None
        if p < len(stops):
            stop = stops[p]
            vis = visits[stop.visit_id]
            loc = vis.location
            what = f"{name} stop {p + 1} ({stop.visit_id})"
        else:
            stop = None
            loc = veh.end
            what = f"{name} return to end"
        if not (math.isfinite(float(problem.duration_s[prev_loc, loc]))
                and math.isfinite(float(problem.distance_m[prev_loc, loc]))):
            errs.append(f"{what}: location {prev_loc} cannot reach {loc} (no road)")
            return errs
        arrive = stop.arrive_s if stop is not None else route.return_s
        ready = stop.start_s if stop is not None else route.return_s
        gap = [(bs, be) for bs, be in breaks if bs >= prev_t - EPS and be <= ready + EPS]
        in_gap = sum(be - bs for bs, be in gap)
        alone = model.drive(problem, prev_loc, loc, prev_t)
        done_s, t_ij, d_ij = _drive_with_pauses(problem, prev_loc, loc, prev_t, gap)
        total_s += t_ij
        total_m += d_ij
        if stop is not None:
            when = f" leaving at {model.hhmm(prev_t)}" if problem.traffic is not None else ""
            if abs(stop.travel_s - t_ij) > EPS * max(1.0, t_ij):
                errs.append(f"{what}: travel_s {stop.travel_s:.3f} differs from the matrix "
                            f"{t_ij:.3f}{when}")
            if abs(stop.travel_m - d_ij) > EPS * max(1.0, d_ij):
                errs.append(f"{what}: travel_m {stop.travel_m:.3f} differs from the matrix "
                            f"{d_ij:.3f}{when}")
            if stop.start_s < stop.arrive_s - EPS:
                errs.append(
                    f"{what}: starts at {stop.start_s:.1f} before arriving {stop.arrive_s:.1f}")
            if abs(stop.depart_s - stop.start_s - vis.service_s) > EPS:
                errs.append(
                    f"{what}: depart {stop.depart_s:.1f} != start + service "
                    f"({stop.start_s:.1f} + {vis.service_s})"
                )
            if vis.windows and not any(
                w.start_s - EPS <= stop.start_s <= w.end_s + EPS for w in vis.windows
            ):
                wins = ", ".join(w.label() for w in vis.windows)
                errs.append(
                    f"{what}: starts at {model.hhmm(stop.start_s)} ({stop.start_s:.1f}) "
                    f"outside its windows {wins}"
                )
            if vis.allowed_vehicles is not None and k not in vis.allowed_vehicles:
                errs.append(
                    f"{what}: vehicle index {k} not allowed (allowed {tuple(vis.allowed_vehicles)})"
                )
        if arrive < alone.end_s - EPS:
            errs.append(
                f"{what}: arrives at {arrive:.3f}, earlier than leaving at {prev_t:.3f} "
                f"plus travel {alone.travel_s:.3f}"
            )
        if ready < done_s - EPS:
            errs.append(
                f"{what}: {ready - prev_t:.1f} s between services, less than travel "
                f"{t_ij:.1f} s plus breaks {in_gap:.1f} s"
            )
        if stop is not None:
            prev_t = stop.depart_s
            prev_loc = loc
    if abs(route.travel_s - total_s) > EPS * max(1.0, total_s):
        errs.append(f"{name}: travel_s total {route.travel_s:.3f} != sum of legs {total_s:.3f}")
    if abs(route.travel_m - total_m) > EPS * max(1.0, total_m):
        errs.append(f"{name}: travel_m total {route.travel_m:.3f} != sum of legs {total_m:.3f}")
    return errs


def _drive_with_pauses(problem: model.Problem, i: int, j: int, t: float,
                       pauses: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Drive from location `i` to `j` from time `t`, pausing for each of `pauses` (breaks,
    sorted) that starts before the arrival; the others are taken on arrival.

    Returns (the earliest the next service can start: arrived and every pause over, the
    seconds and the metres driven).
    """
    left, seconds, metres = 1.0, 0.0, 0.0
    for bs, be in pauses:
        if left > 0.0:
            part = model.drive(problem, i, j, t, fraction=left, until_s=bs)
            seconds += part.travel_s
            metres += part.distance_m
            left = 0.0 if part.fraction >= left else left - part.fraction
            t = max(t, part.end_s)
        t = max(t, be)
    if left > 0.0:
        part = model.drive(problem, i, j, t, fraction=left)
        seconds += part.travel_s
        metres += part.distance_m
        t = part.end_s
    return t, seconds, metres


def route_cost(problem: model.Problem, solution: model.Solution) -> dict[str, float]:
    """Re-evaluate the objective terms of `solution` on the float matrices.

    Returns
    -------
    dict
        ``value_visited``, ``value_dropped``, ``travel_s``, ``travel_m``, ``vehicles_used`` and
        ``objective`` (value dropped + travel costs + fixed costs + off-preference costs).
    """
    visits = {v.visit_id: v for v in problem.visits}
    veh_index = {v.vehicle_id: k for k, v in enumerate(problem.vehicles)}
    visited = [s.visit_id for r in solution.routes for s in r.stops]
    value_visited = sum(visits[v].value for v in visited if v in visits)
    value_dropped = sum(visits[v].value for v in solution.dropped if v in visits)
    travel_s = sum(r.travel_s for r in solution.routes if r.stops)
    travel_m = sum(r.travel_m for r in solution.routes if r.stops)
    used = sum(1 for r in solution.routes if r.stops)
    off_pref = 0.0
    for r in solution.routes:
        k = veh_index.get(r.vehicle_id)
        for s in r.stops:
            vis = visits.get(s.visit_id)
            if vis and vis.preferred_vehicles and k not in vis.preferred_vehicles:
                off_pref += vis.off_preference_cost
    objective = (
        value_dropped
        + problem.cost_per_s * travel_s
        + problem.cost_per_m * travel_m
        + problem.fixed_cost * used
        + off_pref
    )
    return {
        "value_visited": value_visited,
        "value_dropped": value_dropped,
        "travel_s": travel_s,
        "travel_m": travel_m,
        "vehicles_used": float(used),
        "objective": objective,
    }
