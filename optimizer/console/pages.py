"""The console's HTML: every text from the input escaped, no inline script.

Pages are plain server-rendered HTML with forms (each with the session's CSRF token); the
scripts are bundled files (``optimizer/console/assets/console.js`` and Leaflet), which read the
page's data from a JSON block (``<script type="application/json">``, never run). The
Content-Security-Policy (`CSP`) therefore allows scripts from the server only.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import segno

from optimizer.console.board import Board
from optimizer.console.desk import Desk, Draft, Job, Loaded, Published
from optimizer.errors import Issue
from optimizer.model import Plan, hhmm
from optimizer.outputs import maps
from optimizer.store.users import SignedIn
from optimizer.web.security import tile_hosts

STATIC = "/console/static"
LEAFLET_JS = "/assets/leaflet/leaflet.js"
LEAFLET_CSS = "/assets/leaflet/leaflet.css"
DATA_ID = "cr-plan-data"


def csp() -> str:
    """The console pages' policy: scripts and styles from this server only, tiles as images."""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data: {' '.join(tile_hosts())}; connect-src 'self'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'")


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def js_json(obj: object) -> str:
    """JSON safe inside an HTML ``<script>`` data block (no ``</script>``, no ``<!--``)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(token)}">'


def _nav(who: SignedIn | None) -> str:
    if who is None:
        return ""
    links = []
    if who.user.may("plan"):
        links += [("/console/day", "Load the day"), ("/console/plan", "Plan"),
                  ("/console/published", "Published"), ("/console/board", "Live board")]
    if who.user.may("whatif"):
        links.append(("/console/whatif", "What-if"))
    items = "".join(f'<li><a href="{href}">{esc(text)}</a></li>' for href, text in links)
    return (f'<nav aria-label="Console"><ul>{items}</ul>'
            f'<form method="post" action="/console/logout" class="cr-inline">'
            f'{csrf_field(who.csrf)}<span class="cr-who">{esc(who.user.name)} '
            f'({esc(who.user.role)})</span> <button type="submit">Sign out</button></form></nav>')


def page(title: str, body: str, who: SignedIn | None = None, *, map_page: bool = False) -> str:
    css = f'<link rel="stylesheet" href="{LEAFLET_CSS}">' if map_page else ""
    js = f'<script src="{LEAFLET_JS}"></script>' if map_page else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · collector-routes console</title>"
        f'{css}<link rel="stylesheet" href="{STATIC}/console.css"></head><body>'
        f'<header><a class="cr-brand" href="/">collector-routes</a>{_nav(who)}</header>'
        f'<main id="main"><h1>{esc(title)}</h1>{body}</main>'
        f'{js}<script src="{STATIC}/console.js"></script></body></html>')


def message(text: str, *, kind: str = "info") -> str:
    role = "alert" if kind == "error" else "status"
    return f'<p class="cr-msg cr-{kind}" role="{role}">{esc(text)}</p>'


def table(caption: str, head: Sequence[str], rows: Iterable[Sequence[object]], *,
          table_id: str = "", row_attrs: Sequence[Mapping[str, str]] | None = None) -> str:
    attrs = list(row_attrs or [])
    body = []
    for i, r in enumerate(rows):
        extra = "".join(f' {k}="{esc(v)}"' for k, v in (attrs[i] if i < len(attrs) else {}
                                                         ).items())
        body.append(f"<tr{extra}>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return (f"<table{ident}><caption>{esc(caption)}</caption><thead><tr>"
            + "".join(f'<th scope="col">{esc(h)}</th>' for h in head)
            + f"</tr></thead><tbody>{''.join(body)}</tbody></table>")


def problems_table(problems: Sequence[Issue], caption: str) -> str:
    return table(caption, ("file", "row", "record", "field", "value", "problem", "fix"),
                 [(p.file, p.row or "", p.record_id, p.field, p.value, p.message, p.fix)
                  for p in problems], table_id="cr-problems")


# --------------------------------------------------------------------------- sign in


def sign_in(login_token: str, note: str = "") -> str:
    body = (
        (message(note, kind="error") if note else "")
        + '<form method="post" action="/console/login" class="cr-form" id="cr-login">'
        f"{csrf_field(login_token)}"
        '<label for="username">Account</label>'
        '<input id="username" name="username" autocomplete="username" required autofocus>'
        '<label for="password">Password</label>'
        '<input id="password" name="password" type="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>')
    return page("Sign in", body)


# --------------------------------------------------------------------------- the day


def plan_fields(defaults: Mapping[str, str]) -> str:
    policies = defaults.get("policies", "china")
    options = "".join(f'<option value="{esc(p)}"{" selected" if p == "china" else ""}>'
                      f"{esc(p)}</option>" for p in policies.split(","))
    return (
        '<fieldset><legend>Plan options (blank: defaults)</legend>'
        '<label for="date">Date</label>'
        f'<input id="date" name="date" type="date" value="{esc(defaults.get("date", ""))}">'
        '<label for="policy">Policy</label>'
        f'<select id="policy" name="policy">{options}</select>'
        '<label for="time_limit">Solver budget (seconds)</label>'
        f'<input id="time_limit" name="time_limit" inputmode="decimal" '
        f'value="{esc(defaults.get("time_limit", ""))}">'
        "</fieldset>")


def day(who: SignedIn, desk: Desk, defaults: Mapping[str, str], note: str = "",
        kind: str = "info") -> str:
    loaded = desk.loaded
    parts = [message(note, kind=kind) if note else ""]
    parts.append(
        '<form method="post" action="/console/day/upload" enctype="multipart/form-data" '
        f'class="cr-form" id="cr-upload">{csrf_field(who.csrf)}'
        '<label for="cases">Case export (.csv or .xlsx)</label>'
        '<input id="cases" name="cases" type="file" accept=".csv,.xlsx" required>'
        '<label for="collectors">Team list (.csv or .xlsx)</label>'
        '<input id="collectors" name="collectors" type="file" accept=".csv,.xlsx" required>'
        f"{plan_fields(defaults)}"
        '<button type="submit" id="cr-upload-plan">Check and plan</button> '
        '<button type="submit" name="check_only" value="1" id="cr-upload-check">Check only'
        "</button></form>")
    pins = loaded is not None and loaded.ok and bool(loaded.addresses)
    if loaded is not None:
        parts.append(_loaded(who, loaded))
        if desk.acceptable(loaded):
            rows = len({p.row for p in loaded.problems})
            parts.append(
                '<form method="post" action="/console/day/accept" class="cr-form" '
                f'id="cr-accept">{csrf_field(who.csrf)}<p>Or accept them: plan without the '
                f"{rows} case row(s) with problems (they stay as they are in the store and "
                "are listed here), with the default options.</p>"
                f'<button type="submit">Accept and plan without {rows} row(s)</button></form>')
    return page("Load the day", "".join(parts), who, map_page=pins)


def _loaded(who: SignedIn, loaded: Loaded) -> str:
    files = f"{loaded.cases_file} and {loaded.collectors_file}"
    if not loaded.ok:
        return (message(f"{len(loaded.problems)} problem(s) in {files}: nothing was planned. "
                        "Fix them in the files and upload again.", kind="error")
                + problems_table(loaded.problems, "Problems in the uploaded files"))
    out = [message(f"{files}: {len(loaded.cases)} cases, {len(loaded.collectors)} "
                   f"collectors; {loaded.merged}.")]
    if loaded.left_out:
        out.append(problems_table(loaded.left_out, "Case rows left out (problems accepted): "
                                  "not planned today"))
    if loaded.addresses:
        rows = []
        for a in loaded.addresses:
            detail = (f"{a.matched} (score {a.score:.2f})" if a.status == "uncertain"
                      else a.reason)
            form = ""
            if a.record.startswith("case_id="):
                cid = a.record.removeprefix("case_id=")
                form = (f'<form method="post" action="/console/day/address" class="cr-inline">'
                        f'{csrf_field(who.csrf)}<input type="hidden" name="case_id" '
                        f'value="{esc(cid)}"><label class="cr-sr" for="fix-{esc(cid)}">'
                        f'Better address for {esc(cid)}</label><input id="fix-{esc(cid)}" '
                        f'name="address" required value="{esc(a.address)}">'
                        '<input type="hidden" name="lat"><input type="hidden" name="lon">'
                        f'<button type="button" class="cr-pick" data-case="{esc(cid)}">'
                        'Pin on the map</button><span class="cr-pin-at"></span>'
                        '<button type="submit">Save</button></form>')
            rows.append(f'<tr data-status="{esc(a.status)}"><td>{esc(a.file)} row {a.row}</td>'
                        f"<td>{esc(a.record)}</td><td>{esc(a.address)}</td>"
                        f"<td>{esc(a.status)}</td><td>{esc(detail)}</td><td>{form}</td></tr>")
        out.append('<table id="cr-addresses"><caption>Addresses not found or uncertain (the '
                   "case stays unvisited until fixed; a fix is saved to the store and reused "
                   'by the next import)</caption><thead><tr><th scope="col">where</th>'
                   '<th scope="col">record</th><th scope="col">address</th>'
                   '<th scope="col">status</th><th scope="col">why / match</th>'
                   f'<th scope="col">fix</th></tr></thead><tbody>{"".join(rows)}'
                   "</tbody></table>"
                   '<p>Type a better address, or press <i>Pin on the map</i> and click or drag '
                   "the pin where the customer is (the address text stays as typed).</p>"
                   '<div id="cr-pin-map" class="cr-map cr-pin-map" role="region" '
                   'aria-label="Map to place a pin"></div>'
                   f'<script type="application/json" id="cr-pin-data">{js_json(_pin_data(loaded))}'
                   "</script>")
    return "".join(out)


def _pin_data(loaded: Loaded) -> dict[str, Any]:
    """Where the pin map opens: the middle of the collectors' start places."""
    pts = [(c.start.lat, c.start.lon) for c in loaded.collectors
           if c.start.lat is not None and c.start.lon is not None]
    lat = sum(p[0] for p in pts) / len(pts) if pts else 30.66
    lon = sum(p[1] for p in pts) / len(pts) if pts else 104.06
    t = maps.TILES["osm"]
    return {"center": [lat, lon], "tiles": {"url": t.url, "attribution": t.attribution,
                                            "subdomains": t.subdomains,
                                            "max_zoom": t.max_zoom}}


