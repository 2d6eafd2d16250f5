"""The dispatcher's day as the console holds it: no HTTP here (`optimizer.console.routes`).

One `Desk` per application. The day goes:

1. `Desk.load`: the case export and the team list are saved under ``work_dir/uploads/`` and
   read by the product's readers (`optimizer.io.inputs`: CSV or xlsx, Chinese or English
   headers); every problem of both files comes back at once (`Loaded.problems`) and nothing
   is merged or planned until the files are fixed. Good files are merged into the store
   (`optimizer.loop.merge_file`, which applies the store's address corrections) and every
   address is geocoded once (`Loaded.addresses`: those not found or uncertain).
2. `Desk.fix_address`: a typed address is saved to the store (`correct_address`), so every
   later import of the same export reuses it; the address is geocoded again at once.
3. `Desk.start_plan`: a planning job in a thread (one at a time: the machine plans one day at
   a time), its stages recorded as the pipeline reports them (`JobProgress`); it plans the
   store's cases of the day (corrections included, with what the store's history says,
   `optimizer.loop.prepare`) and keeps the result as a `Draft` (its tables written under
   ``drafts/``).
4. `Desk.publish`: the draft's pages are written to ``served/`` (what the collectors' token
   links serve) and the plan recorded in the store as the date's next version, published.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from optimizer import loop
from optimizer.console import adjust
from optimizer.console.settings import ConsoleSettings
from optimizer.errors import CollectorRoutesError, InputError, Issue
from optimizer.geo import geocode as gc
from optimizer.io.files import read_table
from optimizer.io.inputs import (
    check_references,
    parse_cases,
    read_collectors,
    read_inputs,
)
from optimizer.io.published import read_published
from optimizer.model import Case, Collector, Plan, Solution
from optimizer.outputs.write import write_plan
from optimizer.plan import solve_day
from optimizer.planning.build import Built, Located
from optimizer.progress import Advance
from optimizer.replan import replan_day
from optimizer.settings import PlanSettings, build_settings, option_defaults, parse_options
from optimizer.store.db import Store
from optimizer.store.events import correct_address
from optimizer.store.history import device_positions, visited_by
from optimizer.store.plans import RecordedPlan
from optimizer.whatif.runner import run_scenario

log = logging.getLogger(__name__)

#: the form fields of a plan and the option each sets (`optimizer.settings.OPTIONS`)
PLAN_FIELDS = ("date", "policy", "time_limit", "max_solutions")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._\-\u4e00-\u9fff]+")
SUFFIXES = (".csv", ".xlsx")


@dataclass(frozen=True)
class Loaded:
    """The day's two files as read: their problems, or their cases and collectors."""

    cases_file: str
    collectors_file: str
    problems: tuple[Issue, ...] = ()
    cases: tuple[Case, ...] = ()
    collectors: tuple[Collector, ...] = ()
    addresses: tuple[gc.AddressCheck, ...] = ()  # not found or uncertain
    merged: str = ""  # what the merge into the store did, one line
    folder: Path = Path()  # where the files were saved
    left_out: tuple[Issue, ...] = ()  # problems of case rows accepted: those rows left out

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Job:
    """A planning job: its stages as reported, then its draft or its error."""

    job_id: str
    started: float
    stages: list[dict[str, Any]] = field(default_factory=list)
    state: str = "running"  # running | done | failed
    error: str = ""
    problems: tuple[Issue, ...] = ()
    draft_id: str | None = None
    finished: float | None = None
    kind: str = "plan"  # plan | replan | whatif
    report: Path | None = None  # a what-if job's report

    def status(self) -> dict[str, Any]:
        return {"job": self.job_id, "state": self.state, "error": self.error,
                "stages": [dict(s) for s in self.stages],
                "draft": self.draft_id,
                "elapsed_s": round((self.finished or time.monotonic()) - self.started, 1)}


class JobProgress:
    """The pipeline's `optimizer.progress.Progress` seam, recording a job's stages."""

    def __init__(self, job: Job, lock: threading.Lock) -> None:
        self.job = job
        self.lock = lock

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        stage: dict[str, Any] = {"name": description, "done": 0, "total": total,
                                 "state": "running"}
        with self.lock:
            self.job.stages.append(stage)

        def advance(n: int = 1) -> None:
            stage["done"] += n

        try:
            yield advance
        finally:
            stage["state"] = "done"


