"""Re-plan the rest of a published day at a given time: THE day's pipeline on what is left.

    the published routes (`optimizer.io.published`) + the time --at + which visits are done
      -> the whole day's problem (the published crews from their start places, every case and
         the urgent ones: `plan.locate`, `build_problem`)
      -> the rest of the day's problem: each crew from its last done stop when it has finished
         it (and not before --at; placed where the device recorded its outcome, when the store
         has that position), with the visits, working time and break it has left; the
         crews that lost a member below the policy's team size, and absent collectors, stop;
         every visit not done yet, a crew's remaining stops preferred for it (moving one to
         another crew costs the change cost: ``change_cost``, default the policy's
         ``preferred_cost``), urgent cases required (served whenever a crew can make them)
      -> `plan.search` (solve, verify) -> the done stops followed by the new ones, re-checked
         on the whole day's problem (`verify.check_solution`) -> routes on the roads, a reason
         for every case not visited (explained on the rest of the day), the changes

Which visits are done is the caller's: `done_by_clock` (the stops planned to start before
--at, with no store), or the case ids whose outcomes a store recorded for the day.
A done stop keeps its published times (re-timed to the second on the travel matrix, so the
whole-second times of routes.json add up); the visit in progress counts as done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from optimizer.errors import CollectorRoutesError, InfeasibleError, SearchTimeout
from optimizer.geo import geocode as gc
from optimizer.geo import network as nw
from optimizer.io.published import PublishedDay, PublishedRoute, PublishedStop
from optimizer.model import (
    Break,
    Case,
    Collector,
    Plan,
    Problem,
    Route,
    Solution,
    Stop,
    TimeWindow,
    Vehicle,
    Visit,
    hhmm,
)
from optimizer.plan import Initial, locate, search, summarize, trace_routes
from optimizer.planning import explain, rules
from optimizer.planning.build import Built, build_problem
from optimizer.progress import Progress
from optimizer.routing import verify
from optimizer.routing.schedule import simulate_route
from optimizer.settings import PlanSettings

#: the solver's value of an urgent case: this many times the most valuable case of the day
URGENT_FACTOR = 2.0


@dataclass(frozen=True)
class Move:
    """A case whose route changed: from the published route (or "" = not planned) to the new
    one (or "" = no longer visited, with its reason)."""

    case_id: str
    before: str
    after: str
    reason: str = ""  # why it is no longer visited, or "urgent" for an added case


@dataclass(frozen=True)
class Replanned:
    """The re-planned day and what changed."""

    plan: Plan
    at_s: int
    done: tuple[str, ...]  # case ids of the stops kept as done
    absent: tuple[str, ...]
    stopped: tuple[str, ...]  # routes that make no further visit (absent members, no time)
    urgent: tuple[str, ...]
    moves: tuple[Move, ...]
    impossible: tuple[str, ...] = ()  # urgent cases that cannot be visited (each explained)


def done_by_clock(day: PublishedDay, at_s: int) -> frozenset[str]:
    """The case ids of the stops planned to start before `at_s` (the visit in progress too)."""
    return frozenset(s.case_id for r in day.routes for s in r.stops if s.start_s < at_s)


def _crews(day: PublishedDay, collectors: Sequence[Collector], policy: rules.Policy
           ) -> tuple[rules.Crew, ...]:
    """The published crews, in the published order: each route's members as a team named by
    the route id (`rules.form_crews` with the team column set)."""
    by_id = {c.collector_id: c for c in collectors}
    missing = sorted(m for m in day.collectors if m not in by_id)
    if missing:
        raise CollectorRoutesError(
            f"the plan in {day.folder} names collector(s) {', '.join(missing)} that the "
            "collector list does not have; fix: give the --collectors the plan was made with")
    members = [replace(by_id[m], team=r.route_id, workdays=frozenset(range(7)))
               for r in day.routes for m in r.members]
    one = replace(policy, min_team_size=1)  # the published teams as they are
    crews = {c.crew_id: c for c in rules.form_crews(members, one)}
    return tuple(crews[r.route_id] for r in day.routes)


def _done_route(problem: Problem, k: int, route: PublishedRoute, done: Sequence[PublishedStop],
                index: Mapping[str, int], at_s: int) -> Route:
    """The done stops of a published route, re-timed on the matrix: each as published or the
    least later that the exact travel and service times allow; the breaks that began before
    `at_s` or before a done stop are taken (before leaving, between the done stops, or after
    the last one). The
    route's return is the end of the done part (the rest of the day is appended by `_merge`)."""
    veh = problem.vehicles[k]
    visits = {v.visit_id: v for v in problem.visits}
    dur, dist = problem.duration_s, problem.distance_m
    leave = float(route.leave_s if route.leave_s is not None else veh.shift.start_s)
    # taken: begun before `at_s`, or planned before a stop that is done (reported early)
    until = max([at_s, *(s.start_s for s in done)])
    taken = [(float(a), float(b)) for a, b in route.breaks if a < until]
    kept: list[tuple[float, float]] = [b for b in taken if b[1] <= leave]
    pending = [b for b in taken if b[1] > leave]
    stops: list[Stop] = []
    t, loc, travel_s, travel_m = leave, veh.start, 0.0, 0.0
    for s in done:
        vis = visits[s.case_id]
        i = index[s.case_id]
        t_ij, d_ij = float(dur[loc, i]), float(dist[loc, i])
        ready = t + t_ij
        for b0, b1 in [b for b in pending if b[0] < s.start_s]:  # taken on the way
            start_b = max(b0, t)
            kept.append((start_b, start_b + (b1 - b0)))
            ready += b1 - b0
            pending.remove((b0, b1))
        arrive = max(float(s.arrive_s), t + t_ij)
        start = max(float(s.start_s), arrive, ready, *(b[1] for b in kept))
        stops.append(Stop(s.case_id, arrive, start, start + vis.service_s, t_ij, d_ij))
        t, loc = start + vis.service_s, i
        travel_s += t_ij
        travel_m += d_ij
    for b0, b1 in pending:  # after the last done stop, before the rest of the day
        start_b = max(b0, t)
        kept.append((start_b, start_b + (b1 - b0)))
        t = start_b + (b1 - b0)
    return Route(veh.vehicle_id, tuple(stops), leave, t, travel_s, travel_m, tuple(sorted(kept)))


