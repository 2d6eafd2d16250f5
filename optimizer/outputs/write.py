"""Write a plan folder: the tables (`optimizer.outputs.tables`), routes.xlsx
(`optimizer.outputs.sheets`), summary.json, the maps (`optimizer.outputs.maps`) and
``manifest.json``, whole or not at all; and a multi-day plan's folder of day folders
(`write_horizon`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path

from optimizer import atomic
from optimizer import cities as ct
from optimizer.errors import CollectorRoutesError
from optimizer.horizon import HorizonPlan, day_label
from optimizer.model import Plan
from optimizer.outputs import maps as mp
from optimizer.outputs import week
from optimizer.outputs.sheets import write_route_workbook, write_week_workbook
from optimizer.outputs.tables import (
    CHANGE_FIELDS,
    ROUTE_FIELDS,
    UNASSIGNED_FIELDS,
    PageUpdate,
    change_rows,
    changes_json,
    csv_bytes,
    page_updates,
    route_rows,
    routes_json,
    summary_json,
    unassigned_rows,
    write_csv,
)
from optimizer.progress import Progress, ensure, labelled
from optimizer.replan import Replanned

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- plan folders

#: the completion marker of a plan folder, written last (see `write_manifest`)
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
LINKS_FILE = "links.json"  # the served link tokens (`optimizer.web.site`), kept across re-plans
TABLES = ("routes.csv", "routes.json", "routes.xlsx", "unassigned.csv", "summary.json")
#: what a re-planned day adds (`optimizer.replan`): the stops that moved
CHANGES = ("changes.csv", "changes.json")
_PLAN_ENTRIES = frozenset({*TABLES, *CHANGES, MANIFEST, LINKS_FILE, "assets"})


class OutputError(CollectorRoutesError):
    """A plan cannot be written where asked; the message says why and what to do."""

    exit_code = 2


class IncompletePlan(CollectorRoutesError):
    """A folder holds no complete plan (no valid manifest)."""

    exit_code = 2


def out_dir_problem(out_dir: str | Path) -> tuple[str, str] | None:
    """Why a plan cannot be written into `out_dir`, and the fix (``None`` if it can)."""
    # a plan replaces its folder as a whole: the folder must be new, empty, or a plan folder
    # (only the files a plan writes); anything else in it would be lost
    return _folder_problem(
        Path(out_dir), "a plan",
        lambda p: p.name in _PLAN_ENTRIES or (p.suffix == ".html" and p.is_file()))


def _folder_problem(out: Path, what: str, ours: Callable[[Path], bool]
                    ) -> tuple[str, str] | None:
    """Why `what` (a plan, a multi-day plan) cannot replace the folder `out`, and the fix: a
    file in the way, the root folder, or entries that `ours` does not recognise as its own."""
    try:
        blocker = next((q for q in (out, *out.parents) if q.exists() and not q.is_dir()), None)
    except OSError as exc:  # a name too long for the file system, a path it cannot reach
        return (f"cannot be a folder here ({exc.strerror or exc})", "give a shorter or "
                "another folder path")
    if blocker is not None:
        return ("is a file, not a folder" if blocker == out else f"lies inside the file "
                f"{blocker}", "give a folder (created if missing), or move the file away")
    if not out.is_dir():
        return None
    if out.resolve().parent == out.resolve():
        return "is the root folder", "give a folder for the plan"
    foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir() if not ours(p))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        return (f"holds files that are not part of {what} ({shown}) and {what} replaces the "
                "whole folder", "give a new or empty folder, or move those files away")
    return None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(plan: Plan, folder: str | Path, *, overview: str | None,
                   pages: Mapping[str, str]) -> dict:
    """Write ``manifest.json``, the completion marker, into `folder` (last, after every file).

    It names the plan (a fresh ``plan_id``), its date, the overview page, one page per collector
    (``collector_id -> file name``; members of a team each have one) and the SHA-256 of every
    file of the folder except itself and ``links.json`` (which the server updates), so a reader
    can tell that the files belong together.
    """
    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): _sha256(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name not in (MANIFEST, LINKS_FILE)}
    manifest = {
        "format": MANIFEST_FORMAT,
        "plan_id": uuid.uuid4().hex,
        "plan_date": plan.plan_date.isoformat() if plan.plan_date else None,
        "written_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "overview": overview,
        "pages": dict(pages),
        "routes": [r.collector.collector_id for r in plan.routes],
        "collectors": sorted({m for r in plan.routes
                              for m in (r.members or (r.collector.collector_id,))}),
        "files": files,
    }
    atomic.write_file(folder / MANIFEST, json.dumps(manifest, ensure_ascii=False,
                                                    indent=1).encode("utf-8"))
    return manifest


def parse_manifest(raw: bytes, *, where: str = MANIFEST) -> dict:
    """The manifest in `raw`, checked; `IncompletePlan` if it is not one."""
    try:
        m = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IncompletePlan(f"{where} is damaged ({exc})") from None
    ok = (isinstance(m, dict) and m.get("format") == MANIFEST_FORMAT
          and isinstance(m.get("plan_id"), str) and isinstance(m.get("pages"), dict)
          and isinstance(m.get("files"), dict)
          and (m.get("overview") is None or isinstance(m.get("overview"), str))
          and all(isinstance(k, str) and isinstance(v, str) for k, v in m["pages"].items()))
    if not ok:
        raise IncompletePlan(f"{where} is not a plan manifest of format {MANIFEST_FORMAT}")
    return m


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a plan folder; `IncompletePlan` (saying what to do) if there is none."""
    folder = Path(folder)
    fix = f"; fix: run `collector-routes plan --out {folder}` to write a complete plan"
    try:
        raw = (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise IncompletePlan(f"{folder} holds no complete plan ({MANIFEST} missing: not a plan "
                             "folder, or written by an older version or an interrupted run)"
                             + fix) from None
    except OSError as exc:
        raise IncompletePlan(f"{folder}/{MANIFEST} cannot be read ({exc})" + fix) from None
    try:
        return parse_manifest(raw, where=f"{folder}/{MANIFEST}")
    except IncompletePlan as exc:
        raise IncompletePlan(str(exc) + fix) from None


def check_plan_folder(folder: str | Path) -> list[str]:
    """What does not match the manifest of a plan folder (empty: every file as written)."""
    folder = Path(folder)
    m = read_manifest(folder)
    problems = []
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*")
               if p.is_file() and p.name not in (MANIFEST, LINKS_FILE)}
    for name, digest in m["files"].items():
        if name not in present:
            problems.append(f"{name}: missing")
        elif _sha256(folder / name) != digest:
            problems.append(f"{name}: changed since the plan was written")
    problems += [f"{name}: not part of the plan" for name in sorted(present - set(m["files"]))]
    for cid, page in m["pages"].items():
        if page not in m["files"]:
            problems.append(f"page of {cid} ({page}) not among the files")
    return problems


