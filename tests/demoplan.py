"""The demo day the end-to-end and golden tests plan (one run per test session)."""

from __future__ import annotations

from datetime import date

PLAN_DATE = date(2026, 11, 30)  # a Monday
# a solution limit makes the plan independent of machine speed (the time limit is only a cap)
ARGS = ["plan", "--date", PLAN_DATE.isoformat(), "--time-limit", "900", "--max-solutions", "60",
        "-q"]
