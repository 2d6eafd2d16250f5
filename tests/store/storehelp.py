"""Small builders the store tests share: Chengdu times, cases, outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from optimizer.model import Case
from optimizer.store.outcomes import OutcomeInput, parse_outcome

CST = timezone(timedelta(hours=8))  # Chengdu's clock, the demo's city


def at(text: str) -> datetime:
    """A Chengdu time, '2026-12-01 10:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def case(case_id: str, amount: float = 5000.0, dpd: int = 45, **kw: object) -> Case:
    kw.setdefault("address", f"{case_id} 成华区建设路1号")
    kw.setdefault("lat", 30.66)
    kw.setdefault("lon", 104.10)
    return Case(case_id=case_id, amount_overdue=amount, days_past_due=dpd, **kw)  # type: ignore[arg-type]


def outcome(key: str, case_id: str, code: str, when: str, *, collectors: str = "C01+C02",
            source: str = "api", **fields: object) -> OutcomeInput:
    """A validated outcome through the shared validator."""
    body: dict[str, object] = {"key": key, "case_id": case_id, "outcome": code,
                               "collectors": collectors, "event_time": at(when).isoformat(),
                               "source": source, **fields}
    return parse_outcome(body)