def plan_form(who: SignedIn, desk: Desk, defaults: Mapping[str, str], note: str = "") -> str:
    loaded = desk.loaded
    body = [message(note, kind="error") if note else ""]
    if loaded is None or not loaded.ok:
        body.append(message("No valid day is loaded yet.")
                    + '<p><a href="/console/day">Load the day</a></p>')
    else:
        body.append(f'<form method="post" action="/console/plan" class="cr-form" '
                    f'id="cr-plan-form">{csrf_field(who.csrf)}{plan_fields(defaults)}'
                    '<button type="submit">Plan</button></form>')
    latest = desk.latest_draft()
    if latest is not None:
        body.append(f'<p><a href="/console/plans/{esc(latest.draft_id)}">The latest plan '
                    f"({esc(latest.draft_id)}, {esc(latest.note)})</a></p>")
    return page("Plan", "".join(body), who)


def job(who: SignedIn, job: Job) -> str:
    problems = (problems_table(job.problems, "Problems that stop the plan")
                if job.problems else "")
    body = (f'<div id="cr-job" data-job="{esc(job.job_id)}" '
            f'data-status="/console/api/jobs/{esc(job.job_id)}">'
            '<label for="cr-progress">Planning</label>'
            '<progress id="cr-progress" max="100"></progress>'
            '<ol id="cr-stages" aria-live="polite"></ol>'
            f'<p id="cr-job-state" role="status">{esc(job.state)}</p></div>'
            f"{message(job.error, kind='error') if job.error else ''}{problems}"
            + (f'<p><a id="cr-job-result" href="/console/plans/{esc(job.draft_id)}">See the '
               "plan</a></p>" if job.draft_id else ""))

    return page("Planning", body, who)


