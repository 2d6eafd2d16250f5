"""What the next plan learns from the store: per case, the `Case` to plan and the reason not to.

`load_history` reads the store into plain `CaseHistory` records; `learn` is a pure function of
one history, the plan date and an `OutcomePolicy`; `learn_all` does every case. Only what is
known for the plan date counts: outcomes, promises and payments whose time on the device falls
on the plan date or before. Superseded outcomes (corrected by a later one) and what they made
(promises, payments) do not count. A case reopened for a new default starts a new cycle: the
outcomes before it count only as visits (the cooldown).

The rules, in the order they decide (the first exclusion wins):

``closed_paid``
    paid in full: the case is closed and never planned (a new default reopens it on import).
``address_unverified``
    a ``wrong_address``/``moved`` report after the address last changed: not planned until the
    address is corrected; the sentence carries the new address text for the dispatcher.
``hardship_pause``
    the customer's last answer was hardship: no visit for ``hardship_pause_days`` (30).
``refused_cooldown``
    the last answer was a refusal: no visit for ``refused_cooldown_days`` (7).
``dispute_open``
    the last answer was a dispute and ``dispute_skill`` is empty; otherwise the case is planned
    with that skill required (default ``legal``).
``promise_open``
    an unpaid promise (or the next instalment) whose date plus ``promise_grace_days`` (2) has
    not passed: ``promised 2,000 on 2026-12-05; due for a visit from 2026-12-08 if unpaid``.
    Past that day without the payment the promise is *broken*: the case returns with
    ``promise_broken`` (the broken-promise weight).
``verify_contact``
    ``not_home_limit`` (3) not-home visits in a row (since the customer was last reached or the
    address changed): verify the address or phone instead of visiting again.

Otherwise the case is planned, with: the amount less the payments the export does not show yet
(made after the import last changed the amount); ``last_visit_date`` the later of the export's
and the last real visit (any outcome but ``no_attempt``); the promise's date and broken flag;
and, after not-home visits, a value factor per part of the week (`DAY_PARTS`):
``not_home_factor`` (0.5) to the power of the misses in that part, so an evening or weekend
window wins after daytime misses (`steer_windows` splits a day's windows by part and attaches
the factor).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.errors import ConfigError
from optimizer.model import Case, TimeWindow
from optimizer.store.cases import case_of
from optimizer.store.events import local_time
from optimizer.store.outcomes import CODES
from optimizer.store.tables import (
    OutcomeCollector,
    OutcomeRecord,
    PaymentRecord,
    PromiseRecord,
    StoredCase,
)

#: parts of the week a customer may be home in: weekday daytime, weekday evening, weekend
DAY_PARTS = ("weekday_daytime", "weekday_evening", "weekend")
_CENT = 0.005


@dataclass(frozen=True)
class OutcomePolicy:
    """How outcomes steer the next plans (every number a policy setting).

    Parameters
    ----------
    promise_grace_days
        Days after a promised date without a visit (2): due for a visit the day after.
    not_home_limit
        Not-home visits in a row before the contact is verified instead (3).
    not_home_factor
        Value factor of a part of the week per not-home visit in it (0.5).
    evening_from_s
        Where a weekday's evening starts, seconds since midnight (17:00).
    refused_cooldown_days
        Days without a visit after a refusal (7); 0 = none.
    hardship_pause_days
        Days without a visit after a hardship report (30); 0 = none.
    dispute_skill
        Skill a visitor needs for a disputed case (``legal``); ``""`` = no visits while the
        dispute is open.
    """

    promise_grace_days: int = 2
    not_home_limit: int = 3
    not_home_factor: float = 0.5
    evening_from_s: int = 17 * 3600
    refused_cooldown_days: int = 7
    hardship_pause_days: int = 30
    dispute_skill: str = "legal"

    def __post_init__(self) -> None:
        for name in ("promise_grace_days", "refused_cooldown_days", "hardship_pause_days"):
            if not 0 <= getattr(self, name) <= 3650:
                raise ConfigError(f"{name} {getattr(self, name)} must be 0..3650 days")
        if self.not_home_limit < 1:
            raise ConfigError(f"not_home_limit {self.not_home_limit} must be at least 1")
        if not 0 < self.not_home_factor <= 1:
            raise ConfigError(f"not_home_factor {self.not_home_factor} must be in (0, 1]")
        if not 0 <= self.evening_from_s <= 24 * 3600:
            raise ConfigError("evening_from_s must be a time of day (0..86400 s)")


# --------------------------------------------------------------------------- the history


@dataclass(frozen=True)
class PastOutcome:
    """An outcome as the history uses it; ``time`` is on the device's clock (aware)."""

    outcome_id: int
    code: str
    time: datetime
    collectors: tuple[str, ...] = ()
    amount: float | None = None
    new_address: str = ""
    note: str = ""


