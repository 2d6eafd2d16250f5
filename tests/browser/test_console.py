"""The dispatcher console in Chromium, on the demo data, at desktop and tablet sizes.

One console server (tests/consolehelp.py: real uvicorn, SQLite store, an account per role)
for the module. Screenshots of every step go to artifacts/screenshots/console-*.png. Every
plan a test makes is re-simulated by tests/plancheck.py (the draft's tables, or the served
folder once published).
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from consolehelp import PASSWORDS, csrf, running, signed_in, upload
from plancheck import check_plan_outputs

from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "tablet": {"width": 820, "height": 1180}}
XSS = "<img src=x onerror=alert(1)>"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def console(tmp_path_factory, cache_dir):
    with running(tmp_path_factory.mktemp("console"), cache_dir) as c:
        yield c


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@dataclass
class Log:
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # requests off the test server


BLANK_TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC")


def _route_requests(page, log: Log) -> None:
    """The test server only; tiles answered with a blank image; anything else aborted."""
    def handle(route):
        url = route.request.url
        host = url.split("/")[2] if "://" in url else ""
        if host.startswith("127.0.0.1") or url.startswith(("data:", "about:")):
            return route.continue_()
        if host == "tile.openstreetmap.org":
            return route.fulfill(status=200, content_type="image/png", body=BLANK_TILE)
        log.external.append(url)
        return route.abort()

    page.route("**/*", handle)


@pytest.fixture
def open_console(browser):
    contexts = []

    def _open(size: str = "desktop"):
        ctx = browser.new_context(viewport=VIEWPORTS[size])
        contexts.append(ctx)
        page = ctx.new_page()
        log = Log()
        page.on("pageerror", lambda exc: log.errors.append(f"pageerror: {exc}"))
        page.on("console", lambda m: log.errors.append(m.text) if m.type == "error" else None)

        def on_dialog(dialog):
            log.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        _route_requests(page, log)
        return page, log

    yield _open
    for ctx in contexts:
        ctx.close()


def _sign_in(page, base: str, name: str) -> None:
    page.goto(base + "/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.press("input[name=password]", "Enter")
    page.wait_for_load_state("load")


def _check(console, draft) -> None:
    """The draft's tables pass the independent re-simulation."""
    from optimizer.geo.network import load_network

    s = draft.settings
    errs = check_plan_outputs(draft.folder, draft.cases, draft.collectors, s.plan_date, s.policy,
                              network=load_network(s.roads.osm_path, cache_dir=s.cache_dir),
                              traffic=s.roads.traffic)
    assert errs == [], errs[:5]


def _wait_plan(page, timeout_s: float = 600) -> str:
    page.wait_for_url(re.compile(r"/console/plans/d\d+$"), timeout=timeout_s * 1000)
    page.wait_for_selector("path.cr-route")
    return page.url.rsplit("/", 1)[1]


def _routes_drawn(page, draft) -> None:
    busy = [r for r in draft.plan.routes if r.stops]
    assert busy, "the demo plan has routes"
    assert page.locator("path.cr-route").count() == len(busy)
    labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    for r in busy:
        assert any(t.strip().startswith(f"{r.collector.collector_id} (") for t in labels)
    # the routes are drawn with the bundled Leaflet, as SVG paths that have a shape
    d = page.locator("path.cr-route").first.get_attribute("d")
    assert d and d.count("L") > 3


