"""What the next plan learns: each rule on a tiny hand-made history, the answer worked out by
hand in the comments (Timefold's constraint tests). The last tests read the histories from a
store on both back-ends."""

from __future__ import annotations

from datetime import date

import pytest
from storehelp import at, case, outcome, tiny_plan

from optimizer.errors import ConfigError
from optimizer.model import TimeWindow
from optimizer.planning.weigh import case_value
from optimizer.store.cases import merge_cases
from optimizer.store.events import correct_address, record_outcome
from optimizer.store.history import (
    CaseHistory,
    OutcomePolicy,
    PastOutcome,
    PastPayment,
    PastPromise,
    day_part,
    learn,
    learn_all,
    load_history,
    steer_windows,
)
from optimizer.store.plans import record_plan

IMPORTED = at("2026-11-30 08:00")
H = 3600


def hist(c=None, outcomes=(), promises=(), payments=(), **kw) -> CaseHistory:
    kw.setdefault("opened_at", IMPORTED)
    kw.setdefault("amount_changed_at", IMPORTED)
    kw.setdefault("address_changed_at", IMPORTED)
    return CaseHistory(case=c or case("A1", 5000, 45), outcomes=tuple(outcomes),
                       promises=tuple(promises), payments=tuple(payments), **kw)


def o(n: int, code: str, when: str, **kw) -> PastOutcome:
    return PastOutcome(n, code, at(when), ("C01", "C02"), **kw)


def ptp(n: int, made: str, due: str, amount: float, seq: int = 1, of: int = 1) -> PastPromise:
    return PastPromise(n, at(made), seq, of, date.fromisoformat(due), amount)


def pay(n: int, when: str, amount: float) -> PastPayment:
    return PastPayment(n, at(when), amount)


def test_paid_in_full_is_closed_and_never_planned():
    h = hist(outcomes=[o(1, "paid", "2026-12-01 15:00", amount=5000)], status="closed",
             closed_reason="paid", closed_at=at("2026-12-01 15:00"))
    got = learn(h, date(2026, 12, 2))
    assert not got.planned
    assert got.exclusion.reason_code == "closed_paid"
    assert got.exclusion.reason == "paid in full (5,000) on 2026-12-01; the case is closed"


def test_a_partial_payment_lowers_the_amount_until_the_export_shows_it():
    # 5,000 overdue at the import of 30 Nov; 1,200 paid on 1 Dec: 3,800 left
    h = hist(outcomes=[o(1, "partial_payment", "2026-12-01 10:00", amount=1200)],
             payments=[pay(1, "2026-12-01 10:00", 1200)])
    got = learn(h, date(2026, 12, 2))
    assert got.planned and got.case.amount_overdue == 3800
    # value: 3,800 x collectability(45 d) = 3,800 x (0.95 - 0.05 x 45/60) = 3,800 x 0.9125
    assert case_value(got.case) == pytest.approx(3467.5)
    # the export of 2 Dec shows 3,800 (its amount changed after the payment): not twice
    h2 = hist(c=case("A1", 3800, 46), outcomes=h.outcomes, payments=h.payments,
              amount_changed_at=at("2026-12-02 08:00"))
    assert learn(h2, date(2026, 12, 3)).case.amount_overdue == 3800
    # a payment after the plan date is not known yet
    assert learn(h, date(2026, 11, 30)).case.amount_overdue == 5000


def test_last_visit_is_the_last_real_visit_and_no_attempt_is_none():
    h = hist(outcomes=[o(1, "not_home", "2026-12-01 10:00"),
                       o(2, "no_attempt", "2026-12-02 16:00")])
    got = learn(h, date(2026, 12, 3))
    assert got.case.last_visit_date == date(2026, 12, 1)  # not 2 Dec: no visit happened
    # an export with a later visit of its own keeps it
    later = hist(c=case("A1", last_visit_date=date(2026, 12, 2)), outcomes=h.outcomes)
    assert learn(later, date(2026, 12, 3)).case.last_visit_date == date(2026, 12, 2)


