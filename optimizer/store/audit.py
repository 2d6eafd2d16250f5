"""The audit log: who did what when. Append-only; there is no function to change an entry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from optimizer.store.tables import AuditEntry


def utcnow() -> datetime:
    return datetime.now(UTC)


def log_action(session: Session, *, actor: str, action: str, case_id: str | None = None,
               at: datetime | None = None, details: dict[str, Any] | None = None) -> AuditEntry:
    """Add an audit entry in the session's transaction (it commits with the change it records).

    ``action`` is a dotted name (``cases.imported``, ``outcome.recorded``, ``plan.published``);
    ``details`` plain JSON data.
    """
    entry = AuditEntry(at=at or utcnow(), actor=actor, action=action, case_id=case_id,
                       details=details or {})
    session.add(entry)
    return entry
