"""The HTTP API's bodies (pydantic), apart from the store's tables.

Requests are documented by these models (the OpenAPI schema) and validated by the store's own
validator (`optimizer.store.outcomes.parse_outcome`, `optimizer.io.inputs.parse_cases`), which
names every problem with its field, value and fix: one validator for the phone, the API, the
route sheets and the console. Responses are built from the store's plain results through
these models.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from optimizer.store.outcomes import CODES, FIELD_FIXES, SOURCES

_CODES = ", ".join(CODES)


def _doc(field: str, what: str) -> str:
    return f"{what} ({FIELD_FIXES[field]})"


class Problem(BaseModel):
    field: str = Field(description="the field (or column) at fault")
    value: str = Field(description="the value sent, as text (cut at 80 characters)")
    message: str = Field(description="what is wrong with it")
    fix: str = Field(description="what to send instead")
    row: int | None = Field(None, description="the record's position (from 1) in a list")
    record: str | None = Field(None, description="the record, e.g. case_id=K-1001")


class ErrorBody(BaseModel):
    error: str = Field(description="invalid, conflict, not_on_route, unauthorized, "
                                   "unsupported_media_type, too_large, not_found, unavailable")
    message: str
    problems: list[Problem] = Field(default_factory=list)


class OutcomeIn(BaseModel):
    """A visit outcome (the lender's API). Fields a code does not take must be left out."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description=_doc("key", "idempotency key"), max_length=200)
    case_id: str = Field(description=_doc("case_id", "the visited case"))
    outcome: str = Field(description=f"the code ({_CODES}) or its Chinese label")
    collectors: list[str] | str = Field(description=_doc("collectors", "collectors present"))
    event_time: datetime = Field(description=_doc("event_time", "when, on the device"))
    amount: float | None = Field(None, description=_doc("amount", "paid or promised amount"))
    promise_date: date | None = Field(None, description=_doc("promise_date", "promise_to_pay"))
    instalment_count: int | None = Field(None, description=_doc("instalment_count",
                                                                "instalment_agreed"))
    instalment_first_date: date | None = Field(None, description=_doc(
        "instalment_first_date", "instalment_agreed"))
    instalment_amount: float | None = Field(None, description=_doc("instalment_amount",
                                                                   "instalment_agreed"))
    new_address: str | None = Field(None, description=_doc("new_address",
                                                           "wrong_address, moved"))
    note: str | None = Field(None, description=_doc("note", "free text; hardship needs one"))
    device_lat: float | None = Field(None, description=_doc("device_lat", "WGS-84"))
    device_lon: float | None = Field(None, description=_doc("device_lon", "WGS-84"))
    device_accuracy_m: float | None = Field(None, description=_doc("device_accuracy_m",
                                                                   "metres"))
    plan_id: int | None = Field(None, description=_doc("plan_id", "the store's plan"))
    supersedes: int | None = Field(None, description=_doc("supersedes", "a correction"))
    source: str | None = Field(None, description=f"one of {', '.join(SOURCES)}; default api")


class PhoneOutcomeIn(BaseModel):
    """A visit outcome from a collector's page: the server sets the source (phone) and the
    plan; the collectors present default to the route's members."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description=_doc("key", "idempotency key, made on the phone"))
    case_id: str = Field(description="a stop of the collector's published route of that day")
    outcome: str = Field(description=f"the code ({_CODES})")
    event_time: datetime = Field(description=_doc("event_time", "when, on the phone"))
    collectors: list[str] | None = Field(None, description="members of the route present; "
                                                           "default: every member")
    amount: float | None = None
    promise_date: date | None = None
    instalment_count: int | None = None
    instalment_first_date: date | None = None
    instalment_amount: float | None = None
    new_address: str | None = None
    note: str | None = None
    device_lat: float | None = None
    device_lon: float | None = None
    device_accuracy_m: float | None = None
    supersedes: int | None = None


class OutcomeOut(BaseModel):
    """A recorded outcome (the first record of its key: a retry gets the same)."""

    outcome_id: int
    key: str
    case_id: str
    outcome: str
    label: str = Field(description="the code's Chinese label")
    created: bool = Field(description="false: this key was recorded before (a retry)")
    event_time: datetime = Field(description="the device's time, with its offset")
    received_at: datetime = Field(description="when the server received it first (UTC)")
    plan_id: int | None = None
    distance_m: float | None = Field(None, description="device to the case's pin, metres")
    far_from_pin: bool | None = Field(None, description="distance above 500 m")
    supersedes: int | None = None


class StopOutcome(BaseModel):
    """An outcome of a stop of the collector's route, as the phone page shows it."""

    outcome_id: int
    key: str
    case_id: str
    outcome: str
    label: str
    event_time: datetime
    received_at: datetime
    collectors: list[str]
    amount: float | None = None
    promise_date: date | None = None
    instalment_count: int | None = None
    instalment_first_date: date | None = None
    instalment_amount: float | None = None
    new_address: str = ""
    note: str = ""
    far_from_pin: bool | None = None
    supersedes: int | None = None


class StopOutcomes(BaseModel):
    plan_date: date | None
    outcomes: list[StopOutcome]


class StopOut(BaseModel):
    stop: int
    case_id: str
    lat: float
    lon: float
    arrive_s: float = Field(description="seconds since midnight of the plan date")
    start_s: float
    depart_s: float
    window_start_s: int
    window_end_s: int


class RouteOut(BaseModel):
    route_id: str
    name: str
    members: list[str]
    stops: list[StopOut]


class LeftOutCase(BaseModel):
    case_id: str
    reason_code: str
    reason: str


class PlanOut(BaseModel):
    plan_id: int
    plan_date: date
    version: int
    published_at: datetime | None
    routes: list[RouteOut]
    unassigned: list[LeftOutCase]


class CasesIn(BaseModel):
    """A case list, one object per case with the columns of cases.csv (README)."""

    model_config = ConfigDict(extra="forbid")

    file_name: str = Field("api", description="a name for the import (audit log)")
    close_missing: bool = Field(True, description="close open cases this list leaves out "
                                                  "(false for a partial list)")
    cases: list[dict[str, Any]] = Field(description="case_id, amount_overdue, days_past_due, "
                                                    "address or lat+lon, ... as cases.csv")


class ImportOut(BaseModel):
    import_id: int | None = Field(description="null: the same list was imported before")
    repeat_of: int | None
    counts: dict[str, int]
    added: list[str]
    updated: list[str]
    closed: list[str]
    reopened: list[str]
    unchanged: list[str]
    stale: list[str] = Field(description="closed as paid; the list still shows the settled "
                                         "debt (kept closed)")


class OutcomesPage(BaseModel):
    outcomes: list[dict[str, Any]] = Field(description="one row per outcome, the columns of "
                                                       "the compliance export")
    next_after_id: int | None = Field(description="pass as after_id for the next page; null "
                                                  "at the end")


class ReplanIn(BaseModel):
    """A re-plan of the served day (``POST /api/v1/replan``); validated by the route itself."""

    model_config = ConfigDict(extra="forbid")

    at: str = Field(description="HH:MM: the visits with an outcome recorded by then are kept; "
                                "no new visit starts before it")
    absent: list[str] = Field(default=[], description="collector ids who make no further "
                                                      "visit today")
    urgent: list[dict[str, Any]] = Field(default=[], description="cases to add, as in "
                                         "POST /api/v1/cases; each must be visited (required) "
                                         "or is answered with the reason it cannot be")
    time_limit_s: float | None = Field(default=None, ge=1, description="the solver's time limit")
    max_solutions: int | None = Field(default=None, ge=1, description="stop after this many "
                                      "solutions (deterministic)")
    change_cost: float | None = Field(default=None, ge=0, description="what moving one of a "
                                      "crew's remaining stops to another crew must gain, in "
                                      "value units (default: the policy's)")


class ChangeOut(BaseModel):
    case_id: str
    before: str = Field(description="the route before, '' = not planned")
    after: str = Field(description="the route now, '' = not visited")
    reason: str = Field(description="'urgent' for an added case visited; why a case is no "
                                    "longer visited")


class ReplanOut(BaseModel):
    plan_date: date
    at: str
    updated_at: str
    done: list[str]
    absent: list[str]
    stopped: list[str]
    urgent: list[str]
    moves: list[ChangeOut]
    plan_id: int = Field(description="the store's new published version of the day")
    version: int
