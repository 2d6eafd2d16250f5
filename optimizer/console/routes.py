"""The console's HTTP routes: thin (who may, read the form, call the `Desk`, render a page).

Every page answers with the console's Content-Security-Policy (`pages.csp`); every POST form
is checked for its CSRF token before anything else (`auth.check_csrf`); a page asked for
without a session goes to the sign-in page, a POST or a status request without one is a 401,
a role that may not is a 403 (`auth.Refused`, rendered by `refused`).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from optimizer.console import board, pages
from optimizer.console.auth import (
    COOKIE,
    LOGIN_COOKIE,
    LoginLimiter,
    Refused,
    check_csrf,
    require,
    signed_in,
)
from optimizer.console.desk import Desk, Job, plan_settings
from optimizer.errors import InputError, Issue
from optimizer.planning import rules
from optimizer.settings import PlanSettings, next_working_day
from optimizer.store.db import Store
from optimizer.store.users import SignedIn, authenticate, end_session, start_session
from optimizer.web.site import Site

router = APIRouter(include_in_schema=False)

ASSETS = Path(__file__).with_name("assets")
STATIC = {"console.js": "text/javascript; charset=utf-8",
          "console.css": "text/css; charset=utf-8"}


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status,
                        headers={"Content-Security-Policy": pages.csp()})


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _defaults(desk: Desk) -> dict[str, str]:
    return {"date": next_working_day().isoformat(),
            "time_limit": f"{desk.settings.time_limit_s:g}",
            "policies": ",".join(rules.PRESETS)}


def refused(request: Request, exc: Refused) -> Response:
    """401: a page goes to the sign-in page, anything else answers 401; 403/429 as pages."""
    if exc.status == 401 and request.method in ("GET", "HEAD") and not (
            request.url.path.startswith("/console/api/")):
        return see("/")
    if request.url.path.startswith("/console/api/"):
        return JSONResponse({"error": "refused", "message": exc.message}, status_code=exc.status)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
    resp = html(pages.error(exc.status, exc.message), exc.status)
    resp.headers.update(headers)
    return resp


async def _form(request: Request, who: SignedIn | None) -> Any:
    form = await request.form(max_files=2, max_fields=40)
    if who is not None:
        check_csrf(form, who.csrf)
    return form


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --------------------------------------------------------------------------- sign in


def _sign_in_page(request: Request, note: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    resp = html(pages.sign_in(token, note), status)
    resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path="/",
                    secure=request.app.state.desk.settings.secure_cookies, max_age=3600)
    return resp


@router.get("/")
def home(request: Request) -> Response:
    who = signed_in(request)
    if who is None:
        return _sign_in_page(request)
    return see("/console/day" if who.user.may("plan") else "/console/whatif")


@router.post("/console/login")
async def login(request: Request) -> Response:
    form = await _form(request, None)
    check_csrf(form, request.cookies.get(LOGIN_COOKIE, ""))
    name = str(form.get("username") or "").strip()[:200]
    password = str(form.get("password") or "")[:2048]
    limiter: LoginLimiter = request.app.state.login_limiter
    keys = (f"name:{name.lower()}", f"ip:{_client(request)}")
    wait = limiter.wait_s(keys)
    if wait:
        raise Refused(429, f"too many failed sign-ins; try again in {wait} seconds",
                      retry_after=wait)
    store: Store = request.app.state.store

    def check() -> Any:
        with store.session() as s:
            user = authenticate(s, name, password)
            return start_session(s, user) if user is not None else None

    started = await run_in_threadpool(check)
    if started is None:
        limiter.failed(keys)
        return _sign_in_page(request, "Wrong account name or password.", 401)
    limiter.succeeded(keys)
    resp = see("/")
    settings = request.app.state.desk.settings
    resp.set_cookie(COOKIE, started.secret, httponly=True, samesite="strict", path="/",
                    secure=settings.secure_cookies, max_age=12 * 3600)
    resp.delete_cookie(LOGIN_COOKIE, path="/")
    return resp


@router.post("/console/logout")
async def logout(request: Request) -> Response:
    who = signed_in(request)
    if who is None:
        raise Refused(401, "not signed in")
    await _form(request, who)
    store: Store = request.app.state.store
    with store.session() as s:
        end_session(s, who.secret)
    resp = see("/")
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/console/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        return Response(b"", status_code=404, media_type="text/plain")
    return Response((ASSETS / name).read_bytes(), media_type=STATIC[name],
                    headers={"Cache-Control": "no-cache"})


# --------------------------------------------------------------------------- the day


@router.get("/console/day")
def day_page(request: Request) -> Response:
    who = require(request, "plan")
    desk = _desk(request)
    return html(pages.day(who, desk, _defaults(desk)))


async def _upload(part: Any) -> tuple[str, bytes]:
    if isinstance(part, UploadFile):
        return part.filename or "", await part.read()
    return "", b""


@router.post("/console/day/upload")
async def upload(request: Request) -> Response:
    who = require(request, "plan")
    form = await _form(request, who)
    desk = _desk(request)
    cases = await _upload(form.get("cases"))
    collectors = await _upload(form.get("collectors"))
    settings, problems = pages_settings(desk, form)
    if problems:  # the plan options first: nothing is read or merged with a bad option
        return html(pages.day(who, desk, _defaults(desk), "; ".join(
            str(p) for p in problems), "error"), 422)
    loaded = await run_in_threadpool(desk.load, cases, collectors, actor=who.user.actor)
    if not loaded.ok:
        return html(pages.day(who, desk, _defaults(desk)), 422)
    if form.get("check_only"):
        return html(pages.day(who, desk, _defaults(desk), "Checked; nothing planned yet."))
    job = desk.start_plan(settings, actor=who.user.actor)
    return see(f"/console/jobs/{job.job_id}")


def pages_settings(desk: Desk, form: Any) -> tuple[PlanSettings, list[Issue]]:
    """The plan options of a form (`plan_settings`)."""
    return plan_settings({k: str(v) for k, v in form.items() if isinstance(v, str)},
                         desk.settings)


@router.post("/console/day/accept")
async def accept(request: Request) -> Response:
    """Accept the case rows' problems: plan without those rows, with the defaults."""
    who = require(request, "plan")
    await _form(request, who)
    desk = _desk(request)
    try:
        loaded = await run_in_threadpool(desk.accept, actor=who.user.actor)
    except InputError as exc:
        return html(pages.day(who, desk, _defaults(desk), "; ".join(
            str(p) for p in exc.problems), "error"), 409)
    if not loaded.ok:
        return html(pages.day(who, desk, _defaults(desk)), 422)
    settings, _ = pages_settings(desk, {})
    job = desk.start_plan(settings, actor=who.user.actor)
    return see(f"/console/jobs/{job.job_id}")


