"""Record the outcomes of a filled route workbook or an outcome CSV (``outcomes import``).

`record_outcome_file` takes what `optimizer.io.outcomes.read_outcome_file` read and records
every outcome in the caller's transaction (one ``with store.session()`` block for the file: all
of it or nothing). Who made a visit comes from the store's published plan for the visit's day:
a route sheet names its route (the crew id in its title), a CSV row is matched to the route
whose stop the case was. Every row is checked before anything is written, and every problem is
raised at once (`InputError`): a case the store does not hold, a day without a published plan,
a route or stop that plan does not have; each names the file, sheet, row, case id, field, value
and the fix.

Importing a file again records nothing new and says so (``repeated``): a row's idempotency key
is its day, route and case (`OutcomeRow.key`). A row whose cells changed since it was imported
is recorded as a correction of the outcome it replaces (a new outcome that ``supersedes`` it,
``corrected``); the one replaced stays in the store.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import date, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.errors import InputError, Issue
from optimizer.io.outcomes import OutcomeFile, OutcomeRow
from optimizer.store.events import RecordedOutcome, as_recorded, record_outcome, stored_input
from optimizer.store.outcomes import OutcomeInput
from optimizer.store.plans import published_plan
from optimizer.store.tables import (
    OutcomeRecord,
    PlanRecord,
    PlanRoute,
    PlanRouteMember,
    PlanStop,
    StoredCase,
)


@dataclass(frozen=True)
class OutcomeImport:
    """What importing one outcome file did.

    ``recorded``: new outcomes; ``corrected``: new outcomes that correct one recorded from an
    earlier import of the same row; ``repeated``: rows recorded before exactly as they are now
    (nothing written); ``blank``: stops left without an outcome (sheet, row, case id).
    """

    file_name: str
    kind: str
    recorded: tuple[RecordedOutcome, ...] = ()
    corrected: tuple[RecordedOutcome, ...] = ()
    repeated: tuple[RecordedOutcome, ...] = ()
    blank: tuple[tuple[str, int, str], ...] = ()

    def counts(self) -> dict[str, int]:
        return {"recorded": len(self.recorded), "corrected": len(self.corrected),
                "repeated": len(self.repeated), "blank": len(self.blank)}

    def by_code(self) -> dict[str, int]:
        """New outcomes (recorded and corrections) per code."""
        out: dict[str, int] = {}
        for r in (*self.recorded, *self.corrected):
            out[r.code] = out.get(r.code, 0) + 1
        return dict(sorted(out.items()))


@dataclass(frozen=True)
class _Visit:
    """Where a row's visit sits in the store: the plan, and who made it."""

    plan_id: int
    collectors: tuple[str, ...]


def _members(session: Session, route_pk: int) -> tuple[str, ...]:
    return tuple(session.scalars(select(PlanRouteMember.collector_id).where(
        PlanRouteMember.route_pk == route_pk).order_by(PlanRouteMember.position)))


def _issue(row: OutcomeRow, field: str, value: str, message: str, fix: str) -> Issue:
    return Issue(row.where, row.row, f"case_id={row.case_id}", field, value, message, fix)


