"""Merge an imported case list into the store.

`merge_cases` takes the validated cases of one export (`optimizer.io.inputs.read_cases`) and:

- adds the cases the store does not hold;
- updates the ones whose fields changed (amount, days past due, address, windows...);
- closes the open cases the export no longer lists (reason ``missing``; reported, never
  deleted) and reopens a case closed that way when an export lists it again;
- keeps a case closed as **paid** closed unless the export shows a new default (`new_default`):
  an export made before the payment reached the loan system still shows the old debt;
- keeps a dispatcher's address correction while the export still shows the address it
  replaced;
- writes a `CaseVersion` for every change and an audit entry for the import.

A file is identified by its SHA-256: importing the same file again changes nothing and says
so (`MergeReport.repeat_of`). Everything happens in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from optimizer.model import Case, TimeWindow, WeeklyWindow
from optimizer.store.audit import log_action, utcnow
from optimizer.store.tables import (
    CASE_FIELDS,
    AddressCorrection,
    CaseVersion,
    ImportRecord,
    StoredCase,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- Case <-> row


def case_fields(case: Case) -> dict[str, Any]:
    """The `CaseFields` column values of a case (availability as JSON lists)."""
    values: dict[str, Any] = {f: getattr(case, f) for f in CASE_FIELDS if f != "availability"}
    values["availability"] = [[sorted(w.weekdays), w.window.start_s, w.window.end_s]
                              for w in case.availability]
    return values


def row_fields(row: StoredCase | CaseVersion) -> dict[str, Any]:
    return {f: getattr(row, f) for f in CASE_FIELDS}


def case_of(row: StoredCase | CaseVersion) -> Case:
    """The `Case` a stored row holds."""
    values = row_fields(row)
    values["availability"] = tuple(
        WeeklyWindow(frozenset(int(d) for d in days), TimeWindow(int(a), int(b)))
        for days, a, b in values["availability"])
    return Case(case_id=row.case_id, **values)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes: what identifies an export."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class MergeReport:
    """What an import did, with the case ids of each kind.

    ``stale``: cases closed as paid that the export still shows with the debt the payment
    settled (kept closed). ``corrected``: cases whose address the store's correction replaces.
    ``repeat_of``: the earlier import of the same file (then nothing changed).
    """

    file_name: str
    sha256: str
    import_id: int | None
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()
    reopened: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    corrected: tuple[str, ...] = ()
    repeat_of: int | None = None
    changes: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    def counts(self) -> dict[str, int]:
        """Cases per kind, for the report table."""
        return {k: len(getattr(self, k)) for k in
                ("added", "updated", "closed", "reopened", "unchanged", "stale")}

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.closed or self.reopened)


# --------------------------------------------------------------------------- rules


def new_default(case: Case, *, paid_at: datetime, imported_at: datetime,
                earlier: Iterable[tuple[float, int]]) -> bool:
    """Whether an export shows a new default on a case closed as paid at `paid_at`.

    Rule: an overdue amount (> 0) whose days past due began after the payment (``days_past_due``
    at most the days from the payment to the import), and which is not an (amount, days past
    due) pair an earlier import of the case showed (`earlier`: an old export imported again).
    An export made before the payment reached the loan system shows the old default, whose
    days past due go back before the payment: not a new default.
    """
    if case.amount_overdue <= 0:
        return False
    days_since = (imported_at.date() - paid_at.date()).days
    if case.days_past_due > days_since:
        return False
    return (case.amount_overdue, case.days_past_due) not in set(earlier)


def _latest_corrections(session: Session) -> dict[str, AddressCorrection]:
    out: dict[str, AddressCorrection] = {}
    for c in session.scalars(select(AddressCorrection).order_by(AddressCorrection.id)):
        out[c.case_id] = c
    return out


def _effective(values: dict[str, Any], correction: AddressCorrection | None
               ) -> tuple[dict[str, Any], bool]:
    """The import's values with the store's address correction applied while the import still
    shows the address it replaced; and whether it applies."""
    if correction is None or values["address"] != correction.replaces_address:
        return values, False
    # the import's coordinates belong to the wrong address: the corrected pin or none
    return {**values, "address": correction.address, "lat": correction.lat,
            "lon": correction.lon}, True


def add_version(session: Session, row: StoredCase, change: str, at: datetime, *,
                import_id: int | None = None, outcome_id: int | None = None,
                correction_id: int | None = None, source_row: int | None = None) -> None:
    """Write the case's current state as its next version, with what changed it."""
    row.version += 1
    session.add(CaseVersion(
        case_id=row.case_id, version=row.version, change=change, recorded_at=at,
        status=row.status, closed_reason=row.closed_reason, import_id=import_id,
        outcome_id=outcome_id, correction_id=correction_id, source_row=source_row,
        **row_fields(row)))


