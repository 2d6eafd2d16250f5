"""What-if scenarios: run variants of a day's plan side by side and compare them.

A scenario file (YAML or TOML, documented in ``docs/whatif.md``) holds a *base* (cases,
collectors, date, policy, weighting, solver budget...) and named *variants* that override any of
it, or edit the team (add or remove collectors, change shifts or maximum visits). Every variant is
planned by the daily pipeline (`optimizer.plan`) in its own process, written like a daily plan
(``<out>/<variant>/``) and compared in ``report.html``, ``kpis.csv`` and ``kpis.json``.

Sound comparisons:

- every variant is planned from the same inputs and seed; with ``max_solutions`` (and
  ``max_warm_iterations`` or ``solver: {warm_start: none}``) the numbers do not depend on machine
  load;
- a variant that only adds capacity (collectors, longer shifts, more visits, longer working time)
  starts its search from the base plan (`optimizer.routing.solve.solve` ``initial``, routes
  matched by crew id; the base teams are kept as they are and new collectors form their own
  teams). If its plan is still worth less than the base's, the base routes, re-checked in the
  variant's problem by `optimizer.routing.verify.check_solution`, are used instead; ``kpis`` says
  which (``routes_from``);
- a variant with a bad value is reported (file, variant, key, value, fix) and marked failed; the
  other variants still run.

Public API: `load_scenario`, `run_scenario`, `plan_kpis`, `run_cli`.
"""

from __future__ import annotations

import csv
import difflib
import json
import logging
import re
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from optimizer import atomic, executor
from optimizer import options as opt
from optimizer import plan as pl
from optimizer.errors import CollectorRoutesError, ConfigError, InputError
from optimizer.errors import Issue
from optimizer.executor import LocalProcesses
from optimizer.geo import geocode as gc
from optimizer.geo import network as nw
from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS, read_inputs
from optimizer.model import Case, Collector, Place, Plan, Solution, TimeWindow
from optimizer.outputs.write import write_plan
from optimizer.settings import (
    OPTIONS,
    OptionProblem,
    PlanSettings,
    build_settings,
    option_defaults,
)
from optimizer.planning import rules
from optimizer.whatif import report

log = logging.getLogger(__name__)

BASE = "base"
#: days-past-due buckets of the KPIs: (label, lowest dpd, highest dpd or None); dpd 0 counts as 1-30
DPD_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("91+", 91, None),
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DAY_S = 24 * 3600


# =========================================================================== scenario file


def _shift_hours(v: object):
    return opt.number(0.0, strict=True, hi=24.0)(v)


def _extend_hours(v: object):
    return opt.number(-24.0, hi=24.0)(v)


def _remove(v: object):
    """``[ids]``, ``{ids: [...]}`` or ``{count: n}`` (the last n of the list, file order)."""
    if isinstance(v, str):
        v = [v]
    if isinstance(v, list):
        if not all(isinstance(x, str | int) for x in v):
            raise opt.Bad("is not a list of collector ids", "give ids, e.g. [K14, K15]")
        return {"ids": tuple(str(x) for x in v)}
    if isinstance(v, Mapping):
        unknown = sorted(set(v) - {"ids", "count"})
        if unknown or len(v) != 1:
            raise opt.Bad(f"has keys {sorted(v)}", "give either {ids: [K14, K15]} or {count: 5}")
        if "count" in v:
            return {"count": opt.whole(1)(v["count"])}
        return _remove(v["ids"])
    raise opt.Bad("is not a list of ids or {count: n}", "give [K14, K15] or {count: 5}")


_ADD_KEYS = ("count", "like", "start", "end", "shift", "max_visits", "skills", "districts",
             "id_prefix", "name")


def _place(v: object) -> Place:
    if isinstance(v, str) and v.strip():
        return Place(address=v.strip())
    if isinstance(v, Mapping):
        if set(v) <= {"lat", "lon"} and {"lat", "lon"} <= set(v):
            lat = opt.number(-90.0, hi=90.0)(v["lat"])
            lon = opt.number(-180.0, hi=180.0)(v["lon"])
            return Place(lat=lat, lon=lon)
        if set(v) == {"address"} and isinstance(v["address"], str):
            return Place(address=v["address"])
    raise opt.Bad("is not a place", "give {lat: 30.72, lon: 104.07}, {address: ...} or an address")


