"""The lender's HTTP API (``/api/v1``): outcomes in and out, plans, case lists, re-planning
the served day. docs/api.md.

Every route needs an API key (`optimizer.web.deps.api_client`, 401 without one) and the store
(an empty 404 without it). Bodies are read as JSON and checked by the store's own validators
(`optimizer.store.outcomes.parse_outcome`, `optimizer.io.inputs.parse_cases`): the same checks
and messages as the phone, the route sheets and the command line. One transaction per request.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from optimizer import options as opt
from optimizer.errors import CollectorRoutesError, InputError, Issue
from optimizer.io.files import records_table
from optimizer.io.inputs import DEMO_COLLECTORS, parse_cases, read_collectors
from optimizer.io.published import PlanFolderError, PublishedDay, read_published
from optimizer.outputs.tables import changes_json
from optimizer.outputs.write import write_replanned
from optimizer.replan import replan_day
from optimizer.settings import build_settings, option_defaults, parse_options
from optimizer.store.apikeys import ApiClient
from optimizer.store.cases import URGENT_IMPORT, cases_by_id, merge_cases
from optimizer.store.db import Store
from optimizer.store.events import record_outcome
from optimizer.store.export import outcome_rows
from optimizer.store.history import device_positions, visited_by
from optimizer.store.outcomes import parse_outcome
from optimizer.store.plans import plan_left_out, plan_routes, published_plan, record_plan
from optimizer.web.collector import check_clock, recorded_out
from optimizer.web.deps import (
    JsonBody,
    ReadSession,
    WriteSession,
    api_client,
    get_store,
    json_object,
)
from optimizer.web.errors import ApiError, NotFound, body_problem, invalid
from optimizer.web.schemas import (
    ErrorBody,
    ImportOut,
    LeftOutCase,
    OutcomeOut,
    OutcomesPage,
    PlanOut,
    ReplanOut,
    RouteOut,
    StopOut,
)
from optimizer.web.settings import EXPORT_PAGE, WebSettings
from optimizer.web.site import Site

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


#: the fields of a re-plan request (docs/api.md)
REPLAN_FIELDS = ("at", "absent", "urgent", "time_limit_s", "max_solutions", "change_cost")


def _replan_options(data: dict[str, Any], day: PublishedDay) -> dict[str, Any]:
    """The re-plan request's options, checked: every problem at once (a 422 naming each)."""
    issues: list[Issue] = []

    def bad(name: str, value: object, message: str, fix: str) -> None:
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        issues.append(Issue("request body", 0, "", name, shown[:80], message, fix))

    for name in sorted(set(data) - set(REPLAN_FIELDS)):
        bad(name, data[name], "is not a field of a re-plan", "send " + ", ".join(REPLAN_FIELDS))
    out: dict[str, Any] = {"absent": (), "urgent": (), "time_limit_s": None,
                           "max_solutions": None, "change_cost": None}
    try:
        out["at_s"] = opt.clock_time(data.get("at"))
    except opt.Bad as exc:
        bad("at", data.get("at"), exc.message, exc.fix or "send the time as HH:MM")
    absent = data.get("absent", [])
    if not isinstance(absent, list) or not all(isinstance(x, str) for x in absent):
        bad("absent", absent, "is not a list of collector ids", 'send e.g. ["K03"]')
    else:
        unknown = [x for x in absent if x not in day.collectors]
        if unknown:
            bad("absent", " ".join(unknown), "no collector of the published plan has this id",
                "send ids of the plan's collectors: " + ", ".join(sorted(day.collectors)))
        out["absent"] = tuple(absent)
    urgent = data.get("urgent", [])
    if not isinstance(urgent, list):
        bad("urgent", urgent, "is not a list of case objects",
            "send urgent: [{case_id, amount_overdue, days_past_due, lat, lon, windows, ...}]")
    elif urgent:
        try:
            out["urgent"] = parse_cases(records_table("urgent", urgent))
        except InputError as exc:
            issues += exc.problems
    for name, lo, whole in (("time_limit_s", 1.0, False), ("max_solutions", 1, True),
                            ("change_cost", 0.0, False)):
        v = data.get(name)
        if v is None:
            continue
        if (isinstance(v, bool) or not isinstance(v, int | float) or (whole and not
                                                                      isinstance(v, int))
                or v < lo):
            bad(name, v, f"is not a {'whole ' if whole else ''}number >= {lo}",
                f"send {name} as a number >= {lo}, or leave it out")
        else:
            out[name] = v
    if issues:
        raise invalid(issues)
    return out


