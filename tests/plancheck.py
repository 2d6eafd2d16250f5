"""Independent re-simulation of a written plan, for the tests.

Reads the plan's output files (routes.csv, routes.json, unassigned.csv) and the input lists, then
re-checks, without the solver or the planning code: every input case exactly once (routed or
unassigned with a reason); each visit's times re-simulated from a travel matrix recomputed on the
road network for the stops' coordinates (with a traffic profile: one matrix per time band of
the plan date, each leg driven at the pace of the band it is in, here and not with the solver's
code); each visit starting inside one of its windows and the
legal contact hours; shifts, maximum visits, working time, breaks, team size, skills, fixed
collectors, territories, cooldowns and open promises.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import numpy as np

from optimizer.model import Case, Collector
from optimizer.planning.rules import Policy

TOL_S = 2.0  # rounding of the written clock times (whole seconds) and of the matrix


def _secs(clock: str) -> float:
    h, m, s = (int(x) for x in clock.split(":"))
    return h * 3600 + m * 60 + s


def _read_csv(path: Path) -> list[dict]:
    # a text cell that would start a formula was written with a leading "'" (cells.csv_cell)
    def cell(v: str) -> str:
        return v[1:] if v[:1] == "'" and v[1:2] in ("=", "+", "-", "@", "\t", "\r") else v

    with path.open(encoding="utf-8-sig", newline="") as f:
        return [{k: cell(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _arrive_s(bands: list[tuple[float, np.ndarray]], i: int, j: int, t: float) -> float:
    """Arrival at `j` leaving `i` at `t`: the leg covered at ``1 / duration`` of it per second
    of the band one is in (bands: start, duration matrix; the last lasts past midnight)."""
    left = 1.0
    b = max(k for k, (start, _) in enumerate(bands) if start <= t or k == 0)
    while True:
        d = float(bands[b][1][i, j])
        if not np.isfinite(d):
            return np.inf
        if d <= 0.0:
            return t
        end = bands[b + 1][0] if b + 1 < len(bands) else np.inf
        if t + left * d <= end:
            return t + left * d
        left -= (end - t) / d
        t, b = end, b + 1


def _published_precision(place: dict) -> tuple[float, float]:
    return round(float(place["lat"]), 6), round(float(place["lon"]), 6)


def check_plan_outputs(out: Path, cases: tuple[Case, ...], collectors: tuple[Collector, ...],
                       plan_date: date, policy: Policy, *, network=None, traffic=None
                       ) -> list[str]:
    """All rule violations found in the plan written to `out` (empty = the plan holds).

    `traffic`: the `optimizer.geo.traffic.TrafficProfile` the plan was made with (None: the
    network's own times at any time of day).
    """
    from optimizer.geo import matrix as mx
    from optimizer.geo import network as nw
    from optimizer.geo import traffic as tr

    errs: list[str] = []
    routes_rows = _read_csv(out / "routes.csv")
    unassigned = _read_csv(out / "unassigned.csv")
    routes = json.loads((out / "routes.json").read_text(encoding="utf-8"))["routes"]
    by_id = {c.case_id: c for c in cases}
    coll = {c.collector_id: c for c in collectors}

    # 1. every input case exactly once
    seen: dict[str, int] = {}
    for r in routes_rows + unassigned:
        seen[r["case_id"]] = seen.get(r["case_id"], 0) + 1
    for cid in by_id:
        if seen.get(cid, 0) != 1:
            errs.append(f"case {cid} appears {seen.get(cid, 0)} times in routes+unassigned")
    for cid in seen:
        if cid not in by_id:
            errs.append(f"unknown case {cid} in the output")
    for u in unassigned:
        if not u["reason_code"] or not u["reason"]:
            errs.append(f"unassigned {u['case_id']} has no reason")

    if network is None:
        network = nw.load_network()
    members_seen: dict[str, str] = {}
    for route in routes:
        rid = route["collector_id"]
        members = route["members"] or [rid]
        stops = route["stops"]
        for m in members:
            if m not in coll:
                errs.append(f"route {rid}: unknown collector {m}")
            elif m in members_seen:
                errs.append(f"collector {m} is in routes {members_seen[m]} and {rid}")
            members_seen[m] = rid
        crew = [coll[m] for m in members if m in coll]
        if not crew:
            continue
        if stops and len(crew) < policy.min_team_size:
            errs.append(f"route {rid}: {len(crew)} collector(s), policy needs "
                        f"{policy.min_team_size}")
        shift_start = max(c.shift.start_s for c in crew)
        shift_end = min(c.shift.end_s for c in crew)
        max_visits = [c.max_visits for c in crew if c.max_visits is not None]
        if max_visits and len(stops) > min(max_visits):
            errs.append(f"route {rid}: {len(stops)} visits > max {min(max_visits)}")
        if any(plan_date.weekday() not in c.workdays for c in crew) and stops:
            errs.append(f"route {rid}: a member does not work on {plan_date:%A}")
        if not stops:
            continue
        # re-simulate travel on a freshly computed matrix
        # every place at the precision the plan publishes its stops (6 decimals, ~0.1 m): a
        # stop and the crew's home geocoded to the same point stay one point (else the
        # rounded stop may snap a few centimetres further along a one-way street than the
        # home and the return leg go round the block)
        pts = [_published_precision(route["start"])]
        pts += [(s["lat"], s["lon"]) for s in stops]
        pts.append(_published_precision(route["end"]))
        snapped = nw.snap(network, np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
        tm = mx.travel_matrices(network, snapped)
        bands = [(0.0, np.asarray(tm.duration_s, dtype=float))]
        if traffic is not None:
            bands = [(b.start_s, np.asarray(mx.travel_matrices(
                network, snapped, edge_duration_s=tr.edge_times(network, b)).duration_s,
                dtype=float)) for b in traffic.bands(plan_date)]
        leave = _secs(route["leave"])
        ret = _secs(route["return"])
        if leave < shift_start - TOL_S:
            errs.append(f"route {rid}: leaves {route['leave']} before the shift")
        if ret > shift_end + policy.overtime_s + TOL_S:
            errs.append(f"route {rid}: returns {route['return']} after the shift")
        limits = [x for x in [policy.max_work_s, *(c.max_work_s for c in crew)] if x is not None]
        max_work = min(limits) if limits else None
        if max_work is not None and ret - leave > max_work + policy.overtime_s + TOL_S:
            errs.append(f"route {rid}: works {(ret - leave) / 3600:.2f} h > max")
        breaks = [(_secs(b["start"]), _secs(b["end"])) for b in route["breaks"]]
        # the lunch break is owed by a crew whose shift can hold it wholly (a break of lunch_s
        # starting inside the lunch window); an evening shift that misses the window owes none
        lunch_start = max(policy.lunch_window.start_s, shift_start)
        owes_lunch = (policy.lunch_s > 0 and lunch_start <= policy.lunch_window.end_s
                      and lunch_start + policy.lunch_s <= shift_end)
        if owes_lunch:
            ok = [b for b in breaks if b[1] - b[0] >= policy.lunch_s - TOL_S
                  and policy.lunch_window.start_s - TOL_S <= b[0]
                  <= policy.lunch_window.end_s + TOL_S]
            # a break may be taken before leaving or after returning (then it is not work time)
            if not ok:
                errs.append(f"route {rid}: no lunch break of {policy.lunch_s // 60} min in "
                            f"{policy.lunch_window.label()} (breaks {route['breaks']})")
        t = float(leave)
        for k, s in enumerate(stops):
            cid = s["case_id"]
            case = by_id.get(cid)
            if case is None:
                continue
            earliest = _arrive_s(bands, k, k + 1, t)
            arrive, start, depart = _secs(s["arrive"]), _secs(s["start"]), _secs(s["depart"])
            if not np.isfinite(earliest):
                errs.append(f"{cid}: unreachable from the previous place")
                continue
            # breaks taken on the way delay arrival (and a later start never arrives earlier);
            # never earlier than possible
            if arrive < earliest - TOL_S * 2:
                errs.append(f"{cid}: arrives {s['arrive']} but cannot be there before "
                            f"{earliest / 3600:.3f} h")
            if start < arrive - TOL_S:
                errs.append(f"{cid}: starts before arriving")
            if abs(depart - (start + case.service_s)) > TOL_S:
                errs.append(f"{cid}: service time {depart - start} s != {case.service_s} s")
            wins = case.windows_on(plan_date)
            if not any(w.start_s - TOL_S <= start <= w.end_s + TOL_S for w in wins):
                errs.append(f"{cid}: starts {s['start']} outside its windows "
                            f"{[w.label() for w in wins]}")
            if policy.contact_start_s is not None and not case.consent_outside_hours and (
                    start < policy.contact_start_s - TOL_S
                    or depart > policy.contact_end_s + TOL_S):
                errs.append(f"{cid}: visit {s['start']}-{s['depart']} outside legal hours")
            if not shift_start - TOL_S <= start <= shift_end + policy.overtime_s + TOL_S:
                errs.append(f"{cid}: starts {s['start']} outside the shift")
            for bs, be in breaks:
                if bs < depart - TOL_S and be > start + TOL_S:
                    errs.append(f"{cid}: service overlaps the break {bs}-{be}")
            if case.skill and not any(case.skill in c.skills for c in crew):
                errs.append(f"{cid}: needs skill {case.skill}, route {rid} has none")
            if case.fixed_collector and case.fixed_collector not in members:
                errs.append(f"{cid}: fixed to {case.fixed_collector}, visited by {rid}")
            if case.district and any(c.districts and case.district not in c.districts
                                     for c in crew):
                errs.append(f"{cid}: district {case.district} outside route {rid}'s territory")
            if (policy.cooldown_days and case.last_visit_date is not None
                    and 0 <= (plan_date - case.last_visit_date).days < policy.cooldown_days):
                errs.append(f"{cid}: inside the {policy.cooldown_days}-day cooldown")
            if (policy.respect_promises and case.promise_date and not case.promise_broken
                    and case.promise_date > plan_date):
                errs.append(f"{cid}: open promise until {case.promise_date}")
            t = depart
        if ret < _arrive_s(bands, len(stops), len(stops) + 1, t) - TOL_S * 2:
            errs.append(f"route {rid}: returns {route['return']} before it can be back")
    return errs