def _rest_vehicle(veh: Vehicle, done: Route, at_s: int, start: int) -> Vehicle | None:
    """The vehicle for the rest of the day after `done` (None: no time or visits left).

    It starts at location `start` (its last done stop, or its start place) when the done part
    is over and not before `at_s`, ends where it ends, by its shift's end and its working-time
    limit counted from the day's departure; it has the visits left and its break if it has not
    taken it.
    """
    resume = max(float(at_s), float(veh.shift.start_s), done.return_s if done.stops else 0.0,
                 *(b for _, b in done.breaks))
    end = veh.shift.end_s
    max_duration = veh.max_duration_s
    if done.stops and veh.max_duration_s is not None:
        end = min(end, int(done.leave_s) + veh.max_duration_s)
        max_duration = None  # the shortened end holds it: the day began at the first leave
    start_s = math.ceil(resume)
    left = None if veh.max_visits is None else veh.max_visits - len(done.stops)
    if start_s >= end + veh.overtime_s or (left is not None and left <= 0):
        return None
    breaks: tuple[Break, ...] = ()
    if not done.breaks:
        breaks = tuple(Break(max(b.earliest_s, start_s), b.latest_s, b.duration_s)
                       for b in veh.breaks if b.latest_s >= start_s)
    return replace(veh, start=start, shift=TimeWindow(start_s, max(end, start_s)),
                   max_visits=left, max_duration_s=max_duration, breaks=breaks)


