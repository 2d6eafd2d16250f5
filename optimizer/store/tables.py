"""The store's tables as SQLAlchemy 2 typed models (database rows, not API schemas).

Two kinds of table:

*State* (`StoredCase`, `PlanRecord` and its routes and stops, `ImportRecord`): the current
state, changed in place by imports and publications, every change of a case also written as a
new `CaseVersion`.

*Events* (`CaseVersion`, `OutcomeRecord`, `OutcomeCollector`, `PromiseRecord`,
`PaymentRecord`, `AddressCorrection`, `AuditEntry`): append-only. A correction is a new event
that points at the old one (``outcomes.supersedes_id``); the session refuses to update or
delete an event (`APPEND_ONLY`, checked in `optimizer.store.db`), and database triggers refuse
it too (migration 0002).

Conventions: times are timezone-aware UTC (`UTCDateTime`; SQLite keeps them as UTC text), the
device's own UTC offset is kept beside its event time so the customer's local clock time can be
told; dates are calendar dates of the city; amounts are doubles in the currency of the input
(a Python float round-trips exactly on both back-ends); times of day are seconds since midnight
(``*_s``), distances metres (``*_m``). Constraint names follow `NAMING` so migrations name them
the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from optimizer.store.outcomes import CODES, SOURCES

#: constraint and index names, identical on every back-end (Alembic needs them to drop them)
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(200)  # case and collector ids, as the input files give them


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware time stored as UTC; a naive time is refused (its zone is unknown)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"time {value.isoformat()} has no time zone; give it with its "
                             "UTC offset")
        utc = value.astimezone(UTC)
        # SQLite has no time zones: UTC as naive text, read back as UTC below
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect
                             ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime(),
        float: Double(),
        str: Text(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


CASE_STATUSES = ("open", "closed")
CLOSED_REASONS = ("paid", "missing")  # paid in full (an outcome); not in the latest export
VERSION_CHANGES = ("added", "updated", "reopened", "closed", "paid", "corrected")


# --------------------------------------------------------------------------- cases


class CaseFields:
    """The fields of `optimizer.model.Case` (all of them but the source row), as columns.

    ``availability`` is ``[[weekdays...], start_s, end_s]`` per window (empty = any time).
    """

    amount_overdue: Mapped[float]
    days_past_due: Mapped[int]
    address: Mapped[str]
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    availability: Mapped[list[Any]]
    service_s: Mapped[int]
    customer_name: Mapped[str]
    phone: Mapped[str]
    district: Mapped[str]
    notes: Mapped[str]
    skill: Mapped[str]
    preferred_collector: Mapped[str]
    fixed_collector: Mapped[str]
    last_visit_date: Mapped[date | None]
    promise_date: Mapped[date | None]
    promise_broken: Mapped[bool]
    consent_outside_hours: Mapped[bool]


#: the names of `CaseFields`, in order
CASE_FIELDS = tuple(CaseFields.__annotations__)


class ImportRecord(Base):
    """One file merged into the store (a file imported again is not a new import)."""

    __tablename__ = "imports"
    __table_args__ = (
        UniqueConstraint("kind", "sha256"),
        CheckConstraint(_in("kind", ("cases", "outcomes")), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str]
    sha256: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime]
    actor: Mapped[str]
    rows: Mapped[int]
    added: Mapped[int]
    updated: Mapped[int]
    closed: Mapped[int]
    reopened: Mapped[int]
    unchanged: Mapped[int]
    stale: Mapped[int]


class StoredCase(CaseFields, Base):
    """A case's current state: the last import, with the store's address correction applied.

    ``import_address`` is the address the last import gave (the correction replaces it while
    the export still shows it); ``amount_changed_at`` is when an import last changed the
    amount (payments after it are not yet in the export); ``address_changed_at`` when the
    address last changed (a report of a wrong address before it is answered).
    """

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_in("status", CASE_STATUSES), name="status"),
        CheckConstraint(
            "(status = 'open' AND closed_reason IS NULL AND closed_at IS NULL) OR "
            f"(status = 'closed' AND {_in('closed_reason', CLOSED_REASONS)} "
            "AND closed_at IS NOT NULL)", name="closed"),
    )

    case_id: Mapped[str] = mapped_column(ID, primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    closed_reason: Mapped[str | None] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    version: Mapped[int]
    import_address: Mapped[str]
    amount_changed_at: Mapped[datetime]
    address_changed_at: Mapped[datetime]
    first_import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    last_import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))


class CaseVersion(CaseFields, Base):
    """Every state a case has had (append-only), with what made it: an import, an outcome
    (``paid`` closes a case) or an address correction."""

    __tablename__ = "case_versions"
    __table_args__ = (
        UniqueConstraint("case_id", "version"),
        CheckConstraint(_in("change", VERSION_CHANGES), name="change"),
        CheckConstraint(_in("status", CASE_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ID, ForeignKey("cases.case_id"))
    version: Mapped[int]
    change: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(8))
    closed_reason: Mapped[str | None] = mapped_column(String(16))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"))
    outcome_id: Mapped[int | None] = mapped_column(ForeignKey("outcomes.id"))
    correction_id: Mapped[int | None] = mapped_column(ForeignKey("address_corrections.id"))
    source_row: Mapped[int | None]
    # never loaded: tells the unit of work to insert a new case before its first version
    case: Mapped[StoredCase] = relationship(lazy="raise")


class AddressCorrection(Base):
    """A corrected address (append-only): from a dispatcher, usually answering a collector's
    ``wrong_address``/``moved`` report. Later imports that still show ``replaces_address``
    keep the correction."""

    __tablename__ = "address_corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[str] = mapped_column(ID, ForeignKey("cases.case_id"), index=True)
    address: Mapped[str]
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    replaces_address: Mapped[str]
    recorded_at: Mapped[datetime]
    actor: Mapped[str]
    outcome_id: Mapped[int | None] = mapped_column(ForeignKey("outcomes.id"))
    note: Mapped[str]


# --------------------------------------------------------------------------- plans


class PlanRecord(Base):
    """A plan for a date; several versions per date, the published one authorises outcomes.
    ``superseded_by_id`` is set on a published version when a newer one is published."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("plan_date", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_date: Mapped[date]
    version: Mapped[int]
    created_at: Mapped[datetime]
    actor: Mapped[str]
    published_at: Mapped[datetime | None]
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    settings: Mapped[dict[str, Any]]  # the plan's summary: policy, weighting, totals
    cases_total: Mapped[int]
    cases_visited: Mapped[int]