# --------------------------------------------------------------------------- the plan


def plan_data(plan: Plan, violations: Mapping[str, Sequence[str]], tiles: str) -> dict[str, Any]:
    t = maps.TILES[tiles]
    return {
        "tiles": {"url": t.url, "attribution": t.attribution, "subdomains": t.subdomains,
                  "max_zoom": t.max_zoom},
        "routes": [{
            "collector_id": r.collector.collector_id,
            "members": list(r.members or (r.collector.collector_id,)),
            "path": [[round(a, 6), round(b, 6)] for a, b in (r.path or (
                (r.start_lat, r.start_lon), *((s.lat, s.lon) for s in r.stops),
                (r.end_lat, r.end_lon)))],
            "stops": [{"stop": s.stop, "case_id": s.case.case_id,
                       "customer": s.case.customer_name, "lat": s.lat, "lon": s.lon,
                       "start": hhmm(s.start_s),
                       "violations": list(violations.get(s.case.case_id, ()))}
                      for s in r.stops]}
            for r in plan.routes],
        "unassigned": [{"case_id": u.case.case_id, "lat": u.lat, "lon": u.lon,
                        "reason_code": u.reason_code} for u in plan.unassigned
                       if u.lat is not None and u.lon is not None],
    }


def _kpis(plan: Plan) -> str:
    s = plan.summary
    if s is None:
        return ""
    items = [("Cases visited", f"{s.cases_visited} of {s.cases_total}"),
             ("Value visited", f"{s.value_visited:,.0f} of {s.value_total:,.0f} "
                               f"({s.value_share:.1%})"),
             ("Routes", str(sum(1 for r in plan.routes if r.stops))),
             ("Travel", f"{s.travel_s_total / 3600:.1f} h, {s.travel_m_total / 1000:.1f} km"),
             ("Utilisation", f"{s.utilisation_mean:.0%}"),
             ("Not visited", str(s.cases_unassigned))]
    return ('<dl id="cr-kpis" class="cr-kpis">'
            + "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in items)
            + "</dl>")


