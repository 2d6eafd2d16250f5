"""The collectors' side: token pages, the bundled assets, and a collector's outcome endpoints.

- ``GET /<token>/`` (with or without the slash): the collector's page, or the dispatcher
  overview behind its own token, checked against the plan's manifest (`optimizer.web.site`);
  with a store, a collector page carries the outcome form's configuration as a JSON block
  (`outcome_config`), which the bundled script reads to add the form. Pages get a CSP that
  allows their own inline scripts by hash (`optimizer.web.security.page_csp`).
- ``GET /assets/...`` and ``/<token>/assets/...``: Leaflet and our script and stylesheet.
- ``POST /<token>/api/outcomes``: record an outcome of a stop of this collector's published
  route for the day of the visit (`record`); ``GET /<token>/api/outcomes``: the outcomes of
  the stops of this collector's route of the plan served. Without a store (the pages alone)
  both answer 403 ``recording_disabled`` (`optimizer.web.deps.recording_store`).

Everything else, any other method included, is an empty 404 (`optimizer.web.app`).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.errors import InputError, Issue
from optimizer.outputs import maps
from optimizer.store.db import Store
from optimizer.store.errors import NotOnRoute
from optimizer.store.events import RecordedOutcome, local_time, record_outcome
from optimizer.store.outcomes import CODES, MAX_TEXT, OutcomeInput, label, parse_outcome
from optimizer.store.plans import PublishedStop, published_route, published_stop
from optimizer.store.tables import OutcomeCollector, OutcomeRecord
from optimizer.web.deps import (
    JsonBody,
    ReadSession,
    WriteSession,
    collector_access,
    get_site,
    json_object,
    optional_store,
    recording_store,
)
from optimizer.web.errors import ApiError, NotFound, body_problem, invalid
from optimizer.web.schemas import ErrorBody, OutcomeOut, StopOutcome, StopOutcomes
from optimizer.web.security import page_csp
from optimizer.web.site import Access, Site

router = APIRouter(include_in_schema=False)

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    "": "text/plain; charset=utf-8",
}
#: the page's outcome form configuration (a JSON block the bundled script reads)
CONFIG_ID = "cr-outcome-config"
#: how far a device's clock may run ahead of the server's
CLOCK_SKEW = timedelta(minutes=10)
#: fields of a phone's outcome the server sets itself
SERVER_SET = ("source", "plan_id")


# --------------------------------------------------------------------------- responses


def _accepts_gzip(request: Request) -> bool:
    accept = request.headers.get("accept-encoding", "")
    return any(part.split(";")[0].strip() == "gzip" for part in accept.split(","))


def _answer(request: Request, body: bytes, content_type: str, *, cache: str,
            headers: dict[str, str] | None = None) -> Response:
    """A body, gzipped for clients that take it when it is text over 1 KiB."""
    out = {"Cache-Control": cache, "Vary": "Accept-Encoding", **(headers or {})}
    if len(body) > 1024 and content_type.startswith("text/") and _accepts_gzip(request):
        body = gzip.compress(body, compresslevel=6, mtime=0)  # weak networks: a quarter
        out["Content-Encoding"] = "gzip"
    return Response(body, media_type=content_type, headers=out)


#: the outcome form's own files (optimizer/web/assets), served beside the map assets
FORM_ASSETS = ("cr-outcomes.js", "cr-outcomes.css", "cr-sw.js")


def form_assets() -> dict[str, bytes]:
    """The outcome form's files by their served path (``assets/<name>``)."""
    here = Path(__file__).with_name("assets")
    return {f"{maps.ASSETS_DIRNAME}/{name}": (here / name).read_bytes() for name in FORM_ASSETS}


def _asset(request: Request, site: Site, rel: str) -> Response:
    data = site.assets.get(rel) or request.app.state.form_assets.get(rel)
    if data is None or rel.endswith("LICENSE"):
        raise NotFound
    kind = CONTENT_TYPES.get(os.path.splitext(rel)[1], CONTENT_TYPES[""])
    return _answer(request, data, kind, cache="public, max-age=3600")


