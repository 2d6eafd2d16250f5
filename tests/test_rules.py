"""One hand-computed test per collection rule, each showing the rule changes the answer.

Layout (see tinyday.py): places on a line, 1 minute of travel per unit; values are amounts
(weighting 'amount'). Policies are built from `Policy()` (no rule) with only the rule under test.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from tinyday import MONDAY, case, collector, reasons, run, visited

from optimizer.errors import ConfigError, InputError
from optimizer.planning import rules
from optimizer.planning.rules import Policy

H = 3600
NONE = Policy()


def _stop(plan, cid):
    return next(s for r in plan.routes for s in r.stops if s.case.case_id == cid)


# ---------------------------------------------------------------- rule 1: legal contact hours


def test_legal_hours_move_and_forbid_visits():
    # K1 at 0, shift 06:00-12:00. A at 10 (window 06:00-09:00), B at -10 (window 06:00-07:30).
    # No rule: A can start 06:10 and B at 06:10 on another trip -> both visited, B first or A.
    # Hours 08:00-22:00: A must start >= 08:00; B's window ends 07:30 -> outside_legal_hours.
    # B with consent keeps its own window -> visited again.
    cs = [case("A", 10, windows="06:00-09:00"), case("B", -10, windows="06:00-07:30")]
    ks = [collector("K1", shift="06:00-12:00")]
    plan, _, _ = run(cs, ks, NONE)
    assert set(visited(plan)) == {"A", "B"}
    legal = Policy(name="legal", contact_start_s=8 * H, contact_end_s=22 * H)
    plan, _, _ = run(cs, ks, legal)
    assert visited(plan) == {"A": "K1"}
    assert _stop(plan, "A").start_s >= 8 * H
    assert reasons(plan) == {"B": "outside_legal_hours"}
    cs[1] = replace(cs[1], consent_outside_hours=True)
    plan, _, _ = run(cs, ks, legal)
    assert set(visited(plan)) == {"A", "B"}


def test_legal_hours_cover_the_whole_visit():
    # Window 21:00-22:00 with hours until 22:00 and 30 min service: start must be <= 21:30.
    c = case("A", 0, windows="21:00-22:00")
    (w,) = rules.legal_windows(c, c.windows_on(MONDAY),
                               Policy(contact_start_s=8 * H, contact_end_s=22 * H))
    assert (w.start_s, w.end_s) == (21 * H, 21 * H + 1800)


# ---------------------------------------------------------------- rule 2: two collectors


def test_two_collectors_per_visit_halves_the_routes():
    # K1, K2 at 0, shift 09:00-10:00. A at 5 (09:00-09:10, 1000), B at -5 (09:00-09:10, 3000).
    # Alone: K1 takes one, K2 the other (A->B is 10 min: too late for B's window) -> both.
    # Teams of two: one route K1+K2 can make only one visit -> B (worth more); A lower_value.
    cs = [case("A", 5, windows="09:00-09:10", value=1000),
          case("B", -5, windows="09:00-09:10", value=3000)]
    ks = [collector("K1", shift="09:00-10:00"), collector("K2", shift="09:00-10:00")]
    plan, _, _ = run(cs, ks, NONE)
    assert set(visited(plan)) == {"A", "B"}
    assert len({r for r in visited(plan).values()}) == 2
    plan, _, _ = run(cs, ks, Policy(min_team_size=2))
    assert visited(plan) == {"B": "K1+K2"}
    assert plan.routes[0].members == ("K1", "K2")
    assert reasons(plan) == {"A": "lower_value"}


def test_team_formation_rule():
    # explicit team column first, then automatic groups by shift, then place, then id;
    # an odd one out joins the last team
    ks = [collector("A1", team="north"), collector("A2", team="north"),
          collector("E1", shift="08:00-17:00"), collector("L1", shift="12:00-21:00"),
          collector("E2", shift="08:00-17:00"), collector("L2", shift="12:00-21:00"),
          collector("L3", shift="12:00-21:00")]
    crews = rules.form_crews(ks, Policy(min_team_size=2))
    assert [c.crew_id for c in crews] == ["north", "E1+E2", "L1+L2+L3"]
    assert crews[2].shift.label() == "12:00-21:00"  # an evening team keeps its evening
    with pytest.raises(InputError, match="team solo has 1 collector.* fewer than the 2 per visit"):
        rules.form_crews([collector("X", team="solo")], Policy(min_team_size=2))
    # nobody is left out silently: one collector without a team cannot visit alone
    with pytest.raises(InputError, match="X.*no colleague to visit with"):
        rules.form_crews([collector("X")], Policy(min_team_size=2))
    with pytest.raises(ConfigError, match="do not overlap"):
        rules.form_crews([collector("X", team="t", shift="08:00-10:00"),
                          collector("Y", team="t", shift="12:00-14:00")], Policy())


# ---------------------------------------------------------------- rule 3: breaks, working time


def test_lunch_break_costs_a_visit():
    # K1 at 0, shift 11:00-14:00 (180 min). C1..C3 at 0, 50 min each, worth 1000/2000/3000.
    # No break: 3 x 50 = 150 <= 180 -> all three.
    # Lunch 60 min starting in 12:00-13:00: 150 + 60 = 210 > 180 -> C2 and C3, C1 lower_value.
    cs = [case(f"C{i}", 0, value=1000 * i, service_min=50) for i in (1, 2, 3)]
    ks = [collector("K1", shift="11:00-14:00")]
    plan, _, _ = run(cs, ks, NONE)
    assert len(visited(plan)) == 3
    lunch = Policy(lunch_window=rules.TimeWindow(12 * H, 13 * H), lunch_s=3600)
    plan, _, _ = run(cs, ks, lunch)
    assert set(visited(plan)) == {"C2", "C3"}
    assert reasons(plan) == {"C1": "lower_value"}
    ((b0, b1),) = plan.routes[0].breaks
    assert 12 * H <= b0 <= 13 * H and b1 - b0 >= 3600


def test_lunch_break_applies_only_to_shifts_that_can_hold_it():
    # Lunch 30 min starting in 11:30-13:30. The break must lie wholly inside the shift:
    #   08:00-17:00 -> 11:30..13:30 possible: a break.    14:00-22:00 -> starts after 13:30: none.
    #   08:00-12:00 -> 11:30-12:00 just fits: a break.    08:00-11:45 -> 11:30+30 min > 11:45: none.
    #   13:20-22:00 -> may start 13:20..13:30: a break.
    lunch = Policy(lunch_window=rules.TimeWindow(11 * H + 1800, 13 * H + 1800), lunch_s=1800)
    shifts = {"08:00-17:00": 1, "14:00-22:00": 0, "08:00-12:00": 1, "08:00-11:45": 0,
              "13:20-22:00": 1}
    for shift, n in shifts.items():
        (crew,) = rules.form_crews([collector("K", shift=shift)], lunch)
        assert len(rules.crew_breaks(crew, lunch)) == n, shift
    assert [c.shift.label() for c in rules.lunch_exempt(
        [collector(s, shift=s) for s in shifts], lunch)] == ["14:00-22:00", "08:00-11:45"]
    # In a plan: day collector D (08:00-17:00) and evening collector E (14:00-22:00), both at 0;
    # A at 5 (09:00-10:00) and B at 5 (19:00-20:00), 30 min each. D takes A and a lunch break;
    # E takes B and no break (before the rule was per crew the whole plan failed).
    cs = [case("A", 5, windows="09:00-10:00"), case("B", 5, windows="19:00-20:00")]
    ks = [collector("D", shift="08:00-17:00"), collector("E", shift="14:00-22:00")]
    plan, built, _ = run(cs, ks, lunch)
    assert visited(plan) == {"A": "D", "B": "E"}
    by_id = {r.collector.collector_id: r for r in plan.routes}
    ((b0, b1),) = by_id["D"].breaks
    assert 11.5 * H <= b0 <= 13.5 * H and b1 - b0 >= 1800
    assert by_id["E"].breaks == ()
    assert [len(v.breaks) for v in built.problem.vehicles] == [1, 0]


def test_working_time_and_paid_overtime():
    # Shift 11:00-13:00 (120 min), three 50-min visits at the depot.
    # No overtime: 2 visits. 30 min overtime allowed at a small cost: 3 visits, back 13:30.
    cs = [case(f"C{i}", 0, value=1000 * i, service_min=50) for i in (1, 2, 3)]
    ks = [collector("K1", shift="11:00-13:00")]
    plan, _, _ = run(cs, ks, NONE)
    assert set(visited(plan)) == {"C2", "C3"}
    plan, _, _ = run(cs, ks, Policy(overtime_s=1800, overtime_cost_per_h=10.0))
    assert len(visited(plan)) == 3
    assert plan.routes[0].return_s == pytest.approx(13.5 * H)
    # a max working time shorter than the shift: 100 min allows 2 visits of a 9 h shift
    ks = [collector("K1", shift="08:00-17:00")]
    plan, _, _ = run(cs, ks, Policy(max_work_s=100 * 60))
    assert set(visited(plan)) == {"C2", "C3"}
    # ... or per collector (column max_work_hours): a team works to its shortest member's limit
    ks = [collector("K1", max_work_s=100 * 60), collector("K2")]
    plan, _, _ = run(cs, ks, Policy(min_team_size=2))
    assert set(visited(plan)) == {"C2", "C3"}
    plan, _, _ = run(cs, [ks[1], replace(ks[0], collector_id="K3", max_work_s=None)],
                     Policy(min_team_size=2))
    assert len(visited(plan)) == 3


# ---------------------------------------------------------------- rule 4: skills


def test_skill_decides_who_visits():
    # K1 at 0 (no skill), K2 at 0 ('legal'), shift 09:00-10:00. L at 5 and N at -5, both
    # 09:00-09:10. Any split works without skills; with L needing 'legal' only K2 may take L.
    cs = [case("L", 5, windows="09:00-09:10", value=5000),
          case("N", -5, windows="09:00-09:10", value=1000)]
    ks = [collector("K1", shift="09:00-10:00"),
          collector("K2", shift="09:00-10:00", skills=frozenset({"legal"}))]
    cs[0] = replace(cs[0], skill="legal")
    plan, _, _ = run(cs, ks, NONE)
    assert visited(plan) == {"L": "K2", "N": "K1"}
    plan, _, _ = run(cs, ks[:1], NONE)
    assert reasons(plan) == {"L": "no_eligible_collector"}


# ---------------------------------------------------------------- rule 5: continuity, territory


def test_preferred_collector_is_soft_and_fixed_is_hard():
    # K1 at 0, K2 at 20; P at 5. Travel costs 60/h: K1 spends 10 min, K2 30 min -> K1 by cost.
    # Preferred K2 with a cost of 500 for anyone else: K2 (20 min more travel costs 20).
    ks = [collector("K1", 0), collector("K2", 20)]
    p = case("P", 5)
    plan, _, _ = run([p], ks, NONE, travel_cost_per_h=60.0)
    assert visited(plan) == {"P": "K1"}
    plan, _, _ = run([replace(p, preferred_collector="K2")], ks, Policy(preferred_cost=500.0),
                     travel_cost_per_h=60.0)
    assert visited(plan) == {"P": "K2"}
    plan, _, _ = run([replace(p, fixed_collector="K2")], ks, NONE, travel_cost_per_h=60.0)
    assert visited(plan) == {"P": "K2"}
    # the fixed collector does not work today -> nobody else may go
    ks_off = [ks[0], replace(ks[1], workdays=frozenset({5, 6}))]
    plan, _, _ = run([replace(p, fixed_collector="K2")], ks_off, NONE)
    assert reasons(plan) == {"P": "no_eligible_collector"}


def test_territory():
    # K1 (at 0) covers only 锦江区; K2 (at 20) anywhere. P in 青羊区 at 5 -> K2 despite distance.
    ks = [collector("K1", 0, districts=frozenset({"锦江区"})), collector("K2", 20)]
    p = case("P", 5, district="青羊区")
    plan, _, _ = run([p], ks, NONE, travel_cost_per_h=60.0)
    assert visited(plan) == {"P": "K2"}
    plan, _, _ = run([replace(p, district="锦江区")], ks, NONE, travel_cost_per_h=60.0)
    assert visited(plan) == {"P": "K1"}


# ---------------------------------------------------------------- rule 6: cooldown, promises


def test_cooldown_and_open_promise():
    yesterday = MONDAY - timedelta(days=1)
    cs = [case("V", 5, last_visit_date=yesterday),
          case("P", 6, promise_date=MONDAY + timedelta(days=2)),
          case("Q", 7, promise_date=MONDAY + timedelta(days=2), promise_broken=True)]
    ks = [collector("K1")]
    plan, _, _ = run(cs, ks, Policy(cooldown_days=0, respect_promises=False))
    assert set(visited(plan)) == {"V", "P", "Q"}
    plan, _, _ = run(cs, ks, Policy(cooldown_days=3))
    assert set(visited(plan)) == {"Q"}
    assert reasons(plan) == {"V": "cooldown", "P": "open_promise"}
    # visited 3 days ago with a 3-day cooldown: allowed again today
    plan, _, _ = run([replace(cs[0], last_visit_date=MONDAY - timedelta(days=3))], ks,
                     Policy(cooldown_days=3))
    assert set(visited(plan)) == {"V"}


# ---------------------------------------------------------------- rule 7: workload balance


def test_balance_spreads_the_work():
    # K1, K2 at 0, four 60-min visits at 1..4. Travel costs 60/h: one route 0-1-2-3-4-0 travels
    # 8 min; two routes travel 2 + 6... >= 10 min -> without balance one collector does all four.
    # With a balance cost of 1000 per hour of span, two routes of two visits each.
    cs = [case(f"C{i}", i, service_min=60) for i in (1, 2, 3, 4)]
    ks = [collector("K1"), collector("K2")]
    plan, _, _ = run(cs, ks, NONE, travel_cost_per_h=60.0)
    assert sorted(len(r.stops) for r in plan.routes if r.stops) == [4]
    plan, _, _ = run(cs, ks, Policy(balance="hours", balance_cost_per_h=1000.0),
                     travel_cost_per_h=60.0)
    assert sorted(len(r.stops) for r in plan.routes) == [2, 2]
    assert plan.summary.utilisation_spread < 0.05


@pytest.mark.parametrize(("preset", "visited_late"), [("us_fdcpa", True), ("india_rbi", False)])
def test_presets_contact_hours_differ(preset, visited_late):
    # A at 5 with window 19:30-20:00, 30 min visit: inside 08:00-21:00 (FDCPA), after 19:00 (RBI).
    c = case("A", 5, windows="19:30-20:00")
    policy = replace(rules.PRESETS[preset], lunch_s=0, cooldown_days=0)
    plan, _, _ = run([c], [collector("K1", shift="08:00-22:00")], policy)
    if visited_late:
        assert visited(plan) == {"A": "K1"}
    else:
        assert reasons(plan) == {"A": "outside_legal_hours"}


# ---------------------------------------------------------------- rule 8: the horizon


def test_a_case_planned_earlier_in_the_horizon_waits_for_its_revisit_gap():
    # V at 5 was planned on Saturday (two days before MONDAY). Once per horizon (default): not
    # today, reason planned_earlier naming the day. A revisit gap of 3 days: Saturday + 3 =
    # Tuesday, still not today; a gap of 2: allowed today. W (not planned earlier) is visited.
    from optimizer.planning.build import DayContext

    sat = MONDAY - timedelta(days=2)
    cs = [case("V", 5), case("W", 6)]
    ks = [collector("K1")]
    plan, _, _ = run(cs, ks, NONE)
    assert set(visited(plan)) == {"V", "W"}
    once = DayContext(planned_on={"V": (sat,)})
    assert rules.horizon_reason(cs[0], MONDAY, (sat,)) == (
        "planned_earlier", "planned on 2026-11-28; a multi-day plan visits a case once in its "
        "horizon")
    from tinyday import locate_tiny, settings

    from optimizer.plan import solve_located

    st = settings(NONE)
    for context, expect in ((once, {"W"}), (DayContext({"V": (sat,)}, 3), {"W"}),
                            (DayContext({"V": (sat,)}, 2), {"V", "W"})):
        day = solve_located(cs, locate_tiny(cs, ks, st), st, context=context)
        assert set(visited(day.plan)) == expect
        if "V" not in expect:
            assert reasons(day.plan) == {"V": "planned_earlier"}
            assert "planned on 2026-11-28" in day.plan.unassigned[0].reason
    # a day before the earlier one does not count (the list is of earlier days)
    assert rules.horizon_reason(cs[0], MONDAY, (MONDAY + timedelta(days=1),)) is None


def test_priority_changes_which_case_the_solver_keeps_but_not_its_value():
    # K1 at 0 with time for one 4-hour visit (shift 08:00-12:10): A at 1 worth 1000, B at -1
    # worth 900. Alone: A. B with priority 1.5 (900 x 1.5 = 1350 for the solver): B, and its
    # reported value is still 900.
    from tinyday import locate_tiny, settings

    from optimizer.plan import solve_located
    from optimizer.planning.build import DayContext

    cs = [case("A", 1, service_min=240), case("B", -1, value=900.0, service_min=240)]
    ks = [collector("K1", shift="08:00-12:10")]
    st = settings(NONE)
    day = solve_located(cs, locate_tiny(cs, ks, st), st)
    assert set(visited(day.plan)) == {"A"}
    day = solve_located(cs, locate_tiny(cs, ks, st), st, context=DayContext(priority={"B": 1.5}))
    assert set(visited(day.plan)) == {"B"}
    assert day.plan.summary.value_visited == 900.0
