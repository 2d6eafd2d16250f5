"""Solve a `model.Problem` with OR-Tools routing; return a `model.Solution`.

Everything OR-Tools stays inside this module: callers hand in a `Problem` and get a `Solution`
whose times come from a plain forward simulation of the chosen visit sequences on the float
matrices (earliest start of service), so what is reported is exactly what `optimizer.verify`
re-checks.

Model
-----
- One node per visit plus a start node and an end node per vehicle (so every vehicle has its own
  start, end and shift). The matrices are registered as matrices (``RegisterTransitMatrix`` /
  ``RegisterUnaryTransitVector``): no Python callback runs per arc during the search.
- Time dimension, in integer *ticks* (``SolveSettings.time_ticks_per_s`` per second):
  ``transit[i][j] = service(i) + travel(i, j)``, both rounded *up*, so the integer schedule found
  by OR-Tools is never earlier than the float one and the float re-simulation stays feasible.
  Windows are rounded inwards. Several windows per visit: ``SetRange`` over their hull and
  ``RemoveInterval`` for the gaps. The start cumul of a vehicle lies in its shift, the end cumul is
  at most ``shift.end_s + overtime_s`` (soft bound at ``shift.end_s`` costing
  ``overtime_cost_per_s``). ``max_duration_s`` is a span upper bound (hard at
  ``max_duration_s + overtime_s``, soft at ``max_duration_s``).
- Breaks are OR-Tools break intervals on the time dimension (``SetBreakIntervalsOfVehicle``) with
  the service times as visit transits: a break never overlaps a service and is paid for by waiting
  (slack) between two services.
- ``max_visits`` and ``capacity`` are count dimensions.
- Every non-required visit is optional: a disjunction whose penalty is its value. Required visits
  get a penalty larger than any plan's cost (so the search always starts from a solution); a plan
  that still drops one raises `InfeasibleError`.
- ``allowed_vehicles`` restricts the vehicle variable (``-1`` = dropped, for optional visits).
- ``preferred_vehicles``: arc costs per vehicle. A vehicle that is not preferred by visit ``j``
  pays ``off_preference_cost(j)`` on every arc entering ``j``; vehicles with the same set of
  "off-preference" visits share one cost class. This is exact (a served visit has exactly one
  entering arc), unlike ``AddSoftSameVehicleConstraint`` which is about pairs of visits.
- Arc cost ``cost_per_s * travel_s + cost_per_m * distance_m`` (service time is not a cost),
  ``fixed_cost`` per used vehicle, ``balance_cost_per_s`` as global span cost of the time
  dimension. All money is multiplied by ``value_scale`` and rounded to integers.
- Unreachable pairs (``np.inf``) are removed from the ``NextVar`` domains and carry a transit larger
  than any horizon, so they can never be used.

Search
------
A portfolio of searches runs side by side (``SolveSettings.num_workers``, default 2: worker 0 in
this process, the others in fresh interpreters), each building the same OR-Tools model; the plan
with the lowest OR-Tools objective wins (ties: lowest worker). With ``warm_start="auto"`` one
worker starts from PyVRP's routes (when the problem fits PyVRP: no breaks) and one from VROOM's
(VROOM's routes then seed PyVRP when it fits); without PyVRP the second worker is a cold OR-Tools
search. The engines get 90 % of the time; their routes are loaded into the OR-Tools model
(``ReadAssignmentFromRoutes``), which repairs whatever it rejects by dropping the offending
stops, and guided local search improves them for the rest of the time. OR-Tools therefore checks
every plan against every constraint; the second engines only propose. Problems with fewer than
`SMALL_PROBLEM` visits get one cold OR-Tools search. ``initial=`` (a previous plan) is loaded
the same way into worker 0.

Determinism
-----------
OR-Tools' single-threaded search is deterministic for fixed parameters, but a pure time limit
stops it after however much work the machine managed: the same problem can give different plans
on a loaded machine. ``SolveSettings.max_solutions`` bounds the work instead (a limit on the number
of solutions the search accepts); PyVRP then stops after ``max_warm_iterations`` iterations, VROOM
runs without a timeout, and a search from warm-start routes uses greedy descent (which stops by
itself). As long as these limits are reached before the time limit, the plan depends only on the
problem and the seed (the demo day: about 20 s of a 60 s cap). The time limit stays as a
safety net. The seed permutes the order of the visit nodes (seed 0 keeps the input order) and
seeds PyVRP, which gives different, equally valid, plans.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import time
from dataclasses import dataclass

import numpy as np

from optimizer import model
from optimizer.errors import CollectorRoutesError, ConfigError
from optimizer.progress import Progress, ensure

log = logging.getLogger(__name__)

FIRST_SOLUTIONS = (
    "auto",
    "path_cheapest_arc",
    "parallel_cheapest_insertion",
    "local_cheapest_insertion",
    "sequential_cheapest_insertion",
    "global_cheapest_arc",
    "savings",
    "christofides",
    "best_insertion",
)
METAHEURISTICS = (
    "auto",
    "guided_local_search",
    "simulated_annealing",
    "tabu_search",
    "greedy_descent",
)


_STATUS = {
    0: "not_solved",
    1: "success",
    2: "partial_success",
    3: "fail",
    4: "fail_timeout",
    5: "invalid",
    6: "infeasible",
    7: "optimal",
}
WARM_STARTS = ("auto", "pyvrp", "vroom", "none")
#: below this many visits the search is a single cold OR-Tools run (fast enough, no overhead)
SMALL_PROBLEM = 12
#: limits of `SolveSettings` beyond which the integers inside OR-Tools overflow or the machine
#: drowns (a process per worker)
MAX_TICKS_PER_S = 1000
MAX_VALUE_SCALE = 1e6
MAX_WORKERS = 64
#: PyVRP iterations in deterministic mode (``max_solutions`` set, ``max_warm_iterations`` not)
DETERMINISTIC_WARM_ITERATIONS = 2000


class InfeasibleError(RuntimeError):
    """The solver found no plan that serves every required visit."""


class SearchTimeout(InfeasibleError, CollectorRoutesError):
    """The time limit ended the search before it found a first plan (a large day, a short
    limit); the message says how much more time to give."""

    exit_code = 2


@dataclass(frozen=True, kw_only=True)
class SolveSettings:
    """Options of `solve`.

    Parameters
    ----------
    time_limit_s
        Wall-clock budget of the search, seconds. Default 30.
    seed
        Seed of the search; the same problem and seed give the same plan (see ``max_solutions``).
    first_solution
        First-solution strategy, one of `FIRST_SOLUTIONS` (``"auto"``: parallel cheapest
        insertion).
    metaheuristic
        Local-search metaheuristic, one of `METAHEURISTICS` (``"auto"``: guided local search).
    time_ticks_per_s
        Integer time units per second inside OR-Tools. Travel and service times are rounded up
        to whole ticks, windows inwards. Default 1 (whole seconds).
    value_scale
        Money units are multiplied by this and rounded to integers for OR-Tools. Default 100
        (cents).
    max_solutions
        Deterministic mode: stop after this many solutions accepted by the search (in addition to
        the time limit). A search that starts from warm-start routes then improves them by
        greedy descent (which stops by itself) instead of the metaheuristic. ``None``: time limit
        only (faster machine, better plan; not reproducible under load).
    log_search
        Let OR-Tools log its search to stderr.
    num_workers
        Searches run side by side (a portfolio over the machine's cores; worker 0 in this
        process, the others in fresh interpreters). The best plan wins, ties go to the lowest
        worker number. Which warm start each worker uses: see ``warm_start``. Problems with fewer
        than `SMALL_PROBLEM` visits use one cold search. Default 2.
    warm_start
        Engine that builds starting routes for OR-Tools (`optimizer.warm`). ``"auto"``: with one
        worker, VROOM; with more, PyVRP (when the problem fits it, e.g. no breaks) and VROOM,
        then a cold OR-Tools search, in turn, with the next seeds in later rounds. ``"pyvrp"``,
        ``"vroom"`` or ``"none"`` give every worker that engine (with the next seeds).
    warm_share
        Share of the time limit given to the warm-start engine (PyVRP; VROOM stops by itself).
    max_warm_iterations
        Deterministic mode for PyVRP: also stop it after this many iterations. With
        ``max_solutions`` set too, and both limits reached before the time limit, the plan depends
        only on the problem and the seed.
    """

    time_limit_s: float = 30.0
    seed: int = 0
    first_solution: str = "auto"
    metaheuristic: str = "auto"
    time_ticks_per_s: int = 1
    value_scale: float = 100.0
    max_solutions: int | None = None
    log_search: bool = False
    num_workers: int = 2
    warm_start: str = "auto"
    warm_share: float = 0.9
    max_warm_iterations: int | None = None

    def __post_init__(self) -> None:
        # types first (values come from the command line and from YAML): a bool is no number
        # here, a number no bool; NaN and infinities are no values at all
        for name in ("time_limit_s", "value_scale", "warm_share"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"{name}={v!r} must be a finite number")
        for name in ("seed", "time_ticks_per_s", "num_workers", "max_solutions",
                     "max_warm_iterations"):
            v = getattr(self, name)
            if (v is not None or name in ("seed", "time_ticks_per_s", "num_workers")) and (
                    isinstance(v, bool) or not isinstance(v, numbers.Integral)):
                raise ValueError(f"{name}={v!r} must be a whole number")
        if not isinstance(self.log_search, bool):
            raise ValueError(f"log_search={self.log_search!r} must be true or false")
        if self.first_solution not in FIRST_SOLUTIONS:
            raise ValueError(
                f"first_solution={self.first_solution!r} is unknown; use one of {FIRST_SOLUTIONS}"
            )
        if self.metaheuristic not in METAHEURISTICS:
            raise ValueError(
                f"metaheuristic={self.metaheuristic!r} is unknown; use one of {METAHEURISTICS}"
            )
        if self.time_limit_s <= 0:
            raise ValueError(f"time_limit_s={self.time_limit_s} must be positive")
        if not 1 <= self.time_ticks_per_s <= MAX_TICKS_PER_S:
            raise ValueError(f"time_ticks_per_s={self.time_ticks_per_s} must be in "
                             f"1..{MAX_TICKS_PER_S}")
        if not 0 < self.value_scale <= MAX_VALUE_SCALE:
            # OR-Tools costs are 64-bit integers: value x scale must stay far below 2**63
            raise ValueError(f"value_scale={self.value_scale} must be above 0 and at most "
                             f"{MAX_VALUE_SCALE:g}")
        if self.max_warm_iterations is not None and self.max_warm_iterations < 1:
            raise ValueError(f"max_warm_iterations={self.max_warm_iterations} must be >= 1 "
                             "or None")
        if self.max_solutions is not None and self.max_solutions < 1:
            raise ValueError(f"max_solutions={self.max_solutions} must be >= 1 or None")
        if not 1 <= self.num_workers <= MAX_WORKERS:
            raise ValueError(f"num_workers={self.num_workers} must be in 1..{MAX_WORKERS}")
        if self.warm_start not in WARM_STARTS:
            raise ValueError(f"warm_start={self.warm_start!r} is unknown; use one of {WARM_STARTS}")
        if not 0.0 < self.warm_share < 1.0:
            raise ValueError(f"warm_share={self.warm_share} must be between 0 and 1")


def solve(
    problem: model.Problem,
    settings: SolveSettings | None = None,
    *,
    initial: model.Solution | None = None,
    progress: Progress | None = None,
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

    Returns
    -------
    model.Solution
        One route per vehicle (in ``problem.vehicles`` order, possibly empty) and the dropped
        visit ids. ``objective`` is the OR-Tools objective divided by ``value_scale``;
        ``solver`` names the winning worker (e.g. ``"ortools+pyvrp"``).

    Raises
    ------
    InfeasibleError
        A required visit could not be served.
    ConfigError
        A vehicle's break cannot be taken inside its shift.
    """
    settings = settings or SolveSettings()
    _check_breaks(problem, settings)
    t0 = time.monotonic()
    deadline = time.time() + settings.time_limit_s
    init_routes = _initial_routes(problem, initial) if initial is not None else None
    workers = _portfolio(problem, settings, has_initial=init_routes is not None)
    with ensure(progress).step(f"Solving routes ({len(workers)} search(es))", total=None):
        if len(workers) == 1:
            try:
                results = [_run_worker(problem, settings, workers[0], deadline, init_routes)]
            except SearchTimeout as exc:  # said with the whole time limit below
                results = [exc]
        else:
            results = _run_parallel(problem, settings, workers, deadline, init_routes)
    ok = [(r, i) for i, r in enumerate(results) if isinstance(r, model.Solution)]
    if not ok:
        err = next(r for r in results if isinstance(r, BaseException))
        if isinstance(err, SearchTimeout):
            n, v = len(problem.visits), len(problem.vehicles)
            raise SearchTimeout(
                f"the solver found no plan within the time limit of {settings.time_limit_s:g} s "
                f"({n} visits, {v} routes: building a first plan takes longer; {err}); fix: "
                f"give it more time (--time-limit {max(60, math.ceil(settings.time_limit_s * 4))}"
                ", or time_limit in a what-if file), or plan fewer cases at once") from None
        raise err
    # lowest objective wins; ties (at the model's integer resolution) go to the lower worker
    best, _ = min(ok, key=lambda t: (round(t[0].objective * settings.value_scale), t[1]))
    for r, i in ok:
        log.info("worker %d (%s): objective %.4f", i, r.solver, r.objective)
    best = dataclasses.replace(best, wall_s=time.monotonic() - t0)
    _self_check(problem, best)
    return best


