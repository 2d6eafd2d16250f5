"""Printable route sheets: ``routes.xlsx``, one worksheet per route plus a summary and the cases
not visited; and a multi-day plan's week workbook (`write_week_workbook`).

Each route sheet starts with the route (who, date, shift, leave and return, lunch, stops,
distance), then one row per stop in visiting order: times, window, customer, phone, address,
amounts, travel from the previous place, and empty *Outcome* / *Promise date* / *Amount paid*
columns for the collector to fill in (the record the next plans are built from). An address
matched with uncertainty is flagged in its own column. The sheets are set up for printing
(landscape, one page wide, header row repeated on every page).

This is the dispatcher's document: names and phones are not masked (the collector pages are).
Text from the input is always written as text, never as a formula.
"""

from __future__ import annotations

import re
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from optimizer.horizon import HorizonPlan
from optimizer.model import Plan, PlannedRoute, geocode_status, hhmm
from optimizer.outputs.tables import clock

#: Columns of a route sheet: (heading, width in characters).
STOP_COLUMNS = (
    ("Stop", 6),
    ("Arrive", 9),
    ("Start", 9),
    ("Leave", 9),
    ("Window", 13),
    ("Case", 11),
    ("Customer", 14),
    ("Phone", 15),
    ("Address", 40),
    ("Overdue", 11),
    ("Days past due", 8),
    ("Value", 11),
    ("Travel (min)", 8),
    ("Distance (km)", 9),
    ("Address check", 24),
    ("Notes", 24),
    ("Outcome", 16),
    ("Promise date", 12),
    ("Amount paid", 11),
)
SUMMARY_COLUMNS = (
    ("Route", 14), ("Collectors", 24), ("Shift", 12), ("Stops", 7), ("Value", 13),
    ("Leave", 8), ("Return", 8), ("Distance (km)", 10), ("Travel (h)", 9), ("Utilisation", 10),
)  # fmt: skip
UNVISITED_COLUMNS = (
    ("Case", 11), ("Reason code", 18), ("Reason", 60), ("Value", 11), ("Overdue", 11),
    ("Days past due", 8), ("Address", 40),
)  # fmt: skip