def plan_page(who: SignedIn, draft: Draft, desk: Desk, *, reason: str = "",
              note: str = "") -> str:
    plan = draft.plan
    pub = desk.published
    status = ("published" if pub is not None and pub.draft_id == draft.draft_id else
              "draft, not published")
    head = [message(note) if note else "",
            f'<p class="cr-status">Plan {esc(draft.draft_id)} for '
            f"{esc(plan.plan_date.isoformat())} ({esc(draft.note)}; {esc(status)}"
            + (f"; the published version is {pub.record.version} from "
               f"{esc(pub.draft_id)}" if pub is not None else "") + ")</p>"]
    if draft.violations:
        n = sum(len(v) for v in draft.violations.values())
        head.append(message(f"The edited plan breaks {n} rule(s): see the stops marked below. "
                            "It cannot be published until fixed.", kind="error"))
    if who.user.may("publish"):
        head.append(f'<form method="post" action="/console/plans/{esc(draft.draft_id)}/publish"'
                    f' class="cr-inline">{csrf_field(who.csrf)}<button type="submit" '
                    'id="cr-publish">Publish to the collectors</button></form>')
    data = (f'<script type="application/json" id="{DATA_ID}">'
            f"{js_json(plan_data(plan, draft.violations, desk.settings.tiles))}</script>")
    body = "".join(head) + _kpis(plan) + (
        '<div id="cr-map" class="cr-map" role="region" aria-label="Map of the routes"></div>'
        + data + _routes_table(draft) + _adjust(who, draft) + _unvisited(plan, reason))
    return page("Plan", body, who, map_page=True)


