"""The compliance file: every recorded outcome and the audit log, as CSV or xlsx.

One row per recorded outcome, corrections included (a corrected outcome stays, with the id of
the one that corrects it): who visited whom (the collectors present, both members of a team),
when (the device's local time and the time the server received it), where (the device's
position, its distance from the case's pin and the flag above 500 m), and what was said (the
code, amounts, dates, the note). The audit log follows, one row per entry.

CSV files are UTF-8 with a byte-order mark (Excel opens Chinese text correctly) and guarded
against formula injection (`optimizer.cells.csv_cell`); the xlsx cells are text, never
formulas. Files are written whole or not at all, readable by their owner only (they hold
customers' names and addresses).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.atomic import replaced_file
from optimizer.cells import csv_cell, xlsx_text
from optimizer.store.events import local_time
from optimizer.store.outcomes import CODES
from optimizer.store.tables import (
    AuditEntry,
    OutcomeCollector,
    OutcomeRecord,
    PlanRecord,
    PlanRoute,
    PlanStop,
    StoredCase,
)

OUTCOME_COLUMNS = (
    "outcome_id", "case_id", "customer_name", "address", "outcome", "outcome_label",
    "event_time", "received_at", "collectors", "plan_date", "plan_version", "route_id", "stop",
    "amount", "promise_date", "instalment_count", "instalment_first_date", "instalment_amount",
    "new_address", "note", "device_lat", "device_lon", "device_accuracy_m", "distance_m",
    "far_from_pin", "source", "actor", "idempotency_key", "supersedes", "superseded_by",
)
AUDIT_COLUMNS = ("audit_id", "at", "actor", "action", "case_id", "details")


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def outcome_rows(session: Session) -> list[dict[str, Any]]:
    """Every recorded outcome, oldest first (`OUTCOME_COLUMNS`)."""
    crew: dict[int, list[str]] = {}
    for oc in session.scalars(select(OutcomeCollector).order_by(OutcomeCollector.outcome_id,
                                                                OutcomeCollector.position)):
        crew.setdefault(oc.outcome_id, []).append(oc.collector_id)
    by: dict[int, int] = {o.supersedes_id: o.id for o in session.scalars(
        select(OutcomeRecord).where(OutcomeRecord.supersedes_id.is_not(None)))
        if o.supersedes_id is not None}
    stops = {s.id: (s, r) for s, r in session.execute(
        select(PlanStop, PlanRoute).join(PlanRoute, PlanRoute.id == PlanStop.route_pk))}
    plans = {p.id: p for p in session.scalars(select(PlanRecord))}
    cases = {c.case_id: c for c in session.scalars(select(StoredCase))}
    rows = []
    for o in session.scalars(select(OutcomeRecord).order_by(OutcomeRecord.id)):
        stop = stops.get(o.plan_stop_id) if o.plan_stop_id is not None else None
        plan = plans.get(o.plan_id) if o.plan_id is not None else None
        c = cases[o.case_id]
        rows.append({
            "outcome_id": o.id, "case_id": o.case_id, "customer_name": c.customer_name,
            "address": c.address, "outcome": o.code, "outcome_label": CODES[o.code].label_zh,
            "event_time": local_time(o), "received_at": o.received_at,
            "collectors": "+".join(crew.get(o.id, [])),
            "plan_date": plan.plan_date if plan else None,
            "plan_version": plan.version if plan else None,
            "route_id": stop[1].route_id if stop else None, "stop": stop[0].stop if stop else None,
            "amount": o.amount, "promise_date": o.promise_date,
            "instalment_count": o.instalment_count,
            "instalment_first_date": o.instalment_first_date,
            "instalment_amount": o.instalment_amount, "new_address": o.new_address,
            "note": o.note, "device_lat": o.device_lat, "device_lon": o.device_lon,
            "device_accuracy_m": o.device_accuracy_m,
            "distance_m": round(o.distance_m, 1) if o.distance_m is not None else None,
            "far_from_pin": o.far_from_pin, "source": o.source, "actor": o.actor,
            "idempotency_key": o.idempotency_key, "supersedes": o.supersedes_id,
            "superseded_by": by.get(o.id),
        })
    return rows


def audit_rows(session: Session) -> list[dict[str, Any]]:
    """Every audit entry, oldest first (`AUDIT_COLUMNS`); details as JSON text."""
    return [{"audit_id": a.id, "at": a.at, "actor": a.actor, "action": a.action,
             "case_id": a.case_id,
             "details": json.dumps(a.details, ensure_ascii=False, sort_keys=True)}
            for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def write_csv(path: str | Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    """A CSV for Excel: UTF-8 with BOM, formula-safe text, written whole."""
    path = Path(path)
    with replaced_file(path, mode=0o600) as tmp, tmp.open("w", newline="",
                                                            encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for row in rows:
            w.writerow([csv_cell(_cell(row[k])) for k in columns])
    return path


def write_xlsx(path: str | Path, sheets: dict[str, tuple[tuple[str, ...],
                                                        list[dict[str, Any]]]]) -> Path:
    """A workbook, one sheet per table; text cells are text, never formulas."""
    path = Path(path)
    wb = Workbook()
    for n, (title, (columns, rows)) in enumerate(sheets.items()):
        ws = wb.create_sheet(title, n)
        ws.append(list(columns))
        for i, row in enumerate(rows, start=2):
            for j, k in enumerate(columns, start=1):
                v = _cell(row[k])
                cell = ws.cell(i, j, xlsx_text(v) if isinstance(v, str) else v)
                if isinstance(v, str):
                    cell.data_type = "s"
        ws.freeze_panes = "A2"
    wb.remove(wb.worksheets[-1])  # the empty sheet a new workbook starts with
    with replaced_file(path, mode=0o600) as tmp:
        wb.save(tmp)
    return path


def export_compliance(session: Session, path: str | Path) -> tuple[Path, ...]:
    """Write the compliance file: ``FILE.xlsx`` with the sheets *Outcomes* and *Audit log*, or
    ``FILE.csv`` (the outcomes) with ``FILE.audit.csv`` beside it. Returns the files written."""
    path = Path(path)
    outcomes, audit = outcome_rows(session), audit_rows(session)
    if path.suffix.lower() == ".xlsx":
        return (write_xlsx(path, {"Outcomes": (OUTCOME_COLUMNS, outcomes),
                                  "Audit log": (AUDIT_COLUMNS, audit)}),)
    audit_path = path.with_name(f"{path.stem}.audit.csv")
    return (write_csv(path, OUTCOME_COLUMNS, outcomes),
            write_csv(audit_path, AUDIT_COLUMNS, audit))
