"""Solve a `model.Problem`; return a `model.Solution`. The entry of the routing stage.

`solve` checks the problem, runs the portfolio of searches (`optimizer.routing.portfolio`) on the
OR-Tools model (`optimizer.routing.ortools_model`), keeps the best plan and re-checks it with the
independent re-simulation (`optimizer.routing.verify`). It touches no file and prints nothing.
Its settings are `SolveSettings` (`optimizer.routing.params`); both it and `InfeasibleError` can
be imported from here too.

Determinism
-----------
OR-Tools' single-threaded search is deterministic for fixed parameters, but a pure time limit stops
it after however much work the machine managed: the same problem can give different plans on a
loaded machine. ``SolveSettings.max_solutions`` bounds the work instead (a limit on the number of
solutions the search accepts); PyVRP then stops after ``max_warm_iterations`` iterations, VROOM
runs without a timeout of its own (only the whole time limit caps it), and a search from warm-start
routes uses greedy descent (which stops by itself). As long as these limits are reached before the
time limit, the plan depends only on the problem and the seed (the demo day: about 20 s of a 60 s
cap). The time limit stays as a safety net. The seed permutes the order of the visit nodes (seed 0
keeps the input order) and seeds PyVRP, which gives different, equally valid, plans.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time

from optimizer import model
from optimizer.errors import InfeasibleError, SearchTimeout
from optimizer.executor import Executor
from optimizer.progress import Progress, ensure
from optimizer.routing import ortools_model, portfolio
from optimizer.routing.params import SolveSettings
from optimizer.routing.verify import check_solution

__all__ = ["InfeasibleError", "SolveSettings", "solve"]

log = logging.getLogger(__name__)


def solve(
    problem: model.Problem,
    settings: SolveSettings | None = None,
    *,
    initial: model.Solution | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
) -> model.Solution:
    """Plan routes for `problem`.

    Parameters
    ----------
    problem
        Visits, vehicles and travel matrices.
    settings
        Search options; defaults to ``SolveSettings()``.
    initial
        A previous plan to start from (e.g. this morning's plan when re-planning). Its routes
        are loaded into the model, cut where they break a constraint, and improved; the other
        workers of the portfolio still search on their own.
    progress
        Progress reporter (``None``: silent).
    executor
        Runs the portfolio's workers beyond the first (`optimizer.executor.Executor`, e.g. a
        distributed one); ``None`` (default): fresh local processes, stopped when the search
        ends. Worker 0 always runs in this process.

    Returns
    -------
    model.Solution
        One route per vehicle (in ``problem.vehicles`` order, possibly empty) and the dropped
        visit ids. ``objective`` is the OR-Tools objective divided by ``value_scale``;
        ``solver`` names the winning worker (e.g. ``"ortools+pyvrp"``); ``wall_s`` is the
        time of the whole call, seconds.

    Raises
    ------
    InfeasibleError
        A required visit could not be served.
    SearchTimeout
        The time limit ended every search before it found a first plan (the message says how
        much more time to give).
    ConfigError
        A vehicle's break cannot be taken inside its shift.
    ProblemError
        The problem is malformed (no vehicle, a location outside the matrices, ...).
    KeyboardInterrupt
        Ctrl-C: the search in this process stops within a moment (OR-Tools and PyVRP; VROOM
        when it returns, after a few seconds at most on a day), the other workers are stopped.
    """
    settings = settings or SolveSettings()
    ortools_model.check_problem(problem)
    ortools_model.check_breaks(problem, settings)
    t0 = time.monotonic()
    budget_s = settings.time_budget_s(len(problem.visits), len(problem.vehicles))
    deadline = time.time() + budget_s
    init = portfolio.initial_routes(problem, initial) if initial is not None else None
    workers = portfolio.portfolio(problem, settings, has_initial=init is not None)
    with ensure(progress).step(f"Solving routes ({len(workers)} search(es))", total=None):
        try:
            results = portfolio.run(problem, settings, workers, deadline=deadline,
                                    initial=init, executor=executor)
        except SearchTimeout as exc:  # one worker: said with the whole time limit below
            results = [exc]
    ok = [(r, i) for i, r in enumerate(results) if isinstance(r, model.Solution)]
    if not ok:
        err = next(r for r in results if isinstance(r, Exception))
        if isinstance(err, SearchTimeout):
            raise SearchTimeout(
                f"the solver found no plan within the time limit of {budget_s:g} s "
                f"({len(problem.visits)} visits, {len(problem.vehicles)} routes: building a "
                f"first plan takes longer; {err}); fix: give it more time (--time-limit "
                f"{max(60, math.ceil(budget_s * 4))}, or time_limit in a what-if "
                "file), or plan fewer cases at once") from None
        raise err
    # lowest objective wins; ties (at the model's integer resolution) go to the lower worker
    best, _ = min(ok, key=lambda t: (round(t[0].objective * settings.value_scale), t[1]))
    for r, i in ok:
        log.info("worker %d (%s): objective %.4f", i, r.solver, r.objective)
    best = dataclasses.replace(best, wall_s=time.monotonic() - t0, budget_s=budget_s)
    # the float re-simulation should always agree with OR-Tools' integer model; if it does not,
    # that is a bug in the model, reported loudly rather than hidden
    errors = check_solution(problem, best)
    if errors:
        log.error("plan fails re-simulation (%d problems), first: %s", len(errors), errors[:3])
    return best
