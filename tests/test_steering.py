"""What the case store's history does to a day's problem (`planning.build.Steering`), on tiny
hand-computed days (tests/tinyday.py: 1 minute per unit of distance, a 30-minute visit).

Parts of the day are those `optimizer.store.history.steer_windows` makes: the weekday's daytime
until 16:59:59, its evening from 17:00 (the policy's default).
"""

from __future__ import annotations

from tinyday import MONDAY, case, collector, locate_tiny, settings, visited

from optimizer.model import TimeWindow
from optimizer.plan import solve_located
from optimizer.planning.build import Steering

H = 3600
DAYTIME = TimeWindow(0, 17 * H - 1)
EVENING = TimeWindow(17 * H, 24 * H)


def _day(cases, collectors, steering):
    st = settings()
    return solve_located(cases, locate_tiny(cases, collectors, st), st, steering=steering)


def test_a_daytime_miss_steers_the_visit_into_the_evening_when_a_shift_reaches_it():
    # A (value 1000) is available 09:00-20:00; the collector works 08:00-19:00 from x=0, A is
    # at x=10 (10 minutes). Without history the visit starts at 09:00 (the earliest). After a
    # daytime miss (daytime 0.5, evening 1) the evening piece 17:00-20:00 meets the shift: the
    # visit keeps that piece only, starts at 17:00 or later and is worth the full 1000.
    cases = [case("A", 10, windows="Mon 09:00-20:00")]
    ks = [collector("K", shift="08:00-19:00")]
    plain = _day(cases, ks, None)
    assert plain.plan.routes[0].stops[0].start_s < 17 * H
    steered = _day(cases, ks, Steering(windows={"A": ((DAYTIME, 0.5), (EVENING, 1.0))}))
    stop = steered.plan.routes[0].stops[0]
    assert stop.start_s >= 17 * H
    assert stop.window == TimeWindow(17 * H, 20 * H)
    assert stop.value == 1000.0
    assert steered.built.factors == {"A": 1.0}


def test_without_an_evening_in_any_shift_the_daytime_visit_is_worth_the_factor():
    # The same case, a shift 08:00-16:00: no evening piece meets it, so the daytime piece stays
    # at half the value (500). Beside it B (value 700, x=12, available 09:00-10:00) competes
    # for the one visit the collector may make (max_visits 1): B wins at 700 > 500; without
    # the history A (1000) would win.
    cases = [case("A", 10, windows="Mon 09:00-20:00"), case("B", 12, value=700.0,
                                                             windows="Mon 09:00-10:00")]
    ks = [collector("K", shift="08:00-16:00", max_visits=1)]
    assert visited(_day(cases, ks, None).plan) == {"A": "K"}
    day = _day(cases, ks, Steering(windows={"A": ((DAYTIME, 0.5), (EVENING, 1.0))}))
    assert visited(day.plan) == {"B": "K"}
    assert day.built.values["A"] == 500.0
    (left,) = day.plan.unassigned
    assert (left.case.case_id, left.reason_code, left.value) == ("A", "lower_value", 500.0)


def test_a_held_case_is_not_visited_and_keeps_the_stores_reason():
    # A alone, free day: visited without history; held by the store, it is unassigned with the
    # store's code and sentence, and the day has no stop.
    cases = [case("A", 10)]
    ks = [collector("K")]
    assert visited(_day(cases, ks, None).plan) == {"A": "K"}
    held = Steering(held={"A": ("closed_paid", "paid in full (5,000) on 2026-11-27; the case "
                                               "is closed")})
    day = _day(cases, ks, held)
    assert visited(day.plan) == {}
    (u,) = day.plan.unassigned
    assert (u.case.case_id, u.reason_code) == ("A", "closed_paid")
    assert u.reason.startswith("paid in full")
    assert MONDAY.weekday() == 0
