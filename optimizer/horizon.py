"""Plan several days: a horizon of day plans made in sequence, each through THE day's pipeline.

    for each day of the horizon, in order:
        the cases as that day sees them (days past due grown, last planned visit as the last
        visit date) -> DayContext (days each case is already planned on; the solver's priority
        of a case that loses value by waiting) -> `optimizer.plan` (locate, build, search,
        verify, explain) -> the day's Plan

Why in sequence, not one model of the whole horizon: every day then keeps every rule of a day
alone (teams, breaks, shifts, working time, skills, territories, the re-simulation check) by
construction, since it *is* a day alone; a day-dependent value (a visit on day 1 is worth more
than on day 4) is exact for the day it is planned on, where one joint model has one value per
visit; the solver's budget stays the day's; and a rolling horizon (re-plan the remaining days
each morning from what happened) is the same function started one day later. What a joint model
sees that a day alone does not, when to wait for a case, is given to each day as a priority
(`urgency`): a case worth less on its next possible day of the horizon (or with no next day in
it: its last chance) gets its loss by waiting added to the value the solver sees
(``urgency_weight``), while the values reported stay the cases' own.
`scripts/bench_horizon.py` measures it against the same days planned without it and against a
naive repeat of the one-day plan.

Rules across days: a case is visited once in the horizon (`rules.horizon_reason`, or again after
``revisit_gap_days``, the cooldown on top through ``last_visit_date``); every day lists every
case, visited or unassigned with its reason (``planned_earlier``: "planned on 2026-12-03").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from optimizer.geo import geocode as gc
from optimizer.geo import network as nw
from optimizer.model import Case, Collector, Plan
from optimizer.plan import Planned, solve_day
from optimizer.planning import rules
from optimizer.planning.build import DayContext, Steering
from optimizer.planning.weigh import case_value
from optimizer.progress import Progress, labelled
from optimizer.settings import PlanSettings


@dataclass(frozen=True)
class HorizonDay:
    """One day of the horizon: its plan and the cases as that day saw them (days past due grown
    by the day's offset, ``last_visit_date`` moved to its last planned visit), which is what
    its plan must be checked against."""

    planned: Planned
    cases: tuple[Case, ...]

    @property
    def plan(self) -> Plan:
        return self.planned.plan


@dataclass(frozen=True)
class DayTotals:
    """One day's line of the horizon's summary."""

    plan_date: date
    cases_visited: int
    value_visited: float
    travel_s: float
    travel_m: float
    routes_used: int  # routes with a visit
    collectors_working: int
    visits_by_collector: Mapping[str, int]  # collector id (each member of a team) -> visits


@dataclass(frozen=True)
class HorizonSummary:
    """The totals of a horizon: the content of its ``summary.json``.

    ``value_total`` is the value of every case on the first day; ``value_visited`` the sum of
    each visit's value on its own day; ``cases_visited`` counts cases (a case visited twice,
    with a revisit gap, once), ``visits`` the visits.
    """

    first_date: date
    last_date: date
    days: int
    policy: str
    cases_total: int
    cases_visited: int
    visits: int
    value_total: float
    value_visited: float
    value_share: float
    travel_s_total: float
    travel_m_total: float
    never_visited_by_reason: Mapping[str, int]  # the last day's reason of the cases not visited
    per_day: tuple[DayTotals, ...]
    urgency_weight: float
    revisit_gap_days: int | None
    wall_s: float | None = None


@dataclass(frozen=True)
class HorizonPlan:
    days: tuple[HorizonDay, ...]
    summary: HorizonSummary


#: plans one day of the horizon: (the day's cases, its settings, its context, what the store's
#: history says that day or None, progress) -> plan
PlanOneDay = Callable[[Sequence[Case], PlanSettings, DayContext, Steering | None,
                       Progress | None], Planned]


@dataclass(frozen=True)
class StoreView:
    """What the case store's history says for one day of the horizon (made by `optimizer.loop`;
    plain data): the cases as the store has them that day (amounts less payments, the last
    real visit, promises) and the `Steering` (cases held back that day with the store's reason,
    windows steered away from the parts nobody was home in)."""

    cases: tuple[Case, ...]
    steering: Steering


#: the store's view of a day: date -> `StoreView` (a rolling horizon with a store)
SeeDay = Callable[[date], StoreView]


def day_label(i: int, n: int, day: date) -> str:
    """How progress displays name day ``i`` (0-based) of `n`: ``Day 2/5 2026-12-02 (Wed)``."""
    return f"Day {i + 1}/{n} {day.isoformat()} ({day:%a})"


def horizon_dates(first: date, days: int) -> tuple[date, ...]:
    return tuple(first + timedelta(days=i) for i in range(days))


def day_cases(cases: Sequence[Case], day: date, first: date,
              planned_on: Mapping[str, Sequence[date]]) -> tuple[Case, ...]:
    """The cases as `day` of a horizon starting on `first` sees them: days past due grown by
    the days since `first`; a case planned on an earlier day has that day (the latest) as its
    ``last_visit_date``, so the cooldown counts from it."""
    offset = (day - first).days
    out = []
    for c in cases:
        seen = [d for d in planned_on.get(c.case_id, ()) if d < day]
        if c.last_visit_date is not None:
            seen.append(c.last_visit_date)
        last = max(seen) if seen else None
        out.append(replace(c, days_past_due=c.days_past_due + offset, last_visit_date=last))
    return tuple(out)


def _possible(case: Case, day: date, policy: rules.Policy, collectors: Sequence[Collector],
              held: Mapping[date, frozenset[str]] | None = None) -> bool:
    """Whether `day` could visit `case` at all by the rules that need no routing: someone
    works, the case has a window that day inside the legal hours, no cooldown or open promise,
    and the store's history does not hold it back that day (`held`: date -> case ids)."""
    if not any(day.weekday() in c.workdays for c in collectors):
        return False
    if held is not None and case.case_id in held.get(day, frozenset()):
        return False
    if rules.cooldown_reason(case, day, policy) is not None:
        return False
    return bool(rules.legal_windows(case, case.windows_on(day), policy))