def _write_tables(plan: Plan, out: Path) -> dict[str, Path]:
    paths = {name: out / name for name in TABLES}
    write_csv(paths["routes.csv"], ROUTE_FIELDS, route_rows(plan))
    paths["routes.json"].write_text(json.dumps(routes_json(plan), ensure_ascii=False, indent=1),
                                    encoding="utf-8")
    write_route_workbook(plan, paths["routes.xlsx"])
    write_csv(paths["unassigned.csv"], UNASSIGNED_FIELDS, unassigned_rows(plan))
    paths["summary.json"].write_text(json.dumps(summary_json(plan.summary), ensure_ascii=False,
                                                 indent=2),
                                     encoding="utf-8")
    return paths


def _write_pages(plan: Plan, out: Path, *, tiles: str, self_contained: bool,
                 progress: Progress | None, updates: Mapping[str, PageUpdate] | None = None
                 ) -> tuple[str, dict[str, str]]:
    """The overview and one page per collector; (overview file, collector_id -> file).
    `updates`: route id -> the re-plan notice of its pages."""
    pages: dict[str, str] = {}
    with ensure(progress).step("Writing maps", total=1 + len(plan.routes)) as adv:
        mp.write_overview(plan, out / "index.html", tiles=tiles, self_contained=self_contained)
        adv()
        for r in plan.routes:
            # every member of a team gets the team's page under their own id
            for member in r.members or (r.collector.collector_id,):
                name = mp.collector_page_filename(member)
                mp.write_collector_page(plan, r, out / name, tiles=tiles,
                                        self_contained=self_contained, collector_id=member,
                                        update=(updates or {}).get(r.collector.collector_id))
                pages[member] = name
            adv()
    return "index.html", pages


def _refuse(out: Path) -> None:
    why = out_dir_problem(out)
    if why:
        raise OutputError(f"cannot write the plan into {out}: it {why[0]}; fix: {why[1]}")


def write_tables(plan: Plan, out_dir: str | Path) -> dict[str, Path]:
    """Write routes.csv, routes.json, routes.xlsx (printable route sheets,
    `optimizer.outputs.sheets`), unassigned.csv and summary.json as the plan folder `out_dir`
    (no maps).

    Same folder rules as `write_plan`. Returns the path of each file.
    """
    out = write_plan(plan, out_dir, maps=False)
    return {name: out / name for name in TABLES}


