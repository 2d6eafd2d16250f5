"""The problem and solution model: plain, immutable data.

Conventions (also in the README):

- coordinates are WGS-84 ``lat``/``lon`` in degrees, always named, never a bare pair;
- times of day are integer seconds since midnight of the plan date (``*_s``), local time;
- durations are seconds (``duration_s``, ``service_s``), distances metres (``distance_m``);
- a time window ``[start_s, end_s]`` is inclusive at both ends and bounds the *start* of service;
- money is in the currency of the input (``amount_overdue``), value is in the same unit.

Two layers live here.

*Business objects* (`Case`, `Collector`) are what the input files describe, validated.

*Solver objects* (`Visit`, `Vehicle`, `Problem`, `Solution`) are what the solver and the
re-simulation (`optimizer.routing.verify`) work on: locations are indices into the travel matrices.
The benchmark harness builds the same `Problem` from instance files, so the product and the
benchmarks go through one model and one solve path.

How long a leg takes is part of the problem's definition, so it is said here, once: `drive`
(and its inverse `depart_by`) on `Problem.duration_s`, or, when the problem has time bands
(`TimeBands`, travel by time of day), the time-dependent travel time of Ichoua, Gendreau and
Potvin (2003). The route simulator (`optimizer.routing.schedule`) and the independent check
(`optimizer.routing.verify`) both use it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import numpy as np

from optimizer.errors import ProblemError

DAY_S = 24 * 3600


@dataclass(frozen=True)
class TimeWindow:
    """A window for the start of service, seconds since midnight, inclusive."""

    start_s: int
    end_s: int

    def __post_init__(self) -> None:
        if self.end_s < self.start_s:
            raise ProblemError(f"time window end {hhmm(self.end_s)} ({self.end_s} s) is before "
                               f"its start {hhmm(self.start_s)} ({self.start_s} s); give a "
                               "window that ends at or after its start")

    def contains(self, t_s: float) -> bool:
        return self.start_s <= t_s <= self.end_s

    def label(self) -> str:
        return f"{hhmm(self.start_s)}-{hhmm(self.end_s)}"


def geocode_status(provider: str, score: float) -> str:
    """How a place was located: ``given`` (lat/lon in the input), ``found`` (a match of score 1)
    or ``uncertain`` (below 1: a near spelling, or one of several same-name places)."""
    if provider == "input":
        return "given"
    return "found" if score >= 1.0 else "uncertain"


def hhmm(t_s: float) -> str:
    """Format seconds since midnight as ``HH:MM`` (``24:00`` and beyond allowed)."""
    t = round(t_s)
    return f"{t // 3600:02d}:{(t % 3600) // 60:02d}"


@dataclass(frozen=True)
class WeeklyWindow:
    """An availability window on some weekdays (0 = Monday ... 6 = Sunday)."""

    weekdays: frozenset[int]
    window: TimeWindow


@dataclass(frozen=True)
class Case:
    """One overdue customer case, as read and validated from the case list."""

    case_id: str
    amount_overdue: float
    days_past_due: int
    address: str = ""
    lat: float | None = None
    lon: float | None = None
    availability: tuple[WeeklyWindow, ...] = ()  # empty = any time
    service_s: int = 20 * 60
    customer_name: str = ""
    phone: str = ""
    district: str = ""
    city: str = ""  # a multi-city day: whose roads (`optimizer.cities`)
    notes: str = ""
    # collection-rule attributes (see optimizer.planning.rules)
    skill: str = ""
    preferred_collector: str = ""
    fixed_collector: str = ""
    last_visit_date: date | None = None
    promise_date: date | None = None
    promise_broken: bool = False
    consent_outside_hours: bool = False
    row: int = 0  # 1-based data row in the source file, for messages

    def windows_on(self, day: date) -> tuple[TimeWindow, ...]:
        """Windows for the given date; the whole day when no availability is given."""
        if not self.availability:
            return (TimeWindow(0, DAY_S),)
        wd = day.weekday()
        return tuple(w.window for w in self.availability if wd in w.weekdays)


@dataclass(frozen=True)
class Place:
    """A start or end place: coordinates, or an address still to geocode."""

    lat: float | None = None
    lon: float | None = None
    address: str = ""

    @property
    def has_coords(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True)
class Collector:
    """One field collector, as read and validated from the collector list."""

    collector_id: str
    start: Place
    end: Place
    shift: TimeWindow
    max_visits: int | None = None
    name: str = ""
    team: str = ""
    skills: frozenset[str] = frozenset()
    districts: frozenset[str] = frozenset()  # empty = anywhere
    workdays: frozenset[int] = frozenset(range(7))
    max_work_s: int | None = None  # longest working day of this collector; None = policy's
    city: str = ""  # a multi-city day: where the collector works (`optimizer.cities`)
    row: int = 0


# --------------------------------------------------------------------------- solver layer


@dataclass(frozen=True)
class Visit:
    """An optional visit to plan: a location, a value and windows for the start of service."""

    visit_id: str
    location: int  # index into the matrices
    value: float  # what the plan gains by making the visit (its drop penalty)
    service_s: float
    windows: tuple[TimeWindow, ...]
    required: bool = False  # True: must be visited (VRPTW); no drop allowed
    demand: int = 0  # capacity units (benchmarks); the product uses 0
    allowed_vehicles: tuple[int, ...] | None = None  # None = any vehicle
    # soft: served by any other vehicle costs `off_preference_cost`
    preferred_vehicles: tuple[int, ...] = ()
    off_preference_cost: float = 0.0


@dataclass(frozen=True)
class Break:
    """A break a vehicle must take: `duration_s` starting inside [earliest_s, latest_s]."""

    earliest_s: int
    latest_s: int
    duration_s: int


@dataclass(frozen=True)
class Vehicle:
    """A route to plan: one collector (or team) with start, end, shift and limits."""

    vehicle_id: str
    start: int  # location index
    end: int  # location index
    shift: TimeWindow  # leave start no earlier than start_s, arrive at end no later than end_s
    max_visits: int | None = None
    capacity: int | None = None  # benchmarks only
    max_duration_s: int | None = None  # working-time limit (end - start of route)
    overtime_s: int = 0  # allowed beyond shift end / max_duration_s, at `overtime_cost_per_s`
    overtime_cost_per_s: float = 0.0
    breaks: tuple[Break, ...] = ()


@dataclass(frozen=True)
class TimeBands:
    """Travel by time of day: the day cut into bands, with travel matrices per band.

    Band ``b`` lasts from ``start_s[b]`` to ``start_s[b + 1]`` (seconds since midnight); the
    first starts at 0, the last lasts past midnight. ``duration_s[b]`` and ``distance_m[b]``
    are the travel times and distances between the problem's locations at that band's speeds
    (the shape of `Problem.duration_s`; bands with the same speeds may share one array).

    Raises
    ------
    ValueError
        No band, bands and matrices of different counts, starts not 0, increasing and finite,
        or matrices of different shapes (or not square).
    """

    start_s: tuple[float, ...]
    duration_s: tuple[np.ndarray, ...] = field(repr=False)
    distance_m: tuple[np.ndarray, ...] = field(repr=False)

    def __post_init__(self) -> None:
        n = len(self.start_s)
        if n == 0 or len(self.duration_s) != n or len(self.distance_m) != n:
            raise ValueError(f"time bands need as many matrices as bands ({n} starts, "
                             f"{len(self.duration_s)} duration and {len(self.distance_m)} "
                             "distance matrices), at least one")
        pairs = zip(self.start_s, self.start_s[1:], strict=False)
        if self.start_s[0] != 0 or not all(math.isfinite(b) and a < b for a, b in pairs):
            raise ValueError(f"band starts {self.start_s} must begin at 0 and increase")
        shape = np.shape(self.duration_s[0])
        if len(shape) != 2 or shape[0] != shape[1] or any(
                np.shape(m) != shape for m in (*self.duration_s, *self.distance_m)):
            raise ValueError("the matrices of all bands must be square and of one shape")

    def band(self, t_s: float) -> int:
        """The band of time `t_s` (before midnight: the first; past the last start: the last)."""
        return max(bisect.bisect_right(self.start_s, t_s) - 1, 0)


@dataclass(frozen=True)
class Problem:
    """A day's routing problem on a travel matrix.

    ``duration_s[i, j]`` and ``distance_m[i, j]`` are the travel time and distance from location
    ``i`` to ``j``; ``np.inf`` marks a pair that cannot reach each other. With ``traffic``
    (time bands), a leg's time depends on when it starts (`drive`) and ``duration_s`` is the
    static base those bands are relative to (the network's own speeds): it tells which pairs
    are connected, and is what a search that cannot take time into account starts from.
    """

    visits: tuple[Visit, ...]
    vehicles: tuple[Vehicle, ...]
    duration_s: np.ndarray = field(repr=False)
    distance_m: np.ndarray = field(repr=False)
    # objective: value dropped + cost_per_s * travel time + cost_per_m * distance
    cost_per_s: float = 0.0
    cost_per_m: float = 0.0
    # cost of using a vehicle at all (benchmarks with fleet-size terms); 0 in the product
    fixed_cost: float = 0.0
    # workload balance: cost per second of the day's span, the latest return minus the earliest
    # departure over all routes (OR-Tools' global span cost of the time dimension); 0 = off
    balance_cost_per_s: float = 0.0
    # travel by time of day; None: every leg takes ``duration_s`` whenever it starts
    traffic: TimeBands | None = field(default=None, repr=False)


class Drive(NamedTuple):
    """Where a drive along one leg got to: the time, the share of the leg covered, the seconds
    and the metres driven."""

    end_s: float
    fraction: float
    travel_s: float
    distance_m: float


def drive(problem: Problem, i: int, j: int, start_s: float, *, fraction: float = 1.0,
          until_s: float = math.inf) -> Drive:
    """Drive from location `i` towards `j` from `start_s`: `fraction` of the leg, or until
    `until_s` when that comes first.

    Without ``problem.traffic`` the leg takes ``duration_s[i, j]`` at any time. With it, the
    leg is covered at the pace of the band one is in, ``1 / duration_s[b][i, j]`` of it per
    second, so a leg that runs into a slower band takes longer for the rest of the way: the
    time-dependent travel time of Ichoua, Gendreau & Potvin (2003, "Vehicle dispatching with
    time-dependent travel times", EJOR 144), the metres likewise from each band's distance.
    Leaving later never arrives earlier (FIFO): the pace is positive at every moment, so the
    arrival grows with the departure.

    Returns
    -------
    Drive
        The time reached (``np.inf`` with no road), the share of the leg covered in this call
        (exactly `fraction` when the drive got there), its seconds and its metres.
    """
    tb = problem.traffic
    if until_s <= start_s:
        return Drive(start_s, 0.0, 0.0, 0.0)
    if tb is None:
        return _drive_in_band(float(problem.duration_s[i, j]), float(problem.distance_m[i, j]),
                              start_s, fraction, until_s)
    t, left, seconds, metres = start_s, fraction, 0.0, 0.0
    b = tb.band(t)
    while True:
        band_end = tb.start_s[b + 1] if b + 1 < len(tb.start_s) else math.inf
        part = _drive_in_band(float(tb.duration_s[b][i, j]), float(tb.distance_m[b][i, j]), t,
                              left, min(band_end, until_s))
        seconds += part.travel_s
        metres += part.distance_m
        if part.fraction >= left or not math.isfinite(part.end_s):
            return Drive(part.end_s, fraction, seconds, metres)
        left -= part.fraction
        t = part.end_s
        if band_end >= until_s:
            return Drive(t, fraction - left, seconds, metres)
        b += 1


def _drive_in_band(t_ij: float, d_ij: float, start_s: float, fraction: float, until_s: float
                   ) -> Drive:
    """`drive` at one pace: the leg takes `t_ij` seconds over `d_ij` metres."""
    if t_ij <= 0.0:
        return Drive(start_s, fraction, 0.0, fraction * d_ij)
    if not math.isfinite(t_ij):
        return Drive(math.inf, fraction, math.inf, math.inf)
    if start_s + fraction * t_ij <= until_s:
        return Drive(start_s + fraction * t_ij, fraction, fraction * t_ij, fraction * d_ij)
    done = (until_s - start_s) / t_ij
    return Drive(float(until_s), done, until_s - start_s, done * d_ij)


def depart_by(problem: Problem, i: int, j: int, arrive_s: float) -> float:
    """The latest departure from location `i` that reaches `j` by `arrive_s` (`drive`'s
    inverse: the leg walked back through the bands); ``-np.inf`` with no road."""
    tb = problem.traffic
    if tb is None:
        return arrive_s - float(problem.duration_s[i, j])
    t, left = arrive_s, 1.0
    b = max(bisect.bisect_left(tb.start_s, t) - 1, 0)  # a start at the band's end is its own
    while True:
        t_ij = float(tb.duration_s[b][i, j])
        if t_ij <= 0.0:
            return t
        if not math.isfinite(t_ij):
            return -math.inf
        band_start = tb.start_s[b] if b > 0 else -math.inf
        if t - left * t_ij >= band_start:
            return t - left * t_ij
        left -= (t - band_start) / t_ij
        t = band_start
        b -= 1


@dataclass(frozen=True)
class Stop:
    """A planned visit: times in seconds since midnight, travel from the previous place."""

    visit_id: str
    arrive_s: float
    start_s: float
    depart_s: float
    travel_s: float
    travel_m: float


@dataclass(frozen=True)
class Route:
    vehicle_id: str
    stops: tuple[Stop, ...]
    leave_s: float  # departure from start place
    return_s: float  # arrival at end place
    travel_s: float  # whole route, including the leg back to the end
    travel_m: float
    breaks: tuple[tuple[float, float], ...] = ()  # (start_s, end_s) of breaks taken


@dataclass(frozen=True)
class Solution:
    routes: tuple[Route, ...]
    dropped: tuple[str, ...]  # visit ids not visited
    objective: float = 0.0
    solver: str = "ortools"
    wall_s: float = 0.0
    status: str = ""
    budget_s: float | None = None  # the search's time budget, seconds (None: not known)

    def visited_ids(self) -> list[str]:
        return [s.visit_id for r in self.routes for s in r.stops]


# --------------------------------------------------------------------------- plan layer


@dataclass(frozen=True)
class PlannedStop:
    """One stop of a collector's day, with the case it serves."""

    collector_id: str
    stop: int  # 1-based position in the route
    case: Case
    lat: float
    lon: float
    arrive_s: float
    start_s: float
    depart_s: float
    travel_s: float  # from the previous place
    travel_m: float
    value: float
    window: TimeWindow  # the window the visit starts in


@dataclass(frozen=True)
class PlannedRoute:
    collector: Collector
    stops: tuple[PlannedStop, ...]
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    leave_s: float
    return_s: float
    travel_s: float
    travel_m: float
    value: float
    # road geometry of the whole route, start -> stops -> end, as (lat, lon) points
    path: tuple[tuple[float, float], ...] = ()
    breaks: tuple[tuple[float, float], ...] = ()
    # ids of the collectors who make this route together (a team); (collector_id,) when alone
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unassigned:
    """A case not visited, with a machine code and a sentence for the dispatcher."""

    case: Case
    reason_code: str
    reason: str
    value: float = 0.0
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class RouteSummary:
    """One route's totals, as ``summary.json`` reports them: value to 2 decimals, seconds and
    metres to 1, ``utilisation`` (working time, leave to return, over the shift; 0 for an idle
    crew) to 4."""

    collector_id: str
    members: tuple[str, ...]
    cases_visited: int
    value_visited: float
    travel_s: float
    travel_m: float
    leave: str  # HH:MM; "" for an idle crew
    return_: str  # HH:MM; "" for an idle crew
    work_s: float
    utilisation: float


@dataclass(frozen=True)
class GeocodingCounts:
    """How the cases were located: lat/lon given in the input, an exact match, an uncertain one
    (score below 1: fuzzy, or one of several same-name places), not found."""

    from_input: int
    exact: int
    uncertain: int
    not_found: int


@dataclass(frozen=True)
class SolverSummary:
    """The search whose plan was kept (e.g. ``ortools+vroom``) and its objective."""

    search: str
    objective: float


@dataclass(frozen=True)
class PlanSummary:
    """A plan's totals, overall and per route: the content of ``summary.json``.

    Rounded as reported: values to 2 decimals, seconds and metres to 1, shares and
    utilisations to 4 (the mean and spread are those of the routes' reported utilisations).
    ``value_total`` is the value of every input case, visited or not. Made once, with the plan
    (`optimizer.plan.summarize`); ``timings_s`` (seconds per step), ``solver`` and ``wall_s``
    are absent from plans built without them (e.g. by hand in tests).
    """

    plan_date: date
    policy: str
    weighting: str
    cases_total: int
    cases_visited: int
    cases_unassigned: int
    value_total: float
    value_visited: float
    value_share: float
    travel_s_total: float
    travel_m_total: float
    routes: int
    collectors: int
    utilisation_mean: float
    utilisation_spread: float
    unassigned_by_reason: Mapping[str, int]
    geocoding: GeocodingCounts
    per_collector: tuple[RouteSummary, ...]
    timings_s: Mapping[str, float] | None = None
    solver: SolverSummary | None = None
    wall_s: float | None = None


@dataclass(frozen=True)
class Plan:
    """A day's plan: every input case is in exactly one route stop or in `unassigned`.

    ``summary``: its totals, made with it by the pipeline (`optimizer.plan`); None for a plan put
    together by hand (tests).
    """

    plan_date: date
    routes: tuple[PlannedRoute, ...]
    unassigned: tuple[Unassigned, ...]
    summary: PlanSummary | None = field(default=None, compare=False)
    # case_id -> (what the address matched, match score 0..1, provider), for located cases
    geocoded: Mapping[str, tuple[str, float, str]] = field(default_factory=dict, compare=False)