@dataclass(frozen=True)
class Draft:
    """A plan made in the console (not yet what collectors see)."""

    draft_id: str
    plan: Plan
    built: Built | None  # the day's solver problem (without the console's must-visits)
    solution: Solution | None  # None (and `built`, `loc`): a re-planned day, not editable
    loc: Located | None
    settings: PlanSettings
    cases: tuple[Case, ...]
    collectors: tuple[Collector, ...]
    folder: Path
    made_by: str
    made_at: datetime
    note: str = "planned"
    parent: str | None = None
    violations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    locked: frozenset[str] = frozenset()  # route ids
    must: frozenset[str] = frozenset()  # case ids that must be visited
    moved_out: frozenset[str] = frozenset()  # case ids taken out by the dispatcher


@dataclass(frozen=True)
class Published:
    """The version collectors see: which draft, its store record."""

    draft_id: str
    record: RecordedPlan
    at: datetime
    by: str


def safe_name(name: str, default: str) -> str:
    """An uploaded file's name as saved: its last part, odd characters replaced."""
    base = Path(name.replace("\\", "/")).name or default
    base = _SAFE_NAME.sub("_", base).strip("._") or default
    return base[-120:]


def plan_settings(form: Mapping[str, str], console: ConsoleSettings, *,
                  today: date | None = None) -> tuple[PlanSettings, list[Issue]]:
    """The settings of a plan form: the given fields checked like the command line's options
    (blank: the default), the console's budget when none is given."""
    raw: dict[str, object] = {k: form[k].strip() for k in PLAN_FIELDS
                              if str(form.get(k) or "").strip()}
    raw.setdefault("time_limit", str(console.time_limit_s))
    if console.max_solutions is not None:
        raw.setdefault("max_solutions", str(console.max_solutions))
    if console.cache_dir is not None:
        raw["cache_dir"] = str(console.cache_dir)
    values, problems = parse_options(raw)
    settings, more = build_settings(values, base=option_defaults(today))
    issues = [Issue("plan form", 0, "", p.option, str(p.value), p.message, p.fix)
              for p in (*problems, *more)]
    return settings, issues


