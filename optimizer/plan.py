"""Plan a day: the pipeline from validated cases and collectors to a `Plan`.

input -> geocode -> weigh -> rules -> road network -> travel matrix -> solve -> explain -> Plan.

`plan_day` touches no output files (the export modules write them); it reads the OSM extract and
uses the caches for networks and geocoding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from optimizer import explain, rules
from optimizer.errors import CollectorRoutesError, InputError, Problem
from optimizer.model import (
    Case,
    Collector,
    Place,
    Plan,
    PlannedRoute,
    PlannedStop,
    Solution,
    TimeWindow,
    Vehicle,
    Visit,
    geocode_status,
    hhmm,
)
from optimizer.model import (
    Problem as RoutingProblem,
)
from optimizer.progress import Progress, ensure
from optimizer.weigh import Weighting, case_value

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanSettings:
    """Everything a plan depends on besides the cases and collectors.

    Parameters
    ----------
    plan_date
        The day planned; weekday windows and rules are resolved for it.
    weighting
        How case values are computed (`optimizer.weigh`).
    policy
        Collection rules (`optimizer.rules`).
    time_limit_s, seed
        Solver budget and random seed; the same inputs and seed give the same plan.
    travel_cost_per_h
        Cost of one hour of travel in value units (currency): the plan visits a case only if it
        is worth its detour. Default 30.
    geocoder
        ``"offline"`` (gazetteer of the bundled extract) or a geopy provider name.
    user_agent
        For online geocoders (Nominatim requires one).
    osm_path, place, bbox
        Road network: a local OSM file (default: bundled Chengdu), or online by place/bbox.
    mode, speed_factor
        Travel mode (drive, bike, walk) and a factor on all speeds (0.8 = 20 % slower).
    cache_dir
        Cache for networks and geocoding results.
    max_snap_m
        A case farther than this from the road network is reported unassigned (off network).
    """

    plan_date: date
    weighting: Weighting = Weighting()
    policy: rules.Policy = rules.PRESETS["none"]
    time_limit_s: float = 30.0
    seed: int = 0
    travel_cost_per_h: float = 30.0
    geocoder: str = "offline"
    user_agent: str | None = None
    osm_path: Path | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    mode: str = "drive"
    speed_factor: float = 1.0
    cache_dir: Path | None = None
    max_snap_m: float = 1000.0
    solver_options: dict = field(default_factory=dict, compare=False)


def next_working_day(today: date | None = None) -> date:
    """The next Monday-to-Friday day after `today`."""
    d = (today or date.today()) + timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


# --------------------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class Located:
    """Where each case and crew place is, and the travel matrices between them."""

    case_latlon: dict[str, tuple[float, float]]
    unlocated: dict[str, tuple[str, str]]  # case_id -> (reason_code, reason)
    crews: tuple[rules.Crew, ...]
    # matrix index of each crew's start and end, and of each located case
    crew_start: tuple[int, ...]
    crew_end: tuple[int, ...]
    case_index: dict[str, int]
    duration_s: np.ndarray
    distance_m: np.ndarray
    node: np.ndarray  # network node of each matrix location
    loc_latlon: tuple[tuple[float, float], ...]
    network: object
    timings_s: dict = field(default_factory=dict, compare=False)  # seconds per step
    # case_id -> (what the address matched, match score 0..1, provider) of each located case
    geocoded: dict = field(default_factory=dict, compare=False)


def _geocode_places(crews: Sequence[rules.Crew], geocoder, collectors_file: str
                    ) -> dict[int, tuple[float, float]]:
    """Coordinates of every crew start/end place; InputError if one cannot be found."""
    out: dict[int, tuple[float, float]] = {}
    problems = []
    for crew in crews:
        for which in ("start", "end"):
            place: Place = getattr(crew, which)
            if id(place) in out:
                continue
            if place.has_coords:
                out[id(place)] = (place.lat, place.lon)  # type: ignore[assignment]
                continue
            res = geocoder.geocode(place.address)
            if res is None:
                m = crew.members[0]
                problems.append(Problem(
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


def locate(cases: Sequence[Case], crews: Sequence[rules.Crew], settings: PlanSettings, *,
           geocoder=None, network=None, collectors_file: str = "collectors.csv",
           progress: Progress | None = None) -> Located:
    """Geocode cases and crew places, snap them to the road network, compute travel matrices."""
    from optimizer import geocode as gc
    from optimizer import matrix as mx
    from optimizer import network as nw

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if geocoder is None:
        geocoder = gc.make_geocoder(settings.geocoder, osm_path=settings.osm_path,
                                    cache_dir=settings.cache_dir, user_agent=settings.user_agent,
                                    progress=progress)
    found, failed = gc.geocode_cases(cases, geocoder, progress=progress)
    unlocated = {cid: ("no_coordinates", reason) for cid, reason in failed.items()}
    case_latlon = {cid: (r.lat, r.lon) for cid, r in found.items()}
    place_xy = _geocode_places(crews, geocoder, collectors_file)
    timings["geocode"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    if network is None:
        network = nw.load_network(settings.osm_path, place=settings.place, bbox=settings.bbox,
                                  mode=settings.mode, speed_factor=settings.speed_factor,
                                  cache_dir=settings.cache_dir, progress=progress)
    # matrix locations: crew starts, crew ends, then cases
    pts: list[tuple[float, float]] = []
    key_index: dict[object, int] = {}

    def add(key: object, latlon: tuple[float, float]) -> int:
        if key not in key_index:
            key_index[key] = len(pts)
            pts.append(latlon)
        return key_index[key]

    crew_start = tuple(add(("p", round(place_xy[id(c.start)][0], 6),
                            round(place_xy[id(c.start)][1], 6)), place_xy[id(c.start)])
                       for c in crews)
    crew_end = tuple(add(("p", round(place_xy[id(c.end)][0], 6),
                          round(place_xy[id(c.end)][1], 6)), place_xy[id(c.end)])
                     for c in crews)
    case_ids = [c.case_id for c in cases if c.case_id in case_latlon]
    for cid in case_ids:
        add(("c", cid), case_latlon[cid])
    lat = np.array([p[0] for p in pts])
    lon = np.array([p[1] for p in pts])
    snapped = nw.snap(network, lat, lon, max_snap_m=settings.max_snap_m)
    n_places = len(pts) - len(case_ids)
    bad_places = [i for i in range(n_places) if snapped.too_far[i]]
    if bad_places:
        probs = []
        for crew in crews:
            for which, idx in (("start", crew_start), ("end", crew_end)):
                i = idx[crews.index(crew)]
                if i in bad_places:
                    m = crew.members[0]
                    probs.append(Problem(
                        collectors_file, m.row, f"collector_id={m.collector_id}", f"{which}_place",
                        f"{pts[i][0]:.6f},{pts[i][1]:.6f}",
                        f"{snapped.distance_m[i]:.0f} m from the nearest road of the network "
                        "(or outside its area)",
                        "give a start/end place inside the road network's area"))
        raise InputError(probs)
    case_index: dict[str, int] = {}
    for cid in case_ids:
        i = key_index[("c", cid)]
        # near the edge of an extract a point may lie outside its bounds yet next to its roads:
        # only the distance to the network decides
        if snapped.too_far[i]:
            why = (f"{snapped.distance_m[i]:.0f} m from the nearest road of the network (limit "
                   f"{settings.max_snap_m:.0f} m)")
            unlocated[cid] = ("off_network",
                              (f"its location ({pts[i][0]:.5f}, {pts[i][1]:.5f}) is {why}; check "
                              "the address or coordinates"))
        else:
            case_index[cid] = i
    timings["network"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tm = mx.travel_matrices(network, snapped, progress=progress)
    timings["matrix"] = time.perf_counter() - t0
    return Located(case_latlon, unlocated, tuple(crews), crew_start, crew_end, case_index,
                   np.asarray(tm.duration_s, dtype=float), np.asarray(tm.distance_m, dtype=float),
                   np.asarray(snapped.node), tuple(pts), network, timings,
                   {cid: (r.matched, r.score, r.provider) for cid, r in found.items()})


@dataclass(frozen=True)
class Built:
    """The solver problem for a day, and what was decided before solving."""

    problem: RoutingProblem
    visit_case: dict[str, Case]
    values: dict[str, float]
    windows: dict[str, tuple[TimeWindow, ...]]  # legal windows of each case today
    eligible: dict[str, tuple[int, ...]]  # vehicle indices allowed for each case
    excluded: dict[str, tuple[str, str]]  # case_id -> (reason_code, reason) before solving


def build_problem(cases: Sequence[Case], loc: Located, settings: PlanSettings) -> Built:
    """Apply the collection rules and turn the located cases into the solver's problem."""
    pol = settings.policy
    day = settings.plan_date
    crews = loc.crews
    vehicles = tuple(
        Vehicle(
            vehicle_id=crew.crew_id, start=loc.crew_start[k], end=loc.crew_end[k],
            shift=crew.shift, max_visits=crew.max_visits, max_duration_s=crew.work_limit_s(pol),
            overtime_s=pol.overtime_s, overtime_cost_per_s=pol.overtime_cost_per_h / 3600.0,
            breaks=rules.crew_breaks(crew, pol),
        )
        for k, crew in enumerate(crews)
    )
    excluded: dict[str, tuple[str, str]] = dict(loc.unlocated)
    values: dict[str, float] = {}
    visits: list[Visit] = []
    visit_case: dict[str, Case] = {}
    windows: dict[str, tuple[TimeWindow, ...]] = {}
    eligible_map: dict[str, tuple[int, ...]] = {}
    for case in cases:
        values[case.case_id] = case_value(case, settings.weighting)
        if case.case_id in excluded:
            continue
        cd = rules.cooldown_reason(case, day, pol)
        if cd:
            excluded[case.case_id] = cd
            continue
        today = case.windows_on(day)
        if not today:
            excluded[case.case_id] = ("no_window_today",
                                      (f"the customer cannot be found on {day:%A} (windows: "
                                      f"{explain.describe_availability(case)})"))
            continue
        legal = rules.legal_windows(case, today, pol)
        if not legal:
            excluded[case.case_id] = (
                "outside_legal_hours",
                (f"its windows today ({', '.join(w.label() for w in today)}) fall outside the "
                f"legal contact hours of policy '{pol.name}' "
                f"({explain.hours_label(pol)}) and the customer has not consented"))
            continue
        reasons = {k: rules.ineligible_reason(case, crew) for k, crew in enumerate(crews)}
        eligible = tuple(k for k, r in reasons.items() if r is None)
        if not eligible:
            excluded[case.case_id] = explain.no_eligible(case, crews, reasons)
            continue
        in_shift = tuple(k for k in eligible if any(
            w.start_s <= crews[k].shift.end_s and w.end_s >= crews[k].shift.start_s
            for w in legal))
        if not in_shift:
            excluded[case.case_id] = (
                "outside_shifts",
                (f"its windows today ({', '.join(w.label() for w in legal)}) fall outside every "
                f"eligible shift "
                f"({', '.join(sorted({crews[k].shift.label() for k in eligible}))})"))
            continue
        i = loc.case_index[case.case_id]
        reach = tuple(k for k in in_shift
                      if np.isfinite(loc.duration_s[loc.crew_start[k], i])
                      and np.isfinite(loc.duration_s[i, loc.crew_end[k]]))
        if not reach:
            excluded[case.case_id] = ("unreachable",
                                      ("no road path connects it with an eligible collector's "
                                      "start and end place (one-way or disconnected roads)"))
            continue
        preferred = tuple(k for k in reach if rules.is_preferred(case, crews[k]))
        visit = Visit(
            visit_id=case.case_id, location=i, value=values[case.case_id],
            service_s=case.service_s, windows=legal,
            allowed_vehicles=None if len(reach) == len(crews) else reach,
            preferred_vehicles=preferred if case.preferred_collector else (),
            off_preference_cost=pol.preferred_cost if preferred else 0.0,
        )
        visits.append(visit)
        visit_case[case.case_id] = case
        windows[case.case_id] = legal
        eligible_map[case.case_id] = reach
    problem = RoutingProblem(
        visits=tuple(visits), vehicles=vehicles, duration_s=loc.duration_s,
        distance_m=loc.distance_m, cost_per_s=settings.travel_cost_per_h / 3600.0,
        balance_cost_per_s=(pol.balance_cost_per_h / 3600.0 if pol.balance == "hours" else 0.0),
    )
    return Built(problem, visit_case, values, windows, eligible_map, excluded)