class PlanRoute(Base):
    """One route of a plan: its crew id (a collector, or team members joined by ``+``)."""

    __tablename__ = "plan_routes"
    __table_args__ = (UniqueConstraint("plan_id", "route_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    route_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str]
    shift_start_s: Mapped[int]
    shift_end_s: Mapped[int]
    leave_s: Mapped[float]
    return_s: Mapped[float]


class PlanRouteMember(Base):
    """A collector who makes a route (both members of a team)."""

    __tablename__ = "plan_route_members"
    __table_args__ = (UniqueConstraint("route_pk", "collector_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    route_pk: Mapped[int] = mapped_column(ForeignKey("plan_routes.id"))
    position: Mapped[int]
    collector_id: Mapped[str] = mapped_column(ID, index=True)


class PlanStop(Base):
    """A planned visit: route, position, case, pin and planned times (seconds since
    midnight of the plan date)."""

    __tablename__ = "plan_stops"
    __table_args__ = (UniqueConstraint("plan_id", "case_id"), UniqueConstraint("route_pk", "stop"))

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    route_pk: Mapped[int] = mapped_column(ForeignKey("plan_routes.id"))
    stop: Mapped[int]
    case_id: Mapped[str] = mapped_column(ID, ForeignKey("cases.case_id"), index=True)
    lat: Mapped[float]
    lon: Mapped[float]
    arrive_s: Mapped[float]
    start_s: Mapped[float]
    depart_s: Mapped[float]
    window_start_s: Mapped[int]
    window_end_s: Mapped[int]
    value: Mapped[float]


class PlanUnassigned(Base):
    """A case the plan left out, with its reason code and sentence."""

    __tablename__ = "plan_unassigned"
    __table_args__ = (UniqueConstraint("plan_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"))
    case_id: Mapped[str] = mapped_column(ID, ForeignKey("cases.case_id"))
    reason_code: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str]


# --------------------------------------------------------------------------- outcomes


class OutcomeRecord(Base):
    """A visit outcome (append-only), recorded once per idempotency key.

    ``body_sha256`` is the digest of the validated outcome: a retry with the same key and body
    returns this record, another body under the key is a conflict. ``event_time`` is the
    device's time (``event_utc_offset_min`` its UTC offset), ``received_at`` the server's.
    ``distance_m`` is the device position's distance from the case's pin, ``far_from_pin``
    whether it is above the limit (500 m). A correction is a new outcome whose
    ``supersedes_id`` names this one (each outcome is superseded at most once).
    """

    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        UniqueConstraint("supersedes_id"),
        CheckConstraint(_in("code", tuple(CODES)), name="code"),
        CheckConstraint(_in("source", SOURCES), name="source"),
        Index(None, "case_id", "event_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str] = mapped_column(ID, ForeignKey("cases.case_id"))
    code: Mapped[str] = mapped_column(String(24))
    event_time: Mapped[datetime]
    event_utc_offset_min: Mapped[int]
    received_at: Mapped[datetime]
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    plan_stop_id: Mapped[int | None] = mapped_column(ForeignKey("plan_stops.id"))
    device_lat: Mapped[float | None]
    device_lon: Mapped[float | None]
    device_accuracy_m: Mapped[float | None]
    distance_m: Mapped[float | None]
    far_from_pin: Mapped[bool | None]
    note: Mapped[str]
    amount: Mapped[float | None]
    promise_date: Mapped[date | None]
    instalment_count: Mapped[int | None]
    instalment_first_date: Mapped[date | None]
    instalment_amount: Mapped[float | None]
    new_address: Mapped[str]
    source: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str]
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("outcomes.id"))


class OutcomeCollector(Base):
    """A collector present at a visit (both members of a team), in the order given."""

    __tablename__ = "outcome_collectors"

    outcome_id: Mapped[int] = mapped_column(ForeignKey("outcomes.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    collector_id: Mapped[str] = mapped_column(ID, index=True)


class PromiseRecord(Base):
    """A promise to pay an amount by a date, made by an outcome: one for ``promise_to_pay``,
    one per instalment (``seq`` 1..``of_count``) for ``instalment_agreed``. Whether it is open,
    kept or broken depends on the date and the payments (`optimizer.store.history`)."""

    __tablename__ = "promises"
    __table_args__ = (UniqueConstraint("outcome_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outcome_id: Mapped[int] = mapped_column(ForeignKey("outcomes.id"))
    case_id: Mapped[str] = mapped_column(ID, ForeignKey("cases.case_id"), index=True)
    seq: Mapped[int]
    of_count: Mapped[int]
    due_date: Mapped[date]
    amount: Mapped[float]


class PaymentRecord(Base):
    """A payment reported by an outcome (``paid``, ``partial_payment``)."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("outcome_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outcome_id: Mapped[int] = mapped_column(ForeignKey("outcomes.id"))
    case_id: Mapped[str] = mapped_column(ID, ForeignKey("cases.case_id"), index=True)
    amount: Mapped[float]
    paid_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did what when (append-only): imports, outcomes, closures, publications."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str]
    action: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str | None] = mapped_column(ID, index=True)
    details: Mapped[dict[str, Any]]


# --------------------------------------------------------------------------- API clients


class ApiKey(Base):
    """A key of the lender's HTTP API (`optimizer.store.apikeys`): only its SHA-256 is kept.

    ``key_id`` is the key's public part (it names the key in logs and the audit log without
    revealing it); ``revoked_at`` ends it. State, not an event: a revocation changes the row.
    """

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("name"), UniqueConstraint("key_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    actor: Mapped[str]
    revoked_at: Mapped[datetime | None]


# --------------------------------------------------------------------------- console accounts


class ConsoleUser(Base):
    """An account of the dispatcher console (`optimizer.store.users`): the argon2 hash of its
    password, never the password. State: a new password or a disabling changes the row."""

    __tablename__ = "console_users"
    __table_args__ = (UniqueConstraint("name"),
                      CheckConstraint("role IN ('dispatcher', 'planner', 'admin')",
                                      name="role"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str]
    created_at: Mapped[datetime]
    actor: Mapped[str]
    disabled_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in browser: the SHA-256 of its cookie's secret (a copy of the database holds
    no usable cookie), its CSRF token, when it ends. Deleted on sign-out."""

    __tablename__ = "console_sessions"
    __table_args__ = (UniqueConstraint("sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("console_users.id", ondelete="CASCADE"),
                                         index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


#: tables whose rows are never updated or deleted
APPEND_ONLY: tuple[type[Base], ...] = (
    CaseVersion, AddressCorrection, OutcomeRecord, OutcomeCollector, PromiseRecord,
    PaymentRecord, AuditEntry,
)
