"""Searches side by side: which ones (`portfolio`) and how they run (`run`).

A portfolio of searches runs side by side (``SolveSettings.num_workers``, default 2: worker 0 in
this process, the others through an `optimizer.executor.Executor`, by default
`optimizer.executor.LocalProcesses`), each searching the same OR-Tools model
(`optimizer.routing.ortools_model`). With ``warm_start="auto"`` one worker starts from PyVRP's
routes (when the problem fits PyVRP: no breaks) and one from VROOM's (VROOM's routes then seed
PyVRP when it fits); without PyVRP the second worker is a cold OR-Tools search. The engines get
``warm_share`` (90 %) of the time; their routes are loaded into the OR-Tools model, which repairs
whatever it rejects by dropping the offending stops, and guided local search improves them for
the rest of the time. OR-Tools therefore checks every plan against every constraint; the second
engines only propose. Problems with fewer than `SMALL_PROBLEM` visits get one cold OR-Tools
search. A previous plan (``initial``) is loaded the same way into worker 0.

A problem with travel by time of day is searched through static stand-ins
(`optimizer.routing.timedep`): the warm-start engines and the first OR-Tools search see round 0's
stand-in, later rounds refine it, and every plan's times are the time-dependent ones.

A worker is a plain function of plain data (`_Job`), so an executor may run it in another
interpreter or on another machine.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from optimizer import model
from optimizer.executor import Executor, LocalProcesses
from optimizer.routing import ortools_model, timedep
from optimizer.routing import warm as warm_mod
from optimizer.routing.ortools_model import Routes
from optimizer.routing.params import DETERMINISTIC_WARM_ITERATIONS, SMALL_PROBLEM, SolveSettings

log = logging.getLogger(__name__)

#: a search still running this long after the deadline is stuck: it is stopped, seconds
STUCK_AFTER_S = 30.0


@dataclass(frozen=True)
class Worker:
    """One search of the portfolio: its starting routes, seed and first-solution strategy.

    ``warm`` is ``"pyvrp"``, ``"vroom"``, ``"none"`` (a cold OR-Tools search) or ``"initial"``
    (the routes of a previous plan).
    """

    warm: str
    seed: int
    first_solution: str


@dataclass(frozen=True)
class _Job:
    """What a worker needs, as plain (picklable) data."""

    problem: model.Problem
    settings: SolveSettings
    worker: Worker
    deadline: float  # time.time() by which the search ends
    initial: tuple[tuple[int, ...], ...] | None  # routes of a previous plan, for "initial"


def portfolio(problem: model.Problem, settings: SolveSettings, *, has_initial: bool
              ) -> list[Worker]:
    """The searches to run side by side, worker 0 first.

    ``warm_start="auto"`` cycles through VROOM (fast, models breaks and several windows; best on
    the product's problems), PyVRP (when the problem fits it; best on the benchmarks) and a cold
    OR-Tools search; later rounds of the cycle use the next seeds. With `has_initial`, worker 0
    starts from the previous plan.
    """
    if len(problem.visits) < SMALL_PROBLEM:
        engine = "initial" if has_initial else "none"
        return [Worker(engine, settings.seed, settings.first_solution)]
    misfit = warm_mod.pyvrp_misfit(problem)
    if settings.warm_start == "auto":
        engines = ["vroom"] + (["pyvrp"] if misfit is None else []) + ["none"]
    elif settings.warm_start == "pyvrp" and misfit is not None:
        log.info("warm start with PyVRP not possible (%s); using VROOM", misfit)
        engines = ["vroom"]
    else:
        engines = [settings.warm_start]
    if settings.num_workers > 1 and engines[:2] == ["vroom", "pyvrp"]:
        # PyVRP's search gains most from time: it runs in this process, spared the start-up
        # of a fresh interpreter
        engines[:2] = ["pyvrp", "vroom"]
    workers = []
    for w in range(settings.num_workers):
        engine = engines[w % len(engines)]
        if w == 0 and has_initial:
            engine = "initial"
        workers.append(Worker(engine, settings.seed + w // len(engines), settings.first_solution))
    return workers


def initial_routes(problem: model.Problem, initial: model.Solution
                   ) -> tuple[tuple[int, ...], ...]:
    """The routes of a previous plan as visit indices per vehicle of `problem` (visits and
    vehicles it does not know are left out)."""
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    by_vehicle = {r.vehicle_id: r for r in initial.routes}
    out = []
    for veh in problem.vehicles:
        r = by_vehicle.get(veh.vehicle_id)
        out.append(tuple(index[s.visit_id] for s in r.stops if s.visit_id in index) if r else ())
    return tuple(out)


def run(problem: model.Problem, settings: SolveSettings, workers: Sequence[Worker], *,
        deadline: float, initial: tuple[tuple[int, ...], ...] | None,
        executor: Executor | None = None) -> list[model.Solution | Exception]:
    """Run `workers`: worker 0 here, the others through `executor` meanwhile.

    Parameters
    ----------
    executor
        Runs workers 1, 2, ... (``None``: `LocalProcesses`, one fresh interpreter each, stopped
        when this returns). An executor handed in is used as it is and stays open.

    Returns
    -------
    list
        Per worker, in order, its `model.Solution` or the exception it ended with.
    """
    jobs = [_Job(problem, settings, w, deadline, initial) for w in workers]
    if len(jobs) == 1:
        return [run_job(jobs[0])]
    if executor is None:
        with LocalProcesses(len(jobs) - 1) as local:  # its workers die with this process
            return _side_by_side(jobs, local)
    return _side_by_side(jobs, executor)


def _side_by_side(jobs: Sequence[_Job], executor: Executor) -> list[model.Solution | Exception]:
    pending = executor.map(run_job, jobs[1:],
                           timeout_s=max(5.0, jobs[0].deadline - time.time() + STUCK_AFTER_S))
    results: list[model.Solution | Exception] = []
    try:
        results.append(run_job(jobs[0]))
    except Exception as exc:  # noqa: BLE001 - reported if every worker fails
        log.warning("search worker 0 failed: %s", exc)
        results.append(exc)
    for i, result in enumerate(pending, start=1):
        if isinstance(result, Exception):
            log.warning("search worker %d failed: %s", i, result)
        results.append(result)
    return results


def run_job(job: _Job) -> model.Solution:
    """One search: its starting routes (a warm start or a previous plan), then OR-Tools.

    A module-level function of plain data: an executor runs it in a worker process. Returns
    the solution, labelled with what it started from (e.g. ``"ortools+pyvrp"``), or raises.
    """
    t0 = time.monotonic()
    settings, worker = job.settings, job.worker
    s = dataclasses.replace(settings, seed=worker.seed, first_solution=worker.first_solution)
    # by time of day: the engines and the first search see a static stand-in
    timed = job.problem.traffic is not None
    planning = timedep.stand_in(job.problem) if timed else job.problem
    starts: list[Routes] = []  # starting route sets; the best one is used
    label = "ortools"
    if worker.warm == "initial" and job.initial is not None:
        starts, label = [job.initial], "ortools+initial"
    elif worker.warm in ("pyvrp", "vroom"):
        try:
            engine = _warm_starts(dataclasses.replace(job, problem=planning),
                                  remaining_s=max(0.1, job.deadline - time.time()),
                                  starts=starts)
            label = f"ortools+{engine}"
        except Exception as exc:  # noqa: BLE001 - the warm start is an optimisation only
            log.warning("warm start with %s failed (%s); searching cold", worker.warm, exc)
    if starts and settings.max_solutions is not None:
        # deterministic mode: from a warm start OR-Tools sits at a local optimum where each new
        # accepted solution of a metaheuristic can take seconds on a large day, so a solution
        # limit would in practice be cut by the clock; a greedy descent stops by itself
        s = dataclasses.replace(s, metaheuristic="greedy_descent")
    if timed:
        sol = timedep.search(job.problem, s, planning=planning, starts=starts,
                             deadline=job.deadline)
    else:
        sol = ortools_model.search(job.problem, s, starts=starts, deadline=job.deadline)
    return dataclasses.replace(sol, solver=label, wall_s=time.monotonic() - t0)


def _warm_starts(job: _Job, *, remaining_s: float, starts: list[Routes]) -> str:
    """Append the starting route sets of the worker's engine to `starts` (the engine's final
    answer last) and return the names of the engines that made it (e.g. ``"vroom+pyvrp"``).

    Should an engine fail, what the others found is already in `starts`.
    """
    problem, settings, worker = job.problem, job.settings, job.worker
    iters = settings.max_warm_iterations
    if iters is None and settings.max_solutions is not None:
        iters = DETERMINISTIC_WARM_ITERATIONS
    if worker.warm == "pyvrp":
        er = warm_mod.solve_pyvrp(problem, time_limit_s=remaining_s * settings.warm_share,
                                  seed=worker.seed, time_ticks_per_s=settings.time_ticks_per_s,
                                  value_scale=settings.value_scale, max_iterations=iters,
                                  stall_share=settings.stall)
    else:
        er = _vroom_start(job, remaining_s=remaining_s, starts=starts)
        if warm_mod.pyvrp_misfit(problem) is None:
            # VROOM's routes seed PyVRP for the rest of the warm-start budget
            left = job.deadline - time.time() - remaining_s * (1.0 - settings.warm_share)
            if settings.max_solutions is not None or left > 0.5:
                er2 = warm_mod.solve_pyvrp(
                    problem, time_limit_s=max(left, 0.5), seed=worker.seed,
                    time_ticks_per_s=settings.time_ticks_per_s, value_scale=settings.value_scale,
                    max_iterations=iters, initial_routes=er.routes,
                    stall_share=settings.stall)
                er = warm_mod.EngineRoutes("vroom+pyvrp", er2.routes, er.wall_s + er2.wall_s)
    if _as_lists(er.routes) not in [_as_lists(r) for r in starts]:
        starts.append(er.routes)
    log.info("%s built starting routes in %.1f s", er.engine, er.wall_s)
    return er.engine


def _vroom_start(job: _Job, *, remaining_s: float, starts: list[Routes]) -> warm_mod.EngineRoutes:
    """VROOM's routes at exploration level 3 (and 5 when 3 was quick); each answer is appended
    to `starts`, the better one returned."""
    problem, settings = job.problem, job.settings
    det = settings.max_solutions is not None
    budget_s = remaining_s * settings.warm_share / 2
    er = warm_mod.solve_vroom(
        problem, time_ticks_per_s=settings.time_ticks_per_s, value_scale=settings.value_scale,
        # level 3 first: on the demo day as good as 5 in a third of the time
        exploration_level=3,
        # deterministic mode: VROOM stops by itself, cut by the clock only when it would
        # overrun the whole time limit (a huge day: it stays a cap)
        time_limit_s=remaining_s if det else budget_s)
    starts.append(er.routes)
    if not det and er.wall_s < 0.1 * budget_s:
        # it was quick (small day): level 5 is affordable and sometimes better
        er5 = warm_mod.solve_vroom(
            problem, time_ticks_per_s=settings.time_ticks_per_s, value_scale=settings.value_scale,
            exploration_level=5, time_limit_s=budget_s - er.wall_s)
        starts.append(er5.routes)
        if _route_value(problem, er5.routes) >= _route_value(problem, er.routes):
            er = warm_mod.EngineRoutes("vroom", er5.routes, er.wall_s + er5.wall_s)
    return er


def _as_lists(routes: Routes) -> list[list[int]]:
    return [list(r) for r in routes]


def _route_value(problem: model.Problem, routes: Routes) -> float:
    """Value visited by `routes` (visit indices per vehicle), for choosing a start."""
    return sum(problem.visits[i].value for r in routes for i in r)
