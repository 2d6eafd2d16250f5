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

Not done: no improvement across the borders of parts (re-solving neighbouring routes of two
parts); a collector works in the part of his territory only.
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
from optimizer.model import Case, Collector, Plan, SolverSummary
from optimizer.planning.build import Steering
from optimizer.planning.partition import Part, split_day
from optimizer.progress import Advance, Progress, ensure, no_advance
from optimizer.routing import verify
from optimizer.settings import PlanSettings

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
                        progress=_EmitProgress(job.part.name))


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
    t0 = time.perf_counter()
    parts = split(cases, collectors, settings, geocoder=geocoder, progress=progress)
    roads = settings.roads
    # the workers read the network from the cache this fills
    nw.load_network(roads.osm_path, place=roads.place, bbox=roads.bbox, mode=roads.mode,
                    speed_factor=roads.speed_factor, cache_dir=settings.cache_dir,
                    progress=progress)
    t_split = time.perf_counter() - t0
    by_case = {c.case_id: c for c in cases}
    by_collector = {c.collector_id: c for c in collectors}
    one = dataclasses.replace(settings, solver=dataclasses.replace(settings.solver,
                                                                   num_workers=1))
    jobs = [PartJob(p, tuple(by_case[i] for i in p.case_ids),
                    tuple(by_collector[i] for i in p.collector_ids), one, collectors_file,
                    steering)
            for p in parts if p.collector_ids]
    log.info("%d cases in %d parts: %s", len(cases), len(jobs),
             ", ".join(f"{j.part.name} {len(j.cases)}/{len(j.collectors)}" for j in jobs))
    planned: list[pl.Planned] = []
    with ensure(progress).step(f"Planning {len(jobs)} parts", total=len(jobs)) as advance:
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
    return stitch(cases, planned, settings, split_s=t_split, started=started)


def stitch(cases: Sequence[Case], parts: Sequence[pl.Planned], settings: PlanSettings, *,
           split_s: float, started: float) -> Plan:
    """One plan of the parts' plans: their routes and unassigned cases, one summary (stage
    times summed over the parts, the objective the parts' sum)."""
    routes = tuple(r for p in parts for r in p.plan.routes)
    unassigned = tuple(u for p in parts for u in p.plan.unassigned)
    seen = [s.case.case_id for r in routes for s in r.stops] + [u.case.case_id
                                                                for u in unassigned]
    missing = {c.case_id for c in cases} - set(seen)
    if missing or len(seen) != len(set(seen)):
        raise CollectorRoutesError(f"the stitched plan does not hold every case once: "
                                   f"{len(missing)} missing, {len(seen) - len(set(seen))} "
                                   "repeated")
    geocoded = {k: v for p in parts for k, v in p.plan.geocoded.items()}
    timings: dict[str, float] = {"split": split_s}
    for p in parts:
        for k, v in (p.plan.summary.timings_s or {} if p.plan.summary else {}).items():
            timings[k] = timings.get(k, 0.0) + v
    summary = pl.summarize(routes, unassigned, plan_date=settings.plan_date,
                           policy=settings.policy.name, weighting=settings.weighting.preset,
                           geocoded=geocoded, timings_s=timings,
                           wall_s=time.perf_counter() - started)
    solvers = sorted({p.solution.solver for p in parts})
    summary = dataclasses.replace(summary, solver=SolverSummary(
        f"{len(parts)} parts: {'/'.join(solvers)}",
        round(sum(p.solution.objective for p in parts), 4)))
    return Plan(plan_date=settings.plan_date, routes=routes, unassigned=unassigned,
                summary=summary, geocoded=geocoded)
