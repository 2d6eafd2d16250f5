"""The options of a search (`SolveSettings`) and the names they accept.

Plain data, checked when built: the command line (``--solver-option KEY=VALUE``) and the what-if
scenario files build a `SolveSettings` to check what they were given before any work starts, so
every problem of a field is a `ConfigError` naming the field, the bad value and the values it
takes. Nothing here loads a solver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optimizer.errors import ConfigError

#: first-solution strategies of OR-Tools routing (``"auto"``: parallel cheapest insertion)
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
#: local-search metaheuristics of OR-Tools routing (``"auto"``: guided local search)
METAHEURISTICS = (
    "auto",
    "guided_local_search",
    "simulated_annealing",
    "tabu_search",
    "greedy_descent",
)
#: engines that build starting routes for OR-Tools (`optimizer.routing.warm`)
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
#: the default budget (``time_limit_s=None``): `BUDGET_BASE_S` plus `BUDGET_S_PER_PAIR` per
#: visit x vehicle pair, between `BUDGET_MIN_S` and `BUDGET_MAX_S`, seconds
BUDGET_BASE_S = 10.0
BUDGET_S_PER_PAIR = 0.002
BUDGET_MIN_S = 10.0
BUDGET_MAX_S = 300.0
#: default ``stall_share``: a search stops when it has not improved for this share of its time
STALL_SHARE = 0.5
#: a search never stops for a stall before it has gone this long without improving, seconds
STALL_MIN_S = 2.0
#: an improvement resets the stall clock only if it lowers the best cost by more than this share
STALL_MIN_GAIN = 1e-5


def default_budget_s(n_visits: int, n_vehicles: int) -> float:
    """The time budget of a problem with `n_visits` visits and `n_vehicles` vehicles, seconds.

    ``10 s + 2 ms x visits x vehicles``, kept between 10 s and 300 s: the demo day (500 cases)
    gets 17 s with the China preset's 7 teams and 25 s with 15 single collectors; 2,000 cases
    and 40 collectors 170 s; larger days 300 s. The search may stop before, when it stalls
    (``SolveSettings.stall_share``).
    """
    raw = BUDGET_BASE_S + BUDGET_S_PER_PAIR * max(0, n_visits) * max(0, n_vehicles)
    return float(min(BUDGET_MAX_S, max(BUDGET_MIN_S, raw)))


@dataclass(frozen=True, kw_only=True)
class SolveSettings:
    """Options of `optimizer.routing.solve.solve`.

    Parameters
    ----------
    time_limit_s
        Wall-clock budget of the search, seconds, positive and finite: a cap, the search may
        stop before (``stall_share``, ``max_solutions``). ``None`` (default): sized by the
        problem, `default_budget_s` (see `time_budget_s`).
    seed
        Seed of the search, >= 0; the same problem and seed give the same plan (see
        ``max_solutions``). Default 0.
    first_solution
        First-solution strategy, one of `FIRST_SOLUTIONS` (``"auto"``: parallel cheapest
        insertion).
    metaheuristic
        Local-search metaheuristic, one of `METAHEURISTICS` (``"auto"``: guided local search).
    time_ticks_per_s
        Integer time units per second inside OR-Tools, 1..`MAX_TICKS_PER_S`. Travel and service
        times are rounded up to whole ticks, windows inwards. Default 1 (whole seconds).
    value_scale
        Money units are multiplied by this and rounded to integers for OR-Tools; positive, at
        most `MAX_VALUE_SCALE`.
        Default 100 (cents).
    max_solutions
        Deterministic mode: stop after this many solutions accepted by the search (in addition to
        the time limit), >= 1. A search that starts from warm-start routes then improves them by
        greedy descent (which stops by itself) instead of the metaheuristic. ``None`` (default):
        time limit only (faster machine, better plan; not reproducible under load).
    log_search
        Let OR-Tools log its search to stderr. Default False.
    num_workers
        Searches run side by side, 1..`MAX_WORKERS` (a portfolio over the machine's cores;
        worker 0 in this process, the others through an executor). The best plan wins, ties go
        to the lowest worker number. Which warm start each worker uses: see ``warm_start``.
        Problems with fewer than `SMALL_PROBLEM` visits use one cold search. Default 2.
    warm_start
        Engine that builds starting routes for OR-Tools (`optimizer.routing.warm`), one of
        `WARM_STARTS`. ``"auto"`` (default): with one worker, VROOM; with more, PyVRP (when the
        problem fits it, e.g. no breaks) and VROOM, then a cold OR-Tools search, in turn, with the
        next seeds in later rounds. ``"pyvrp"``, ``"vroom"`` or ``"none"`` give every worker that
        engine (with the next seeds).
    warm_share
        Share of the time limit given to the warm-start engine (PyVRP; VROOM stops by itself),
        strictly between 0 and 1. Default 0.9.
    max_warm_iterations
        Deterministic mode for PyVRP: also stop it after this many iterations, >= 1. With
        ``max_solutions`` set too, and both limits reached before the time limit, the plan depends
        only on the problem and the seed. ``None`` (default): `DETERMINISTIC_WARM_ITERATIONS` when
        ``max_solutions`` is set, else the time limit only.
    stall_share
        Stop a search that has not improved its best plan for this share of the time it has
        run, and for at least `STALL_MIN_S` seconds: OR-Tools' local search (at each solution
        it accepts) and PyVRP's iterations each keep their own clock, so a search whose last
        improvement came at 6 s stops at 12 s with the default 0.5. Strictly between 0 and 1;
        ``None``: run to the time limit. Ignored in deterministic mode (``max_solutions`` set):
        a clock rule would make the plan depend on machine speed. Default `STALL_SHARE`.

    Raises
    ------
    ConfigError
        One message naming every field with a bad value, its value and what it takes.
    """

    time_limit_s: float | None = None
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
    stall_share: float | None = STALL_SHARE

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError("; ".join(problems))

    def time_budget_s(self, n_visits: int, n_vehicles: int) -> float:
        """The search's time limit for a problem of this size: ``time_limit_s`` when given,
        else `default_budget_s`, seconds."""
        if self.time_limit_s is not None:
            return float(self.time_limit_s)
        return default_budget_s(n_visits, n_vehicles)

    @property
    def stall(self) -> float | None:
        """The stall share in force: ``stall_share``, or None in deterministic mode."""
        return None if self.max_solutions is not None else self.stall_share


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


def _problems(s: SolveSettings) -> list[str]:
    """Every field of `s` with a bad value, as ``field=value must ...`` sentences."""
    out: list[str] = []
    for name, choices in (("first_solution", FIRST_SOLUTIONS), ("metaheuristic", METAHEURISTICS),
                          ("warm_start", WARM_STARTS)):
        value = getattr(s, name)
        if value not in choices:
            out.append(f"{name}={value!r} is unknown; use one of {choices}")
    if s.time_limit_s is not None and not (_is_number(s.time_limit_s) and s.time_limit_s > 0):
        out.append(f"time_limit_s={s.time_limit_s!r} must be a positive, finite number of "
                   "seconds, or None (sized by the problem)")
    if s.stall_share is not None and not (_is_number(s.stall_share)
                                          and 0.0 < s.stall_share < 1.0):
        out.append(f"stall_share={s.stall_share!r} must be between 0 and 1, or None (off)")
    if not (_is_number(s.value_scale) and 0 < s.value_scale <= MAX_VALUE_SCALE):
        # OR-Tools costs are 64-bit integers: value x scale must stay far below 2**63
        out.append(f"value_scale={s.value_scale!r} must be a positive, finite number at most "
                   f"{MAX_VALUE_SCALE:g}")
    if not (_is_number(s.warm_share) and 0.0 < s.warm_share < 1.0):
        out.append(f"warm_share={s.warm_share!r} must be between 0 and 1")
    for name, low, high in (("seed", 0, None), ("time_ticks_per_s", 1, MAX_TICKS_PER_S),
                            ("num_workers", 1, MAX_WORKERS)):
        value = getattr(s, name)
        if not (_is_int(value) and value >= low and (high is None or value <= high)):
            out.append(f"{name}={value!r} must be a whole number >= {low}"
                       + ("" if high is None else f" and <= {high}"))
    for name in ("max_solutions", "max_warm_iterations"):
        value = getattr(s, name)
        if value is not None and not (_is_int(value) and value >= 1):
            out.append(f"{name}={value!r} must be a whole number >= 1 or None")
    if not isinstance(s.log_search, bool):
        out.append(f"log_search={s.log_search!r} must be true or false")
    return out