@router.post("/console/day/address")
async def fix_address(request: Request) -> Response:
    who = require(request, "plan")
    form = await _form(request, who)
    desk = _desk(request)
    case_id = str(form.get("case_id") or "")
    address = str(form.get("address") or "")
    try:
        lat, lon = pin(case_id, str(form.get("lat") or ""), str(form.get("lon") or ""))
        check = await run_in_threadpool(desk.fix_address, case_id, address,
                                        actor=who.user.actor, lat=lat, lon=lon)
    except InputError as exc:
        return html(pages.day(who, desk, _defaults(desk), "; ".join(
            str(p) for p in exc.problems), "error"), 422)
    return html(pages.day(who, desk, _defaults(desk),
                          f"Saved the address of {case_id} to the store: {check.status}"
                          + (f" ({check.matched})" if check.matched else "")
                          + ". Plan again to use it."))


def pin(case_id: str, lat: str, lon: str) -> tuple[float | None, float | None]:
    """The pin of an address fix (both blank: none; `InputError` naming the field)."""
    if not lat.strip() and not lon.strip():
        return None, None
    out = []
    for name, text, most in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        try:
            v = float(text)
        except ValueError:
            v = float("nan")
        if not -most <= v <= most:
            raise InputError([Issue("address", 0, f"case_id={case_id}", name, text,
                                    f"is not a {'latitude' if name == 'lat' else 'longitude'}",
                                    "place the pin on the map again, or leave both blank")])
        out.append(v)
    return out[0], out[1]


