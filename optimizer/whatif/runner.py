"""What-if runs: plan every variant of a scenario side by side, and write the comparison.

Each variant (`optimizer.whatif.scenario`) gets its inputs and team edits
(`optimizer.whatif.edits`), is planned by the daily pipeline (`optimizer.plan.solve_day`) in a
process of its own (`optimizer.executor`; or on a Dask cluster, `optimizer.cluster`), comes back
to be re-checked and written like a daily plan (``<out>/<variant>/``), and is measured
(`optimizer.whatif.kpis`); the comparison goes to ``report.html``, ``kpis.csv`` and
``kpis.json``.

Sound comparisons:

- every variant is planned from the same inputs and seed; with ``max_solutions`` (and
  ``max_warm_iterations`` or ``solver: {warm_start: none}``) the numbers do not depend on machine
  load;
- a variant that only adds capacity (collectors, longer shifts, more visits, longer working time)
  keeps the base's teams (new collectors form their own) and starts from the base plan: the
  pipeline's `optimizer.plan.Initial`, a search from the base routes beside the one from
  scratch, and a guard that keeps the base routes (re-checked in the variant's problem) if the
  searches found less; ``kpis`` says which (``started_from``, ``routes_from``);
- a variant with a bad value is reported (file, variant, key, value, fix) and marked failed; the
  other variants still run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from optimizer import executor
from optimizer import plan as pl
from optimizer.cluster import ExecutorSettings, make_executor
from optimizer.errors import CollectorRoutesError, InputError, Issue
from optimizer.geo import geocode as gc
from optimizer.geo import network as nw
from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS, read_inputs
from optimizer.model import Case, Collector, Solution
from optimizer.outputs.write import OutputError, write_plan
from optimizer.progress import Advance, Progress, no_advance
from optimizer.routing import verify
from optimizer.settings import PlanSettings
from optimizer.whatif import report
from optimizer.whatif.edits import capacity_check, edit_collectors, keep_base_crews
from optimizer.whatif.kpis import (
    Solved,
    VariantRow,
    WhatIfResult,
    compare_to_base,
    plan_kpis,
    write_kpis,
)
from optimizer.whatif.scenario import BASE, Scenario, load_scenario

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One variant ready to plan: its inputs, settings, and how it relates to the base."""

    name: str
    cases: tuple[Case, ...]
    collectors: tuple[Collector, ...]
    settings: PlanSettings
    out_dir: Path
    collectors_file: str
    capacity_only: bool
    why_not_capacity: str
    start_from_base: bool  # a search from the base plan beside its own
    guard: bool  # keep the base routes if its plan is worth less
    initial: Solution | None = None  # the base plan, once it is known
    base_value: float | None = None  # unrounded value visited by the base plan


@dataclass(frozen=True)
class Outcome:
    """What one variant produced: its row, and its solution (for warm starts)."""

    name: str
    row: VariantRow
    solution: Solution | None = None
    value: float | None = None  # unrounded value visited


class _QueueProgress:
    """Progress reporter of a worker: forwards step names to the parent (`executor.emit`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        _post(self.name, description)
        yield no_advance  # a worker reports steps, not how far they are


def _post(name: str, message: str) -> None:
    executor.emit((name, message))  # to the parent's ``on_event``; nothing when run here


class _CallerProgress:
    """Progress reporter of a variant's writing in the caller: its steps to ``emit``."""

    def __init__(self, name: str, emit: Callable[[str, str], None]) -> None:
        self.name = name
        self.emit = emit

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        self.emit(self.name, description)
        yield no_advance


def _guard_text(guard: pl.Guard | None) -> str:
    if guard is None:
        return ""
    if not guard.kept:
        return f"base routes infeasible in this variant: {guard.problem}"
    return (f"the searches' best plan was worth {guard.found_value:,.2f}, less than the base "
            f"{guard.initial_value:,.2f}; the base routes were re-verified and kept")


