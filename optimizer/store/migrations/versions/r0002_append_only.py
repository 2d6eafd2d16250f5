"""Event tables are append-only in the database too: a trigger refuses every UPDATE and
DELETE of case_versions, address_corrections, outcomes, outcome_collectors, promises,
payments and audit_log (the session refuses them first; this guards every other client).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

EVENT_TABLES = ("case_versions", "address_corrections", "outcomes", "outcome_collectors",
                "promises", "payments", "audit_log")
MESSAGE = "append-only table: record a new event that points at the old one"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION collector_routes_append_only() RETURNS trigger AS $$ BEGIN "
            f"RAISE EXCEPTION '%: {MESSAGE}', TG_TABLE_NAME; END; $$ LANGUAGE plpgsql")
        for t in EVENT_TABLES:
            op.execute(f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
                       "FOR EACH ROW EXECUTE FUNCTION collector_routes_append_only()")
        return
    for t in EVENT_TABLES:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {t}_no_{action.lower()} BEFORE {action} ON {t} "
                       f"BEGIN SELECT RAISE(ABORT, '{t}: {MESSAGE}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for t in EVENT_TABLES:
            op.execute(f"DROP TRIGGER {t}_append_only ON {t}")
        op.execute("DROP FUNCTION collector_routes_append_only()")
        return
    for t in EVENT_TABLES:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER {t}_no_{action}")