def _visit(session: Session, row: OutcomeRow, plans: dict[date, PlanRecord | None]
           ) -> _Visit | Issue:
    """The published plan and crew of a row's visit, or the problem why there is none."""
    day = row.visit_date
    if day not in plans:
        plans[day] = published_plan(session, day)
    plan = plans[day]
    if plan is None:
        field = "title" if row.sheet else "visit_date"
        return _issue(row, field, day.isoformat(), f"the store has no published plan for "
                      f"{day.isoformat()}, so it cannot tell who made the visit",
                      "plan that day with --store (the plan is recorded and published), or "
                      "check the date")
    if row.sheet:
        route = session.scalar(select(PlanRoute).where(PlanRoute.plan_id == plan.id,
                                                       PlanRoute.route_id == row.route_id))
        if route is None:
            return _issue(row, "title", row.route_id, f"the plan published for "
                          f"{day.isoformat()} (#{plan.id}) has no route {row.route_id}",
                          "import the route sheets of the plan published for that day")
        stop = session.scalar(select(PlanStop.id).where(PlanStop.route_pk == route.id,
                                                        PlanStop.case_id == row.case_id))
        if stop is None:
            return _issue(row, "Case", row.case_id, f"the case is not a stop of route "
                          f"{row.route_id} in the plan published for {day.isoformat()} "
                          f"(#{plan.id})", "keep the case ids plan wrote on the sheet")
        return _Visit(plan.id, _members(session, route.id))
    route_pk = session.scalar(select(PlanStop.route_pk).where(PlanStop.plan_id == plan.id,
                                                              PlanStop.case_id == row.case_id))
    if route_pk is None:
        return _issue(row, "case_id", row.case_id, f"the case is not a stop of the plan "
                      f"published for {day.isoformat()} (#{plan.id}), so the store cannot tell "
                      "who visited", "check the case id and the visit_date")
    return _Visit(plan.id, _members(session, route_pk))


def _content(outcome: OutcomeInput) -> str:
    """What a row says, without its key and the outcome it corrects."""
    body = {k: v for k, v in outcome.body().items() if k not in ("key", "supersedes")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


def _newest(session: Session, first: OutcomeRecord) -> OutcomeRecord:
    """The last correction of an outcome (itself if it was never corrected)."""
    row = first
    while True:
        newer = session.scalar(select(OutcomeRecord).where(
            OutcomeRecord.supersedes_id == row.id))
        if newer is None:
            return row
        row = newer


def record_outcome_file(session: Session, outcomes: OutcomeFile, *, tz: tzinfo, actor: str
                        ) -> OutcomeImport:
    """Record every outcome of a read file (see the module docstring).

    Parameters
    ----------
    outcomes
        The file as `read_outcome_file` read it.
    tz
        The city's time zone: a visit happened at its planned start (route sheets) or at noon
        (a CSV) of its day, on that clock.
    actor
        Who imports, for the audit log (``sheet:routes.xlsx``).

    Raises
    ------
    InputError
        Every row the store cannot place, at once, after the problems of the rows the file
        reader could not read (`OutcomeFile.problems`); nothing is recorded then.
    """
    problems: list[Issue] = list(outcomes.problems)
    known = set(session.scalars(select(StoredCase.case_id).where(
        StoredCase.case_id.in_([r.case_id for r in outcomes.rows]))))
    plans: dict[date, PlanRecord | None] = {}
    ready: list[OutcomeInput] = []
    for row in outcomes.rows:
        if row.case_id not in known:
            problems.append(_issue(row, "Case" if row.sheet else "case_id", row.case_id,
                                   "no case with this id in the store",
                                   "import the case list first (collector-routes import), "
                                   "or check the id"))
            continue
        visit = _visit(session, row, plans)
        if isinstance(visit, Issue):
            problems.append(visit)
            continue
        ready.append(row.to_input(collectors=visit.collectors, tz=tz, plan_id=visit.plan_id))
    if problems:
        # in the order of the file: sheet by sheet, row by row
        raise InputError(sorted(problems, key=lambda p: (p.file, p.row)))
    recorded: list[RecordedOutcome] = []
    corrected: list[RecordedOutcome] = []
    repeated: list[RecordedOutcome] = []
    for outcome in ready:
        first = session.scalar(select(OutcomeRecord).where(
            OutcomeRecord.idempotency_key == outcome.key))
        if first is None:
            recorded.append(record_outcome(session, outcome, actor=actor))
            continue
        newest = _newest(session, first)
        if _content(stored_input(session, newest)) == _content(outcome):
            repeated.append(as_recorded(newest))
            continue
        fix = replace(outcome, key=f"{outcome.key}~{_content(outcome)[:12]}",
                      supersedes=newest.id)
        done = record_outcome(session, fix, actor=actor)
        (corrected if done.created else repeated).append(done)
    return OutcomeImport(outcomes.name, outcomes.kind, tuple(recorded), tuple(corrected),
                         tuple(repeated), outcomes.blank)