def urgency(cases: Sequence[Case], day: date, later: Sequence[date], settings: PlanSettings,
            collectors: Sequence[Collector], weight: float,
            held: Mapping[date, frozenset[str]] | None = None) -> dict[str, float]:
    """case_id -> the factor on the value the solver sees on `day` (only factors above 1).

    A case's loss by waiting is its value today minus its value on the first of the `later`
    days of the horizon that could visit it (`_possible`: someone works, a legal window that
    day, no cooldown or open promise; with days past due grown), or all of its value when none
    can (today is its last chance in the horizon). The factor is ``1 + weight * loss / value``.
    """
    out: dict[str, float] = {}
    for c in cases:
        today = case_value(c, settings.weighting)
        if today <= 0 or weight <= 0:
            continue
        nxt = next((d for d in later if _possible(c, d, settings.policy, collectors, held)),
                   None)
        if nxt is None:
            loss = today
        else:
            grown = replace(c, days_past_due=c.days_past_due + (nxt - day).days)
            loss = max(today - case_value(grown, settings.weighting), 0.0)
        if loss > 0:
            out[c.case_id] = 1.0 + weight * loss / today
    return out


def _visits_by_member(plan: Plan) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in plan.routes:
        for m in r.members or (r.collector.collector_id,):
            out[m] = out.get(m, 0) + len(r.stops)
    return out


def summarize_horizon(days: Sequence[HorizonDay], *, settings: PlanSettings,
                      wall_s: float | None = None) -> HorizonSummary:
    """The horizon's totals (`HorizonSummary`) from its days, planned with `settings`."""
    horizon = settings.horizon
    per_day = []
    visited: set[str] = set()
    visits = 0
    for d in days:
        p = d.plan
        per_day.append(DayTotals(
            plan_date=p.plan_date, cases_visited=sum(len(r.stops) for r in p.routes),
            value_visited=round(sum(r.value for r in p.routes), 2),
            travel_s=round(sum(r.travel_s for r in p.routes), 1),
            travel_m=round(sum(r.travel_m for r in p.routes), 1),
            routes_used=sum(1 for r in p.routes if r.stops),
            collectors_working=sum(len(r.members) or 1 for r in p.routes),
            visits_by_collector=dict(sorted(_visits_by_member(p).items()))))
        ids = [s.case.case_id for r in p.routes for s in r.stops]
        visits += len(ids)
        visited.update(ids)
    first = days[0]
    value_total = sum(case_value(c, settings.weighting) for c in first.cases)
    value_visited = sum(t.value_visited for t in per_day)
    never: dict[str, int] = {}
    for u in days[-1].plan.unassigned:
        if u.case.case_id not in visited:
            never[u.reason_code] = never.get(u.reason_code, 0) + 1
    return HorizonSummary(
        first_date=first.plan.plan_date, last_date=days[-1].plan.plan_date, days=len(days),
        policy=settings.policy.name, cases_total=len(first.cases), cases_visited=len(visited),
        visits=visits, value_total=round(value_total, 2), value_visited=round(value_visited, 2),
        value_share=round(value_visited / value_total, 4) if value_total else 0.0,
        travel_s_total=round(sum(t.travel_s for t in per_day), 1),
        travel_m_total=round(sum(t.travel_m for t in per_day), 1),
        never_visited_by_reason=dict(sorted(never.items())), per_day=tuple(per_day),
        urgency_weight=horizon.urgency_weight, revisit_gap_days=horizon.revisit_gap_days,
        wall_s=None if wall_s is None else round(wall_s, 2))


