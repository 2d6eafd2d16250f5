"""Plans in the store: each plan a run produced, a new version for its date; the published one
says which collector visits which case.

`record_plan` writes an `optimizer.model.Plan` (routes, their members, stops with planned times
and pins, the cases left out with their reasons) and publishes it unless told not to;
publishing a version supersedes the previous published one of the date. `published_route` and
`published_stop` answer the web app's question: may this collector record an outcome for this
case today? Only for a stop of their own published route.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from optimizer.errors import InputError, Issue
from optimizer.model import Plan
from optimizer.store.audit import log_action, utcnow
from optimizer.store.errors import NotOnRoute
from optimizer.store.tables import (
    PlanRecord,
    PlanRoute,
    PlanRouteMember,
    PlanStop,
    PlanUnassigned,
    StoredCase,
)


@dataclass(frozen=True)
class RecordedPlan:
    plan_id: int
    plan_date: date
    version: int
    published_at: datetime | None


@dataclass(frozen=True)
class PublishedStop:
    """A stop of a published route; times are seconds since midnight of the plan date."""

    plan_id: int
    plan_date: date
    version: int
    route_id: str
    members: tuple[str, ...]
    stop: int
    stop_id: int
    case_id: str
    lat: float
    lon: float
    arrive_s: float
    start_s: float
    depart_s: float
    window_start_s: int
    window_end_s: int


@dataclass(frozen=True)
class PublishedRoute:
    plan_id: int
    plan_date: date
    version: int
    route_id: str
    name: str
    members: tuple[str, ...]
    stops: tuple[PublishedStop, ...]

    def stop_for(self, case_id: str) -> PublishedStop | None:
        return next((s for s in self.stops if s.case_id == case_id), None)


def _json(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return out


def record_plan(session: Session, plan: Plan, *, actor: str, publish: bool = True,
                at: datetime | None = None) -> RecordedPlan:
    """Record `plan` as the next version of its date (published unless ``publish=False``).

    Raises
    ------
    InputError
        A case of the plan is not in the store (import the case list first).
    """
    now = at or utcnow()
    ids = [s.case.case_id for r in plan.routes for s in r.stops] + [
        u.case.case_id for u in plan.unassigned]
    known = set(session.scalars(select(StoredCase.case_id).where(StoredCase.case_id.in_(ids))))
    missing = [i for i in ids if i not in known]
    if missing:
        raise InputError([Issue("plan", 0, f"case_id={i}", "case_id", i,
                                  "the case is not in the store",
                                  "merge the case list into the store before recording the plan")
                          for i in missing])
    last = session.scalar(select(func.max(PlanRecord.version)).where(
        PlanRecord.plan_date == plan.plan_date))
    rec = PlanRecord(plan_date=plan.plan_date, version=(last or 0) + 1, created_at=now,
                     actor=actor, published_at=None,
                     settings=_json(asdict(plan.summary) if plan.summary else {}),
                     cases_total=len(ids),
                     cases_visited=sum(len(r.stops) for r in plan.routes))
    session.add(rec)
    session.flush()
    for r in plan.routes:
        c = r.collector
        route = PlanRoute(plan_id=rec.id, route_id=c.collector_id, name=c.name,
                          shift_start_s=c.shift.start_s, shift_end_s=c.shift.end_s,
                          leave_s=r.leave_s, return_s=r.return_s)
        session.add(route)
        session.flush()
        members = r.members or (c.collector_id,)
        session.add_all(PlanRouteMember(route_pk=route.id, position=k, collector_id=m)
                        for k, m in enumerate(members))
        session.add_all(PlanStop(
            plan_id=rec.id, route_pk=route.id, stop=s.stop, case_id=s.case.case_id, lat=s.lat,
            lon=s.lon, arrive_s=s.arrive_s, start_s=s.start_s, depart_s=s.depart_s,
            window_start_s=s.window.start_s, window_end_s=s.window.end_s, value=s.value)
            for s in r.stops)
    session.add_all(PlanUnassigned(plan_id=rec.id, case_id=u.case.case_id,
                                   reason_code=u.reason_code, reason=u.reason)
                    for u in plan.unassigned)
    log_action(session, actor=actor, action="plan.recorded", at=now, details={
        "plan_id": rec.id, "plan_date": plan.plan_date.isoformat(), "version": rec.version,
        "routes": len(plan.routes), "stops": rec.cases_visited,
        "unassigned": len(plan.unassigned)})
    session.flush()
    if publish:
        publish_plan(session, rec.id, actor=actor, at=now)
    return RecordedPlan(rec.id, rec.plan_date, rec.version, rec.published_at)


def publish_plan(session: Session, plan_id: int, *, actor: str, at: datetime | None = None
                 ) -> None:
    """Publish a recorded plan; the date's previously published version is superseded."""
    now = at or utcnow()
    rec = session.get(PlanRecord, plan_id)
    if rec is None:
        raise InputError([Issue("plan", 0, "", "plan_id", str(plan_id), "no plan with this id",
                                  "give the id of a recorded plan")])
    if rec.published_at is not None and rec.superseded_by_id is None:
        return
    current = published_plan(session, rec.plan_date)
    if current is not None and current.id != rec.id:
        current.superseded_by_id = rec.id
    rec.published_at, rec.superseded_by_id = now, None
    log_action(session, actor=actor, action="plan.published", at=now, details={
        "plan_id": rec.id, "plan_date": rec.plan_date.isoformat(), "version": rec.version,
        "supersedes": current.id if current is not None and current.id != rec.id else None})
    session.flush()