def _add_one(v: object) -> dict:
    if not isinstance(v, Mapping):
        raise opt.Bad("is not a mapping", "give e.g. {count: 5, like: K01} or {count: 2, start: "
                   "{lat: 30.72, lon: 104.07}, shift: \"08:30-17:30\"}")
    unknown = sorted(set(v) - set(_ADD_KEYS))
    if unknown:
        raise opt.Bad(f"has unknown key(s) {', '.join(map(str, unknown))}",
                   f"use only: {', '.join(_ADD_KEYS)}")
    out: dict = {"count": opt.whole(1)(v.get("count", 1))}
    if "like" in v:
        out["like"] = opt.text(v["like"])
    elif "start" not in v or "shift" not in v:
        raise opt.Bad("needs `like` (a collector to copy) or both `start` and `shift`",
                   "add like: K01, or start: {lat: .., lon: ..} and shift: \"08:30-17:30\"")
    for k in ("start", "end"):
        if k in v:
            out[k] = _place(v[k])
    if "shift" in v:
        out["shift"] = opt.time_range()(v["shift"])
    if "max_visits" in v:
        out["max_visits"] = opt.whole(1, allow_none=True)(v["max_visits"])
    for k in ("skills", "districts"):
        if k in v:
            items = v[k] if isinstance(v[k], list) else str(v[k]).split(",")
            out[k] = frozenset(str(x).strip() for x in items if str(x).strip())
    if "id_prefix" in v:
        prefix = opt.text(v["id_prefix"])
        if not _NAME_RE.match(prefix + "1"):
            raise opt.Bad("id_prefix has characters not allowed in an id",
                       "use letters, digits, '-', '_' or '.'")
        out["id_prefix"] = prefix
    if "name" in v:
        out["name"] = opt.text(v["name"])
    return out


def _add(v: object):
    items = v if isinstance(v, list) else [v]
    return tuple(_add_one(x) for x in items)


@dataclass(frozen=True)
class _Key:
    kind: str  # "input", "setting", "policy", "weighting", "solver", "team", "run"
    parse: Callable[[object], object]
    doc: str


# the plan options (`optimizer.settings.OPTIONS`), under the names of `collector-routes plan`
# (underscores for dashes), then the keys of what-if runs and team edits
KEYS: dict[str, _Key] = {
    **{o.name: _Key("input" if o.apply is None else "setting", o.parse, o.help)
       for o in OPTIONS.values() if o.scenario},
    "description": _Key("run", opt.text, "one line shown in the report"),
    "start_from_base": _Key("run", opt.choice(("auto", "always", "never")),
                            "warm start from the base plan: auto = when only capacity is added"),
    "add_collectors": _Key("team", _add, "collectors to add"),
    "remove_collectors": _Key("team", _remove, "collectors to remove: ids or {count: n}"),
    "shift_hours": _Key("team", _shift_hours, "every shift lasts this many hours from its start"),
    "extend_shift_hours": _Key("team", _extend_hours, "move every shift end by this many hours"),
    "max_visits": _Key("team", opt.whole(1, allow_none=True), "every collector's maximum visits"),
}
TEAM_KEYS = frozenset(k for k, v in KEYS.items() if v.kind == "team")
#: overrides that can only add capacity (checked again on the data: see `_capacity_check`)
CAPACITY_KEYS = frozenset({"add_collectors", "shift_hours", "extend_shift_hours", "max_visits",
                           "max_work_hours", "time_limit", "seed", "max_solutions",
                           "max_warm_iterations", "solver", "maps", "tiles", "self_contained",
                           "description", "start_from_base"})
#: how a variant is run when its keys do not say
DEFAULT_START = "auto"