@dataclass(frozen=True)
class PastPromise:
    outcome_id: int
    made_at: datetime  # the promise outcome's time
    seq: int
    of_count: int
    due_date: date
    amount: float


@dataclass(frozen=True)
class PastPayment:
    outcome_id: int
    paid_at: datetime
    amount: float


@dataclass(frozen=True)
class CaseHistory:
    """A case in the store and what happened to it (outcomes in time order, superseded ones
    left out)."""

    case: Case
    status: str = "open"
    closed_reason: str | None = None
    closed_at: datetime | None = None
    opened_at: datetime | None = None  # start of the current cycle (a new default)
    amount_changed_at: datetime | None = None
    address_changed_at: datetime | None = None
    outcomes: tuple[PastOutcome, ...] = ()
    promises: tuple[PastPromise, ...] = ()
    payments: tuple[PastPayment, ...] = ()


def load_history(session: Session, case_ids: Iterable[str] | None = None
                 ) -> dict[str, CaseHistory]:
    """Read the store into histories (every case, or those of `case_ids`)."""
    q = select(StoredCase)
    if case_ids is not None:
        q = q.where(StoredCase.case_id.in_(list(case_ids)))
    rows = {r.case_id: r for r in session.scalars(q)}
    ids = list(rows)
    superseded = set(session.scalars(select(OutcomeRecord.supersedes_id).where(
        OutcomeRecord.supersedes_id.is_not(None), OutcomeRecord.case_id.in_(ids))))
    outcomes: dict[str, list[PastOutcome]] = {i: [] for i in ids}
    times: dict[int, datetime] = {}
    recs = list(session.scalars(select(OutcomeRecord).where(OutcomeRecord.case_id.in_(ids))
                                .order_by(OutcomeRecord.event_time, OutcomeRecord.id)))
    crew: dict[int, list[str]] = {}
    for oc in session.scalars(select(OutcomeCollector).join(
            OutcomeRecord, OutcomeRecord.id == OutcomeCollector.outcome_id).where(
            OutcomeRecord.case_id.in_(ids)).order_by(OutcomeCollector.position)):
        crew.setdefault(oc.outcome_id, []).append(oc.collector_id)
    for o in recs:
        if o.id in superseded:
            continue
        t = local_time(o)
        times[o.id] = t
        outcomes[o.case_id].append(PastOutcome(o.id, o.code, t, tuple(crew.get(o.id, ())),
                                               o.amount, o.new_address, o.note))
    promises: dict[str, list[PastPromise]] = {i: [] for i in ids}
    for p in session.scalars(select(PromiseRecord).where(PromiseRecord.case_id.in_(ids))
                             .order_by(PromiseRecord.outcome_id, PromiseRecord.seq)):
        if p.outcome_id in times:
            promises[p.case_id].append(PastPromise(p.outcome_id, times[p.outcome_id], p.seq,
                                                   p.of_count, p.due_date, p.amount))
    payments: dict[str, list[PastPayment]] = {i: [] for i in ids}
    for pay in session.scalars(select(PaymentRecord).where(PaymentRecord.case_id.in_(ids))
                               .order_by(PaymentRecord.paid_at)):
        if pay.outcome_id in times:
            payments[pay.case_id].append(PastPayment(pay.outcome_id, times[pay.outcome_id],
                                                     pay.amount))
    return {i: CaseHistory(
        case=case_of(r), status=r.status, closed_reason=r.closed_reason, closed_at=r.closed_at,
        opened_at=r.opened_at, amount_changed_at=r.amount_changed_at,
        address_changed_at=r.address_changed_at, outcomes=tuple(outcomes[i]),
        promises=tuple(promises[i]), payments=tuple(payments[i])) for i, r in rows.items()}


