"""routes.xlsx: the printable route sheets, read back with openpyxl."""

from __future__ import annotations

import dataclasses

import pytest
from maps_plan import INJECTION_NAME, make_plan
from openpyxl import load_workbook

from optimizer.outputs.sheets import STOP_COLUMNS, sheet_title, write_route_workbook
from optimizer.outputs.tables import clock, route_rows


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    plan = make_plan()
    # a customer whose name would be a formula if written as one
    r0 = plan.routes[0]
    s0 = r0.stops[0]
    s0 = dataclasses.replace(s0, case=dataclasses.replace(s0.case, customer_name="=1+1"))
    plan = dataclasses.replace(
        plan, routes=(dataclasses.replace(r0, stops=(s0, *r0.stops[1:])), *plan.routes[1:])
    )
    path = write_route_workbook(plan, tmp_path_factory.mktemp("xlsx") / "routes.xlsx")
    return plan, load_workbook(path)


def _table(ws, first_heading: str) -> tuple[list[str], list[tuple]]:
    rows = list(ws.iter_rows(values_only=True))
    h = next(i for i, r in enumerate(rows) if r[0] == first_heading)
    body = [r for r in rows[h + 1 :] if r[0] is not None and r[0] != "Total"]
    return list(rows[h]), body


def test_one_sheet_per_route_with_every_stop_in_order(book):
    plan, wb = book
    assert wb.sheetnames == ["Summary", *(r.collector.collector_id for r in plan.routes),
                             "Not visited"]  # fmt: skip
    csv_rows = route_rows(plan)
    for route in plan.routes:
        ws = wb[route.collector.collector_id]
        heading, body = _table(ws, "Stop")
        assert heading == [h for h, _ in STOP_COLUMNS]
        assert [r[5] for r in body] == [s.case.case_id for s in route.stops]
        for r, s in zip(body, route.stops, strict=True):
            assert r[0] == s.stop and r[2] == clock(s.start_s) and r[4] == s.window.label()
            assert r[9] == s.case.amount_overdue and r[11] == pytest.approx(s.value, abs=0.01)
            assert r[16] is None  # "Outcome" is left for the collector
        assert ws.freeze_panes == f"A{ws.max_row - len(body) + 1}" or not body
        assert ws.page_setup.orientation == "landscape"
    assert sum(len(_table(wb[r.collector.collector_id], "Stop")[1]) for r in plan.routes) == len(
        csv_rows
    )


def test_summary_and_not_visited(book):
    plan, wb = book
    _, body = _table(wb["Summary"], "Route")
    assert [r[0] for r in body] == [r.collector.collector_id for r in plan.routes]
    assert [r[3] for r in body] == [len(r.stops) for r in plan.routes]
    total = next(r for r in wb["Summary"].iter_rows(values_only=True) if r[0] == "Total")
    assert total[3] == sum(len(r.stops) for r in plan.routes)
    assert total[4] == pytest.approx(sum(r.value for r in plan.routes), abs=0.01)
    _, body = _table(wb["Not visited"], "Case")
    assert [(r[0], r[1]) for r in body] == [(u.case.case_id, u.reason_code)
                                            for u in plan.unassigned]  # fmt: skip


def test_input_text_is_never_a_formula(book):
    plan, wb = book
    ws = wb[plan.routes[0].collector.collector_id]
    cells = [c for row in ws.iter_rows() for c in row if c.value in ("=1+1", INJECTION_NAME)]
    assert {c.value for c in cells} == {"=1+1", INJECTION_NAME}
    assert all(c.data_type == "s" for c in cells)


def test_uncertain_address_is_flagged_on_its_stop(book):
    plan, wb = book
    owner = next(r for r in plan.routes if any(s.case.case_id == "K-1002" for s in r.stops))
    _, body = _table(wb[owner.collector.collector_id], "Stop")
    flagged = {r[5]: r[14] for r in body if r[14]}
    assert list(flagged) == ["K-1002"] and flagged["K-1002"].startswith("uncertain: pin at 春熙路")


def test_sheet_titles_are_valid_and_unique():
    taken: set[str] = set()
    a = sheet_title("K1/K2:[north]", taken)
    b = sheet_title("K1_K2__north_", taken)
    c = sheet_title("x" * 40, taken)
    d = sheet_title("Summary", taken)
    assert a == "K1_K2__north_" and b == "K1_K2__north_ (2)"
    assert len(c) == 31 and d == "Summary (2)"


def test_every_input_text_is_text_including_the_route_sheets_title(tmp_path):
    # a collector id and name that are formulas, a note with a control character an .xlsx
    # cannot hold (a CSV can carry one in), and customers starting with + - @
    plan = make_plan()
    r0 = plan.routes[0]
    evil_id = "=HYPERLINK(\"http://x.invalid\",\"pay\")"
    collector = dataclasses.replace(r0.collector, collector_id=evil_id, name="@SUM(1)")
    names = ("+1", "-2", "@x")
    stops = tuple(dataclasses.replace(s, case=dataclasses.replace(
        s.case, customer_name=names[k % 3], notes="bell\x07rings")) for k, s in enumerate(r0.stops))
    plan = dataclasses.replace(plan, routes=(dataclasses.replace(r0, collector=collector,
                                                                 stops=stops), *plan.routes[1:]))
    wb = load_workbook(write_route_workbook(plan, tmp_path / "routes.xlsx"))
    ws = wb.worksheets[1]
    assert ws.title == sheet_title(evil_id, set())
    title = ws["A1"]
    assert title.data_type == "s" and title.value.startswith(f"{evil_id} · @SUM(1) · ")
    text_cells = [c for w in wb.worksheets for row in w.iter_rows() for c in row
                  if isinstance(c.value, str)]
    assert all(c.data_type == "s" for c in text_cells)
    assert not [c for c in text_cells if c.data_type == "f"]
    body = _table(ws, "Stop")[1]
    assert [r[6] for r in body] == [names[k % 3] for k in range(len(stops))]
    assert {r[15] for r in body} == {"bell\ufffdrings"}
    (first,) = [c for row in wb["Summary"].iter_rows() for c in row if c.value == evil_id]
    assert first.data_type == "s"