def _window_of(start_s: float, windows: Sequence[TimeWindow]) -> TimeWindow:
    for w in windows:
        if w.start_s - 1e-6 <= start_s <= w.end_s + 1e-6:
            return w
    return windows[0]


def assemble(cases: Sequence[Case], loc: Located, built: Built, solution: Solution,
             settings: PlanSettings, *, progress: Progress | None = None) -> Plan:
    """Turn the solver's solution into a `Plan` with road paths and a reason for every case left."""
    from optimizer import matrix as mx

    crews = {c.crew_id: c for c in loc.crews}
    vehicle_index = {v.vehicle_id: k for k, v in enumerate(built.problem.vehicles)}
    routes: list[PlannedRoute] = []
    with ensure(progress).step("Tracing routes on the roads", total=len(solution.routes)) as adv:
        for r in solution.routes:
            crew = crews[r.vehicle_id]
            k = vehicle_index[r.vehicle_id]
            stops = []
            for n, s in enumerate(r.stops, start=1):
                case = built.visit_case[s.visit_id]
                lat, lon = loc.case_latlon[s.visit_id]
                stops.append(PlannedStop(
                    collector_id=crew.crew_id, stop=n, case=case, lat=lat, lon=lon,
                    arrive_s=s.arrive_s, start_s=s.start_s, depart_s=s.depart_s,
                    travel_s=s.travel_s, travel_m=s.travel_m, value=built.values[s.visit_id],
                    window=_window_of(s.start_s, built.windows[s.visit_id])))
            seq = [loc.crew_start[k]] + [loc.case_index[s.visit_id] for s in r.stops] + [
                loc.crew_end[k]]
            if loc.network is not None:
                path = tuple(mx.route_path(loc.network, [int(loc.node[i]) for i in seq]))
            else:  # synthetic matrices (tests): straight lines between the places
                path = tuple(loc.loc_latlon[i] for i in seq)
            slat, slon = loc.loc_latlon[loc.crew_start[k]]
            elat, elon = loc.loc_latlon[loc.crew_end[k]]
            routes.append(PlannedRoute(
                collector=_crew_as_collector(crew), stops=tuple(stops),
                start_lat=slat, start_lon=slon, end_lat=elat, end_lon=elon,
                leave_s=r.leave_s, return_s=r.return_s, travel_s=r.travel_s,
                travel_m=r.travel_m, value=sum(st.value for st in stops), path=path,
                breaks=r.breaks, members=crew.member_ids))
            adv()
    unassigned = explain.explain_unassigned(cases, loc, built, solution, settings,
                                            progress=progress)
    plan = Plan(plan_date=settings.plan_date, routes=tuple(routes), unassigned=unassigned,
                geocoded=dict(loc.geocoded))
    return replace(plan, summary=summarize(plan, built, settings))