# --------------------------------------------------------------------------- what it teaches


@dataclass(frozen=True)
class Exclusion:
    """Why a case must not be planned: a machine code and a sentence for the dispatcher."""

    reason_code: str
    reason: str


@dataclass(frozen=True)
class PromiseState:
    """The case's current promise (or instalment): ``open``, ``kept`` or ``broken``."""

    status: str
    due_date: date
    amount: float
    seq: int
    of_count: int
    paid: float  # paid towards the schedule so far
    visit_from: date  # the first day a visit is due if it is not paid


@dataclass(frozen=True)
class Learned:
    """What the plan uses for one case."""

    case: Case  # the effective case: amount, last visit, promise, skill
    exclusion: Exclusion | None = None
    promise: PromiseState | None = None
    misses: Mapping[str, int] = field(default_factory=dict)  # not-home visits per day part
    window_factors: Mapping[str, float] = field(default_factory=dict)  # value factor per part
    notes: tuple[str, ...] = ()  # other changes made, in words

    @property
    def planned(self) -> bool:
        return self.exclusion is None

    def factor(self, part: str) -> float:
        return self.window_factors.get(part, 1.0)


def money(x: float) -> str:
    """``2,000`` or ``1,999.50``."""
    return f"{x:,.0f}" if abs(x - round(x)) < _CENT else f"{x:,.2f}"


def day_part(day: date, t_s: float, policy: OutcomePolicy = OutcomePolicy()) -> str:
    """The part of the week a time of day on `day` falls in (`DAY_PARTS`)."""
    if day.weekday() >= 5:
        return "weekend"
    return "weekday_evening" if t_s >= policy.evening_from_s else "weekday_daytime"


def _part_of(t: datetime, policy: OutcomePolicy) -> str:
    return day_part(t.date(), t.hour * 3600 + t.minute * 60 + t.second, policy)


def steer_windows(windows: Sequence[TimeWindow], day: date, factors: Mapping[str, float],
                  policy: OutcomePolicy = OutcomePolicy()) -> tuple[tuple[TimeWindow, float], ...]:
    """A day's windows split at the start of the evening, each with its value factor.

    The routing makes the visit worth ``value * factor`` when it starts in that window.
    """
    out: list[tuple[TimeWindow, float]] = []
    cut = policy.evening_from_s
    for w in windows:
        pieces = ([w] if day.weekday() >= 5 or not w.start_s < cut <= w.end_s
                  else [TimeWindow(w.start_s, cut - 1), TimeWindow(cut, w.end_s)])
        for p in pieces:
            out.append((p, factors.get(day_part(day, p.start_s, policy), 1.0)))
    return tuple(out)


def _who(o: PastOutcome) -> str:
    return f" by {'+'.join(o.collectors)}" if o.collectors else ""


def _promise_state(h: CaseHistory, plan_date: date, policy: OutcomePolicy,
                   since: datetime | None) -> PromiseState | None:
    made = [p for p in h.promises if p.made_at.date() <= plan_date
            and (since is None or p.made_at >= since)]
    if not made:
        return None
    latest = max(made, key=lambda p: (p.made_at, p.outcome_id)).outcome_id
    schedule = sorted((p for p in made if p.outcome_id == latest), key=lambda p: p.seq)
    start = schedule[0].made_at
    pays = [p for p in h.payments if p.paid_at >= start and p.paid_at.date() <= plan_date]
    grace = timedelta(days=policy.promise_grace_days)
    owed = 0.0
    for p in schedule:
        owed += p.amount
        last_day = p.due_date + grace
        paid = sum(x.amount for x in pays if x.paid_at.date() <= last_day)
        if paid + _CENT >= owed:
            continue
        status = "broken" if plan_date > last_day else "open"
        return PromiseState(status, p.due_date, p.amount, p.seq, p.of_count,
                            sum(x.amount for x in pays), last_day + timedelta(days=1))
    p = schedule[-1]
    return PromiseState("kept", p.due_date, p.amount, p.seq, p.of_count,
                        sum(x.amount for x in pays), p.due_date + grace + timedelta(days=1))