def plan_variant(job: Job) -> pl.Planned:
    """Plan one variant through the daily pipeline (runs in a worker; writes nothing).

    A variant that waited for the base also searches from the base plan
    (``start_from_base``) and keeps the base routes if it finds less (``guard``).
    """
    initial = None
    if job.initial is not None and (job.start_from_base or job.guard):
        initial = pl.Initial(job.initial, label="base plan",
                             search="also" if job.start_from_base else "none",
                             guard_value=job.base_value if job.guard else None)
    return pl.solve_day(job.cases, job.collectors, job.settings,
                        collectors_file=job.collectors_file, initial=initial,
                        progress=_QueueProgress(job.name))


def finish_variant(job: Job, day: pl.Planned, *, progress: Progress | None = None) -> Outcome:
    """Check, write and measure a variant's plan (in the caller, whichever worker planned it).

    The routes that came back are re-simulated in the variant's problem
    (`optimizer.routing.verify`) before anything is written; a plan that fails raises
    `CollectorRoutesError`.
    """
    plan, found = day.plan, day.search
    problems = verify.check_solution(day.built.problem, found.solution)
    if problems:
        raise CollectorRoutesError(f"variant {job.name}: the plan that came back fails the "
                                   f"re-simulation: {'; '.join(problems[:3])}")
    if found.guard is not None and not found.guard.kept:
        log.warning("variant %s: value %.2f below the base %.2f and %s", job.name,
                    found.guard.found_value, found.guard.initial_value, _guard_text(found.guard))
    out = job.settings.output
    write_plan(plan, job.out_dir, tiles=out.tiles, self_contained=out.self_contained,
               maps=out.maps, progress=progress)
    summary = plan.summary
    if summary is None:  # never: the pipeline's plans carry their summary
        raise CollectorRoutesError(f"variant {job.name}: the plan has no summary")
    solved = Solved(
        capacity_only=job.capacity_only, not_capacity_only=job.why_not_capacity,
        searches=found.searches, started_from=found.started_from,
        routes_from=found.routes_from, guard=_guard_text(found.guard),
        solver=found.solution.solver, search_stop=found.search_stop,
        objective=(round(found.solution.objective, 2) if found.routes_from == "solver"
                   else None),
        wall_s=summary.wall_s, plan_dir=job.out_dir.name)
    row = VariantRow(job.name, "ok", plan_date=summary.plan_date.isoformat(),
                     policy=summary.policy, weighting=summary.weighting, kpis=plan_kpis(plan),
                     solved=solved)
    return Outcome(job.name, row, found.solution, sum(r.value for r in plan.routes))


def run_variant(job: Job) -> Outcome:
    """Plan, check, write and measure one variant here (`plan_variant`, `finish_variant`)."""
    return finish_variant(job, plan_variant(job))


def _failed(job: Job, exc: Exception) -> Outcome:
    """A variant's failure as its row: its own message for a project error, else the bug's."""
    if isinstance(exc, CollectorRoutesError):  # the variant's input or settings: its message
        return Outcome(job.name, VariantRow.failed(job.name, str(exc)))
    return Outcome(job.name, VariantRow.failed(job.name, f"{type(exc).__name__}: {exc}"))


def _plan_variant_safe(job: Job) -> pl.Planned | Outcome:
    """`plan_variant` in a worker: every failure becomes a failed row."""
    _post(job.name, "Starting")
    try:
        return plan_variant(job)
    except CollectorRoutesError as exc:
        res = _failed(job, exc)
    except Exception as exc:  # noqa: BLE001 - one variant's bug must not stop the others
        log.exception("variant %s failed", job.name)
        res = _failed(job, exc)
    _post(job.name, "failed")
    return res


