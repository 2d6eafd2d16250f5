"""A reason for every case left out of the plan.

Two kinds, both computed, never guessed:

*cannot be visited today* (proven): no coordinates, off the road network, unreachable, no window
today, outside legal hours, outside every eligible shift, no eligible collector (skill, fixed
collector, territory), cooldown or open promise (decided before solving, see `plan.build_problem`);
and ``cannot_fit_alone``: even as the only visit of an eligible crew's empty day it cannot be
reached, served within a window and the crew returned within the shift. That is shown by
re-simulating the one-visit route for every eligible crew (and, where breaks or working-time
limits apply, by the solver on that one-visit problem).

*left out by choice* (``lower_value``): it fits at least one eligible crew's empty day (that
one-visit route is built and passes `verify.check_solution`), but the plan kept visits worth more.
The sentence gives its value and what it would have cost: the visit it would have displaced, or
the travel its cheapest insertion needs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from optimizer.model import (
    Case,
    Problem,
    Route,
    Solution,
    Stop,
    TimeWindow,
    Unassigned,
    Visit,
    hhmm,
)
from optimizer.progress import Progress, ensure
from optimizer.routing import solve as sv
from optimizer.routing import verify

IMPOSSIBLE = {
    "no_coordinates", "off_network", "unreachable", "no_window_today", "outside_legal_hours",
    "outside_shifts", "no_eligible_collector", "cooldown", "open_promise", "cannot_fit_alone",
}
BY_CHOICE = {"lower_value"}

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_availability(case: Case) -> str:
    if not case.availability:
        return "any time"
    parts = []
    for w in case.availability:
        days = sorted(w.weekdays)
        label = "every day" if len(days) == 7 else ",".join(_DAYS[d] for d in days)
        parts.append(f"{label} {w.window.label()}")
    return "; ".join(parts)


def hours_label(policy) -> str:
    if policy.contact_start_s is None:
        return "no limit"
    return f"{hhmm(policy.contact_start_s)}-{hhmm(policy.contact_end_s)}"


def no_eligible(case: Case, crews, reasons: dict[int, str | None]) -> tuple[str, str]:
    kinds = sorted({r for r in reasons.values() if r})
    parts = []
    if "skill" in kinds:
        parts.append(f"no collector with skill '{case.skill}'")
    if "fixed_collector" in kinds:
        parts.append(f"its fixed collector {case.fixed_collector} is not working today")
    if "territory" in kinds:
        parts.append(f"no collector covers district '{case.district}'")
    return "no_eligible_collector", "; ".join(parts) + " among today's crews"


def money(v: float) -> str:
    return f"{v:,.0f}"


# --------------------------------------------------------------------------- one-visit routes


def simulate_route(problem: Problem, vehicle: int, visit_ids: Sequence[str],
                   visits: dict[str, Visit]) -> Route | None:
    """Earliest-start schedule of a sequence, or None if it breaks a window, shift or limit.

    Breaks are not placed here; callers that need them use the solver (see `fits_alone`).
    The crew leaves as late as possible without delaying the first visit.
    """
    v = problem.vehicles[vehicle]
    d, m = problem.duration_s, problem.distance_m
    if v.max_visits is not None and len(visit_ids) > v.max_visits:
        return None
    locs = [v.start] + [visits[i].location for i in visit_ids] + [v.end]
    legs = [d[a, b] for a, b in itertools.pairwise(locs)]
    if not all(np.isfinite(legs)):
        return None
    t = float(v.shift.start_s)
    stops = []
    for n, vid in enumerate(visit_ids):
        vis = visits[vid]
        arrive = t + legs[n]
        start = None
        for w in vis.windows:
            if arrive <= w.end_s:
                start = max(arrive, float(w.start_s))
                break
        if start is None:
            return None
        depart = start + vis.service_s
        stops.append(Stop(vid, arrive, start, depart, legs[n], m[locs[n], locs[n + 1]]))
        t = depart
    ret = t + legs[-1]
    # leave later if the first visit waits, so working time is not inflated by waiting
    leave = float(v.shift.start_s)
    if stops:
        slack = stops[0].start_s - stops[0].arrive_s
        leave += slack
        stops[0] = Stop(stops[0].visit_id, stops[0].arrive_s + slack, stops[0].start_s,
                        stops[0].depart_s, stops[0].travel_s, stops[0].travel_m)
    if ret > v.shift.end_s + v.overtime_s + 1e-6:
        return None
    if v.max_duration_s is not None and ret - leave > v.max_duration_s + v.overtime_s + 1e-6:
        return None
    travel_s = float(sum(legs))
    travel_m = float(sum(m[a, b] for a, b in itertools.pairwise(locs)))
    return Route(v.vehicle_id, tuple(stops), leave, ret, travel_s, travel_m)


def _one_visit_routes(problem: Problem, vehicle: int, visit: Visit):
    """Candidate one-visit routes for `vehicle` (at most one break), each to be verified.

    For each window, the visit starts as early as possible (break before it) or as late as
    possible (break after it); the break is tried before leaving, on arrival, after the service
    and after returning. Working time is kept short by leaving just in time.
    """
    v = problem.vehicles[vehicle]
    d, m = problem.duration_s, problem.distance_m
    t1, t2 = float(d[v.start, visit.location]), float(d[visit.location, v.end])
    if not (np.isfinite(t1) and np.isfinite(t2)) or len(v.breaks) > 1:
        return
    m1, m2 = float(m[v.start, visit.location]), float(m[visit.location, v.end])
    s0, e0 = float(v.shift.start_s), float(v.shift.end_s + v.overtime_s)
    svc = float(visit.service_s)

    def route(leave: float, start: float, ret: float, brk: tuple) -> Route:
        stop = Stop(visit.visit_id, leave + t1, start, start + svc, t1, m1)
        return Route(v.vehicle_id, (stop,), leave, ret, t1 + t2, m1 + m2, brk)

    for w in visit.windows:
        b_min = max(s0 + t1, float(w.start_s))
        b_max = min(float(w.end_s), e0 - svc - t2)
        if b_min > b_max + 1e-9:
            continue
        if not v.breaks:
            yield route(b_min - t1, b_min, b_min + svc + t2, ())
            continue
        br = v.breaks[0]
        b = float(br.duration_s)
        # break before leaving, then travel and serve
        bs = max(float(br.earliest_s), s0)
        start = max(b_min, bs + b + t1)
        if bs <= br.latest_s and start <= b_max:
            yield route(start - t1, start, start + svc + t2, ((bs, bs + b),))
        # travel, break on arrival, serve
        bs = max(float(br.earliest_s), s0 + t1)
        start = max(b_min, bs + b)
        if bs <= br.latest_s and start <= b_max:
            yield route(bs - t1, start, start + svc + t2, ((bs, bs + b),))
        # serve early, break right after the service, travel back
        dep = b_min + svc
        bs = max(float(br.earliest_s), dep)
        if bs <= br.latest_s and bs + b + t2 <= e0:
            yield route(b_min - t1, b_min, bs + b + t2, ((bs, bs + b),))
        # serve early, travel back, break after returning
        bs = max(float(br.earliest_s), dep + t2)
        if bs <= br.latest_s and bs + b <= e0:
            yield route(b_min - t1, b_min, dep + t2, ((bs, bs + b),))


def fits_alone(problem: Problem, vehicle: int, visit: Visit) -> bool:
    """True if `visit` fits the empty day of `vehicle`.

    A True answer is proven by a one-visit route that passes `verify.check_solution`. A False
    answer is proven by the schedule without breaks failing (breaks only add time), or, where
    only breaks or working-time limits get in the way, by the solver on the one-visit problem.
    """
    visits = {visit.visit_id: visit}
    if simulate_route(problem, vehicle, [visit.visit_id], visits) is None:
        return False  # infeasible even without breaks: proven impossible for this vehicle
    v = problem.vehicles[vehicle]
    single = Problem(visits=(visit,), vehicles=(v,), duration_s=problem.duration_s,
                     distance_m=problem.distance_m)
    for route in _one_visit_routes(problem, vehicle, visit):
        if not verify.check_solution(single, Solution(routes=(route,), dropped=())):
            return True
    # no simple placement passed: let the solver decide on the one-visit problem
    req = Problem(visits=(Visit(visit.visit_id, visit.location, visit.value, visit.service_s,
                                visit.windows, required=True),),
                  vehicles=(v,), duration_s=problem.duration_s, distance_m=problem.distance_m)
    try:
        sol = sv.solve(req, sv.SolveSettings(time_limit_s=1.0, seed=0, warm_start="none"))
    except Exception:  # noqa: BLE001 - an infeasible required visit raises
        return False
    return bool(sol.visited_ids()) and not verify.check_solution(req, sol)


def _insertion_detail(problem: Problem, solution: Solution, visit: Visit,
                      eligible: Sequence[int], visits: dict[str, Visit], values: dict[str, float]
                      ) -> str:
    """What visiting `visit` would have cost in the plan: a displaced visit or extra travel."""
    routes = {r.vehicle_id: r for r in solution.routes}
    allv = dict(visits)
    allv[visit.visit_id] = visit
    best_insert: tuple[float, str] | None = None
    best_swap: tuple[float, str, str] | None = None
    for k in eligible:
        veh = problem.vehicles[k]
        r = routes.get(veh.vehicle_id)
        seq = [s.visit_id for s in r.stops] if r else []
        brk = sum(b.duration_s for b in veh.breaks)
        base = (r.travel_s if r else 0.0)
        for pos in range(len(seq) + 1):
            cand = seq[:pos] + [visit.visit_id] + seq[pos:]
            sim = simulate_route(problem, k, cand, allv)
            if sim and sim.return_s + brk <= veh.shift.end_s + veh.overtime_s:
                extra = sim.travel_s - base
                if best_insert is None or extra < best_insert[0]:
                    best_insert = (extra, veh.vehicle_id)
        for j, old in enumerate(seq):
            cand = seq[:j] + [visit.visit_id] + seq[j + 1:]
            sim = simulate_route(problem, k, cand, allv)
            fits = sim is not None and sim.return_s + brk <= veh.shift.end_s + veh.overtime_s
            if fits and (best_swap is None or values[old] < best_swap[0]):
                best_swap = (values[old], old, veh.vehicle_id)
    if best_swap is not None:
        return (f"it would have displaced {best_swap[1]} (value {money(best_swap[0])}) from "
                f"{best_swap[2]}'s route")
    if best_insert is not None:
        return (f"its cheapest insertion ({best_insert[1]}'s route) needs "
                f"{best_insert[0] / 60:.0f} more minutes of travel")
    return ("no single visit of an eligible route could make room for it; it would need "
            "several visits worth more moved")


def explain_unassigned(cases: Sequence[Case], loc, built, solution: Solution, settings, *,
                       progress: Progress | None = None) -> tuple[Unassigned, ...]:
    """One `Unassigned` per case not in a route, in input order."""
    visited = set(solution.visited_ids())
    dropped = set(solution.dropped)
    problem = built.problem
    visits = {v.visit_id: v for v in problem.visits}
    out: list[Unassigned] = []
    todo = [c for c in cases if c.case_id in dropped]
    with ensure(progress).step("Explaining unvisited cases", total=len(todo)) as adv:
        for case in cases:
            cid = case.case_id
            if cid in visited:
                continue
            latlon = loc.case_latlon.get(cid)
            lat, lon = latlon if latlon else (None, None)
            value = built.values[cid]
            if cid in built.excluded:
                code, reason = built.excluded[cid]
            else:
                vis = visits[cid]
                elig = built.eligible[cid]
                fitting = next((k for k in elig if fits_alone(problem, k, vis)), None)
                if fitting is None:
                    names = ", ".join(problem.vehicles[k].vehicle_id for k in elig)
                    code = "cannot_fit_alone"
                    reason = (f"even as the only visit of the day it cannot be reached, served "
                              f"inside its windows ({_wins(vis.windows)}) and the crew back "
                              f"within the shift, for any eligible crew ({names})")
                else:
                    code = "lower_value"
                    detail = _insertion_detail(problem, solution, vis, elig, visits,
                                               built.values)
                    reason = (f"could be visited (it fits {problem.vehicles[fitting].vehicle_id}"
                              f"'s day on its own) but the plan kept visits worth more: its value "
                              f"is {money(value)}; {detail}")
                adv()
            out.append(Unassigned(case=case, reason_code=code, reason=reason, value=value,
                                  lat=lat, lon=lon))
    return tuple(out)


def _wins(ws: Sequence[TimeWindow]) -> str:
    return ", ".join(w.label() for w in ws)
