"""Outcome codes and the one validator the phone, the API, the sheets and the console share."""

from __future__ import annotations

from datetime import date

import pytest
from storehelp import at

from optimizer.errors import InputError
from optimizer.store.outcomes import (
    CODES,
    RESULT_FIELDS,
    add_months,
    code_of,
    label,
    parse_outcome,
    parse_result,
)

LABELS = {"paid": "已还款", "partial_payment": "部分还款", "promise_to_pay": "承诺还款",
          "not_home": "不在家", "refused": "拒绝", "instalment_agreed": "分期",
          "wrong_address": "地址错误", "moved": "已搬走", "dispute": "有争议",
          "hardship": "困难", "no_attempt": "未拜访"}

#: a valid value for every field a code can take
VALID = {"amount": 2000, "promise_date": "2026-12-05", "instalment_count": 6,
         "instalment_first_date": "2026-12-10", "instalment_amount": 500,
         "new_address": "成华区建设北路二段5号", "note": "customer lost his job"}


def body(code: str, **fields: object) -> dict[str, object]:
    out: dict[str, object] = {
        "key": "k1", "case_id": "C-0412", "outcome": code, "collectors": ["C01", "C02"],
        "event_time": "2026-12-01T19:05:00+08:00", "source": "phone"}
    out.update({f: VALID[f] for f in CODES[code].required})
    out.update(fields)
    return out


def problems(data: dict[str, object]) -> dict[str, str]:
    with pytest.raises(InputError) as exc:
        parse_outcome(data)
    return {p.field: p.message for p in exc.value.problems}


def test_every_code_has_its_chinese_label_and_reads_back_from_it():
    assert {c: label(c) for c in CODES} == LABELS
    for code, zh in LABELS.items():
        assert code_of(zh) == code
        assert code_of(code.upper().replace("_", " ")) == code
        assert code_of(CODES[code].label_en) == code
    assert code_of("paid-ish") is None
    assert code_of("ptp") == "promise_to_pay"


def test_only_no_attempt_is_not_a_visit_and_reached_means_the_customer_answered():
    assert [c for c in CODES if not CODES[c].is_visit] == ["no_attempt"]
    assert {c for c in CODES if CODES[c].reached} == {
        "paid", "partial_payment", "promise_to_pay", "instalment_agreed", "refused", "dispute",
        "hardship"}


@pytest.mark.parametrize("code", sorted(CODES))
def test_a_complete_body_of_every_code_is_valid(code):
    o = parse_outcome(body(code))
    assert o.code == code and o.collectors == ("C01", "C02")
    assert o.event_time == at("2026-12-01 19:05")


@pytest.mark.parametrize(("code", "missing"), [(c, f) for c in sorted(CODES)
                                               for f in CODES[c].required])
def test_each_required_field_missing_is_a_problem_naming_it(code, missing):
    data = body(code)
    del data[missing]
    with pytest.raises(InputError) as exc:
        parse_outcome(data)
    (p,) = exc.value.problems
    assert (p.field, p.message, p.record_id) == (missing, "required value is missing",
                                                 "case_id=C-0412")
    assert p.fix  # every problem says what to write


@pytest.mark.parametrize("code", sorted(CODES))
def test_a_field_the_code_does_not_take_is_a_problem(code):
    extra = next(f for f in RESULT_FIELDS if f not in CODES[code].takes)
    got = problems(body(code, **{extra: VALID[extra]}))
    assert list(got) == [extra]
    assert f"is not used by the outcome {code}" in got[extra]


def test_every_problem_of_a_body_is_reported_at_once():
    # (the promised date is not checked against a visit time that is itself invalid)
    got = problems({"key": "", "case_id": "C1", "outcome": "promise_to_pay",
                    "collectors": "C01+C01", "event_time": "2026-12-01 19:05",
                    "amount": "two thousand", "promise_date": "2026-11-30", "note": 5,
                    "device_lat": 30.6, "device_accuracy_m": -1, "source": "fax",
                    "colour": "red"})
    assert got == {
        "colour": "is not a field of an outcome",
        "key": "required value is missing",
        "collectors": "names C01 twice",
        "event_time": "has no UTC offset, so the moment is unknown",
        "amount": "is not a number",
        "note": "is not text",
        "device_lon": "the position needs both device_lat and device_lon",
        "device_accuracy_m": "is outside the valid range (at least 0, at most 1e+06)",
        "source": "is not a source",
    }


def test_a_promise_before_the_visit_and_bad_numbers_are_named():
    got = problems(body("promise_to_pay", promise_date="2026-11-30", amount=0))
    assert got == {"promise_date": "is before the visit (2026-12-01)",
                   "amount": "is outside the valid range (above 0, at most 1e+12)"}
    got = problems(body("instalment_agreed", instalment_count=1, instalment_amount="1,5"))
    assert got == {"instalment_count": "is outside 2..120", "instalment_amount": "is not a number"}
    got = problems(body("paid", amount=float("nan"), event_time="yesterday"))
    assert got == {"amount": "is not a number",
                   "event_time": "is not a time ISO 8601 (YYYY-MM-DDTHH:MM:SS+HH:MM)"}


def test_a_sheet_names_its_own_columns_and_row():
    with pytest.raises(InputError) as exc:
        parse_result({"outcome": "承诺还款", "amount": ""}, where="routes.xlsx sheet 'C01'",
                     row=7, labels={"amount": "Amount paid", "promise_date": "Promise date"})
    assert [str(p) for p in exc.value.problems] == [
        "routes.xlsx sheet 'C01' row 7: field 'Amount paid': required value is missing; fix: "
        "give the amount as a number > 0, e.g. 2000 or 1999.50",
        "routes.xlsx sheet 'C01' row 7: field 'Promise date': required value is missing; fix: "
        "give the promised date as YYYY-MM-DD, on or after the visit"]


def test_an_instalment_agreement_is_a_monthly_schedule_of_promises():
    o = parse_outcome(body("instalment_agreed", instalment_count=3,
                           instalment_first_date="2027-01-31", instalment_amount="700.50"))
    assert o.result.schedule() == ((date(2027, 1, 31), 700.5), (date(2027, 2, 28), 700.5),
                                   (date(2027, 3, 31), 700.5))
    assert add_months(date(2027, 12, 15), 1) == date(2028, 1, 15)
    ptp = parse_outcome(body("promise_to_pay", amount=2000, promise_date="2026-12-05"))
    assert ptp.result.schedule() == ((date(2026, 12, 5), 2000.0),)
    assert ptp.result.payment() is None
    assert parse_outcome(body("partial_payment", amount=800)).result.payment() == 800.0


def test_the_digest_is_the_same_for_the_same_moment_in_another_spelling():
    a = parse_outcome(body("not_home", event_time="2026-12-01T19:05:00+08:00"))
    b = parse_outcome(body("not_home", event_time="2026-12-01T11:05:00+00:00"))
    # the same moment, but the device's offset is part of the record (its local clock)
    assert a.body()["event_time"] == b.body()["event_time"]
    assert a.digest() != b.digest()
    assert a.digest() == parse_outcome(body("not_home", collectors="C01+C02")).digest()
    assert a.digest() != parse_outcome(body("not_home", note="dog barked")).digest()
