"""One test per reason code, and proofs that 'impossible' and 'by choice' are computed.

Tiny days (tinyday.py: 1 minute of travel per unit on a line) for the solver-side codes; the real
Chengdu network and gazetteer for the geocoding and network codes.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from tinyday import MONDAY, case, collector, reasons, run, visited

from optimizer.model import Route, Solution, Stop
from optimizer.planning import explain
from optimizer.planning.rules import Policy
from optimizer.routing.verify import check_solution

NONE = Policy()


def _alone_feasible(problem, k, visit) -> bool:
    """Independent one-visit schedule (no breaks): leave at shift start, earliest service."""
    v = problem.vehicles[k]
    d = problem.duration_s
    arrive = v.shift.start_s + d[v.start, visit.location]
    for w in visit.windows:
        if arrive <= w.end_s:
            start = max(arrive, w.start_s)
            back = start + visit.service_s + d[visit.location, v.end]
            if np.isfinite(back) and back <= v.shift.end_s:
                return True
    return False


def test_reason_codes_on_purpose_built_cases():
    # K1 at 0, shift 09:00-17:00, max 1 visit. Every case but the two worth-visiting ones is
    # impossible today for its own reason.
    cs = [
        case("SAT", 1, windows="Sat 09:00-12:00"),                      # no_window_today
        case("EVE", 2, windows="18:00-21:00"),                          # outside_shifts
        case("NIGHT", 3, windows="06:00-07:00"),                        # outside_legal_hours
        case("SKILL", 4, skill="dialect"),                              # no_eligible_collector
        case("COOL", 5, last_visit_date=MONDAY - timedelta(days=1)),    # cooldown
        case("PTP", 6, promise_date=MONDAY + timedelta(days=1)),        # open_promise
        case("FAR", 50, windows="09:00-09:20"),                         # cannot_fit_alone
        case("ISLAND", 77),                                             # unreachable
        case("BIG", 7, value=5000),                                     # visited
        case("SMALL", 8, value=1000),                                   # lower_value
    ]
    ks = [collector("K1", 0, shift="09:00-17:00", max_visits=1)]
    pol = Policy(contact_start_s=8 * 3600, contact_end_s=22 * 3600, cooldown_days=3)
    plan, built, sol = run(cs, ks, pol, blocked=(77,))
    assert visited(plan) == {"BIG": "K1"}
    assert reasons(plan) == {
        "SAT": "no_window_today", "EVE": "outside_shifts", "NIGHT": "outside_legal_hours",
        "SKILL": "no_eligible_collector", "COOL": "cooldown", "PTP": "open_promise",
        "FAR": "cannot_fit_alone", "ISLAND": "unreachable", "SMALL": "lower_value",
    }
    text = {u.case.case_id: u.reason for u in plan.unassigned}
    assert "Monday" in text["SAT"]
    assert "1,000" in text["SMALL"] and "BIG" in text["SMALL"]  # its value, what it displaces
    assert "dialect" in text["SKILL"]
    # every reason is one of the documented codes, of the documented kind
    assert {u.reason_code for u in plan.unassigned} <= explain.IMPOSSIBLE | explain.BY_CHOICE

    # computed, not guessed: FAR fits no eligible empty day, SMALL fits one
    visits = {v.visit_id: v for v in built.problem.visits}
    assert not _alone_feasible(built.problem, 0, visits["FAR"])  # arrives 09:50 > 09:20
    assert _alone_feasible(built.problem, 0, visits["SMALL"])
    # and the one-visit route for SMALL passes the independent verifier
    v = built.problem.vehicles[0]
    arrive = v.shift.start_s + built.problem.duration_s[v.start, visits["SMALL"].location]
    stop = Stop("SMALL", arrive, arrive, arrive + 1800, arrive - v.shift.start_s, 4000.0)
    route = Route("K1", (stop,), v.shift.start_s, arrive + 1800 + 480, 960, 8000.0)
    one = type(built.problem)(visits=(visits["SMALL"],), vehicles=(v,),
                              duration_s=built.problem.duration_s,
                              distance_m=built.problem.distance_m)
    assert check_solution(one, Solution(routes=(route,), dropped=())) == []


def test_cannot_fit_alone_with_a_break_uses_the_solver_proof():
    # Shift 11:00-13:00, a 60-min lunch starting in 11:00-12:00. A 70-min visit at the depot:
    # lunch first ends 12:00, the visit would end 13:10 > 13:00; visit first ends 12:10, after
    # the lunch's latest start 12:00 -> cannot_fit_alone (without the break it would fit).
    # A 50-min visit fits (lunch 11:00-12:00, visit 12:00-12:50).
    cs = [case("LONG", 0, service_min=70), case("OK", 0, service_min=50)]
    ks = [collector("K1", 0, shift="11:00-13:00")]
    pol = Policy(lunch_window=explain.TimeWindow(11 * 3600, 12 * 3600), lunch_s=3600)
    plan, _, _ = run(cs, ks, pol)
    assert visited(plan) == {"OK": "K1"}
    assert reasons(plan) == {"LONG": "cannot_fit_alone"}


def test_geocoding_and_network_reasons_on_real_data(cache_dir):
    from optimizer.io.inputs import parse_time_window
    from optimizer.model import Case, Collector, Place
    from optimizer.plan import plan_day
    from optimizer.routing.params import SolveSettings
    from optimizer.settings import PlanSettings

    cases = (
        Case("OK", 5000, 10, lat=30.6700, lon=104.0700),
        Case("NOWHERE", 5000, 10, address="Flat 3, 221B Baker Street, London"),
        Case("FARAWAY", 5000, 10, lat=30.20, lon=104.60),  # ~60 km away from the extract
    )
    home = Place(lat=30.6650, lon=104.0750)
    ks = (Collector("K1", home, home, parse_time_window("09:00-17:00")),)
    plan = plan_day(cases, ks, PlanSettings(
        plan_date=MONDAY, cache_dir=cache_dir,
        solver=SolveSettings(time_limit_s=2, max_solutions=50)))
    assert visited(plan) == {"OK": "K1"}
    assert reasons(plan) == {"NOWHERE": "no_coordinates", "FARAWAY": "off_network"}
    text = {u.case.case_id: u.reason for u in plan.unassigned}
    assert "Baker Street" in text["NOWHERE"] and "lat/lon" in text["NOWHERE"]
    assert "m from the nearest road" in text["FARAWAY"]


def test_one_visit_proof_takes_the_earliest_open_window_not_the_first_listed():
    # Depot at 0, the visit 100 s away, shift 0-1000 s, 60 s of service; its windows are listed
    # late one first: 5000-6000, then 200-300. On arrival (100 s) the earliest open window is
    # 200-300: start at 200, back at 200 + 60 + 100 = 360 <= 1000, so it fits the empty day.
    # Taking the first-listed window instead (as explain's own copy of the route simulation
    # did) starts at 5000, after the shift, and would have called it 'cannot_fit_alone'.
    from optimizer.model import Problem, TimeWindow, Vehicle, Visit
    from optimizer.routing.schedule import feasible_route

    d = np.array([[0.0, 100.0], [100.0, 0.0]])
    vis = Visit("V", 1, 10.0, 60, (TimeWindow(5000, 6000), TimeWindow(200, 300)))
    p = Problem((vis,), (Vehicle("K1", 0, 0, TimeWindow(0, 1000)),), d, d.copy())
    route = feasible_route(p, 0, [0])
    assert route is not None and route.stops[0].start_s == 200 and route.return_s == 360
    assert explain.fits_alone(p, 0, 0)
    # and a shift ending at 300 is too short for either window: proven without the solver
    short = Problem((vis,), (Vehicle("K1", 0, 0, TimeWindow(0, 300)),), d, d.copy())
    assert feasible_route(short, 0, [0]) is None and not explain.fits_alone(short, 0, 0)