def write_plan(plan: Plan, out_dir: str | Path, *, tiles: str = "osm",
               self_contained: bool = False, maps: bool = True,
               progress: Progress | None = None,
               extra: Mapping[str, bytes] | None = None,
               updates: Mapping[str, PageUpdate] | None = None) -> Path:
    """Write everything for a plan: route sheets, overview map and one page per collector.

    `extra`: more files of the plan by name, written with it: one of `CHANGES`, or an HTML
    page in the folder itself (``*.html``: the visit packs, `optimizer.outputs.pack`).
    `updates`: route id -> what its collectors' pages say after a re-plan (`write_replanned`).

    The folder is written whole or not at all (`optimizer.atomic.replaced_folder`): into a
    temporary folder beside `out_dir`, ``manifest.json`` last, then swapped into place under a
    lock, so concurrent runs take turns and a run killed half-way leaves the previous plan. The
    previous plan's ``links.json`` (served link tokens) is kept; its other files go.

    Raises
    ------
    OutputError
        `out_dir` is a file, holds files that are not a plan's (`out_dir_problem`), or cannot be
        written.
    """
    out = Path(out_dir)
    _refuse(out)
    try:
        with atomic.replaced_folder(out) as tmp:
            _write_tables(plan, tmp)
            for name, data in (extra or {}).items():
                # a page in the folder itself is what out_dir_problem takes for a plan's file
                assert name in CHANGES or (name.endswith(".html") and "/" not in name), (
                    f"{name} is not a file of a plan folder")
                (tmp / name).write_bytes(data)
            overview: str | None = None
            pages: dict[str, str] = {}
            if maps:
                overview, pages = _write_pages(plan, tmp, tiles=tiles,
                                               self_contained=self_contained, progress=progress,
                                               updates=updates)
            # under the lock: `serve` saves new tokens under it too
            if (out / LINKS_FILE).is_file():
                shutil.copy2(out / LINKS_FILE, tmp / LINKS_FILE)
            write_manifest(plan, tmp, overview=overview, pages=pages)
            _refuse(out)  # a file put there while the plan was being made
    except OSError as exc:
        raise OutputError(f"cannot write the plan into {out}: {exc.strerror or exc}; fix: give "
                          "a folder you can write to (--out)") from exc
    return out


def write_replanned(result: Replanned, out_dir: str | Path, *, updated_at: str,
                    tiles: str = "osm", self_contained: bool = False, maps: bool = True,
                    progress: Progress | None = None) -> Path:
    """Write a re-planned day (`optimizer.replan.replan_day`) as a plan folder (`write_plan`)
    with ``changes.csv`` and ``changes.json``, and on every collector page "Updated at
    `updated_at`" (HH:MM) with what changed on that collector's route
    (`tables.page_updates`). Written over the served folder, the links stay the same
    (``links.json`` is kept). Used by ``collector-routes replan`` and the HTTP API's re-plan."""
    return write_plan(
        result.plan, out_dir, tiles=tiles, self_contained=self_contained, maps=maps,
        progress=progress, updates=page_updates(result, updated_at=updated_at), extra={
            "changes.json": json.dumps(changes_json(result, updated_at=updated_at),
                                       ensure_ascii=False, indent=1).encode("utf-8"),
            "changes.csv": csv_bytes(CHANGE_FIELDS, change_rows(result.moves))})


# --------------------------------------------------------------------------- multi-day plans

#: the files of a multi-day plan's folder besides the day folders (``YYYY-MM-DD/``)
HORIZON_FILES = ("summary.json", "week.csv", "routes.xlsx", "index.html", "assets")


def _is_day_folder(p: Path) -> bool:
    try:
        date.fromisoformat(p.name)
    except ValueError:
        return False
    return p.is_dir() and len(p.name) == 10


def horizon_out_dir_problem(out_dir: str | Path) -> tuple[str, str] | None:
    """Why a multi-day plan cannot be written into `out_dir`, and the fix (None if it can):
    the folder must be new, empty, or a multi-day plan's (day folders and `HORIZON_FILES`)."""
    return _folder_problem(
        Path(out_dir), "a multi-day plan",
        lambda p: p.name in HORIZON_FILES or _is_day_folder(p)
        or (p.name.startswith(".") and p.name.endswith(".lock")))


