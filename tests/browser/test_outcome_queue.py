"""The outcome form and its offline queue in a real Chromium (phone-sized, touch), against the
web application on uvicorn with a SQLite store.

The network is cut (Playwright's offline mode), an outcome is recorded, the page reloaded
while the outcome API still fails, the network restored: the outcome is in the store once.
Then an answer lost on the way back (the server recorded it, the phone saw a failure): the
phone sends it again and the store still has it once. Input text is shown as text.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from maps_plan import make_plan
from sqlalchemy import select
from webhelp import record_site, write_site

from optimizer.store.db import Store, sqlite_url
from optimizer.store.tables import OutcomeCollector, OutcomeRecord
from optimizer.web.run import prepare

CST = timezone(timedelta(hours=8))
NOTE = 'said <img src=x onerror="alert(1)"> & will pay'


@pytest.fixture
def today_site(tmp_path):
    """The test plan dated today in Chengdu (the phone's clock decides the visit's day)."""
    plan = dataclasses.replace(make_plan(), plan_date=datetime.now(CST).date())
    url = sqlite_url(tmp_path / "store.sqlite")
    write_site(plan, tmp_path / "plan")
    record_site(plan, url)
    with prepare(tmp_path / "plan", store_url=url, port=0).start() as server:
        yield server, url


def _outcomes(url: str) -> list[tuple[str, str, str, float | None, str, list[str]]]:
    with Store.open(url) as store, store.reading() as s:
        rows = s.scalars(select(OutcomeRecord).order_by(OutcomeRecord.id)).all()
        return [(r.idempotency_key, r.case_id, r.code, r.amount, r.note,
                 list(s.scalars(select(OutcomeCollector.collector_id).where(
                     OutcomeCollector.outcome_id == r.id)))) for r in rows]


def _phone(browser):
    return browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                               is_mobile=True, has_touch=True, timezone_id="Asia/Shanghai")


def _record(page, case_id: str, code: str, **fields: str) -> None:
    page.click(f'button.cr-oc-open[data-case-id="{case_id}"]')
    page.click(f'#cr-oc-form button[data-code="{code}"]')
    for name, value in fields.items():
        page.fill(f'#cr-oc-form [name="{name}"]', value)
    page.click("#cr-oc-form .cr-oc-save")


def _unsent(page) -> int:
    return int(page.get_attribute("#cr-oc-badge", "data-unsent"))


def test_offline_outcome_survives_a_reload_and_is_stored_once(browser, today_site, shot):
    server, url = today_site
    link = server.links.collectors["C01"]
    ctx = _phone(browser)
    errors: list[str] = []
    dialogs: list[str] = []
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url
                   else route.fulfill(status=204))  # tiles: nothing leaves the machine
        page.goto(link, wait_until="load")
        assert page.locator("button.cr-oc-open").count() == 3  # C01's three stops
        assert page.locator("#cr-oc-badge").text_content() == "all sent"

        ctx.set_offline(True)
        _record(page, "K-1002", "promise_to_pay", amount="2000", promise_date="2026-12-30",
                note=NOTE)
        page.wait_for_timeout(300)
        assert _unsent(page) == 1
        assert page.locator("#cr-oc-badge").text_content() == "1 unsent"
        pending = page.locator('li[data-case-id="K-1002"] .cr-oc-pending')
        assert pending.count() == 1 and NOTE in pending.text_content()
        assert page.locator("img[src=x]").count() == 0  # the note is text, not markup
        shot(page, "outcome-queued-offline")
        assert _outcomes(url) == []

        # the network is back but the outcome API still fails; the page is reloaded
        page.route("**/api/outcomes", lambda route: route.abort()
                   if route.request.method == "POST" else route.continue_())
        ctx.set_offline(False)
        page.reload(wait_until="load")
        page.wait_for_timeout(500)
        assert _unsent(page) == 1  # kept in the browser across the reload
        assert _outcomes(url) == []

        # the API answers again: the next try sends it
        page.unroute("**/api/outcomes")
        page.click("#cr-oc-send")
        page.wait_for_selector('#cr-oc-badge[data-unsent="0"]')  # (the page's CSP: no eval)
        stored = _outcomes(url)
        assert len(stored) == 1
        key, case_id, code, amount, note, crew = stored[0]
        assert (case_id, code, amount, note, crew) == ("K-1002", "promise_to_pay", 2000.0, NOTE,
                                                       ["C01"])
        assert key.startswith("ph-") and len(key) == 35
        assert page.evaluate("window.CROutcomes.outbox()") == []
        sent = page.locator('li[data-case-id="K-1002"] .cr-oc-sent')
        assert sent.count() == 1 and NOTE in sent.text_content()
        shot(page, "outcome-sent")

        # an answer lost on the way back: recorded by the server, a failure for the phone
        lost: list[int] = []

        def drop_answer(route):
            if route.request.method != "POST":
                return route.continue_()
            lost.append(route.fetch().status)  # the server gets and records it
            return route.abort()

        page.route("**/api/outcomes", drop_answer)
        _record(page, "K-1001", "not_home")
        page.wait_for_timeout(500)
        assert lost == [201] and _unsent(page) == 1
        assert len(_outcomes(url)) == 2
        page.unroute("**/api/outcomes")
        page.reload(wait_until="load")  # sent again on load: the key was recorded
        page.wait_for_selector('#cr-oc-badge[data-unsent="0"]')  # (the page's CSP: no eval)
        stored = _outcomes(url)
        assert [(s[1], s[2]) for s in stored] == [("K-1002", "promise_to_pay"),
                                                  ("K-1001", "not_home")]
        assert len({s[0] for s in stored}) == 2
        # after the reload the page shows what the server holds, each once
        assert page.locator(".cr-oc-sent").count() == 2
        assert errors == [] and dialogs == []
    finally:
        ctx.close()


def test_the_page_opens_again_without_a_network_and_sends_the_outbox(browser, today_site):
    """On http://127.0.0.1 (a secure context, as https:// is) the service worker keeps the
    page: recorded offline, reloaded offline, sent when the network returns."""
    server, url = today_site
    ctx = _phone(browser)
    try:
        page = ctx.new_page()
        page.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url
                   else route.fulfill(status=204))
        page.goto(server.links.collectors["C02"], wait_until="load")
        assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active.state)") in (
            "activating", "activated")
        page.reload(wait_until="load")  # now under the worker: the page and assets are kept
        page.wait_for_timeout(300)
        # offline emulation alone has let a post from the worker-controlled page through (once,
        # at the start of a CI-like run): the context also refuses the outcome posts meanwhile
        ctx.route("**/api/outcomes", lambda route: route.abort("internetdisconnected"))
        ctx.set_offline(True)
        _record(page, "K-2003", "hardship", note="lost her job <b>in May</b>")
        page.wait_for_timeout(300)
        assert _unsent(page) == 1
        page.reload(wait_until="load")  # no network: the kept page, the outbox from storage
        page.wait_for_selector('#cr-oc-badge[data-unsent="1"]')
        assert page.locator("button.cr-oc-open").count() == 4
        assert "lost her job <b>in May</b>" in page.locator(
            'li[data-case-id="K-2003"] .cr-oc-pending').text_content()
        assert _outcomes(url) == []
        ctx.unroute("**/api/outcomes")
        ctx.set_offline(False)  # the browser's "online" event sends it
        page.wait_for_selector('#cr-oc-badge[data-unsent="0"]', timeout=30000)
        assert [(o[1], o[2], o[4]) for o in _outcomes(url)] == [
            ("K-2003", "hardship", "lost her job <b>in May</b>")]
    finally:
        ctx.close()


def test_a_refused_outcome_stays_with_the_servers_message(browser, today_site):
    server, url = today_site
    ctx = _phone(browser)
    try:
        page = ctx.new_page()
        page.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url
                   else route.fulfill(status=204))
        page.goto(server.links.collectors["C02"], wait_until="load")
        # a promise dated before the visit: the form sends it, the server names the field
        _record(page, "K-2001", "promise_to_pay", amount="100", promise_date="2020-01-01")
        rejected = page.locator('li[data-case-id="K-2001"] .cr-oc-rejected')
        rejected.wait_for()
        assert "promise_date" in rejected.text_content()
        assert _unsent(page) == 0 and len(page.evaluate("window.CROutcomes.outbox()")) == 1
        rejected.locator(".cr-oc-drop").click()
        assert page.evaluate("window.CROutcomes.outbox()") == []
        # a required field left empty is caught on the phone
        page.click('button.cr-oc-open[data-case-id="K-2002"]')
        page.click('#cr-oc-form button[data-code="paid"]')
        page.click("#cr-oc-form .cr-oc-save")
        assert "Amount" in page.locator("#cr-oc-form .cr-oc-msg").text_content()
        assert _outcomes(url) == []
    finally:
        ctx.close()