def _routes_table(draft: Draft) -> str:
    rows = []
    for r in draft.plan.routes:
        cid = r.collector.collector_id
        locked = "locked" if cid in draft.locked else ""
        bad = sum(len(draft.violations.get(s.case.case_id, ())) for s in r.stops)
        rows.append((cid, "+".join(r.members or (cid,)), len(r.stops), f"{r.value:,.0f}",
                     f"{r.travel_s / 3600:.1f}", f"{r.travel_m / 1000:.1f}",
                     hhmm(r.leave_s) if r.stops else "", hhmm(r.return_s) if r.stops else "",
                     locked, bad or ""))
    out = table("Routes", ("route", "crew", "visits", "value", "travel h", "travel km",
                           "leave", "return", "locked", "rule violations"), rows,
                table_id="cr-routes")
    stops = []
    attrs = []
    for r in draft.plan.routes:
        for s in r.stops:
            v = draft.violations.get(s.case.case_id, ())
            stops.append((r.collector.collector_id, s.stop, s.case.case_id,
                          s.case.customer_name, s.case.address, hhmm(s.start_s),
                          s.window.label() if hasattr(s.window, "label") else "",
                          f"{s.value:,.0f}", "; ".join(v)))
            attrs.append({"data-case": s.case.case_id, **({"class": "cr-bad"} if v else {})})
    return out + ('<details><summary>Every stop</summary>'
                  + table("Stops", ("route", "stop", "case", "customer", "address", "start",
                                    "window", "value", "rule violations"), stops,
                          table_id="cr-stops", row_attrs=attrs) + "</details>")


def _unvisited(plan: Plan, reason: str) -> str:
    codes = sorted({u.reason_code for u in plan.unassigned})
    options = '<option value="">every reason</option>' + "".join(
        f'<option value="{esc(c)}"{" selected" if c == reason else ""}>{esc(c)} '
        f"({sum(u.reason_code == c for u in plan.unassigned)})</option>" for c in codes)
    shown = [u for u in plan.unassigned if not reason or u.reason_code == reason]
    form = ('<form method="get" class="cr-inline" id="cr-reason-form">'
            '<label for="reason">Reason</label>'
            f'<select id="reason" name="reason">{options}</select>'
            '<button type="submit">Filter</button></form>')
    return (f"<h2>Not visited ({len(plan.unassigned)})</h2>" + form
            + table("Cases not visited, with the reason", ("case", "customer", "address",
                                                           "value", "reason code", "reason"),
                    [(u.case.case_id, u.case.customer_name, u.case.address, f"{u.value:,.0f}",
                      u.reason_code, u.reason) for u in shown], table_id="cr-unvisited",
                    row_attrs=[{"data-reason": u.reason_code} for u in shown]))


def _adjust(who: SignedIn, draft: Draft) -> str:
    if not who.user.may("plan"):
        return ""
    routes = "".join(f'<option value="{esc(r.collector.collector_id)}">'
                     f"{esc(r.collector.collector_id)}</option>" for r in draft.plan.routes)
    act = f"/console/plans/{esc(draft.draft_id)}/adjust"
    tok = csrf_field(who.csrf)
    return (
        "<h2>Adjust</h2><div class=\"cr-adjust\">"
        f'<form method="post" action="{act}" class="cr-form" id="cr-move">{tok}'
        '<input type="hidden" name="action" value="move">'
        '<label for="move-case">Case</label><input id="move-case" name="case_id" required>'
        '<label for="move-to">To route</label><select id="move-to" name="route">'
        f'<option value="">out of the plan</option>{routes}</select>'
        '<button type="submit">Move</button></form>'
        f'<form method="post" action="{act}" class="cr-form" id="cr-lock">{tok}'
        '<input type="hidden" name="action" value="lock">'
        f'<label for="lock-route">Route</label><select id="lock-route" name="route">{routes}'
        '</select><button type="submit">Lock / unlock</button></form>'
        f'<form method="post" action="{act}" class="cr-form" id="cr-must">{tok}'
        '<input type="hidden" name="action" value="must">'
        '<label for="must-case">Must-visit case</label>'
        '<input id="must-case" name="case_id" required>'
        '<button type="submit">Add as must-visit</button></form>'
        f'<form method="post" action="{act}" class="cr-form" id="cr-reopt">{tok}'
        '<input type="hidden" name="action" value="reoptimise">'
        '<button type="submit">Re-optimise the rest (keeps locked routes)</button></form>'
        "</div>")


