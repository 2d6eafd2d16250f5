"""Read visit outcomes from files: a filled ``routes.xlsx`` or an outcome CSV.

*Route sheets* are the workbook ``plan`` writes (`optimizer.outputs.sheets`): every route sheet
starts with a title line ``<route id> · <names> · <YYYY-MM-DD>``, then a table whose empty
*Outcome*, *Promise date* and *Amount paid* columns the collector fills in. The *Summary* and
*Not visited* sheets are not read.

*An outcome CSV* (or a one-sheet .xlsx table) has the columns ``case_id, outcome,
promise_date, amount_paid, note``, optionally ``visit_date`` (YYYY-MM-DD; else the date the
caller gives), ``new_address`` and ``instalments``.

The *Outcome* cell holds the English code or its Chinese label (`optimizer.store.outcomes`),
optionally followed by its detail: the number of instalments (``分期 6``,
``instalment_agreed x6``), the new address of a ``moved``/``wrong_address``
(``已搬走 金牛区一环路北5号``), else a note (``困难 失业三个月``). *Amount paid* holds the
amount of the outcome: paid for ``paid``/``partial_payment``, promised for
``promise_to_pay``, each instalment's for ``instalment_agreed``; *Promise date* the promised
date (the first instalment's). A row without an outcome is a stop not reported (counted, not
an error).

Every problem of the file is raised at once (`InputError`), each naming the file and sheet,
the row as Excel shows it, the case id, the column, the value and the fix; the outcome rules
are the store's one validator (`optimizer.store.outcomes.parse_result`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from optimizer.errors import InputError, Issue
from optimizer.io.files import Table, number_readings, read_table
from optimizer.io.inputs import parse_date
from optimizer.store.outcomes import (
    CODES,
    OutcomeInput,
    OutcomeResult,
    code_of,
    parse_result,
)

Sheet = Any  # an openpyxl worksheet, read-only (its classes are not public)

#: the columns of a route sheet this reader uses
SHEET_COLUMNS = ("Case", "Start", "Outcome", "Promise date", "Amount paid")
CSV_COLUMNS = ("case_id", "outcome", "promise_date", "amount_paid", "note")
CSV_OPTIONAL = ("visit_date", "new_address", "instalments")
SKIPPED_SHEETS = ("summary", "not visited")

#: where a field of the outcome sits on a route sheet (for messages)
SHEET_LABELS = {"outcome": "Outcome", "amount": "Amount paid", "instalment_amount": "Amount paid",
                "promise_date": "Promise date", "instalment_first_date": "Promise date",
                "instalment_count": "Outcome", "new_address": "Outcome", "note": "Outcome"}
CSV_LABELS = {"amount": "amount_paid", "instalment_amount": "amount_paid",
              "instalment_first_date": "promise_date", "instalment_count": "instalments"}

_NAMES = sorted({*(c.code for c in CODES.values()), *(c.label_zh for c in CODES.values()),
                 *(c.label_en for c in CODES.values())}, key=len, reverse=True)
_COUNT = re.compile(r"^[x×*]?\s*(\d+)\s*(?:期|instalments?|installments?)?\s*(.*)$", re.I | re.S)


@dataclass(frozen=True)
class OutcomeRow:
    """One reported visit, validated.

    ``route_id`` is the route sheet's crew id ("" in a CSV); ``planned_start_s`` the planned
    start of the visit in seconds since midnight (route sheets), None if unknown.
    """

    file: str
    sheet: str
    row: int
    case_id: str
    visit_date: date
    result: OutcomeResult
    route_id: str = ""
    planned_start_s: int | None = None

    @property
    def where(self) -> str:
        return f"{self.file} sheet '{self.sheet}'" if self.sheet else self.file

    @property
    def key(self) -> str:
        """A stable idempotency key: importing the same report again records nothing new."""
        if self.sheet:
            return f"sheet:{self.visit_date.isoformat()}:{self.route_id}:{self.case_id}"
        return f"csv:{self.visit_date.isoformat()}:{self.case_id}"

    def event_time(self, tz: tzinfo) -> datetime:
        """The visit's time in the city's zone: the planned start, else noon of the day."""
        t = (datetime.combine(self.visit_date, time(0)) + timedelta(seconds=self.planned_start_s)
             if self.planned_start_s is not None else datetime.combine(self.visit_date, time(12)))
        return t.replace(tzinfo=tz)

    def to_input(self, *, collectors: tuple[str, ...], tz: tzinfo,
                 plan_id: int | None = None) -> OutcomeInput:
        """The outcome to record (`optimizer.store.events.record_outcome`); `collectors` are
        the route's members (the store's published route knows them)."""
        return OutcomeInput(key=self.key, case_id=self.case_id, result=self.result,
                            collectors=collectors, event_time=self.event_time(tz),
                            source="sheet", plan_id=plan_id)


@dataclass(frozen=True)
class OutcomeFile:
    """The outcomes of a file, the stops left blank (sheet, row, case id), and the problems of
    the rows that could not be read (only with ``read_outcome_file(..., keep_problems=True)``:
    the caller adds its own and raises them all at once)."""

    name: str
    kind: str  # "route_sheets" or "table"
    rows: tuple[OutcomeRow, ...]
    blank: tuple[tuple[str, int, str], ...] = ()
    problems: tuple[Issue, ...] = ()


def split_outcome(text: str) -> tuple[str, str]:
    """The code a cell names and the detail after it: ``'分期 6期'`` -> ``('分期', '6期')``."""
    t = text.strip()
    if code_of(t):
        return t, ""
    for name in _NAMES:
        if t.lower().startswith(name.lower()) and code_of(name):
            return name, t[len(name):].strip(" ：:,，-–")
    head, _, rest = t.partition(" ")
    return head, rest.strip()


def _fields(outcome_text: str, promise: object, amount: object, extra: Mapping[str, str]
            ) -> dict[str, object]:
    """The validator's fields from a row's cells, each where its code wants it."""
    name, detail = split_outcome(outcome_text)
    code = code_of(name)
    data: dict[str, object] = {"outcome": name if code else outcome_text}
    if code == "instalment_agreed":
        m = _COUNT.match(detail)
        if detail and m:
            data["instalment_count"] = m.group(1)
            detail = m.group(2).strip()
        data["instalment_first_date"] = promise
        data["instalment_amount"] = amount
        data["note"] = detail
    else:
        data["promise_date"] = promise
        data["amount"] = amount
        data["new_address" if code in ("wrong_address", "moved") else "note"] = detail
    for k, v in extra.items():  # a CSV's own columns
        if not isinstance(v, str) or not v.strip():
            continue
        if k == "note" and data.get("note"):
            data["note"] = f"{data['note']}; {v.strip()}"  # the outcome cell's detail, then it
        else:
            data[k] = v.strip()
    return data


def _cell_value(v: object) -> object:
    if isinstance(v, datetime):
        return v.date() if v.time() == time(0) else v
    if isinstance(v, str):
        return v.strip()
    return v


def _number(v: object, mark: str = ".") -> object:
    """A number cell as a float; text as a person writes it (``2,000``, ``¥1,999.50``)."""
    if not isinstance(v, str) or not v:
        return v
    readings = number_readings(v)
    if len(readings) == 1:
        return readings[0][0]
    settled = [x for x, m in readings if m == mark]
    return settled[0] if settled else v


def _start_s(v: object) -> int | None:
    if isinstance(v, time):
        return v.hour * 3600 + v.minute * 60 + v.second
    if isinstance(v, str):
        m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", v.strip())
        if m:
            return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)
    return None


def read_outcome_file(path: str | Path, *, visit_date: date | None = None,
                      keep_problems: bool = False) -> OutcomeFile:
    """Read a filled route workbook or an outcome CSV/xlsx table (see the module docstring).

    Parameters
    ----------
    visit_date
        The day of the visits of a CSV without a ``visit_date`` column (route sheets carry
        their date).
    keep_problems
        Return the rows read and the problems of the others (`OutcomeFile.problems`) instead
        of raising them, so the caller can report its own checks of the good rows with them.
        A file that cannot be read at all still raises.

    Raises
    ------
    InputError
        Every problem of the file at once.
    """
    p = Path(path)
    if p.suffix.lower() in (".xlsx", ".xlsm") and p.is_file():
        try:
            wb = load_workbook(p, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl/zipfile raise many types
            raise InputError([Issue(p.name, 0, "", "", "", f"the workbook cannot be opened "
                                      f"({type(exc).__name__}: {exc})",
                                      "save it again as .xlsx in Excel or WPS")]) from None
        try:
            sheets = [ws for ws in wb.worksheets
                      if ws.title.strip().lower() not in SKIPPED_SHEETS]
            if any(_header(ws) is not None for ws in sheets):
                return _raise_or_keep(_route_sheets(p.name, sheets), keep_problems)
        finally:
            wb.close()
    return _raise_or_keep(_table(read_table(p), visit_date), keep_problems)


def _raise_or_keep(read: OutcomeFile, keep: bool) -> OutcomeFile:
    if read.problems and not keep:
        raise InputError(read.problems)
    return read


def _header(ws: Sheet) -> tuple[int, dict[str, int]] | None:
    """The row of a route sheet's table header and its columns, None if it has none."""
    for i, row in enumerate(ws.iter_rows(min_row=1, max_row=12, values_only=True), start=1):
        cells = [str(c).strip() if c is not None else "" for c in row]
        if "Outcome" in cells and "Case" in cells:
            return i, {c: k for k, c in enumerate(cells) if c}
    return None


