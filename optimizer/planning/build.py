"""From located cases and crews to the solver's `Problem`: the checks made before solving.

`Located` is where every case and crew place is, with the travel matrices between them
(`optimizer.plan.locate` makes it from the road network; tests build small ones by hand).
`build_problem` values every case, and either turns it into an optional `Visit` with the
vehicles that may make it, or records why it cannot be visited today: each reason comes from one
named check below, in this order (the first that applies is the one reported):

0. held back by the case store's history (`Steering.held`: paid, promise open, address to
   verify...; the reason is the store's, `optimizer.loop` gives it);
1. not located (no coordinates, off the road network: from `Located`);
2. planned on an earlier day of a multi-day plan (`rules.horizon_reason`, with `DayContext`);
   cooldown or an open promise to pay (`rules.cooldown_reason`);
3. no availability window on the plan's weekday (`no_window_today`);
4. no window inside the legal contact hours (`outside_legal_hours`, `rules.legal_windows`);
5. no eligible crew: skill, fixed collector, territory (`rules.ineligible_reason`);
6. no window inside an eligible crew's shift (`outside_shifts`);
7. no road from an eligible crew's start and back to its end (`unreachable`).

A case admitted with window parts from the store (`Steering.windows`: after visits nobody was
home, the parts of the week tried are worth less) is then steered (`steer`): it keeps the
windows of its best-valued part that an eligible crew's shift meets, and its value is
multiplied by that part's factor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np

from optimizer.geo.network import RoadNetwork, SnapResult
from optimizer.model import Case, Problem, TimeBands, TimeWindow, Vehicle, Visit, hhmm
from optimizer.planning import rules
from optimizer.planning.rules import Crew, Policy
from optimizer.planning.weigh import Weighting, case_value

#: why a case is not visited: (reason code, a sentence for the dispatcher)
Reason = tuple[str, str]


@dataclass(frozen=True)
class Located:
    """Where each case and crew place is, and the travel matrices between them (``traffic``:
    by time of day, the matrices of each band; None: the same at any time)."""

    case_latlon: dict[str, tuple[float, float]]
    unlocated: dict[str, Reason]  # case_id -> why it has no place on the network
    crews: tuple[Crew, ...]
    # matrix index of each crew's start and end, and of each located case
    crew_start: tuple[int, ...]
    crew_end: tuple[int, ...]
    case_index: dict[str, int]
    duration_s: np.ndarray
    distance_m: np.ndarray
    node: np.ndarray  # network node of each matrix location
    loc_latlon: tuple[tuple[float, float], ...]
    network: RoadNetwork | None  # None: matrices made by hand (tests), straight lines drawn
    # each matrix location's place on the roads, where route lines start and end (with network)
    places: SnapResult | None = field(default=None, compare=False)
    timings_s: Mapping[str, float] = field(default_factory=dict, compare=False)  # per step
    # case_id -> (what the address matched, match score 0..1, provider) of each located case
    geocoded: Mapping[str, tuple[str, float, str]] = field(default_factory=dict, compare=False)
    traffic: TimeBands | None = None


@dataclass(frozen=True)
class Steering:
    """What a plan takes from the case store's history besides the cases themselves (made by
    `optimizer.loop` from `optimizer.store.history`; plain data, no store).

    ``held``: cases not planned today, with the store's reason. ``windows``: per case, today's
    windows cut into parts of the day, each with its value factor (1 = untried, 0.5 after one
    visit nobody was home in that part); the visit keeps the best part it can be made in
    (`steer`).
    """

    held: Mapping[str, Reason] = field(default_factory=dict)
    windows: Mapping[str, tuple[tuple[TimeWindow, float], ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class DayContext:
    """What a day of a multi-day plan, or a re-planned day, adds to a day planned alone.

    Parameters
    ----------
    planned_on
        case_id -> the earlier days of the horizon that visit it (`rules.horizon_reason`).
    revisit_gap_days
        None: a case is visited once in the horizon; else again after this many days.
    priority
        case_id -> a factor on the value the solver sees for the case (its drop penalty):
        a case whose last chance in the horizon is today, an urgent case of a re-plan. The
        values reported (`Built.values`) stay the cases' own. Default 1.
    """

    planned_on: Mapping[str, tuple[date, ...]] = field(default_factory=dict)
    revisit_gap_days: int | None = None
    priority: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Built:
    """The solver problem for a day, and what was decided before solving."""

    problem: Problem
    visit_case: dict[str, Case]
    values: dict[str, float]  # every case's value, visited or not
    windows: dict[str, tuple[TimeWindow, ...]]  # legal windows of each case today
    eligible: dict[str, tuple[int, ...]]  # vehicle indices allowed for each case
    excluded: dict[str, Reason]  # case_id -> why it was left out before solving
    # case_id -> value factor of the part of the day it was steered to (cases steered only)
    factors: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Admitted:
    """A case that may be visited today: its legal windows and the crews that can make it."""

    windows: tuple[TimeWindow, ...]
    vehicles: tuple[int, ...]


def build_problem(cases: Sequence[Case], loc: Located, *, plan_date: date, policy: Policy,
                  weighting: Weighting, travel_cost_per_h: float,
                  context: DayContext | None = None,
                  steering: Steering | None = None) -> Built:
    """Apply the collection rules and turn the located cases into the solver's problem.

    Parameters
    ----------
    cases
        Every case of the day, in input order.
    loc
        Their places and the crews' (`Located`).
    plan_date, policy, weighting
        The day, its collection rules and how visits are valued.
    travel_cost_per_h
        Cost of an hour of travel, value units.
    context
        The earlier days of a multi-day plan and the solver's priorities (`DayContext`);
        None: a day planned alone.
    steering
        What the case store's history says (`Steering`); None: nothing.
    """
    context = context or DayContext()
    crews = loc.crews
    steering = steering or Steering()
    vehicles = tuple(_vehicle(crew, k, loc, policy) for k, crew in enumerate(crews))
    excluded: dict[str, Reason] = {**{cid: r for cid, r in steering.held.items()},
                                   **{cid: r for cid, r in loc.unlocated.items()
                                      if cid not in steering.held}}
    factors: dict[str, float] = {}
    values: dict[str, float] = {}
    visits: list[Visit] = []
    visit_case: dict[str, Case] = {}
    windows: dict[str, tuple[TimeWindow, ...]] = {}
    eligible: dict[str, tuple[int, ...]] = {}
    for case in cases:
        values[case.case_id] = case_value(case, weighting)
        if case.case_id in excluded:
            continue
        admitted = _admit(case, loc, plan_date, policy, context)
        if not isinstance(admitted, _Admitted):
            excluded[case.case_id] = admitted
            continue
        parts = steering.windows.get(case.case_id)
        if parts:
            admitted, factor = steer(admitted, parts, [crews[k] for k in admitted.vehicles])
            factors[case.case_id] = factor
            values[case.case_id] *= factor
        reach = admitted.vehicles
        preferred = tuple(k for k in reach if rules.is_preferred(case, crews[k]))
        visits.append(Visit(
            visit_id=case.case_id, location=loc.case_index[case.case_id],
            value=values[case.case_id] * context.priority.get(case.case_id, 1.0),
            service_s=case.service_s, windows=admitted.windows,
            allowed_vehicles=None if len(reach) == len(crews) else reach,
            preferred_vehicles=preferred if case.preferred_collector else (),
            off_preference_cost=policy.preferred_cost if preferred else 0.0,
        ))
        visit_case[case.case_id] = case
        windows[case.case_id] = admitted.windows
        eligible[case.case_id] = reach
    problem = Problem(
        visits=tuple(visits), vehicles=vehicles, duration_s=loc.duration_s,
        distance_m=loc.distance_m, cost_per_s=travel_cost_per_h / 3600.0,
        balance_cost_per_s=(policy.balance_cost_per_h / 3600.0 if policy.balance == "hours"
                            else 0.0),
        traffic=loc.traffic,
    )
    return Built(problem, visit_case, values, windows, eligible, excluded, factors)


def steer(admitted: _Admitted, parts: Sequence[tuple[TimeWindow, float]],
          crews: Sequence[Crew]) -> tuple[_Admitted, float]:
    """Steer a visit to its best-valued part of the day (`Steering.windows`).

    Rule: cut the admitted windows by the parts; among the pieces some admitted crew's shift
    meets, take the highest factor; the visit keeps the pieces of that factor (and the crews
    whose shift meets one of them) and is worth that factor times its value. After a daytime
    miss (daytime 0.5, evening 1) a case available in the evening is visited in the evening if
    a shift reaches into it, else in the daytime at half its value. Parts that cover none of
    the windows leave them as they are (factor 1).
    """
    pieces: list[tuple[TimeWindow, float]] = []
    for w in admitted.windows:
        for p, f in parts:
            a, b = max(w.start_s, p.start_s), min(w.end_s, p.end_s)
            if a <= b:
                pieces.append((TimeWindow(a, b), f))
    fitting = [(p, f) for p, f in pieces if any(_meets_shift((p,), c) for c in crews)]
    if not fitting:
        return admitted, 1.0
    best = max(f for _, f in fitting)
    kept = tuple(sorted({p for p, f in fitting if f == best}, key=lambda w: w.start_s))
    vehicles = tuple(k for k, c in zip(admitted.vehicles, crews, strict=True)
                     if _meets_shift(kept, c))
    return replace(admitted, windows=kept, vehicles=vehicles), best


def _vehicle(crew: Crew, k: int, loc: Located, policy: Policy) -> Vehicle:
    return Vehicle(
        vehicle_id=crew.crew_id, start=loc.crew_start[k], end=loc.crew_end[k], shift=crew.shift,
        max_visits=crew.max_visits, max_duration_s=crew.work_limit_s(policy),
        overtime_s=policy.overtime_s, overtime_cost_per_s=policy.overtime_cost_per_h / 3600.0,
        breaks=rules.crew_breaks(crew, policy),
    )


def _admit(case: Case, loc: Located, day: date, policy: Policy, context: DayContext
           ) -> _Admitted | Reason:
    """The checks 2-7 of the module's list: the case's windows and crews, or the first reason
    it cannot be visited today."""
    earlier = rules.horizon_reason(case, day, context.planned_on.get(case.case_id, ()),
                                   revisit_gap_days=context.revisit_gap_days)
    if earlier:
        return earlier
    cooldown = rules.cooldown_reason(case, day, policy)
    if cooldown:
        return cooldown
    today = case.windows_on(day)
    if not today:
        return _no_window_today(case, day)
    legal = rules.legal_windows(case, today, policy)
    if not legal:
        return _outside_legal_hours(today, policy)
    crews = loc.crews
    why_not = {k: rules.ineligible_reason(case, crew) for k, crew in enumerate(crews)}
    eligible = tuple(k for k, why in why_not.items() if why is None)
    if not eligible:
        return _no_eligible(case, why_not)
    in_shift = tuple(k for k in eligible if _meets_shift(legal, crews[k]))
    if not in_shift:
        return _outside_shifts(legal, [crews[k] for k in eligible])
    reach = tuple(k for k in in_shift if _reachable(loc, loc.case_index[case.case_id], k))
    if not reach:
        return ("unreachable", "no road path connects it with an eligible collector's start and "
                "end place (one-way or disconnected roads)")
    return _Admitted(legal, reach)


def _no_window_today(case: Case, day: date) -> Reason:
    return ("no_window_today", f"the customer cannot be found on {day:%A} (windows: "
            f"{_describe_availability(case)})")


def _outside_legal_hours(today: Sequence[TimeWindow], policy: Policy) -> Reason:
    return ("outside_legal_hours",
            f"its windows today ({', '.join(w.label() for w in today)}) fall outside the legal "
            f"contact hours of policy '{policy.name}' ({_hours_label(policy)}) and the "
            "customer has not consented")


def _no_eligible(case: Case, reasons: Mapping[int, str | None]) -> Reason:
    """``no_eligible_collector`` with what no crew of the day offers (`reasons`: crew index ->
    `rules.ineligible_reason`)."""
    kinds = sorted({r for r in reasons.values() if r})
    parts = []
    if "skill" in kinds:
        parts.append(f"no collector with skill '{case.skill}'")
    if "fixed_collector" in kinds:
        parts.append(f"its fixed collector {case.fixed_collector} is not working today")
    if "territory" in kinds:
        parts.append(f"no collector covers district '{case.district}'")
    return "no_eligible_collector", "; ".join(parts) + " among today's crews"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _describe_availability(case: Case) -> str:
    if not case.availability:
        return "any time"
    parts = []
    for w in case.availability:
        days = sorted(w.weekdays)
        label = "every day" if len(days) == 7 else ",".join(_DAYS[d] for d in days)
        parts.append(f"{label} {w.window.label()}")
    return "; ".join(parts)


def _hours_label(policy: Policy) -> str:
    if policy.contact_start_s is None or policy.contact_end_s is None:
        return "no limit"
    return f"{hhmm(policy.contact_start_s)}-{hhmm(policy.contact_end_s)}"


def _meets_shift(windows: Sequence[TimeWindow], crew: Crew) -> bool:
    """Some window overlaps the crew's shift."""
    return any(w.start_s <= crew.shift.end_s and w.end_s >= crew.shift.start_s for w in windows)


def _outside_shifts(windows: Sequence[TimeWindow], eligible: Sequence[Crew]) -> Reason:
    return ("outside_shifts",
            f"its windows today ({', '.join(w.label() for w in windows)}) fall outside every "
            f"eligible shift ({', '.join(sorted({c.shift.label() for c in eligible}))})")


def _reachable(loc: Located, i: int, k: int) -> bool:
    """Location `i` can be reached from crew `k`'s start, and its end from `i`."""
    return bool(np.isfinite(loc.duration_s[loc.crew_start[k], i])
                and np.isfinite(loc.duration_s[i, loc.crew_end[k]]))