# --------------------------------------------------------------------------- published


def published(who: SignedIn, pub: Published | None, links: Mapping[str, str] | None,
              note: str = "") -> str:
    if pub is None:
        return page("Published", message("Nothing is published yet.")
                    + '<p><a href="/console/plan">Plan the day</a></p>', who)
    rec = pub.record
    rows = []
    for cid, url in (links or {}).items():
        qr = segno.make(url, error="m").svg_inline(scale=3, border=2)
        rows.append(f'<tr data-collector="{esc(cid)}"><td>{esc(cid)}</td>'
                    f'<td><a href="{esc(url)}" rel="noreferrer">{esc(url)}</a></td>'
                    f'<td class="cr-qr">{qr}</td></tr>')
    body = ((message(note) if note else "")
            + f'<p id="cr-version">Version {rec.version} of {esc(rec.plan_date.isoformat())} '
            f"(store plan #{rec.plan_id}) published by {esc(pub.by)} at "
            f"{pub.at:%H:%M} UTC from draft "
            f'<a href="/console/plans/{esc(pub.draft_id)}">{esc(pub.draft_id)}</a>. Later '
            "edits are drafts until published again (then a new version).</p>"
            '<table id="cr-links"><caption>Collector links (private: one per collector)'
            '</caption><thead><tr><th scope="col">collector</th><th scope="col">link</th>'
            f'<th scope="col">QR code</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return page("Published", body, who)


def error(status: int, text: str, who: SignedIn | None = None) -> str:
    back = '<p><a href="/">Back to the console</a></p>'
    return page({401: "Sign in first", 403: "Not allowed", 429: "Too many attempts"}.get(
        status, "Cannot do that"), message(text, kind="error") + back, who)


# --------------------------------------------------------------------------- the day live


def board(who: SignedIn, live: Board | None, collectors: Sequence[str], note: str = "",
          kind: str = "info") -> str:
    if live is None:
        return page("Live board", message("Nothing is published yet.")
                    + '<p><a href="/console/plan">Plan the day</a></p>', who)
    crews = table("Crews", ("route", "crew", "done", "left", "last case", "last outcome",
                            "last position", "behind (+) / ahead (-) min"),
                  [(c.route_id, "+".join(c.members), c.done, c.left, c.last_case, c.last_time,
                    f"{c.last_lat:.5f}, {c.last_lon:.5f}" if c.last_lat is not None
                    and c.last_lon is not None else "",
                    "" if c.behind_min is None else f"{c.behind_min:+.0f}") for c in live.crews],
                  table_id="cr-crews")
    arrivals = table("Outcomes as they arrive (newest first)",
                     ("time", "route", "case", "outcome", "amount", "promised for"),
                     [(a.time, a.route_id, a.case_id, a.label, "" if a.amount is None
                       else f"{a.amount:,.2f}", a.promise_date or "") for a in live.arrivals],
                     table_id="cr-arrivals")
    boxes = ('<dl id="cr-today" class="cr-kpis">'
             f"<div><dt>Plan</dt><dd>version {live.version} of "
             f"{esc(live.plan_date.isoformat())}</dd></div>"
             f"<div><dt>Visits done</dt><dd>{sum(c.done for c in live.crews)} of "
             f"{sum(c.stops for c in live.crews)}</dd></div>"
             f"<div><dt>Promises today</dt><dd>{live.promises}</dd></div>"
             f"<div><dt>Collected today</dt><dd>{live.collected:,.2f}</dd></div></dl>")
    absent = "".join(f'<label class="cr-check"><input type="checkbox" name="absent" '
                     f'value="{esc(c)}"> {esc(c)}</label>' for c in collectors)
    replan = ('<h2>Re-plan now</h2>'
              '<form method="post" action="/console/replan" class="cr-form" id="cr-replan">'
              f'{csrf_field(who.csrf)}<label for="at">From (HH:MM, blank: now)</label>'
              '<input id="at" name="at" inputmode="numeric" placeholder="HH:MM">'
              f'<fieldset><legend>Absent collectors</legend>{absent}</fieldset>'
              '<button type="submit">Re-plan the rest of the day</button></form>')
    body = ((message(note, kind=kind) if note else "") + boxes + crews + arrivals + replan
            + '<p><a href="/console/board">Refresh</a></p>')
    return page("Live board", body, who)


# --------------------------------------------------------------------------- what-if

#: the what-if variants the console offers: form name -> (label, scenario keys)
WHATIF_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "team_minus_2": ("2 collectors fewer (the last 2 of the list)",
                     {"remove_collectors": {"count": 2}}),
    "team_plus_2": ("2 more collectors like the first one",
                    {"add_collectors": {"count": 2, "id_prefix": "N"}}),
    "shift_8h": ("8-hour shifts", {"shift_hours": 8}),
    "shift_plus_1h": ("shifts one hour longer", {"extend_shift_hours": 1}),
    "amount": ("weigh cases by overdue amount", {"weighting": "amount"}),
}