def _crew_as_collector(crew: rules.Crew) -> Collector:
    if len(crew.members) == 1:
        return crew.members[0]
    return Collector(
        collector_id=crew.crew_id, start=crew.start, end=crew.end, shift=crew.shift,
        max_visits=crew.max_visits,
        name=" & ".join(m.name or m.collector_id for m in crew.members),
        team=crew.members[0].team or crew.crew_id, skills=crew.skills, districts=crew.districts)


def geocoding_counts(plan: Plan) -> dict[str, int]:
    """How the cases were located: given lat/lon, exact match, uncertain match (score below 1:
    fuzzy, or one of several same-name places), not found."""
    status = [geocode_status(prov, score) for _, score, prov in plan.geocoded.values()]
    return {
        "from_input": status.count("given"),
        "exact": status.count("found"),
        "uncertain": status.count("uncertain"),
        "not_found": sum(u.reason_code == "no_coordinates" for u in plan.unassigned),
    }


def summarize(plan: Plan, built: Built, settings: PlanSettings) -> dict:
    """Totals of a plan, overall and per route (the content of ``summary.json``)."""
    per = []
    for r in plan.routes:
        work_s = max(r.return_s - r.leave_s, 0.0) if r.stops else 0.0
        shift_s = r.collector.shift.end_s - r.collector.shift.start_s
        per.append({
            "collector_id": r.collector.collector_id,
            "members": list(r.members),
            "cases_visited": len(r.stops),
            "value_visited": round(r.value, 2),
            "travel_s": round(r.travel_s, 1),
            "travel_m": round(r.travel_m, 1),
            "leave": hhmm(r.leave_s) if r.stops else "",
            "return": hhmm(r.return_s) if r.stops else "",
            "work_s": round(work_s, 1),
            "utilisation": round(work_s / shift_s, 4) if shift_s else 0.0,
        })
    value_total = sum(built.values.values())
    value_visited = sum(r.value for r in plan.routes)
    util = [p["utilisation"] for p in per]
    reasons: dict[str, int] = {}
    for u in plan.unassigned:
        reasons[u.reason_code] = reasons.get(u.reason_code, 0) + 1
    visited = sum(len(r.stops) for r in plan.routes)
    return {
        "plan_date": settings.plan_date.isoformat(),
        "policy": settings.policy.name,
        "weighting": settings.weighting.preset,
        "cases_total": visited + len(plan.unassigned),
        "cases_visited": visited,
        "cases_unassigned": len(plan.unassigned),
        "value_total": round(value_total, 2),
        "value_visited": round(value_visited, 2),
        "value_share": round(value_visited / value_total, 4) if value_total else 0.0,
        "travel_s_total": round(sum(r.travel_s for r in plan.routes), 1),
        "travel_m_total": round(sum(r.travel_m for r in plan.routes), 1),
        "routes": len(plan.routes),
        "collectors": sum(len(r.members) for r in plan.routes),
        "utilisation_mean": round(float(np.mean(util)), 4) if util else 0.0,
        "utilisation_spread": round(max(util) - min(util), 4) if util else 0.0,
        "unassigned_by_reason": dict(sorted(reasons.items())),
        "geocoding": geocoding_counts(plan),
        "per_collector": per,
    }


