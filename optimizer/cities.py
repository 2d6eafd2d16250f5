"""A multi-city day: one case list and one team list with a ``city`` column, one OSM extract
per city, every city planned on its own roads as independent jobs on one executor.

    check the city column -> per city: its roads' settings, its geocoder, its part jobs
    (`optimizer.partitioned.prepare`: split by territories when large, else the whole city as
    one job) -> every city's jobs on the executor at once -> per city: its border groups (again
    all at once) -> per city: stitched and checked (`optimizer.partitioned.stitch`) -> one
    `CitiesPlan` with one combined summary

No crew and no case crosses a city: a city's plan is the plan of its cases with its collectors
on its roads, as if it had been planned alone (the same parts, the same seeds).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer import partitioned as pt
from optimizer.errors import InputError, Issue
from optimizer.executor import Executor
from optimizer.geo import geocode as gc
from optimizer.model import Case, Collector, Plan
from optimizer.progress import Progress
from optimizer.settings import PlanSettings

__all__ = ["CitiesPlan", "CitySummary", "check_cities", "plan_cities"]


@dataclass(frozen=True)
class CitySummary:
    """One city's line of the combined summary."""

    city: str
    osm: str
    cases_total: int
    cases_visited: int
    value_total: float
    value_visited: float
    routes: int
    parts: int
    border_groups: int
    wall_s: float  # from the start of the run to this city's stitched plan


@dataclass(frozen=True)
class CitiesPlan:
    """Each city's plan, in the order of ``--city``, and the combined totals."""

    plans: tuple[tuple[str, Plan], ...]
    cities: tuple[CitySummary, ...]
    wall_s: float

    def totals(self) -> dict[str, float]:
        c = self.cities
        value_total = sum(x.value_total for x in c)
        return {"cities": len(c), "cases_total": sum(x.cases_total for x in c),
                "cases_visited": sum(x.cases_visited for x in c),
                "value_total": round(value_total, 2),
                "value_visited": round(sum(x.value_visited for x in c), 2),
                "value_share": round(sum(x.value_visited for x in c) / value_total, 4)
                if value_total else 0.0,
                "routes": sum(x.routes for x in c), "parts": sum(x.parts for x in c),
                "wall_s": round(self.wall_s, 1)}


def check_cities(cases: Sequence[Case], collectors: Sequence[Collector],
                 cities: Sequence[str], *, cases_file: str, collectors_file: str) -> None:
    """Every case and collector names one of `cities`, and every city with cases has a
    collector; else `InputError` listing every row at once."""
    known = set(cities)
    fix = f"write one of {', '.join(sorted(known))} in the city column, or add --city NAME=FILE"
    problems = [Issue(cases_file, c.row, f"case_id={c.case_id}",
                      "city", c.city, "blank: a multi-city day needs every case's city"
                      if not c.city else "is not a city given with --city", fix)
                for c in cases if c.city not in known]
    problems += [Issue(collectors_file, c.row, f"collector_id={c.collector_id}", "city", c.city,
                       "blank: a multi-city day needs every collector's city" if not c.city
                       else "is not a city given with --city", fix)
                 for c in collectors if c.city not in known]
    staffed = {c.city for c in collectors}
    for city in cities:
        n = sum(1 for c in cases if c.city == city)
        if n and city not in staffed:
            problems.append(Issue(collectors_file, 0, "", "city", city,
                                  f"{n} case(s) of {city} and no collector there",
                                  f"add collectors with city {city}, or leave its cases out"))
    if problems:
        raise InputError(problems)