_MONEY = "#,##0.00"
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
# characters an .xlsx (XML 1.0) cannot hold; a CSV can carry them in from the input
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _put(ws, row: int, col: int, value):
    """Write one cell; text is always text, never a formula (spreadsheet injection), and
    characters an .xlsx cannot hold become U+FFFD."""
    cell = ws.cell(row, col, _ILLEGAL_XML.sub("\ufffd", value) if isinstance(value, str) else value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def sheet_title(route_id: str, taken: set[str]) -> str:
    """A valid, unique worksheet name for a route (Excel: 31 characters, no ``[]:*?/\\``)."""
    base = _BAD_SHEET_CHARS.sub("_", route_id).strip("'") or "route"
    base = base[:31]
    title, n = base, 2
    while title.lower() in taken or title.lower() in ("summary", "not visited"):
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(title.lower())
    return title


def write_route_workbook(plan: Plan, path: str | Path) -> Path:
    """Write ``routes.xlsx``: a *Summary* sheet, one sheet per route, a *Not visited* sheet."""
    wb = Workbook()
    summary = wb.active
    assert isinstance(summary, Worksheet)  # a new workbook holds one worksheet, active
    summary.title = "Summary"
    _summary_sheet(summary, plan)
    taken: set[str] = set()
    for route in plan.routes:
        ws = wb.create_sheet(sheet_title(route.collector.collector_id, taken))
        _route_sheet(ws, plan, route)
    _unvisited_sheet(wb.create_sheet("Not visited"), plan)
    path = Path(path)
    wb.save(path)
    return path


# --------------------------------------------------------------------------- sheets


def _summary_sheet(ws, plan: Plan) -> None:
    s = plan.summary
    _put(ws, 1, 1, f"Plan for {plan.plan_date.isoformat()}").font = Font(bold=True, size=14)
    if s is not None:
        _put(ws, 2, 1,
            f"Visited {s.cases_visited} of {s.cases_total} cases, value "
            f"{s.value_visited:,.2f} of {s.value_total:,.2f}; policy "
            f"{s.policy}, weighting {s.weighting}")
    header_row = ws.max_row + 2  # a blank row, then the table
    utilisation = {p.collector_id: p.utilisation for p in (s.per_collector if s else ())}
    rows = []
    for r in plan.routes:
        rows.append([
            r.collector.collector_id,
            r.collector.name or "+".join(r.members),
            r.collector.shift.label(),
            len(r.stops),
            round(r.value, 2),
            hhmm(r.leave_s) if r.stops else "",
            hhmm(r.return_s) if r.stops else "",
            round(r.travel_m / 1000, 1),
            round(r.travel_s / 3600, 2),
            utilisation.get(r.collector.collector_id, ""),
        ])
    _table(ws, SUMMARY_COLUMNS, rows, header_row, money_cols=(5,), percent_cols=(10,))
    total = ws.max_row + 1
    _put(ws, total, 1, "Total").font = Font(bold=True)
    ws.cell(total, 4, sum(len(r.stops) for r in plan.routes)).font = Font(bold=True)
    cell = ws.cell(total, 5, round(sum(r.value for r in plan.routes), 2))
    cell.font, cell.number_format = Font(bold=True), _MONEY
    ws.cell(total, 8, round(sum(r.travel_m for r in plan.routes) / 1000, 1))
    ws.cell(total, 9, round(sum(r.travel_s for r in plan.routes) / 3600, 2))


def _route_sheet(ws, plan: Plan, route: PlannedRoute) -> None:
    c = route.collector
    who = c.name or "+".join(route.members)
    # the sheet's title line carries input text (ids, names): text, never a formula
    title = _put(ws, 1, 1, f"{c.collector_id} · {who} · {plan.plan_date.isoformat()}")
    title.font = Font(bold=True, size=14)
    breaks = ", ".join(f"{hhmm(a)}-{hhmm(b)}" for a, b in route.breaks) or "none"
    _put(ws, 2, 1,
        f"Shift {c.shift.label()} · leave {hhmm(route.leave_s) if route.stops else '-'} · back "
        f"{hhmm(route.return_s) if route.stops else '-'} · {len(route.stops)} stops · "
        f"{route.travel_m / 1000:.1f} km, {route.travel_s / 60:.0f} min travel · lunch {breaks}")
    header_row = ws.max_row + 2  # a blank row, then the table
    rows = []
    for s in route.stops:
        case = s.case
        geo = plan.geocoded.get(case.case_id)
        check = (f"uncertain: pin at {geo[0]}" if geo is not None
                 and geocode_status(geo[2], geo[1]) == "uncertain" else "")
        rows.append([
            s.stop, clock(s.arrive_s), clock(s.start_s), clock(s.depart_s), s.window.label(),
            case.case_id, case.customer_name, case.phone, case.address,
            case.amount_overdue, case.days_past_due, round(s.value, 2),
            round(s.travel_s / 60, 1), round(s.travel_m / 1000, 2), check, case.notes,
            "", "", "",
        ])  # fmt: skip
    _table(ws, STOP_COLUMNS, rows, header_row, money_cols=(10, 12, 19), wrap_cols=(9, 15, 16))
    ws.print_title_rows = f"{header_row}:{header_row}"


def _unvisited_sheet(ws, plan: Plan) -> None:
    rows = [
        [u.case.case_id, u.reason_code, u.reason, round(u.value, 2), u.case.amount_overdue,
         u.case.days_past_due, u.case.address]  # fmt: skip
        for u in plan.unassigned
    ]
    _table(ws, UNVISITED_COLUMNS, rows, 1, money_cols=(4, 5), wrap_cols=(3,))
    ws.print_title_rows = "1:1"


def _table(ws, columns, rows, header_row: int, *, money_cols=(), percent_cols=(), wrap_cols=()):
    """Header, rows, widths, filters, frozen header and print setup (landscape, fit width)."""
    fill = PatternFill("solid", fgColor="DDE6F0")
    for j, (heading, width) in enumerate(columns, start=1):
        cell = _put(ws, header_row, j, heading)
        cell.font, cell.fill = Font(bold=True), fill
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(j)].width = width
    for i, row in enumerate(rows, start=header_row + 1):
        for j, value in enumerate(row, start=1):
            cell = _put(ws, i, j, value)
            if j in money_cols:
                cell.number_format = _MONEY
            elif j in percent_cols:
                cell.number_format = "0%"
            if j in wrap_cols:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            else:
                cell.alignment = Alignment(vertical="top")
    last = get_column_letter(len(columns))
    if rows:
        ws.auto_filter.ref = f"A{header_row}:{last}{header_row + len(rows)}"
    ws.freeze_panes = ws.cell(header_row + 1, 1)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


# --------------------------------------------------------------------------- multi-day plans

WEEK_VISIT_COLUMNS = (
    ("Date", 11), ("Day", 5), ("Route", 14), ("Collectors", 18), ("Stop", 6), ("Start", 9),
    ("Window", 13), ("Case", 11), ("Customer", 14), ("Phone", 15), ("Address", 40),
    ("Overdue", 11), ("Days past due", 8), ("Value", 11),
)  # fmt: skip
WEEK_UNVISITED_COLUMNS = (
    ("Case", 11), ("Reason code", 18), ("Reason (last day)", 60), ("Overdue", 11),
    ("Address", 40),
)  # fmt: skip


