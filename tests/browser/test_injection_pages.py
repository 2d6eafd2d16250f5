"""Template syntax in input text, as Chromium shows it: the text itself, byte for byte.

The pages of tests/injection_plan.py (every text field of both input files carries ``{{ 7*191 }}``,
``{% if 1 %}x{% endif %}``, ``{#``, ``{# x #}`` and expressions that would run shell commands),
planned by the real CLI and served by `optimizer.web.run` (the web application, no store). The
text content of the stop list, the popups, the layer control, the summary and the served links
must equal the input strings (masked where a collector's page masks them);
tests/test_template_injection.py checks the HTML sources.
"""

from __future__ import annotations

import pytest
from injection_plan import (
    BAD_VARIANT,
    carrier,
    collector_title,
    expected_name,
    routes_of,
    unassigned_of,
)

from optimizer.outputs import maps
from optimizer.web.run import start_server

_STOP_LIST = """() => Array.from(document.querySelectorAll('#cr-stops [data-stop]')).map(li => ({
    id: li.getAttribute('data-case-id'),
    case_id: li.querySelector('.cr-case').textContent,
    name: li.querySelector('.cr-name').textContent,
    address: li.querySelector('.cr-addr').textContent,
    phone: li.querySelector('[data-field=phone]').textContent,
    notes: li.querySelector('[data-field=notes]').textContent,
}))"""

# open the popup of a case (CR.byCase) and read its fields
_POPUP = """id => {
    const m = CR.byCase[id];
    if (!m) return null;
    m.openPopup();
    const box = m.getPopup().getElement().querySelector('.cr-popup');
    const out = {id: box.getAttribute('data-case-id')};
    box.querySelectorAll('[data-field]').forEach(e => {
        out[e.getAttribute('data-field')] = e.textContent;
    });
    m.closePopup();
    return out;
}"""


def _clean(page, log) -> None:
    assert log.errors == [], log.errors
    assert log.dialogs == [], log.dialogs
    assert log.external == [], log.external
    assert page.locator("img:not(.leaflet-tile)").count() == 0  # no markup from input


@pytest.fixture(scope="module")
def served(injected_plan):
    assert injected_plan.returncode == 0, injected_plan.stderr[-3000:]
    with start_server(injected_plan.out, port=0) as running:
        yield running


def test_collector_pages_show_the_text_itself(injected_plan, served, open_page, shot):
    inputs = injected_plan.inputs
    names = {cid: row["name"] for cid, row in inputs.collectors.items()}
    routes = {m: r for r in routes_of(injected_plan.out) for m in r.members}
    assert set(served.links.collectors) == set(inputs.collectors)
    for member, url in served.links.collectors.items():
        route = routes[member]
        name = expected_name(route, names, inputs.team)
        page, log, response = open_page(url)
        assert response.status == 200
        _clean(page, log)
        title = collector_title(route, name)
        assert page.title() == title
        assert page.locator(".cr-title").text_content() == title
        if len(route.members) > 1:
            stats = page.locator(".cr-stats").text_content()
            assert stats.endswith(" · team " + " + ".join(route.members))
        listed = page.evaluate(_STOP_LIST)
        assert [x["id"] for x in listed] == list(route.case_ids)
        for got in listed:
            k = inputs.cases[got["id"]]
            assert got == {
                "id": k["case_id"],
                "case_id": k["case_id"],
                "name": maps.mask_name(k["customer_name"]),
                "address": k["address"],
                "phone": maps.mask_phone(k["phone"]),
                "notes": k["notes"],
            }
        # tapping an entry opens its popup, which shows the same text
        for n, cid in enumerate(route.case_ids, start=1):
            page.locator(f'#cr-stops [data-stop="{n}"] .cr-eta').tap()
            page.wait_for_function(
                "id => { const p = document.querySelector('.leaflet-popup-content .cr-popup');"
                " return p && p.getAttribute('data-case-id') === id; }",
                arg=cid,
                timeout=5000,
            )
            k = inputs.cases[cid]
            fields = page.evaluate(
                """() => { const out = {};
                document.querySelectorAll('.leaflet-popup-content [data-field]').forEach(
                    e => { out[e.getAttribute('data-field')] = e.textContent; });
                return out; }"""
            )
            assert fields == {
                "case-id": k["case_id"],
                "name": maps.mask_name(k["customer_name"]),
                "address": k["address"],
                "phone": maps.mask_phone(k["phone"]),
                "notes": k["notes"],
            }
        shot(page, f"injection-collector-{len(route.case_ids)}-stops")
        _clean(page, log)


