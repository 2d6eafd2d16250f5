"""Collection rules: each rule is built in one named function here.

A `Policy` holds the jurisdiction's rules (legal contact hours, visits by two collectors) and the
company's (lunch break, working time, cooldown, continuity, territory, workload balance). Presets:

``china``
    China Banking Association guideline (2026, trial): no field visits 22:00-08:00 without the
    customer's consent; every visit made by at least two collectors together.
``us_fdcpa``
    FDCPA 15 U.S.C. 1692c(a)(1): contact only 08:00-21:00 at the customer's local time (the plan's
    times are the city's local time); one collector per visit.
``india_rbi``
    Reserve Bank of India (2022) directions: recovery agents contact borrowers only 08:00-19:00;
    one collector per visit.
``none``
    No jurisdiction rule (company rules still apply as configured).

The lunch break applies per crew: a crew whose shift does not meet the lunch window (the break
cannot be taken inside the shift, e.g. an evening shift 14:00-22:00 and the window 11:30-13:30)
takes no lunch break; every other crew takes it (`lunch_applies`, `crew_breaks`).

The rule functions are pure: `optimizer.plan` forms the day's crews with them and
`optimizer.planning.build` applies them to turn cases and crews into the solver's `Problem`;
`tests/plancheck.py` re-checks every rule on the finished plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from optimizer.errors import ConfigError, InputError, Issue
from optimizer.model import Break, Case, Collector, Place, TimeWindow

H = 3600


@dataclass(frozen=True)
class Policy:
    """Collection rules in force for a plan (all times seconds since midnight, local time).

    Parameters
    ----------
    name
        Preset name, for reports.
    contact_start_s, contact_end_s
        Legal contact hours: visits start and end inside them unless the customer consented.
        ``None`` = no limit.
    min_team_size
        Collectors per visit (China: 2). Routes then belong to teams.
    lunch_window, lunch_s
        A break of ``lunch_s`` seconds starting inside ``lunch_window``; ``lunch_s = 0`` = no break.
        Only crews whose shift can hold the break take it (`lunch_applies`).
    max_work_s
        Longest working time of a route (leave start to return), ``None`` = the shift only.
    overtime_s, overtime_cost_per_h
        Time allowed past the shift end / ``max_work_s``, at a cost per hour; 0 = no overtime.
    cooldown_days
        No visit within this many days of the last one (``last_visit_date``); 0 = off.
    respect_promises
        No visit before an open promise-to-pay date unless the promise is broken.
    preferred_cost
        Cost (value units) of giving a case to another collector than its ``preferred_collector``.
    balance
        ``"none"`` or ``"hours"`` (penalise the day's span: the latest return minus the earliest
        departure over all routes, which evens working hours out when crews start together).
    balance_cost_per_h
        Cost per hour of that span (``balance="hours"``).
    """

    name: str = "none"
    contact_start_s: int | None = None
    contact_end_s: int | None = None
    min_team_size: int = 1
    lunch_window: TimeWindow = TimeWindow(11 * H + 1800, 13 * H + 1800)  # noqa: RUF009 (frozen)
    lunch_s: int = 0
    max_work_s: int | None = None
    overtime_s: int = 0
    overtime_cost_per_h: float = 0.0
    cooldown_days: int = 0
    respect_promises: bool = True
    preferred_cost: float = 0.0
    balance: str = "none"
    balance_cost_per_h: float = 0.0
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if self.min_team_size < 1:
            raise ConfigError("min_team_size must be >= 1")
        if self.balance not in ("none", "hours"):
            raise ConfigError(f"balance {self.balance!r} is unknown; use none or hours")
        if (self.contact_start_s is None) != (self.contact_end_s is None):
            raise ConfigError("give both contact hours (start and end) or neither")


PRESETS: dict[str, Policy] = {
    "none": Policy(name="none"),
    "china": Policy(name="china", contact_start_s=8 * H, contact_end_s=22 * H, min_team_size=2,
                    lunch_s=30 * 60, max_work_s=10 * H, cooldown_days=3, preferred_cost=200.0),
    "us_fdcpa": Policy(name="us_fdcpa", contact_start_s=8 * H, contact_end_s=21 * H,
                       lunch_s=30 * 60, max_work_s=10 * H, cooldown_days=3, preferred_cost=200.0),
    # RBI (2022) directions to recovery agents: contact only between 08:00 and 19:00
    "india_rbi": Policy(name="india_rbi", contact_start_s=8 * H, contact_end_s=19 * H,
                        lunch_s=30 * 60, max_work_s=10 * H, cooldown_days=3,
                        preferred_cost=200.0),
}


def policy_preset(name: str) -> Policy:
    """The preset policy of that name (`PRESETS`; the options that override its fields are
    applied by `optimizer.settings`)."""
    if name not in PRESETS:
        raise ConfigError(f"policy {name!r} is unknown; use one of {', '.join(PRESETS)}")
    return PRESETS[name]


# --------------------------------------------------------------------------- rule 1: legal hours


def legal_windows(case: Case, windows: Sequence[TimeWindow], policy: Policy
                  ) -> tuple[TimeWindow, ...]:
    """Windows for the start of service inside legal contact hours.

    The whole visit (start + service) must end by ``contact_end_s``. A case with consent keeps its
    own windows.
    """
    if policy.contact_start_s is None or policy.contact_end_s is None \
            or case.consent_outside_hours:  # (a Policy has both contact hours or neither)
        return tuple(windows)
    lo = policy.contact_start_s
    hi = policy.contact_end_s - case.service_s
    out = []
    for w in windows:
        s, e = max(w.start_s, lo), min(w.end_s, hi)
        if s <= e:
            out.append(TimeWindow(s, e))
    return tuple(out)


# --------------------------------------------------------------------------- rule 2: teams


@dataclass(frozen=True)
class Crew:
    """The unit that makes a route: one collector, or a team visiting together."""

    crew_id: str
    members: tuple[Collector, ...]
    start: Place
    end: Place
    shift: TimeWindow
    max_visits: int | None
    skills: frozenset[str]
    districts: frozenset[str]  # empty = anywhere
    max_work_s: int | None = None  # the shortest limit of its members, if any
    # re-planning during the day: the crew has taken its lunch break already (it owes none)
    break_taken: bool = False

    def work_limit_s(self, policy: Policy) -> int | None:
        """Working-time limit of this crew: its members' and the policy's, whichever is less."""
        limits = [x for x in (self.max_work_s, policy.max_work_s) if x is not None]
        return min(limits) if limits else None

    @property
    def member_ids(self) -> tuple[str, ...]:
        return tuple(m.collector_id for m in self.members)


def _crew(crew_id: str, members: Sequence[Collector]) -> Crew:
    """Combine collectors into one crew: shared shift, fewest visits, all skills, common area."""
    start_s = max(m.shift.start_s for m in members)
    end_s = min(m.shift.end_s for m in members)
    if end_s <= start_s:
        ids = ", ".join(m.collector_id for m in members)
        raise ConfigError(f"team {crew_id} ({ids}): the members' shifts do not overlap; "
                          "give team members overlapping shifts")
    mv = [m.max_visits for m in members if m.max_visits is not None]
    restricted = [m.districts for m in members if m.districts]
    work = [m.max_work_s for m in members if m.max_work_s is not None]
    districts = frozenset.intersection(*restricted) if restricted else frozenset()
    return Crew(
        crew_id=crew_id,
        members=tuple(members),
        start=members[0].start,
        end=members[0].end,
        shift=TimeWindow(start_s, end_s),
        max_visits=min(mv) if mv else None,
        skills=frozenset().union(*(m.skills for m in members)),
        districts=districts,
        max_work_s=min(work) if work else None,
    )


def _place_key(p: Place) -> tuple:
    return (round(p.lat or 0.0, 4), round(p.lon or 0.0, 4), p.address)


def form_crews(collectors: Sequence[Collector], policy: Policy, *, plan_date: date | None = None,
               collectors_file: str = "collectors.csv") -> tuple[Crew, ...]:
    """Form the crews that make routes (the two-collector rule).

    Rule (documented in the README): collectors not working on ``plan_date`` are left out. With
    ``min_team_size == 1`` every collector is a crew of one, unless a ``team`` column groups them.
    Otherwise collectors with the same ``team`` value form one crew; the others are grouped
    automatically: sorted by shift (start, then end), then start place, then id, and taken in
    groups of ``min_team_size``, so that a team keeps its members' whole shift (an evening shift
    is not cut down by an early partner) and colleagues of the same branch go together. A
    remainder too small for a team joins the last team formed.

    Raises
    ------
    InputError
        Nobody works on ``plan_date``, a team has fewer members than the policy asks for, or
        collectors without a team are too few to form one (each named by its row of
        `collectors_file`): no collector is ever left out silently.
    """
    working = [c for c in collectors if plan_date is None or plan_date.weekday() in c.workdays]
    if not working:
        day = f"{plan_date:%A} {plan_date.isoformat()}" if plan_date else "the day"
        raise InputError([Issue(
            collectors_file, 0, "", "workdays", "", f"no collector works on {day}: the workdays "
            f"of all {len(collectors)} collector(s) leave it out", "plan a day they work "
            "(--date), or correct the workdays column")])
    teams: dict[str, list[Collector]] = {}
    loose: list[Collector] = []
    for c in working:
        if c.team:
            teams.setdefault(c.team, []).append(c)
        else:
            loose.append(c)
    crews = [_crew(t, ms) for t, ms in teams.items()]
    k = policy.min_team_size
    alone: list[Collector] = []
    if k == 1:
        crews += [_crew(c.collector_id, [c]) for c in loose]
    else:
        loose.sort(key=lambda c: (c.shift.start_s, c.shift.end_s, _place_key(c.start),
                                  c.collector_id))
        groups = [loose[i:i + k] for i in range(0, len(loose), k)]
        if groups and len(groups[-1]) < k:
            rest = groups.pop()
            if groups:
                groups[-1].extend(rest)
            else:
                alone = rest
        crews += [_crew("+".join(m.collector_id for m in g), g) for g in groups]
    fix = ("add collectors to the team, leave the team column blank to pair collectors "
           f"automatically, or set --team-size if the rules allow fewer than {k}")
    problems = [Issue(collectors_file, m.row, f"collector_id={m.collector_id}", "team", c.crew_id,
                      f"team {c.crew_id} has {len(c.members)} collector(s) working that day, "
                      f"fewer than the {k} per visit that policy {policy.name!r} requires", fix)
                for c in crews if len(c.members) < k for m in c.members[:1]]
    problems += [Issue(collectors_file, m.row, f"collector_id={m.collector_id}", "team", "",
                       f"no colleague to visit with: policy {policy.name!r} needs {k} "
                       f"collectors per visit and only {len(alone)} without a team work that "
                       "day", "give them a colleague (another collector, or the team of one)"
                       f", or set --team-size if the rules allow fewer than {k}")
                 for m in alone]
    if problems:
        raise InputError(problems)
    return tuple(crews)


# --------------------------------------------------------------------------- rule 3: breaks, time


def lunch_applies(shift: TimeWindow, policy: Policy) -> bool:
    """Whether the policy's lunch break can be taken inside `shift` (then it must be).

    Rule (documented in the README): the break of ``lunch_s`` seconds must start inside
    ``lunch_window`` and lie wholly inside the shift, i.e. some start ``t`` has
    ``max(window start, shift start) <= t <= window end`` and ``t + lunch_s <= shift end``.
    A shift that does not meet the lunch window that way (an evening shift 14:00-22:00 with the
    window 11:30-13:30, a morning shift that ends before the break could end) has no lunch
    break. Overtime does not count: the rule is about the shift the collector is paid for.
    """
    if policy.lunch_s <= 0:
        return False
    w = policy.lunch_window
    earliest = max(w.start_s, shift.start_s)
    return earliest <= w.end_s and earliest + policy.lunch_s <= shift.end_s


def crew_breaks(crew: Crew, policy: Policy) -> tuple[Break, ...]:
    """The lunch break `crew` takes: none if ``lunch_s == 0`` or its shift misses the window.

    See `lunch_applies`: the break applies per crew, so an evening team plans without a lunch
    break while the day teams of the same plan take theirs.
    """
    if crew.break_taken or not lunch_applies(crew.shift, policy):
        return ()
    w = policy.lunch_window
    return (Break(w.start_s, w.end_s, policy.lunch_s),)


def lunch_exempt(collectors: Sequence[Collector], policy: Policy) -> tuple[Collector, ...]:
    """Collectors whose own shift misses the policy's lunch window (no break is planned).

    Empty when the policy has no lunch break. For `validate`: a team works the overlap of its
    members' shifts, so the crew check in `crew_breaks` is what the plan applies.
    """
    if policy.lunch_s <= 0:
        return ()
    return tuple(c for c in collectors if not lunch_applies(c.shift, policy))


# --------------------------------------------------------------------------- rules 4-5: eligibility


def ineligible_reason(case: Case, crew: Crew) -> str | None:
    """Why `crew` may not visit `case` (skill, fixed collector, territory), or None."""
    if case.skill and case.skill not in crew.skills:
        return "skill"
    if case.fixed_collector and case.fixed_collector not in crew.member_ids:
        return "fixed_collector"
    if crew.districts and case.district and case.district not in crew.districts:
        return "territory"
    return None


def is_preferred(case: Case, crew: Crew) -> bool:
    return bool(case.preferred_collector) and case.preferred_collector in crew.member_ids


# --------------------------------------------------------------------------- rule 6: cooldown


def cooldown_reason(case: Case, plan_date: date, policy: Policy) -> tuple[str, str] | None:
    """(reason_code, sentence) if the case may not be visited on `plan_date`, else None."""
    if policy.cooldown_days and case.last_visit_date is not None:
        days = (plan_date - case.last_visit_date).days
        if 0 <= days < policy.cooldown_days:
            nxt = date.fromordinal(case.last_visit_date.toordinal() + policy.cooldown_days)
            return ("cooldown",
                    (f"visited {days} day(s) ago on {case.last_visit_date.isoformat()}; the "
                    f"{policy.cooldown_days}-day cooldown allows the next visit from "
                    f"{nxt.isoformat()}"))
    if (policy.respect_promises and case.promise_date is not None and not case.promise_broken
            and case.promise_date > plan_date):
        return ("open_promise",
                (f"the customer promised to pay by {case.promise_date.isoformat()}; no visit "
                "before that date unless the promise is marked broken"))
    return None


# --------------------------------------------------------------------------- rule 7: the horizon


def horizon_reason(case: Case, plan_date: date, planned_on: Sequence[date], *,
                   revisit_gap_days: int | None = None) -> tuple[str, str] | None:
    """(reason_code, sentence) if a multi-day plan may not visit `case` on `plan_date` again.

    `planned_on`: the earlier days of the horizon that visit it. Rule (README, "Multi-day
    plans"): a case is visited at most once in the horizon; with ``revisit_gap_days`` set, again
    once that many days have passed since its last planned visit (the cooldown applies on top,
    through ``last_visit_date``). The contact limit of the horizon follows: at most one visit in
    any ``revisit_gap_days`` days.
    """
    earlier = sorted(d for d in planned_on if d < plan_date)
    if not earlier:
        return None
    last = earlier[-1]
    if revisit_gap_days is None:
        return ("planned_earlier", f"planned on {last.isoformat()}; a multi-day plan visits a "
                "case once in its horizon")
    days = (plan_date - last).days
    if days < revisit_gap_days:
        nxt = date.fromordinal(last.toordinal() + revisit_gap_days)
        return ("planned_earlier", f"planned on {last.isoformat()}; a revisit needs "
                f"{revisit_gap_days} day(s) between visits, so not before {nxt.isoformat()}")
    return None
