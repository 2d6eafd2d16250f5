"""The lender's HTTP API (``/api/v1``): outcomes in and out, plans, case lists. docs/api.md.

Every route needs an API key (`optimizer.web.deps.api_client`, 401 without one) and the store
(an empty 404 without it). Bodies are read as JSON and checked by the store's own validators
(`optimizer.store.outcomes.parse_outcome`, `optimizer.io.inputs.parse_cases`): the same checks
and messages as the phone, the route sheets and the command line. One transaction per request.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from optimizer.errors import InputError
from optimizer.io.files import records_table
from optimizer.io.inputs import parse_cases
from optimizer.store.apikeys import ApiClient
from optimizer.store.cases import merge_cases
from optimizer.store.events import record_outcome
from optimizer.store.export import outcome_rows
from optimizer.store.outcomes import parse_outcome
from optimizer.store.plans import plan_left_out, plan_routes, published_plan
from optimizer.web.collector import check_clock, recorded_out
from optimizer.web.deps import JsonBody, ReadSession, WriteSession, api_client, json_object
from optimizer.web.errors import NotFound, body_problem, invalid
from optimizer.web.schemas import (
    ErrorBody,
    ImportOut,
    LeftOutCase,
    OutcomeOut,
    OutcomesPage,
    PlanOut,
    RouteOut,
    StopOut,
)
from optimizer.web.settings import EXPORT_PAGE

router = APIRouter(prefix="/api/v1", tags=["lender API"])

Client = Annotated[ApiClient, Depends(api_client)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody}, 413: {"model": ErrorBody}, 415: {"model": ErrorBody},
    422: {"model": ErrorBody}}


@router.post("/outcomes", status_code=201, response_model=OutcomeOut,
             responses={200: {"model": OutcomeOut, "description": "a retry: recorded before"},
                        409: {"model": ErrorBody}, **_ERRORS},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/OutcomeIn"}}}}})
def post_outcome(response: Response, client: Client, body: JsonBody,
                 session: WriteSession) -> OutcomeOut:
    """Record one visit outcome (201; 200 with ``created: false`` for a retry of its key)."""
    data = json_object(body)
    try:
        outcome = parse_outcome({**data, "source": data.get("source") or "api"})
    except InputError as exc:
        raise invalid(exc.problems) from None
    check_clock(outcome)
    rec = record_outcome(session, outcome, actor=client.actor)
    if not rec.created:
        response.status_code = 200
    return recorded_out(rec)


@router.get("/outcomes", response_model=OutcomesPage, responses=_ERRORS)
def list_outcomes(client: Client, session: ReadSession,
                  after_id: Annotated[int, Query(ge=0, description="outcome ids above this")] = 0,
                  limit: Annotated[int, Query(ge=1, le=EXPORT_PAGE)] = EXPORT_PAGE
                  ) -> OutcomesPage:
    """Recorded outcomes, oldest first, a page at a time (the compliance export's columns)."""
    rows = [r for r in outcome_rows(session) if r["outcome_id"] > after_id]
    page = rows[:limit]
    out = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
           for r in page]
    return OutcomesPage(outcomes=out,
                        next_after_id=page[-1]["outcome_id"] if len(rows) > limit else None)


@router.get("/plans/{plan_date}", response_model=PlanOut, responses={404: {
    "description": "no published plan for the date (empty body)"}, **_ERRORS})
def get_plan(plan_date: date, client: Client, session: ReadSession) -> PlanOut:
    """The published plan of a date: routes with their members and stops, the cases left out."""
    rec = published_plan(session, plan_date)
    if rec is None:
        raise NotFound
    return PlanOut(
        plan_id=rec.id, plan_date=rec.plan_date, version=rec.version,
        published_at=rec.published_at,
        routes=[RouteOut(route_id=r.route_id, name=r.name, members=list(r.members), stops=[
            StopOut(stop=s.stop, case_id=s.case_id, lat=s.lat, lon=s.lon, arrive_s=s.arrive_s,
                    start_s=s.start_s, depart_s=s.depart_s, window_start_s=s.window_start_s,
                    window_end_s=s.window_end_s) for s in r.stops])
                for r in plan_routes(session, rec.id)],
        unassigned=[LeftOutCase(case_id=u.case_id, reason_code=u.reason_code, reason=u.reason)
                    for u in plan_left_out(session, rec.id)])


@router.post("/cases", response_model=ImportOut, responses=_ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/CasesIn"}}}}})
def post_cases(client: Client, body: JsonBody, session: WriteSession) -> ImportOut:
    """Merge a case list into the store, as ``collector-routes import`` does."""
    data = json_object(body)
    unknown = sorted(set(data) - {"file_name", "close_missing", "cases"})
    if unknown:
        raise body_problem(unknown[0], data[unknown[0]], "is not a field of a case list",
                           "send file_name, close_missing and cases only")
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        raise body_problem("cases", cases, "is not a list of case objects",
                           "send cases: [{case_id, amount_overdue, days_past_due, ...}]")
    name = data.get("file_name", "api")
    close = data.get("close_missing", True)
    if not isinstance(name, str) or not name.strip():
        raise body_problem("file_name", name, "is not text", "send a name for the import")
    if not isinstance(close, bool):
        raise body_problem("close_missing", close, "is not true or false",
                           "send true (a full list) or false (a partial list)")
    try:
        parsed = parse_cases(records_table("cases", cases))
    except InputError as exc:
        raise invalid(exc.problems, "the case list") from None
    digest = hashlib.sha256(json.dumps(cases, sort_keys=True, ensure_ascii=False)
                            .encode("utf-8")).hexdigest()
    report = merge_cases(session, parsed, file_name=name.strip(), sha256=digest,
                         actor=client.actor, close_missing=close)
    return ImportOut(import_id=report.import_id, repeat_of=report.repeat_of,
                     counts=report.counts(), added=list(report.added),
                     updated=list(report.updated), closed=list(report.closed),
                     reopened=list(report.reopened), unchanged=list(report.unchanged),
                     stale=list(report.stale))