# --------------------------------------------------------------------------- the whole day


def solve_located(cases: Sequence[Case], loc: Located, settings: PlanSettings, *,
                  initial: Solution | None = None, progress: Progress | None = None
                  ) -> tuple[Plan, Built, Solution]:
    """Build, solve, verify and explain a day whose places are already located.

    Returns the plan, the solver problem it was built from and the raw solution (for warm starts
    of what-if variants and for tests).
    """
    from optimizer import solve as sv
    from optimizer import verify

    built = build_problem(cases, loc, settings)
    solve_settings = sv.SolveSettings(time_limit_s=settings.time_limit_s, seed=settings.seed,
                                      **settings.solver_options)
    t0 = time.perf_counter()
    solution = sv.solve(built.problem, solve_settings, progress=progress, initial=initial)
    t_solve = time.perf_counter() - t0
    problems = verify.check_solution(built.problem, solution)
    if problems:
        raise CollectorRoutesError("the solver's plan failed re-simulation: " + "; ".join(
            problems[:5]))
    t0 = time.perf_counter()
    plan = assemble(cases, loc, built, solution, settings, progress=progress)
    timings = {**loc.timings_s, "solve": t_solve, "explain": time.perf_counter() - t0}
    plan.summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    # which search of the portfolio won (e.g. "ortools+vroom"), and its objective
    plan.summary["solver"] = {"search": solution.solver, "objective": round(solution.objective, 4)}
    return plan, built, solution