@router.post("/replan", response_model=ReplanOut,
             responses={409: {"model": ErrorBody}, 503: {"model": ErrorBody}, **_ERRORS},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/ReplanIn"}}}}})
def post_replan(request: Request, client: Client, body: JsonBody,
                store: Annotated[Store, Depends(get_store)]) -> ReplanOut:
    """Re-plan the rest of the served day from ``at``, as ``collector-routes replan --store``
    does: the visits with an outcome recorded by then are kept, absent collectors stop, urgent
    cases are added. The served folder is replaced (same links; each collector page says
    "Updated at HH:MM" and what changed on its route) and the new version is published."""
    site: Site = request.app.state.site
    lock: threading.Lock = request.app.state.replan_lock
    data = json_object(body)
    try:
        day = read_published(site.plan_dir)
    except PlanFolderError:
        raise ApiError(503, "unavailable", "no complete plan in the served folder right now; "
                       "send again in a moment", headers={"Retry-After": "5"}) from None
    o = _replan_options(data, day)
    if not lock.acquire(blocking=False):
        raise ApiError(409, "busy", "another re-plan of this day is running; send again when "
                       "it has answered")
    try:
        with store.reading() as s:
            rec = published_plan(s, day.plan_date)
            if rec is None:
                raise body_problem("at", data.get("at"), "the store has no published plan for "
                                   f"{day.plan_date.isoformat()}, the served day",
                                   "plan the day with --store, then serve it")
            # the cases the published day was planned from: its stops and the cases left out
            ids = ([x.case_id for r in plan_routes(s, rec.id) for x in r.stops]
                   + [u.case_id for u in plan_left_out(s, rec.id)])
            cases = cases_by_id(s, ids)
            stops = [x.case_id for r in day.routes for x in r.stops]
            done = visited_by(s, stops, day.plan_date, o["at_s"])
            positions = device_positions(s, stops, day.plan_date, o["at_s"])
        web: WebSettings = request.app.state.settings
        values: dict[str, object] = {"policy": day.policy or "china"}
        if o["time_limit_s"] is not None:
            values["time_limit"] = o["time_limit_s"]
        if o["max_solutions"] is not None:
            values["max_solutions"] = o["max_solutions"]
        if web.cache_dir is not None:
            values["cache_dir"] = web.cache_dir
        parsed, _ = parse_options(values)
        settings, _ = build_settings(parsed, base=option_defaults())
        collectors = read_collectors(web.collectors_file or DEMO_COLLECTORS)
        try:
            result = replan_day(day, cases, collectors, settings, at_s=o["at_s"], done=done,
                                absent=o["absent"], urgent=o["urgent"],
                                change_cost=o["change_cost"], positions=positions)
        except InputError:
            raise
        except CollectorRoutesError as exc:
            raise body_problem("at", data.get("at"), str(exc), "see the message") from None
        updated_at = datetime.now().astimezone().strftime("%H:%M")
        # recorded and written in one transaction: either the store publishes the day the
        # folder shows, or neither changes (on SQLite the other writers wait meanwhile)
        writers: threading.Lock | None = request.app.state.write_lock
        with writers or contextlib.nullcontext(), store.session() as s:
            if o["urgent"]:  # the urgent cases join the store (a partial list: none closed)
                merge_cases(s, o["urgent"], file_name=URGENT_IMPORT, actor=client.actor,
                            sha256=hashlib.sha256(json.dumps(
                                data["urgent"], sort_keys=True, ensure_ascii=False)
                                .encode("utf-8")).hexdigest(), close_missing=False)
            recorded = record_plan(s, result.plan, actor=client.actor)
            write_replanned(result, site.plan_dir, updated_at=updated_at)
    finally:
        lock.release()
    return ReplanOut(**changes_json(result, updated_at=updated_at),
                     plan_id=recorded.plan_id, version=recorded.version)
