"""Visit outcome codes and their validation: plain data, no database.

One table (`CODES`) names every outcome a collections team records, with its Chinese label (the
route sheet's language), the fields it takes and what it means for the next plan; one validator
(`parse_outcome`, with `parse_result` for the part a route sheet holds) turns a body from the
phone, the HTTP API, a filled route sheet or the console into an `OutcomeInput`, or raises one
`InputError` naming every problem: the field, the value and the fix. The CLI, the sheet reader
(`optimizer.io.outcomes`) and the web app (HTTP 422) share it.

The fields of a body (the HTTP API's JSON names; a sheet's columns map onto them):

``key``
    idempotency key, chosen by the sender (a phone: one per outcome); a retry sends it again.
``case_id``, ``outcome``
    the case and the code (`CODES`: the English code or its Chinese label).
``collectors``
    the collectors present, every member of the team: a list, or ids joined by ``+`` or ``;``.
``event_time``
    when it happened, on the device, ISO 8601 with its UTC offset (``2026-12-01T19:05:00+08:00``).
``amount``, ``promise_date``
    paid or promised amount (> 0), promised date ``YYYY-MM-DD``.
``instalment_count``, ``instalment_first_date``, ``instalment_amount``
    an instalment agreement: that many monthly payments of the amount from the first date.
``new_address``, ``note``
    the new address a customer moved to (if known); free text.
``device_lat``, ``device_lon``, ``device_accuracy_m``
    the device's position (WGS-84) and its accuracy radius in metres, if known.
``plan_id``, ``supersedes``, ``source``
    the store's plan the visit belongs to (if known), the outcome this one corrects, and where
    it comes from (`SOURCES`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from calendar import monthrange
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from optimizer.errors import InputError, Issue

#: where an outcome comes from: the collector's phone page, a filled route sheet or outcome CSV,
#: the HTTP API of the lender's systems, a dispatcher at the console
SOURCES = ("phone", "sheet", "api", "console")

#: the fields a code can take (besides the note)
RESULT_FIELDS = ("amount", "promise_date", "instalment_count", "instalment_first_date",
                 "instalment_amount", "new_address", "note")
CONTEXT_FIELDS = ("key", "case_id", "outcome", "collectors", "event_time", "device_lat",
                  "device_lon", "device_accuracy_m", "plan_id", "supersedes", "source")
FIELDS = CONTEXT_FIELDS + RESULT_FIELDS

MAX_AMOUNT = 1e12
MAX_INSTALMENTS = 120
MAX_TEXT = {"note": 4000, "new_address": 500}
MAX_ID = 200


@dataclass(frozen=True)
class OutcomeCode:
    """One outcome code.

    ``kind`` says what it is for the next plan: ``payment`` (money received), ``promise`` (a
    promise or a schedule of them), ``contact`` (the customer was reached, nothing paid or
    promised), ``miss`` (nobody at home), ``address`` (the address is wrong), ``none`` (no
    visit happened: no cooldown, not a miss).
    """

    code: str
    label_zh: str
    label_en: str
    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    meaning: str

    @property
    def is_visit(self) -> bool:
        """A real visit: starts the cooldown (every code but ``no_attempt``)."""
        return self.kind != "none"

    @property
    def reached(self) -> bool:
        """The customer was spoken to (ends a run of not-home visits)."""
        return self.kind in ("payment", "promise", "contact")

    @property
    def takes(self) -> tuple[str, ...]:
        return self.required + self.optional


CODES: dict[str, OutcomeCode] = {c.code: c for c in (
    OutcomeCode("paid", "已还款", "Paid in full", "payment", ("amount",), ("note",),
                "the overdue amount is paid: the case is closed"),
    OutcomeCode("partial_payment", "部分还款", "Partial payment", "payment", ("amount",),
                ("note",), "part of the amount is paid: the balance (and the value) drops"),
    OutcomeCode("promise_to_pay", "承诺还款", "Promise to pay", "promise",
                ("promise_date", "amount"), ("note",),
                "no visit before the promised date plus the grace days; broken if unpaid"),
    OutcomeCode("instalment_agreed", "分期", "Instalments agreed", "promise",
                ("instalment_count", "instalment_first_date", "instalment_amount"), ("note",),
                "a schedule of monthly promises from the first date"),
    OutcomeCode("not_home", "不在家", "Not at home", "miss", (), ("note",),
                "try another part of the day or week; verify the contact after repeated misses"),
    OutcomeCode("refused", "拒绝", "Refused", "contact", (), ("note",),
                "the customer refused: a cooldown before the next visit"),
    OutcomeCode("dispute", "有争议", "Dispute", "contact", (), ("note",),
                "the customer disputes the debt: handled by the legal team"),
    OutcomeCode("hardship", "困难", "Hardship", "contact", ("note",), (),
                "the customer cannot pay now (note the circumstances): visits pause"),
    OutcomeCode("wrong_address", "地址错误", "Wrong address", "address", (),
                ("new_address", "note"), "not planned until the address is corrected"),
    OutcomeCode("moved", "已搬走", "Moved", "address", (), ("new_address", "note"),
                "not planned until the address is corrected"),
    OutcomeCode("no_attempt", "未拜访", "No attempt", "none", (), ("note",),
                "the visit did not happen (time ran out, no access): no cooldown, not a miss"),
)}

#: what each field holds and how to write it (the fix of a problem)
FIELD_FIXES = {
    "key": "send a unique idempotency key per outcome (the same key again on a retry)",
    "case_id": "give the case id of the visited case",
    "outcome": "use one of: " + ", ".join(f"{c.code} ({c.label_zh})" for c in CODES.values()),
    "collectors": "list the collector ids present, e.g. ['C01', 'C02'] or 'C01+C02'",
    "event_time": "give the time of the visit with its UTC offset, e.g. "
                  "2026-12-01T19:05:00+08:00",
    "amount": "give the amount as a number > 0, e.g. 2000 or 1999.50",
    "promise_date": "give the promised date as YYYY-MM-DD, on or after the visit",
    "instalment_count": "give the number of instalments, a whole number from 2 to "
                        f"{MAX_INSTALMENTS}",
    "instalment_first_date": "give the date of the first instalment as YYYY-MM-DD, on or after "
                             "the visit",
    "instalment_amount": "give the amount of each instalment as a number > 0",
    "new_address": "write the new address as text, or leave it blank if unknown",
    "note": "write the note as text",
    "device_lat": "give the device's latitude in decimal degrees (WGS-84), with device_lon",
    "device_lon": "give the device's longitude in decimal degrees (WGS-84), with device_lat",
    "device_accuracy_m": "give the accuracy radius in metres (>= 0), with the position",
    "plan_id": "give the store's plan id (a whole number), or leave it out",
    "supersedes": "give the id of the outcome this one corrects, or leave it out",
    "source": f"use one of: {', '.join(SOURCES)}",
}

_SEPARATORS = re.compile(r"[\s\-]+")
_ALIASES = {"ptp": "promise_to_pay", "instalment": "instalment_agreed",
            "installment_agreed": "instalment_agreed", "installment": "instalment_agreed",
            "nothome": "not_home"}
_LOOKUP: dict[str, str] = {
    **{c.code: c.code for c in CODES.values()},
    **{c.label_zh: c.code for c in CODES.values()},
    **{_SEPARATORS.sub("_", c.label_en.lower()): c.code for c in CODES.values()},
    **_ALIASES,
}
_DECIMAL = re.compile(r"[+]?\d+(?:\.\d+)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def code_of(text: str) -> str | None:
    """The code a text names: the code (``promise_to_pay``, any case, spaces or ``-`` for
    ``_``), its Chinese label (``承诺还款``) or its English label; None if it names none."""
    t = text.strip()
    return _LOOKUP.get(t) or _LOOKUP.get(_SEPARATORS.sub("_", t.lower()))


def label(code: str) -> str:
    """The Chinese label of a code, as the route sheet shows it."""
    return CODES[code].label_zh


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the last day of a shorter month: Jan 31 + 1 = Feb 28)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, monthrange(year, month)[1]))


# --------------------------------------------------------------------------- validated data


@dataclass(frozen=True)
class OutcomeResult:
    """What a visit produced: the code and the fields it takes (validated)."""

    code: str
    amount: float | None = None
    promise_date: date | None = None
    instalment_count: int | None = None
    instalment_first_date: date | None = None
    instalment_amount: float | None = None
    new_address: str = ""
    note: str = ""

    @property
    def kind(self) -> str:
        return CODES[self.code].kind

    def schedule(self) -> tuple[tuple[date, float], ...]:
        """The promises it makes, (due date, amount) in order: one for a promise to pay, one a
        month for an instalment agreement, none otherwise."""
        if self.code == "promise_to_pay":
            assert self.promise_date is not None and self.amount is not None
            return ((self.promise_date, self.amount),)
        if self.code == "instalment_agreed":
            assert self.instalment_first_date is not None and self.instalment_count
            assert self.instalment_amount is not None
            return tuple((add_months(self.instalment_first_date, k), self.instalment_amount)
                         for k in range(self.instalment_count))
        return ()

    def payment(self) -> float | None:
        """The amount received, for ``paid`` and ``partial_payment``."""
        return self.amount if self.kind == "payment" else None


@dataclass(frozen=True)
class OutcomeInput:
    """A validated outcome, ready to record (`optimizer.store.events.record_outcome`)."""

    key: str
    case_id: str
    result: OutcomeResult
    collectors: tuple[str, ...]
    event_time: datetime  # aware: the device's time with its offset
    source: str
    plan_id: int | None = None
    device_lat: float | None = None
    device_lon: float | None = None
    device_accuracy_m: float | None = None
    supersedes: int | None = None

    @property
    def code(self) -> str:
        return self.result.code

    def body(self) -> dict[str, object]:
        """The outcome as plain JSON data, every field, in a canonical form (the time in UTC
        with the device's offset beside it): what the idempotency check compares."""
        r = self.result
        offset = self.event_time.utcoffset()
        return {
            "key": self.key, "case_id": self.case_id, "outcome": r.code,
            "collectors": list(self.collectors),
            "event_time": self.event_time.astimezone(UTC).isoformat(),
            "event_utc_offset_min": int(offset.total_seconds() // 60) if offset else 0,
            "amount": r.amount, "promise_date": _iso(r.promise_date),
            "instalment_count": r.instalment_count,
            "instalment_first_date": _iso(r.instalment_first_date),
            "instalment_amount": r.instalment_amount, "new_address": r.new_address,
            "note": r.note, "device_lat": self.device_lat, "device_lon": self.device_lon,
            "device_accuracy_m": self.device_accuracy_m, "plan_id": self.plan_id,
            "supersedes": self.supersedes, "source": self.source,
        }

    def digest(self) -> str:
        """SHA-256 of `body`."""
        text = json.dumps(self.body(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


# --------------------------------------------------------------------------- validation


class _Checker:
    """Field access that records every problem instead of raising (like `inputs._Row`)."""

    def __init__(self, data: Mapping[str, object], where: str, row: int,
                 labels: Mapping[str, str] | None, record_id: str | None = None) -> None:
        self.data, self.where, self.row = data, where, row
        self.labels = labels or {}
        self.problems: list[Issue] = []
        cid = data.get("case_id")
        self.record_id = record_id if record_id is not None else (
            f"case_id={cid}" if isinstance(cid, str) and cid.strip() else "")

    def problem(self, f: str, value: object, message: str, fix: str | None = None) -> None:
        shown = "" if value is None else (value if isinstance(value, str) else repr(value))
        self.problems.append(Issue(self.where, self.row, self.record_id,
                                     self.labels.get(f, f), shown[:80], message,
                                     fix or FIELD_FIXES[f]))

    def given(self, f: str) -> bool:
        v = self.data.get(f)
        return v is not None and not (isinstance(v, str) and not v.strip())

    def text(self, f: str, *, required: bool = False, limit: int = MAX_ID) -> str:
        v = self.data.get(f)
        if not self.given(f):
            if required:
                self.problem(f, "", "required value is missing")
            return ""
        if not isinstance(v, str):
            self.problem(f, v, "is not text")
            return ""
        t = v.strip()
        if len(t) > limit:
            self.problem(f, t, f"has {len(t):,} characters, more than {limit:,}",
                         f"shorten it to at most {limit:,} characters")
            return ""
        if _CONTROL.search(t) and f not in ("note", "new_address"):
            self.problem(f, t, "holds control characters")
            return ""
        return t

    def number(self, f: str, *, required: bool = False, lo: float = 0.0, hi: float = MAX_AMOUNT,
               above: bool = True) -> float | None:
        v = self.data.get(f)
        if not self.given(f):
            if required:
                self.problem(f, "", "required value is missing")
            return None
        x: float | None = None
        if isinstance(v, bool):
            x = None
        elif isinstance(v, int | float):
            x = float(v)
        elif isinstance(v, str) and _DECIMAL.fullmatch(v.strip()):
            x = float(v.strip())
        if x is None or not math.isfinite(x):
            self.problem(f, v, "is not a number")
            return None
        if (x <= lo if above else x < lo) or x > hi:
            rng = f"above {lo:g}" if above else f"at least {lo:g}"
            self.problem(f, v, f"is outside the valid range ({rng}, at most {hi:g})")
            return None
        return x

    def whole(self, f: str, *, required: bool = False, lo: int = 1, hi: int = 2**31 - 1
              ) -> int | None:
        v = self.data.get(f)
        if not self.given(f):
            if required:
                self.problem(f, "", "required value is missing")
            return None
        n: int | None = None
        if isinstance(v, int) and not isinstance(v, bool):
            n = v
        elif isinstance(v, float) and v.is_integer():
            n = int(v)
        elif isinstance(v, str) and v.strip().isdigit():
            n = int(v.strip())
        if n is None:
            self.problem(f, v, "is not a whole number")
            return None
        if not lo <= n <= hi:
            self.problem(f, v, f"is outside {lo}..{hi}")
            return None
        return n

    def day(self, f: str, *, required: bool = False, not_before: date | None = None
            ) -> date | None:
        v = self.data.get(f)
        if not self.given(f):
            if required:
                self.problem(f, "", "required value is missing")
            return None
        d: date | None = None
        if isinstance(v, datetime):
            d = v.date() if v.time() == datetime.min.time() else None
        elif isinstance(v, date):
            d = v
        elif isinstance(v, str):
            m = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T]00:00(?::00)?)?",
                             v.strip())
            if m:
                try:
                    d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                except ValueError:
                    self.problem(f, v, "is not a date of the calendar")
                    return None
        if d is None:
            self.problem(f, v, "is not a date YYYY-MM-DD")
            return None
        if not_before is not None and d < not_before:
            self.problem(f, v, f"is before the visit ({not_before.isoformat()})")
            return None
        return d

    def moment(self, f: str, *, required: bool = False) -> datetime | None:
        v = self.data.get(f)
        if not self.given(f):
            if required:
                self.problem(f, "", "required value is missing")
            return None
        t: datetime | None = None
        if isinstance(v, datetime):
            t = v
        elif isinstance(v, str):
            try:
                t = datetime.fromisoformat(v.strip())
            except ValueError:
                t = None
        if t is None:
            self.problem(f, v, "is not a time ISO 8601 (YYYY-MM-DDTHH:MM:SS+HH:MM)")
            return None
        if t.tzinfo is None or t.utcoffset() is None:
            self.problem(f, v, "has no UTC offset, so the moment is unknown")
            return None
        return t


def _check_result(c: _Checker, event_day: date | None) -> OutcomeResult | None:
    """The code and its fields; problems recorded in `c`."""
    raw = c.data.get("outcome")
    code: str | None = None
    if not c.given("outcome"):
        c.problem("outcome", "", "required value is missing")
    elif not isinstance(raw, str) or (code := code_of(raw)) is None:
        c.problem("outcome", raw, "is not an outcome code")
    if code is None:
        return None
    spec = CODES[code]
    for f in RESULT_FIELDS:
        if f not in spec.takes and c.given(f):
            c.problem(f, c.data.get(f), f"is not used by the outcome {code} ({spec.label_zh})",
                      f"leave it blank; {code} takes "
                      f"{', '.join(spec.takes) if spec.takes else 'no other field'}")
    req = set(spec.required)
    amount = c.number("amount", required="amount" in req) if "amount" in spec.takes else None
    promise = (c.day("promise_date", required=True, not_before=event_day)
               if "promise_date" in spec.takes else None)
    count = (c.whole("instalment_count", required=True, lo=2, hi=MAX_INSTALMENTS)
             if "instalment_count" in spec.takes else None)
    first = (c.day("instalment_first_date", required=True, not_before=event_day)
             if "instalment_first_date" in spec.takes else None)
    each = (c.number("instalment_amount", required=True)
            if "instalment_amount" in spec.takes else None)
    new_address = (c.text("new_address", limit=MAX_TEXT["new_address"])
                   if "new_address" in spec.takes else "")
    note = c.text("note", required="note" in req, limit=MAX_TEXT["note"]) \
        if "note" in spec.takes else ""
    return OutcomeResult(code=code, amount=amount, promise_date=promise, instalment_count=count,
                         instalment_first_date=first, instalment_amount=each,
                         new_address=new_address, note=note)


def parse_result(data: Mapping[str, object], *, where: str = "outcome", row: int = 0,
                 labels: Mapping[str, str] | None = None, event_day: date | None = None,
                 record_id: str | None = None) -> OutcomeResult:
    """Validate the code and its fields (``outcome`` and `RESULT_FIELDS` of `data`).

    Parameters
    ----------
    data
        Field name -> value (text as a sheet gives it, or JSON values).
    where, row, labels, record_id
        For messages: the file (or "request body"), its row, the names the source gives the
        fields (a sheet's "Amount paid" for ``amount``), the record (``case_id=...``).
    event_day
        The day of the visit: promised dates must not be earlier.

    Raises
    ------
    InputError
        Every problem at once.
    """
    c = _Checker(data, where, row, labels, record_id)
    result = _check_result(c, event_day)
    if c.problems or result is None:
        raise InputError(c.problems)
    return result


def parse_outcome(data: Mapping[str, object], *, where: str = "request body", row: int = 0,
                  labels: Mapping[str, str] | None = None) -> OutcomeInput:
    """Validate a whole outcome (the fields of the module docstring).

    Raises
    ------
    InputError
        Every problem at once: unknown fields, missing or invalid values, fields the code does
        not take, a promise before the visit, half a position.
    """
    c = _Checker(data, where, row, labels)
    for f in data:
        if f not in FIELDS:
            c.problem(f, data[f], "is not a field of an outcome",
                      f"remove it; the fields are {', '.join(FIELDS)}")
    key = c.text("key", required=True)
    case_id = c.text("case_id", required=True)
    collectors = _collectors(c)
    when = c.moment("event_time", required=True)
    result = _check_result(c, when.date() if when is not None else None)
    lat = c.number("device_lat", lo=-90, hi=90, above=False)
    lon = c.number("device_lon", lo=-180, hi=180, above=False)
    if c.given("device_lat") != c.given("device_lon"):
        missing = "device_lon" if c.given("device_lat") else "device_lat"
        c.problem(missing, "", "the position needs both device_lat and device_lon")
    accuracy = c.number("device_accuracy_m", lo=0, hi=1e6, above=False)
    if accuracy is not None and not (c.given("device_lat") and c.given("device_lon")):
        c.problem("device_accuracy_m", c.data.get("device_accuracy_m"),
                  "an accuracy without a position", "send the position with its accuracy, "
                  "or leave the accuracy out")
    plan_id = c.whole("plan_id")
    supersedes = c.whole("supersedes")
    source = c.text("source", required=True)
    if source and source not in SOURCES:
        c.problem("source", source, "is not a source")
    if c.problems or result is None or when is None:
        raise InputError(c.problems)
    return OutcomeInput(key=key, case_id=case_id, result=result, collectors=collectors,
                        event_time=when, source=source, plan_id=plan_id, device_lat=lat,
                        device_lon=lon, device_accuracy_m=accuracy, supersedes=supersedes)


def _collectors(c: _Checker) -> tuple[str, ...]:
    v = c.data.get("collectors")
    if not c.given("collectors") or v == [] or v == ():
        c.problem("collectors", "", "required value is missing: who made the visit")
        return ()
    if isinstance(v, str):
        ids = [p.strip() for p in re.split(r"[+;,，；]", v)]
    elif isinstance(v, list | tuple) and all(isinstance(x, str) for x in v):
        ids = [str(x).strip() for x in v]
    else:
        c.problem("collectors", v, "is not a list of collector ids")
        return ()
    if any(not i for i in ids) or any(len(i) > MAX_ID for i in ids):
        c.problem("collectors", v, "holds an empty or overlong id")
        return ()
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        c.problem("collectors", v, f"names {', '.join(dup)} twice")
        return ()
    return tuple(ids)