def _js_json(obj: object) -> str:
    """JSON safe inside an HTML ``<script>`` block (no ``</script>``, no ``<!--``)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def outcome_config(store: Store, access: Access, token: str) -> dict[str, Any] | None:
    """What the outcome form needs on a collector's page, or None when the collector has no
    published route for the plan's date in the store (then the page has no form)."""
    if access.collector_id is None or not access.plan_date:
        return None
    with store.reading() as s:
        route = published_route(s, access.collector_id, date.fromisoformat(access.plan_date))
    if route is None:
        return None
    return {
        "api": f"/{token}/api/outcomes",
        "collector": access.collector_id,
        "members": list(route.members),
        "date": route.plan_date.isoformat(),
        "stops": [s.case_id for s in route.stops],
        "max_note": MAX_TEXT["note"],
        "codes": [{"code": c.code, "label": c.label_zh, "label_en": c.label_en,
                   "required": list(c.required), "optional": list(c.optional)}
                  for c in CODES.values()],
    }


def _with_config(page: str, config: dict[str, Any]) -> str:
    """The page with the form's configuration as a JSON block and the form's script and style at
    the end of its body (before
    the page script, which folium writes after ``</body>``; input text in the page is
    escaped, so the first ``</body>`` is the page's own)."""
    block = (f'<script type="application/json" id="{CONFIG_ID}">{_js_json(config)}</script>'
             f'<link rel="stylesheet" href="{maps.ASSETS_DIRNAME}/cr-outcomes.css"/>'
             f'<script src="{maps.ASSETS_DIRNAME}/cr-outcomes.js"></script>')
    return page.replace("</body>", block + "</body>", 1)


# --------------------------------------------------------------------------- pages


@router.api_route("/assets/{rel:path}", methods=["GET", "HEAD"])
def shared_asset(rel: str, request: Request,
                 site: Annotated[Site, Depends(get_site)]) -> Response:
    return _asset(request, site, f"{maps.ASSETS_DIRNAME}/{rel}")


@router.api_route("/{token}/assets/{rel:path}", methods=["GET", "HEAD"])
def token_asset(token: str, rel: str, request: Request,
                site: Annotated[Site, Depends(get_site)]) -> Response:
    if site.access(token) is None:
        raise NotFound
    return _asset(request, site, f"{maps.ASSETS_DIRNAME}/{rel}")


@router.api_route("/{token}", methods=["GET", "HEAD"])
@router.api_route("/{token}/", methods=["GET", "HEAD"])
def page(token: str, request: Request, site: Annotated[Site, Depends(get_site)],
         store: Annotated[Store | None, Depends(optional_store)]) -> Response:
    found = site.page(token)
    if found.status == 503:  # no complete plan in the folder right now
        return Response(b"", status_code=503, media_type="text/plain",
                        headers={"Retry-After": "5"})
    if found.status != 200 or found.access is None:
        raise NotFound
    text = found.body.decode("utf-8")
    config = outcome_config(store, found.access, token) if store is not None else None
    if config is not None:
        text = _with_config(text, config)
    return _answer(request, text.encode("utf-8"), "text/html; charset=utf-8", cache="no-store",
                   headers={"Content-Security-Policy": page_csp(text, connect=config is not None)})


#: the service worker's own policy: it fetches the page and its assets from this server only
SW_CSP = "default-src 'none'; connect-src 'self'; base-uri 'none'"


@router.get("/{token}/cr-sw.js")
def service_worker(token: str, request: Request,
                   access: Annotated[Access, Depends(collector_access)]) -> Response:
    """The page's service worker (scope: ``/<token>/``), for collectors' pages only."""
    body = request.app.state.form_assets[f"{maps.ASSETS_DIRNAME}/cr-sw.js"]
    return Response(body, media_type=CONTENT_TYPES[".js"], headers={
        "Cache-Control": "no-cache", "Content-Security-Policy": SW_CSP})


# --------------------------------------------------------------------------- outcomes


def recorded_out(rec: RecordedOutcome) -> OutcomeOut:
    return OutcomeOut(outcome_id=rec.outcome_id, key=rec.key, case_id=rec.case_id,
                      outcome=rec.code, label=label(rec.code), created=rec.created,
                      event_time=rec.event_time, received_at=rec.received_at,
                      plan_id=rec.plan_id, distance_m=rec.distance_m,
                      far_from_pin=rec.far_from_pin, supersedes=rec.supersedes)


def check_clock(outcome: OutcomeInput) -> None:
    now = datetime.now(UTC)
    if outcome.event_time > now + CLOCK_SKEW:
        raise body_problem("event_time", outcome.event_time.isoformat(),
                           f"is in the future (the server's time is {now:%Y-%m-%d %H:%M} UTC)",
                           "send the time of the visit; check the phone's clock")


