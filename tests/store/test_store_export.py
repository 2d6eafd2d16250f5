"""The compliance export: every outcome and the audit log, as CSV and xlsx."""

from __future__ import annotations

import csv
import json
from datetime import date

from openpyxl import load_workbook
from storehelp import at, case, outcome, tiny_plan

from optimizer.store.cases import merge_cases
from optimizer.store.events import record_outcome
from optimizer.store.export import AUDIT_COLUMNS, OUTCOME_COLUMNS, export_compliance
from optimizer.store.plans import record_plan

NOTE = "=HYPERLINK(\"http://evil\",\"click\")"


def fill(store):
    day = date(2026, 12, 1)
    a1 = case("A1", customer_name="张三")
    with store.session() as s:
        merge_cases(s, [a1, case("A2")], file_name="c.csv", sha256="c" * 64,
                    imported_at=at("2026-11-30 08:00"))
        record_plan(s, tiny_plan(day, {"C01+C02": (("C01", "C02"), [a1])}), actor="plan")
    with store.session() as s:
        first = record_outcome(s, outcome("k1", "A1", "promise_to_pay", "2026-12-01 09:05",
                                          amount=2000, promise_date="2026-12-05", note=NOTE,
                                          device_lat=30.66, device_lon=104.10),
                               actor="collector:C01", received_at=at("2026-12-01 09:06"))
    with store.session() as s:
        record_outcome(s, outcome("k2", "A1", "promise_to_pay", "2026-12-01 09:05",
                                  amount=1500, promise_date="2026-12-05",
                                  supersedes=first.outcome_id, source="console"),
                       actor="console:dispatcher")
        record_outcome(s, outcome("k3", "A2", "not_home", "2026-12-01 19:30",
                                  collectors=["C03", "C04"]), actor="sheet:routes.xlsx")
    return first.outcome_id


def read_csv(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    return list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))


def test_the_csv_export_has_every_outcome_and_the_audit_log(store, tmp_path):
    first = fill(store)
    with store.reading() as s:
        files = export_compliance(s, tmp_path / "compliance.csv")
    assert [f.name for f in files] == ["compliance.csv", "compliance.audit.csv"]
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)  # customers' data
    rows = read_csv(files[0])
    assert tuple(rows[0]) == OUTCOME_COLUMNS
    assert [(r["outcome_id"], r["case_id"], r["outcome"], r["outcome_label"], r["collectors"])
            for r in rows] == [
        (str(first), "A1", "promise_to_pay", "承诺还款", "C01+C02"),
        (str(first + 1), "A1", "promise_to_pay", "承诺还款", "C01+C02"),
        (str(first + 2), "A2", "not_home", "不在家", "C03+C04")]
    a, b, c = rows
    assert a["customer_name"] == "张三" and a["note"] == "'" + NOTE  # never a formula
    assert (a["event_time"], a["received_at"]) == ("2026-12-01T09:05:00+08:00",
                                                   "2026-12-01T01:06:00+00:00")
    assert (a["plan_date"], a["plan_version"], a["route_id"], a["stop"]) == (
        "2026-12-01", "1", "C01+C02", "1")
    assert (a["distance_m"], a["far_from_pin"], a["superseded_by"]) == ("0.0", "no",
                                                                          str(first + 1))
    assert (b["supersedes"], b["amount"], b["source"], b["actor"]) == (
        str(first), "1500.0", "console", "console:dispatcher")
    assert (c["plan_date"], c["route_id"], c["distance_m"]) == ("", "", "")
    audit = read_csv(files[1])
    assert tuple(audit[0]) == AUDIT_COLUMNS
    actions = [r["action"] for r in audit]
    assert actions == ["cases.imported", "plan.recorded", "plan.published", "outcome.recorded",
                       "outcome.recorded", "outcome.recorded"]
    assert json.loads(audit[3]["details"])["key"] == "k1"


def test_the_xlsx_export_holds_both_sheets_as_text(store, tmp_path):
    fill(store)
    with store.reading() as s:
        (path,) = export_compliance(s, tmp_path / "compliance.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["Outcomes", "Audit log"]
    ws = wb["Outcomes"]
    assert tuple(c.value for c in ws[1]) == OUTCOME_COLUMNS
    assert ws.max_row == 4
    note = ws.cell(2, OUTCOME_COLUMNS.index("note") + 1)
    assert (note.value, note.data_type) == (NOTE, "s")  # the text as typed, never a formula
    assert tuple(c.value for c in wb["Audit log"][1]) == AUDIT_COLUMNS
    assert wb["Audit log"].max_row == 7


def test_an_empty_store_exports_the_headers(store, tmp_path):
    with store.reading() as s:
        out, audit = export_compliance(s, tmp_path / "empty.csv")
    assert out.read_text(encoding="utf-8-sig").strip() == ",".join(OUTCOME_COLUMNS)
    assert audit.read_text(encoding="utf-8-sig").strip() == ",".join(AUDIT_COLUMNS)