def plan_cities(cases: Sequence[Case], collectors: Sequence[Collector], settings: PlanSettings,
                *, executor: Executor, geocoder_for: Callable[[Path], gc.Geocoder],
                collectors_file: str = "collectors.csv",
                progress: Progress | None = None) -> CitiesPlan:
    """Plan every city of ``settings.cities`` (see the module notes).

    `geocoder_for`: the geocoder of a city's extract (the offline one by default). Cities
    without cases are left out of the result.

    Raises
    ------
    InputError
        A case or collector of no given city, a city with cases and no collector, or a city's
        input that cannot be planned (as `optimizer.plan.plan_day`).
    CollectorRoutesError
        A job failed on its worker, or a plan that came back fails the re-simulation or does
        not hold every case of its city exactly once.
    """
    started = time.perf_counter()
    names = [name for name, _ in settings.cities]
    check_cities(cases, collectors, names, cases_file="cases", collectors_file=collectors_file)
    preps: list[tuple[str, Path, pt.Prepared]] = []
    for name, osm in settings.cities:
        mine = [c for c in cases if c.city == name]
        if not mine:
            continue
        crew = [c for c in collectors if c.city == name]
        city = dataclasses.replace(
            settings, cities=(),
            roads=dataclasses.replace(settings.roads, osm_path=osm, place=None, bbox=None))
        prep = pt.prepare(mine, crew, city, geocoder=geocoder_for(osm),
                          collectors_file=collectors_file,
                          whole=None if pt.needs_parts(mine, city) else name, progress=progress)
        preps.append((name, osm, _named(prep, name)))
    budget_s = pt.day_budget_s(settings, len(cases), len(collectors))
    slots = pt.worker_slots(executor)
    jobs = [j for _, _, p in preps for j in p.jobs]
    borders = any(len(p.jobs) > 1 for _, _, p in preps) and settings.border_routes > 0
    jobs = pt.share_budget(jobs, budget_s * (pt.PARTS_SHARE if borders else 1.0), slots)
    planned = pt.run_jobs(jobs, executor, f"Planning {len(jobs)} jobs of {len(preps)} cities",
                          progress)
    by_city = _slices(planned, [len(p.jobs) for _, _, p in preps])
    border = [pt.border_jobs(p, done) for (_, _, p), done in zip(preps, by_city, strict=True)]
    t0 = time.perf_counter()
    border_all = pt.share_budget([j for b in border for j in b],
                                 budget_s * (1 - pt.PARTS_SHARE), slots)
    groups = _slices(pt.run_jobs(border_all, executor,
                                 f"Planning {sum(map(len, border))} border groups", progress),
                     [len(b) for b in border])
    border_s = time.perf_counter() - t0
    plans: list[tuple[str, Plan]] = []
    lines: list[CitySummary] = []
    for (name, osm, prep), done, grp in zip(preps, by_city, groups, strict=True):
        plan = pt.stitch(prep, done, groups=grp, border_s=border_s, started=started)
        plans.append((name, plan))
        s = plan.summary
        assert s is not None  # stitch always summarises
        lines.append(CitySummary(name, osm.name, s.cases_total, s.cases_visited, s.value_total,
                                 s.value_visited, sum(1 for r in plan.routes if r.stops),
                                 len(done), len(grp), time.perf_counter() - started))
    return CitiesPlan(tuple(plans), tuple(lines), time.perf_counter() - started)


def _named(prep: pt.Prepared, city: str) -> pt.Prepared:
    """`prep` with its parts' names prefixed by the city (progress and logs say whose)."""
    jobs = tuple(dataclasses.replace(j, part=dataclasses.replace(
        j.part, name=j.part.name if j.part.name == city else f"{city}/{j.part.name}"))
        for j in prep.jobs)
    return dataclasses.replace(prep, jobs=jobs)


def _slices(items: Sequence[pt.pl.Planned], sizes: Sequence[int]) -> list[list[pt.pl.Planned]]:
    out, i = [], 0
    for n in sizes:
        out.append(list(items[i:i + n]))
        i += n
    return out


def summary_json(plan: CitiesPlan) -> dict[str, Any]:
    """The combined ``summary.json`` of a multi-city run: totals and one entry per city."""
    return {**plan.totals(), "per_city": [
        {**dataclasses.asdict(c), "value_total": round(c.value_total, 2),
         "value_visited": round(c.value_visited, 2), "wall_s": round(c.wall_s, 1)}
        for c in plan.cities]}


def folder_names(cities: Sequence[str]) -> Mapping[str, str]:
    """A folder name for each city: its name where it is a safe file name (letters, digits,
    CJK, ``-``, ``_``), else ``city-N``; never two cities in one folder."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for i, city in enumerate(cities, 1):
        safe = city if (city and all(ch.isalnum() or ch in "-_" for ch in city)
                        and not city.startswith(("-", "_")) and len(city) <= 60) else ""
        name = safe if safe and safe.lower() not in used else f"city-{i}"
        used.add(name.lower())
        out[city] = name
    return out