class Desk:
    """The console's day (thread-safe; see the module docstring)."""

    def __init__(self, store: Store, settings: ConsoleSettings) -> None:
        self.store = store
        self.settings = settings
        self.lock = threading.Lock()
        self.plan_lock = threading.Lock()  # one planning job at a time
        self.loaded: Loaded | None = None
        self.jobs: dict[str, Job] = {}
        self.drafts: dict[str, Draft] = {}
        self.published: Published | None = None
        self._count = 0

    # ------------------------------------------------------------------ load the day

    def _geocoder(self, settings: PlanSettings, progress: Any = None) -> gc.Geocoder:
        geo = settings.geocoding
        return gc.make_geocoder(geo.geocoder, osm_path=settings.roads.osm_path,
                                cache_dir=settings.cache_dir, user_agent=geo.user_agent,
                                progress=progress)

    def load(self, cases: tuple[str, bytes], collectors: tuple[str, bytes], *, actor: str
             ) -> Loaded:
        """Save and read the day's two files (`Loaded`: problems, or merged and geocoded)."""
        folder = self.settings.work_dir / "uploads" / (
            datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3))
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        problems: list[Issue] = []
        for (name, data), what in ((cases, "cases"), (collectors, "collectors")):
            saved = safe_name(name, f"{what}.csv")
            names.append(saved)
            if not data:
                problems.append(Issue(saved, 0, "", what, name, "no file was chosen (or it is "
                                      "empty)", f"choose the {what} file (.csv or .xlsx)"))
            elif not saved.lower().endswith(SUFFIXES):
                problems.append(Issue(saved, 0, "", what, name, "is not a .csv or .xlsx file",
                                      "export the list as CSV or Excel (.xlsx)"))
            (folder / saved).write_bytes(data)
        if problems:
            return self._keep(Loaded(names[0], names[1], tuple(problems), folder=folder))
        try:
            read_cases, read_collectors = read_inputs(folder / names[0], folder / names[1])
        except InputError as exc:
            return self._keep(Loaded(names[0], names[1], tuple(exc.problems), folder=folder))
        except CollectorRoutesError as exc:  # a file that cannot be read at all
            return self._keep(Loaded(names[0], names[1], (Issue(
                names[0], 0, "", "file", "", str(exc), "export the lists again"),),
                folder=folder))
        return self._merged(folder, names[0], names[1], read_cases, read_collectors,
                            actor=actor)

    def _merged(self, folder: Path, cases_file: str, collectors_file: str,
                cases: tuple[Case, ...], collectors: tuple[Collector, ...], *, actor: str,
                left_out: tuple[Issue, ...] = ()) -> Loaded:
        """Merge read cases into the store and geocode every address (`Loaded`). With rows
        `left_out` the export is partial: the open cases it does not list stay open."""
        report = loop.merge_file(self.store, folder / cases_file, cases, actor=actor,
                                 close_missing=not left_out)
        counts = ", ".join(f"{k} {v}" for k, v in report.counts().items() if v)
        if report.corrected:
            counts += (f"; the store's address correction applied to {len(report.corrected)} "
                       f"case(s) ({', '.join(report.corrected[:10])})")
        if report.repeat_of is not None:
            counts = f"the same file as import #{report.repeat_of}, nothing changed"
        cases_now = self._store_cases(cases)
        settings, _ = plan_settings({}, self.settings)
        checks = gc.check_addresses(cases_now, collectors, self._geocoder(settings),
                                    cases_file=cases_file, collectors_file=collectors_file)
        attention = tuple(c for c in checks if c.status in ("not_found", "uncertain"))
        return self._keep(Loaded(cases_file, collectors_file, (), cases_now, collectors,
                                 attention, f"merged into the store: {counts or 'no change'}",
                                 folder, left_out))

    def acceptable(self, loaded: Loaded) -> bool:
        """Whether the problems of `loaded` are all in rows of the case list (which can then be
        left out): not in the team list, not of a whole file."""
        return bool(loaded.problems) and all(
            p.file == loaded.cases_file and p.row > 0 for p in loaded.problems)

    def accept(self, *, actor: str) -> Loaded:
        """Plan without the case rows that have problems: they are left out (listed with
        their problems), the rest read, merged and geocoded as a good file."""
        loaded = self.loaded
        if loaded is None or not self.acceptable(loaded):
            raise InputError([Issue("accept", 0, "", "cases", "", "there are no row problems "
                                    "of the case list to accept (a problem of the team list or "
                                    "of a whole file must be fixed)",
                                    "fix the files and upload them again")])
        bad = {p.row for p in loaded.problems}
        table = read_table(loaded.folder / loaded.cases_file)
        kept = replace(table, rows=tuple((r, rec) for r, rec in table.rows if r not in bad),
                       problems=tuple(p for p in table.problems if p.row not in bad))
        try:
            cases = parse_cases(kept)
            collectors = read_collectors(loaded.folder / loaded.collectors_file)
            check_references(cases, collectors, cases_file=loaded.cases_file)
        except InputError as exc:
            return self._keep(replace(loaded, problems=tuple(exc.problems)))
        return self._merged(loaded.folder, loaded.cases_file, loaded.collectors_file, cases,
                            collectors, actor=actor, left_out=loaded.problems)

    def _keep(self, loaded: Loaded) -> Loaded:
        with self.lock:
            self.loaded = loaded
        return loaded

    def _store_cases(self, read: tuple[Case, ...]) -> tuple[Case, ...]:
        """The cases of the list as the store holds them now (its address corrections
        applied), in the list's order with the list's row numbers."""
        stored = {c.case_id: c for c in loop.stored_case_list(self.store)}
        return tuple(replace(stored.get(c.case_id, c), row=c.row) for c in read)

    def fix_address(self, case_id: str, address: str, *, actor: str, lat: float | None = None,
                    lon: float | None = None) -> gc.AddressCheck:
        """Save a typed address for a case to the store (with the pin placed on the map, if
        given; else the address is geocoded again)."""
        loaded = self.loaded
        if loaded is None or not loaded.ok:
            raise InputError([Issue("address", 0, f"case_id={case_id}", "case_id", case_id,
                                    "no day is loaded", "upload the day's files first")])
        with self.store.session() as s:
            correct_address(s, case_id, address, actor=actor, lat=lat, lon=lon, note="console")
        read = {c.case_id: c for c in loaded.cases}
        cases_now = self._store_cases(tuple(read.values()))
        case = next(c for c in cases_now if c.case_id == case_id)
        check = gc.check_addresses((case,), (), self._geocoder(plan_settings({}, self.settings)[0]),
                                   cases_file=loaded.cases_file)[0]
        addresses = tuple(check if a.record == f"case_id={case_id}" else a
                          for a in loaded.addresses)
        with self.lock:
            self.loaded = replace(loaded, cases=cases_now, addresses=addresses)
        return check

    # ------------------------------------------------------------------ plan

    def _next_id(self, prefix: str) -> str:
        with self.lock:
            self._count += 1
            return f"{prefix}{self._count}"

    def start_plan(self, settings: PlanSettings, *, actor: str) -> Job:
        """Start planning the loaded day in a thread; the job's stages follow it."""
        loaded = self.loaded
        if loaded is None or not loaded.ok:
            raise InputError([Issue("plan", 0, "", "cases", "", "no valid day is loaded",
                                    "upload the case and collector files, fix every problem")])
        return self._start(lambda progress: self._plan(loaded, settings, actor, progress))

    def _start(self, work: Callable[[JobProgress], Draft | Path], kind: str = "plan") -> Job:
        job = Job(self._next_id("j") + secrets.token_hex(4), time.monotonic(), kind=kind)
        with self.lock:
            self.jobs[job.job_id] = job
        threading.Thread(target=self._run, args=(job, work), name=f"console-{job.job_id}",
                         daemon=True).start()
        return job

    def _run(self, job: Job, work: Callable[[JobProgress], Draft | Path]) -> None:
        progress = JobProgress(job, self.lock)
        try:
            with self.plan_lock:
                made = work(progress)
            with self.lock:
                if isinstance(made, Draft):
                    self.drafts[made.draft_id] = made
                    job.draft_id = made.draft_id
                else:
                    job.report = made
                job.state = "done"
        except InputError as exc:
            job.problems = tuple(exc.problems)
            job.error = f"{len(exc.problems)} problem(s) in the input stop the plan"
            job.state = "failed"
        except Exception as exc:  # noqa: BLE001 - reported on the job's page, logged
            log.error("planning job %s failed: %s", job.job_id, traceback.format_exc())
            job.error = f"planning failed: {exc}"
            job.state = "failed"
        finally:
            job.finished = time.monotonic()

    def _plan(self, loaded: Loaded, settings: PlanSettings, actor: str,
              progress: JobProgress) -> Draft:
        cases = self._store_cases(loaded.cases)
        day = loop.prepare(self.store, cases, settings.plan_date, progress=progress)
        planned = solve_day(day.cases, loaded.collectors, settings,
                            geocoder=self._geocoder(settings, progress), progress=progress,
                            collectors_file=loaded.collectors_file, steering=day.steering)
        return self._draft(planned.plan, planned.built, planned.solution, planned.located,
                           settings,
                           day.cases, loaded.collectors, actor, progress)

    def _draft(self, plan: Plan, built: Built | None, solution: Solution | None,
               loc: Located | None,
               settings: PlanSettings, cases: tuple[Case, ...],
               collectors: tuple[Collector, ...], actor: str, progress: Any = None, *,
               note: str = "planned", parent: Draft | None = None,
               violations: Mapping[str, tuple[str, ...]] | None = None,
               locked: frozenset[str] | None = None, must: frozenset[str] | None = None,
               moved_out: frozenset[str] | None = None) -> Draft:
        draft_id = self._next_id("d")
        folder = self.settings.work_dir / "drafts" / draft_id
        write_plan(plan, folder, maps=False, progress=progress)
        return Draft(draft_id, plan, built, solution, loc, settings, cases, collectors, folder,
                     actor, datetime.now(UTC), note,
                     parent.draft_id if parent is not None else None, dict(violations or {}),
                     locked if locked is not None else
                     (parent.locked if parent is not None else frozenset()),
                     must if must is not None else
                     (parent.must if parent is not None else frozenset()),
                     moved_out if moved_out is not None else
                     (parent.moved_out if parent is not None else frozenset()))

    # ------------------------------------------------------------------ adjust

    def adjust(self, draft: Draft, action: str, *, case_id: str = "", route: str = "",
               actor: str) -> Draft:
        """A new draft: `draft` with one edit (``move``, ``lock``, ``must``, ``reoptimise``),
        re-scored at once with every rule checked (`optimizer.console.adjust`)."""
        if draft.built is None or draft.solution is None or draft.loc is None:
            raise adjust.action_problem(f"{action} (a re-planned day is published as it is; "
                                        "edit the plan it came from)")
        locked, must, out = set(draft.locked), set(draft.must), set(draft.moved_out)
        problem = adjust.with_required(draft.built.problem, must)
        solution = draft.solution
        if action == "lock":
            if route not in {v.vehicle_id for v in problem.vehicles}:
                raise adjust.route_problem(route)
            locked ^= {route}
            note = f"{'locked' if route in locked else 'unlocked'} route {route}"
        elif action == "move":
            target = route or None
            for r in (target, self._route_of(solution, case_id)):
                if r is not None and r in locked:
                    raise adjust.locked_problem(case_id, r)
            solution = adjust.move(problem, solution, case_id, target)
            if target is None:
                out.add(case_id)
                must.discard(case_id)
                problem = adjust.with_required(draft.built.problem, must)
            else:
                out.discard(case_id)
            note = f"moved {case_id} to {target}" if target else f"took {case_id} out"
        elif action == "must":
            adjust.check_visit(problem, case_id)
            must.add(case_id)
            out.discard(case_id)
            problem = adjust.with_required(draft.built.problem, must)
            note = f"{case_id} must be visited"
            if self._route_of(solution, case_id) is None:
                target = adjust.best_route(problem, solution, case_id, locked)
                if target is None:  # no route takes it holding the rules: show what breaks
                    target = next(v.vehicle_id for v in problem.vehicles
                                  if v.vehicle_id not in locked)
                solution = adjust.move(problem, solution, case_id, target)
                note += f" (on {target})"
        elif action == "reoptimise":
            with self.plan_lock:
                solution = adjust.reoptimise(problem, solution, draft.settings, locked)
            note = f"re-optimised the rest (locked: {', '.join(sorted(locked)) or 'none'})"
        else:
            raise adjust.action_problem(action)
        scored = adjust.rescore(solution, problem=problem, built=draft.built, loc=draft.loc,
                                settings=draft.settings, cases=draft.cases, moved_out=out,
                                actor=actor)
        new = self._draft(scored.plan, draft.built, solution, draft.loc, draft.settings,
                          draft.cases, draft.collectors, actor, note=note, parent=draft,
                          violations=scored.violations, locked=frozenset(locked),
                          must=frozenset(must), moved_out=frozenset(out))
        return self.add_draft(new)

    # ------------------------------------------------------------------ during the day

    def start_replan(self, *, at_s: int, absent: Sequence[str], actor: str) -> Job:
        """Re-plan the rest of the published day from `at_s` (`optimizer.replan`): the visits
        with an outcome in the store by then are kept as done, `absent` make no more visits.
        The result is a draft to check and publish (a new version)."""
        pub = self.published
        draft = self.draft(pub.draft_id) if pub is not None else None
        if pub is None or draft is None:
            raise InputError([Issue("re-plan", 0, "", "plan", "", "nothing is published yet",
                                    "publish the day's plan first")])
        known = {m for r in draft.plan.routes for m in (r.members or (r.collector.collector_id,))}
        strangers = [a for a in absent if a not in known]
        if strangers:
            raise InputError([Issue("re-plan", 0, "", "absent", ", ".join(strangers),
                                    "is not a collector of the published plan",
                                    "choose collectors of the plan")])

        def work(progress: JobProgress) -> Draft:
            day = read_published(self.settings.served_dir)
            ids = [s.case_id for r in day.routes for s in r.stops]
            with self.store.reading() as s:  # what `replan --store` reads
                done = visited_by(s, ids, day.plan_date, at_s)
                positions = device_positions(s, ids, day.plan_date, at_s)
            result = replan_day(day, draft.cases, draft.collectors, draft.settings, at_s=at_s,
                                done=done, absent=tuple(absent), positions=positions,
                                geocoder=self._geocoder(draft.settings, progress),
                                progress=progress)
            note = (f"re-planned at {at_s // 3600:02d}:{at_s % 3600 // 60:02d}, "
                    f"{len(result.done)} done" + (f", absent {', '.join(result.absent)}"
                                                  if result.absent else ""))
            return self._draft(result.plan, None, None, None, draft.settings, draft.cases,
                               draft.collectors, actor, progress, note=note, parent=draft)

        return self._start(work, "replan")

    def start_whatif(self, variants: Mapping[str, Mapping[str, Any]], settings: PlanSettings,
                     *, actor: str) -> Job:
        """Run the what-if comparison (`optimizer.whatif.runner`) of `variants` (name ->
        scenario keys, `docs/whatif.md`) on the loaded day's files; the job's ``report``."""
        loaded = self.loaded
        if loaded is None or not loaded.ok:
            raise InputError([Issue("what-if", 0, "", "cases", "", "no valid day is loaded",
                                    "a dispatcher uploads the day's files first")])
        if not variants:
            raise InputError([Issue("what-if", 0, "", "variants", "", "no variant chosen",
                                    "choose at least one variant")])
        upload = self._upload_dir(loaded)
        folder = self.settings.work_dir / "whatif" / self._next_id("w")
        folder.mkdir(parents=True, exist_ok=True)
        base = {"cases": str(upload / loaded.cases_file),
                "collectors": str(upload / loaded.collectors_file),
                "date": settings.plan_date.isoformat(), "policy": settings.policy.name,
                "time_limit": settings.solver.time_limit_s, "seed": 0}
        if settings.solver.max_solutions is not None:
            base["max_solutions"] = settings.solver.max_solutions
        if settings.cache_dir is not None:
            base["cache_dir"] = str(settings.cache_dir)
        scenario = {"name": "console", "description": f"what-if by {actor} on the day's files",
                    "base": base, "variants": {k: dict(v) for k, v in variants.items()}}
        path = folder / "scenario.yaml"  # JSON is YAML
        path.write_text(json.dumps(scenario, ensure_ascii=False, indent=1), encoding="utf-8")

        def work(progress: JobProgress) -> Path:
            with progress.step("What-if: planning the base and each variant"):
                result = run_scenario(path, out=folder / "out", workers=1)
            return result.out_dir / "report.html"

        return self._start(work, "whatif")

    def _upload_dir(self, loaded: Loaded) -> Path:
        return loaded.folder

    @staticmethod
    def _route_of(solution: Solution, case_id: str) -> str | None:
        return next((r.vehicle_id for r in solution.routes
                     if any(s.visit_id == case_id for s in r.stops)), None)

    def job(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def draft(self, draft_id: str) -> Draft | None:
        with self.lock:
            return self.drafts.get(draft_id)

    def add_draft(self, draft: Draft) -> Draft:
        with self.lock:
            self.drafts[draft.draft_id] = draft
        return draft

    def latest_draft(self) -> Draft | None:
        with self.lock:
            return max(self.drafts.values(), key=lambda d: d.made_at, default=None)

    # ------------------------------------------------------------------ publish

    def publish(self, draft: Draft, *, actor: str) -> Published:
        """Write the draft's pages where the collector links are served, and record it in the
        store as the date's next version (published). Refused while it breaks a rule."""
        if draft.violations:
            n = sum(len(v) for v in draft.violations.values())
            raise InputError([Issue("publish", 0, f"draft={draft.draft_id}", "plan", "",
                                    f"the edited plan breaks {n} rule(s)",
                                    "undo the edit, or re-optimise the rest")])
        write_plan(draft.plan, self.settings.served_dir, tiles=self.settings.tiles)
        rec = loop.record(self.store, draft.plan, actor=actor)
        pub = Published(draft.draft_id, rec, datetime.now(UTC), actor)
        with self.lock:
            self.published = pub
        return pub
