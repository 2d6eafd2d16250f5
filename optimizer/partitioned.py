"""A large day planned in parts: split by territories, each part on the executor, stitched.

    geocode (here, cached) -> split_day (`optimizer.planning.partition`) -> every part through
    the daily pipeline (`optimizer.plan.solve_day`) on the executor -> verify each part ->
    stitch the routes and the unassigned cases -> one `Plan` with one summary

A day with more than ``max_cases`` cases takes this path (`plan_partitioned`); a smaller one is
one problem (`optimizer.plan.plan_day`). Each part has its own travel matrices and explanations
(so memory grows with the parts' sizes, not the day's); the road network is loaded here once,
which fills its cache, and each worker reads it from the cache folder. Each part is searched by
one process (the parts are the parallelism). The routes of each part that come back are
re-simulated in that part's problem (`optimizer.routing.verify`), and the stitched plan must hold
every input case exactly once (in a route or unassigned with a reason), else
`CollectorRoutesError`.

Then across the borders (``border_routes`` > 0, `improve_borders`): neighbouring parts are
paired (`optimizer.planning.partition.border_groups`), and each pair's routes nearest to the
other part are planned again as one problem with the cases both parts left out for reasons
that depend on the crews (value, reach, territory), starting from their current routes and
guarded by them: a group's plan replaces its routes only when it visits at least their value
(`optimizer.plan.Initial`), and it is re-simulated like a part's. The groups of a round share
no crew and no case, so they run at once on the executor.

The solver budget is the day's (``--time-limit``, else sized by the whole day as one problem):
the parts share three quarters of it and the border groups the rest, each job a time limit of
its share times the executor's workers over the jobs (`share_budget`), so the day's solving
takes about its budget of wall time however many parts it has.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from optimizer import executor as ex
from optimizer import plan as pl
from optimizer.errors import CollectorRoutesError
from optimizer.executor import Executor
from optimizer.geo import geocode as gc
from optimizer.geo import network as nw
from optimizer.model import Case, Collector, Plan, Solution, SolverSummary
from optimizer.planning import rules
from optimizer.planning.build import Steering
from optimizer.planning.partition import FreeCase, Part, PlacedRoute, border_groups, split_day
from optimizer.progress import Advance, Progress, ensure, no_advance
from optimizer.routing import verify
from optimizer.settings import MAX_PART_CASES, PlanSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartJob:
    """One part ready to plan: its cases, collectors and settings (plain data)."""

    part: Part
    cases: tuple[Case, ...]
    collectors: tuple[Collector, ...]
    settings: PlanSettings
    collectors_file: str
    steering: Steering | None = None
    initial: pl.Initial | None = None  # a border group: its routes as the parts planned them


class _EmitProgress:
    """A part's steps, sent to the caller's progress (`optimizer.executor.emit`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        ex.emit((self.name, description))
        yield no_advance


def plan_part(job: PartJob) -> pl.Planned:
    """Plan one part through the daily pipeline (runs in a worker)."""
    return pl.solve_day(job.cases, job.collectors, job.settings,
                        collectors_file=job.collectors_file, steering=job.steering,
                        initial=job.initial, progress=_EmitProgress(job.part.name))


def needs_parts(cases: Sequence[Case], settings: PlanSettings) -> bool:
    """True when the day is planned in parts (more cases than ``settings.max_part_cases``)."""
    return settings.max_part_cases is not None and len(cases) > settings.max_part_cases


def split(cases: Sequence[Case], collectors: Sequence[Collector], settings: PlanSettings, *,
          geocoder: gc.Geocoder, progress: Progress | None = None) -> tuple[Part, ...]:
    """The parts of the day: cases located (given coordinates or the geocoder's, cached), then
    `split_day` by territories."""
    found, _ = gc.geocode_cases(cases, geocoder, progress=progress)
    case_latlon = {cid: (r.lat, r.lon) for cid, r in found.items()}
    starts: dict[str, tuple[float, float]] = {}
    for c in collectors:
        if c.start.lat is not None and c.start.lon is not None:
            starts[c.collector_id] = (c.start.lat, c.start.lon)
        else:
            res = geocoder.geocode(c.start.address)
            if res is not None:
                starts[c.collector_id] = (res.lat, res.lon)
    if starts:  # a start not found: the part's own planning reports it; here, the centre
        centre = tuple(np.mean(list(starts.values()), axis=0))
        for c in collectors:
            starts.setdefault(c.collector_id, (float(centre[0]), float(centre[1])))
    max_cases = settings.max_part_cases or len(cases)
    return split_day([c.case_id for c in cases], case_latlon, collectors, starts,
                     max_cases=max_cases,
                     case_district={c.case_id: c.district for c in cases if c.district})


@dataclass(frozen=True)
class Prepared:
    """A day split into part jobs, with what its border step and stitching need."""

    cases: tuple[Case, ...]
    jobs: tuple[PartJob, ...]
    settings: PlanSettings  # the parts' settings: one solver process each
    by_case: dict[str, Case]
    by_collector: dict[str, Collector]
    collectors_file: str
    steering: Steering | None
    split_s: float


def prepare(cases: Sequence[Case], collectors: Sequence[Collector], settings: PlanSettings, *,
            geocoder: gc.Geocoder, collectors_file: str = "collectors.csv",
            steering: Steering | None = None, whole: str | None = None,
            progress: Progress | None = None) -> Prepared:
    """The day's part jobs: `split` by territories, or the whole day as the one part named
    `whole`; the road network loaded here once, which fills the cache the workers read."""
    t0 = time.perf_counter()
    if whole is not None:
        parts: tuple[Part, ...] = (Part(whole, tuple(c.collector_id for c in collectors),
                                        tuple(c.case_id for c in cases)),)
    else:
        parts = split(cases, collectors, settings, geocoder=geocoder, progress=progress)
    roads = settings.roads
    nw.load_network(roads.osm_path, place=roads.place, bbox=roads.bbox, mode=roads.mode,
                    speed_factor=roads.speed_factor, cache_dir=settings.cache_dir,
                    progress=progress)
    by_case = {c.case_id: c for c in cases}
    by_collector = {c.collector_id: c for c in collectors}
    # a worker elsewhere (a Dask cluster) runs in another folder: the paths it reads, whole
    one = dataclasses.replace(
        settings, solver=dataclasses.replace(settings.solver, num_workers=1),
        roads=dataclasses.replace(roads, osm_path=roads.osm_path.resolve()
                                  if roads.osm_path is not None else None),
        cache_dir=settings.cache_dir.resolve() if settings.cache_dir is not None else None)
    jobs = tuple(PartJob(p, tuple(by_case[i] for i in p.case_ids),
                         tuple(by_collector[i] for i in p.collector_ids), one, collectors_file,
                         steering)
                 for p in parts if p.collector_ids)
    log.info("%d cases in %d parts: %s", len(cases), len(jobs),
             ", ".join(f"{j.part.name} {len(j.cases)}/{len(j.collectors)}" for j in jobs))
    return Prepared(tuple(cases), jobs, one, by_case, by_collector, collectors_file, steering,
                    time.perf_counter() - t0)


def plan_partitioned(cases: Sequence[Case], collectors: Sequence[Collector],
                     settings: PlanSettings, *, executor: Executor, geocoder: gc.Geocoder,
                     collectors_file: str = "collectors.csv", steering: Steering | None = None,
                     progress: Progress | None = None) -> Plan:
    """Plan the day in parts on `executor` and stitch them (see the module notes).

    `steering`: what the case store's history says (`Steering`), for every part.

    Raises
    ------
    InputError
        A part's input cannot be planned (as `optimizer.plan.plan_day`).
    CollectorRoutesError
        A part failed on its worker, or a plan that came back fails the re-simulation or does
        not hold every case exactly once.
    """
    started = time.perf_counter()
    prep = prepare(cases, collectors, settings, geocoder=geocoder,
                   collectors_file=collectors_file, steering=steering, progress=progress)
    budget_s = day_budget_s(settings, len(cases), len(collectors))
    slots = worker_slots(executor)
    jobs = share_budget(prep.jobs, budget_s * parts_share(prep.jobs, settings), slots)
    planned = run_jobs(jobs, executor, f"Planning {len(jobs)} parts", progress)
    t0 = time.perf_counter()
    border = share_budget(border_jobs(prep, planned), budget_s * (1 - PARTS_SHARE), slots)
    groups = run_jobs(border, executor, f"Planning {len(border)} border groups", progress)
    return stitch(prep, planned, groups=groups, border_s=time.perf_counter() - t0,
                  started=started)


#: share of a day's solver budget for its parts; the rest is for the border groups
PARTS_SHARE = 0.75
#: least time limit of a part or border group, seconds
MIN_JOB_S = 5.0


def parts_share(jobs: Sequence[PartJob], settings: PlanSettings) -> float:
    """The share of the day's budget for its parts: `PARTS_SHARE`, or all of it when there
    will be no border groups (one part, or ``border_routes`` 0)."""
    return PARTS_SHARE if len(jobs) > 1 and settings.border_routes > 0 else 1.0


def day_budget_s(settings: PlanSettings, n_cases: int, n_collectors: int) -> float:
    """The solver budget of a whole day in parts: ``--time-limit``, else sized by the day as
    one problem would be (`optimizer.routing.params.default_budget_s`), seconds."""
    return settings.solver.time_budget_s(n_cases, n_collectors)


def worker_slots(executor: Executor) -> int:
    """How many jobs `executor` runs at once (local processes, or the cluster's workers)."""
    n = getattr(executor, "max_workers", None)
    count = getattr(executor, "workers", None)  # a Dask cluster: its workers now
    if n is None and callable(count):
        n = count()
    return max(1, int(n or 1))


def share_budget(jobs: Sequence[PartJob], budget_s: float, slots: int) -> list[PartJob]:
    """`jobs`, each with its share of `budget_s` as its time limit: the jobs run `slots` at a
    time, so each gets ``budget_s x slots / len(jobs)`` (at least `MIN_JOB_S`, at most
    `budget_s`): the day's solving takes about `budget_s` of wall time, whatever its number of
    parts. The time limit is a cap; a search may stop before when it stalls."""
    if not jobs:
        return []
    each = min(budget_s, max(MIN_JOB_S, budget_s * slots / len(jobs)))
    return [dataclasses.replace(j, settings=dataclasses.replace(
        j.settings, solver=dataclasses.replace(j.settings.solver, time_limit_s=each)))
        for j in jobs]


def run_jobs(jobs: Sequence[PartJob], executor: Executor, title: str,
             progress: Progress | None = None) -> list[pl.Planned]:
    """Plan `jobs` on `executor`; each plan re-simulated in its own problem."""
    planned: list[pl.Planned] = []
    if not jobs:
        return planned
    with ensure(progress).step(title, total=len(jobs)) as advance:
        results = executor.map(plan_part, jobs, on_event=lambda e: log.debug("part %s: %s", *e))
        for job, res in zip(jobs, results, strict=True):
            if isinstance(res, CollectorRoutesError):
                raise res
            if isinstance(res, Exception):
                raise CollectorRoutesError(f"part {job.part.name} ({len(job.cases)} cases) "
                                           f"failed: {type(res).__name__}: {res}") from res
            problems = verify.check_solution(res.built.problem, res.solution)
            if problems:
                raise CollectorRoutesError(f"part {job.part.name}: the plan that came back "
                                           f"fails the re-simulation: {'; '.join(problems[:3])}")
            planned.append(res)
            advance()
    return planned


def _as_crew(c: Collector, members: tuple[str, ...]) -> Collector:
    """`c`, made to form the same crew in a border group as in its part: a team formed
    automatically keeps its members through the ``team`` value the crew id would have."""
    if len(members) > 1 and not c.team:
        return dataclasses.replace(c, team="+".join(members))
    return c


#: reasons a part leaves a case out that depend on its crews: another part's may take it
BORDER_REASONS = frozenset({"lower_value", "cannot_fit_alone", "no_eligible_collector",
                            "outside_shifts", "unreachable"})


def border_jobs(prep: Prepared, planned: Sequence[pl.Planned]) -> list[PartJob]:
    """One round of border groups (see the module notes) of a day's planned parts, as jobs.

    Each group's plan replaces, in `stitch`, the routes of its crews and the plans of its
    cases. It visits at least the value its routes visited before (the guard), else it is its
    routes as they were (re-verified in the group's problem).
    """
    settings, by_collector, by_case = prep.settings, prep.by_collector, prep.by_case
    collectors_file, steering = prep.collectors_file, prep.steering
    parts = [j.part for j in prep.jobs]
    if settings.border_routes <= 0 or len(planned) < 2:
        return []
    placed: list[PlacedRoute] = []
    value: dict[tuple[str, ...], float] = {}  # value visited by each crew's route
    free: list[FreeCase] = []
    for k, p in enumerate(planned):
        for r in p.plan.routes:
            where = ((float(np.mean([s.lat for s in r.stops])),
                      float(np.mean([s.lon for s in r.stops]))) if r.stops
                     else (r.start_lat, r.start_lon))
            members = r.members or (r.collector.collector_id,)
            placed.append(PlacedRoute(k, members, tuple(s.case.case_id for s in r.stops), where))
            value[members] = r.value
        free += [FreeCase(k, u.case.case_id, (u.lat, u.lon), u.value) for u in p.plan.unassigned
                 if u.reason_code in BORDER_REASONS and u.lat is not None and u.lon is not None]
    groups = border_groups([p.name for p in parts], placed, free,
                           max_routes=settings.border_routes,
                           max_cases=(settings.max_part_cases or MAX_PART_CASES) // 2)
    routes_by_crew = {r.vehicle_id: r for p in planned for r in p.solution.routes}
    jobs = []
    for g in groups:
        crews = [r.collector_ids for r in placed if set(r.collector_ids) <= set(g.collector_ids)]
        collectors = tuple(_as_crew(by_collector[i], m) for m in crews for i in m)
        made = rules.form_crews(collectors, settings.policy, plan_date=settings.plan_date,
                                collectors_file=collectors_file)
        routes = tuple(routes_by_crew[c.crew_id] for c in made if c.crew_id in routes_by_crew)
        on_route = {s.visit_id for r in routes for s in r.stops}
        start = Solution(routes=routes,
                         dropped=tuple(cid for cid in g.case_ids if cid not in on_route))
        jobs.append(PartJob(g, tuple(by_case[i] for i in g.case_ids), collectors, settings,
                            collectors_file, steering,
                            pl.Initial(start, label="parts' routes", search="only",
                                       guard_value=sum(value.get(m, 0.0) for m in crews))))
    if not jobs:
        return []
    log.info("border groups: %s", ", ".join(f"{j.part.name} {len(j.cases)}/{len(j.collectors)}"
                                            for j in jobs))
    return jobs


def stitch(prep: Prepared, parts: Sequence[pl.Planned], *, started: float,
           groups: Sequence[pl.Planned] = (), border_s: float = 0.0) -> Plan:
    """One plan of the parts' plans: their routes and unassigned cases, where a border group's
    plan (`groups`) replaces the routes of its crews and the plans of its cases; one summary
    (stage times summed over the parts and groups, the objective the parts' sum)."""
    crews = {m for g in groups for r in g.plan.routes for m in (r.members or
                                                               (r.collector.collector_id,))}
    moved = {s.case.case_id for g in groups for r in g.plan.routes for s in r.stops}
    moved |= {u.case.case_id for g in groups for u in g.plan.unassigned}
    routes = tuple(r for p in parts for r in p.plan.routes
                   if not set(r.members or (r.collector.collector_id,)) & crews)
    routes += tuple(r for g in groups for r in g.plan.routes)
    unassigned = tuple(u for p in parts for u in p.plan.unassigned if u.case.case_id not in moved)
    unassigned += tuple(u for g in groups for u in g.plan.unassigned)
    seen = [s.case.case_id for r in routes for s in r.stops] + [u.case.case_id
                                                                for u in unassigned]
    missing = {c.case_id for c in prep.cases} - set(seen)
    if missing or len(seen) != len(set(seen)):
        raise CollectorRoutesError(f"the stitched plan does not hold every case once: "
                                   f"{len(missing)} missing, {len(seen) - len(set(seen))} "
                                   "repeated")
    geocoded = {k: v for p in [*parts, *groups] for k, v in p.plan.geocoded.items()}
    timings: dict[str, float] = {"split": prep.split_s}
    settings = prep.settings
    for p in parts:
        for k, v in (p.plan.summary.timings_s or {} if p.plan.summary else {}).items():
            timings[k] = timings.get(k, 0.0) + v
    if groups:
        timings["borders"] = border_s
    summary = pl.summarize(routes, unassigned, plan_date=settings.plan_date,
                           policy=settings.policy.name, weighting=settings.weighting.preset,
                           geocoded=geocoded, timings_s=timings,
                           wall_s=time.perf_counter() - started)
    solvers = sorted({p.solution.solver for p in parts})
    name = f"{len(parts)} parts: {'/'.join(solvers)}"
    if groups:
        name += f"; {len(groups)} border group(s)"
    summary = dataclasses.replace(summary, solver=SolverSummary(
        name, round(sum(p.solution.objective for p in parts), 4)))
    return Plan(plan_date=settings.plan_date, routes=routes, unassigned=unassigned,
                summary=summary, geocoded=geocoded)