def _route_sheets(name: str, sheets: Sequence[Sheet]) -> OutcomeFile:
    problems: list[Issue] = []
    rows: list[OutcomeRow] = []
    blank: list[tuple[str, int, str]] = []
    seen: dict[str, str] = {}
    for ws in sheets:
        where = f"{name} sheet '{ws.title}'"
        head = _header(ws)
        title = str(ws.cell(1, 1).value or "")
        if head is None:
            problems.append(Issue(where, 0, "", "", "", "not a route sheet (no table with "
                                    "the columns Case and Outcome)",
                                    "import the routes.xlsx that plan wrote, filled in, "
                                    "without renaming its columns"))
            continue
        parts = [x.strip() for x in title.split("·")]
        route_id = parts[0] if parts else ""
        try:
            day = parse_date(parts[-1]) if len(parts) >= 2 else None
        except ValueError:
            day = None
        if not route_id or day is None:
            problems.append(Issue(where, 1, "", "title", title, "the title line does not "
                                    "name the route and the date ('C01 · name · 2026-12-01')",
                                    "keep the title line plan wrote in cell A1"))
            continue
        header_row, cols = head
        missing = [c for c in SHEET_COLUMNS if c not in cols]
        if missing:
            problems.append(Issue(where, header_row, "", ", ".join(missing), "",
                                    "column missing from the route sheet",
                                    "keep the columns plan wrote"))
            continue
        for i, values in enumerate(ws.iter_rows(min_row=header_row + 1, values_only=True),
                                   start=header_row + 1):
            def cell(col: str, vals: tuple[object, ...] = values,
                     at: dict[str, int] = cols) -> object:
                k = at[col]
                return _cell_value(vals[k]) if k < len(vals) else None

            case_id = str(cell("Case") or "").strip()
            outcome = str(cell("Outcome") or "").strip()
            promise, amount = cell("Promise date"), _number(cell("Amount paid"))
            if not case_id and not outcome and promise in (None, "") and amount in (None, ""):
                continue  # an empty row below the table
            rid = f"case_id={case_id}" if case_id else ""
            if not outcome:
                if promise not in (None, "") or amount not in (None, ""):
                    problems.append(Issue(where, i, rid, "Outcome", "", "a promise date or "
                                            "an amount without an outcome",
                                            "write the outcome (e.g. 承诺还款) or clear the row"))
                else:
                    blank.append((ws.title, i, case_id))
                continue
            if not case_id:
                problems.append(Issue(where, i, "", "Case", "", "an outcome without a case",
                                        "keep the case id plan wrote in the row"))
                continue
            if case_id in seen:
                problems.append(Issue(where, i, rid, "Case", case_id,
                                        f"the case is reported twice (also {seen[case_id]})",
                                        "keep one outcome per case and visit"))
                continue
            seen[case_id] = f"sheet '{ws.title}' row {i}"
            try:
                result = parse_result(_fields(outcome, promise, amount, {}), where=where,
                                      row=i, labels=SHEET_LABELS, event_day=day, record_id=rid)
            except InputError as exc:
                problems.extend(exc.problems)
                continue
            rows.append(OutcomeRow(name, ws.title, i, case_id, day, result, route_id,
                                   _start_s(cell("Start"))))
    return OutcomeFile(name, "route_sheets", tuple(rows), tuple(blank), tuple(problems))