def _apply(row: StoredCase, values: dict[str, Any], import_address: str, at: datetime) -> None:
    if row.amount_overdue != values["amount_overdue"]:
        row.amount_changed_at = at
    if row.address != values["address"]:
        row.address_changed_at = at
    for k, v in values.items():
        setattr(row, k, v)
    row.import_address = import_address


# --------------------------------------------------------------------------- merge


def merge_cases(session: Session, cases: Sequence[Case], *, file_name: str, sha256: str,
                actor: str = "import", imported_at: datetime | None = None,
                close_missing: bool = True) -> MergeReport:
    """Merge one export's cases into the store (see the module docstring).

    Parameters
    ----------
    cases
        The validated case list (unique ids).
    file_name, sha256
        The file they came from (`file_sha256`); the same digest again is a repeat.
    actor
        Who imports, for the audit log.
    imported_at
        The time of the import (aware; default now): when amounts changed, and the day that
        tells a new default from an old one.
    close_missing
        Close the open cases the export does not list (default). Off for a partial export.
    """
    now = imported_at or utcnow()
    ids = [c.case_id for c in cases]
    previous = session.scalar(select(ImportRecord).where(
        ImportRecord.kind == "cases", ImportRecord.sha256 == sha256))
    if previous is not None:
        log_action(session, actor=actor, action="cases.import_repeated", at=now, details={
            "file_name": file_name, "sha256": sha256, "repeat_of": previous.id})
        return MergeReport(file_name, sha256, None, unchanged=tuple(ids),
                           repeat_of=previous.id)
    imp = ImportRecord(kind="cases", file_name=file_name, sha256=sha256, imported_at=now,
                       actor=actor, rows=len(cases), added=0, updated=0, closed=0, reopened=0,
                       unchanged=0, stale=0)
    session.add(imp)
    session.flush()
    stored = {r.case_id: r for r in session.scalars(select(StoredCase))}
    corrections = _latest_corrections(session)
    kinds: dict[str, list[str]] = {k: [] for k in (
        "added", "updated", "closed", "reopened", "unchanged", "stale", "corrected")}
    changed_fields: dict[str, tuple[str, ...]] = {}
    for case in cases:
        raw = case_fields(case)
        values, corrected = _effective(raw, corrections.get(case.case_id))
        if corrected:
            kinds["corrected"].append(case.case_id)
        row = stored.get(case.case_id)
        if row is None:
            row = StoredCase(case_id=case.case_id, status="open", opened_at=now, version=0,
                             import_address=raw["address"], amount_changed_at=now,
                             address_changed_at=now, first_import_id=imp.id,
                             last_import_id=imp.id, **values)
            session.add(row)
            add_version(session, row, "added", now, import_id=imp.id, source_row=case.row)
            kinds["added"].append(case.case_id)
            continue
        row.last_import_id = imp.id
        if row.status == "closed" and row.closed_reason == "paid":
            assert row.closed_at is not None
            earlier = session.execute(select(CaseVersion.amount_overdue,
                                             CaseVersion.days_past_due).where(
                CaseVersion.case_id == row.case_id, CaseVersion.import_id.is_not(None)))
            if not new_default(case, paid_at=row.closed_at, imported_at=now,
                               earlier=[(a, d) for a, d in earlier]):
                kinds["stale"].append(case.case_id)
                continue
            _apply(row, values, raw["address"], now)
            row.status, row.closed_reason, row.closed_at = "open", None, None
            row.opened_at = row.amount_changed_at = now  # a new default: a new cycle
            add_version(session, row, "reopened", now, import_id=imp.id, source_row=case.row)
            kinds["reopened"].append(case.case_id)
            continue
        diff = tuple(k for k, v in values.items() if getattr(row, k) != v)
        if row.status == "closed":  # missing from an earlier export, listed again
            _apply(row, values, raw["address"], now)
            row.status, row.closed_reason, row.closed_at = "open", None, None
            add_version(session, row, "reopened", now, import_id=imp.id, source_row=case.row)
            kinds["reopened"].append(case.case_id)
        elif diff or row.import_address != raw["address"]:
            _apply(row, values, raw["address"], now)
            add_version(session, row, "updated", now, import_id=imp.id, source_row=case.row)
            kinds["updated"].append(case.case_id)
            changed_fields[case.case_id] = diff
        else:
            kinds["unchanged"].append(case.case_id)
    if close_missing:
        listed = set(ids)
        for row in stored.values():
            if row.status == "open" and row.case_id not in listed:
                row.status, row.closed_reason, row.closed_at = "closed", "missing", now
                add_version(session, row, "closed", now, import_id=imp.id)
                kinds["closed"].append(row.case_id)
    for k in ("added", "updated", "closed", "reopened", "unchanged", "stale"):
        setattr(imp, k, len(kinds[k]))
    log_action(session, actor=actor, action="cases.imported", at=now, details={
        "import_id": imp.id, "file_name": file_name, "sha256": sha256, "rows": len(cases),
        **{k: len(v) for k, v in kinds.items()},
        "closed_ids": kinds["closed"], "reopened_ids": kinds["reopened"],
        "stale_ids": kinds["stale"]})
    session.flush()
    log.info("%s: %s", file_name, ", ".join(f"{len(v)} {k}" for k, v in kinds.items()))
    s = {k: tuple(sorted(v)) for k, v in kinds.items()}
    return MergeReport(file_name, sha256, imp.id, added=s["added"], updated=s["updated"],
                       closed=s["closed"], reopened=s["reopened"], unchanged=s["unchanged"],
                       stale=s["stale"], corrected=s["corrected"], changes=changed_fields)


