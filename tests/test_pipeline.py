"""The day's pipeline with an initial plan and a guard, on tiny hand-computed days (tinyday.py).

K1 at 0, shift 09:00-12:00; A at 10, B at 20, C at -10, each worth 1000 and 30 minutes of
service: one route serves all three (C, then A, B and back: 80 minutes of travel, 1.5 h of
service). The summary is made with the plan, once.
"""

from __future__ import annotations

from tinyday import case, collector, locate_tiny, settings

from optimizer.outputs.tables import summary_json
from optimizer.plan import Initial, solve_located

CASES = [case("A", 10), case("B", 20), case("C", -10)]


def _day(shift: str = "09:00-12:00", initial: Initial | None = None):
    st = settings()
    ks = [collector("K1", shift=shift)]
    return solve_located(CASES, locate_tiny(CASES, ks, st), st, initial=initial)


def test_without_an_initial_plan_one_search_from_scratch():
    day = _day()
    s = day.search
    assert (s.searches, s.started_from, s.routes_from, s.guard) == (1, "scratch", "solver", None)
    assert s.search_stop == "solution limit"
    assert day.plan.summary.cases_visited == 3 and day.plan.summary.value_visited == 3000.0


def test_a_search_from_the_initial_plan_beside_or_instead_of_the_one_from_scratch():
    first = _day()
    also = _day(initial=Initial(first.solution)).search
    assert also.searches == 2 and also.started_from in ("initial plan", "scratch")
    only = _day(initial=Initial(first.solution, label="yesterday", search="only")).search
    assert (only.searches, only.started_from) == (1, "yesterday")


def test_the_guard_keeps_initial_routes_worth_more():
    # pretend the initial plan was worth more than anything the search finds (3000): its routes
    # fit the day, so they are kept, re-verified
    first = _day()
    day = _day(initial=Initial(first.solution, search="none", guard_value=3000.0 + 1))
    s = day.search
    assert s.routes_from == "initial plan (guard)" and s.solution.solver == "initial plan"
    assert (s.guard.kept, s.guard.found_value, s.guard.initial_value) == (True, 3000.0, 3001.0)
    assert [st.visit_id for st in s.solution.routes[0].stops] == [
        st.visit_id for st in first.solution.routes[0].stops]
    assert day.plan.summary.solver.search == "initial plan"


def test_the_guard_refuses_initial_routes_that_do_not_fit():
    # the same routes take 80 + 90 minutes: they do not fit a shift of 09:00-10:00, which visits
    # fewer cases; the guard finds them infeasible there and keeps the search's plan
    first = _day()
    day = _day("09:00-10:00", Initial(first.solution, search="none", guard_value=3000.0))
    s = day.search
    assert s.routes_from == "solver" and s.guard is not None and not s.guard.kept
    assert s.guard.problem and s.guard.found_value < 3000.0
    assert day.plan.summary.cases_visited < 3


def test_the_summary_is_made_with_the_plan():
    day = _day()
    s = day.plan.summary
    assert s.cases_total == 3 and s.cases_unassigned == 0 and s.routes == 1
    assert [p.collector_id for p in s.per_collector] == ["K1"]
    assert set(s.timings_s) == {"solve", "explain"} and s.wall_s is None  # located by hand
    data = summary_json(s)
    assert list(data)[:3] == ["plan_date", "policy", "weighting"]
    assert list(data)[-3:] == ["per_collector", "timings_s", "solver"]
    assert "wall_s" not in data