# --------------------------------------------------------------------------- plan


@router.get("/console/plan")
def plan_page(request: Request) -> Response:
    who = require(request, "plan")
    desk = _desk(request)
    return html(pages.plan_form(who, desk, _defaults(desk)))


@router.post("/console/plan")
async def plan(request: Request) -> Response:
    who = require(request, "plan")
    form = await _form(request, who)
    desk = _desk(request)
    settings, problems = pages_settings(desk, form)
    if problems:
        return html(pages.plan_form(who, desk, _defaults(desk),
                                    "; ".join(str(p) for p in problems)), 422)
    try:
        job = desk.start_plan(settings, actor=who.user.actor)
    except InputError as exc:
        return html(pages.plan_form(who, desk, _defaults(desk),
                                    "; ".join(str(p) for p in exc.problems)), 409)
    return see(f"/console/jobs/{job.job_id}")


@router.get("/console/jobs/{job_id}")
def job_page(job_id: str, request: Request) -> Response:
    who = require(request, "plan")
    job = _desk(request).job(job_id)
    if job is None:
        return html(pages.error(404, "no such planning job", who), 404)
    return html(pages.job(who, job))


@router.get("/console/api/jobs/{job_id}")
def job_status(job_id: str, request: Request) -> Response:
    require(request, "whatif")
    job = _desk(request).job(job_id)
    if job is None:
        return JSONResponse({"error": "not_found", "message": "no such job"}, status_code=404)
    status = job.status()
    if job.draft_id:
        status["url"] = f"/console/plans/{job.draft_id}"
    elif job.kind == "whatif" and job.state != "running":
        status["url"] = f"/console/whatif/{job.job_id}"
    return JSONResponse(status)


@router.get("/console/plans/{draft_id}")
def draft_page(draft_id: str, request: Request, reason: str = "") -> Response:
    who = require(request, "plan")
    desk = _desk(request)
    draft = desk.draft(draft_id)
    if draft is None:
        return html(pages.error(404, "no such plan", who), 404)
    return html(pages.plan_page(who, draft, desk, reason=reason[:100]))


@router.post("/console/plans/{draft_id}/publish")
async def publish(draft_id: str, request: Request) -> Response:
    who = require(request, "publish")
    await _form(request, who)
    desk = _desk(request)
    draft = desk.draft(draft_id)
    if draft is None:
        return html(pages.error(404, "no such plan", who), 404)
    try:
        await run_in_threadpool(desk.publish, draft, actor=who.user.actor)
    except InputError as exc:
        return html(pages.plan_page(who, draft, desk, note="; ".join(
            str(p) for p in exc.problems)), 409)
    return see("/console/published")


@router.get("/console/published")
def published_page(request: Request) -> Response:
    who = require(request, "plan")
    desk = _desk(request)
    site: Site = request.app.state.site
    links = site.links() if desk.published is not None else None
    return html(pages.published(who, desk.published,
                                links.collectors if links is not None else None))


@router.post("/console/plans/{draft_id}/adjust")
async def adjust(draft_id: str, request: Request) -> Response:
    who = require(request, "plan")
    form = await _form(request, who)
    desk = _desk(request)
    draft = desk.draft(draft_id)
    if draft is None:
        return html(pages.error(404, "no such plan", who), 404)
    try:
        new = await run_in_threadpool(
            desk.adjust, draft, str(form.get("action") or ""),
            case_id=str(form.get("case_id") or "").strip(),
            route=str(form.get("route") or "").strip(), actor=who.user.actor)
    except InputError as exc:
        return html(pages.plan_page(who, draft, desk, note="; ".join(
            str(p) for p in exc.problems)), 422)
    return see(f"/console/plans/{new.draft_id}")


