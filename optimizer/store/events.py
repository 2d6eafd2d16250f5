"""Record what happened in the field: outcomes, and a dispatcher's address corrections.

`record_outcome` writes a validated outcome (`optimizer.store.outcomes.parse_outcome`), the
rows it implies (its promises, its payment, the case closed by ``paid``, the case reopened by
a correction of a ``paid``) and an audit entry, all in the caller's transaction: one
``with store.session()`` block per outcome, so an acknowledged outcome is a committed one.

It is idempotent on the outcome's key: a retry with the same body returns the first record and
writes nothing; another body under a used key raises `OutcomeConflict`. Two requests racing
with one key (two server workers, a phone retrying while the first request still runs) are
settled by the unique key: the loser's insert fails inside a savepoint and it returns the
winner's record.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from optimizer.errors import InputError, Issue
from optimizer.store.audit import log_action, utcnow
from optimizer.store.cases import add_version
from optimizer.store.errors import OutcomeConflict
from optimizer.store.outcomes import OutcomeInput, OutcomeResult
from optimizer.store.plans import published_plan
from optimizer.store.tables import (
    AddressCorrection,
    OutcomeCollector,
    OutcomeRecord,
    PaymentRecord,
    PlanRecord,
    PlanStop,
    PromiseRecord,
    StoredCase,
)

log = logging.getLogger(__name__)

#: a device farther than this from the case's pin is flagged (metres)
FAR_FROM_PIN_M = 500.0
EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class RecordedOutcome:
    """An outcome as the store holds it; ``created`` is False for a retry of a recorded one."""

    outcome_id: int
    key: str
    case_id: str
    code: str
    created: bool
    event_time: datetime
    received_at: datetime
    plan_id: int | None
    plan_stop_id: int | None
    distance_m: float | None
    far_from_pin: bool | None
    supersedes: int | None


def local_time(row: OutcomeRecord) -> datetime:
    """The outcome's time on the device's clock (aware, with the device's offset)."""
    tz = timezone(timedelta(minutes=row.event_utc_offset_min))
    return row.event_time.astimezone(tz)


def _recorded(row: OutcomeRecord, created: bool) -> RecordedOutcome:
    return RecordedOutcome(
        outcome_id=row.id, key=row.idempotency_key, case_id=row.case_id, code=row.code,
        created=created, event_time=local_time(row), received_at=row.received_at,
        plan_id=row.plan_id, plan_stop_id=row.plan_stop_id, distance_m=row.distance_m,
        far_from_pin=row.far_from_pin, supersedes=row.supersedes_id)


def as_recorded(row: OutcomeRecord) -> RecordedOutcome:
    """A stored outcome as a `RecordedOutcome` (``created`` False: it was there before)."""
    return _recorded(row, created=False)


def stored_input(session: Session, row: OutcomeRecord) -> OutcomeInput:
    """The `OutcomeInput` a stored outcome was recorded from."""
    collectors = session.scalars(select(OutcomeCollector.collector_id).where(
        OutcomeCollector.outcome_id == row.id).order_by(OutcomeCollector.position)).all()
    result = OutcomeResult(
        code=row.code, amount=row.amount, promise_date=row.promise_date,
        instalment_count=row.instalment_count, instalment_first_date=row.instalment_first_date,
        instalment_amount=row.instalment_amount, new_address=row.new_address, note=row.note)
    return OutcomeInput(
        key=row.idempotency_key, case_id=row.case_id, result=result,
        collectors=tuple(collectors), event_time=local_time(row), source=row.source,
        plan_id=row.plan_id, device_lat=row.device_lat,
        device_lon=row.device_lon, device_accuracy_m=row.device_accuracy_m,
        supersedes=row.supersedes_id)


def _same_or_conflict(session: Session, row: OutcomeRecord, outcome: OutcomeInput
                      ) -> RecordedOutcome:
    if row.body_sha256 == outcome.digest():
        return _recorded(row, created=False)
    before, after = stored_input(session, row).body(), outcome.body()
    # (a plan the store linked by itself is no difference of the bodies)
    diff = tuple(k for k in after if before.get(k) != after[k]
                 and not (k == "plan_id" and after[k] is None))
    raise OutcomeConflict(outcome.key, row.id, diff or ("plan_id",))


def _problem(outcome: OutcomeInput, f: str, value: object, message: str, fix: str) -> InputError:
    return InputError([Issue("outcome", 0, f"case_id={outcome.case_id}", f, str(value),
                               message, fix)])


def _plan_stop(session: Session, outcome: OutcomeInput) -> tuple[int | None, PlanStop | None]:
    """The planned stop of the visit: in the plan the outcome names, else in the plan in force
    for the visit's day (its device date), if the case is a stop of it."""
    if outcome.plan_id is not None:
        if session.get(PlanRecord, outcome.plan_id) is None:
            raise _problem(outcome, "plan_id", outcome.plan_id, "no plan with this id",
                           "give the id of a plan recorded in the store, or leave it out")
        stop = session.scalar(select(PlanStop).where(PlanStop.plan_id == outcome.plan_id,
                                                     PlanStop.case_id == outcome.case_id))
        if stop is None:
            raise _problem(outcome, "plan_id", outcome.plan_id,
                           f"case {outcome.case_id} is not a stop of plan {outcome.plan_id}",
                           "give the plan whose route had the visit, or leave it out")
        return outcome.plan_id, stop
    rec = published_plan(session, outcome.event_time.date())
    if rec is None:
        return None, None
    stop = session.scalar(select(PlanStop).where(PlanStop.plan_id == rec.id,
                                                 PlanStop.case_id == outcome.case_id))
    return (rec.id, stop) if stop is not None else (None, None)


def record_outcome(session: Session, outcome: OutcomeInput, *, actor: str,
                   received_at: datetime | None = None,
                   far_from_pin_m: float = FAR_FROM_PIN_M) -> RecordedOutcome:
    """Record one outcome with its promises, payment, case change and audit entry.

    Parameters
    ----------
    outcome
        A validated outcome (`parse_outcome`, or built by a reader).
    actor
        Who sends it, for the audit log (``collector:C01``, ``sheet:routes.xlsx``,
        ``api:<client>``, ``console:<user>``).
    received_at
        The server's time of receipt (default now).
    far_from_pin_m
        A device position farther than this from the case's pin is flagged.

    Raises
    ------
    OutcomeConflict
        The key was used for another outcome.
    InputError
        The case is unknown, the plan does not have the case as a stop, or the outcome it
        corrects is unknown, of another case or corrected already.
    """
    existing = session.scalar(select(OutcomeRecord).where(
        OutcomeRecord.idempotency_key == outcome.key))
    if existing is not None:
        return _same_or_conflict(session, existing, outcome)
    case = session.get(StoredCase, outcome.case_id)
    if case is None:
        raise _problem(outcome, "case_id", outcome.case_id, "no case with this id in the store",
                       "import the case list first, or check the id")
    old: OutcomeRecord | None = None
    if outcome.supersedes is not None:
        old = session.get(OutcomeRecord, outcome.supersedes)
        if old is None or old.case_id != outcome.case_id:
            raise _problem(outcome, "supersedes", outcome.supersedes,
                           f"no outcome #{outcome.supersedes} of case {outcome.case_id}",
                           "give the id of the outcome of this case that is corrected")
        newer = session.scalar(select(OutcomeRecord.id).where(
            OutcomeRecord.supersedes_id == old.id))
        if newer is not None:
            raise _problem(outcome, "supersedes", outcome.supersedes,
                           f"outcome #{old.id} is corrected already by #{newer}",
                           f"correct the newest outcome (#{newer}) instead")
    plan_id, stop = _plan_stop(session, outcome)
    dist: float | None = None
    if outcome.device_lat is not None and outcome.device_lon is not None:
        pin = ((case.lat, case.lon) if case.lat is not None and case.lon is not None
               else (stop.lat, stop.lon) if stop is not None else None)
        if pin is not None and pin[0] is not None and pin[1] is not None:
            dist = distance_m(outcome.device_lat, outcome.device_lon, pin[0], pin[1])
    received = received_at or utcnow()
    offset = outcome.event_time.utcoffset() or timedelta(0)
    r = outcome.result
    row = OutcomeRecord(
        idempotency_key=outcome.key, body_sha256=outcome.digest(), case_id=outcome.case_id,
        code=r.code, event_time=outcome.event_time,
        event_utc_offset_min=int(offset.total_seconds() // 60), received_at=received,
        plan_id=plan_id, plan_stop_id=stop.id if stop is not None else None,
        device_lat=outcome.device_lat, device_lon=outcome.device_lon,
        device_accuracy_m=outcome.device_accuracy_m, distance_m=dist,
        far_from_pin=(dist > far_from_pin_m) if dist is not None else None,
        note=r.note, amount=r.amount, promise_date=r.promise_date,
        instalment_count=r.instalment_count, instalment_first_date=r.instalment_first_date,
        instalment_amount=r.instalment_amount, new_address=r.new_address,
        source=outcome.source, actor=actor, supersedes_id=outcome.supersedes)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        # another transaction recorded the key (or corrected the same outcome) first
        winner = session.scalar(select(OutcomeRecord).where(
            OutcomeRecord.idempotency_key == outcome.key))
        log.info("outcome key %r: recorded by another request first", outcome.key)
        if winner is None:
            raise _problem(outcome, "supersedes", outcome.supersedes,
                           "the outcome was corrected by another request just now",
                           "reload the case's outcomes and correct the newest") from None
        return _same_or_conflict(session, winner, outcome)
    session.add_all(OutcomeCollector(outcome_id=row.id, position=k, collector_id=c)
                    for k, c in enumerate(outcome.collectors))
    schedule = r.schedule()
    session.add_all(PromiseRecord(outcome_id=row.id, case_id=case.case_id, seq=k,
                                  of_count=len(schedule), due_date=due, amount=amount)
                    for k, (due, amount) in enumerate(schedule, start=1))
    paid = r.payment()
    if paid is not None:
        session.add(PaymentRecord(outcome_id=row.id, case_id=case.case_id, amount=paid,
                                  paid_at=outcome.event_time))
    change = _case_change(session, case, row, old)
    log_action(session, actor=actor, action="outcome.recorded", case_id=case.case_id,
               at=received, details={
                   "outcome_id": row.id, "key": outcome.key, "code": r.code,
                   "collectors": list(outcome.collectors),
                   "event_time": outcome.event_time.isoformat(), "source": outcome.source,
                   "plan_id": plan_id, "supersedes": outcome.supersedes,
                   "case_change": change, "far_from_pin": row.far_from_pin})
    session.flush()
    return _recorded(row, created=True)


def _case_change(session: Session, case: StoredCase, row: OutcomeRecord,
                 old: OutcomeRecord | None) -> str | None:
    """Close a case paid in full; reopen one whose ``paid`` is corrected into something else."""
    if row.code == "paid" and not (case.status == "closed" and case.closed_reason == "paid"):
        case.status, case.closed_reason, case.closed_at = "closed", "paid", row.event_time
        add_version(session, case, "paid", row.received_at, outcome_id=row.id)
        return "closed_paid"
    if (old is not None and old.code == "paid" and row.code != "paid"
            and case.status == "closed" and case.closed_reason == "paid"):
        case.status, case.closed_reason, case.closed_at = "open", None, None
        add_version(session, case, "reopened", row.received_at, outcome_id=row.id)
        return "reopened"
    return None


def correct_address(session: Session, case_id: str, address: str, *, actor: str,
                    lat: float | None = None, lon: float | None = None,
                    outcome_id: int | None = None, note: str = "",
                    at: datetime | None = None) -> AddressCorrection:
    """Correct a case's address (a dispatcher answering a ``wrong_address``/``moved`` report).

    The case gets the address (and the pin, if given; else it is geocoded again); later
    imports that still show the replaced address keep the correction (`merge_cases`).
    """
    case = session.get(StoredCase, case_id)
    problems = []
    if case is None:
        problems.append(Issue("address correction", 0, f"case_id={case_id}", "case_id",
                                case_id, "no case with this id in the store",
                                "check the id, or import the case list first"))
    if not address.strip():
        problems.append(Issue("address correction", 0, f"case_id={case_id}", "address", "",
                                "the corrected address is empty", "give the new address"))
    if (lat is None) != (lon is None):
        problems.append(Issue("address correction", 0, f"case_id={case_id}", "lat/lon",
                                f"{lat}/{lon}", "give both lat and lon, or neither",
                                "leave both out to geocode the new address"))
    if problems or case is None:
        raise InputError(problems)
    now = at or utcnow()
    corr = AddressCorrection(case_id=case_id, address=address.strip(), lat=lat, lon=lon,
                             replaces_address=case.import_address, recorded_at=now,
                             actor=actor, outcome_id=outcome_id, note=note)
    session.add(corr)
    session.flush()
    case.address, case.lat, case.lon = corr.address, lat, lon
    case.address_changed_at = now
    add_version(session, case, "corrected", now, correction_id=corr.id)
    log_action(session, actor=actor, action="address.corrected", case_id=case_id, at=now,
               details={"correction_id": corr.id, "address": corr.address,
                        "replaces": corr.replaces_address, "outcome_id": outcome_id})
    return corr