def _plan_http(console, **fields) -> str:
    """Upload and plan through HTTP (for the tests of later steps); the new draft's id."""
    http = signed_in(console.base, "disp")
    r = upload(http, **fields)
    assert r.status_code == 303, r.text[:1000]
    job = r.headers["location"].rsplit("/", 1)[1]
    while (s := http.get(f"/console/api/jobs/{job}").json())["state"] == "running":
        time.sleep(0.3)
    assert s["state"] == "done", s
    return s["url"].rsplit("/", 1)[1]


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_sign_in_upload_plan_publish(console, open_console, size):
    page, log = open_console(size)
    page.goto(console.base + "/")
    assert page.locator("form#cr-login input[name=username]").count() == 1
    _shot(page, f"console-1-sign-in-{size}")
    _sign_in(page, console.base, "disp")
    assert page.url.endswith("/console/day")

    page.set_input_files("input[name=cases]", str(DEMO_CASES))
    page.set_input_files("input[name=collectors]", str(DEMO_COLLECTORS))
    _shot(page, f"console-2-load-the-day-{size}")
    page.click("#cr-upload-plan")
    page.wait_for_selector("#cr-progress")
    _shot(page, f"console-3-planning-{size}")
    draft_id = _wait_plan(page)
    draft = console.desk.draft(draft_id)
    page.wait_for_timeout(300)
    _shot(page, f"console-4-plan-{size}")
    _routes_drawn(page, draft)
    _check(console, draft)

    # the KPI box, the per-route table, the unvisited list with its reasons
    kpis = page.locator("#cr-kpis").inner_text()
    s = draft.plan.summary
    assert f"{s.cases_visited} of {s.cases_total}" in kpis
    assert page.locator("#cr-routes tbody tr").count() == len(draft.plan.routes)
    assert page.locator("#cr-unvisited tbody tr").count() == len(draft.plan.unassigned)
    # input text stays text: the demo's markup customer is a cell, no image, no alert
    cells = page.locator("#cr-unvisited td, #cr-stops td").all_inner_texts()
    assert XSS in cells
    assert page.locator("img[src=x]").count() == 0 and log.dialogs == []
    # filter by reason code: only that reason's rows stay visible
    codes = sorted({u.reason_code for u in draft.plan.unassigned})
    page.select_option("#reason", codes[0])
    visible = page.locator("#cr-unvisited tbody tr:visible")
    assert visible.count() == sum(u.reason_code == codes[0] for u in draft.plan.unassigned)
    assert set(visible.evaluate_all("rs => rs.map(r => r.dataset.reason)")) == {codes[0]}
    _shot(page, f"console-5-unvisited-filtered-{size}")

    page.click("#cr-publish")
    page.wait_for_url(re.compile(r"/console/published$"))
    _shot(page, f"console-6-published-{size}")
    pub = console.desk.published
    assert pub.draft_id == draft_id
    assert page.locator("#cr-version").inner_text().startswith(f"Version {pub.record.version} ")
    rows = page.locator("#cr-links tbody tr")
    members = {m for r in draft.plan.routes for m in (r.members or (r.collector.collector_id,))}
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.collector)")) == members
    assert page.locator("#cr-links svg").count() == len(members)  # a QR code each
    link = page.locator("#cr-links tbody tr a").first.get_attribute("href")
    _check(console, draft)  # the served folder is the same plan
    page.goto(link)
    assert page.locator("path.cr-route").count() >= 1  # the collector's own page, served
    _shot(page, f"console-7-collector-link-{size}")
    assert log.errors == [] and log.external == [] and log.dialogs == []


