"""Recording outcomes: the rows they imply, idempotency, conflicts, corrections, append-only."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text
from storehelp import at, case, outcome, tiny_plan

import optimizer.store as store_package
from optimizer.errors import InputError
from optimizer.store.cases import merge_cases
from optimizer.store.errors import AppendOnlyError, OutcomeConflict
from optimizer.store.events import record_outcome
from optimizer.store.plans import record_plan
from optimizer.store.tables import (
    APPEND_ONLY,
    AuditEntry,
    CaseVersion,
    OutcomeCollector,
    OutcomeRecord,
    PaymentRecord,
    PromiseRecord,
    StoredCase,
)


@pytest.fixture
def cases(store):
    with store.session() as s:
        merge_cases(s, [case("A1", lat=30.66, lon=104.10), case("A2", lat=None, lon=None),
                        case("A3")], file_name="c.csv", sha256="c" * 64,
                    imported_at=at("2026-11-30 08:00"))
    return store


def record(store, o, **kw):
    with store.session() as s:
        return record_outcome(s, o, actor="collector:C01", **kw)


def count(store, table):
    with store.reading() as s:
        return s.scalar(select(func.count()).select_from(table))


def test_a_promise_writes_the_outcome_its_collectors_its_promise_and_an_audit_row(cases):
    # the device stood 0.01 degrees of latitude (1.11 km) north of the case's pin
    r = record(cases, outcome("k1", "A1", "promise_to_pay", "2026-12-01 19:05",
                              amount=2000, promise_date="2026-12-05", device_lat=30.67,
                              device_lon=104.10, device_accuracy_m=15),
               received_at=at("2026-12-01 21:00"))
    assert r.created and r.code == "promise_to_pay"
    assert r.event_time == at("2026-12-01 19:05") and r.received_at == at("2026-12-01 21:00")
    assert r.distance_m == pytest.approx(1111.9, abs=1) and r.far_from_pin is True
    with cases.reading() as s:
        row = s.get(OutcomeRecord, r.outcome_id)
        assert (row.event_utc_offset_min, row.source, row.actor) == (480, "api",
                                                                     "collector:C01")
        assert s.scalars(select(OutcomeCollector.collector_id).order_by(
            OutcomeCollector.position)).all() == ["C01", "C02"]
        (p,) = s.scalars(select(PromiseRecord)).all()
        assert (p.due_date, p.amount, p.seq, p.of_count) == (date(2026, 12, 5), 2000.0, 1, 1)
        (a,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "outcome.recorded"))
        assert a.details["collectors"] == ["C01", "C02"] and a.case_id == "A1"


def test_the_same_key_twice_records_once(cases):
    o = outcome("k1", "A1", "not_home", "2026-12-01 10:00", device_lat=30.6601,
                device_lon=104.1001)
    first = record(cases, o)
    again = record(cases, o, received_at=at("2026-12-02 09:00"))
    assert (again.outcome_id, again.created, first.created) == (first.outcome_id, False, True)
    assert again.received_at == first.received_at  # the first receipt stays
    assert first.far_from_pin is False and first.distance_m < 20
    assert count(cases, OutcomeRecord) == 1
    assert count(cases, OutcomeCollector) == 2
    with cases.reading() as s:
        assert s.scalar(select(func.count()).where(
            AuditEntry.action == "outcome.recorded")) == 1


def test_the_same_key_with_another_body_is_a_conflict_that_changes_nothing(cases):
    record(cases, outcome("k1", "A1", "not_home", "2026-12-01 10:00"))
    with pytest.raises(OutcomeConflict) as exc:
        record(cases, outcome("k1", "A1", "not_home", "2026-12-01 10:00", note="dog"))
    assert exc.value.differences == ("note",)
    assert "send a retry with exactly the same body" in str(exc.value)
    with pytest.raises(OutcomeConflict, match=r"\(outcome, collectors differ\)"):
        record(cases, outcome("k1", "A1", "refused", "2026-12-01 10:00", collectors="C03"))
    assert count(cases, OutcomeRecord) == 1


def test_an_instalment_agreement_writes_its_schedule_and_payments_their_rows(cases):
    record(cases, outcome("k1", "A1", "instalment_agreed", "2026-12-01 10:00",
                          instalment_count=6, instalment_first_date="2026-12-10",
                          instalment_amount=500))
    record(cases, outcome("k2", "A3", "partial_payment", "2026-12-01 11:00", amount=800))
    with cases.reading() as s:
        dues = s.scalars(select(PromiseRecord.due_date).order_by(PromiseRecord.seq)).all()
        assert dues == [date(2026, 12, 10), date(2027, 1, 10), date(2027, 2, 10),
                        date(2027, 3, 10), date(2027, 4, 10), date(2027, 5, 10)]
        (pay,) = s.scalars(select(PaymentRecord)).all()
        assert (pay.case_id, pay.amount, pay.paid_at) == ("A3", 800.0, at("2026-12-01 11:00"))
        assert s.get(StoredCase, "A3").status == "open"


def test_paid_closes_the_case_and_a_correction_of_it_reopens_it(cases):
    first = record(cases, outcome("k1", "A1", "paid", "2026-12-01 10:00", amount=5000))
    with cases.reading() as s:
        row = s.get(StoredCase, "A1")
        assert (row.status, row.closed_reason, row.closed_at) == ("closed", "paid",
                                                                   at("2026-12-01 10:00"))
    # the collector tapped the wrong button: it was a partial payment
    fix = record(cases, outcome("k2", "A1", "partial_payment", "2026-12-01 10:00", amount=500,
                                supersedes=first.outcome_id))
    assert fix.supersedes == first.outcome_id
    with cases.reading() as s:
        assert s.get(StoredCase, "A1").status == "open"
        assert s.scalars(select(CaseVersion.change).where(CaseVersion.case_id == "A1")
                         .order_by(CaseVersion.version)).all() == ["added", "paid", "reopened"]
        # the corrected outcome stays, untouched: the compliance record keeps both
        assert s.get(OutcomeRecord, first.outcome_id).code == "paid"
    with pytest.raises(InputError, match=f"corrected already by #{fix.outcome_id}"):
        record(cases, outcome("k3", "A1", "not_home", "2026-12-01 10:00",
                              supersedes=first.outcome_id))
    with pytest.raises(InputError, match="no outcome #1 of case A3"):
        record(cases, outcome("k4", "A3", "not_home", "2026-12-01 10:00", supersedes=1))


def test_an_unknown_case_or_a_plan_without_the_case_is_refused(cases):
    with pytest.raises(InputError) as exc:
        record(cases, outcome("k1", "Z9", "not_home", "2026-12-01 10:00"))
    (p,) = exc.value.problems
    assert (p.field, p.value, p.message) == ("case_id", "Z9", "no case with this id in the store")
    with cases.session() as s:
        plan = record_plan(s, tiny_plan(date(2026, 12, 1), {"C01+C02": (("C01", "C02"),
                                                                       [case("A1")])}),
                           actor="plan")
    with pytest.raises(InputError, match=f"case A3 is not a stop of plan {plan.plan_id}"):
        record(cases, outcome("k2", "A3", "not_home", "2026-12-01 10:00",
                              plan_id=plan.plan_id))
    assert count(cases, OutcomeRecord) == 0


def test_an_outcome_finds_its_stop_in_the_published_plan_and_measures_from_its_pin(cases):
    # A2 has no coordinates in the store: the plan's pin (geocoded) is the reference
    a2 = case("A2", lat=30.70, lon=104.00)
    with cases.session() as s:
        plan = record_plan(s, tiny_plan(date(2026, 12, 1), {"C01+C02": (("C01", "C02"), [a2])}),
                           actor="plan")
    r = record(cases, outcome("k1", "A2", "refused", "2026-12-01 09:10", device_lat=30.70,
                              device_lon=104.0052))
    assert r.plan_id == plan.plan_id and r.plan_stop_id is not None
    assert r.distance_m == pytest.approx(500.0, abs=10)
    # another day's visit belongs to no plan
    r2 = record(cases, outcome("k2", "A2", "refused", "2026-12-03 09:10"))
    assert (r2.plan_id, r2.plan_stop_id, r2.distance_m) == (None, None, None)


def test_event_rows_cannot_be_changed_or_deleted(cases):
    r = record(cases, outcome("k1", "A1", "promise_to_pay", "2026-12-01 10:00", amount=100,
                              promise_date="2026-12-05"))
    with pytest.raises(AppendOnlyError, match="outcomes rows are append-only"), \
            cases.session() as s:
        s.get(OutcomeRecord, r.outcome_id).note = "edited"
    with pytest.raises(AppendOnlyError, match="audit_log"), cases.session() as s:
        s.delete(s.scalars(select(AuditEntry)).first())
    # and the database refuses it from any other client
    for sql in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM promises",
                "UPDATE outcomes SET code = 'paid'", "DELETE FROM case_versions"):
        with pytest.raises(Exception, match="append-only table"), cases.session() as s:
            s.execute(text(sql))
    with cases.reading() as s:
        assert s.get(OutcomeRecord, r.outcome_id).note == ""
        assert s.scalar(select(func.count()).select_from(PromiseRecord)) == 1


def test_the_store_offers_no_way_to_edit_or_delete_events():
    import importlib
    import pkgutil

    names = [(m.name, n) for m in pkgutil.iter_modules(store_package.__path__)
             for n in dir(importlib.import_module(f"optimizer.store.{m.name}"))
             if n.split("_")[0] in ("update", "delete", "remove", "edit", "amend")]
    assert names == []
    assert {t.__tablename__ for t in APPEND_ONLY} == {
        "case_versions", "address_corrections", "outcomes", "outcome_collectors", "promises",
        "payments", "audit_log"}