@dataclass(frozen=True)
class Variant:
    """One variant of a scenario, resolved: its inputs, settings and team edits.

    ``issues`` lists what is wrong with it (it is then not run); ``overrides`` is the set of keys
    the variant itself sets (empty for the base).
    """

    name: str
    description: str = ""
    overrides: tuple[str, ...] = ()
    values: Mapping[str, object] = field(default_factory=dict)  # base merged with overrides
    issues: tuple[Issue, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A scenario file: the base and its variants (the base first, named ``base``)."""

    name: str
    path: Path
    description: str
    variants: tuple[Variant, ...]

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


def _read_file(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"scenario file {path} not found") from None
    try:
        data = (tomllib.loads(text) if path.suffix.lower() == ".toml" else _yaml(text))
    except Exception as exc:  # noqa: BLE001 - YAML and TOML raise their own types
        raise ConfigError(f"{path.name}: cannot be read as "
                          f"{'TOML' if path.suffix.lower() == '.toml' else 'YAML'}: {exc}; "
                          "fix the syntax (see docs/whatif.md)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: the file must be a mapping with `base` and `variants`; "
                          "see docs/whatif.md")
    return data


def _yaml(text: str):
    return yaml.safe_load(text)


def _parse_section(section: object, where: str, file: str, *, allow_team: bool
                   ) -> tuple[dict, list[Issue]]:
    issues: list[Issue] = []
    if section is None:
        return {}, issues
    if not isinstance(section, Mapping):
        return {}, [Issue(file, 0, where, "", repr(section), "is not a mapping of settings",
                          "write `key: value` lines under it")]
    out: dict = {}
    for key, raw in section.items():
        spec = KEYS.get(str(key))
        if spec is None:
            close = _close(str(key))
            issues.append(Issue(file, 0, where, str(key), _show(raw), "unknown key",
                                f"did you mean `{close}`?" if close else
                                "see docs/whatif.md for the keys"))
            continue
        if spec.kind == "team" and not allow_team:
            issues.append(Issue(file, 0, where, str(key), _show(raw),
                                "team edits belong to variants",
                                "edit the base's collector list, or move the key to a variant"))
            continue
        try:
            out[str(key)] = spec.parse(raw)
        except opt.Bad as bad:
            issues.append(Issue(file, 0, where, str(key), _show(raw), bad.message, bad.fix))
    return out, issues


def _close(key: str) -> str | None:
    m = difflib.get_close_matches(key, list(KEYS), n=1, cutoff=0.6)
    return m[0] if m else None


def _show(v: object) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)
    return s if len(s) <= 80 else s[:77] + "..."


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Problems of the base or of the file's layout raise `InputError` (nothing can run); problems
    of a variant are kept in its ``issues`` (that variant is reported failed, the others run).
    """
    path = Path(path)
    data = _read_file(path)
    file = path.name
    issues: list[Issue] = []
    unknown = sorted(set(data) - {"name", "description", "base", "variants"})
    for k in unknown:
        issues.append(Issue(file, 0, "", str(k), _show(data[k]), "unknown top-level key",
                            "use name, description, base and variants; put settings under base"))
    name = str(data.get("name") or path.stem)
    if not _NAME_RE.match(name):
        issues.append(Issue(file, 0, "", "name", name, "not usable as a folder name",
                            "use letters, digits, '-', '_' or '.'"))
    base, base_issues = _parse_section(data.get("base"), "base", file, allow_team=False)
    issues += base_issues
    raw_variants = data.get("variants") or {}
    if not isinstance(raw_variants, Mapping):
        issues.append(Issue(file, 0, "", "variants", _show(raw_variants),
                            "is not a mapping of named variants",
                            "write `variants:` then one `name: {overrides}` per variant"))
        raw_variants = {}
    if issues:
        raise InputError(issues)
    merged_base = dict(base)
    variants = [Variant(BASE, str(base.get("description", "")), (), merged_base, ())]
    for vname, section in raw_variants.items():
        vname = str(vname)
        where = f"variant {vname}"
        v_issues: list[Issue] = []
        if vname == BASE:
            v_issues.append(Issue(file, 0, where, "", "", f"the name `{BASE}` is reserved for "
                                  "the base", "rename the variant"))
        elif not _NAME_RE.match(vname):
            v_issues.append(Issue(file, 0, where, "", vname, "the name is not usable as a "
                                  "folder name", "use letters, digits, '-', '_' or '.'"))
        over, more = _parse_section(section, where, file, allow_team=True)
        v_issues += more
        if "shift_hours" in over and "extend_shift_hours" in over:
            v_issues.append(Issue(file, 0, where, "extend_shift_hours",
                                  _show(over["extend_shift_hours"]),
                                  "shift_hours and extend_shift_hours together are ambiguous",
                                  "keep one of them"))
        values = {**merged_base, **over}
        if not v_issues:
            v_issues += _check_settings(values, file, where, path.parent)
        variants.append(Variant(vname, str(over.get("description", "")),
                                tuple(sorted(over)), values, tuple(v_issues)))
    base_check = _check_settings(merged_base, file, "base", path.parent)
    if base_check:
        raise InputError(base_check)
    if len({v.name for v in variants}) != len(variants):
        raise InputError([Issue(file, 0, "", "variants", "", "duplicate variant names",
                                "give every variant its own name")])
    return Scenario(name, path, str(data.get("description", "")), tuple(variants))


def _check_settings(values: Mapping[str, Any], file: str, where: str, root: Path
                    ) -> list[Issue]:
    """Problems found when turning the merged values into settings (cross-key rules), or else
    of the files they name."""
    _, problems = _settings(values, root)
    if problems:
        return [Issue(file, 0, where, p.option, _show(p.value), p.message, p.fix)
                for p in problems]
    for key in ("cases", "collectors", "osm"):
        p = values.get(key)
        if p is not None and not (root / p).is_file():
            return [Issue(file, 0, where, key, str(p), f"file {root / p} not found",
                          "give a path relative to the scenario file")]
    return []


def scenario_defaults() -> PlanSettings:
    """The settings of keys a scenario does not give: those of the command line, but 15 s of
    search per variant in one process (the variants are the parallelism)."""
    base = option_defaults()
    return replace(base, solver=replace(base.solver, time_limit_s=15.0, num_workers=1))


def _settings(values: Mapping[str, Any], root: Path) -> tuple[PlanSettings, list[OptionProblem]]:
    return build_settings({k: v for k, v in values.items() if k in OPTIONS},
                          base=scenario_defaults(), root=root)


def settings_for(values: Mapping[str, Any], root: Path) -> PlanSettings:
    """`PlanSettings` of merged scenario values (checked by `load_scenario`)."""
    return _settings(values, root)[0]


# =========================================================================== team edits


def edit_collectors(collectors: Sequence[Collector], values: Mapping[str, object], *,
                    file: str = "", where: str = "") -> tuple[Collector, ...]:
    """Apply a variant's team edits: remove, then add, then shifts and maximum visits.

    Raises `InputError` naming the key and value when an edit cannot be applied (an unknown id,
    more removals than collectors, a shift past midnight...).
    """
    issues: list[Issue] = []
    out = list(collectors)
    rem = values.get("remove_collectors")
    if rem:
        if "ids" in rem:  # type: ignore[operator]
            ids = set(rem["ids"])  # type: ignore[index]
            missing = sorted(ids - {c.collector_id for c in out})
            if missing:
                issues.append(Issue(file, 0, where, "remove_collectors", ", ".join(missing),
                                    "no such collector", "name collectors of the list"))
            out = [c for c in out if c.collector_id not in ids]
        else:
            n = rem["count"]  # type: ignore[index]
            if n >= len(out):
                issues.append(Issue(file, 0, where, "remove_collectors", f"count {n}",
                                    f"would remove all {len(out)} collectors",
                                    f"remove fewer than {len(out)}"))
            else:
                out = out[:len(out) - n]
    taken = {c.collector_id for c in collectors}
    for spec in values.get("add_collectors") or ():  # type: ignore[union-attr]
        like = None
        if "like" in spec:
            like = next((c for c in collectors if c.collector_id == spec["like"]), None)
            if like is None:
                issues.append(Issue(file, 0, where, "add_collectors.like", spec["like"],
                                    "no such collector", "copy a collector of the list"))
                continue
        prefix = spec.get("id_prefix", "NEW")
        for _ in range(spec["count"]):
            k = 1
            while f"{prefix}{k:02d}" in taken:
                k += 1
            cid = f"{prefix}{k:02d}"
            taken.add(cid)
            start = spec.get("start") or (like.start if like else Place())
            out.append(Collector(
                collector_id=cid, start=start,
                end=spec.get("end") or (like.end if like and "start" not in spec else start),
                shift=spec.get("shift") or like.shift,  # type: ignore[union-attr]
                max_visits=spec["max_visits"] if "max_visits" in spec else (
                    like.max_visits if like else None),
                name=spec.get("name", ""),
                skills=spec.get("skills", like.skills if like else frozenset()),
                districts=spec.get("districts", like.districts if like else frozenset()),
                workdays=like.workdays if like else frozenset(range(7)),
            ))
    hours = values.get("shift_hours")
    ext = values.get("extend_shift_hours")
    if hours is not None or ext is not None:
        edited = []
        for c in out:
            end = (c.shift.start_s + round(float(hours) * 3600) if hours is not None  # type: ignore
                   else c.shift.end_s + round(float(ext) * 3600))  # type: ignore[arg-type]
            key = "shift_hours" if hours is not None else "extend_shift_hours"
            if end > _DAY_S or end <= c.shift.start_s:
                issues.append(Issue(file, 0, where, key, _show(hours if hours is not None
                                                               else ext),
                                    f"collector {c.collector_id}'s shift {c.shift.label()} would "
                                    f"end at {end / 3600:.2f} h (before its start or after "
                                    "midnight)", "choose hours that keep shifts within the day"))
                edited.append(c)
                continue
            edited.append(replace(c, shift=TimeWindow(c.shift.start_s, end)))
        out = edited
    if "max_visits" in values:
        out = [replace(c, max_visits=values["max_visits"]) for c in out]  # type: ignore[arg-type]
    if issues:
        raise InputError(issues)
    return tuple(out)


def _capacity_check(base: Sequence[Collector], variant: Sequence[Collector], base_settings,
                    settings, overrides: Sequence[str]) -> str:
    """Why the variant is not a pure capacity increase over the base ('' if it is)."""
    other = sorted(set(overrides) - CAPACITY_KEYS)
    if other:
        return "changes " + ", ".join(other)
    vs = {c.collector_id: c for c in variant}
    for c in base:
        v = vs.get(c.collector_id)
        if v is None:
            return f"removes {c.collector_id}"
        if (v.start, v.end, v.skills, v.districts, v.workdays, v.team) != (
                c.start, c.end, c.skills, c.districts, c.workdays, c.team):
            return f"changes {c.collector_id}'s place, skills or area"
        if v.shift.start_s > c.shift.start_s or v.shift.end_s < c.shift.end_s:
            return f"shortens {c.collector_id}'s shift ({c.shift.label()} -> {v.shift.label()})"
        if c.max_visits is not None and v.max_visits is not None and v.max_visits < c.max_visits:
            return f"lowers {c.collector_id}'s max visits"
        if c.max_visits is None and v.max_visits is not None:
            return f"limits {c.collector_id}'s visits"
    bw, vw = base_settings.policy.max_work_s, settings.policy.max_work_s
    if bw is None and vw is not None or (bw is not None and vw is not None and vw < bw):
        return "shortens the working day"
    return ""


def _keep_base_crews(base: Sequence[Collector], variant: Sequence[Collector], settings
                     ) -> tuple[Collector, ...]:
    """The variant's collectors ordered and grouped so that the base's crews stay as they are.

    Adding collectors must not reshuffle the existing teams (the base routes are then routes of
    the same crews in the variant): every collector of a base team gets the team's id in its
    ``team`` field, listed in crew order; the added collectors follow and form their own teams.
    """
    crews = rules.form_crews(base, settings.policy, plan_date=settings.plan_date)
    vs = {c.collector_id: c for c in variant}
    out: list[Collector] = []
    placed: set[str] = set()
    for crew in crews:
        for m in crew.members:
            v = vs[m.collector_id]
            out.append(replace(v, team=crew.crew_id) if len(crew.members) > 1 or m.team else v)
            placed.add(m.collector_id)
    out += [c for c in variant if c.collector_id not in placed]
    return tuple(out)


# =========================================================================== KPIs


def _bucket(dpd: int) -> str:
    for label, lo, hi in DPD_BUCKETS:
        if dpd >= lo and (hi is None or dpd <= hi):
            return label
    return DPD_BUCKETS[0][0]  # negative dpd (not overdue yet) counts with the youngest


def plan_kpis(plan: Plan) -> dict:
    """The comparison figures of one plan: those of its summary (``summary.json``) and the
    visits by days past due.

    ``value_total`` is the value of every input case (visited or not), ``utilisation`` of a route
    its working time (leave to return) over its shift (0 for an idle crew). ``travel_h`` and
    ``travel_km`` are the routes' travel, rounded once (not the summary's rounded seconds).
    """
    s = plan.summary
    if s is None:
        raise ValueError("a plan without its summary: plan it with optimizer.plan")
    by_bucket = {label: 0 for label, _, _ in DPD_BUCKETS}
    value_bucket = {label: 0.0 for label, _, _ in DPD_BUCKETS}
    for r in plan.routes:
        for stop in r.stops:
            b = _bucket(stop.case.days_past_due)
            by_bucket[b] += 1
            value_bucket[b] += stop.value
    util = {p.collector_id: p.utilisation for p in s.per_collector}
    u = list(util.values())
    return {
        "collectors": s.collectors,
        "routes": s.routes,
        "routes_used": sum(1 for p in s.per_collector if p.cases_visited),
        "cases_total": s.cases_total,
        "cases_visited": s.cases_visited,
        "visited_by_dpd": by_bucket,
        "value_by_dpd": {k: round(v, 2) for k, v in value_bucket.items()},
        "value_total": s.value_total,
        "value_visited": s.value_visited,
        "value_share": s.value_share,
        "travel_s_total": s.travel_s_total,
        "travel_m_total": s.travel_m_total,
        "travel_h": round(sum(r.travel_s for r in plan.routes) / 3600, 2),
        "travel_km": round(sum(r.travel_m for r in plan.routes) / 1000, 1),
        "utilisation": util,
        "utilisation_mean": s.utilisation_mean,
        "utilisation_min": min(u) if u else 0.0,
        "utilisation_max": max(u) if u else 0.0,
        "utilisation_spread": s.utilisation_spread,
        "unassigned_by_reason": dict(s.unassigned_by_reason),
    }


def compare_to_base(rows: list[dict]) -> None:
    """Add ``value_vs_base`` and, for headcount variants, ``marginal_value_per_collector``.

    The marginal value of a collector is ``(value_variant - value_base) / (collectors_variant -
    collectors_base)``; only computed when the variant values the same cases the same way as the
    base (same ``value_total``), else the values are not comparable.
    """
    base = next((r for r in rows if r["variant"] == BASE and r["status"] == "ok"), None)
    for r in rows:
        r["value_vs_base"] = None
        r["marginal_value_per_collector"] = None
        if base is None or r["status"] != "ok":
            continue
        if abs(r["value_total"] - base["value_total"]) > 0.01:
            continue
        r["value_vs_base"] = round(r["value_visited"] - base["value_visited"], 2)
        dn = r["collectors"] - base["collectors"]
        if dn:
            r["marginal_value_per_collector"] = round(
                (r["value_visited"] - base["value_visited"]) / dn, 2)


# =========================================================================== running


@dataclass(frozen=True)
class _Job:
    name: str
    cases: tuple[Case, ...]
    collectors: tuple[Collector, ...]
    settings: PlanSettings
    out_dir: Path
    collectors_file: str
    maps: bool
    tiles: str
    self_contained: bool
    capacity_only: bool
    why_not_capacity: str
    start_from_base: bool
    guard: bool
    initial: Solution | None = None
    base_value: float | None = None  # unrounded value visited by the base plan


@dataclass(frozen=True)
class Outcome:
    """What one variant produced: its KPI row, and its solution (for warm starts)."""

    name: str
    row: dict
    solution: Solution | None = None
    value: float | None = None  # unrounded value visited


class _QueueProgress:
    """Progress reporter of a worker: forwards step names to the parent (`executor.emit`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def step(self, description: str, total: int | None = None):
        @contextmanager
        def cm():
            _post(self.name, description)
            yield lambda n=1: None
        return cm()


def _post(name: str, message: str) -> None:
    executor.emit((name, message))  # to the parent's ``on_event``; nothing when run here


def _guard_text(guard: pl.Guard | None) -> str:
    if guard is None:
        return ""
    if not guard.kept:
        return f"base routes infeasible in this variant: {guard.problem}"
    return (f"the searches' best plan was worth {guard.found_value:,.2f}, less than the base "
            f"{guard.initial_value:,.2f}; the base routes were re-verified and kept")


def run_variant(job: _Job) -> Outcome:
    """Plan (through the daily pipeline, `optimizer.plan`), write and measure one variant (runs
    in a worker process).

    A variant that waited for the base starts a search from the base plan too
    (``start_from_base``) and keeps the base routes if it finds less (``guard``).
    """
    initial = None
    if job.initial is not None and (job.start_from_base or job.guard):
        initial = pl.Initial(job.initial, label="base plan",
                             search="also" if job.start_from_base else "none",
                             guard_value=job.base_value if job.guard else None)
    progress = _QueueProgress(job.name)
    day = pl.solve_day(job.cases, job.collectors, job.settings,
                       collectors_file=job.collectors_file, initial=initial, progress=progress)
    plan, found = day.plan, day.search
    if found.guard is not None and not found.guard.kept:
        log.warning("variant %s: value %.2f below the base %.2f and %s", job.name,
                    found.guard.found_value, found.guard.initial_value, _guard_text(found.guard))
    out = job.settings.output
    write_plan(plan, job.out_dir, tiles=out.tiles, self_contained=out.self_contained,
               maps=out.maps, progress=progress)
    summary = plan.summary
    assert summary is not None  # the pipeline's plans carry their summary
    row = {"variant": job.name, "status": "ok", "error": "",
           "plan_date": summary.plan_date.isoformat(), "policy": summary.policy,
           "weighting": summary.weighting, **plan_kpis(plan),
           "capacity_only": job.capacity_only, "not_capacity_only": job.why_not_capacity,
           "searches": found.searches, "started_from": found.started_from,
           "routes_from": found.routes_from, "guard": _guard_text(found.guard),
           "solver": found.solution.solver, "search_stop": found.search_stop,
           "objective": (round(found.solution.objective, 2) if found.routes_from == "solver"
                         else None),
           "wall_s": summary.wall_s, "plan_dir": job.out_dir.name}
    return Outcome(job.name, row, found.solution, sum(r.value for r in plan.routes))


def _run_variant_safe(job: _Job) -> Outcome:
    """`run_variant` in a worker process: every failure becomes a failed row."""
    _post(job.name, "Starting")
    try:
        res = run_variant(job)
    except (CollectorRoutesError, ValueError, FileNotFoundError) as exc:
        res = Outcome(job.name, _failed_row(job.name, str(exc)))
    except Exception as exc:  # noqa: BLE001 - one variant's bug must not stop the others
        log.exception("variant %s failed", job.name)
        res = Outcome(job.name, _failed_row(job.name, f"{type(exc).__name__}: {exc}"))
    _post(job.name, "done" if res.row["status"] == "ok" else "failed")
    return res


def _failed_row(name: str, error: str) -> dict:
    return {"variant": name, "status": "failed", "error": error}


@dataclass(frozen=True)
class WhatIfResult:
    """The comparison: one KPI row per variant (base first), and where it was written."""

    scenario: Scenario
    out_dir: Path
    rows: tuple[dict, ...]
    wall_s: float

    @property
    def failed(self) -> tuple[dict, ...]:
        return tuple(r for r in self.rows if r["status"] != "ok")


def _prepare_jobs(scenario: Scenario, out: Path) -> tuple[list[_Job], list[dict]]:
    """Resolve every variant's inputs; variants with problems become failed rows."""
    root = scenario.path.parent
    file = scenario.path.name
    jobs: list[_Job] = []
    failed: list[dict] = []
    cache: dict[tuple, tuple] = {}
    base_v = scenario.variant(BASE)
    base_settings = settings_for(base_v.values, root)
    base_collectors: tuple[Collector, ...] = ()
    for v in scenario.variants:
        if v.issues:
            failed.append(_failed_row(v.name, _issues_text(v.issues)))
            continue
        vals = v.values
        cpath = root / vals["cases"] if vals.get("cases") else DEMO_CASES  # type: ignore
        kpath = root / vals["collectors"] if vals.get("collectors") else DEMO_COLLECTORS  # type: ignore
        try:
            key = (cpath.resolve(), kpath.resolve())
            if key not in cache:
                cache[key] = read_inputs(cpath, kpath)
            cases, collectors = cache[key]
            if v.name == BASE:
                base_collectors = collectors
            collectors = edit_collectors(collectors, vals, file=file, where=f"variant {v.name}")
            settings = settings_for(vals, root)
        except InputError as exc:
            if v.name == BASE:
                raise
            failed.append(_failed_row(v.name, str(exc)))
            continue
        why = "" if v.name == BASE else _capacity_check(
            base_collectors, collectors, base_settings, settings, v.overrides)
        if v.name == BASE:
            why = "the base"
        k = settings.policy.min_team_size
        new = len({c.collector_id for c in collectors} - {c.collector_id for c in base_collectors})
        if not why and k > 1 and 0 < new < k:
            # too few to form a team of their own: they join existing teams, which changes them
            why = f"{new} new collector(s) cannot form a team of {k} and join existing teams"
        cap = not why
        if cap:
            collectors = _keep_base_crews(base_collectors, collectors, settings)
        mode = vals.get("start_from_base", DEFAULT_START)
        start = v.name != BASE and (mode == "always" or (mode == "auto" and cap))
        guard = cap and mode != "never"
        jobs.append(_Job(
            name=v.name, cases=cases, collectors=collectors, settings=settings,
            out_dir=out / v.name, collectors_file=kpath.name, maps=settings.output.maps,
            tiles=settings.output.tiles, self_contained=settings.output.self_contained,
            capacity_only=cap, why_not_capacity=why, start_from_base=start, guard=guard))
    return jobs, failed


def _issues_text(issues: Sequence[Issue]) -> str:
    n = len(issues)
    return f"{n} problem{'s' if n != 1 else ''}:\n" + "\n".join(f"  - {i}" for i in issues)


def _prewarm(jobs: Sequence[_Job]) -> None:
    """Build the network and geocoding caches once, before the variants share them."""
    seen_net: set[tuple] = set()
    seen_geo: set[tuple] = set()
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
                 on_event: Callable[[str, str], None] | None = None) -> WhatIfResult:
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
    on_event
        Called in this process as ``on_event(variant, message)`` when a variant starts a step,
        finishes (``"done"``) or fails (``"failed"``); for progress displays.

    Raises
    ------
    InputError
        The scenario file or its base has problems (every one listed); nothing was run.
    """
    t0 = time.perf_counter()
    scenario = load_scenario(path)
    out_dir = Path(out) if out is not None else Path("maps") / f"whatif-{scenario.name}"
    out_dir.mkdir(parents=True, exist_ok=True)
    emit = on_event or (lambda name, msg: None)
    jobs, failed = _prepare_jobs(scenario, out_dir)
    for row in failed:
        emit(row["variant"], "failed")
    emit("", "Preparing road network and geocoding caches")
    _prewarm(jobs)
    emit("", "Planning")
    outcomes: dict[str, Outcome] = {r["variant"]: Outcome(r["variant"], r) for r in failed}
    base_job = next((j for j in jobs if j.name == BASE), None)
    waiting = [j for j in jobs if j.start_from_base or j.guard]
    ready = [j for j in jobs if j not in waiting]
    if base_job is None:  # the base failed to resolve: nothing to start from
        ready += waiting
        waiting = []
    ready.sort(key=lambda j: j.name != BASE)  # the base first (stable: file order otherwise)

    def on_event(event: tuple[str, str]) -> None:
        emit(*event)

    def collect(batch: Sequence[_Job], results) -> None:
        for job, res in zip(batch, results, strict=True):
            if isinstance(res, Exception):  # e.g. its worker process died
                res = Outcome(job.name, _failed_row(job.name, f"{type(res).__name__}: {res}"))
                emit(job.name, "failed")
            outcomes[job.name] = res

    # leaving the block on an error or Ctrl-C stops the variants still running
    with LocalProcesses(max(1, int(workers))) as pool:
        first = pool.map(_run_variant_safe, ready, on_event=on_event)
        later: list[_Job] = []
        if waiting:
            # the base is the first job: the variants held back for it start once it is done
            collect(ready[:1], [next(first)])
            res = outcomes[ready[0].name]
            ok = res.row["status"] == "ok"
            later = [replace(j, initial=res.solution if ok else None,
                             base_value=res.value if ok else None) for j in waiting]
        second = pool.map(_run_variant_safe, later, on_event=on_event)
        collect(ready[1:] if waiting else ready, first)
        collect(later, second)
    order = [v.name for v in scenario.variants]
    rows = [outcomes[n].row for n in order]
    compare_to_base(rows)
    for r in rows:
        if r["status"] == "ok" and r["variant"] == BASE:
            r["capacity_only"] = False
    wall = round(time.perf_counter() - t0, 1)
    result = WhatIfResult(scenario, out_dir, tuple(rows), wall)
    write_kpis(result)
    report.write_report(result, out_dir / "report.html",
                        dpd_buckets=[b for b, _, _ in DPD_BUCKETS])
    return result


# =========================================================================== outputs

CSV_FIELDS = (
    "variant", "status", "description", "collectors", "routes", "routes_used", "cases_total",
    "cases_visited", *(f"visited_dpd_{b}" for b, _, _ in DPD_BUCKETS), "value_total",
    "value_visited", "value_share", "value_vs_base", "marginal_value_per_collector",
    "travel_h", "travel_km", "utilisation_mean", "utilisation_min", "utilisation_max",
    "utilisation_spread",
)
CSV_TAIL = ("capacity_only", "searches", "started_from", "routes_from", "solver", "search_stop",
            "objective", "wall_s", "plan_dir", "error")


def write_kpis(result: WhatIfResult) -> tuple[Path, Path]:
    """Write ``kpis.json`` (everything) and ``kpis.csv`` (one flat row per variant)."""
    descriptions = {v.name: v.description for v in result.scenario.variants}
    rows = [{**r, "description": descriptions.get(r["variant"], "")} for r in result.rows]
    data = {
        "scenario": result.scenario.name,
        "file": str(result.scenario.path),
        "description": result.scenario.description,
        "base": BASE,
        "dpd_buckets": [b for b, _, _ in DPD_BUCKETS],
        "wall_s": result.wall_s,
        "variants": rows,
    }
    jpath = result.out_dir / "kpis.json"
    atomic.write_file(jpath, json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"))
    reasons = sorted({k for r in rows for k in r.get("unassigned_by_reason", {})})
    fields = (*CSV_FIELDS, *(f"unassigned_{k}" for k in reasons), *CSV_TAIL)
    cpath = result.out_dir / "kpis.csv"
    with atomic.replaced_file(cpath) as tmp, tmp.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            flat = dict(r)
            for b, _, _ in DPD_BUCKETS:
                flat[f"visited_dpd_{b}"] = r.get("visited_by_dpd", {}).get(b, "")
            for k in reasons:
                flat[f"unassigned_{k}"] = r.get("unassigned_by_reason", {}).get(k, 0) if (
                    r["status"] == "ok") else ""
            w.writerow({k: ("" if flat.get(k) is None else flat.get(k, "")) for k in fields})
    return jpath, cpath


# =========================================================================== command line


def run_cli(file: Path, *, out: Path | None = None, workers: int = 2, quiet: bool = False,
            max_variants: int = opt.MAX_VARIANTS) -> int:
    """``collector-routes whatif FILE``: run, show progress and the comparison table.

    A file with more than `max_variants` variants asks for confirmation on a terminal and stops
    elsewhere (each variant is a full plan: hundreds of them take hours).

    Returns the exit code: 0 every variant planned, 1 some variant failed (the others are in the
    report), 2 the scenario file or its base is invalid, or too many variants (nothing run).
    """
    err = Console(stderr=True)
    try:
        names = [v.name for v in load_scenario(file).variants]
    except InputError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exc.exit_code
    n = len(names) - 1  # the base is always planned
    if n > max_variants and not _confirm(err, f"{Path(file).name} has {n} variants (more than "
                                         f"--max-variants {max_variants}); run them all?"):
        err.print(f"error: {Path(file).name} has {n} variants, more than --max-variants "
                  f"{max_variants}; fix: pass --max-variants {n} to run them all, or split the "
                  "file", markup=False, highlight=False, soft_wrap=True)
        return 2
    with Progress(SpinnerColumn(), TextColumn("{task.fields[variant]:<16}"),
                  TextColumn("{task.description}"), BarColumn(bar_width=12),
                  TimeElapsedColumn(), console=err, disable=quiet) as prog:
        tasks = {n: prog.add_task("queued", total=1, variant=n, start=False) for n in names}
        overall = prog.add_task("", total=len(names), variant="all variants")

        def on_event(name: str, msg: str) -> None:
            if name not in tasks:
                prog.update(overall, description=msg)
                return
            t = tasks[name]
            if msg in ("done", "failed"):
                prog.update(t, description=msg, completed=1)
                prog.stop_task(t)
                prog.advance(overall)
            else:
                prog.start_task(t)
                prog.update(t, description=msg)

        try:
            result = run_scenario(file, out=out, workers=workers, on_event=on_event)
        except InputError as exc:
            prog.stop()
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            return exc.exit_code
    _print_table(result)
    return 1 if result.failed else 0


def _confirm(err, question: str) -> bool:
    """Ask on a terminal; anywhere else (a script, a pipe, CI) the answer is no."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    err.print(question + " [y/N] ", end="", markup=False, highlight=False)
    try:
        answer = sys.stdin.readline()
    except (OSError, EOFError):
        return False
    return answer.strip().lower() in ("y", "yes")