def learn(h: CaseHistory, plan_date: date, policy: OutcomePolicy = OutcomePolicy()) -> Learned:
    """What the plan for `plan_date` uses for this case (the rules of the module docstring)."""
    case = h.case
    known = [o for o in h.outcomes if o.time.date() <= plan_date]
    since = h.opened_at
    cycle = [o for o in known if since is None or o.time >= since]
    notes: list[str] = []

    # the effective case: last visit, amount, promise
    visits = [o for o in known if CODES[o.code].is_visit]
    last_visit = case.last_visit_date
    if visits:
        day = visits[-1].time.date()
        last_visit = day if last_visit is None or day > last_visit else last_visit
    after = h.amount_changed_at
    unseen = [p for p in h.payments if p.paid_at.date() <= plan_date
              and (after is None or p.paid_at >= after) and (since is None or p.paid_at >= since)]
    amount = case.amount_overdue
    if unseen:
        paid = sum(p.amount for p in unseen)
        amount = max(0.0, amount - paid)
        notes.append(f"overdue {money(case.amount_overdue)} less {money(paid)} paid since the "
                     f"export: {money(amount)}")
    promise = _promise_state(h, plan_date, policy, since)
    effective = replace(case, amount_overdue=amount, last_visit_date=last_visit)
    if promise is not None:
        effective = replace(effective, promise_date=promise.due_date,
                            promise_broken=promise.status == "broken")

    def out(code: str, sentence: str, misses: Mapping[str, int] | None = None,
            factors: Mapping[str, float] | None = None) -> Learned:
        return Learned(effective, Exclusion(code, sentence), promise, misses or {},
                       factors or {}, tuple(notes))

    if h.status == "closed":
        if h.closed_reason == "paid":
            pay = next((o for o in reversed(h.outcomes) if o.code == "paid"), None)
            what = f" ({money(pay.amount)})" if pay is not None and pay.amount else ""
            when = (pay.time if pay is not None else h.closed_at)
            on = f" on {when.date().isoformat()}" if when is not None else ""
            return out("closed_paid", f"paid in full{what}{on}; the case is closed")
        on = f" on {h.closed_at.date().isoformat()}" if h.closed_at is not None else ""
        return out("closed", f"not in the latest case export (closed{on}); a later export "
                             "that lists it reopens it")

    reports = [o for o in known if CODES[o.code].kind == "address"
               and (h.address_changed_at is None or o.time > h.address_changed_at)]
    if reports:
        r = reports[-1]
        what = "moved" if r.code == "moved" else "a wrong address"
        new = (f"; new address (unverified): '{r.new_address}'" if r.new_address
               else "; no new address known")
        return out("address_unverified",
                   f"reported {what} on {r.time.date().isoformat()}{_who(r)}{new}; correct the "
                   "address in the store to plan a visit")

    reached = [o for o in cycle if CODES[o.code].reached]
    last = reached[-1] if reached else None
    if last is not None and last.code == "hardship" and policy.hardship_pause_days:
        until = last.time.date() + timedelta(days=policy.hardship_pause_days)
        if plan_date < until:
            note = f" ('{last.note}')" if last.note else ""
            return out("hardship_pause",
                       f"hardship reported on {last.time.date().isoformat()}{note}; visits "
                       f"paused for {policy.hardship_pause_days} days, allowed again from "
                       f"{until.isoformat()}")
    if last is not None and last.code == "refused" and policy.refused_cooldown_days:
        until = last.time.date() + timedelta(days=policy.refused_cooldown_days)
        if plan_date < until:
            return out("refused_cooldown",
                       f"the customer refused on {last.time.date().isoformat()}{_who(last)}; "
                       f"the {policy.refused_cooldown_days}-day cooldown allows the next visit "
                       f"from {until.isoformat()}")
    if last is not None and last.code == "dispute":
        if not policy.dispute_skill:
            return out("dispute_open",
                       f"the customer disputes the debt (since {last.time.date().isoformat()}); "
                       "handle the dispute in writing, no visits while it is open")
        effective = replace(effective, skill=policy.dispute_skill)
        notes.append(f"disputed on {last.time.date().isoformat()}: a visitor with the skill "
                     f"'{policy.dispute_skill}' goes")

    if promise is not None and promise.status == "open":
        which = (f"instalment {promise.seq} of {promise.of_count}: "
                 if promise.of_count > 1 else "")
        so_far = f" ({money(promise.paid)} paid so far)" if promise.paid > _CENT else ""
        return out("promise_open",
                   f"{which}promised {money(promise.amount)} on {promise.due_date.isoformat()}"
                   f"{so_far}; due for a visit from {promise.visit_from.isoformat()} if unpaid")
    if promise is not None and promise.status == "broken":
        notes.append(f"promise of {money(promise.amount)} for {promise.due_date.isoformat()} "
                     "broken")

    # not at home: the misses since the customer was last reached or the address changed
    start = max((t for t in (last.time if last else None, h.address_changed_at)
                 if t is not None), default=None)
    misses = [o for o in cycle if o.code == "not_home" and (start is None or o.time > start)]
    per_part: dict[str, int] = {}
    for o in misses:
        part = _part_of(o.time, policy)
        per_part[part] = per_part.get(part, 0) + 1
    factors = {p: policy.not_home_factor ** n for p, n in per_part.items()}
    if len(misses) >= policy.not_home_limit:
        times = ", ".join(o.time.strftime("%Y-%m-%d %H:%M") for o in misses)
        return out("verify_contact",
                   f"not at home at {len(misses)} visits in a row ({times}); verify the address "
                   "or phone before the next visit", per_part, factors)
    if misses:
        notes.append("not at home " + ", ".join(f"{n}x {p.replace('_', ' ')}"
                                                 for p, n in per_part.items()))
    return Learned(effective, None, promise, per_part, factors, tuple(notes))