def whatif(who: SignedIn, desk: Desk, jobs: Sequence[Job], defaults: Mapping[str, str],
           note: str = "") -> str:
    checks = "".join(f'<label class="cr-check"><input type="checkbox" name="variant" '
                     f'value="{esc(k)}"> {esc(label)}</label>'
                     for k, (label, _) in WHATIF_VARIANTS.items())
    loaded = desk.loaded
    ready = loaded is not None and loaded.ok
    form = ('<form method="post" action="/console/whatif" class="cr-form" id="cr-whatif">'
            f'{csrf_field(who.csrf)}<fieldset><legend>Variants to compare with the day as '
            f'loaded</legend>{checks}</fieldset>{plan_fields(defaults)}'
            '<button type="submit">Compare</button></form>')
    done = [j for j in jobs if j.kind == "whatif"]
    items = "".join(f'<li><a href="/console/whatif/{esc(j.job_id)}">{esc(j.job_id)}</a> '
                    f"{esc(j.state)}</li>" for j in done)
    body = ((message(note, kind="error") if note else "")
            + (form if ready else message("No valid day is loaded yet: a dispatcher uploads "
                                          "the day's files first."))
            + (f"<h2>Comparisons</h2><ul>{items}</ul>" if items else ""))
    return page("What-if", body, who)


def whatif_job(who: SignedIn, job: Job) -> str:
    if job.state == "running":
        return page("What-if", f'<div id="cr-job" data-job="{esc(job.job_id)}" '
                    f'data-status="/console/api/jobs/{esc(job.job_id)}">'
                    '<label for="cr-progress">Comparing</label>'
                    '<progress id="cr-progress" max="100"></progress>'
                    '<ol id="cr-stages" aria-live="polite"></ol>'
                    f'<p id="cr-job-state" role="status">{esc(job.state)}</p></div>', who)
    if job.state == "failed":
        return page("What-if", message(job.error, kind="error")
                    + (problems_table(job.problems, "Problems") if job.problems else ""), who)
    return page("What-if", f'<p><a id="cr-report-link" href="/console/whatif/{esc(job.job_id)}'
                '/report">Open the comparison report</a></p>'
                f'<iframe id="cr-report" title="What-if report" class="cr-report" '
                f'src="/console/whatif/{esc(job.job_id)}/report"></iframe>', who)
