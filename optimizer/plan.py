"""Plan a day: the pipeline from validated cases and collectors to a `Plan`.

input -> geocode -> weigh -> rules -> road network -> travel matrix -> solve -> explain -> Plan.

`plan_day` touches no output files (the export modules write them); it reads the OSM extract and
uses the caches for networks and geocoding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from optimizer.geo import geocode as gc
from optimizer.geo import matrix as mx
from optimizer.geo import network as nw
from optimizer.planning import explain, rules
from optimizer.planning.build import Built, Located, build_problem
from optimizer.errors import CollectorRoutesError, InputError, Issue
from optimizer.model import (
    Case,
    Collector,
    Place,
    Plan,
    PlannedRoute,
    PlannedStop,
    Solution,
    TimeWindow,
    geocode_status,
    hhmm,
)
from optimizer.progress import Progress, ensure
from optimizer.settings import PlanSettings
from optimizer.routing import solve as sv
from optimizer.routing import verify

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- building blocks


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


def locate(cases: Sequence[Case], crews: Sequence[rules.Crew], settings: PlanSettings, *,
           geocoder=None, network=None, collectors_file: str = "collectors.csv",
           progress: Progress | None = None) -> Located:
    """Geocode cases and crew places, snap them to the road network, compute travel matrices."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if geocoder is None:
        geocoder = gc.make_geocoder(settings.geocoding.geocoder, osm_path=settings.roads.osm_path,
                                    cache_dir=settings.cache_dir,
                                    user_agent=settings.geocoding.user_agent,
                                    progress=progress)
    found, failed = gc.geocode_cases(cases, geocoder, progress=progress)
    unlocated = {cid: ("no_coordinates", reason) for cid, reason in failed.items()}
    case_latlon = {cid: (r.lat, r.lon) for cid, r in found.items()}
    place_xy = _geocode_places(crews, geocoder, collectors_file)
    timings["geocode"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    if network is None:
        roads = settings.roads
        network = nw.load_network(roads.osm_path, place=roads.place, bbox=roads.bbox,
                                  mode=roads.mode, speed_factor=roads.speed_factor,
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
    snapped = nw.snap(network, lat, lon, max_snap_m=settings.roads.max_snap_m)
    n_places = len(pts) - len(case_ids)
    bad_places = [i for i in range(n_places) if snapped.too_far[i]]
    if bad_places:
        probs = []
        for crew in crews:
            for which, idx in (("start", crew_start), ("end", crew_end)):
                i = idx[crews.index(crew)]
                if i in bad_places:
                    m = crew.members[0]
                    probs.append(Issue(
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
                   f"{settings.roads.max_snap_m:.0f} m)")
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


def _window_of(start_s: float, windows: Sequence[TimeWindow]) -> TimeWindow:
    for w in windows:
        if w.start_s - 1e-6 <= start_s <= w.end_s + 1e-6:
            return w
    return windows[0]


def assemble(cases: Sequence[Case], loc: Located, built: Built, solution: Solution,
             settings: PlanSettings, *, progress: Progress | None = None) -> Plan:
    """Turn the solver's solution into a `Plan` with road paths and a reason for every case left."""
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
    built = build_problem(cases, loc, plan_date=settings.plan_date, policy=settings.policy,
                          weighting=settings.weighting,
                          travel_cost_per_h=settings.travel_cost_per_h)
    t0 = time.perf_counter()
    solution = sv.solve(built.problem, settings.solver, progress=progress, initial=initial)
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
    crews = rules.form_crews(collectors, settings.policy, plan_date=settings.plan_date)
    for crew in crews:
        if settings.policy.lunch_s > 0 and not rules.crew_breaks(crew, settings.policy):
            log.info("%s: shift %s does not meet the lunch window %s: no lunch break planned",
                     crew.crew_id, crew.shift.label(), settings.policy.lunch_window.label())
    loc = locate(cases, crews, settings, geocoder=geocoder, network=network,
                 collectors_file=collectors_file, progress=progress)
    plan, _, _ = solve_located(cases, loc, settings, initial=initial, progress=progress)
    plan.summary["wall_s"] = round(time.perf_counter() - t0, 2)
    return plan