def plan_day(cases: Sequence[Case], collectors: Sequence[Collector], settings: PlanSettings, *,
             geocoder=None, network=None, collectors_file: str = "collectors.csv",
             initial: Solution | None = None, progress: Progress | None = None) -> Plan:
    """Plan the day: every case ends in exactly one route stop or in ``plan.unassigned``.

    Raises `InputError` for problems in the input that prevent planning (e.g. a collector's
    start place that cannot be found) and `CollectorRoutesError` if the solver returned a plan
    that fails the independent re-simulation (a bug, never expected).
    """
    t0 = time.perf_counter()
    crews = rules.form_crews(collectors, settings.policy, plan_date=settings.plan_date,
                             collectors_file=collectors_file)
    for crew in crews:
        if settings.policy.lunch_s > 0 and not rules.crew_breaks(crew, settings.policy):
            log.info("%s: shift %s does not meet the lunch window %s: no lunch break planned",
                     crew.crew_id, crew.shift.label(), settings.policy.lunch_window.label())
    loc = locate(cases, crews, settings, geocoder=geocoder, network=network,
                 collectors_file=collectors_file, progress=progress)
    plan, _, _ = solve_located(cases, loc, settings, initial=initial, progress=progress)
    plan.summary["wall_s"] = round(time.perf_counter() - t0, 2)
    return plan