def test_an_open_promise_is_not_visited_before_its_date_plus_the_grace():
    h = hist(outcomes=[o(1, "promise_to_pay", "2026-12-01 19:05")],
             promises=[ptp(1, "2026-12-01 19:05", "2026-12-05", 2000)])
    # promised for 5 Dec, 2 days' grace: 6 and 7 Dec without a visit, due from 8 Dec
    for day in (2, 5, 7):
        got = learn(h, date(2026, 12, day))
        assert got.exclusion.reason_code == "promise_open"
        assert got.exclusion.reason == ("promised 2,000 on 2026-12-05; due for a visit from "
                                        "2026-12-08 if unpaid")
        assert got.case.promise_date == date(2026, 12, 5) and not got.case.promise_broken


def test_a_promise_unpaid_past_the_grace_is_broken_and_weighs_more():
    h = hist(outcomes=[o(1, "promise_to_pay", "2026-12-01 19:05")],
             promises=[ptp(1, "2026-12-01 19:05", "2026-12-05", 2000)])
    got = learn(h, date(2026, 12, 8))
    assert got.planned and got.promise.status == "broken"
    assert got.case.promise_broken and got.case.promise_date == date(2026, 12, 5)
    # 5,000 x 0.9125 x 1.2 (the broken-promise factor) = 5,475
    assert case_value(got.case) == pytest.approx(5475.0)
    # paid short (1,500 of 2,000) by the end of the grace: broken too, the amount lower
    short = hist(outcomes=h.outcomes, promises=h.promises,
                 payments=[pay(2, "2026-12-06 12:00", 1500)])
    got = learn(short, date(2026, 12, 8))
    assert got.promise.status == "broken" and got.case.amount_overdue == 3500


def test_a_kept_promise_ends_the_pause():
    h = hist(outcomes=[o(1, "promise_to_pay", "2026-12-01 19:05"),
                       o(2, "partial_payment", "2026-12-05 11:00", amount=2000)],
             promises=[ptp(1, "2026-12-01 19:05", "2026-12-05", 2000)],
             payments=[pay(2, "2026-12-05 11:00", 2000)])
    got = learn(h, date(2026, 12, 6))
    assert got.planned and got.promise.status == "kept"
    assert not got.case.promise_broken and got.case.amount_overdue == 3000


def test_instalments_are_a_schedule_of_promises():
    # 3 x 500 monthly from 10 Dec; the first paid on 9 Dec; next due 10 Jan, grace to 12 Jan
    h = hist(outcomes=[o(1, "instalment_agreed", "2026-12-01 10:00")],
             promises=[ptp(1, "2026-12-01 10:00", d, 500, k, 3) for k, d in
                       enumerate(("2026-12-10", "2027-01-10", "2027-02-10"), start=1)],
             payments=[pay(2, "2026-12-09 09:00", 500)])
    got = learn(h, date(2026, 12, 20))
    assert got.exclusion.reason == ("instalment 2 of 3: promised 500 on 2027-01-10 (500 paid "
                                    "so far); due for a visit from 2027-01-13 if unpaid")
    got = learn(h, date(2027, 1, 13))  # the second instalment unpaid past its grace
    assert got.planned and got.case.promise_broken and got.promise.seq == 2


def test_a_new_promise_replaces_the_old_schedule():
    h = hist(outcomes=[o(1, "promise_to_pay", "2026-12-01 10:00"),
                       o(2, "promise_to_pay", "2026-12-09 10:00")],
             promises=[ptp(1, "2026-12-01 10:00", "2026-12-05", 2000),
                       ptp(2, "2026-12-09 10:00", "2026-12-20", 1000)])
    got = learn(h, date(2026, 12, 10))  # the first is broken, but renegotiated on 9 Dec
    assert got.exclusion.reason_code == "promise_open"
    assert got.promise.due_date == date(2026, 12, 20)