def write_horizon(plan: HorizonPlan, out_dir: str | Path, *, tiles: str = "osm",
                  self_contained: bool = False, maps: bool = True,
                  progress: Progress | None = None, published: date | None = None) -> Path:
    """Write a multi-day plan: one plan folder per day (``YYYY-MM-DD/``, as `write_plan`, each
    with its manifest and its own route sheets), the horizon's ``summary.json``, ``week.csv``
    (collector x day), ``routes.xlsx`` (the week workbook, `sheets.write_week_workbook`) and
    the week overview ``index.html`` (`optimizer.outputs.week`).

    The whole folder is written at once or not at all (`atomic.replaced_folder`); each day's
    ``links.json`` (served link tokens) of a previous plan in `out_dir` is kept. `published`:
    the day recorded in the case store and published to the collectors (a rolling horizon:
    the other days are provisional, and say so in ``summary.json`` and ``index.html``); None:
    no store, nothing published.

    Raises
    ------
    OutputError
        `out_dir` is a file, holds files that are not a multi-day plan's, or cannot be written.
    """
    out = Path(out_dir)
    why = horizon_out_dir_problem(out)
    if why:
        raise OutputError(f"cannot write the plan into {out}: it {why[0]}; fix: {why[1]}")
    try:
        with atomic.replaced_folder(out) as tmp:
            for i, day in enumerate(plan.days):
                _write_inner_plan(day.plan, out, tmp, day.plan.plan_date.isoformat(),
                                  tiles=tiles, self_contained=self_contained, maps=maps,
                                  progress=labelled(progress, day_label(
                                      i, len(plan.days), day.plan.plan_date)))
            (tmp / "summary.json").write_text(json.dumps(
                week.horizon_summary_json(plan.summary, published=published),
                ensure_ascii=False, indent=2), encoding="utf-8")
            week.write_week_csv(plan, tmp / "week.csv")
            write_week_workbook(plan, tmp / "routes.xlsx")
            week.write_week_overview(plan, tmp / "index.html", maps=maps, tiles=tiles,
                                     self_contained=self_contained, published=published)
    except OSError as exc:
        raise OutputError(f"cannot write the plan into {out}: {exc.strerror or exc}; give a "
                          "folder you can write to (--out)") from exc
    return out


def _write_inner_plan(plan: Plan, out: Path, tmp: Path, name: str, *, tiles: str,
                      self_contained: bool, maps: bool, progress: Progress | None) -> None:
    """One plan folder ``name`` of a folder of plans (days, cities) being written into `tmp`
    (to replace `out`): the previous plan's ``links.json`` there kept, then `write_plan`."""
    if (out / name / LINKS_FILE).is_file():
        (tmp / name).mkdir()
        shutil.copy2(out / name / LINKS_FILE, tmp / name / LINKS_FILE)
    write_plan(plan, tmp / name, tiles=tiles, self_contained=self_contained, maps=maps,
               progress=progress)


#: the files of a multi-city plan's folder besides the cities' plan folders
CITIES_FILES = ("summary.json", "cities.csv")


def cities_out_dir_problem(out_dir: str | Path) -> tuple[str, str] | None:
    """Why a multi-city plan cannot be written into `out_dir`, and the fix (None if it can):
    the folder must be new, empty, or a multi-city plan's (`CITIES_FILES` and plan folders)."""
    return _folder_problem(
        Path(out_dir), "a multi-city plan",
        lambda p: p.name in CITIES_FILES or (p.is_dir() and out_dir_problem(p) is None
                                             and (p / "summary.json").is_file())
        or (p.name.startswith(".") and p.name.endswith(".lock")))


def write_cities(plan: ct.CitiesPlan, out_dir: str | Path, *, tiles: str = "osm",
                 self_contained: bool = False, maps: bool = True,
                 progress: Progress | None = None) -> Path:
    """Write a multi-city plan: one plan folder per city (`ct.folder_names`, as `write_plan`),
    the combined ``summary.json`` and ``cities.csv`` (one line per city).

    The whole folder is written at once or not at all (`atomic.replaced_folder`); each city's
    ``links.json`` (served link tokens) of a previous plan in `out_dir` is kept.

    Raises
    ------
    OutputError
        `out_dir` is a file, holds files that are not a multi-city plan's, or cannot be written.
    """
    out = Path(out_dir)
    why = cities_out_dir_problem(out)
    if why:
        raise OutputError(f"cannot write the plan into {out}: it {why[0]}; fix: {why[1]}")
    folders = ct.folder_names([name for name, _ in plan.plans])
    try:
        with atomic.replaced_folder(out) as tmp:
            for name, city_plan in plan.plans:
                _write_inner_plan(city_plan, out, tmp, folders[name], tiles=tiles,
                                  self_contained=self_contained, maps=maps,
                                  progress=labelled(progress, name))
            summary = ct.summary_json(plan)
            for line in summary["per_city"]:
                line["folder"] = folders[line["city"]]
            (tmp / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2),
                                              encoding="utf-8")
            fields = ("city", "folder", "osm", "cases_total", "cases_visited", "value_total",
                      "value_visited", "routes", "parts", "border_groups", "wall_s")
            write_csv(tmp / "cities.csv", fields, summary["per_city"])
    except OSError as exc:
        raise OutputError(f"cannot write the plan into {out}: {exc.strerror or exc}; give a "
                          "folder you can write to (--out)") from exc
    return out