def prepare_jobs(scenario: Scenario, out: Path) -> tuple[list[Job], list[VariantRow]]:
    """Every variant's inputs and team; variants with problems become failed rows."""
    file = scenario.path.name
    jobs: list[Job] = []
    failed: list[VariantRow] = []
    inputs: dict[tuple[Path, Path], tuple[tuple[Case, ...], tuple[Collector, ...]]] = {}
    base_v = scenario.variant(BASE)
    base_settings = base_v.settings
    if base_settings is None:  # never: `load_scenario` raises for a base with problems
        raise InputError(base_v.issues)
    base_collectors: tuple[Collector, ...] = ()
    for v in scenario.variants:
        if v.issues or v.settings is None:
            failed.append(VariantRow.failed(v.name, _issues_text(v.issues)))
            continue
        settings = v.settings
        cpath, kpath = v.cases or DEMO_CASES, v.collectors or DEMO_COLLECTORS
        try:
            key = (cpath.resolve(), kpath.resolve())
            if key not in inputs:
                inputs[key] = read_inputs(cpath, kpath)
            cases, collectors = inputs[key]
            if v.name == BASE:
                base_collectors = collectors
            collectors = edit_collectors(collectors, v.team, file=file, where=f"variant {v.name}")
        except InputError as exc:
            if v.name == BASE:
                raise
            failed.append(VariantRow.failed(v.name, str(exc)))
            continue
        why = "the base" if v.name == BASE else _why_not_capacity(
            base_collectors, collectors, base_settings, settings, v.overrides)
        cap = not why
        if cap:
            collectors = keep_base_crews(base_collectors, collectors, settings)
        mode = v.start_from_base
        jobs.append(Job(
            name=v.name, cases=cases, collectors=collectors, settings=settings,
            out_dir=out / v.name, collectors_file=kpath.name, capacity_only=cap,
            why_not_capacity=why,
            start_from_base=v.name != BASE and (mode == "always" or (mode == "auto" and cap)),
            guard=cap and mode != "never"))
    return jobs, failed


def _why_not_capacity(base: Sequence[Collector], variant: Sequence[Collector],
                      base_settings: PlanSettings, settings: PlanSettings,
                      overrides: Sequence[str]) -> str:
    """Why the variant is not planned as a capacity increase over the base ('' if it is)."""
    why = capacity_check(base, variant, base_settings, settings, overrides)
    k = settings.policy.min_team_size
    new = len({c.collector_id for c in variant} - {c.collector_id for c in base})
    if not why and k > 1 and 0 < new < k:
        # too few to form a team of their own: they join existing teams, which changes them
        why = f"{new} new collector(s) cannot form a team of {k} and join existing teams"
    return why


def _issues_text(issues: Sequence[Issue]) -> str:
    n = len(issues)
    return f"{n} problem{'s' if n != 1 else ''}:\n" + "\n".join(f"  - {i}" for i in issues)


def _prewarm(jobs: Sequence[Job]) -> None:
    """Build the network and geocoding caches once, before the variants share them."""
    seen_net: set[tuple[object, ...]] = set()
    seen_geo: set[tuple[object, ...]] = set()
    for job in jobs:
        st = job.settings
        roads = st.roads
        nkey = (roads.osm_path, roads.place, roads.bbox, roads.mode, st.cache_dir)
        if nkey not in seen_net:
            seen_net.add(nkey)
            nw.load_network(roads.osm_path, place=roads.place, bbox=roads.bbox, mode=roads.mode,
                            cache_dir=st.cache_dir)
        gkey = (st.geocoding.geocoder, roads.osm_path, st.cache_dir, id(job.cases))
        if gkey not in seen_geo:
            seen_geo.add(gkey)
            geo = gc.make_geocoder(st.geocoding.geocoder, osm_path=roads.osm_path,
                                   cache_dir=st.cache_dir, user_agent=st.geocoding.user_agent)
            gc.geocode_cases(job.cases, geo)
            for c in job.collectors:
                for p in (c.start, c.end):
                    if not p.has_coords and p.address:
                        geo.geocode(p.address)