def stored_case(session: Session, case_id: str) -> StoredCase | None:
    return session.get(StoredCase, case_id)


#: the import name of the urgent cases a re-plan adds (``POST /api/v1/replan``): merged so the
#: re-planned day can be recorded, never the case list a later plan takes
URGENT_IMPORT = "replan-urgent"


def latest_case_list(session: Session) -> tuple[Case, ...]:
    """The cases the store's latest case import listed (the urgent cases of a re-plan,
    `URGENT_IMPORT`, are not a case list), as the store holds them now (by case id); ()
    before the first import."""
    last = session.scalar(select(ImportRecord.id).where(ImportRecord.kind == "cases",
                                                        ImportRecord.file_name != URGENT_IMPORT)
                          .order_by(ImportRecord.id.desc()).limit(1))
    if last is None:
        return ()
    rows = session.scalars(select(StoredCase).where(StoredCase.last_import_id == last)
                           .order_by(StoredCase.case_id))
    return tuple(case_of(r) for r in rows)


def cases_by_id(session: Session, case_ids: Iterable[str]) -> tuple[Case, ...]:
    """The stored cases of `case_ids` as the store holds them now, by case id (ids the store
    does not hold are left out)."""
    rows = session.scalars(select(StoredCase).where(StoredCase.case_id.in_(list(case_ids)))
                           .order_by(StoredCase.case_id))
    return tuple(case_of(r) for r in rows)
