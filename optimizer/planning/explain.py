"""A reason for every case left out of the plan.

Two kinds, both computed, never guessed:

*cannot be visited today* (proven): no coordinates, off the road network, unreachable, no window
today, outside legal hours, outside every eligible shift, no eligible collector (skill, fixed
collector, territory), cooldown or open promise, planned on an earlier day of a multi-day plan
(decided before solving, see `optimizer.planning.build`); and ``cannot_fit_alone``: even as
the only visit of an eligible crew's empty day it cannot be reached, served within a window and
the crew returned within the shift. That is shown by simulating the one-visit route for every
eligible crew with the solver's own route simulator (`optimizer.routing.schedule`), and, where
breaks or working-time limits apply, by the solver on that one-visit problem.

*left out by choice* (``lower_value``): it fits at least one eligible crew's empty day (that
one-visit route is built and passes `verify.check_solution`), but the plan kept visits worth more.
The sentence gives its value and what it would have cost: the visit it would have displaced, or
the travel its cheapest insertion needs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from optimizer import model
from optimizer.errors import InfeasibleError
from optimizer.model import (
    Case,
    Problem,
    Route,
    Solution,
    TimeWindow,
    Unassigned,
    Visit,
)
from optimizer.planning.build import Built, Located
from optimizer.progress import Progress, ensure
from optimizer.routing import schedule, verify
from optimizer.routing.params import SolveSettings
from optimizer.routing.solve import solve

IMPOSSIBLE = {
    "no_coordinates", "off_network", "unreachable", "no_window_today", "outside_legal_hours",
    "outside_shifts", "no_eligible_collector", "cooldown", "open_promise", "cannot_fit_alone",
    "planned_earlier",
}
BY_CHOICE = {"lower_value"}

def money(v: float) -> str:
    return f"{v:,.0f}"


# --------------------------------------------------------------------------- one-visit routes


def _one_visit_routes(problem: Problem, vehicle: int, visit: int) -> Iterator[Route]:
    """Candidate one-visit routes for `vehicle` (at most one break), each to be verified.

    Simulated by the one route simulator (`schedule.simulate_route`). For each window, the
    crew leaves just in time to start the visit as early as the window and the shift allow, and
    takes its break (if it has one) before leaving, on the way there or on arrival, on the way
    back or right after the service, or after returning. Leaving just in time keeps the working
    time short. Travel is the problem's (`model.drive`: by time of day with time bands).
    """
    v = problem.vehicles[vehicle]
    vis = problem.visits[visit]
    d = problem.duration_s
    t1, t2 = float(d[v.start, vis.location]), float(d[vis.location, v.end])
    if not (np.isfinite(t1) and np.isfinite(t2)) or len(v.breaks) > 1:
        return
    s0, e0 = float(v.shift.start_s), float(v.shift.end_s + v.overtime_s)
    first = model.drive(problem, v.start, vis.location, s0).end_s  # there at the earliest
    latest = model.depart_by(problem, vis.location, v.end, e0) - vis.service_s  # back in time

    def leave_for(arrive_s: float) -> float:
        return max(s0, model.depart_by(problem, v.start, vis.location, arrive_s))

    for w in vis.windows:
        b_min = max(first, float(w.start_s))
        if b_min > min(float(w.end_s), latest) + 1e-9:
            continue  # no start in this window gets the crew back within the shift
        leave = leave_for(b_min)
        if not v.breaks:
            yield schedule.simulate_route(problem, vehicle, [visit], leave_s=leave)
            continue
        brk = v.breaks[0]
        # on the way there: leave so as to arrive when the break can start at the earliest
        on_arrival = leave_for(max(float(brk.earliest_s), first))
        for leg, leave_s in ((-1, leave), (0, on_arrival), (1, leave), (2, leave)):
            yield schedule.simulate_route(problem, vehicle, [visit], leave_s=leave_s,
                                          breaks=[(leg, brk)])


def fits_alone(problem: Problem, vehicle: int, visit: int) -> bool:
    """True if ``problem.visits[visit]`` fits the empty day of ``problem.vehicles[vehicle]``.

    A True answer is proven by a one-visit route that passes `verify.check_solution`. A False
    answer is proven by the schedule without breaks failing (`schedule.feasible_route`: breaks
    only add time), or, where only breaks or working-time limits get in the way, by the solver
    on the one-visit problem.
    """
    if schedule.feasible_route(problem, vehicle, [visit]) is None:
        return False  # infeasible even without breaks: proven impossible for this vehicle
    v, vis = problem.vehicles[vehicle], problem.visits[visit]
    single = Problem(visits=(vis,), vehicles=(v,), duration_s=problem.duration_s,
                     distance_m=problem.distance_m, traffic=problem.traffic)
    for route in _one_visit_routes(problem, vehicle, visit):
        if not verify.check_solution(single, Solution(routes=(route,), dropped=())):
            return True
    # no simple placement passed: let the solver decide on the one-visit problem
    req = Problem(visits=(Visit(vis.visit_id, vis.location, vis.value, vis.service_s,
                                vis.windows, required=True),),
                  vehicles=(v,), duration_s=problem.duration_s, distance_m=problem.distance_m,
                  traffic=problem.traffic)
    try:
        sol = solve(req, SolveSettings(time_limit_s=1.0, seed=0, warm_start="none"))
    except InfeasibleError:
        return False
    return bool(sol.visited_ids()) and not verify.check_solution(req, sol)


def _insertion_detail(problem: Problem, solution: Solution, visit: int, eligible: Sequence[int],
                      index: dict[str, int], values: dict[str, float]) -> str:
    """What visiting ``problem.visits[visit]`` would have cost in the plan: the least valuable
    visit it could have displaced, else the least extra travel of inserting it (schedules by
    `schedule.feasible_route`).

    The swaps are tried from the least valuable visit up, so the first that fits is the
    answer (ties in route order); insertions are tried only when no swap fits. That answers
    the same as trying every swap and insertion, with a few simulations for most cases
    instead of two per stop of every eligible route (what made the explanations of a large
    day take longer than its search).
    """
    routes = {r.vehicle_id: r for r in solution.routes}
    seqs: dict[int, list[int]] = {}
    for k in eligible:
        r = routes.get(problem.vehicles[k].vehicle_id)
        seqs[k] = [index[s.visit_id] for s in r.stops] if r else []

    def fits(k: int, seq: list[int]) -> Any:
        veh = problem.vehicles[k]
        sim = schedule.feasible_route(problem, k, seq)
        brk = sum(b.duration_s for b in veh.breaks)
        return sim if sim is not None and sim.return_s + brk <= veh.shift.end_s + veh.overtime_s \
            else None

    swaps = sorted(((values[problem.visits[old].visit_id], n, k, j)
                    for n, (k, j, old) in enumerate((k, j, old) for k in eligible
                                                     for j, old in enumerate(seqs[k]))))
    for value, _, k, j in swaps:
        seq = seqs[k]
        if fits(k, seq[:j] + [visit] + seq[j + 1:]) is not None:
            old_id = problem.visits[seq[j]].visit_id
            return (f"it would have displaced {old_id} (value {money(value)}) from "
                    f"{problem.vehicles[k].vehicle_id}'s route")
    best_insert: tuple[float, str] | None = None
    for k in eligible:
        veh, seq = problem.vehicles[k], seqs[k]
        r = routes.get(veh.vehicle_id)
        base = r.travel_s if r else 0.0
        for pos in range(len(seq) + 1):
            sim = fits(k, seq[:pos] + [visit] + seq[pos:])
            if sim is not None:
                extra = sim.travel_s - base
                if best_insert is None or extra < best_insert[0]:
                    best_insert = (extra, veh.vehicle_id)
    if best_insert is not None:
        return (f"its cheapest insertion ({best_insert[1]}'s route) needs "
                f"{best_insert[0] / 60:.0f} more minutes of travel")
    return ("no single visit of an eligible route could make room for it; it would need "
            "several visits worth more moved")


def explain_unassigned(cases: Sequence[Case], loc: Located, built: Built, solution: Solution, *,
                       progress: Progress | None = None) -> tuple[Unassigned, ...]:
    """One `Unassigned` per case not in a route, in input order: the reason decided before
    solving (`built.excluded`), or ``cannot_fit_alone`` / ``lower_value`` worked out here."""
    visited = set(solution.visited_ids())
    dropped = set(solution.dropped)
    problem = built.problem
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
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
                i = index[cid]
                vis = problem.visits[i]
                elig = built.eligible[cid]
                fitting = next((k for k in elig if fits_alone(problem, k, i)), None)
                if fitting is None:
                    names = ", ".join(problem.vehicles[k].vehicle_id for k in elig)
                    code = "cannot_fit_alone"
                    reason = (f"even as the only visit of the day it cannot be reached, served "
                              f"inside its windows ({_wins(vis.windows)}) and the crew back "
                              f"within the shift, for any eligible crew ({names})")
                else:
                    code = "lower_value"
                    detail = _insertion_detail(problem, solution, i, elig, index, built.values)
                    reason = (f"could be visited (it fits {problem.vehicles[fitting].vehicle_id}"
                              f"'s day on its own) but the plan kept visits worth more: its value "
                              f"is {money(value)}; {detail}")
                adv()
            out.append(Unassigned(case=case, reason_code=code, reason=reason, value=value,
                                  lat=lat, lon=lon))
    return tuple(out)


def _wins(ws: Sequence[TimeWindow]) -> str:
    return ", ".join(w.label() for w in ws)