def write_week_workbook(plan: HorizonPlan, path: str | Path) -> Path:
    """Write a multi-day plan's ``routes.xlsx``: the dispatcher's week in one workbook.

    *Week*: collector x day (visits that day, ``off`` when the collector has no route that day)
    with the day's visits, value, travel and routes below; *Visits*: every planned visit of the
    horizon, one row each, by date, route and stop (filter by case to see its day, by collector
    to see their week); *Not visited*: the cases no day visits, with the last day's reason.
    The route sheets collectors fill in stay in each day's own ``routes.xlsx``.
    """
    wb = Workbook()
    ws = wb.active
    assert isinstance(ws, Worksheet)  # a new workbook holds one worksheet, active
    ws.title = "Week"
    _week_sheet(ws, plan)
    _week_visits_sheet(wb.create_sheet("Visits"), plan)
    _week_unvisited_sheet(wb.create_sheet("Not visited"), plan)
    path = Path(path)
    wb.save(path)
    return path


def _week_sheet(ws, plan: HorizonPlan) -> None:
    s = plan.summary
    _put(ws, 1, 1, f"Plan for {s.days} days, {s.first_date.isoformat()} to "
         f"{s.last_date.isoformat()}").font = Font(bold=True, size=14)
    _put(ws, 2, 1, f"Visited {s.cases_visited} of {s.cases_total} cases ({s.visits} visits), "
         f"value {s.value_visited:,.2f} of {s.value_total:,.2f}; policy {s.policy}")
    days = [d.plan.plan_date for d in plan.days]
    columns = (("Collector", 14), *((f"{d:%a} {d.isoformat()}", 12) for d in days),
               ("Total", 9))
    working = [{m for r in d.plan.routes for m in (r.members or (r.collector.collector_id,))}
               for d in plan.days]
    ids = sorted(set().union(*working)) if working else []
    rows = []
    for cid in ids:
        cells: list = [cid]
        for t, on in zip(s.per_day, working, strict=True):
            cells.append(t.visits_by_collector.get(cid, 0) if cid in on else "off")
        cells.append(sum(t.visits_by_collector.get(cid, 0) for t in s.per_day))
        rows.append(cells)
    header_row = 4
    _table(ws, columns, rows, header_row)
    lines = (("Visits", [t.cases_visited for t in s.per_day], s.visits, None),
             ("Value", [t.value_visited for t in s.per_day], s.value_visited, _MONEY),
             ("Travel (h)", [round(t.travel_s / 3600, 2) for t in s.per_day],
              round(s.travel_s_total / 3600, 2), None),
             ("Routes", [t.routes_used for t in s.per_day],
              sum(t.routes_used for t in s.per_day), None))
    row = ws.max_row + 1
    for label, values, total, fmt in lines:
        _put(ws, row, 1, label).font = Font(bold=True)
        for j, v in enumerate([*values, total], start=2):
            cell = ws.cell(row, j, v)
            cell.font = Font(bold=True)
            if fmt:
                cell.number_format = fmt
        row += 1


def _week_visits_sheet(ws, plan: HorizonPlan) -> None:
    rows = []
    for d in plan.days:
        p = d.plan
        for r in p.routes:
            for s in r.stops:
                c = s.case
                rows.append([
                    p.plan_date.isoformat(), f"{p.plan_date:%a}", r.collector.collector_id,
                    "+".join(r.members or (r.collector.collector_id,)), s.stop,
                    clock(s.start_s), s.window.label(), c.case_id, c.customer_name, c.phone,
                    c.address, c.amount_overdue, c.days_past_due, round(s.value, 2),
                ])  # fmt: skip
    _table(ws, WEEK_VISIT_COLUMNS, rows, 1, money_cols=(12, 14), wrap_cols=(11,))
    ws.print_title_rows = "1:1"


def _week_unvisited_sheet(ws, plan: HorizonPlan) -> None:
    visited = {s.case.case_id for d in plan.days for r in d.plan.routes for s in r.stops}
    last = plan.days[-1].plan if plan.days else None
    rows = [[u.case.case_id, u.reason_code, u.reason, u.case.amount_overdue, u.case.address]
            for u in (last.unassigned if last is not None else ())
            if u.case.case_id not in visited]
    _table(ws, WEEK_UNVISITED_COLUMNS, rows, 1, money_cols=(4,), wrap_cols=(3, 5))
    ws.print_title_rows = "1:1"