# --------------------------------------------------------------------------- the day live


def _collectors(desk: Desk) -> list[str]:
    pub = desk.published
    draft = desk.draft(pub.draft_id) if pub is not None else None
    if draft is None:
        return []
    return [m for r in draft.plan.routes for m in (r.members or (r.collector.collector_id,))]


@router.get("/console/board")
def board_page(request: Request) -> Response:
    who = require(request, "plan")
    desk = _desk(request)
    pub = desk.published
    live = board.board(desk.store, pub.record.plan_id) if pub is not None else None
    return html(pages.board(who, live, _collectors(desk)))


def _clock(text: str) -> int | None:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text.strip())
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 if m else None


@router.post("/console/replan")
async def replan(request: Request) -> Response:
    who = require(request, "plan")
    form = await _form(request, who)
    desk = _desk(request)
    raw = str(form.get("at") or "").strip()
    now = datetime.now().astimezone()
    at_s = _clock(raw) if raw else now.hour * 3600 + now.minute * 60
    pub = desk.published
    live = board.board(desk.store, pub.record.plan_id) if pub is not None else None
    if at_s is None:
        return html(pages.board(who, live, _collectors(desk), f"at: {raw!r} is not a time of "
                                "day; give HH:MM, e.g. 13:30", "error"), 422)
    try:
        job = desk.start_replan(at_s=at_s, absent=[str(a) for a in form.getlist("absent")],
                                actor=who.user.actor)
    except InputError as exc:
        return html(pages.board(who, live, _collectors(desk), "; ".join(
            str(p) for p in exc.problems), "error"), 409)
    return see(f"/console/jobs/{job.job_id}")


# --------------------------------------------------------------------------- what-if


@router.get("/console/whatif")
def whatif_page(request: Request) -> Response:
    who = require(request, "whatif")
    desk = _desk(request)
    return html(pages.whatif(who, desk, list(desk.jobs.values()), _defaults(desk)))


@router.post("/console/whatif")
async def whatif(request: Request) -> Response:
    who = require(request, "whatif")
    form = await _form(request, who)
    desk = _desk(request)
    chosen = [str(v) for v in form.getlist("variant")]
    unknown = [v for v in chosen if v not in pages.WHATIF_VARIANTS]
    settings, problems = pages_settings(desk, form)
    note = "; ".join(str(p) for p in problems)
    if unknown:
        note = f"unknown variant(s) {', '.join(unknown)}; choose from the list"
    if note:
        return html(pages.whatif(who, desk, list(desk.jobs.values()), _defaults(desk), note),
                    422)
    try:
        job = desk.start_whatif({v: pages.WHATIF_VARIANTS[v][1] for v in chosen}, settings,
                                actor=who.user.actor)
    except InputError as exc:
        return html(pages.whatif(who, desk, list(desk.jobs.values()), _defaults(desk),
                                 "; ".join(str(p) for p in exc.problems)), 422)
    return see(f"/console/whatif/{job.job_id}")


def _whatif_job(request: Request, job_id: str) -> tuple[SignedIn, Job | None]:
    who = require(request, "whatif")
    job = _desk(request).job(job_id)
    return who, job if job is not None and job.kind == "whatif" else None


@router.get("/console/whatif/{job_id}")
def whatif_job(job_id: str, request: Request) -> Response:
    who, job = _whatif_job(request, job_id)
    if job is None:
        return html(pages.error(404, "no such comparison", who), 404)
    return html(pages.whatif_job(who, job))


#: the report is a static page of our own (inline styles and SVG, no script)
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'self'")


@router.get("/console/whatif/{job_id}/report")
def whatif_report(job_id: str, request: Request) -> Response:
    who, job = _whatif_job(request, job_id)
    if job is None or job.report is None or not job.report.is_file():
        return html(pages.error(404, "no report (yet)", who), 404)
    return Response(job.report.read_bytes(), media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": REPORT_CSP,
                             "X-Frame-Options": "SAMEORIGIN"})
