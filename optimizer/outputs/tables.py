"""The plan as tables: the rows of routes.csv and unassigned.csv, routes.json and summary.json.

Times in the files are local clock times ``HH:MM:SS`` of the plan date; ``*_s`` columns are
seconds, ``*_m`` metres. Route ids are the crew id: the collector id, or the team members' ids
joined by ``+`` when visits are made by teams. The CSV files are written for Excel: a text cell
that would start a formula gets a leading ``'`` (`optimizer.cells.csv_cell`); routes.json keeps
the exact text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from optimizer.cells import csv_cell
from optimizer.model import Plan, PlannedRoute, PlanSummary, RouteSummary, geocode_status
from optimizer.replan import Move, Replanned

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
    """The rows of routes.csv: one per stop, routes in order."""
    return [row for r in plan.routes for row in route_rows_for(r, plan.geocoded)]


def route_rows_for(route: PlannedRoute,
                   geocoded: Mapping[str, tuple[str, float, str]] | None = None) -> list[dict]:
    """The `route_rows` of one route (``geocoded``: the plan's, for the geocode columns)."""
    r = route
    return [{
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
        **_geocode_cells(geocoded or {}, s.case.case_id),
    } for s in r.stops]


def _geocode_cells(geocoded: Mapping[str, tuple[str, float, str]], case_id: str) -> dict:
    """What the address matched and how sure (below 1: check the place), blank if not located."""
    if case_id not in geocoded:
        return {"geocode_match": "", "geocode_score": ""}
    matched, score, provider = geocoded[case_id]
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
        **_geocode_cells(plan.geocoded, u.case.case_id),
    } for u in plan.unassigned]


def write_csv(path: Path, fields: tuple[str, ...], rows: list[dict]) -> None:
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


def summary_json(summary: PlanSummary | None) -> dict:
    """``summary.json``: the plan's summary as JSON-ready data, keys in the order of the
    fields (``{}`` for a plan without one)."""
    if summary is None:
        return {}
    s = summary
    out: dict = {
        "plan_date": s.plan_date.isoformat(), "policy": s.policy, "weighting": s.weighting,
        "cases_total": s.cases_total, "cases_visited": s.cases_visited,
        "cases_unassigned": s.cases_unassigned, "value_total": s.value_total,
        "value_visited": s.value_visited, "value_share": s.value_share,
        "travel_s_total": s.travel_s_total, "travel_m_total": s.travel_m_total,
        "routes": s.routes, "collectors": s.collectors, "utilisation_mean": s.utilisation_mean,
        "utilisation_spread": s.utilisation_spread,
        "unassigned_by_reason": dict(s.unassigned_by_reason),
        "geocoding": {"from_input": s.geocoding.from_input, "exact": s.geocoding.exact,
                      "uncertain": s.geocoding.uncertain, "not_found": s.geocoding.not_found},
        "per_collector": [_route_summary_json(r) for r in s.per_collector],
    }
    if s.timings_s is not None:
        out["timings_s"] = dict(s.timings_s)
    if s.solver is not None:  # which search of the portfolio won (e.g. "ortools+vroom")
        out["solver"] = {"search": s.solver.search, "objective": s.solver.objective}
    if s.wall_s is not None:
        out["wall_s"] = s.wall_s
    return out


def _route_summary_json(r: RouteSummary) -> dict:
    return {"collector_id": r.collector_id, "members": list(r.members),
            "cases_visited": r.cases_visited, "value_visited": r.value_visited,
            "travel_s": r.travel_s, "travel_m": r.travel_m, "leave": r.leave, "return": r.return_,
            "work_s": r.work_s, "utilisation": r.utilisation}


CHANGE_FIELDS = ("case_id", "before", "after", "reason")


def csv_bytes(fields: tuple[str, ...], rows: list[dict]) -> bytes:
    """A CSV file's bytes, as `write_csv` writes it."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue().encode("utf-8-sig")


def change_rows(moves: Sequence[Move]) -> list[dict]:
    """The rows of changes.csv: each case whose route changed in a re-plan (``before``/``after``
    a route id, blank = not visited)."""
    return [{"case_id": m.case_id, "before": m.before, "after": m.after, "reason": m.reason}
            for m in moves]


def changes_json(r: Replanned, *, updated_at: str | None = None) -> dict:
    """``changes.json`` of a re-planned day: when (re-planned from ``at``; written at
    ``updated_at``, HH:MM), what was kept, who stopped, what moved."""
    return {"plan_date": r.plan.plan_date.isoformat(), "at": clock(r.at_s)[:5],
            **({} if updated_at is None else {"updated_at": updated_at}),
            "done": list(r.done), "absent": list(r.absent), "stopped": list(r.stopped),
            "urgent": list(r.urgent), "moves": change_rows(r.moves)}


@dataclass(frozen=True)
class PageUpdate:
    """What a collector's page says after a re-plan: when it was updated (HH:MM) and what
    changed on that collector's route, one line each (their own cases only)."""

    updated_at: str
    at: str  # the time the rest of the day was re-planned from (HH:MM)
    lines: tuple[str, ...]


def page_updates(r: Replanned, *, updated_at: str) -> dict[str, PageUpdate]:
    """route id -> the `PageUpdate` of its collectors' pages: the cases added to the route
    (urgent ones said so), the cases taken off it (without saying who takes them: another
    crew's route is not theirs to see), and whether the route makes no further visit."""
    lines: dict[str, list[str]] = {route.collector.collector_id: [] for route in r.plan.routes}
    for m in r.moves:
        if m.before and m.before in lines and m.before != m.after:
            lines[m.before].append(f"{m.case_id}: taken off your route" + (
                " (another crew visits it)" if m.after else " (not visited today)"))
        if m.after and m.after in lines and m.after != m.before:
            lines[m.after].append(f"{m.case_id}: " + (
                "urgent visit added to your route" if m.reason == "urgent"
                else "added to your route"))
    for rid in r.stopped:
        if rid in lines:
            lines[rid].insert(0, "No further visits today: your route ends after the visits "
                                 "already made")
    at = clock(r.at_s)[:5]
    return {rid: PageUpdate(updated_at, at, tuple(ls) or ("No change to your stops",))
            for rid, ls in lines.items()}
