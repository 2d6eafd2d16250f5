"""Template syntax in input text is shown as text: never evaluated, never a crash (issue 10, 1).

folium and branca build pages with Jinja2; input text must never reach a template source. Every
text field of both input files carries ``{{ 7*191 }}``, ``{% if 1 %}x{% endif %}``, a lone
``{#``, ``{# x #}`` and two expressions that would create a file through Python's ``os`` module
(tests/injection_plan.py). The plan and what-if CLIs run in real processes; the pages must carry
each text HTML-escaped and unchanged, and no marker file may appear. tests/browser/
test_injection_pages.py reads the same pages in Chromium.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from datetime import date
from pathlib import Path

import jinja2
import pytest
from injection_plan import (
    BAD_VARIANT,
    PLAN_DATE,
    carrier,
    collector_title,
    expected_name,
    routes_of,
    unassigned_of,
)
from maps_plan import make_plan
from plancheck import check_plan_outputs

from optimizer.io.inputs import read_cases, read_collectors
from optimizer.outputs import maps
from optimizer.planning.rules import PRESETS
from optimizer.whatif import edits, scenario

TAG = "ZQX"  # starts every input text of the in-process test: findable in template sources


def _data(text: str) -> dict:
    (block,) = re.findall(
        r'<script type="application/json" id="cr-data">(.*?)</script>', text, re.S
    )
    return json.loads(block)


def _popups(data: dict) -> str:
    routes = data["routes"] if "routes" in data else [data]
    popups = [s["popup"] for r in routes for s in r["stops"]]
    popups += [p["popup"] for p in data.get("unvisited", {}).get("points", [])]
    return "\n".join(popups)


# --------------------------------------------------------------------------- in process


def _payload_plan(marker_dir: Path):
    """The hand-built test plan with every text field replaced by template syntax."""
    plan = make_plan()

    def c(tag: str) -> str:
        return carrier(f"{TAG}-{tag}", marker_dir)

    def case(k):
        return dataclasses.replace(
            k, case_id=c(k.case_id), customer_name=c(f"name {k.case_id}"),
            phone=c(f"phone {k.case_id}"), address=c(f"addr {k.case_id}"),
            notes=c(f"notes {k.case_id}"), district=c("district"), skill=c("skill"),
        )  # fmt: skip

    routes = []
    for r in plan.routes:
        cid = c(r.collector.collector_id)
        collector = dataclasses.replace(r.collector, collector_id=cid, name=c("name"))
        stops = tuple(dataclasses.replace(s, collector_id=cid, case=case(s.case)) for s in r.stops)
        routes.append(dataclasses.replace(r, collector=collector, stops=stops, members=(cid,)))
    unassigned = tuple(
        dataclasses.replace(u, case=case(u.case), reason=c("reason"), reason_code=c("code"))
        for u in plan.unassigned
    )
    geocoded = {c(k): (c(f"matched {k}"), score, how) for k, (_, score, how) in
                plan.geocoded.items()}  # fmt: skip
    return dataclasses.replace(plan, routes=tuple(routes), unassigned=unassigned,
                               geocoded=geocoded)  # fmt: skip


def test_no_input_text_reaches_a_template_source(tmp_path, monkeypatch):
    """Every source Jinja2 compiles while pages are written is free of input text.

    Fails on the code before the fix: branca compiled the stop list, the summary and (through
    `MacroElement`) the page script as templates, so `{#` crashed and `{{ 7*191 }}` gave 1337.
    """
    compiled: list[str] = []
    real_compile = jinja2.Environment.compile

    def spy(self, source, *args, **kwargs):
        compiled.append(source if isinstance(source, str) else "")
        return real_compile(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", spy)
    marker_dir = tmp_path / "markers"
    marker_dir.mkdir()
    plan = _payload_plan(marker_dir)
    out = tmp_path / "out"
    pages = [maps.write_overview(plan, out / "index.html")]
    links = {r.collector.collector_id: f"http://127.0.0.1:1/{i}/" for i, r in
             enumerate(plan.routes)}  # fmt: skip
    pages.append(maps.write_overview(plan, out / "served.html", links=links, tiles="amap",
                                     self_contained=True, mask_private=True))  # fmt: skip
    for r in plan.routes:
        name = maps.collector_page_filename(r.collector.collector_id)
        pages.append(maps.write_collector_page(plan, r, out / name, mask_private=False))
        pages.append(maps.write_collector_page(plan, r, out / f"sc-{name}", self_contained=True))
    assert compiled, "the spy saw no template at all"
    leaked = [s for s in compiled if TAG in s]
    assert leaked == [], f"input text compiled as a template:\n{leaked[0][:500]}"
    assert list(marker_dir.iterdir()) == []
    # ... and every text is on its pages, escaped and unchanged
    overview = pages[0].read_text(encoding="utf-8")
    popups = _popups(_data(overview))
    for u in plan.unassigned:
        if u.lat is not None:
            for text in (u.case.case_id, u.case.customer_name, u.case.address, u.reason):
                assert html.escape(text) in popups
    for r in plan.routes:
        label = f"{r.collector.collector_id} {r.collector.name} ({len(r.stops)})"
        assert html.escape(label) in json.dumps([x["label"] for x in _data(overview)["routes"]],
                                                ensure_ascii=False)  # fmt: skip
        page = (out / maps.collector_page_filename(r.collector.collector_id)).read_text(
            encoding="utf-8")
        assert maps.page_meta(page)["collector-id"] == r.collector.collector_id
        title = f"{r.collector.collector_id} · {r.collector.name} · 2026-11-30"
        assert f"<title>{html.escape(title)}</title>" in page
        stop_popups = _popups(_data(page))
        for s in r.stops:
            k = s.case
            for text in (k.case_id, k.customer_name, k.phone, k.address, k.notes):
                assert html.escape(text) in page  # the stop list
                assert html.escape(text) in stop_popups
    served = pages[1].read_text(encoding="utf-8")
    for cid in links:
        assert f'data-collector-id="{html.escape(cid)}"' in served


def test_slot_markers_in_input_stay_text(tmp_path):
    """Input that looks like our own slot markers is escaped, so it cannot fill a slot."""
    plan = make_plan()
    r = plan.routes[0]
    odd = "<!--cr-slot:body--> <!--cr-slot:head-->"
    r = dataclasses.replace(r, collector=dataclasses.replace(r.collector, name=odd))
    plan = dataclasses.replace(plan, routes=(r, *plan.routes[1:]))
    text = maps.write_collector_page(plan, r, tmp_path / "p.html").read_text(encoding="utf-8")
    assert "<!--cr-slot" not in text and html.escape(odd) in text
    assert text.count('id="cr-data"') == 1


# --------------------------------------------------------------------------- the plan CLI


def _no_harm(run) -> None:
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.created_files() == [], "a payload ran a shell command"


def _resimulate(plan_dir: Path, cases, collectors, policy, cache_dir) -> None:
    from optimizer.geo.network import load_network

    errs = check_plan_outputs(plan_dir, cases, collectors, date.fromisoformat(PLAN_DATE), policy,
                              network=load_network(cache_dir=cache_dir))  # fmt: skip
    assert errs == [], errs[:5]


def check_plan_pages(plan_dir: Path, inputs, names: dict[str, str]) -> int:
    """Every text of the inputs is on its pages, HTML-escaped and unchanged; returns pages read."""
    routes = routes_of(plan_dir)
    unassigned = unassigned_of(plan_dir)
    cases = inputs.cases
    overview = (plan_dir / "index.html").read_text(encoding="utf-8")
    data = _data(overview)
    popups = _popups(data)
    labels = [x["label"] for x in data["routes"]]
    read = 1
    for route, label in zip(routes, labels, strict=True):
        name = expected_name(route, names, inputs.team)
        assert route.name == name
        assert html.escape(f"{route.route_id} {name} ({len(route.case_ids)})") in label
        assert f"{html.escape(route.route_id)}</td>" in overview  # the summary table
        for cid in route.case_ids:
            k = cases[cid]
            for f in ("case_id", "customer_name", "phone", "address", "notes"):
                assert html.escape(k[f]) in popups, (f, k[f])
        for member in route.members:
            # the overview links every member's page; the page is that member's
            href = maps.collector_page_filename(member)
            assert f'data-collector-id="{html.escape(member)}"' in overview
            assert f'href="{html.escape(href)}"' in overview
            page = (plan_dir / href).read_text(encoding="utf-8")
            read += 1
            meta = maps.page_meta(page)
            assert meta["collector-id"] == member and meta["route"] == route.route_id
            assert f"<title>{html.escape(collector_title(route, name))}</title>" in page
            stop_popups = _popups(_data(page))
            for cid in route.case_ids:
                k = cases[cid]
                for text in (k["case_id"], maps.mask_name(k["customer_name"]),
                             maps.mask_phone(k["phone"]), k["address"], k["notes"]):
                    assert html.escape(text) in page, text  # the stop list
                    assert html.escape(text) in stop_popups, text
                assert html.escape(k["customer_name"]) not in page  # masked on a phone
    for cid, row in unassigned.items():
        for text in (cid, cases[cid]["customer_name"], cases[cid]["address"], row["reason"]):
            assert html.escape(text) in popups, text
    return read


def test_plan_with_template_syntax_in_every_field(injected_plan, cache_dir):
    run = injected_plan
    assert run.returncode == 0, run.stderr[-3000:]
    _no_harm(run)
    inputs = run.inputs
    _resimulate(run.out, read_cases(inputs.cases_csv), read_collectors(inputs.collectors_csv),
                PRESETS["none"], cache_dir)  # fmt: skip
    names = {cid: row["name"] for cid, row in inputs.collectors.items()}
    assert check_plan_pages(run.out, inputs, names) == 1 + len(inputs.collectors)
    # the plan used what the fixture sets up: a team, a skill, a fixed and a preferred collector
    routes = routes_of(run.out)
    assert inputs.team in {r.route_id for r in routes}
    ids = list(inputs.collectors)
    rows = list(inputs.cases.values())
    on = {c: r.route_id for r in routes for c in r.case_ids}
    assert on[rows[1]["case_id"]] == ids[0]  # skill S1: only K1 has it
    assert on[rows[3]["case_id"]] == ids[0]  # fixed collector K1
    unassigned = unassigned_of(run.out)
    # the reasons name the skill and the district nobody has, as text
    assert rows[4]["skill"] in unassigned[rows[4]["case_id"]]["reason"]
    assert rows[5]["district"] in unassigned[rows[5]["case_id"]]["reason"]
    # each page file is a different collector's, also ignoring case
    pages = [p.name.casefold() for p in run.out.glob("*.html")]
    assert len(set(pages)) == len(pages) == 1 + len(ids)


# --------------------------------------------------------------------------- what-if


def test_whatif_with_template_syntax_in_names_and_texts(injected_whatif, cache_dir):
    run = injected_whatif
    _no_harm(run)
    assert run.returncode == 1, run.stderr[-3000:]  # the bad variant failed, the others ran
    kpis = json.loads((run.out / "kpis.json").read_text(encoding="utf-8"))
    rows = {r["variant"]: r for r in kpis["variants"]}
    assert list(rows) == ["base", "plus_one", BAD_VARIANT]
    assert rows["base"]["status"] == rows["plus_one"]["status"] == "ok"
    assert rows[BAD_VARIANT]["status"] == "failed"
    assert "not usable as a folder name" in rows[BAD_VARIANT]["error"]
    assert BAD_VARIANT in rows[BAD_VARIANT]["error"]
    page = (run.out / "report.html").read_text(encoding="utf-8")
    marker_dir = run.inputs.marker_dir
    for text in (carrier("scenario", marker_dir), carrier("variant", marker_dir),
                 carrier("base", marker_dir), carrier("bad", marker_dir), BAD_VARIANT,
                 rows[BAD_VARIANT]["error"]):
        assert html.escape(text) in page, text
    # every variant's plan holds, and its pages show the inputs' text (the added collector too)
    sc = scenario.load_scenario(run.scenario)
    cases = read_cases(run.inputs.cases_csv)
    base_cols = read_collectors(run.inputs.collectors_csv)
    names = {cid: row["name"] for cid, row in run.inputs.collectors.items()}
    names["NEW01"] = carrier("N-new", marker_dir)
    for name in ("base", "plus_one"):
        v = sc.variant(name)
        cols = edits.edit_collectors(base_cols, v.team)
        assert v.settings is not None
        _resimulate(run.out / rows[name]["plan_dir"], cases, cols, v.settings.policy, cache_dir)
        read = check_plan_pages(run.out / rows[name]["plan_dir"], run.inputs, names)
        assert read == 1 + len(cols)


@pytest.mark.parametrize("field", ["case_id", "customer_name", "phone", "address", "district",
                                   "notes", "skill", "preferred_collector", "fixed_collector"])
def test_every_case_text_field_carries_every_payload(injected_plan, field):
    """The fixture itself: the field carries each payload in some row (guards the test data)."""
    from injection_plan import payloads

    values = [row[field] for row in injected_plan.inputs.cases.values() if row[field]]
    for p in payloads(injected_plan.inputs.marker_dir):
        assert any(p in v for v in values), (field, p)


@pytest.mark.parametrize("field", ["collector_id", "name", "team", "start_address",
                                   "end_address", "skills", "districts"])
def test_every_collector_text_field_carries_every_payload(injected_plan, field):
    from injection_plan import payloads

    values = [row[field] for row in injected_plan.inputs.collectors.values() if row[field]]
    for p in payloads(injected_plan.inputs.marker_dir):
        assert any(p in v for v in values), (field, p)
