"""The served pages in headless Chromium at a phone-sized viewport (390x844, touch).

Runs against the hand-built test plan and, when the pipeline is there, the demo plan planned by
`python -m optimizer plan`. Screenshots for review go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import urllib.request

import pytest
from maps_plan import INJECTION_NAME
from playwright.sync_api import Error as PlaywrightError

from optimizer.outputs import maps

SITES = ["fixture_site", "demo_site"]


@pytest.fixture(params=SITES)
def site(request):
    return request.getfixturevalue(request.param)


def _page_meta(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return maps.page_meta(resp.read().decode("utf-8"))


def _clean(log) -> None:
    assert log.errors == [], log.errors
    assert log.dialogs == [], f"a dialog fired: {log.dialogs}"
    assert log.external == [], f"requests outside the test server: {log.external}"


def _route_stops(site, cid: str) -> list[str]:
    meta = _page_meta(site.collector_urls[cid])
    return site.stops.get(meta.get("route", cid), site.stops.get(cid, []))


def test_collector_pages_markers_route_and_privacy(site, open_page):
    collectors = set(site.collector_urls)
    checked = 0
    for cid, url in site.collector_urls.items():
        meta = _page_meta(url)
        stops = _route_stops(site, cid)
        page, log, response = open_page(url)
        assert response.status == 200
        _clean(log)
        assert page.locator(".leaflet-marker-pane .cr-pin").count() == len(stops), cid
        assert page.locator("path.cr-route").count() == 1, cid
        assert page.locator("#cr-stops [data-stop]").count() == len(stops)
        listed = page.locator("#cr-stops [data-stop]").evaluate_all(
            "els => els.map(e => e.getAttribute('data-case-id'))"
        )
        assert listed == stops  # visiting order
        assert page.locator('img[src="x"]').count() == 0  # no injected markup
        words = set(re.findall(r"[\w-]+", page.content()))
        leaked = (site.all_case_ids - set(stops)) & words
        assert not leaked, f"{cid}'s page shows other cases {sorted(leaked)[:10]}"
        assert set(stops) <= words
        teammates = set(re.findall(r"[^\"\[\], ]+", meta.get("members", "")))
        named = (collectors - {cid} - teammates) & words
        assert not named, f"{cid}'s page names other collectors {sorted(named)}"
        if log.tiles == 0:
            pytest.fail("no background tile was requested: the map did not draw")
        checked += 1
    assert checked == len(site.collector_urls) > 0


def test_tapping_a_list_entry_opens_its_popup(site, open_page, shot):
    cid = max(site.collector_urls, key=lambda c: len(_route_stops(site, c)))
    stops = _route_stops(site, cid)
    assert len(stops) >= 2
    page, log, _ = open_page(site.collector_urls[cid])
    shot(page, f"{site.name}-collector-{cid}")
    target = len(stops)  # the last stop: the map has to move to it
    entry = page.locator(f'#cr-stops [data-stop="{target}"]')
    entry.scroll_into_view_if_needed()
    entry.locator(".cr-eta").tap()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible", timeout=5000)
    assert popup.locator(f'[data-case-id="{stops[target - 1]}"]').count() == 1
    assert popup.inner_text().startswith(f"{target}. {stops[target - 1]}")
    # the popup is on screen, above the stop list
    box = popup.bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 844
    assert "cr-active" in (entry.get_attribute("class") or "")
    page.wait_for_timeout(400)  # let the popup finish fading in for the screenshot
    # navigation links in the popup carry the four apps
    for key in ("amap", "baidu", "apple", "google"):
        assert popup.locator(f'a[data-nav="{key}"]').count() == 1
    shot(page, f"{site.name}-collector-{cid}-popup")
    # the List button folds the stop list away and the map takes the room
    map_box = page.locator(".folium-map").bounding_box()
    page.locator("#cr-toggle").tap()
    assert page.locator("#cr-sheet").is_hidden()
    assert page.locator(".folium-map").bounding_box()["height"] > map_box["height"] + 200
    page.locator("#cr-toggle").tap()
    assert page.locator("#cr-sheet").is_visible()
    _clean(log)


def test_overview_layers_summary_and_qr(site, open_page, shot):
    page, log, response = open_page(site.overview_url)
    assert response.status == 200
    _clean(log)
    total_stops = sum(len(v) for k, v in site.stops.items())
    routes = len({_page_meta(u).get("route", c) for c, u in site.collector_urls.items()})
    assert page.locator(".leaflet-marker-pane .cr-pin").count() == total_stops
    assert page.locator("path.cr-route").count() == routes
    assert page.locator(".leaflet-control-layers").count() == 1
    assert page.locator("#cr-summary").is_visible()
    shot(page, f"{site.name}-overview")
    # folded on a phone; opens on a tap
    assert page.locator("#cr-summary .cr-routes").is_hidden()
    page.locator("#cr-summary > details > summary").tap()
    assert page.locator("#cr-summary .cr-routes").is_visible()
    shot(page, f"{site.name}-overview-summary")
    # the served overview carries a QR code per collector link
    page.locator(".cr-links-box summary").tap()
    assert page.locator(".cr-links svg").count() == len(site.collector_urls)
    hrefs = page.locator(".cr-link a").evaluate_all("els => els.map(e => e.href)")
    assert sorted(hrefs) == sorted(site.collector_urls.values())
    shot(page, f"{site.name}-overview-qr")


def test_wrong_token_gets_404(site, browser):
    good = site.collector_urls[next(iter(site.collector_urls))]
    token = good.rstrip("/").rsplit("/", 1)[1]
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = ctx.new_page()
        for bad in (token[:-2] + "xy", "index.html", "links.json", "assets/", ""):
            url = f"{site.base_url}/{bad}"
            response = ctx.request.get(url)
            assert response.status == 404, bad
            assert response.body() == b""
            # Chromium shows its own error page for an empty 404: the page itself fails to load
            with pytest.raises(PlaywrightError, match="ERR_HTTP_RESPONSE_CODE_FAILURE"):
                page.goto(url)
    finally:
        ctx.close()


# --------------------------------------------------------------------------- test plan only


def test_injection_name_shows_as_text(self_contained_site, open_page, shot):
    page, log, _ = open_page(self_contained_site.collector_urls["C01"])
    entry = page.locator('#cr-stops [data-stop="2"]')
    assert entry.locator(".cr-name").inner_text() == INJECTION_NAME
    assert entry.locator(".cr-name").is_visible()
    entry.locator(".cr-eta").tap()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible", timeout=5000)
    assert INJECTION_NAME in popup.inner_text()
    assert page.locator('img[src="x"]').count() == 0
    shot(page, "fixture-injection-as-text")
    _clean(log)


def test_overview_popups_escape_input(fixture_site, open_page):
    page, log, _ = open_page(fixture_site.overview_url)
    circles = page.locator("path.cr-unvisited")
    assert circles.count() == 2
    texts = []
    for i in range(circles.count()):
        circles.nth(i).dispatch_event("click")
        popup = page.locator(".leaflet-popup-content").last  # the previous one may fade out
        popup.wait_for(state="visible", timeout=5000)
        texts.append(popup.inner_text())
    joined = "\n".join(texts)
    assert "<script>alert(4)</script>" in joined
    assert "weekends <b>bold</b>" in joined
    assert page.locator('img[src="x"]').count() == 0
    _clean(log)


@pytest.mark.parametrize("site_name", ["self_contained_site", "demo_site"])
def test_self_contained_page_works_with_the_network_cut_off(site_name, request, open_page, shot):
    site = request.getfixturevalue(site_name)
    assert site.self_contained
    cid = max(site.collector_urls, key=lambda c: len(_route_stops(site, c)))
    n_stops = len(_route_stops(site, cid))
    page, log, _ = open_page(site.collector_urls[cid], offline_assets=True)
    assert page.locator(".leaflet-marker-pane .cr-pin").count() == n_stops
    assert page.locator("path.cr-route").count() == 1
    assert page.locator("#cr-stops [data-stop]").count() == n_stops
    assert [e for e in log.errors if "Failed to load resource" not in e] == []
    # the only requests refused are background tiles
    assert log.external and all(("openstreetmap" in u) for u in log.external), log.external
    shot(page, f"{site.name}-collector-{cid}-offline")


def test_markup_names_show_as_text_on_overview(site, open_page, shot):
    """Names like `<img src=x onerror=alert(1)>` are shown as text in the overview's popups."""
    page, log, _ = open_page(site.overview_url)
    checked = 0
    for case_id, name in site.markup_names.items():
        found = page.evaluate(
            """id => {
                const m = CR.byCase[id];
                if (!m || !m.getElement()) return false;
                m.getElement().setAttribute('data-test-case', id);
                return true;
            }""",
            case_id,
        )
        if not found:  # a case without coordinates is not on the map
            continue
        page.locator(f'[data-test-case="{case_id}"]').dispatch_event("click")
        popup = page.locator(".leaflet-popup-content").last
        popup.wait_for(state="visible", timeout=5000)
        assert popup.locator(f'[data-case-id="{case_id}"]').count() == 1
        assert name in popup.inner_text()
        checked += 1
    assert checked > 0, "no markup-like customer name on the map to check"
    assert page.locator('img[src="x"]').count() == 0
    page.wait_for_timeout(400)
    shot(page, f"{site.name}-overview-markup-name-as-text")
    _clean(log)


def test_self_contained_file_opens_offline(self_contained_site, open_page):
    path = self_contained_site.plan_dir / maps.collector_page_filename("C02")
    page, log, _ = open_page(path.as_uri(), offline=True)
    assert page.locator(".leaflet-marker-pane .cr-pin").count() == len(
        self_contained_site.stops["C02"]
    )
    assert [e for e in log.errors if "Failed to load resource" not in e] == []
    assert log.dialogs == []


def test_amap_tiles_page_draws_on_gcj02_tiles(tmp_path, open_page):
    from maps_plan import make_plan

    plan = make_plan()
    path = maps.write_collector_page(
        plan, plan.routes[1], tmp_path / "C02.html", tiles="amap", self_contained=True
    )
    page, log, _ = open_page(path.as_uri())
    _clean(log)
    assert log.tiles > 0  # Amap tiles were asked for (and answered by the test)
    assert page.locator(".leaflet-marker-pane .cr-pin").count() == len(plan.routes[1].stops)
    assert page.locator("path.cr-route").count() == 1
    tile_srcs = page.locator(".leaflet-tile").evaluate_all("els => els.map(e => e.src)")
    assert tile_srcs and all(".is.autonavi.com/appmaptile" in s for s in tile_srcs)
