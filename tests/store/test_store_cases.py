"""Merging case exports into the store: the report, idempotency, closing, reopening."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from storehelp import at, case, outcome

from optimizer.store.cases import case_of, file_sha256, merge_cases, new_default
from optimizer.store.events import correct_address, record_outcome
from optimizer.store.tables import AuditEntry, CaseVersion, ImportRecord, StoredCase


def merge(store, cases, sha, when, **kw):
    with store.session() as s:
        return merge_cases(s, cases, file_name=f"{sha}.csv", sha256=sha * 64,
                           imported_at=at(when), **kw)


def snapshot(store):
    with store.reading() as s:
        cases = [tuple(getattr(r, c.key) for c in StoredCase.__table__.columns)
                 for r in s.scalars(select(StoredCase).order_by(StoredCase.case_id))]
        versions = [(v.case_id, v.version, v.change) for v in
                    s.scalars(select(CaseVersion).order_by(CaseVersion.id))]
        imports = s.scalars(select(ImportRecord.id)).all()
    return cases, versions, imports


def test_a_merge_adds_updates_closes_and_reports_each(store):
    day1 = [case("A1", 5000, 40), case("A2", 3000, 70), case("A3", 800, 10)]
    r1 = merge(store, day1, "a", "2026-12-01 08:00")
    assert r1.counts() == {"added": 3, "updated": 0, "closed": 0, "reopened": 0,
                           "unchanged": 0, "stale": 0}
    assert r1.added == ("A1", "A2", "A3")
    # next day's export: A1's amount drops, A2 is gone, A3 the same, A4 new
    day2 = [case("A1", 4200, 41), case("A3", 800, 10), case("A4", 1500, 5)]
    r2 = merge(store, day2, "b", "2026-12-02 08:00")
    assert (r2.added, r2.updated, r2.closed, r2.unchanged) == (("A4",), ("A1",), ("A2",),
                                                               ("A3",))
    assert r2.changes["A1"] == ("amount_overdue", "days_past_due")
    with store.reading() as s:
        a2 = s.get(StoredCase, "A2")
        assert (a2.status, a2.closed_reason, a2.closed_at) == ("closed", "missing",
                                                                at("2026-12-02 08:00"))
        assert case_of(s.get(StoredCase, "A1")) == replace(day2[0], row=0)
        # history kept: every state, with the import it came from
        versions = [(v.version, v.change, v.amount_overdue, v.import_id) for v in s.scalars(
            select(CaseVersion).where(CaseVersion.case_id == "A1").order_by(CaseVersion.id))]
        assert versions == [(1, "added", 5000.0, r1.import_id), (2, "updated", 4200.0,
                                                                 r2.import_id)]
        imp = s.get(ImportRecord, r2.import_id)
        assert (imp.rows, imp.added, imp.updated, imp.closed, imp.unchanged) == (3, 1, 1, 1, 1)
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "cases.imported")
                          .order_by(AuditEntry.id)).all()
        assert audit[-1].details["closed_ids"] == ["A2"]
    # the closed case is listed again: reopened with the export's values
    r3 = merge(store, [*day2, case("A2", 3000, 72)], "c", "2026-12-03 08:00")
    assert r3.reopened == ("A2",) and r3.unchanged == ("A1", "A3", "A4")
    with store.reading() as s:
        assert s.get(StoredCase, "A2").status == "open"


def test_the_same_file_twice_changes_nothing_the_second_time(store, tmp_path):
    f = tmp_path / "cases.csv"
    f.write_text("case_id,amount_overdue\nA1,5000\n", encoding="utf-8")
    sha = file_sha256(f)
    assert len(sha) == 64
    cases = [case("A1"), case("A2")]
    with store.session() as s:
        first = merge_cases(s, cases, file_name="cases.csv", sha256=sha,
                            imported_at=at("2026-12-01 08:00"))
    before = snapshot(store)
    with store.session() as s:
        again = merge_cases(s, cases, file_name="cases.csv", sha256=sha,
                            imported_at=at("2026-12-01 09:00"))
    assert again.repeat_of == first.import_id and not again.changed
    assert again.unchanged == ("A1", "A2")
    assert snapshot(store) == before
    # a newer export, then the old file again: the old file does not undo the newer one
    merge(store, [case("A1", 100.0), case("A2")], "n", "2026-12-02 08:00")
    after_newer = snapshot(store)
    with store.session() as s:
        old = merge_cases(s, cases, file_name="cases.csv", sha256=sha,
                          imported_at=at("2026-12-03 08:00"))
    assert old.repeat_of == first.import_id
    assert snapshot(store) == after_newer


def test_an_identical_export_in_a_new_file_is_unchanged(store):
    merge(store, [case("A1"), case("A2")], "a", "2026-12-01 08:00")
    r = merge(store, [case("A1"), case("A2")], "b", "2026-12-02 08:00")
    assert r.unchanged == ("A1", "A2") and not r.changed


def paid(store, case_id, when, amount=5000.0, key="pay"):
    with store.session() as s:
        return record_outcome(s, outcome(key, case_id, "paid", when, amount=amount),
                              actor="test")


def test_a_paid_case_stays_closed_when_the_old_debt_is_imported_again(store):
    merge(store, [case("P1", 5000, 40)], "a", "2026-12-01 08:00")
    paid(store, "P1", "2026-12-01 15:00")
    with store.reading() as s:
        assert s.get(StoredCase, "P1").closed_reason == "paid"
    # an export made before the payment reached the loan system: the debt goes on (41 days)
    r = merge(store, [case("P1", 5000, 41)], "b", "2026-12-02 08:00")
    assert r.stale == ("P1",) and r.reopened == ()
    # an older export than the first (a re-export of November's data): 30 days past due, an
    # (amount, dpd) never seen, but its default began before the payment
    r = merge(store, [case("P1", 4000, 30)], "c", "2026-12-20 08:00")
    assert r.stale == ("P1",)
    with store.reading() as s:
        row = s.get(StoredCase, "P1")
        assert (row.status, row.amount_overdue, row.days_past_due) == ("closed", 5000.0, 40)


def test_a_paid_case_reopens_on_a_new_default(store):
    merge(store, [case("P1", 5000, 40), case("P2", 100, 3)], "a", "2026-12-01 08:00")
    paid(store, "P1", "2026-12-01 15:00")
    # 20 days after the payment the loan system shows a new overdue instalment, 6 days late
    r = merge(store, [case("P1", 1200, 6), case("P2", 100, 3)], "b", "2026-12-21 08:00")
    assert r.reopened == ("P1",) and r.stale == ()
    with store.reading() as s:
        row = s.get(StoredCase, "P1")
        assert (row.status, row.closed_reason, row.amount_overdue) == ("open", None, 1200.0)
        assert row.opened_at == at("2026-12-21 08:00")  # a new collection cycle
        changes = s.scalars(select(CaseVersion.change).where(CaseVersion.case_id == "P1")
                            .order_by(CaseVersion.version)).all()
        assert changes == ["added", "paid", "reopened"]


def test_new_default_rule():
    paid_at, now = at("2026-12-01 15:00"), at("2026-12-21 08:00")
    assert new_default(case("X", 1200, 6), paid_at=paid_at, imported_at=now, earlier=[])
    assert new_default(case("X", 1200, 20), paid_at=paid_at, imported_at=now, earlier=[])
    # the default began before the payment (21 days past due on the 21st: since the 30th)
    assert not new_default(case("X", 1200, 21), paid_at=paid_at, imported_at=now, earlier=[])
    assert not new_default(case("X", 0, 6), paid_at=paid_at, imported_at=now, earlier=[])
    # an (amount, dpd) an earlier import showed is an old export
    assert not new_default(case("X", 1200, 6), paid_at=paid_at, imported_at=now,
                           earlier=[(1200.0, 6)])


def test_an_address_correction_survives_imports_that_still_show_the_old_address(store):
    merge(store, [case("M1", address="老地址 1号", lat=30.60, lon=104.00)], "a",
          "2026-12-01 08:00")
    with store.session() as s:
        correct_address(s, "M1", "新地址 99号", actor="dispatcher", lat=30.70, lon=104.20,
                        at=at("2026-12-01 18:00"))
    r = merge(store, [case("M1", address="老地址 1号", lat=30.60, lon=104.00)], "b",
              "2026-12-02 08:00")
    assert r.corrected == ("M1",) and r.unchanged == ("M1",)
    with store.reading() as s:
        row = s.get(StoredCase, "M1")
        assert (row.address, row.lat, row.lon, row.import_address) == (
            "新地址 99号", 30.70, 104.20, "老地址 1号")
    # the loan system has a new address itself: the export wins
    r = merge(store, [case("M1", address="第三个地址 5号", lat=30.65, lon=104.05)], "c",
              "2026-12-03 08:00")
    assert r.updated == ("M1",) and r.corrected == ()
    with store.reading() as s:
        assert s.get(StoredCase, "M1").address == "第三个地址 5号"


def test_a_correction_without_a_pin_drops_the_wrong_pin(store):
    merge(store, [case("M2", address="错", lat=30.6, lon=104.0)], "a", "2026-12-01 08:00")
    with store.session() as s:
        correct_address(s, "M2", "对 7号", actor="dispatcher")
    merge(store, [case("M2", address="错", lat=30.6, lon=104.0)], "b", "2026-12-02 08:00")
    with store.reading() as s:
        row = s.get(StoredCase, "M2")
        assert (row.address, row.lat, row.lon) == ("对 7号", None, None)  # geocode it anew


def test_a_partial_export_closes_nothing_when_told(store):
    merge(store, [case("A1"), case("A2")], "a", "2026-12-01 08:00")
    r = merge(store, [case("A1")], "b", "2026-12-02 08:00", close_missing=False)
    assert r.closed == () and r.unchanged == ("A1",)