def test_not_at_home_steers_the_next_visit_to_another_part_of_the_week():
    # Tue 1 Dec and Wed 2 Dec, both in the daytime: weekday daytime x 0.5 x 0.5
    h = hist(outcomes=[o(1, "not_home", "2026-12-01 10:00"), o(2, "not_home", "2026-12-02 14:30"),
                       o(3, "no_attempt", "2026-12-02 18:00")])
    got = learn(h, date(2026, 12, 3))
    assert got.planned
    assert dict(got.misses) == {"weekday_daytime": 2}
    assert got.factor("weekday_daytime") == 0.25 and got.factor("weekday_evening") == 1.0
    # Thursday's 09:00-21:00 window: worth a quarter before 17:00, in full from 17:00
    assert steer_windows([TimeWindow(9 * H, 21 * H)], date(2026, 12, 3), got.window_factors) == (
        (TimeWindow(9 * H, 17 * H - 1), 0.25), (TimeWindow(17 * H, 21 * H), 1.0))
    # Saturday: the weekend part, no miss there
    assert steer_windows([TimeWindow(9 * H, 21 * H)], date(2026, 12, 5), got.window_factors) == (
        (TimeWindow(9 * H, 21 * H), 1.0),)
    assert day_part(date(2026, 12, 5), 10 * H) == "weekend"


def test_three_misses_in_a_row_ask_to_verify_the_contact_instead():
    misses = [o(1, "not_home", "2026-12-01 10:00"), o(2, "not_home", "2026-12-02 14:30"),
              o(3, "not_home", "2026-12-03 19:10")]
    got = learn(hist(outcomes=misses), date(2026, 12, 4))
    assert got.exclusion.reason_code == "verify_contact"
    assert got.exclusion.reason == (
        "not at home at 3 visits in a row (2026-12-01 10:00, 2026-12-02 14:30, 2026-12-03 19:10)"
        "; verify the address or phone before the next visit")
    # the customer answered in between: only the misses after that count
    answered = [misses[0], o(9, "refused", "2026-12-01 19:00"), *misses[1:]]
    got = learn(hist(outcomes=answered), date(2026, 12, 9))
    assert got.planned and sum(got.misses.values()) == 2
    assert learn(hist(outcomes=misses), date(2026, 12, 4),
                 OutcomePolicy(not_home_limit=4)).planned


def test_a_refusal_starts_a_cooldown():
    h = hist(outcomes=[o(1, "refused", "2026-12-01 10:00")])
    got = learn(h, date(2026, 12, 7))
    assert got.exclusion.reason == ("the customer refused on 2026-12-01 by C01+C02; the 7-day "
                                    "cooldown allows the next visit from 2026-12-08")
    assert learn(h, date(2026, 12, 8)).planned
    assert learn(h, date(2026, 12, 2), OutcomePolicy(refused_cooldown_days=0)).planned


def test_hardship_pauses_visits():
    h = hist(outcomes=[o(1, "hardship", "2026-12-01 10:00", note="lost his job")])
    got = learn(h, date(2026, 12, 30))
    assert got.exclusion.reason == ("hardship reported on 2026-12-01 ('lost his job'); visits "
                                    "paused for 30 days, allowed again from 2026-12-31")
    assert learn(h, date(2026, 12, 31)).planned
    assert learn(h, date(2026, 12, 2), OutcomePolicy(hardship_pause_days=10)).exclusion
    assert learn(h, date(2026, 12, 11), OutcomePolicy(hardship_pause_days=10)).planned


def test_a_dispute_goes_to_the_legal_skill_or_pauses():
    h = hist(c=case("A1", skill="sichuanese"), outcomes=[o(1, "dispute", "2026-12-01 10:00")])
    got = learn(h, date(2026, 12, 2))
    assert got.planned and got.case.skill == "legal"
    got = learn(h, date(2026, 12, 2), OutcomePolicy(dispute_skill=""))
    assert got.exclusion.reason_code == "dispute_open"
    # a later answer ends it
    later = hist(outcomes=[*h.outcomes, o(2, "promise_to_pay", "2026-12-03 10:00")],
                 promises=[ptp(2, "2026-12-03 10:00", "2026-12-04", 100)])
    assert learn(later, date(2026, 12, 10)).case.skill == ""