def _published_order(rest: Problem, remaining: Mapping[str, int], usable: Sequence[int]
                     ) -> Initial:
    """The search's start: each continuing crew's remaining stops in their published order
    (`remaining`: case id -> its published route's index), so the solver changes a route only
    where that improves the plan (and a move to another crew must gain the change cost); the
    model cuts what no longer fits (`optimizer.routing.ortools_model`)."""
    index = {v.visit_id: i for i, v in enumerate(rest.visits)}
    routes = []
    for k, veh in enumerate(rest.vehicles):
        seq = [index[cid] for cid, was in remaining.items() if was == k and cid in index
               and k in usable] if k in usable else []
        routes.append(simulate_route(rest, k, seq, leave_s=float(veh.shift.start_s)) if seq
                      else Route(veh.vehicle_id, (), float(veh.shift.start_s),
                                 float(veh.shift.start_s), 0.0, 0.0))
    routed = {s.visit_id for r in routes for s in r.stops}
    return Initial(Solution(routes=tuple(routes),
                            dropped=tuple(v.visit_id for v in rest.visits
                                          if v.visit_id not in routed), solver="published"),
                   label="published order", search="only")


def _merge(problem: Problem, done: Route, rest: Route | None) -> Route:
    """The done part followed by the rest of the day's route, as one route of the whole day
    (a crew that stops goes back from its last done stop, taking a break it still owes)."""
    veh = next(v for v in problem.vehicles if v.vehicle_id == done.vehicle_id)
    if rest is not None and rest.stops:
        if not done.stops:
            return replace(rest, breaks=tuple(sorted(done.breaks + rest.breaks)))
        return Route(veh.vehicle_id, done.stops + rest.stops, done.leave_s, rest.return_s,
                     done.travel_s + rest.travel_s, done.travel_m + rest.travel_m,
                     tuple(sorted(done.breaks + rest.breaks)))
    if not done.stops:
        return Route(veh.vehicle_id, (), float(veh.shift.start_s), float(veh.shift.start_s),
                     0.0, 0.0)
    last = next(v.location for v in problem.visits if v.visit_id == done.stops[-1].visit_id)
    back_s = float(problem.duration_s[last, veh.end])
    back_m = float(problem.distance_m[last, veh.end])
    t = done.return_s  # the end of the done part (after a break taken after it)
    breaks = list(done.breaks)
    if veh.breaks and not breaks:  # owed and not taken: right after the last visit
        b = veh.breaks[0]
        b0 = max(float(b.earliest_s), t)
        breaks.append((b0, b0 + b.duration_s))
        t = b0 + b.duration_s
    return Route(veh.vehicle_id, done.stops, done.leave_s, t + back_s, done.travel_s + back_s,
                 done.travel_m + back_m, tuple(breaks))