def _crew(outcome: OutcomeInput, given: bool, cid: str, stop: PublishedStop) -> OutcomeInput:
    """The collectors present: the route's members by default; given ones must be members
    and include the sender."""
    if not given:
        return dataclasses.replace(outcome, collectors=stop.members)
    strangers = [c for c in outcome.collectors if c not in stop.members]
    if strangers or cid not in outcome.collectors:
        why = (f"{', '.join(strangers)} {'is' if len(strangers) == 1 else 'are'} not on the "
               "route" if strangers else f"leaves out {cid}, who sends it")
        raise invalid([Issue("request body", 0, f"case_id={outcome.case_id}", "collectors",
                             "+".join(outcome.collectors), why,
                             f"list the route's members present ({'+'.join(stop.members)}), "
                             "or leave the field out")])
    return outcome


def _replay(session: Session, outcome: OutcomeInput, actor: str) -> RecordedOutcome | None:
    """A retry of an outcome this collector recorded while the stop was on their route."""
    row = session.scalar(select(OutcomeRecord).where(
        OutcomeRecord.idempotency_key == outcome.key, OutcomeRecord.actor == actor))
    if row is None:
        return None
    return record_outcome(session, outcome, actor=actor)  # same body: the first record


@router.post("/{token}/api/outcomes", status_code=201, response_model=OutcomeOut,
             responses={200: {"model": OutcomeOut}, 403: {"model": ErrorBody},
                        409: {"model": ErrorBody}, 422: {"model": ErrorBody}})
def record(response: Response, access: Annotated[Access, Depends(collector_access)],
           _store: Annotated[Store, Depends(recording_store)], body: JsonBody,
           session: WriteSession) -> OutcomeOut:
    """Record an outcome of a stop of this collector's published route (one transaction)."""
    data = json_object(body)
    cid = access.collector_id
    assert cid is not None
    set_here = [f for f in SERVER_SET if f in data]
    if set_here:
        raise invalid([Issue("request body", 0, "", f, str(data[f]), "is set by the server "
                             "for a collector's outcome", "leave it out") for f in set_here])
    given = "collectors" in data and data["collectors"] not in (None, "", [])
    try:
        outcome = parse_outcome({**data, "collectors": data.get("collectors") or [cid],
                                 "source": "phone"})
    except InputError as exc:
        raise invalid(exc.problems) from None
    check_clock(outcome)
    actor = f"collector:{cid}"
    day = outcome.event_time.date()  # the device's calendar day of the visit
    try:
        stop = published_stop(session, cid, day, outcome.case_id)
    except NotOnRoute as exc:
        replay = _replay(session, outcome, actor)
        if replay is not None:
            response.status_code = 200
            return recorded_out(replay)
        raise ApiError(403, "not_on_route", f"{exc}; a collector records outcomes only for "
                       "the stops of their own published route, on the day of the visit"
                       ) from None
    rec = record_outcome(session, _crew(outcome, given, cid, stop), actor=actor)
    if not rec.created:
        response.status_code = 200
    return recorded_out(rec)


@router.get("/{token}/api/outcomes", response_model=StopOutcomes)
def route_outcomes(access: Annotated[Access, Depends(collector_access)],
                   _store: Annotated[Store, Depends(recording_store)],
                   session: ReadSession) -> StopOutcomes:
    """The outcomes recorded for the stops of this collector's route of the plan served."""
    assert access.collector_id is not None
    day = date.fromisoformat(access.plan_date) if access.plan_date else None
    route = published_route(session, access.collector_id, day) if day else None
    if route is None:
        return StopOutcomes(plan_date=day, outcomes=[])
    stop_ids = [s.stop_id for s in route.stops]
    rows = session.scalars(select(OutcomeRecord).where(OutcomeRecord.plan_stop_id.in_(stop_ids))
                           .order_by(OutcomeRecord.id)).all()
    crew: dict[int, list[str]] = {}
    for oc in session.scalars(select(OutcomeCollector).where(
            OutcomeCollector.outcome_id.in_([r.id for r in rows]))
            .order_by(OutcomeCollector.outcome_id, OutcomeCollector.position)):
        crew.setdefault(oc.outcome_id, []).append(oc.collector_id)
    return StopOutcomes(plan_date=day, outcomes=[StopOutcome(
        outcome_id=r.id, key=r.idempotency_key, case_id=r.case_id, outcome=r.code,
        label=label(r.code), event_time=local_time(r), received_at=r.received_at,
        collectors=crew.get(r.id, []), amount=r.amount, promise_date=r.promise_date,
        instalment_count=r.instalment_count, instalment_first_date=r.instalment_first_date,
        instalment_amount=r.instalment_amount, new_address=r.new_address, note=r.note,
        far_from_pin=r.far_from_pin, supersedes=r.supersedes_id) for r in rows])
