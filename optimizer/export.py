"""Write a plan: routes.csv/json/xlsx, unassigned.csv, summary.json, and the maps (via maps.py).

Times in the files are local clock times ``HH:MM:SS`` of the plan date; ``*_s`` columns are
seconds, ``*_m`` metres. Route ids are the crew id: the collector id, or the team members' ids
joined by ``+`` when visits are made by teams. The CSV files are written for Excel: a text cell
that would start a formula gets a leading ``'`` (`csv_cell`); routes.json keeps the exact text.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path

from optimizer import atomic
from optimizer.errors import CollectorRoutesError
from optimizer.model import Plan, geocode_status
from optimizer.progress import Progress, ensure

log = logging.getLogger(__name__)

ROUTE_FIELDS = (
    "collector_id", "members", "stop", "case_id", "customer_name", "address", "lat", "lon",
    "arrive", "start", "depart", "window", "service_s", "travel_s", "travel_m", "value",
    "amount_overdue", "days_past_due", "geocode_match", "geocode_score",
)
UNASSIGNED_FIELDS = ("case_id", "reason_code", "reason", "value", "amount_overdue",
                     "days_past_due", "address", "lat", "lon", "geocode_match", "geocode_score")


def clock(t_s: float) -> str:
    """``HH:MM:SS`` of seconds since midnight."""
    t = round(t_s)
    return f"{t // 3600:02d}:{(t % 3600) // 60:02d}:{t % 60:02d}"


def route_rows(plan: Plan) -> list[dict]:
    rows = []
    for r in plan.routes:
        for s in r.stops:
            rows.append({
                "collector_id": r.collector.collector_id,
                "members": "+".join(r.members),
                "stop": s.stop,
                "case_id": s.case.case_id,
                "customer_name": s.case.customer_name,
                "address": s.case.address,
                "lat": round(s.lat, 6),
                "lon": round(s.lon, 6),
                "arrive": clock(s.arrive_s),
                "start": clock(s.start_s),
                "depart": clock(s.depart_s),
                "window": s.window.label(),
                "service_s": s.case.service_s,
                "travel_s": round(s.travel_s, 1),
                "travel_m": round(s.travel_m, 1),
                "value": round(s.value, 2),
                "amount_overdue": s.case.amount_overdue,
                "days_past_due": s.case.days_past_due,
                **_geocode_cells(plan, s.case.case_id),
            })
    return rows


def _geocode_cells(plan: Plan, case_id: str) -> dict:
    """What the address matched and how sure (below 1: check the place), blank if not located."""
    if case_id not in plan.geocoded:
        return {"geocode_match": "", "geocode_score": ""}
    matched, score, provider = plan.geocoded[case_id]
    given = geocode_status(provider, score) == "given"
    return {"geocode_match": "lat/lon given" if given else matched,
            "geocode_score": round(score, 3)}


def unassigned_rows(plan: Plan) -> list[dict]:
    return [{
        "case_id": u.case.case_id,
        "reason_code": u.reason_code,
        "reason": u.reason,
        "value": round(u.value, 2),
        "amount_overdue": u.case.amount_overdue,
        "days_past_due": u.case.days_past_due,
        "address": u.case.address,
        "lat": "" if u.lat is None else round(u.lat, 6),
        "lon": "" if u.lon is None else round(u.lon, 6),
        **_geocode_cells(plan, u.case.case_id),
    } for u in plan.unassigned]


#: A spreadsheet reads a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A cell for a CSV that Excel opens: text that would start a formula gets a leading ``'``.

    Only text is guarded (OWASP's rule for CSV injection: a cell starting with ``=`` ``+`` ``-``
    ``@``, tab or carriage return); numbers are written as numbers, so a negative number stays
    a number (-12.5), while the text ``-12.5`` of a case id becomes ``'-12.5``. ``routes.json``
    is data, not for spreadsheets, and keeps every text exactly.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict]) -> None:
    # utf-8-sig so that Excel opens Chinese text correctly
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)


def routes_json(plan: Plan) -> dict:
    """The plan as JSON-ready data: one entry per route with its stops and road path."""
    return {
        "plan_date": plan.plan_date.isoformat(),
        "routes": [{
            "collector_id": r.collector.collector_id,
            "name": r.collector.name,
            "members": list(r.members),
            "shift": r.collector.shift.label(),
            "start": {"lat": r.start_lat, "lon": r.start_lon},
            "end": {"lat": r.end_lat, "lon": r.end_lon},
            "leave": clock(r.leave_s) if r.stops else None,
            "return": clock(r.return_s) if r.stops else None,
            "travel_s": round(r.travel_s, 1),
            "travel_m": round(r.travel_m, 1),
            "value": round(r.value, 2),
            "breaks": [{"start": clock(a), "end": clock(b)} for a, b in r.breaks],
            "stops": route_rows_for(r, plan.geocoded),
            "path": [[round(a, 6), round(b, 6)] for a, b in r.path],
        } for r in plan.routes],
    }


def route_rows_for(route, geocoded: dict | None = None) -> list[dict]:
    """The `route_rows` of one route (``geocoded``: the plan's, for the geocode columns)."""
    one = Plan(plan_date=None, routes=(route,), unassigned=(),  # type: ignore[arg-type]
               geocoded=geocoded or {})
    return route_rows(one)


# --------------------------------------------------------------------------- plan folders

#: the completion marker of a plan folder, written last (see `write_manifest`)
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
LINKS_FILE = "links.json"  # the served link tokens (`optimizer.serve`), kept across re-plans
TABLES = ("routes.csv", "routes.json", "routes.xlsx", "unassigned.csv", "summary.json")
_PLAN_ENTRIES = frozenset({*TABLES, MANIFEST, LINKS_FILE, "assets"})


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
    out = Path(out_dir)
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
    foreign = sorted(p.name + ("/" if p.is_dir() else "") for p in out.iterdir()
                     if p.name not in _PLAN_ENTRIES and not (p.suffix == ".html" and p.is_file()))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        return (f"holds files that are not part of a plan ({shown}) and a plan replaces the "
                "whole folder", "give a new or empty folder, or move those files away")
    return None


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(plan: Plan, folder: str | Path, *, overview: str | None,
                   pages: Mapping[str, str]) -> dict:
    """Write ``manifest.json``, the completion marker, into `folder` (last, after every file).

    It names the plan (a fresh ``plan_id``), its date, the overview page, one page per collector
    (``collector_id -> file name``; members of a team each have one) and the SHA-256 of every
    file of the folder except itself and ``links.json`` (which the server updates), so a reader
    can tell that the files belong together.
    """
    import uuid
    from datetime import datetime, timezone

    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): _sha256(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name not in (MANIFEST, LINKS_FILE)}
    manifest = {
        "format": MANIFEST_FORMAT,
        "plan_id": uuid.uuid4().hex,
        "plan_date": plan.plan_date.isoformat() if plan.plan_date else None,
        "written_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
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
    from optimizer.sheets import write_route_workbook

    paths = {name: out / name for name in TABLES}
    _write_csv(paths["routes.csv"], ROUTE_FIELDS, route_rows(plan))
    paths["routes.json"].write_text(json.dumps(routes_json(plan), ensure_ascii=False, indent=1),
                                    encoding="utf-8")
    write_route_workbook(plan, paths["routes.xlsx"])
    _write_csv(paths["unassigned.csv"], UNASSIGNED_FIELDS, unassigned_rows(plan))
    paths["summary.json"].write_text(json.dumps(plan.summary, ensure_ascii=False, indent=2),
                                     encoding="utf-8")
    return paths


def _write_pages(plan: Plan, out: Path, *, tiles: str, self_contained: bool,
                 progress: Progress | None) -> tuple[str, dict[str, str]]:
    """The overview and one page per collector; (overview file, collector_id -> file)."""
    from optimizer import maps as mp

    pages: dict[str, str] = {}
    with ensure(progress).step("Writing maps", total=1 + len(plan.routes)) as adv:
        mp.write_overview(plan, out / "index.html", tiles=tiles, self_contained=self_contained)
        adv()
        for r in plan.routes:
            # every member of a team gets the team's page under their own id
            for member in r.members or (r.collector.collector_id,):
                name = mp.collector_page_filename(member)
                mp.write_collector_page(plan, r, out / name, tiles=tiles,
                                        self_contained=self_contained, collector_id=member)
                pages[member] = name
            adv()
    return "index.html", pages


def _refuse(out: Path) -> None:
    why = out_dir_problem(out)
    if why:
        raise OutputError(f"cannot write the plan into {out}: it {why[0]}; fix: {why[1]}")


def write_tables(plan: Plan, out_dir: str | Path) -> dict[str, Path]:
    """Write routes.csv, routes.json, routes.xlsx (printable route sheets, `optimizer.sheets`),
    unassigned.csv and summary.json as the plan folder `out_dir` (no maps).

    Same folder rules as `write_plan`. Returns the path of each file.
    """
    out = write_plan(plan, out_dir, maps=False)
    return {name: out / name for name in TABLES}


def write_plan(plan: Plan, out_dir: str | Path, *, tiles: str = "osm",
               self_contained: bool = False, maps: bool = True,
               progress: Progress | None = None) -> Path:
    """Write everything for a plan: route sheets, overview map and one page per collector.

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
            overview: str | None = None
            pages: dict[str, str] = {}
            if maps:
                overview, pages = _write_pages(plan, tmp, tiles=tiles,
                                               self_contained=self_contained, progress=progress)
            # under the lock: `serve` saves new tokens under it too
            if (out / LINKS_FILE).is_file():
                shutil.copy2(out / LINKS_FILE, tmp / LINKS_FILE)
            write_manifest(plan, tmp, overview=overview, pages=pages)
            _refuse(out)  # a file put there while the plan was being made
    except OSError as exc:
        raise OutputError(f"cannot write the plan into {out}: {exc.strerror or exc}; fix: give "
                          "a folder you can write to (--out)") from exc
    return out