def _print_table(result: WhatIfResult) -> None:
    con = Console()
    if not con.is_terminal:
        con = Console(width=160)  # a log file or pipe: do not wrap the table at 80 columns
    t = Table(title=f"What-if {result.scenario.name}: {len(result.rows)} variants, "
                    f"{result.wall_s:.0f} s")
    cols = ("variant", "collectors", "visited", "value visited", "share", "vs base",
            "per extra collector", "travel h", "travel km", "util mean", "util spread", "from")
    for c in cols:
        t.add_column(c, justify="left" if c in ("variant", "from") else "right")
    for r in result.rows:
        if r["status"] != "ok":
            t.add_row(r["variant"], "", "", "[red]failed[/red]", *[""] * 8)
            continue
        t.add_row(
            r["variant"], str(r["collectors"]), str(r["cases_visited"]),
            f"{r['value_visited']:,.0f}", f"{r['value_share']:.1%}",
            "" if r["value_vs_base"] is None else f"{r['value_vs_base']:+,.0f}",
            "" if r["marginal_value_per_collector"] is None else
            f"{r['marginal_value_per_collector']:,.0f}",
            f"{r['travel_h']:.1f}", f"{r['travel_km']:.1f}", f"{r['utilisation_mean']:.0%}",
            f"{r['utilisation_spread']:.0%}",
            r["started_from"] + (" (guard)" if r["routes_from"] != "solver" else ""))
    con.print(t)
    for r in result.failed:
        con.print(f"[red]variant {r['variant']} failed:[/red]")
        con.print(r["error"], markup=False, highlight=False)
    con.print(f"Report: {result.out_dir / 'report.html'} (kpis.csv, kpis.json, one folder per "
              "variant)")
