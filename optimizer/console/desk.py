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

import logging
import re
import secrets
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from optimizer import loop
from optimizer.console.settings import ConsoleSettings
from optimizer.errors import CollectorRoutesError, InputError, Issue
from optimizer.geo import geocode as gc
from optimizer.io.inputs import read_inputs
from optimizer.model import Case, Collector, Plan
from optimizer.outputs.write import write_plan
from optimizer.plan import Planned, solve_day
from optimizer.progress import Advance
from optimizer.settings import PlanSettings, build_settings, option_defaults, parse_options
from optimizer.store.db import Store
from optimizer.store.events import correct_address
from optimizer.store.plans import RecordedPlan

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
    planned: Planned
    settings: PlanSettings
    cases: tuple[Case, ...]
    collectors: tuple[Collector, ...]
    folder: Path
    made_by: str
    made_at: datetime
    note: str = "planned"
    parent: str | None = None
    violations: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    locked: frozenset[str] = frozenset()


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
    values, problems = parse_options(raw)
    settings, more = build_settings(values, base=option_defaults(today))
    issues = [Issue("plan form", 0, "", p.name, str(p.value), p.message, p.fix)
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
            return self._keep(Loaded(names[0], names[1], tuple(problems)))
        try:
            read_cases, read_collectors = read_inputs(folder / names[0], folder / names[1])
        except InputError as exc:
            return self._keep(Loaded(names[0], names[1], tuple(exc.problems)))
        except CollectorRoutesError as exc:  # a file that cannot be read at all
            return self._keep(Loaded(names[0], names[1], (Issue(
                names[0], 0, "", "file", "", str(exc), "export the lists again"),)))
        report = loop.merge_file(self.store, folder / names[0], read_cases, actor=actor)
        counts = ", ".join(f"{k} {v}" for k, v in report.counts().items() if v)
        cases_now = self._store_cases(read_cases)
        settings = option_defaults()
        checks = gc.check_addresses(cases_now, read_collectors, self._geocoder(settings),
                                    cases_file=names[0], collectors_file=names[1])
        attention = tuple(c for c in checks if c.status in ("not_found", "uncertain"))
        return self._keep(Loaded(names[0], names[1], (), cases_now, read_collectors,
                                 attention, f"merged into the store: {counts or 'no change'}"))

    def _keep(self, loaded: Loaded) -> Loaded:
        with self.lock:
            self.loaded = loaded
        return loaded

    def _store_cases(self, read: tuple[Case, ...]) -> tuple[Case, ...]:
        """The cases of the list as the store holds them now (its address corrections
        applied), in the list's order with the list's row numbers."""
        stored = {c.case_id: c for c in loop.stored_case_list(self.store)}
        return tuple(replace(stored.get(c.case_id, c), row=c.row) for c in read)

    def fix_address(self, case_id: str, address: str, *, actor: str) -> gc.AddressCheck:
        """Save a typed address for a case to the store and geocode it again."""
        loaded = self.loaded
        if loaded is None or not loaded.ok:
            raise InputError([Issue("address", 0, f"case_id={case_id}", "case_id", case_id,
                                    "no day is loaded", "upload the day's files first")])
        with self.store.session() as s:
            correct_address(s, case_id, address, actor=actor, note="console")
        read = {c.case_id: c for c in loaded.cases}
        cases_now = self._store_cases(tuple(read.values()))
        case = next(c for c in cases_now if c.case_id == case_id)
        check = gc.check_addresses((case,), (), self._geocoder(option_defaults()),
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
        job = Job(self._next_id("j") + secrets.token_hex(4), time.monotonic())
        with self.lock:
            self.jobs[job.job_id] = job
        threading.Thread(target=self._run_plan, args=(job, loaded, settings, actor),
                         name=f"console-{job.job_id}", daemon=True).start()
        return job

    def _run_plan(self, job: Job, loaded: Loaded, settings: PlanSettings, actor: str) -> None:
        progress = JobProgress(job, self.lock)
        try:
            with self.plan_lock:
                draft = self._plan(loaded, settings, actor, progress)
            with self.lock:
                self.drafts[draft.draft_id] = draft
                job.draft_id = draft.draft_id
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
        return self._draft(planned, settings, day.cases, loaded.collectors, actor, progress)

    def _draft(self, planned: Planned, settings: PlanSettings, cases: tuple[Case, ...],
               collectors: tuple[Collector, ...], actor: str, progress: Any = None, *,
               note: str = "planned", parent: str | None = None,
               violations: Mapping[str, tuple[str, ...]] | None = None,
               locked: frozenset[str] = frozenset()) -> Draft:
        draft_id = self._next_id("d")
        folder = self.settings.work_dir / "drafts" / draft_id
        write_plan(planned.plan, folder, maps=False, progress=progress)
        return Draft(draft_id, planned.plan, planned, settings, cases, collectors, folder,
                     actor, datetime.now(UTC), note, parent, dict(violations or {}), locked)

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