def published_plan(session: Session, plan_date: date) -> PlanRecord | None:
    """The plan in force for a date: the published version not superseded."""
    return session.scalar(select(PlanRecord).where(
        PlanRecord.plan_date == plan_date, PlanRecord.published_at.is_not(None),
        PlanRecord.superseded_by_id.is_(None)).order_by(PlanRecord.version.desc()).limit(1))


def published_route(session: Session, collector_id: str, plan_date: date
                    ) -> PublishedRoute | None:
    """The route `collector_id` makes (alone or in a team) in the plan in force for
    `plan_date`; None when there is none (no published plan, or not on any route)."""
    rec = published_plan(session, plan_date)
    if rec is None:
        return None
    route = session.scalar(select(PlanRoute).join(
        PlanRouteMember, PlanRouteMember.route_pk == PlanRoute.id).where(
        PlanRoute.plan_id == rec.id, PlanRouteMember.collector_id == collector_id))
    if route is None:
        return None
    return _route_of(session, rec, route)


def _route_of(session: Session, rec: PlanRecord, route: PlanRoute) -> PublishedRoute:
    members = tuple(session.scalars(select(PlanRouteMember.collector_id).where(
        PlanRouteMember.route_pk == route.id).order_by(PlanRouteMember.position)))
    stops = tuple(PublishedStop(
        plan_id=rec.id, plan_date=rec.plan_date, version=rec.version, route_id=route.route_id,
        members=members, stop=s.stop, stop_id=s.id, case_id=s.case_id, lat=s.lat, lon=s.lon,
        arrive_s=s.arrive_s, start_s=s.start_s, depart_s=s.depart_s,
        window_start_s=s.window_start_s, window_end_s=s.window_end_s)
        for s in session.scalars(select(PlanStop).where(PlanStop.route_pk == route.id)
                                 .order_by(PlanStop.stop)))
    return PublishedRoute(rec.id, rec.plan_date, rec.version, route.route_id, route.name,
                          members, stops)


@dataclass(frozen=True)
class LeftOut:
    """A case a plan left out, with its reason code and sentence."""

    case_id: str
    reason_code: str
    reason: str


def plan_routes(session: Session, plan_id: int) -> tuple[PublishedRoute, ...]:
    """Every route of a recorded plan, in the order recorded (an empty tuple: no such plan)."""
    rec = session.get(PlanRecord, plan_id)
    if rec is None:
        return ()
    routes = session.scalars(select(PlanRoute).where(PlanRoute.plan_id == rec.id)
                             .order_by(PlanRoute.id))
    return tuple(_route_of(session, rec, r) for r in routes)


def plan_left_out(session: Session, plan_id: int) -> tuple[LeftOut, ...]:
    """The cases a recorded plan left out, with their reasons."""
    return tuple(LeftOut(u.case_id, u.reason_code, u.reason) for u in session.scalars(
        select(PlanUnassigned).where(PlanUnassigned.plan_id == plan_id)
        .order_by(PlanUnassigned.id)))


def published_stop(session: Session, collector_id: str, plan_date: date, case_id: str
                   ) -> PublishedStop:
    """The stop of `case_id` on `collector_id`'s published route for `plan_date`.

    Raises
    ------
    NotOnRoute
        The case is not a stop of that route (or the collector has no published route): the
        collector may not record an outcome for it.
    """
    route = published_route(session, collector_id, plan_date)
    stop = route.stop_for(case_id) if route is not None else None
    if stop is None:
        raise NotOnRoute(f"case {case_id} is not a stop of collector {collector_id}'s "
                         f"published route for {plan_date.isoformat()}")
    return stop