def replan_day(day: PublishedDay, cases: Sequence[Case], collectors: Sequence[Collector],
               settings: PlanSettings, *, at_s: int, done: Collection[str],
               absent: Collection[str] = (), urgent: Sequence[Case] = (),
               change_cost: float | None = None,
               positions: Mapping[str, tuple[float, float]] | None = None,
               geocoder: gc.Geocoder | None = None, network: nw.RoadNetwork | None = None,
               progress: Progress | None = None) -> Replanned:
    """Re-plan the rest of `day` from `at_s` (see the module's docstring).

    `cases`, `collectors`: the lists the day was planned from; `settings`: its settings (the
    plan date is the day's); `done`: the case ids of the published stops done (or under way);
    `absent`: collector ids who make no further visit; `urgent`: cases to add (a case of the
    list with the same id is replaced by it), each a required visit: served whenever any crew
    can make it, whatever it displaces; one that no crew can make is unassigned with its
    reason, prefixed "urgent visit required but impossible", and listed in ``impossible``.
    `change_cost`: what giving one of a crew's remaining stops to another crew must gain, in
    value units (None: the policy's ``preferred_cost``; 0: the stops move freely).
    `positions`: case_id -> the device's (lat, lon) recorded with a done visit's outcome; a
    crew whose last done visit has one continues from there (the visit is placed where it was
    made, so the whole day is checked on the same places), the others from their last stop.
    Raises `CollectorRoutesError` if the kept and new routes fail the re-simulation (a bug).
    """
    started = time.perf_counter()
    settings = replace(settings, plan_date=day.plan_date)
    policy = settings.policy
    urgent_ids = {c.case_id for c in urgent}
    # where each crew is: the device position of its last done visit, when recorded
    lasts = {done_r[-1].case_id for done_r in (
        tuple(x for x in r.stops if x.case_id in done) for r in day.routes) if done_r}
    here = {cid: p for cid, p in (positions or {}).items() if cid in lasts}
    all_cases = tuple([replace(c, lat=here[c.case_id][0], lon=here[c.case_id][1])
                       if c.case_id in here else c
                       for c in cases if c.case_id not in urgent_ids] + [c for c in urgent])
    crews = _crews(day, collectors, policy)
    loc = locate(all_cases, crews, settings, geocoder=geocoder, network=network,
                 progress=progress)
    full = build_problem(all_cases, loc, plan_date=day.plan_date, policy=policy,
                         weighting=settings.weighting,
                         travel_cost_per_h=settings.travel_cost_per_h)
    problem = full.problem
    visit_of = {v.visit_id: v for v in problem.visits}
    done_stops = {r.route_id: tuple(s for s in r.stops if s.case_id in done) for r in day.routes}
    not_visitable = sorted(s.case_id for ss in done_stops.values() for s in ss
                           if s.case_id not in visit_of)
    if not_visitable:
        raise CollectorRoutesError(
            f"done visit(s) {', '.join(not_visitable)} of the plan are not visits of the day "
            "with these case and collector lists (changed since the plan?); fix: give the "
            "--cases, --collectors and --policy the plan was made with")
    index = {v.visit_id: v.location for v in problem.visits}
    done_routes = {r.route_id: _done_route(problem, k, r, done_stops[r.route_id], index,
                                           at_s)
                   for k, r in enumerate(day.routes)}

    # the rest of the day: who continues, from where, with what
    absent_set = set(absent)
    vehicles: list[Vehicle] = []
    stopped: list[str] = []
    usable: list[int] = []
    for k, (veh, crew, r) in enumerate(zip(problem.vehicles, crews, day.routes, strict=True)):
        present = [m for m in crew.member_ids if m not in absent_set]
        done_r = done_routes[r.route_id]
        rest_v = None
        if len(present) >= max(1, policy.min_team_size):
            start = index[done_r.stops[-1].visit_id] if done_r.stops else veh.start
            rest_v = _rest_vehicle(veh, done_r, at_s, start)
        if rest_v is None:
            stopped.append(r.route_id)
            vehicles.append(veh)
            continue
        vehicles.append(rest_v)
        usable.append(k)
    remaining = {s.case_id: k for k, r in enumerate(day.routes) for s in r.stops
                 if s.case_id not in done}
    top = max((full.values[c.case_id] for c in all_cases), default=0.0)
    rest_visits: list[Visit] = []
    excluded = dict(full.excluded)
    cost = policy.preferred_cost if change_cost is None else change_cost
    for v in problem.visits:
        if v.visit_id in done:
            continue
        allowed = tuple(k for k in (v.allowed_vehicles or range(len(vehicles))) if k in usable)
        if not allowed:
            names = ", ".join(crews[k].crew_id for k in (v.allowed_vehicles or ()))
            excluded[v.visit_id] = ("no_eligible_collector", (
                f"no crew that may visit it ({names}) continues after {hhmm(at_s)}: absent "
                "collectors, a team below the policy's team size, or no time left") if names
                else f"no crew continues after {hhmm(at_s)}")
            continue
        value = v.value
        if v.visit_id in urgent_ids:
            value = max(v.value, URGENT_FACTOR * top)
        was = remaining.get(v.visit_id)
        keep = (was,) if was is not None and was in allowed else ()
        rest_visits.append(replace(
            v, value=value, allowed_vehicles=None if len(allowed) == len(vehicles) else allowed,
            required=v.visit_id in urgent_ids,
            preferred_vehicles=keep or v.preferred_vehicles,
            off_preference_cost=cost if keep else v.off_preference_cost))
    rest_problem = replace(problem, visits=tuple(rest_visits), vehicles=tuple(vehicles))
    try:
        found = search(rest_problem, settings.solver, progress=progress,
                       initial=_published_order(rest_problem, remaining, usable))
    except SearchTimeout:
        raise
    except InfeasibleError:  # an urgent visit no crew can make: plan the rest, explain it
        rest_problem = replace(rest_problem, visits=tuple(replace(v, required=False)
                                                          for v in rest_visits))
        found = search(rest_problem, settings.solver, progress=progress,
                       initial=_published_order(rest_problem, remaining, usable))
    rest_routes = {r.vehicle_id: r for r in found.solution.routes}

    merged = Solution(
        routes=tuple(_merge(problem, done_routes[r.route_id], rest_routes.get(r.route_id)
                            if k in usable else None)
                     for k, r in enumerate(day.routes)),
        dropped=tuple(v.visit_id for v in problem.visits
                      if v.visit_id not in done
                      and v.visit_id not in {s.visit_id for r in found.solution.routes
                                             for s in r.stops}),
        objective=found.solution.objective, solver=found.solution.solver)
    problems = verify.check_solution(problem, merged)
    if problems:
        raise CollectorRoutesError("the re-planned day failed re-simulation: "
                                   + "; ".join(problems[:5]))
    routes = trace_routes(loc, full, merged, progress=progress)
    rest_built = Built(rest_problem, full.visit_case, full.values, full.windows,
                       {v.visit_id: v.allowed_vehicles or tuple(range(len(vehicles)))
                        for v in rest_visits}, excluded)
    left = [c for c in all_cases if c.case_id not in done]
    unassigned = explain.explain_unassigned(left, loc, rest_built, found.solution,
                                            progress=progress)
    impossible = tuple(sorted(u.case.case_id for u in unassigned
                              if u.case.case_id in urgent_ids))
    unassigned = tuple(replace(u, reason=f"urgent visit required but impossible: {u.reason}")
                       if u.case.case_id in urgent_ids else u for u in unassigned)
    summary = summarize(routes, unassigned, plan_date=day.plan_date, policy=policy.name,
                        weighting=settings.weighting.preset, geocoded=loc.geocoded,
                        timings_s=loc.timings_s, solver=found.solution,
                        wall_s=time.perf_counter() - started)
    plan = Plan(plan_date=day.plan_date, routes=routes, unassigned=unassigned, summary=summary,
                geocoded=dict(loc.geocoded))
    return Replanned(plan, at_s, tuple(sorted(done)), tuple(sorted(absent_set)),
                     tuple(stopped), tuple(sorted(urgent_ids)),
                     moves(day, plan, urgent_ids), impossible)


def moves(day: PublishedDay, plan: Plan, urgent: Collection[str] = ()) -> tuple[Move, ...]:
    """The cases whose route changed from the published `day` to `plan`, in case id order."""
    before = {s.case_id: r.route_id for r in day.routes for s in r.stops}
    after = {s.case.case_id: r.collector.collector_id for r in plan.routes for s in r.stops}
    why = {u.case.case_id: u.reason for u in plan.unassigned}
    out = []
    for cid in sorted(set(before) | set(after) | set(urgent)):
        b, a = before.get(cid, ""), after.get(cid, "")
        if b != a or cid in urgent:
            out.append(Move(cid, b, a, "urgent" if cid in urgent and a else why.get(cid, "")))
    return tuple(out)