def learn_all(histories: Mapping[str, CaseHistory], plan_date: date,
              policy: OutcomePolicy = OutcomePolicy()) -> dict[str, Learned]:
    """`learn` for every case."""
    return {i: learn(h, plan_date, policy) for i, h in histories.items()}


def visited_by(session: Session, case_ids: Iterable[str], plan_date: date, until_s: int
               ) -> frozenset[str]:
    """The cases of `case_ids` with an outcome recorded on `plan_date` at or before `until_s`
    (seconds since midnight, device time), ``no_attempt`` excepted (no visit happened): the
    visits done when a day is re-planned at `until_s` (``replan --store``, the API's re-plan).
    """
    done = set()
    for cid, h in load_history(session, list(case_ids)).items():
        for o in h.outcomes:
            t = o.time
            if (o.code != "no_attempt" and t.date() == plan_date
                    and t.hour * 3600 + t.minute * 60 + t.second <= until_s):
                done.add(cid)
    return frozenset(done)


def device_positions(session: Session, case_ids: Iterable[str], plan_date: date,
                     until_s: int) -> dict[str, tuple[float, float]]:
    """case_id -> the device's (lat, lon) recorded with the case's latest outcome on
    `plan_date` at or before `until_s` (device time; corrected outcomes left out, ``no_attempt``
    is no visit), for the cases whose outcome has one: where the visit was made, and so where
    its crew is when the day is re-planned (`optimizer.replan.replan_day`'s ``positions``)."""
    ids = list(case_ids)
    superseded = set(session.scalars(select(OutcomeRecord.supersedes_id).where(
        OutcomeRecord.supersedes_id.is_not(None), OutcomeRecord.case_id.in_(ids))))
    out: dict[str, tuple[float, float]] = {}
    for o in session.scalars(select(OutcomeRecord).where(OutcomeRecord.case_id.in_(ids))
                             .order_by(OutcomeRecord.event_time, OutcomeRecord.id)):
        t = local_time(o)
        if (o.id in superseded or o.code == "no_attempt" or t.date() != plan_date
                or t.hour * 3600 + t.minute * 60 + t.second > until_s):
            continue
        if o.device_lat is not None and o.device_lon is not None:
            out[o.case_id] = (float(o.device_lat), float(o.device_lon))
        else:
            out.pop(o.case_id, None)  # the latest visit has no position: its pin
    return out