def test_an_address_is_fixed_by_typing_or_a_pin_on_the_map(console, open_console):
    page, log = open_console("desktop")
    _sign_in(page, console.base, "disp")
    page.set_input_files("input[name=cases]", str(DEMO_CASES))
    page.set_input_files("input[name=collectors]", str(DEMO_COLLECTORS))
    page.click("#cr-upload-check")
    page.wait_for_load_state("load")
    rows = page.locator("#cr-addresses tbody tr")
    assert rows.count() == len(console.desk.loaded.addresses) > 0
    _shot(page, "console-2b-addresses")
    row = page.locator("#cr-addresses tbody tr:has(td:text-is('case_id=C-00148'))")
    row.locator("button.cr-pick").click()
    box = page.locator("#cr-pin-map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    lat = float(row.locator("input[name=lat]").input_value())
    lon = float(row.locator("input[name=lon]").input_value())
    assert 30.4 < lat < 30.9 and 103.8 < lon < 104.3  # on the map of Chengdu
    _shot(page, "console-2c-pin")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert "Saved the address of C-00148" in page.locator(".cr-msg").first.inner_text()
    case = next(c for c in console.desk.loaded.cases if c.case_id == "C-00148")
    assert (round(case.lat, 6), round(case.lon, 6)) == (lat, lon)
    assert log.errors == [] and log.dialogs == []


def test_keyboard_only_sign_in_upload_plan_publish(console, open_console):
    page, log = open_console("desktop")
    page.goto(console.base + "/")
    # the sign-in page focuses the account field; Tab moves on; Enter sends
    page.keyboard.type("disp")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORDS["disp"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/day$"))

    def tab_to(selector: str, most: int = 60) -> None:
        for _ in range(most):
            page.keyboard.press("Tab")
            if page.evaluate("s => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"{selector} cannot be reached with Tab")

    for name, path in (("cases", DEMO_CASES), ("collectors", DEMO_COLLECTORS)):
        tab_to(f"input[name={name}]")
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")  # the keyboard opens the file dialog
        chooser.value.set_files(str(path))
    tab_to("input[name=time_limit]")
    page.keyboard.press("Enter")  # Enter in the form submits it: check and plan
    _wait_plan(page)
    tab_to("#cr-publish")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/published$"))
    tab_to("#cr-links a")
    _shot(page, "console-keyboard-published")
    assert log.errors == [] and log.dialogs == []


def _draft_ids(page) -> str:
    return page.url.rsplit("/", 1)[1]


def _submit(page, form: str, **fields) -> None:
    for name, value in fields.items():
        sel = f"{form} [name={name}]"
        if page.locator(sel).evaluate("e => e.tagName") == "SELECT":
            page.select_option(sel, value)
        else:
            page.fill(sel, value)
    page.click(f"{form} button[type=submit]")
    page.wait_for_load_state("load")


def test_adjust_rescores_at_once_and_keeps_locked_routes(console, open_console):
    draft_id = _plan_http(console)
    page, log = open_console("desktop")
    _sign_in(page, console.base, "disp")
    page.goto(f"{console.base}/console/plans/{draft_id}")
    base = console.desk.draft(draft_id)
    busy = [r for r in base.plan.routes if len(r.stops) >= 2]
    first = busy[0]

    # out of the plan: the route is re-timed, every rule holds, the case has its reason
    out = first.stops[0].case.case_id
    _submit(page, "#cr-move", case_id=out, route="")
    page.wait_for_url(re.compile(r"/console/plans/d\d+$"))
    moved = console.desk.draft(_draft_ids(page))
    assert moved.parent == draft_id and moved.violations == {}
    assert {u.case.case_id: u.reason_code for u in moved.plan.unassigned}[out] == "moved_out"
    route = next(r for r in moved.plan.routes
                 if r.collector.collector_id == first.collector.collector_id)
    assert [s.case.case_id for s in route.stops] == [s.case.case_id for s in first.stops[1:]]
    _check(console, moved)
    _shot(page, "console-8-adjust-moved-out")

    # onto a route that is full: the violation is shown on the stop, publishing refused
    full = next((r for r in moved.plan.routes
                 if r.collector.max_visits is not None and len(r.stops) >= r.collector.max_visits
                 and r.collector.collector_id != first.collector.collector_id), None)
    target = full or busy[-1]
    _submit(page, "#cr-move", case_id=out, route=target.collector.collector_id)
    edited = console.desk.draft(_draft_ids(page))
    if full is not None:
        assert edited.violations, "a route over its visit limit breaks a rule"
    if edited.violations:
        assert page.locator("#cr-stops tr.cr-bad").count() >= 1
        assert "breaks" in page.locator(".cr-error").first.inner_text()
        _shot(page, "console-9-adjust-violations")
        page.click("#cr-publish")
        assert "cannot" in page.content() or "breaks" in page.content()
        assert console.desk.published is None or console.desk.published.draft_id != edited.draft_id
        assert log.errors == ["Failed to load resource: the server responded with a status of "
                              "409 (Conflict)"]  # the refused publish, nothing else
        log.errors.clear()
    else:
        _check(console, edited)

    # lock the first route, re-optimise the rest from the edited plan: the lock holds
    page.goto(f"{console.base}/console/plans/{moved.draft_id}")
    _submit(page, "#cr-lock", route=first.collector.collector_id)
    locked = console.desk.draft(_draft_ids(page))
    assert locked.locked == {first.collector.collector_id}
    page.click("#cr-reopt button[type=submit]")
    page.wait_for_url(re.compile(r"/console/plans/d\d+$"), timeout=600_000)
    again = console.desk.draft(_draft_ids(page))
    assert again.note.startswith("re-optimised")
    keep = next(r for r in again.plan.routes
                if r.collector.collector_id == first.collector.collector_id)
    assert [s.case.case_id for s in keep.stops] == [s.case.case_id for s in route.stops]
    assert again.violations == {}
    _check(console, again)

    # a must-visit case joins a route (where it holds the rules if any route can)
    left = next(u.case.case_id for u in again.plan.unassigned
                if u.reason_code not in ("no_coordinates", "moved_out")
                and u.case.case_id in {v.visit_id for v in again.built.problem.visits})
    _submit(page, "#cr-must", case_id=left)
    must = console.desk.draft(_draft_ids(page))
    assert left in must.must
    assert left in {s.case.case_id for r in must.plan.routes for s in r.stops}
    if not must.violations:
        _check(console, must)
    _shot(page, "console-10-adjust-must-visit")
    assert log.errors == [] and log.dialogs == []


def _record(base: str, link: str, case_id: str, body: dict) -> None:
    r = httpx.post(link + "api/outcomes", json={
        "key": f"test-{case_id}-{time.time_ns()}", "case_id": case_id,
        "event_time": datetime.now(UTC).isoformat(), **body})
    assert r.status_code == 201, r.text


def test_live_board_follows_outcomes_and_replans(console, open_console):
    today = datetime.now().astimezone().date()
    draft_id = _plan_http(console, date=today.isoformat())
    http = signed_in(console.base, "disp")
    page_html = http.get(f"/console/plans/{draft_id}").text
    r = http.post(f"/console/plans/{draft_id}/publish", data={"csrf": csrf(page_html)})
    assert r.status_code == 303
    pub = console.desk.published
    draft = console.desk.draft(draft_id)
    links = console.server.server.config.app.state.site.links().collectors
    busy = [r for r in draft.plan.routes if r.stops]
    a, b = busy[0], busy[-1]
    _record(console.base, links[a.members[0]], a.stops[0].case.case_id,
            {"outcome": "paid", "amount": 1234.5})
    _record(console.base, links[b.members[0]], b.stops[0].case.case_id,
            {"outcome": "promise_to_pay", "promise_date": today.isoformat(), "amount": 800})

    page, log = open_console("tablet")
    _sign_in(page, console.base, "disp")
    page.goto(console.base + "/console/board")
    _shot(page, "console-11-live-board-tablet")
    today_box = page.locator("#cr-today").inner_text()
    assert "Promises today\n1" in today_box and "1,234.50" in today_box
    assert f"version {pub.record.version}" in today_box
    crews = page.locator("#cr-crews tbody tr")
    assert crews.count() == len(draft.plan.routes)
    row = page.locator(f"#cr-crews tbody tr:has(td:text-is('{a.collector.collector_id}'))")
    cells = row.locator("td").all_inner_texts()
    assert cells[2] == "1" and cells[3] == str(len(a.stops) - 1)
    assert page.locator("#cr-arrivals tbody tr").count() == 2

    # re-plan now from 12:00 with one collector absent: a new draft, then a new version
    absent = busy[1].members[0] if len(busy) > 2 else a.members[0]
    page.fill("#at", "12:00")
    page.check(f"#cr-replan input[value='{absent}']")
    page.click("#cr-replan button[type=submit]")
    new_id = _wait_plan(page)
    new = console.desk.draft(new_id)
    assert new.note.startswith("re-planned at 12:00") and absent in new.note
    _check(console, new)
    _shot(page, "console-12-replanned-tablet")
    page.click("#cr-publish")
    page.wait_for_url(re.compile(r"/console/published$"))
    assert console.desk.published.record.version == pub.record.version + 1
    assert log.errors == [] and log.dialogs == []


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_planner_runs_what_if_on_the_day(console, open_console, size):
    if console.desk.loaded is None:
        _plan_http(console)
    page, log = open_console(size)
    _sign_in(page, console.base, "plan")
    assert page.url.endswith("/console/whatif")
    assert page.locator("a[href='/console/day']").count() == 0  # no planning for a planner
    if size == "desktop":
        page.check("#cr-whatif input[value=amount]")
        page.click("#cr-whatif button[type=submit]")
        page.wait_for_selector("#cr-report", timeout=900_000)
        report = page.frame_locator("#cr-report")
        assert report.locator("text=amount").first.is_visible()
    _shot(page, f"console-13-what-if-{size}")
    assert log.errors == [] and log.dialogs == []
    # the planner's browser is refused the dispatcher's pages
    resp = page.goto(console.base + "/console/day")
    assert resp.status == 403 and "may not" in page.content()


def test_a_signed_out_browser_sees_only_the_sign_in_page(console, open_console):
    page, _ = open_console("tablet")
    for path in ("/console/day", "/console/board", "/console/published"):
        page.goto(console.base + path)
        assert page.url == console.base + "/"
        assert page.locator("input[name=password]").count() == 1
    _shot(page, "console-0-signed-out-tablet")