@dataclass(frozen=True)
class _Worker:
    warm: str  # "pyvrp", "vroom", "none", "initial"
    seed: int
    first_solution: str


def _portfolio(problem: model.Problem, settings: SolveSettings, *, has_initial: bool):
    """The searches to run side by side.

    ``warm_start="auto"`` cycles through VROOM (fast, models breaks and several windows; best on
    the product's problems), PyVRP (when the problem fits it; best on the benchmarks) and a cold
    OR-Tools search; later rounds of the cycle use the next seeds.
    """
    from optimizer import warm as warm_mod

    if len(problem.visits) < SMALL_PROBLEM:
        return [
            _Worker("initial" if has_initial else "none", settings.seed, settings.first_solution)
        ]
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
        workers.append(_Worker(engine, settings.seed + w // len(engines), settings.first_solution))
    return workers


def _run_parallel(problem, settings, workers, deadline, init_routes):
    """Worker 0 here, the others in fresh interpreters (never a fork of a threaded process,
    never a re-import of the caller's ``__main__``)."""
    import os
    import pickle
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from optimizer.children import pdeathsig_safe

    env = dict(os.environ)
    pkg_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = pkg_root + os.pathsep + env.get("PYTHONPATH", "")
    # the workers die with this process (optimizer.children): its pid, and whether the kernel's
    # parent-death signal is safe from this thread
    parent = [str(os.getpid()), "1" if pdeathsig_safe() else "0"]
    procs = []
    with tempfile.TemporaryDirectory(prefix="collector-routes-") as tmp:
        try:
            for i, w in enumerate(workers[1:], start=1):
                job = Path(tmp) / f"job{i}.pkl"
                out = Path(tmp) / f"out{i}.pkl"
                job.write_bytes(pickle.dumps((problem, settings, w, deadline, init_routes)))
                cmd = [sys.executable, "-c",
                       "from optimizer.solve import _worker_main; _worker_main()"]
                p = subprocess.Popen([*cmd, str(job), str(out), *parent], env=env,
                                     stderr=subprocess.PIPE)
                procs.append((p, out))
            results: list = []
            try:
                results.append(_run_worker(problem, settings, workers[0], deadline, init_routes))
            except Exception as exc:  # noqa: BLE001 - reported if every worker fails
                log.warning("search worker 0 failed: %s", exc)
                results.append(exc)
            for i, (p, out) in enumerate(procs, start=1):
                try:
                    _, err = p.communicate(timeout=max(5.0, deadline - time.time() + 30.0))
                except subprocess.TimeoutExpired:
                    p.kill()
                    _, err = p.communicate()
                if p.returncode == 0 and out.exists():
                    results.append(pickle.loads(out.read_bytes()))
                else:
                    tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:]
                    log.warning("search worker %d failed (exit %s): %s", i, p.returncode, tail)
                    results.append(RuntimeError(f"worker {i} failed: {tail}"))
        finally:
            for p, _ in procs:  # interrupted (Ctrl-C) or failed: no worker outlives the call
                if p.poll() is None:
                    p.kill()
                    p.wait()
    return results


def _worker_main() -> None:
    """Entry point of a portfolio worker process: job pickle in, result pickle out."""
    import pickle
    import signal
    import sys

    from optimizer.children import die_with_parent

    job, out = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 4:
        die_with_parent(int(sys.argv[3]), kernel_signal=sys.argv[4] == "1")
    # Ctrl-C is the parent's to handle: it stops this worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(job, "rb") as fh:
        problem, settings, worker, deadline, init_routes = pickle.load(fh)
    try:
        result = _run_worker(problem, settings, worker, deadline, init_routes)
    except Exception as exc:  # noqa: BLE001 - sent back to the parent
        result = exc
    with open(out, "wb") as fh:
        pickle.dump(result, fh)


def _run_worker(problem, settings, worker: _Worker, deadline: float, init_routes):
    """One search: optional warm start, then OR-Tools. Returns a Solution or raises."""
    t0 = time.monotonic()
    s = dataclasses.replace(settings, seed=worker.seed, first_solution=worker.first_solution)
    built = _Built(problem, s)
    candidates: list[list[list[int]]] = []  # starting route sets; the best one is used
    label = "ortools"
    remaining = max(0.1, deadline - time.time())
    if worker.warm == "initial":
        candidates, label = [init_routes], "ortools+initial"
    elif worker.warm in ("pyvrp", "vroom"):
        from optimizer import warm as warm_mod

        try:
            det = settings.max_solutions is not None
            iters = settings.max_warm_iterations
            if iters is None and det:
                iters = DETERMINISTIC_WARM_ITERATIONS
            if worker.warm == "pyvrp":
                er = warm_mod.solve_pyvrp(
                    problem,
                    time_limit_s=remaining * settings.warm_share,
                    seed=worker.seed,
                    time_ticks_per_s=settings.time_ticks_per_s,
                    value_scale=settings.value_scale,
                    max_iterations=iters,
                )
            else:
                vroom_budget = remaining * settings.warm_share / 2
                er = warm_mod.solve_vroom(
                    problem,
                    time_ticks_per_s=settings.time_ticks_per_s,
                    value_scale=settings.value_scale,
                    # level 3 first: on the demo day as good as 5 in a third of the time
                    exploration_level=3,
                    # deterministic mode: VROOM stops by itself, cut by the clock only when it
                    # would overrun the whole time limit (a huge day: it stays a cap)
                    time_limit_s=remaining if det else vroom_budget,
                )
                candidates.append([list(r) for r in er.routes])
                if not det and er.wall_s < 0.1 * vroom_budget:
                    # it was quick (small day): level 5 is affordable and sometimes better
                    er5 = warm_mod.solve_vroom(
                        problem,
                        time_ticks_per_s=settings.time_ticks_per_s,
                        value_scale=settings.value_scale,
                        exploration_level=5,
                        time_limit_s=vroom_budget - er.wall_s,
                    )
                    candidates.append([list(r) for r in er5.routes])
                    if _route_value(problem, er5.routes) >= _route_value(problem, er.routes):
                        er = warm_mod.EngineRoutes("vroom", er5.routes, er.wall_s + er5.wall_s)
                if warm_mod.pyvrp_misfit(problem) is None:
                    # VROOM's routes seed PyVRP for the rest of the warm-start budget
                    left = deadline - time.time() - remaining * (1.0 - settings.warm_share)
                    if det or left > 0.5:
                        er2 = warm_mod.solve_pyvrp(
                            problem,
                            time_limit_s=max(left, 0.5),
                            seed=worker.seed,
                            time_ticks_per_s=settings.time_ticks_per_s,
                            value_scale=settings.value_scale,
                            max_iterations=iters,
                            initial_routes=[list(r) for r in er.routes],
                        )
                        er = warm_mod.EngineRoutes(
                            "vroom+pyvrp", er2.routes, er.wall_s + er2.wall_s
                        )
            final = [list(r) for r in er.routes]
            if final not in candidates:
                candidates.append(final)
            label = f"ortools+{er.engine}"
            log.info("%s built starting routes in %.1f s", er.engine, er.wall_s)
        except Exception as exc:  # noqa: BLE001 - the warm start is an optimisation only
            log.warning("warm start with %s failed (%s); searching cold", worker.warm, exc)
    remaining = max(0.1, deadline - time.time())
    s = dataclasses.replace(s, time_limit_s=remaining)
    if candidates and settings.max_solutions is not None:
        # deterministic mode: from a warm start OR-Tools sits at a local optimum where each new
        # accepted solution of a metaheuristic can take seconds on a large day, so a solution
        # limit would in practice be cut by the clock; a greedy descent stops by itself
        s = dataclasses.replace(s, metaheuristic="greedy_descent")
    assignment = built.search(s, initial_routes=candidates or None)
    sol = built.extract(assignment, wall_s=time.monotonic() - t0)
    return dataclasses.replace(sol, solver=label)


def _route_value(problem: model.Problem, routes) -> float:
    """Value visited by `routes` (visit indices per vehicle), for choosing a seed."""
    return sum(problem.visits[i].value for r in routes for i in r)


def _initial_routes(problem: model.Problem, initial: model.Solution) -> list[list[int]]:
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    by_vehicle = {r.vehicle_id: r for r in initial.routes}
    out = []
    for veh in problem.vehicles:
        r = by_vehicle.get(veh.vehicle_id)
        out.append([index[s.visit_id] for s in r.stops if s.visit_id in index] if r else [])
    return out


def _self_check(problem: model.Problem, solution: model.Solution) -> None:
    # the float re-simulation should always agree with OR-Tools' integer model; if it does not,
    # that is a bug here, reported loudly rather than hidden
    from optimizer.verify import check_solution

    errors = check_solution(problem, solution)
    if errors:
        log.error("plan fails re-simulation (%d problems), first: %s", len(errors), errors[:3])


# --------------------------------------------------------------------------- internals


def _ceil_ticks(x: np.ndarray | float, tps: int) -> np.ndarray:
    # tolerate float noise: 10.0000000001 s is 10 ticks, not 11
    return np.ceil(np.asarray(x, dtype=float) * tps - 1e-6).astype(np.int64)


def _floor_ticks(x: float, tps: int) -> int:
    return int(math.floor(x * tps + 1e-6))


def _break_ticks(veh: model.Vehicle, b_i: int, brk: model.Break, tps: int
                 ) -> tuple[int, int, int]:
    """Earliest and latest start and the duration of a break, in ticks, inside the shift.

    Raises `ConfigError` when the break cannot be taken inside the shift (plus overtime): the
    rules give a crew only the breaks its shift can hold (`rules.crew_breaks`), so this is a
    problem built by hand or by another caller.
    """
    dur_t = int(math.ceil(brk.duration_s * tps - 1e-6))
    lo = max(
        int(math.ceil(brk.earliest_s * tps - 1e-6)),
        int(math.ceil(veh.shift.start_s * tps - 1e-6)),
    )
    hi = min(
        _floor_ticks(brk.latest_s, tps),
        _floor_ticks(veh.shift.end_s + veh.overtime_s, tps) - dur_t,
    )
    if hi < lo:
        raise ConfigError(
            f"vehicle {veh.vehicle_id}: break {b_i + 1} "
            f"({model.hhmm(brk.earliest_s)}-{model.hhmm(brk.latest_s)}, "
            f"{brk.duration_s} s) cannot be taken inside the shift "
            f"{veh.shift.label()}; move the break window into the shift or give this "
            "vehicle no break"
        )
    return lo, hi, dur_t


def _check_breaks(problem: model.Problem, settings: SolveSettings) -> None:
    """Every break of every vehicle fits its shift (before any search starts)."""
    for veh in problem.vehicles:
        for b_i, brk in enumerate(veh.breaks):
            _break_ticks(veh, b_i, brk, settings.time_ticks_per_s)


class _Built:
    """The OR-Tools model of one problem: nodes, dimensions, costs."""

    def __init__(self, problem: model.Problem, settings: SolveSettings) -> None:
        from ortools.constraint_solver import pywrapcp

        self.problem = problem
        self.settings = settings
        tps = settings.time_ticks_per_s
        scale = settings.value_scale
        visits = problem.visits
        vehicles = problem.vehicles
        n_vis = len(visits)
        n_veh = len(vehicles)
        if n_veh == 0:
            raise ValueError("the problem has no vehicles; add at least one collector")
        _check_problem(problem)

        # visit order inside OR-Tools: seeded permutation (seed 0 = input order)
        if settings.seed:
            self.perm = np.random.default_rng(settings.seed).permutation(n_vis)
        else:
            self.perm = np.arange(n_vis)
        n_nodes = n_vis + 2 * n_veh
        node_loc = np.empty(n_nodes, dtype=np.int64)
        node_loc[:n_vis] = [visits[i].location for i in self.perm]
        node_loc[n_vis::2] = [v.start for v in vehicles]
        node_loc[n_vis + 1 :: 2] = [v.end for v in vehicles]
        self.n_vis, self.n_veh, self.n_nodes = n_vis, n_veh, n_nodes
        self.node_loc = node_loc

        dur = np.asarray(problem.duration_s, dtype=float)[np.ix_(node_loc, node_loc)]
        dist = np.asarray(problem.distance_m, dtype=float)[np.ix_(node_loc, node_loc)]
        inf = ~np.isfinite(dur) | ~np.isfinite(dist)
        np.fill_diagonal(inf, False)
        # a vehicle's own start -> end arc is its empty route: always allowed
        for k in range(n_veh):
            s, e = n_vis + 2 * k, n_vis + 2 * k + 1
            if inf[s, e]:
                log.warning(
                    "vehicle %s cannot reach its end from its start; it can only stay unused",
                    vehicles[k].vehicle_id,
                )
            inf[s, e] = False
        dur_f = np.where(np.isfinite(dur), dur, 0.0)
        dist_f = np.where(np.isfinite(dist), dist, 0.0)

        horizon_s = max(v.shift.end_s + v.overtime_s for v in vehicles)
        horizon = _floor_ticks(horizon_s, tps)
        big = 4 * horizon + 1_000_000
        service = np.zeros(n_nodes, dtype=np.int64)
        service[:n_vis] = _ceil_ticks([visits[i].service_s for i in self.perm], tps)
        travel = _ceil_ticks(dur_f, tps)
        transit = service[:, None] + travel
        transit[inf] = big
        np.fill_diagonal(transit, 0)
        self.service_ticks = service

        manager = pywrapcp.RoutingIndexManager(
            n_nodes,
            n_veh,
            [n_vis + 2 * k for k in range(n_veh)],
            [n_vis + 2 * k + 1 for k in range(n_veh)],
        )
        routing = pywrapcp.RoutingModel(manager)
        self.manager, self.routing = manager, routing

        # ---- arc costs (per vehicle class when preferences exist)
        arc = np.rint((problem.cost_per_s * dur_f + problem.cost_per_m * dist_f) * scale)
        arc = arc.astype(np.int64)
        big_cost = 10**12
        arc[inf] = big_cost
        np.fill_diagonal(arc, 0)
        off_pref: dict[int, np.ndarray] = {}
        for node in range(n_vis):
            vis = visits[self.perm[node]]
            if vis.preferred_vehicles and vis.off_preference_cost > 0:
                pen = int(round(vis.off_preference_cost * scale))
                for k in range(n_veh):
                    if k not in vis.preferred_vehicles:
                        off_pref.setdefault(k, np.zeros(n_nodes, dtype=np.int64))[node] += pen
        if off_pref:
            classes: dict[bytes, int] = {}
            for k in range(n_veh):
                extra = off_pref.get(k)
                key = b"" if extra is None else extra.tobytes()
                if key not in classes:
                    m = arc if extra is None else arc + extra[None, :]
                    classes[key] = routing.RegisterTransitMatrix(m.tolist())
                routing.SetArcCostEvaluatorOfVehicle(classes[key], k)
        else:
            routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitMatrix(arc.tolist()))
        if problem.fixed_cost:
            routing.SetFixedCostOfAllVehicles(int(round(problem.fixed_cost * scale)))

        # ---- time
        time_cb = routing.RegisterTransitMatrix(transit.tolist())
        routing.AddDimension(time_cb, horizon, horizon, False, "time")
        tdim = routing.GetDimensionOrDie("time")
        self.tdim = tdim
        for k, veh in enumerate(vehicles):
            lo = int(math.ceil(veh.shift.start_s * tps - 1e-6))
            hi_hard = _floor_ticks(veh.shift.end_s + veh.overtime_s, tps)
            tdim.CumulVar(routing.Start(k)).SetRange(lo, hi_hard)
            tdim.CumulVar(routing.End(k)).SetRange(lo, hi_hard)
            if veh.overtime_s > 0 and veh.overtime_cost_per_s > 0:
                coef = max(1, int(round(veh.overtime_cost_per_s * scale / tps)))
                tdim.SetCumulVarSoftUpperBound(
                    routing.End(k), _floor_ticks(veh.shift.end_s, tps), coef
                )
            if veh.max_duration_s is not None:
                tdim.SetSpanUpperBoundForVehicle(
                    _floor_ticks(veh.max_duration_s + veh.overtime_s, tps), k
                )
                if veh.overtime_s > 0 and veh.overtime_cost_per_s > 0:
                    coef = max(1, int(round(veh.overtime_cost_per_s * scale / tps)))
                    bc = pywrapcp.BoundCost(_floor_ticks(veh.max_duration_s, tps), coef)
                    tdim.SetSoftSpanUpperBoundForVehicle(bc, k)
        if problem.balance_cost_per_s > 0:
            tdim.SetGlobalSpanCostCoefficient(
                max(1, int(round(problem.balance_cost_per_s * scale / tps)))
            )

        # ---- visits: windows, disjunctions, allowed vehicles
        values = [max(0.0, visits[i].value) for i in self.perm]
        big_penalty = int(round((sum(values) + 1.0) * scale)) + int(arc[~inf].sum()) + 10**9
        big_penalty = min(big_penalty, 2**52)
        self.dropped_ok = True
        for node in range(n_vis):
            vis = visits[self.perm[node]]
            index = manager.NodeToIndex(node)
            wins = []
            for w in vis.windows:
                a = int(math.ceil(w.start_s * tps - 1e-6))
                b = _floor_ticks(w.end_s, tps)
                a, b = max(a, 0), min(b, horizon)
                if a <= b:
                    wins.append((a, b))
            cumul = tdim.CumulVar(index)
            if vis.windows and not wins:
                # no window fits the horizon: the visit cannot be made
                routing.ActiveVar(index).SetValue(0) if not vis.required else None
            elif wins:
                wins.sort()
                merged = [list(wins[0])]
                for a, b in wins[1:]:
                    if a <= merged[-1][1] + 1:
                        merged[-1][1] = max(merged[-1][1], b)
                    else:
                        merged.append([a, b])
                cumul.SetRange(merged[0][0], merged[-1][1])
                for (_, b0), (a1, _) in zip(merged, merged[1:], strict=False):
                    cumul.RemoveInterval(b0 + 1, a1 - 1)
            penalty = big_penalty if vis.required else int(round(values[node] * scale))
            routing.AddDisjunction([index], penalty)
            if vis.allowed_vehicles is not None:
                allowed = sorted({int(k) for k in vis.allowed_vehicles if 0 <= k < n_veh})
                routing.VehicleVar(index).SetValues(allowed if vis.required else [-1] + allowed)

        # ---- forbidden (unreachable) arcs
        for i in range(n_nodes):
            bad = np.flatnonzero(inf[i])
            if bad.size == 0 or (i >= n_vis and (i - n_vis) % 2 == 1):
                continue
            idx_i = manager.NodeToIndex(i) if i < n_vis else routing.Start((i - n_vis) // 2)
            targets = []
            for j in bad:
                if j < n_vis:
                    targets.append(manager.NodeToIndex(int(j)))
                elif (j - n_vis) % 2 == 1:
                    targets.append(routing.End(int(j - n_vis) // 2))
            if targets:
                routing.NextVar(idx_i).RemoveValues(targets)

        # ---- max visits, capacity
        if any(v.max_visits is not None for v in vehicles):
            ones = [1] * n_vis + [0] * (2 * n_veh)
            cb = routing.RegisterUnaryTransitVector(ones)
            caps = [n_vis if v.max_visits is None else int(v.max_visits) for v in vehicles]
            routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "visits")
        if any(v.capacity is not None for v in vehicles) or any(v.demand for v in visits):
            demand = [int(visits[i].demand) for i in self.perm] + [0] * (2 * n_veh)
            cb = routing.RegisterUnaryTransitVector(demand)
            cap_max = max(sum(max(d, 0) for d in demand), 1)
            caps = [cap_max if v.capacity is None else int(v.capacity) for v in vehicles]
            routing.AddDimensionWithVehicleCapacity(cb, 0, caps, True, "load")

        # ---- breaks
        self.break_vars: list[list] = [[] for _ in vehicles]
        if any(v.breaks for v in vehicles):
            solver = routing.solver()
            visit_transit = [0] * routing.Size()
            for index in range(routing.Size()):
                visit_transit[index] = int(service[manager.IndexToNode(index)])
            for k, veh in enumerate(vehicles):
                ivs = []
                for b_i, brk in enumerate(veh.breaks):
                    lo, hi, dur_t = _break_ticks(veh, b_i, brk, tps)
                    iv = solver.FixedDurationIntervalVar(lo, hi, dur_t, False, f"break_{k}_{b_i}")
                    ivs.append(iv)
                if ivs:
                    tdim.SetBreakIntervalsOfVehicle(ivs, k, visit_transit)
                    for iv in ivs:
                        routing.AddIntervalToAssignment(iv)
                self.break_vars[k] = ivs

    # ------------------------------------------------------------------ search

    def params(self, settings: SolveSettings):
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2

        p = pywrapcp.DefaultRoutingSearchParameters()
        fs = settings.first_solution
        if fs == "auto":
            fs = "parallel_cheapest_insertion"
        p.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, fs.upper())
        mh = settings.metaheuristic
        if mh == "auto":
            mh = "guided_local_search"
        p.local_search_metaheuristic = getattr(
            routing_enums_pb2.LocalSearchMetaheuristic, mh.upper()
        )
        p.time_limit.FromMilliseconds(int(settings.time_limit_s * 1000))
        if settings.max_solutions is not None:
            p.solution_limit = int(settings.max_solutions)
        p.log_search = settings.log_search
        return p

    def search(self, settings: SolveSettings, initial_routes: list | None = None):
        """Run OR-Tools, from the best of `initial_routes` when given.

        `initial_routes` is a list of candidate route sets (visit indices per vehicle); each is
        loaded into the model and the one with the lowest objective starts the search.
        """
        params = self.params(settings)
        routing = self.routing
        assignment = None
        if initial_routes:
            routing.CloseModelWithParameters(params)
            init = None
            for cand in initial_routes:
                a = self.load_routes(cand)
                if a is not None and (init is None or a.ObjectiveValue() < init.ObjectiveValue()):
                    init = a
            if init is None:
                log.warning("initial routes were rejected by the model; solving from scratch")
            else:
                assignment = routing.SolveFromAssignmentWithParameters(init, params)
                if assignment is None:
                    # seen on a 3,000-visit day: the search from accepted starting routes
                    # fails (status 3), and a cold search in the time left places nothing;
                    # the starting routes are a plan the model accepts: keep them
                    log.warning("the search from the starting routes failed (status %s); "
                                "keeping the starting routes", routing.status())
                    return init
        if assignment is None:
            assignment = routing.SolveWithParameters(params)
        if assignment is None and _STATUS.get(routing.status()) == "fail_timeout":
            raise SearchTimeout(f"OR-Tools found no first plan in the {settings.time_limit_s:.1f}"
                                " s left of the time limit")
        if (assignment is not None and self.n_vis and self.n_veh
                and _STATUS.get(routing.status()) == "partial_success"
                and all(routing.IsEnd(assignment.Value(routing.NextVar(routing.Start(v))))
                        for v in range(self.n_veh))
                and self._one_visit_is_better(assignment.ObjectiveValue())):
            # the clock stopped the search at a first solution that drops every visit, though
            # a plan of one visit is better: an empty plan explained as "the plan kept visits
            # worth more" would be false
            raise SearchTimeout(f"the {settings.time_limit_s:.1f} s left of the time limit ended "
                                "the search before it placed a visit")
        if assignment is None:
            raise InfeasibleError(
                f"OR-Tools found no plan (status {routing.status()}); check that every required "
                "visit fits some vehicle's shift, capacity and windows"
            )
        return assignment

    def _one_visit_is_better(self, empty_objective: int, *, max_checks: int = 50) -> bool:
        """Whether a plan of one visit (the most valuable ones first) beats the empty plan."""
        routing, manager = self.routing, self.manager
        inv = np.empty(self.n_vis, dtype=np.int64)
        inv[self.perm] = np.arange(self.n_vis)
        order = sorted(range(self.n_vis), key=lambda i: -self.problem.visits[i].value)
        checks = 0
        for i in order:
            for k in range(self.n_veh):
                if checks >= max_checks:
                    return False
                checks += 1
                routes = [[manager.NodeToIndex(int(inv[i]))] if j == k else []
                          for j in range(self.n_veh)]
                a = routing.ReadAssignmentFromRoutes(routes, True)
                if a is not None and a.ObjectiveValue() < empty_objective:
                    return True
        return False

    def load_routes(self, routes: list[list[int]]):
        """An assignment for `routes`; routes the model rejects are repaired until it accepts them.

        Routes are independent in the model, so each rejected route is repaired alone: drop the
        single stop (least valuable first) whose removal makes it acceptable; if there is none,
        drop the least valuable stop and try again. The repaired routes together are then a
        feasible assignment.
        """
        routing, manager = self.routing, self.manager
        inv = np.empty(self.n_vis, dtype=np.int64)
        inv[self.perm] = np.arange(self.n_vis)
        idx = [[manager.NodeToIndex(int(inv[i])) for i in r] for r in routes]
        idx += [[] for _ in range(self.n_veh - len(idx))]
        init = routing.ReadAssignmentFromRoutes(idx, True)
        if init is not None:
            return init
        visits = self.problem.visits

        def value(index: int) -> float:
            return visits[int(self.perm[manager.IndexToNode(index)])].value

        def accepted(k: int, r: list[int]) -> bool:
            alone = [r if j == k else [] for j in range(self.n_veh)]
            return routing.ReadAssignmentFromRoutes(alone, True) is not None

        kept = []
        cut = 0
        for k, r in enumerate(idx):
            r = list(r)
            while r and not accepted(k, r):
                order = sorted(range(len(r)), key=lambda j: value(r[j]))
                for j in order:
                    if accepted(k, r[:j] + r[j + 1 :]):
                        r = r[:j] + r[j + 1 :]
                        break
                else:
                    r = r[: order[0]] + r[order[0] + 1 :]
                cut += 1
            kept.append(r)
        log.info("starting routes: %d stops cut to satisfy the model", cut)
        return routing.ReadAssignmentFromRoutes(kept, True)

    # ------------------------------------------------------------------ results

    def sequences(self, assignment) -> list[list[int]]:
        """Visit indices (into ``problem.visits``) per vehicle, in visiting order."""
        routing, manager = self.routing, self.manager
        out = []
        for k in range(self.n_veh):
            seq = []
            index = assignment.Value(routing.NextVar(routing.Start(k)))
            while not routing.IsEnd(index):
                seq.append(int(self.perm[manager.IndexToNode(index)]))
                index = assignment.Value(routing.NextVar(index))
            out.append(seq)
        return out

    def break_legs(self, assignment, k: int) -> list[tuple[int, model.Break]]:
        """On which leg of vehicle `k`'s route OR-Tools placed each break."""
        routing, tdim = self.routing, self.tdim
        if not self.break_vars[k]:
            return []
        # (cumul at the node, end of its service) along the route, start to end
        marks = []
        index = routing.Start(k)
        while True:
            c = assignment.Value(tdim.CumulVar(index))
            node = self.manager.IndexToNode(index)
            marks.append((c, c + int(self.service_ticks[node])))
            if routing.IsEnd(index):
                break
            index = assignment.Value(routing.NextVar(index))
        n_stops = len(marks) - 2
        out = []
        for b, iv in enumerate(self.break_vars[k]):
            s = assignment.StartValue(iv)
            e = s + assignment.DurationValue(iv)
            if e <= marks[0][0]:
                leg = -1
            elif s >= marks[-1][0]:
                leg = n_stops + 1
            else:
                leg = 0
                while leg <= n_stops and s >= marks[leg + 1][1]:
                    leg += 1
            out.append((leg, self.problem.vehicles[k].breaks[b]))
        return out

    def extract(self, assignment, *, wall_s: float) -> model.Solution:
        problem = self.problem
        tps = self.settings.time_ticks_per_s
        routing = self.routing
        seqs = self.sequences(assignment)
        routes = []
        for k, seq in enumerate(seqs):
            leave_t = assignment.Value(self.tdim.CumulVar(routing.Start(k))) / tps
            legs = self.break_legs(assignment, k) if seq else []
            routes.append(simulate_route(problem, k, seq, leave_s=leave_t, breaks=legs))
        visited = {s.visit_id for r in routes for s in r.stops}
        required_dropped = [
            v.visit_id for v in problem.visits if v.required and v.visit_id not in visited
        ]
        if required_dropped:
            raise InfeasibleError(
                f"{len(required_dropped)} required visit(s) could not be served, e.g. "
                f"{required_dropped[:5]}; give more vehicles or time"
            )
        dropped = tuple(v.visit_id for v in problem.visits if v.visit_id not in visited)
        return model.Solution(
            routes=tuple(routes),
            dropped=dropped,
            objective=assignment.ObjectiveValue() / self.settings.value_scale,
            solver="ortools",
            wall_s=wall_s,
            status=_STATUS.get(routing.status(), str(routing.status())),
        )


def _check_problem(problem: model.Problem) -> None:
    n_loc = np.asarray(problem.duration_s).shape[0]
    errors = []
    ids = [v.visit_id for v in problem.visits]
    if len(set(ids)) != len(ids):
        errors.append("visit ids are not unique")
    for v in problem.visits:
        if not 0 <= v.location < n_loc:
            errors.append(f"visit {v.visit_id}: location {v.location} outside the matrix")
    for veh in problem.vehicles:
        for loc in (veh.start, veh.end):
            if not 0 <= loc < n_loc:
                errors.append(f"vehicle {veh.vehicle_id}: location {loc} outside the matrix")
    if np.asarray(problem.distance_m).shape != np.asarray(problem.duration_s).shape:
        errors.append("duration_s and distance_m have different shapes")
    if errors:
        raise ValueError("invalid problem: " + "; ".join(errors))


def simulate_route(
    problem: model.Problem,
    vehicle: int,
    seq: list[int],
    *,
    leave_s: float,
    breaks: list[tuple[int, model.Break]] = (),
) -> model.Route:
    """Forward-simulate one route with earliest starts of service.

    Parameters
    ----------
    problem
        The problem.
    vehicle
        Index of the vehicle in ``problem.vehicles``.
    seq
        Indices into ``problem.visits`` in visiting order.
    leave_s
        Earliest departure from the start place (the shift start, or the solver's start time).
    breaks
        ``(leg, Break)`` pairs: the leg on which the break is taken, ``-1`` before leaving,
        ``p`` on the way to stop ``p`` (or while waiting there), ``len(seq)`` on the way back,
        ``len(seq) + 1`` after returning. The break starts as early as its window and the route
        allow.

    Returns
    -------
    model.Route
        Times of every stop; the departure is moved later when that only removes waiting at the
        first stop.
    """
    veh = problem.vehicles[vehicle]
    dur = problem.duration_s
    dist = problem.distance_m
    visits = problem.visits
    if not seq:
        return model.Route(
            veh.vehicle_id, (), float(veh.shift.start_s), float(veh.shift.start_s), 0.0, 0.0, ()
        )
    locs = [veh.start] + [visits[i].location for i in seq] + [veh.end]
    legs: dict[int, list[model.Break]] = {}
    for leg, brk in breaks:
        legs.setdefault(leg, []).append(brk)
    taken: list[tuple[float, float]] = []
    t = leave_s
    for brk in legs.get(-1, []):
        b = float(max(brk.earliest_s, veh.shift.start_s))
        taken.append((b, b + brk.duration_s))
        t = max(t, b + brk.duration_s)
    leave = t
    stops = []
    total_s = total_m = 0.0
    first_leg_has_break = bool(legs.get(0))
    for p in range(len(seq) + 1):
        a, b_loc = locs[p], locs[p + 1]
        travel = float(dur[a, b_loc])
        t, arrive = _travel_with_breaks(t, travel, legs.get(p, []), taken)
        total_s += travel
        total_m += float(dist[a, b_loc])
        if p == len(seq):
            ret = arrive
            break
        vis = visits[seq[p]]
        start = _earliest_start(vis.windows, t)
        depart = start + vis.service_s
        stops.append([vis.visit_id, arrive, start, depart, travel, float(dist[a, b_loc])])
        t = depart
    for brk in legs.get(len(seq) + 1, []):
        b = max(float(brk.earliest_s), t)
        taken.append((b, b + brk.duration_s))
        t = b + brk.duration_s
    # leave later instead of waiting at the first stop
    if stops and not first_leg_has_break and not legs.get(-1):
        wait = stops[0][2] - stops[0][1]
        if wait > 0:
            leave += wait
            stops[0][1] += wait
    return model.Route(
        vehicle_id=veh.vehicle_id,
        stops=tuple(model.Stop(*s) for s in stops),
        leave_s=leave,
        return_s=ret,
        travel_s=total_s,
        travel_m=total_m,
        breaks=tuple(sorted(taken)),
    )


def _earliest_start(windows: tuple[model.TimeWindow, ...], t: float) -> float:
    if not windows:
        return t
    best = math.inf
    for w in windows:
        if w.end_s >= t - 1e-9:
            best = min(best, max(t, float(w.start_s)))
    # no window left: report the arrival itself (verify flags it)
    return t if best == math.inf else best


def _travel_with_breaks(
    t: float, travel: float, brks: list[model.Break], taken: list[tuple[float, float]]
) -> tuple[float, float]:
    """Travel `travel` seconds from time `t`, taking `brks` on the way or while waiting.

    Returns (time ready to start service, arrival time).
    """
    remaining = travel
    arrive = None
    for brk in sorted(brks, key=lambda b: b.earliest_s):
        b = max(t, float(brk.earliest_s))
        if arrive is None and b < t + remaining:
            remaining -= b - t  # travelled until the break
        elif arrive is None:
            arrive = t + remaining
            remaining = 0.0
        taken.append((b, b + brk.duration_s))
        t = b + brk.duration_s
    if arrive is None:
        arrive = t + remaining
        t = arrive
    return t, arrive
