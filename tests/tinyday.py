"""Tiny hand-computable days for rule tests: places on a line, 1 minute per unit of distance.

A place at position ``x`` has ``lon = 104 + x / 1000`` (lat 30.6); travel between positions
``a`` and ``b`` takes ``|a - b|`` minutes and covers ``|a - b| * 500`` metres. Times are given as
``"HH:MM"``. No road network: the matrices are built here, so the expected plans can be worked
out by hand in each test's comment.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from optimizer.io.inputs import parse_time_window, parse_windows
from optimizer.model import Case, Collector, Place
from optimizer.plan import solve_located
from optimizer.planning import rules
from optimizer.planning.build import Located
from optimizer.routing.params import SolveSettings
from optimizer.settings import PlanSettings

MONDAY = date(2026, 11, 30)


def pos(lon: float) -> int:
    return round((lon - 104.0) * 1000)


def case(cid: str, x: int, *, value: float = 1000.0, windows: str = "", service_min: int = 30,
         dpd: int = 0, **kw) -> Case:
    """A case at position x worth `value` (amount = value, dpd 0, weighting 'amount')."""
    return Case(case_id=cid, amount_overdue=value, days_past_due=dpd, lat=30.6,
                lon=104.0 + x / 1000, availability=parse_windows(windows),
                service_s=service_min * 60, **kw)


def collector(cid: str, x: int = 0, *, shift: str = "08:00-17:00", max_visits: int | None = None,
              **kw) -> Collector:
    p = Place(lat=30.6, lon=104.0 + x / 1000)
    return Collector(collector_id=cid, start=p, end=p, shift=parse_time_window(shift),
                     max_visits=max_visits, **kw)


def settings(policy: rules.Policy | None = None, **kw) -> PlanSettings:
    from optimizer.planning.weigh import Weighting

    base = {"plan_date": MONDAY, "weighting": Weighting("amount"),
            "policy": policy or rules.PRESETS["none"],
            "solver": SolveSettings(time_limit_s=2.0, max_solutions=200),
            "travel_cost_per_h": 0.0}
    base.update(kw)
    return PlanSettings(**base)


def locate_tiny(cases, collectors, st: PlanSettings, *, blocked: tuple[int, ...] = ()) -> Located:
    """Located places with line-distance matrices; `blocked` positions cannot be reached."""
    crews = rules.form_crews(collectors, st.policy, plan_date=st.plan_date)
    pts: list[tuple[float, float]] = []
    index: dict[tuple[float, float], int] = {}

    def add(lat: float, lon: float) -> int:
        key = (lat, lon)
        if key not in index:
            index[key] = len(pts)
            pts.append(key)
        return index[key]

    starts = tuple(add(c.start.lat, c.start.lon) for c in crews)
    ends = tuple(add(c.end.lat, c.end.lon) for c in crews)
    case_index = {}
    for c in cases:
        pts.append((c.lat, c.lon))
        case_index[c.case_id] = len(pts) - 1
    x = np.array([pos(lon) for _, lon in pts], dtype=float)
    dur = np.abs(x[:, None] - x[None, :]) * 60.0
    dist = np.abs(x[:, None] - x[None, :]) * 500.0
    for i, xi in enumerate(x):
        if xi in blocked:
            dur[i, :] = dur[:, i] = np.inf
            dist[i, :] = dist[:, i] = np.inf
            dur[i, i] = dist[i, i] = 0.0
    return Located(
        case_latlon={c.case_id: (c.lat, c.lon) for c in cases}, unlocated={},
        crews=crews, crew_start=starts, crew_end=ends, case_index=case_index,
        duration_s=dur, distance_m=dist, node=np.arange(len(pts)), loc_latlon=tuple(pts),
        network=None)


def run(cases, collectors, policy: rules.Policy | None = None, *, blocked=(), **kw):
    """Plan a tiny day; returns (plan, built, solution)."""
    st = settings(policy, **kw)
    loc = locate_tiny(cases, collectors, st, blocked=blocked)
    day = solve_located(cases, loc, st)
    return day.plan, day.built, day.solution


def visited(plan) -> dict[str, str]:
    """case_id -> route id."""
    return {s.case.case_id: r.collector.collector_id for r in plan.routes for s in r.stops}


def reasons(plan) -> dict[str, str]:
    return {u.case.case_id: u.reason_code for u in plan.unassigned}
