"""The case store's first schema: imports, cases and their versions, address corrections,
plans with routes, members, stops and cases left out, outcomes with the collectors present,
promises, payments, and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# frozen copies: a revision never follows later changes of the package
CODES = ("paid", "partial_payment", "promise_to_pay", "instalment_agreed", "not_home",
         "refused", "dispute", "hardship", "wrong_address", "moved", "no_attempt")
SOURCES = ("phone", "sheet", "api", "console")


def _time(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(200), nullable=nullable)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _case_fields() -> list[sa.Column[Any]]:
    """The columns of optimizer.store.tables.CaseFields (cases and case_versions)."""
    text = [sa.Column(n, sa.Text(), nullable=False) for n in (
        "customer_name", "phone", "district", "notes", "skill", "preferred_collector",
        "fixed_collector")]
    return [
        sa.Column("amount_overdue", sa.Double(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("availability", sa.JSON(), nullable=False),
        sa.Column("service_s", sa.Integer(), nullable=False),
        *text,
        sa.Column("last_visit_date", sa.Date(), nullable=True),
        sa.Column("promise_date", sa.Date(), nullable=True),
        sa.Column("promise_broken", sa.Boolean(), nullable=False),
        sa.Column("consent_outside_hours", sa.Boolean(), nullable=False),
    ]


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=f"fk_{table}_{column}_{ref_table}")


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=f"pk_{table}")


def _uq(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=f"uq_{table}_{'_'.join(columns)}")


def _ck(table: str, name: str, sql: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(sql, name=f"ck_{table}_{name}")


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        _time("at"),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        _id("case_id", nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        _pk("audit_log", "id"),
    )
    _index("audit_log", "case_id")
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _time("imported_at"),
        sa.Column("actor", sa.Text(), nullable=False),
        *[sa.Column(n, sa.Integer(), nullable=False) for n in (
            "rows", "added", "updated", "closed", "reopened", "unchanged", "stale")],
        _ck("imports", "kind", _in("kind", ("cases", "outcomes"))),
        _pk("imports", "id"),
        _uq("imports", "kind", "sha256"),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_date", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("created_at"),
        sa.Column("actor", sa.Text(), nullable=False),
        _time("published_at", nullable=True),
        sa.Column("superseded_by_id", sa.Integer(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("cases_total", sa.Integer(), nullable=False),
        sa.Column("cases_visited", sa.Integer(), nullable=False),
        _fk("plans", "superseded_by_id", "plans.id"),
        _pk("plans", "id"),
        _uq("plans", "plan_date", "version"),
    )
    op.create_table(
        "cases",
        _id("case_id"),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("closed_reason", sa.String(16), nullable=True),
        _time("opened_at"),
        _time("closed_at", nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("import_address", sa.Text(), nullable=False),
        _time("amount_changed_at"),
        _time("address_changed_at"),
        sa.Column("first_import_id", sa.Integer(), nullable=True),
        sa.Column("last_import_id", sa.Integer(), nullable=True),
        *_case_fields(),
        _ck("cases", "closed",
            "(status = 'open' AND closed_reason IS NULL AND closed_at IS NULL) OR "
            f"(status = 'closed' AND {_in('closed_reason', ('paid', 'missing'))} "
            "AND closed_at IS NOT NULL)"),
        _ck("cases", "status", _in("status", ("open", "closed"))),
        _fk("cases", "first_import_id", "imports.id"),
        _fk("cases", "last_import_id", "imports.id"),
        _pk("cases", "case_id"),
    )
    op.create_table(
        "plan_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        _id("route_id"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("shift_start_s", sa.Integer(), nullable=False),
        sa.Column("shift_end_s", sa.Integer(), nullable=False),
        sa.Column("leave_s", sa.Double(), nullable=False),
        sa.Column("return_s", sa.Double(), nullable=False),
        _fk("plan_routes", "plan_id", "plans.id"),
        _pk("plan_routes", "id"),
        _uq("plan_routes", "plan_id", "route_id"),
    )
    op.create_table(
        "plan_route_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route_pk", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _id("collector_id"),
        _fk("plan_route_members", "route_pk", "plan_routes.id"),
        _pk("plan_route_members", "id"),
        _uq("plan_route_members", "route_pk", "collector_id"),
    )
    _index("plan_route_members", "collector_id")
    op.create_table(
        "plan_stops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("route_pk", sa.Integer(), nullable=False),
        sa.Column("stop", sa.Integer(), nullable=False),
        _id("case_id"),
        *[sa.Column(n, sa.Double(), nullable=False) for n in (
            "lat", "lon", "arrive_s", "start_s", "depart_s")],
        sa.Column("window_start_s", sa.Integer(), nullable=False),
        sa.Column("window_end_s", sa.Integer(), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        _fk("plan_stops", "case_id", "cases.case_id"),
        _fk("plan_stops", "plan_id", "plans.id"),
        _fk("plan_stops", "route_pk", "plan_routes.id"),
        _pk("plan_stops", "id"),
        _uq("plan_stops", "plan_id", "case_id"),
        _uq("plan_stops", "route_pk", "stop"),
    )
    _index("plan_stops", "case_id")
    op.create_table(
        "plan_unassigned",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        _id("case_id"),
        sa.Column("reason_code", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _fk("plan_unassigned", "case_id", "cases.case_id"),
        _fk("plan_unassigned", "plan_id", "plans.id"),
        _pk("plan_unassigned", "id"),
        _uq("plan_unassigned", "plan_id", "case_id"),
    )
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        _id("case_id"),
        sa.Column("code", sa.String(24), nullable=False),
        _time("event_time"),
        sa.Column("event_utc_offset_min", sa.Integer(), nullable=False),
        _time("received_at"),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("plan_stop_id", sa.Integer(), nullable=True),
        *[sa.Column(n, sa.Double(), nullable=True) for n in (
            "device_lat", "device_lon", "device_accuracy_m", "distance_m")],
        sa.Column("far_from_pin", sa.Boolean(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("amount", sa.Double(), nullable=True),
        sa.Column("promise_date", sa.Date(), nullable=True),
        sa.Column("instalment_count", sa.Integer(), nullable=True),
        sa.Column("instalment_first_date", sa.Date(), nullable=True),
        sa.Column("instalment_amount", sa.Double(), nullable=True),
        sa.Column("new_address", sa.Text(), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        _ck("outcomes", "code", _in("code", CODES)),
        _ck("outcomes", "source", _in("source", SOURCES)),
        _fk("outcomes", "case_id", "cases.case_id"),
        _fk("outcomes", "plan_id", "plans.id"),
        _fk("outcomes", "plan_stop_id", "plan_stops.id"),
        _fk("outcomes", "supersedes_id", "outcomes.id"),
        _pk("outcomes", "id"),
        _uq("outcomes", "idempotency_key"),
        _uq("outcomes", "supersedes_id"),
    )
    _index("outcomes", "case_id", "event_time")
    op.create_table(
        "address_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        _id("case_id"),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("replaces_address", sa.Text(), nullable=False),
        _time("recorded_at"),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        _fk("address_corrections", "case_id", "cases.case_id"),
        _fk("address_corrections", "outcome_id", "outcomes.id"),
        _pk("address_corrections", "id"),
    )
    _index("address_corrections", "case_id")
    op.create_table(
        "outcome_collectors",
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _id("collector_id"),
        _fk("outcome_collectors", "outcome_id", "outcomes.id"),
        _pk("outcome_collectors", "outcome_id", "position"),
    )
    _index("outcome_collectors", "collector_id")
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        _id("case_id"),
        sa.Column("amount", sa.Double(), nullable=False),
        _time("paid_at"),
        _fk("payments", "case_id", "cases.case_id"),
        _fk("payments", "outcome_id", "outcomes.id"),
        _pk("payments", "id"),
        _uq("payments", "outcome_id"),
    )
    _index("payments", "case_id")
    op.create_table(
        "promises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outcome_id", sa.Integer(), nullable=False),
        _id("case_id"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("of_count", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.Double(), nullable=False),
        _fk("promises", "case_id", "cases.case_id"),
        _fk("promises", "outcome_id", "outcomes.id"),
        _pk("promises", "id"),
        _uq("promises", "outcome_id", "seq"),
    )
    _index("promises", "case_id")
    op.create_table(
        "case_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        _id("case_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        _time("recorded_at"),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("closed_reason", sa.String(16), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("outcome_id", sa.Integer(), nullable=True),
        sa.Column("correction_id", sa.Integer(), nullable=True),
        sa.Column("source_row", sa.Integer(), nullable=True),
        *_case_fields(),
        _ck("case_versions", "change", _in("change", (
            "added", "updated", "reopened", "closed", "paid", "corrected"))),
        _ck("case_versions", "status", _in("status", ("open", "closed"))),
        _fk("case_versions", "case_id", "cases.case_id"),
        _fk("case_versions", "correction_id", "address_corrections.id"),
        _fk("case_versions", "import_id", "imports.id"),
        _fk("case_versions", "outcome_id", "outcomes.id"),
        _pk("case_versions", "id"),
        _uq("case_versions", "case_id", "version"),
    )


def downgrade() -> None:
    for table in ("case_versions", "promises", "payments", "outcome_collectors",
                  "address_corrections", "outcomes", "plan_unassigned", "plan_stops",
                  "plan_route_members", "plan_routes", "cases", "plans", "imports",
                  "audit_log"):
        op.drop_table(table)  # its indexes go with it