def test_a_wrong_address_is_not_planned_until_corrected():
    h = hist(outcomes=[o(1, "moved", "2026-12-01 10:00", new_address="金牛区一环路北5号")])
    got = learn(h, date(2026, 12, 2))
    assert got.exclusion.reason_code == "address_unverified"
    assert got.exclusion.reason == (
        "reported moved on 2026-12-01 by C01+C02; new address (unverified): '金牛区一环路北5号'; "
        "correct the address in the store to plan a visit")
    nothing = hist(outcomes=[o(1, "wrong_address", "2026-12-01 10:00")])
    assert "no new address known" in learn(nothing, date(2026, 12, 2)).exclusion.reason
    fixed = hist(outcomes=h.outcomes, address_changed_at=at("2026-12-01 18:00"))
    assert learn(fixed, date(2026, 12, 2)).planned


def test_what_happened_before_a_new_default_counts_only_as_a_visit():
    h = hist(outcomes=[o(1, "promise_to_pay", "2026-11-10 10:00"),
                       o(2, "not_home", "2026-11-20 10:00")],
             promises=[ptp(1, "2026-11-10 10:00", "2026-11-15", 2000)],
             opened_at=at("2026-11-30 08:00"))
    got = learn(h, date(2026, 12, 1))
    assert got.planned and got.promise is None and not got.case.promise_broken
    assert got.misses == {} and got.case.last_visit_date == date(2026, 11, 20)


def test_policy_numbers_are_checked():
    with pytest.raises(ConfigError, match="not_home_factor"):
        OutcomePolicy(not_home_factor=0)
    with pytest.raises(ConfigError, match="promise_grace_days"):
        OutcomePolicy(promise_grace_days=-1)


# --------------------------------------------------------------------------- from a store


def test_the_store_gives_the_same_lessons(store):
    day = date(2026, 12, 1)
    with store.session() as s:
        merge_cases(s, [case("B1"), case("B2"), case("B3"), case("B4")], file_name="c.csv",
                    sha256="c" * 64, imported_at=IMPORTED)
        record_plan(s, tiny_plan(day, {"C01+C02": (("C01", "C02"), [case("B1"), case("B2")])}),
                    actor="plan")
    events = [
        outcome("1", "B1", "promise_to_pay", "2026-12-01 09:05", amount=2000,
                promise_date="2026-12-05"),
        outcome("2", "B2", "paid", "2026-12-01 10:05", amount=5000),
        outcome("3", "B3", "moved", "2026-12-01 11:00", new_address="新地址"),
        outcome("4", "B4", "partial_payment", "2026-12-01 12:00", amount=1000),
    ]
    with store.session() as s:
        ids = [record_outcome(s, e, actor="test").outcome_id for e in events]
    with store.session() as s:  # B4's was 100, not 1,000: a correction
        record_outcome(s, outcome("5", "B4", "partial_payment", "2026-12-01 12:00", amount=100,
                                  supersedes=ids[3]), actor="dispatcher")
    with store.reading() as s:
        got = learn_all(load_history(s), date(2026, 12, 2))
    assert {k: v.exclusion.reason_code if v.exclusion else None for k, v in got.items()} == {
        "B1": "promise_open", "B2": "closed_paid", "B3": "address_unverified", "B4": None}
    assert got["B1"].exclusion.reason == ("promised 2,000 on 2026-12-05; due for a visit from "
                                          "2026-12-08 if unpaid")
    assert got["B4"].case.amount_overdue == 4900  # the corrected 100, not 1,000
    assert got["B1"].case.last_visit_date == day
    with store.session() as s:
        correct_address(s, "B3", "新地址 1号", actor="dispatcher", at=at("2026-12-01 20:00"))
    with store.reading() as s:
        assert learn_all(load_history(s, ["B3"]), date(2026, 12, 2))["B3"].planned
