"""The re-plan notice of a collector page in Chromium: "Updated at HH:MM" and the route's changes
as text, byte for byte, even when a case id looks like markup or a template (the lines come from
`optimizer.outputs.tables.page_updates`; here hand-made, so the text is known).
"""

from __future__ import annotations

from maps_plan import make_plan

from optimizer.outputs import maps
from optimizer.outputs.tables import PageUpdate
from optimizer.outputs.write import write_manifest
from optimizer.web.serve import start_server

LINES = ("<img src=x onerror=alert(1)>: urgent visit added to your route",
         "{{ 7*191 }}: taken off your route (another crew visits it)")


def test_the_update_notice_is_shown_as_text(tmp_path, open_page):
    plan = make_plan()
    route = plan.routes[0]
    cid = route.collector.collector_id
    page_file = maps.collector_page_filename(cid)
    maps.write_collector_page(plan, route, tmp_path / page_file,
                              update=PageUpdate("13:05", "13:00", LINES))
    maps.write_overview(plan, tmp_path / "index.html")
    write_manifest(plan, tmp_path, overview="index.html", pages={cid: page_file})
    with start_server(tmp_path, port=0) as running:
        page, log, response = open_page(running.links.collectors[cid])
        assert response.status == 200
        assert page.locator("#cr-updated-at").text_content() == "Updated at 13:05"
        assert page.locator("#cr-update span").text_content() == "(re-planned from 13:00)"
        assert page.locator("#cr-changes li").all_text_contents() == list(LINES)
        assert page.locator("img:not(.leaflet-tile)").count() == 0  # no markup from the text
        assert log.errors == [] and log.dialogs == []
