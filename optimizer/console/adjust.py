"""Edits of a planned day, re-scored at once on the day's own problem (no HTTP, no files).

An edit changes the sequence of visits of one or two routes (`move`: a case to another
route, or out of the plan), or what must hold (`must_visit`: the case becomes a required
visit and joins the route where it fits best). The edited routes are re-timed by the
product's one route simulator (`optimizer.routing.schedule.simulate_route`, each break on
the first leg where the route holds), and the whole solution is checked by the independent
re-simulation (`optimizer.routing.verify.check_solution`): every rule, every route. The
violations come back per case (`Rescored.violations`) and are never silently accepted: the
console shows them on the stops and refuses to publish until they are gone.

`reoptimise` searches again for every route not locked (the product's `optimizer.plan.search`
on the day's problem without the locked routes and their visits), then checks the whole day.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from optimizer.errors import InputError, Issue
from optimizer.model import Break, Case, Plan, Problem, Route, Solution, Unassigned
from optimizer.plan import assemble, search, summarize
from optimizer.planning.build import Built, Located
from optimizer.routing.schedule import simulate_route
from optimizer.routing.verify import check_solution
from optimizer.settings import PlanSettings

#: the reason of a case the dispatcher took out of the plan
MOVED_OUT = "moved_out"


@dataclass(frozen=True)
class Rescored:
    """An edited day: its solution, the plan made from it, the rules it breaks per case."""

    solution: Solution
    problem: Problem
    plan: Plan
    violations: Mapping[str, tuple[str, ...]]


def _problem(case_id: str, message: str, fix: str) -> InputError:
    return InputError([Issue("adjust", 0, f"case_id={case_id}", "case_id", case_id, message,
                             fix)])


def with_required(problem: Problem, must: Collection[str]) -> Problem:
    """`problem` with the visits of `must` required (a plan that drops one breaks a rule)."""
    return replace(problem, visits=tuple(replace(v, required=True) if v.visit_id in must else v
                                         for v in problem.visits))


def _passes(problem: Problem, route: Route) -> bool:
    routed = {s.visit_id for s in route.stops}
    others = tuple(v.visit_id for v in problem.visits if v.visit_id not in routed)
    return not check_solution(replace(problem, visits=tuple(
        replace(v, required=False) for v in problem.visits)), Solution((route,), others))


def retime(problem: Problem, k: int, seq: Sequence[int]) -> Route:
    """The schedule of visits `seq` (indices) for vehicle `k`, each break on the first leg
    where the route holds (else the first leg)."""
    veh = problem.vehicles[k]
    legs: list[tuple[int, Break]] = []
    start = float(veh.shift.start_s)
    for brk in sorted(veh.breaks, key=lambda b: (b.earliest_s, b.latest_s)):
        choices = range(-1, len(seq) + 2)
        best = None
        for leg in choices:
            cand = simulate_route(problem, k, seq, leave_s=start, breaks=[*legs, (leg, brk)])
            if _passes(problem, cand):
                best = leg
                break
        legs.append((best if best is not None else 0, brk))
    return simulate_route(problem, k, seq, leave_s=start, breaks=legs)


def _violations(problem: Problem, solution: Solution, built: Built) -> dict[str, tuple[str, ...]]:
    """The rule violations, by case id (a sentence naming no case goes to each stop of the
    route it names, else under ``""``)."""
    out: dict[str, list[str]] = {}
    ids = sorted(built.visit_case, key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(i) for i in ids)) if ids else None
    routes = {r.vehicle_id: [s.visit_id for s in r.stops] for r in solution.routes}
    for sentence in check_solution(problem, solution):
        named = set(pattern.findall(sentence)) if pattern else set()
        if not named:
            for vid, stops in routes.items():
                if vid in sentence:
                    named = set(stops[:1]) or {""}
                    break
        for cid in named or {""}:
            out.setdefault(cid, []).append(sentence)
    return {k: tuple(v) for k, v in out.items()}


def rescore(solution: Solution, *, problem: Problem, built: Built, loc: Located,
            settings: PlanSettings, cases: Sequence[Case], moved_out: Collection[str] = (),
            actor: str = "") -> Rescored:
    """The plan of an edited `solution`, with every rule checked (`Rescored`)."""
    built_now = replace(built, problem=problem)
    routes, unassigned = assemble(cases, loc, built_now, solution)
    out = set(moved_out)
    unassigned = tuple(
        Unassigned(u.case, MOVED_OUT, f"taken out of the plan in the console by {actor}",
                   u.value, u.lat, u.lon) if u.case.case_id in out else u for u in unassigned)
    summary = summarize(routes, unassigned, plan_date=settings.plan_date,
                        policy=settings.policy.name, weighting=settings.weighting.preset,
                        geocoded=loc.geocoded, solver=solution)
    plan = Plan(plan_date=settings.plan_date, routes=routes, unassigned=unassigned,
                summary=summary, geocoded=dict(loc.geocoded))
    return Rescored(solution, problem, plan, _violations(problem, solution, built_now))


def _seqs(problem: Problem, solution: Solution) -> list[list[int]]:
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    by_vehicle = {r.vehicle_id: r for r in solution.routes}
    return [[index[s.visit_id] for s in by_vehicle[v.vehicle_id].stops]
            if v.vehicle_id in by_vehicle else [] for v in problem.vehicles]


def _solution(problem: Problem, seqs: Sequence[Sequence[int]], old: Solution,
              changed: Collection[int]) -> Solution:
    by_vehicle = {r.vehicle_id: r for r in old.routes}
    routes = []
    for k, v in enumerate(problem.vehicles):
        if k in changed or v.vehicle_id not in by_vehicle:
            routes.append(retime(problem, k, seqs[k]))
        else:
            routes.append(by_vehicle[v.vehicle_id])
    visited = {problem.visits[i].visit_id for s in seqs for i in s}
    dropped = tuple(v.visit_id for v in problem.visits if v.visit_id not in visited)
    return Solution(tuple(routes), dropped, solver="console edit")


def _best_insertion(problem: Problem, k: int, seq: list[int], i: int) -> list[int]:
    """`seq` with visit `i` where the route holds and travels least (else at the end)."""
    best: tuple[bool, float, list[int]] | None = None
    for pos in range(len(seq) + 1):
        cand = seq[:pos] + [i] + seq[pos:]
        r = retime(problem, k, cand)
        key = (not _passes(problem, r), r.travel_s, cand)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None
    return best[2]


def move(problem: Problem, solution: Solution, case_id: str, to_route: str | None
         ) -> Solution:
    """`solution` with `case_id` on route `to_route` (at its best place), or out of the plan
    (`to_route` None)."""
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    check_visit(problem, case_id)
    vehicles = {v.vehicle_id: k for k, v in enumerate(problem.vehicles)}
    if to_route is not None and to_route not in vehicles:
        raise route_problem(to_route)
    i = index[case_id]
    seqs = _seqs(problem, solution)
    changed = {k for k, s in enumerate(seqs) if i in s}
    seqs = [[j for j in s if j != i] for s in seqs]
    if to_route is not None:
        k = vehicles[to_route]
        seqs[k] = _best_insertion(problem, k, seqs[k], i)
        changed.add(k)
    return _solution(problem, seqs, solution, changed)


def best_route(problem: Problem, solution: Solution, case_id: str,
               locked: Collection[str] = ()) -> str | None:
    """The route (not locked) that takes `case_id` holding every rule with the least extra
    travel; None if none can."""
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    i = index[case_id]
    seqs = _seqs(problem, solution)
    best: tuple[float, str] | None = None
    for k, v in enumerate(problem.vehicles):
        if v.vehicle_id in locked or i in seqs[k]:
            continue
        allowed = problem.visits[i].allowed_vehicles
        if allowed is not None and k not in allowed:
            continue
        before = retime(problem, k, seqs[k]).travel_s if seqs[k] else 0.0
        cand = _best_insertion(problem, k, seqs[k], i)
        r = retime(problem, k, cand)
        if _passes(problem, r) and (best is None or r.travel_s - before < best[0]):
            best = (r.travel_s - before, v.vehicle_id)
    return best[1] if best is not None else None


def reoptimise(problem: Problem, solution: Solution, settings: PlanSettings,
               locked: Collection[str]) -> Solution:
    """Search again for the routes not `locked`; the locked routes and their visits stay."""
    keep = {r.vehicle_id: r for r in solution.routes if r.vehicle_id in locked}
    taken = {s.visit_id for r in keep.values() for s in r.stops}
    free = [k for k, v in enumerate(problem.vehicles) if v.vehicle_id not in keep]
    new_index = {k: n for n, k in enumerate(free)}
    visits = []
    for v in problem.visits:
        if v.visit_id in taken:
            continue
        allowed = v.allowed_vehicles
        if allowed is not None:
            allowed = tuple(new_index[k] for k in allowed if k in new_index)
            if not allowed:
                if v.required:
                    raise _problem(v.visit_id, "must be visited, but only locked routes may "
                                   "visit it", "unlock a route that may visit it")
                continue
        visits.append(replace(v, allowed_vehicles=allowed, preferred_vehicles=tuple(
            new_index[k] for k in v.preferred_vehicles if k in new_index)))
    rest = replace(problem, visits=tuple(visits),
                   vehicles=tuple(problem.vehicles[k] for k in free))
    found = search(rest, settings.solver).solution
    by_vehicle = {**{r.vehicle_id: r for r in found.routes}, **keep}
    routes = tuple(by_vehicle.get(v.vehicle_id) or retime(problem, k, [])
                   for k, v in enumerate(problem.vehicles))
    visited = {s.visit_id for r in routes for s in r.stops}
    return Solution(routes, tuple(v.visit_id for v in problem.visits
                                  if v.visit_id not in visited),
                    objective=found.objective, solver=f"{found.solver} (locked: "
                    f"{', '.join(sorted(locked)) or 'none'})")


def check_visit(problem: Problem, case_id: str) -> None:
    """`InputError` unless `case_id` is a visit of the day's problem."""
    if case_id not in {v.visit_id for v in problem.visits}:
        raise _problem(case_id, "is not a visit of the day (not in the day's cases, or left "
                       "out before planning: see its reason in the list of cases not visited)",
                       "give a case id of the plan")


def route_problem(route: str) -> InputError:
    return InputError([Issue("adjust", 0, f"route={route}", "route", route,
                             "is not a route of the day", "choose one of the plan's routes")])


def locked_problem(case_id: str, route: str) -> InputError:
    return _problem(case_id, f"route {route} is locked", f"unlock route {route} first")


def action_problem(action: str) -> InputError:
    return InputError([Issue("adjust", 0, "", "action", action, "is not an edit",
                             "use move, lock, must or reoptimise")])