def run_scenario(path: str | Path, *, out: str | Path | None = None, workers: int = 2,
                 on_event: Callable[[str, str], None] | None = None,
                 executor: ExecutorSettings | None = None) -> WhatIfResult:
    """Run every variant of a scenario file and write the comparison.

    Parameters
    ----------
    path
        Scenario file (.yaml/.yml or .toml).
    out
        Output folder; default ``maps/whatif-<scenario name>``. Gets one folder per variant (as
        `optimizer.outputs.write.write_plan` writes a day), ``report.html``, ``kpis.csv`` and
        ``kpis.json``.
    workers
        Variants planned at the same time, each in its own process. Default 2.
    executor
        Where the variants are planned (`optimizer.cluster.ExecutorSettings`): local processes
        (default, `workers` of them) or the workers of a Dask cluster, which need the package
        and the scenario's input files, OSM extract and cache folder at the same paths; every
        plan comes back here, is re-checked and written into `out`.
    on_event
        Called in this process as ``on_event(variant, message)`` when a variant starts a step,
        finishes (``"done"``) or fails (``"failed"``); for progress displays.

    Raises
    ------
    InputError, ConfigError
        The scenario file or its base has problems (every one listed); nothing was run.
    OutputError
        The output folder cannot be written.
    """
    t0 = time.perf_counter()
    scenario = load_scenario(path)
    out_dir = Path(out) if out is not None else Path("maps") / f"whatif-{scenario.name}"
    with _writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    emit = on_event or (lambda name, msg: None)
    jobs, failed = prepare_jobs(scenario, out_dir)
    for row in failed:
        emit(row.variant, "failed")
    emit("", "Preparing road network and geocoding caches")
    _prewarm(jobs)
    emit("", "Planning")
    outcomes = _plan_variants(jobs, workers, emit, executor or ExecutorSettings())
    outcomes |= {r.variant: Outcome(r.variant, r) for r in failed}
    descriptions = {v.name: v.description for v in scenario.variants}
    rows = compare_to_base([replace(outcomes[v.name].row, description=descriptions[v.name])
                            for v in scenario.variants])
    result = WhatIfResult(scenario, out_dir, rows, round(time.perf_counter() - t0, 1))
    with _writing(out_dir):
        write_kpis(result)
        report.write_report(result, out_dir / "report.html")
    return result


@contextmanager
def _writing(out_dir: Path) -> Iterator[None]:
    """An OS error writing the comparison becomes an `OutputError` naming the folder."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write the what-if results into {out_dir}: "
                          f"{exc.strerror or exc}; give a folder you can write to (--out)"
                          ) from exc


def _plan_variants(jobs: Sequence[Job], workers: int, emit: Callable[[str, str], None],
                   executor: ExecutorSettings) -> dict[str, Outcome]:
    """Every job through the executor: the base first, the variants that start from it or are
    guarded by it as soon as it is done, the others alongside. Each plan comes back here to be
    checked and written (`finish_variant`) while the others are planned."""
    outcomes: dict[str, Outcome] = {}
    waiting = [j for j in jobs if j.start_from_base or j.guard]
    ready = [j for j in jobs if j not in waiting]
    if not any(j.name == BASE for j in jobs):  # the base failed to resolve: nothing to start from
        ready += waiting
        waiting = []
    ready.sort(key=lambda j: j.name != BASE)  # the base first (stable: file order otherwise)

    def on_event(event: tuple[str, str]) -> None:
        emit(*event)

    def finish(job: Job, res: pl.Planned | Outcome | Exception) -> Outcome:
        if isinstance(res, Outcome):  # failed in the worker
            return res
        if isinstance(res, Exception):  # e.g. its worker process died
            emit(job.name, "failed")
            return _failed(job, res)
        try:
            done = finish_variant(job, res, progress=_CallerProgress(job.name, emit))
        except Exception as exc:  # noqa: BLE001 - one variant's failure must not stop the others
            if not isinstance(exc, CollectorRoutesError):
                log.exception("variant %s failed", job.name)
            emit(job.name, "failed")
            return _failed(job, exc)
        emit(job.name, "done")
        return done

    def collect(batch: Sequence[Job], results: Iterator[pl.Planned | Outcome | Exception]
                ) -> None:
        for job, res in zip(batch, results, strict=True):
            outcomes[job.name] = finish(job, res)

    # leaving the block on an error or Ctrl-C stops the variants still running
    with make_executor(executor, max_workers=max(1, int(workers))) as pool:
        first = pool.map(_plan_variant_safe, ready, on_event=on_event)
        later: list[Job] = []
        if waiting:
            # the base is the first job: the variants held back for it start once it is done
            collect(ready[:1], iter([next(first)]))
            base = outcomes[ready[0].name]
            later = [replace(j, initial=base.solution if base.row.ok else None,
                             base_value=base.value if base.row.ok else None) for j in waiting]
        second = pool.map(_plan_variant_safe, later, on_event=on_event)
        collect(ready[1:] if waiting else ready, first)
        collect(later, second)
    return outcomes
