"""Plan a day: THE pipeline from validated cases and collectors to a `Plan`.

    crews -> locate (geocode, road network, travel matrix, one per time band with traffic)
          -> build_problem (values, rules)
          -> search (solve, verify, guard) -> assemble (road paths, reasons) -> Plan + summary

`plan_day` runs all of it for the command line; `solve_day` does the same and also returns the
solver problem and how it was searched, for callers that plan several days from one another: a
what-if variant starts from its base plan (`Initial`), and so can later re-planning and
multi-day plans. `solve_located` runs the steps after `locate`, for days located by hand (tests).

Nothing here writes files (`optimizer.outputs.write` does); it reads the OSM extract and uses the
caches for networks and geocoding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

import numpy as np

from optimizer.errors import CollectorRoutesError, InputError, Issue
from optimizer.executor import Executor
from optimizer.geo import geocode as gc
from optimizer.geo import matrix as mx
from optimizer.geo import network as nw
from optimizer.geo import traffic as tr
from optimizer.model import (
    Case,
    Collector,
    GeocodingCounts,
    Place,
    Plan,
    PlannedRoute,
    PlannedStop,
    PlanSummary,
    Problem,
    Route,
    RouteSummary,
    Solution,
    SolverSummary,
    TimeBands,
    TimeWindow,
    Unassigned,
    geocode_status,
    hhmm,
)
from optimizer.planning import explain, rules
from optimizer.planning.build import (
    Built,
    DayContext,
    Located,
    Reason,
    Steering,
    build_problem,
)
from optimizer.progress import Progress, ensure
from optimizer.routing import solve as sv
from optimizer.routing import verify
from optimizer.routing.params import SolveSettings
from optimizer.settings import PlanSettings

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- locate


def _geocode_places(crews: Sequence[rules.Crew], geocoder: gc.Geocoder, collectors_file: str
                    ) -> dict[int, tuple[float, float]]:
    """Coordinates of every crew start/end place (by the place's id); InputError if one cannot
    be found."""
    out: dict[int, tuple[float, float]] = {}
    problems = []
    for crew in crews:
        for which in ("start", "end"):
            place = crew.start if which == "start" else crew.end
            if id(place) in out:
                continue
            if place.lat is not None and place.lon is not None:
                out[id(place)] = (place.lat, place.lon)
                continue
            res = geocoder.geocode(place.address)
            if res is None:
                m = crew.members[0]
                problems.append(Issue(
                    collectors_file, m.row, f"collector_id={m.collector_id}", f"{which}_address",
                    place.address,
                    "the address cannot be geocoded: "
                    + (geocoder.explain_miss(place.address) or "not found"),
                    f"give {which}_lat and {which}_lon, or an address the geocoder knows"))
            else:
                out[id(place)] = (res.lat, res.lon)
    if problems:
        raise InputError(problems)
    return out


@dataclass(frozen=True)
class _Points:
    """The locations of the travel matrix: the crews' start and end places (one location per
    distinct coordinate), then the located cases."""

    latlon: tuple[tuple[float, float], ...]
    crew_start: tuple[int, ...]
    crew_end: tuple[int, ...]
    case: dict[str, int]  # case_id -> location

    @staticmethod
    def of(crews: Sequence[rules.Crew], place_latlon: Mapping[int, tuple[float, float]],
           case_latlon: Mapping[str, tuple[float, float]], case_ids: Sequence[str]) -> _Points:
        pts: list[tuple[float, float]] = []
        index: dict[tuple[str, float, float] | tuple[str, str], int] = {}

        def add(key: tuple[str, float, float] | tuple[str, str],
                latlon: tuple[float, float]) -> int:
            if key not in index:
                index[key] = len(pts)
                pts.append(latlon)
            return index[key]

        def place(p: Place) -> int:
            lat, lon = place_latlon[id(p)]
            return add(("p", round(lat, 6), round(lon, 6)), (lat, lon))

        crew_start = tuple(place(c.start) for c in crews)
        crew_end = tuple(place(c.end) for c in crews)
        case = {cid: add(("c", cid), case_latlon[cid]) for cid in case_ids}
        return _Points(tuple(pts), crew_start, crew_end, case)


def _refuse_places_off_network(crews: Sequence[rules.Crew], points: _Points,
                               snapped: nw.SnapResult, collectors_file: str) -> None:
    """InputError naming every crew start or end place too far from the roads."""
    problems = []
    for k, crew in enumerate(crews):
        for which, i in (("start", points.crew_start[k]), ("end", points.crew_end[k])):
            if snapped.too_far[i]:
                m = crew.members[0]
                lat, lon = points.latlon[i]
                problems.append(Issue(
                    collectors_file, m.row, f"collector_id={m.collector_id}", f"{which}_place",
                    f"{lat:.6f},{lon:.6f}",
                    f"{snapped.distance_m[i]:.0f} m from the nearest road of the network "
                    "(or outside its area)",
                    "give a start/end place inside the road network's area"))
    if problems:
        raise InputError(problems)


def _off_network(latlon: tuple[float, float], distance_m: float, max_snap_m: float) -> Reason:
    return ("off_network",
            f"its location ({latlon[0]:.5f}, {latlon[1]:.5f}) is {distance_m:.0f} m from the "
            f"nearest road of the network (limit {max_snap_m:.0f} m); check the address or "
            "coordinates")


def time_bands(network: nw.RoadNetwork, snapped: nw.SnapResult, base: mx.TravelMatrices,
               profile: tr.TrafficProfile, day: date, *, progress: Progress | None = None
               ) -> TimeBands | None:
    """The travel matrices of each time band of `day` under `profile` (`model.TimeBands`), or
    None when every band keeps the network's own times.

    One matrix pair per distinct set of factors (`tr.edge_times` through
    `mx.travel_matrices`); bands at the network's own times share `base`.
    """
    bands = profile.bands(day)
    if all(b.free for b in bands):
        return None
    found: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray]] = {}
    todo = {(b.factors, b.other) for b in bands if not b.free}
    with ensure(progress).step(f"Travel matrices by time of day ({len(todo)} more)",
                               total=len(todo)) as advance:
        for b in bands:
            key = (b.factors, b.other)
            if b.free:
                found[key] = (base.duration_s, base.distance_m)
            elif key not in found:
                tm = mx.travel_matrices(network, snapped, edge_duration_s=tr.edge_times(network, b))
                found[key] = (np.asarray(tm.duration_s, dtype=float),
                              np.asarray(tm.distance_m, dtype=float))
                advance()
    pairs = [found[(b.factors, b.other)] for b in bands]
    return TimeBands(tuple(b.start_s for b in bands), tuple(d for d, _ in pairs),
                     tuple(m for _, m in pairs))


def locate(cases: Sequence[Case], crews: Sequence[rules.Crew], settings: PlanSettings, *,
           geocoder: gc.Geocoder | None = None, network: nw.RoadNetwork | None = None,
           collectors_file: str = "collectors.csv", progress: Progress | None = None) -> Located:
    """Geocode cases and crew places, snap them to the road network, compute travel matrices
    (and with ``settings.roads.traffic`` one per time band of the plan date, `time_bands`).

    Raises `InputError` when a crew's start or end place cannot be found or lies off the roads;
    a case that cannot is left in ``unlocated`` with its reason.
    """
    roads = settings.roads
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if geocoder is None:
        geocoder = gc.make_geocoder(settings.geocoding.geocoder, osm_path=roads.osm_path,
                                    cache_dir=settings.cache_dir,
                                    user_agent=settings.geocoding.user_agent, progress=progress)
    found, failed = gc.geocode_cases(cases, geocoder, progress=progress)
    unlocated: dict[str, Reason] = {cid: ("no_coordinates", why) for cid, why in failed.items()}
    case_latlon = {cid: (r.lat, r.lon) for cid, r in found.items()}
    place_latlon = _geocode_places(crews, geocoder, collectors_file)
    timings["geocode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if network is None:
        network = nw.load_network(roads.osm_path, place=roads.place, bbox=roads.bbox,
                                  mode=roads.mode, speed_factor=roads.speed_factor,
                                  cache_dir=settings.cache_dir, progress=progress)
    points = _Points.of(crews, place_latlon, case_latlon,
                        [c.case_id for c in cases if c.case_id in case_latlon])
    snapped = nw.snap(network, np.array([p[0] for p in points.latlon]),
                      np.array([p[1] for p in points.latlon]), max_snap_m=roads.max_snap_m)
    _refuse_places_off_network(crews, points, snapped, collectors_file)
    case_index: dict[str, int] = {}
    for cid, i in points.case.items():
        # near the edge of an extract a point may lie outside its bounds yet next to its roads:
        # only the distance to the network decides
        if snapped.too_far[i]:
            unlocated[cid] = _off_network(points.latlon[i], snapped.distance_m[i],
                                          roads.max_snap_m)
        else:
            case_index[cid] = i
    timings["network"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tm = mx.travel_matrices(network, snapped, progress=progress)
    bands = None
    if roads.traffic is not None:
        bands = time_bands(network, snapped, tm, roads.traffic, settings.plan_date,
                           progress=progress)
    timings["matrix"] = time.perf_counter() - t0
    return Located(case_latlon, unlocated, tuple(crews), points.crew_start, points.crew_end,
                   case_index, np.asarray(tm.duration_s, dtype=float),
                   np.asarray(tm.distance_m, dtype=float), np.asarray(snapped.node),
                   points.latlon, network, places=snapped, timings_s=timings,
                   geocoded={cid: (r.matched, r.score, r.provider) for cid, r in found.items()},
                   traffic=bands)


# --------------------------------------------------------------------------- search


@dataclass(frozen=True)
class Initial:
    """A plan to start from (e.g. a what-if variant's base plan), its routes matched to this
    day's vehicles by id.

    Parameters
    ----------
    solution
        Its routes.
    label
        How the searches and the plan name it (``started_from``, ``routes_from``, the solver of
        a kept plan). Default ``"initial plan"``.
    search
        ``"also"``: a search from these routes beside the one from scratch, the better plan kept
        (ties: this one); ``"only"``: the one search starts from them; ``"none"``: no search
        from them (the guard may still use them).
    guard_value
        If set (the value visited by this plan), the plan found is worth less and these routes
        fit the day (re-checked by `verify.check_solution`), they are kept instead. None: no
        guard.
    """

    solution: Solution
    label: str = "initial plan"
    search: Literal["also", "only", "none"] = "also"
    guard_value: float | None = None


@dataclass(frozen=True)
class Guard:
    """What the guard did: the searches' best value was below the initial plan's."""

    found_value: float
    initial_value: float
    kept: bool  # the initial routes (re-verified) replaced the searches' plan
    problem: str = ""  # not kept: why they do not fit this day (the first problem found)


@dataclass(frozen=True)
class Searched:
    """How the plan's routes were found."""

    solution: Solution  # the routes kept, verified
    searches: int  # 1, or 2 with a search from the initial plan beside the one from scratch
    started_from: str  # "scratch" or the initial plan's label
    routes_from: str  # "solver", or "<label> (guard)" when the guard kept the initial routes
    search_stop: str  # "solution limit" (reproducible), "stalled" (no improvement) or "time limit"
    guard: Guard | None = None  # the guard was triggered


def _empty_route(problem: Problem, k: int) -> Route:
    v = problem.vehicles[k]
    return Route(v.vehicle_id, (), float(v.shift.start_s), float(v.shift.start_s), 0.0, 0.0)


def routes_in(problem: Problem, initial: Solution, *, label: str) -> Solution:
    """`initial`'s routes as a solution of `problem` (matched by vehicle id; a vehicle it does
    not have stays home). Check it with `verify.check_solution` before use."""
    by_id = {r.vehicle_id: r for r in initial.routes}
    routes = tuple(by_id[v.vehicle_id] if v.vehicle_id in by_id else _empty_route(problem, k)
                   for k, v in enumerate(problem.vehicles))
    visited = {s.visit_id for r in routes for s in r.stops}
    dropped = tuple(v.visit_id for v in problem.visits if v.visit_id not in visited)
    return Solution(routes=routes, dropped=dropped, solver=label)


def value_visited(problem: Problem, solution: Solution) -> float:
    """The value of the visits `solution` makes, unrounded."""
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    return sum(problem.visits[index[s.visit_id]].value for r in solution.routes for s in r.stops)


def _verified(problem: Problem, solution: Solution) -> Solution:
    problems = verify.check_solution(problem, solution)
    if problems:
        raise CollectorRoutesError("the solver's plan failed re-simulation: " + "; ".join(
            problems[:5]))
    return solution


def search(problem: Problem, solver: SolveSettings, *, initial: Initial | None = None,
           progress: Progress | None = None, executor: Executor | None = None) -> Searched:
    """Solve, verify and guard: the routes of the day's plan.

    Without `initial`, one search from scratch, as `collector-routes plan` runs it. With it, see
    `Initial`. The plan kept is re-simulated independently of the solver
    (`verify.check_solution`); one that fails raises `CollectorRoutesError` (a bug, never
    expected). `executor`: runs the portfolio's other searches (`routing.solve.solve`; None:
    local processes).
    """
    start = initial if initial is not None and initial.search != "none" else None
    searches: list[tuple[str, Solution]] = []
    if start is None or start.search == "also":
        searches.append(("scratch", sv.solve(problem, solver, progress=progress,
                                             executor=executor)))
    if start is not None:  # listed first: a tie goes to the search from the initial plan
        searches.insert(0, (start.label, sv.solve(problem, solver, initial=start.solution,
                                                  progress=progress, executor=executor)))
    started_from, solution = min(searches,
                                 key=lambda t: round(t[1].objective * solver.value_scale))
    # with max_solutions a plan is reproducible only if that limit, not the clock, ended the search
    timed_out = any(sol.budget_s is None or sol.wall_s >= sol.budget_s - 0.05
                    for _, sol in searches)
    search_stop = ("time limit" if timed_out else
                   "solution limit" if solver.max_solutions else "stalled")
    found = Searched(_verified(problem, solution), len(searches), started_from, "solver",
                   search_stop)
    if initial is None or initial.guard_value is None:
        return found
    return _guard(problem, found, initial, initial.guard_value, progress)


def _guard(problem: Problem, found: Searched, initial: Initial, initial_value: float,
           progress: Progress | None) -> Searched:
    """`found`, or the initial routes if they are worth more and fit this day."""
    value = value_visited(problem, found.solution)
    if value >= initial_value - 1e-9 * max(1.0, abs(initial_value)):
        return found
    fallback = routes_in(problem, initial.solution, label=initial.label)
    problems = verify.check_solution(problem, fallback)
    if problems:
        return replace(found, guard=Guard(value, initial_value, False, problems[0]))
    # a step of its own, so that progress displays say so
    with ensure(progress).step(f"{initial.label.capitalize()} kept (the searches found less)"):
        pass
    return Searched(fallback, found.searches, found.started_from, f"{initial.label} (guard)",
                  found.search_stop, Guard(value, initial_value, True))


# --------------------------------------------------------------------------- assemble


def _window_of(start_s: float, windows: Sequence[TimeWindow]) -> TimeWindow:
    for w in windows:
        if w.start_s - 1e-6 <= start_s <= w.end_s + 1e-6:
            return w
    return windows[0]


def _planned_route(route: Route, k: int, loc: Located, built: Built) -> PlannedRoute:
    """One route of the solution with its cases, windows and road path."""
    crew = loc.crews[k]
    stops = tuple(PlannedStop(
        collector_id=crew.crew_id, stop=n, case=built.visit_case[s.visit_id],
        lat=loc.case_latlon[s.visit_id][0], lon=loc.case_latlon[s.visit_id][1],
        arrive_s=s.arrive_s, start_s=s.start_s, depart_s=s.depart_s, travel_s=s.travel_s,
        travel_m=s.travel_m, value=built.values[s.visit_id],
        window=_window_of(s.start_s, built.windows[s.visit_id]))
        for n, s in enumerate(route.stops, start=1))
    seq = [loc.crew_start[k], *(loc.case_index[s.visit_id] for s in route.stops),
           loc.crew_end[k]]
    if loc.network is not None:
        ends = loc.places.take(seq) if loc.places is not None else loc.node[seq]
        path = tuple(mx.route_path(loc.network, ends))
    else:  # synthetic matrices (tests): straight lines between the places
        path = tuple(loc.loc_latlon[i] for i in seq)
    slat, slon = loc.loc_latlon[loc.crew_start[k]]
    elat, elon = loc.loc_latlon[loc.crew_end[k]]
    return PlannedRoute(
        collector=_crew_as_collector(crew), stops=stops, start_lat=slat, start_lon=slon,
        end_lat=elat, end_lon=elon, leave_s=route.leave_s, return_s=route.return_s,
        travel_s=route.travel_s, travel_m=route.travel_m, value=sum(st.value for st in stops),
        path=path, breaks=route.breaks, members=crew.member_ids)


def assemble(cases: Sequence[Case], loc: Located, built: Built, solution: Solution, *,
             progress: Progress | None = None
             ) -> tuple[tuple[PlannedRoute, ...], tuple[Unassigned, ...]]:
    """The solution's routes on the roads, and a reason for every case left out."""
    routes = trace_routes(loc, built, solution, progress=progress)
    unassigned = explain.explain_unassigned(cases, loc, built, solution, progress=progress)
    return routes, unassigned


def trace_routes(loc: Located, built: Built, solution: Solution, *,
                 progress: Progress | None = None) -> tuple[PlannedRoute, ...]:
    """The solution's routes with their cases, windows and road paths."""
    vehicle_index = {v.vehicle_id: k for k, v in enumerate(built.problem.vehicles)}
    routes: list[PlannedRoute] = []
    with ensure(progress).step("Tracing routes on the roads", total=len(solution.routes)) as adv:
        for r in solution.routes:
            routes.append(_planned_route(r, vehicle_index[r.vehicle_id], loc, built))
            adv()
    return tuple(routes)


def _crew_as_collector(crew: rules.Crew) -> Collector:
    if len(crew.members) == 1:
        return crew.members[0]
    return Collector(
        collector_id=crew.crew_id, start=crew.start, end=crew.end, shift=crew.shift,
        max_visits=crew.max_visits,
        name=" & ".join(m.name or m.collector_id for m in crew.members),
        team=crew.members[0].team or crew.crew_id, skills=crew.skills, districts=crew.districts)


# --------------------------------------------------------------------------- summary


def _route_summary(r: PlannedRoute) -> RouteSummary:
    work_s = max(r.return_s - r.leave_s, 0.0) if r.stops else 0.0
    shift_s = r.collector.shift.end_s - r.collector.shift.start_s
    return RouteSummary(
        collector_id=r.collector.collector_id, members=r.members, cases_visited=len(r.stops),
        value_visited=round(r.value, 2), travel_s=round(r.travel_s, 1),
        travel_m=round(r.travel_m, 1), leave=hhmm(r.leave_s) if r.stops else "",
        return_=hhmm(r.return_s) if r.stops else "", work_s=round(work_s, 1),
        utilisation=round(work_s / shift_s, 4) if shift_s else 0.0)


def geocoding_counts(geocoded: Mapping[str, tuple[str, float, str]],
                     unassigned: Sequence[Unassigned]) -> GeocodingCounts:
    """How the cases were located (see `GeocodingCounts`)."""
    status = [geocode_status(provider, score) for _, score, provider in geocoded.values()]
    return GeocodingCounts(
        from_input=status.count("given"), exact=status.count("found"),
        uncertain=status.count("uncertain"),
        not_found=sum(u.reason_code == "no_coordinates" for u in unassigned))


def summarize(routes: Sequence[PlannedRoute], unassigned: Sequence[Unassigned], *,
              plan_date: date, policy: str, weighting: str,
              geocoded: Mapping[str, tuple[str, float, str]] | None = None,
              timings_s: Mapping[str, float] | None = None, solver: Solution | None = None,
              wall_s: float | None = None) -> PlanSummary:
    """The totals of a plan's routes and unassigned cases, overall and per route.

    ``policy`` and ``weighting`` are the names reported; ``geocoded`` as `Plan.geocoded`;
    ``timings_s`` seconds per step and ``solver`` the kept solution (its search and objective),
    if known; ``wall_s`` the whole planning time.
    """
    per = tuple(_route_summary(r) for r in routes)
    value_visited = sum(r.value for r in routes)
    # every case is in a route or unassigned: this is the value of every input case
    value_total = value_visited + sum(u.value for u in unassigned)
    util = [p.utilisation for p in per]
    reasons: dict[str, int] = {}
    for u in unassigned:
        reasons[u.reason_code] = reasons.get(u.reason_code, 0) + 1
    visited = sum(len(r.stops) for r in routes)
    return PlanSummary(
        plan_date=plan_date, policy=policy, weighting=weighting,
        cases_total=visited + len(unassigned), cases_visited=visited,
        cases_unassigned=len(unassigned), value_total=round(value_total, 2),
        value_visited=round(value_visited, 2),
        value_share=round(value_visited / value_total, 4) if value_total else 0.0,
        travel_s_total=round(sum(r.travel_s for r in routes), 1),
        travel_m_total=round(sum(r.travel_m for r in routes), 1),
        routes=len(routes), collectors=sum(len(r.members) for r in routes),
        utilisation_mean=round(float(np.mean(util)), 4) if util else 0.0,
        utilisation_spread=round(max(util) - min(util), 4) if util else 0.0,
        unassigned_by_reason=dict(sorted(reasons.items())),
        geocoding=geocoding_counts(geocoded or {}, unassigned), per_collector=per,
        timings_s=None if timings_s is None else {k: round(v, 3) for k, v in timings_s.items()},
        solver=None if solver is None else SolverSummary(solver.solver,
                                                         round(solver.objective, 4)),
        wall_s=None if wall_s is None else round(wall_s, 2))


# --------------------------------------------------------------------------- the whole day


@dataclass(frozen=True)
class Planned:
    """A plan with what it was made from: the located day, the solver problem and how it was
    searched (the console edits a plan on them)."""

    plan: Plan
    built: Built
    search: Searched
    located: Located | None = None

    @property
    def solution(self) -> Solution:
        """The routes of the plan as the solver's solution (to start another plan from)."""
        return self.search.solution


def solve_located(cases: Sequence[Case], loc: Located, settings: PlanSettings, *,
                  initial: Initial | None = None, progress: Progress | None = None,
                  started: float | None = None, context: DayContext | None = None,
                  steering: Steering | None = None,
                  executor: Executor | None = None) -> Planned:
    """Build, search, verify and explain a day whose places are already located.

    ``started``: `time.perf_counter` when planning the day began, for the summary's
    ``wall_s`` (None: no wall time reported). ``context``: the earlier days of a multi-day
    plan and the solver's priorities (`DayContext`; None: a day alone). ``steering``: what
    the case store's history says (`Steering`: cases held back, window parts).
    """
    built = build_problem(cases, loc, plan_date=settings.plan_date, policy=settings.policy,
                          weighting=settings.weighting,
                          travel_cost_per_h=settings.travel_cost_per_h, context=context,
                          steering=steering)
    t0 = time.perf_counter()
    found = search(built.problem, settings.solver, initial=initial, progress=progress,
                   executor=executor)
    t_solve = time.perf_counter() - t0
    t0 = time.perf_counter()
    routes, unassigned = assemble(cases, loc, built, found.solution, progress=progress)
    timings = {**loc.timings_s, "solve": t_solve, "explain": time.perf_counter() - t0}
    summary = summarize(routes, unassigned, plan_date=settings.plan_date,
                        policy=settings.policy.name, weighting=settings.weighting.preset,
                        geocoded=loc.geocoded, timings_s=timings, solver=found.solution,
                        wall_s=None if started is None else time.perf_counter() - started)
    plan = Plan(plan_date=settings.plan_date, routes=routes, unassigned=unassigned,
                summary=summary, geocoded=dict(loc.geocoded))
    return Planned(plan, built, found, loc)


def solve_day(cases: Sequence[Case], collectors: Sequence[Collector], settings: PlanSettings, *,
              geocoder: gc.Geocoder | None = None, network: nw.RoadNetwork | None = None,
              collectors_file: str = "collectors.csv", initial: Initial | None = None,
              progress: Progress | None = None, context: DayContext | None = None,
              steering: Steering | None = None,
              executor: Executor | None = None) -> Planned:
    """Plan the day (as `plan_day`) and keep what it was made from (`Planned`).

    `initial`: a plan to start from and to guard against (`Initial`); `geocoder` and `network`:
    given ones instead of those `settings` name; `context`: a day of a multi-day plan
    (`DayContext`); `steering`: what the case store's history says (`Steering`); `executor`:
    runs the solver's parallel searches (None: local processes).
    """
    started = time.perf_counter()
    crews = rules.form_crews(collectors, settings.policy, plan_date=settings.plan_date,
                             collectors_file=collectors_file)
    for crew in crews:
        if settings.policy.lunch_s > 0 and not rules.crew_breaks(crew, settings.policy):
            log.info("%s: shift %s does not meet the lunch window %s: no lunch break planned",
                     crew.crew_id, crew.shift.label(), settings.policy.lunch_window.label())
    loc = locate(cases, crews, settings, geocoder=geocoder, network=network,
                 collectors_file=collectors_file, progress=progress)
    return solve_located(cases, loc, settings, initial=initial, progress=progress,
                         started=started, context=context, steering=steering,
                         executor=executor)


def plan_day(cases: Sequence[Case], collectors: Sequence[Collector], settings: PlanSettings, *,
             geocoder: gc.Geocoder | None = None, network: nw.RoadNetwork | None = None,
             collectors_file: str = "collectors.csv", initial: Initial | None = None,
             steering: Steering | None = None, progress: Progress | None = None,
             executor: Executor | None = None) -> Plan:
    """Plan the day: every case ends in exactly one route stop or in ``plan.unassigned``.

    Raises `InputError` for problems in the input that prevent planning (e.g. a collector's
    start place that cannot be found) and `CollectorRoutesError` if the solver returned a plan
    that fails the independent re-simulation (a bug, never expected).
    """
    return solve_day(cases, collectors, settings, geocoder=geocoder, network=network,
                     collectors_file=collectors_file, initial=initial, steering=steering,
                     progress=progress, executor=executor).plan