def plan_days(cases: Sequence[Case], collectors: Sequence[Collector], settings: PlanSettings,
              plan_one: PlanOneDay, *, see: SeeDay | None = None,
              progress: Progress | None = None) -> HorizonPlan:
    """Plan the days of ``settings.horizon`` in order with `plan_one` (see the module's
    docstring).

    `plan_one` plans one day of given cases, settings and context (`plan_horizon` passes the
    day's pipeline on the road network; tests pass hand-made matrices). `see`: with a case
    store, what its history says for each day (a rolling horizon: each day takes the store's
    cases and steering of that day, so promises, pauses and the cooldown from real visits hold
    on every day, not only the first); None: `cases` as given on every day.
    """
    started = time.perf_counter()
    horizon = settings.horizon
    dates = horizon_dates(settings.plan_date, horizon.days)
    views = {d: see(d) for d in dates} if see is not None else {}
    held = {d: frozenset(v.steering.held) for d, v in views.items()} if views else None
    planned_on: dict[str, list[date]] = {}
    out: list[HorizonDay] = []
    for i, day in enumerate(dates):
        view = views.get(day)
        cases_d = day_cases(view.cases if view is not None else cases, day, dates[0],
                            planned_on)
        settings_d = replace(settings, plan_date=day)
        context = DayContext(
            planned_on={cid: tuple(ds) for cid, ds in planned_on.items()},
            revisit_gap_days=horizon.revisit_gap_days,
            priority=urgency(cases_d, day, dates[i + 1:], settings_d, collectors,
                             horizon.urgency_weight, held))
        planned = plan_one(cases_d, settings_d, context,
                           view.steering if view is not None else None,
                           labelled(progress, day_label(i, len(dates), day)))
        for r in planned.plan.routes:
            for s in r.stops:
                planned_on.setdefault(s.case.case_id, []).append(day)
        out.append(HorizonDay(planned, cases_d))
    days = tuple(out)
    return HorizonPlan(days, summarize_horizon(days, settings=settings,
                                               wall_s=time.perf_counter() - started))


def plan_horizon(cases: Sequence[Case], collectors: Sequence[Collector], settings: PlanSettings,
                 *, geocoder: gc.Geocoder | None = None,
                 network: nw.RoadNetwork | None = None, collectors_file: str = "collectors.csv",
                 see: SeeDay | None = None, progress: Progress | None = None) -> HorizonPlan:
    """Plan ``settings.horizon.days`` days from ``settings.plan_date`` on the road network, each day
    through the day's pipeline (`optimizer.plan.solve_day`) with one geocoder and network;
    `see`: the case store's view of each day (`plan_days`)."""
    roads = settings.roads
    if geocoder is None:
        geocoder = gc.make_geocoder(settings.geocoding.geocoder, osm_path=roads.osm_path,
                                    cache_dir=settings.cache_dir,
                                    user_agent=settings.geocoding.user_agent, progress=progress)
    if network is None:
        network = nw.load_network(roads.osm_path, place=roads.place, bbox=roads.bbox,
                                  mode=roads.mode, speed_factor=roads.speed_factor,
                                  cache_dir=settings.cache_dir, progress=progress)

    def one(cases_d: Sequence[Case], settings_d: PlanSettings, context: DayContext,
            steering: Steering | None, day_progress: Progress | None) -> Planned:
        return solve_day(cases_d, collectors, settings_d, geocoder=geocoder, network=network,
                         collectors_file=collectors_file, progress=day_progress,
                         context=context, steering=steering)

    return plan_days(cases, collectors, settings, one, see=see, progress=progress)