def _table(table: Table, visit_date: date | None) -> OutcomeFile:
    problems: list[Issue] = list(table.problems)
    missing = [c for c in CSV_COLUMNS[:2] if c not in table.columns]
    if missing:
        raise InputError([*problems, Issue(
            table.name, 1, "", ", ".join(missing), "", "required column is missing",
            f"give the columns {', '.join(CSV_COLUMNS)} (optional: {', '.join(CSV_OPTIONAL)}), "
            "or import the routes.xlsx that plan wrote")])
    if "visit_date" not in table.columns and visit_date is None:
        raise InputError([*problems, Issue(
            table.name, 1, "", "visit_date", "", "the file does not say the day of the visits",
            "add a column visit_date (YYYY-MM-DD), or give the date of the visits")])
    rows: list[OutcomeRow] = []
    blank: list[tuple[str, int, str]] = []
    seen: dict[tuple[str, date], int] = {}
    for i, rec in table.rows:
        case_id = rec.get("case_id", "").strip()
        rid = f"case_id={case_id}" if case_id else ""
        outcome = rec.get("outcome", "").strip()
        if not outcome:
            if rec.get("promise_date") or rec.get("amount_paid"):
                problems.append(Issue(table.name, i, rid, "outcome", "", "a promise date or "
                                        "an amount without an outcome",
                                        "write the outcome (e.g. promise_to_pay) or clear the row"))
            else:
                blank.append(("", i, case_id))
            continue
        if not case_id:
            problems.append(Issue(table.name, i, "", "case_id", "", "required value is missing",
                                    "give the case id of the visited case"))
            continue
        day = visit_date
        if rec.get("visit_date"):
            try:
                day = parse_date(rec["visit_date"])
            except ValueError as exc:
                problems.append(Issue(table.name, i, rid, "visit_date", rec["visit_date"],
                                        str(exc), "write the date as YYYY-MM-DD"))
                continue
        if day is None:
            problems.append(Issue(table.name, i, rid, "visit_date", "", "required value is "
                                    "missing", "give the day of the visit as YYYY-MM-DD"))
            continue
        if (case_id, day) in seen:
            problems.append(Issue(table.name, i, rid, "case_id", case_id, "the case is "
                                    f"reported twice for {day.isoformat()} (also row "
                                    f"{seen[(case_id, day)]})",
                                    "keep one outcome per case and visit"))
            continue
        seen[(case_id, day)] = i
        extra = {"note": rec.get("note", ""), "new_address": rec.get("new_address", ""),
                 "instalment_count": rec.get("instalments", "")}
        fields = _fields(outcome, rec.get("promise_date", ""),
                         _number(rec.get("amount_paid", ""), table.decimal_mark("amount_paid")),
                         extra)
        try:
            result = parse_result(fields, where=table.name, row=i, event_day=day,
                                  labels=CSV_LABELS, record_id=rid)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        rows.append(OutcomeRow(table.name, "", i, case_id, day, result))
    return OutcomeFile(table.name, "table", tuple(rows), tuple(blank),
                       tuple(sorted(problems, key=lambda p: p.row)))