def test_overview_shows_the_text_itself(injected_plan, served, open_page, shot):
    inputs = injected_plan.inputs
    names = {cid: row["name"] for cid, row in inputs.collectors.items()}
    routes = routes_of(injected_plan.out)
    page, log, response = open_page(served.links.overview)
    assert response.status == 200
    _clean(page, log)
    # the layer control: one entry per route and one for the unvisited cases, named as text
    labels = page.evaluate(
        "() => Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(l => l.textContent)"
    )
    unassigned = unassigned_of(injected_plan.out)
    assert labels == [
        *(f" {r.route_id} {expected_name(r, names, inputs.team)} ({len(r.case_ids)})"
          for r in routes),
        f" Not visited ({len(unassigned)})",
    ]  # fmt: skip
    summary = page.evaluate(
        "() => Array.from(document.querySelectorAll('#cr-summary .cr-routes td:first-child'))"
        ".map(td => td.textContent)"
    )
    assert summary == [r.route_id for r in routes]
    # the popups of routed and unvisited cases (the dispatcher sees names unmasked)
    for r in routes:
        for cid in r.case_ids:
            k = inputs.cases[cid]
            assert page.evaluate(_POPUP, cid) == {
                "id": cid, "case-id": cid, "collector": r.route_id,
                "name": k["customer_name"], "address": k["address"], "phone": k["phone"],
                "notes": k["notes"],
            }  # fmt: skip
    for cid, row in unassigned.items():
        k = inputs.cases[cid]
        assert page.evaluate(_POPUP, cid) == {
            "id": cid, "case-id": cid, "name": k["customer_name"], "address": k["address"],
            "reason": row["reason"],
        }  # fmt: skip
    # the links section, as `serve` replaced it: each member's id and served link
    page.locator("#cr-summary > details > summary").tap()
    page.locator(".cr-links-box summary").tap()
    links = page.evaluate(
        "() => Array.from(document.querySelectorAll('.cr-link')).map(e => [e.getAttribute("
        "'data-collector-id'), e.querySelector('b').textContent, e.querySelector('a').href])"
    )
    assert sorted(links) == sorted([cid, cid, url] for cid, url in served.links.collectors.items())
    assert page.locator(".cr-links svg").count() == len(served.links.collectors)
    page.locator(".leaflet-control-layers").hover()
    shot(page, "injection-overview")
    _clean(page, log)


def test_whatif_report_and_variant_pages_show_the_text_itself(injected_whatif, open_page):
    run = injected_whatif
    assert run.returncode == 1, run.stderr[-3000:]
    m = run.inputs.marker_dir
    page, log, _ = open_page((run.out / "report.html").as_uri(), offline=True)
    assert log.errors == [] and log.dialogs == []
    assert page.locator("h1").text_content() == "What-if: injection"
    assert page.locator("p.meta").first.text_content() == carrier("scenario", m)
    assert page.locator("dt").all_text_contents() == ["base", "plus_one", BAD_VARIANT]
    dds = page.locator("dd").all_text_contents()
    assert dds[0].startswith(carrier("base", m))
    assert dds[1].startswith(carrier("variant", m))
    assert dds[2].startswith(carrier("bad", m))
    assert page.locator("tbody td.l").first.text_content() == "base"
    assert page.locator("tr.failed td.l").first.text_content() == BAD_VARIANT
    assert page.locator("h3").all_text_contents() == [BAD_VARIANT]
    error = page.locator("pre").text_content()
    assert BAD_VARIANT in error and "not usable as a folder name" in error
    # the added collector's page in the variant's plan
    names = {cid: row["name"] for cid, row in run.inputs.collectors.items()}
    names["NEW01"] = carrier("N-new", m)
    route = next(r for r in routes_of(run.out / "plus_one") if r.route_id == "NEW01")
    page, log, _ = open_page((run.out / "plus_one" / "NEW01.html").as_uri())
    _clean(page, log)
    assert page.title() == collector_title(route, names["NEW01"])
