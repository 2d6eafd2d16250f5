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
  starts its search from the base plan (`optimizer.solve.solve` ``initial``, routes matched by crew
  id; the base teams are kept as they are and new collectors form their own teams). If its plan is
  still worth less than the base's, the base routes, re-checked in the variant's problem by
  `optimizer.verify.check_solution`, are used instead; ``kpis`` says which (``routes_from``);
- a variant with a bad value is reported (file, variant, key, value, fix) and marked failed; the
  other variants still run.

Public API: `load_scenario`, `run_scenario`, `plan_kpis`, `run_cli`.
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import json
import logging
import multiprocessing as mp
import os
import re
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from optimizer import atomic
from optimizer import options as opt
from optimizer.children import die_with_parent, pdeathsig_safe
from optimizer import rules
from optimizer.errors import CollectorRoutesError, ConfigError, InputError
from optimizer.errors import Problem as Issue
from optimizer.model import Case, Collector, Place, Plan, Route, Solution, TimeWindow

log = logging.getLogger(__name__)

BASE = "base"
#: days-past-due buckets of the KPIs: (label, lowest dpd, highest dpd or None); dpd 0 counts as 1-30
DPD_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("91+", 91, None),
)
#: most variants `run_cli` runs without asking (``--max-variants``)
MAX_VARIANTS = 20
#: most collectors a variant adds or removes at once (a larger number is a typo: 100,000 new
#: collectors would plan for hours)
MAX_COLLECTORS = 1000
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DAY_S = 24 * 3600


# =========================================================================== scenario file


def _path(v: object):
    if opt.is_none(v):
        return None
    if not isinstance(v, str):
        raise opt.Bad("is not a file path", "give a path, relative to the scenario file")
    return Path(v)


def _solver(v: object):
    from optimizer import solve as sv

    if not isinstance(v, Mapping):
        raise opt.Bad("is not a mapping", "give solver options as a mapping, e.g. "
                   "{num_workers: 1, warm_start: none}")
    known = {f.name for f in sv.SolveSettings.__dataclass_fields__.values()} - {
        "time_limit_s", "seed"}
    unknown = sorted(set(v) - known)
    if unknown:
        raise opt.Bad(f"unknown solver option(s) {', '.join(map(str, unknown))}",
                   f"use time_limit/seed for those, else one of: {', '.join(sorted(known))}")
    try:
        sv.SolveSettings(**dict(v))
    except (TypeError, ValueError) as exc:
        raise opt.Bad(str(exc), "fix the solver option") from None
    return dict(v)


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
            return {"count": opt.whole(1, hi=MAX_COLLECTORS)(v["count"])}
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
    out: dict = {"count": opt.whole(1, hi=MAX_COLLECTORS)(v.get("count", 1))}
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


# keys shared with `collector-routes plan` use the same names (underscores for dashes)
_PLAN = opt.PLAN_VALUES
KEYS: dict[str, _Key] = {
    "cases": _Key("input", _path, "case list (.csv/.xlsx), relative to the scenario file"),
    "collectors": _Key("input", _path, "collector list, relative to the scenario file"),
    "date": _Key("setting", opt.day, "day to plan, YYYY-MM-DD"),
    "policy": _Key("policy", opt.choice(tuple(rules.PRESETS)), "collection rules preset"),
    "team_size": _Key("policy", _PLAN["team_size"], "collectors per visit"),
    "contact_hours": _Key("policy", opt.time_range(allow_none=True), "legal contact hours or none"),
    "lunch": _Key("policy", opt.time_range(), "lunch break window HH:MM-HH:MM"),
    "lunch_minutes": _Key("policy", _PLAN["lunch_minutes"], "lunch break minutes, 0 = none"),
    "max_work_hours": _Key("policy", _PLAN["max_work_hours"],
                           "longest working day, hours, or none"),
    "overtime_minutes": _Key("policy", _PLAN["overtime_minutes"],
                             "overtime allowed past the shift"),
    "overtime_cost_per_hour": _Key("policy", _PLAN["overtime_cost_per_hour"],
                                   "cost of an hour of overtime"),
    "cooldown_days": _Key("policy", _PLAN["cooldown_days"], "no visit within N days of the last"),
    "preferred_cost": _Key("policy", _PLAN["preferred_cost"],
                           "cost of not using the preferred collector"),
    "balance": _Key("policy", opt.choice(("none", "hours")), "balance working hours"),
    "balance_cost_per_hour": _Key("policy", _PLAN["balance_cost_per_hour"],
                                  "cost per hour of spread"),
    "weighting": _Key("weighting", opt.choice(("expected_recovery", "amount", "urgency", "count")),
                      "what a visit is worth"),
    "curve": _Key("weighting", opt.curve, "collectability curve 'dpd:share,...'"),
    "broken_promise_factor": _Key("weighting", opt.number(0.0), "value factor for broken promises"),
    "time_limit": _Key("solver", _PLAN["time_limit"], "solver seconds per variant"),
    "seed": _Key("solver", _PLAN["seed"], "random seed"),
    "max_solutions": _Key("solver", _PLAN["max_solutions"],
                          "deterministic mode: stop after N solutions"),
    "max_warm_iterations": _Key("solver", opt.whole(1, allow_none=True),
                                "deterministic mode of the PyVRP warm start"),
    "solver": _Key("solver", _solver, "further optimizer.solve.SolveSettings options"),
    "travel_cost_per_hour": _Key("setting", _PLAN["travel_cost_per_hour"],
                                 "cost of an hour of travel"),
    "mode": _Key("setting", opt.choice(("drive", "bike", "walk")), "travel mode"),
    "speed_factor": _Key("setting", _PLAN["speed_factor"], "factor on all speeds"),
    "geocoder": _Key("setting", opt.text, "offline or a geopy provider name"),
    "user_agent": _Key("setting", opt.text, "user agent of online geocoders"),
    "osm": _Key("setting", _path, "OSM extract, relative to the scenario file"),
    "place": _Key("setting", opt.text, "download roads for a place name (online)"),
    "cache_dir": _Key("setting", _path, "cache for networks and geocoding"),
    "max_snap_m": _Key("setting", _PLAN["max_snap_m"], "farthest distance to a road, m"),
    "maps": _Key("run", opt.boolean, "write the maps of each variant"),
    "tiles": _Key("run", opt.choice(("osm", "amap")), "map tiles"),
    "self_contained": _Key("run", opt.boolean, "inline map scripts into every page"),
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
DEFAULTS: dict[str, object] = {
    "policy": "china", "weighting": "expected_recovery", "time_limit": 15.0, "seed": 0,
    "travel_cost_per_hour": 30.0, "mode": "drive", "speed_factor": 1.0, "geocoder": "offline",
    "maps": True, "tiles": "osm", "self_contained": False, "start_from_base": "auto",
}


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
        raise FileNotFoundError(f"scenario file {path} not found; fix: give the path of an "
                                "existing scenario file (.yaml or .toml)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: the file is not UTF-8 text (byte {exc.start}); fix: "
                          "save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path.name}: cannot be read ({exc.strerror or exc}); fix: give a "
                          "scenario file you can read (.yaml or .toml)") from None
    try:
        data = (tomllib.loads(text) if path.suffix.lower() == ".toml" else _yaml(text))
    except Exception as exc:  # noqa: BLE001 - YAML and TOML raise their own types
        raise ConfigError(f"{path.name}: cannot be read as "
                          f"{'TOML' if path.suffix.lower() == '.toml' else 'YAML'}: {exc}; "
                          "fix the syntax (see docs/whatif.md)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: the file must be a mapping with `base` and `variants`; "
                          "fix: write `base:` and `variants:` at the top level (see "
                          "docs/whatif.md)")
    return data


def _yaml(text: str):
    """YAML with two of its surprises turned off: a key written twice is an error (PyYAML
    keeps the last silently, so a variant would vanish), and dates stay text until the key's
    own check reads them (a bad date then names its key)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        seen: dict = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is written twice (lines {seen[key]} and "
                    f"{key_node.start_mark.line + 1}); fix: keep one, or rename one",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return loader.construct_mapping(node)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass


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
    import difflib

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
    merged_base = {**DEFAULTS, **base}
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


def _check_settings(values: Mapping[str, object], file: str, where: str, root: Path
                    ) -> list[Issue]:
    """Problems found when turning the merged values into settings (cross-key rules)."""
    try:
        settings_for(values, root)
    except _KeyProblem as exc:
        return [Issue(file, 0, where, exc.key, _show(values.get(exc.key)), exc.message, exc.fix)]
    for key in ("cases", "collectors", "osm"):
        p = values.get(key)
        if p is not None and not (root / p).is_file():  # type: ignore[operator]
            return [Issue(file, 0, where, key, str(p),
                          f"file {root / p} not found",  # type: ignore[operator]
                          "give a path relative to the scenario file")]
    return []


class _KeyProblem(Exception):
    def __init__(self, key: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.key, self.message, self.fix = key, message, fix


def settings_for(values: Mapping[str, object], root: Path):
    """`PlanSettings` of merged scenario values; `_KeyProblem` names the key at fault."""
    from optimizer.plan import PlanSettings, next_working_day
    from optimizer.weigh import Weighting

    try:
        w = {"preset": values["weighting"]}
        if "curve" in values:
            w["curve"] = values["curve"]
        if "broken_promise_factor" in values:
            w["broken_promise_factor"] = values["broken_promise_factor"]
        weighting = Weighting(**w)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise _KeyProblem("curve" if "curve" in values else "weighting", str(exc),
                          "fix the weighting") from None
    over: dict = {}
    if "team_size" in values:
        over["min_team_size"] = values["team_size"]
    if "contact_hours" in values:
        ch = values["contact_hours"]
        over["contact_start_s"] = ch.start_s if ch else None  # type: ignore[attr-defined]
        over["contact_end_s"] = ch.end_s if ch else None  # type: ignore[attr-defined]
    if "lunch" in values:
        over["lunch_window"] = values["lunch"]
    if "lunch_minutes" in values:
        over["lunch_s"] = int(values["lunch_minutes"]) * 60  # type: ignore[call-overload]
    if "max_work_hours" in values:
        mw = values["max_work_hours"]
        over["max_work_s"] = None if mw is None else int(float(mw) * 3600)  # type: ignore
    if "overtime_minutes" in values:
        over["overtime_s"] = int(values["overtime_minutes"]) * 60  # type: ignore[call-overload]
    for key, fld in (("overtime_cost_per_hour", "overtime_cost_per_h"),
                     ("cooldown_days", "cooldown_days"), ("preferred_cost", "preferred_cost"),
                     ("balance", "balance"), ("balance_cost_per_hour", "balance_cost_per_h")):
        if key in values:
            over[fld] = values[key]
    try:
        policy = rules.policy_preset(str(values["policy"]), **over)
    except ConfigError as exc:
        raise _KeyProblem("policy", str(exc), "fix the policy overrides") from None
    solver = dict(values.get("solver") or {})  # type: ignore[call-overload]
    solver.setdefault("num_workers", 1)  # the variants are the parallelism
    for key in ("max_solutions", "max_warm_iterations"):
        if values.get(key) is not None:
            solver[key] = values[key]

    def rel(key: str) -> Path | None:
        p = values.get(key)
        return None if p is None else root / p  # type: ignore[operator]

    return PlanSettings(
        plan_date=values.get("date") or next_working_day(),  # type: ignore[arg-type]
        weighting=weighting, policy=policy, time_limit_s=float(values["time_limit"]),  # type: ignore
        seed=int(values["seed"]), travel_cost_per_h=float(values["travel_cost_per_hour"]),  # type: ignore
        geocoder=str(values["geocoder"]), user_agent=values.get("user_agent"),  # type: ignore
        osm_path=rel("osm"), place=values.get("place"), mode=str(values["mode"]),  # type: ignore
        speed_factor=float(values["speed_factor"]), cache_dir=rel("cache_dir"),  # type: ignore
        max_snap_m=float(values.get("max_snap_m", 1000.0)),  # type: ignore[arg-type]
        solver_options=solver,
    )


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
    """The comparison figures of one plan, computed from its routes and unassigned cases.

    ``value_total`` is the value of every input case (visited or not), ``utilisation`` of a route
    is its working time (leave to return) over its shift (0 for an idle crew), as in
    ``summary.json``.
    """
    by_bucket = {label: 0 for label, _, _ in DPD_BUCKETS}
    value_bucket = {label: 0.0 for label, _, _ in DPD_BUCKETS}
    util: dict[str, float] = {}
    for r in plan.routes:
        for s in r.stops:
            b = _bucket(s.case.days_past_due)
            by_bucket[b] += 1
            value_bucket[b] += s.value
        shift_s = r.collector.shift.end_s - r.collector.shift.start_s
        work_s = max(r.return_s - r.leave_s, 0.0) if r.stops else 0.0
        util[r.collector.collector_id] = round(work_s / shift_s, 4) if shift_s else 0.0
    reasons: dict[str, int] = {}
    for u in plan.unassigned:
        reasons[u.reason_code] = reasons.get(u.reason_code, 0) + 1
    value_visited = sum(r.value for r in plan.routes)
    value_total = value_visited + sum(u.value for u in plan.unassigned)
    visited = sum(len(r.stops) for r in plan.routes)
    travel_s = sum(r.travel_s for r in plan.routes)
    travel_m = sum(r.travel_m for r in plan.routes)
    u = list(util.values())
    return {
        "collectors": sum(len(r.members) or 1 for r in plan.routes),
        "routes": len(plan.routes),
        "routes_used": sum(1 for r in plan.routes if r.stops),
        "cases_total": visited + len(plan.unassigned),
        "cases_visited": visited,
        "visited_by_dpd": by_bucket,
        "value_by_dpd": {k: round(v, 2) for k, v in value_bucket.items()},
        "value_total": round(value_total, 2),
        "value_visited": round(value_visited, 2),
        "value_share": round(value_visited / value_total, 4) if value_total else 0.0,
        "travel_s_total": round(travel_s, 1),
        "travel_m_total": round(travel_m, 1),
        "travel_h": round(travel_s / 3600, 2),
        "travel_km": round(travel_m / 1000, 1),
        "utilisation": util,
        "utilisation_mean": round(float(np.mean(u)), 4) if u else 0.0,
        "utilisation_min": round(min(u), 4) if u else 0.0,
        "utilisation_max": round(max(u), 4) if u else 0.0,
        "utilisation_spread": round(max(u) - min(u), 4) if u else 0.0,
        "unassigned_by_reason": dict(sorted(reasons.items())),
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
    settings: object  # PlanSettings
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


_queue = None  # the parent's event queue, set in each worker process by `_init_worker`


def _init_worker(queue, parent_pid: int, kernel_signal: bool) -> None:
    import signal

    global _queue
    die_with_parent(parent_pid, kernel_signal=kernel_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool
    _queue = queue


class _QueueProgress:
    """Progress reporter of a worker: forwards step names to the parent."""

    def __init__(self, name: str) -> None:
        self.name = name

    def step(self, description: str, total: int | None = None):
        from contextlib import contextmanager

        @contextmanager
        def cm():
            _post(self.name, description)
            yield lambda n=1: None
        return cm()


def _post(name: str, message: str) -> None:
    if _queue is not None:
        try:
            _queue.put((name, message))
        except Exception:  # noqa: BLE001 - progress is only a display
            pass


def _empty_route(problem, k: int) -> Route:
    v = problem.vehicles[k]
    return Route(v.vehicle_id, (), float(v.shift.start_s), float(v.shift.start_s), 0.0, 0.0)


def base_routes_in(problem, base: Solution) -> Solution:
    """The base plan's routes as a solution of a variant's `problem` (matched by crew id)."""
    by_id = {r.vehicle_id: r for r in base.routes}
    routes = tuple(by_id[v.vehicle_id] if v.vehicle_id in by_id else _empty_route(problem, k)
                   for k, v in enumerate(problem.vehicles))
    visited = {s.visit_id for r in routes for s in r.stops}
    dropped = tuple(v.visit_id for v in problem.visits if v.visit_id not in visited)
    return Solution(routes=routes, dropped=dropped, solver="base plan")


def _visited_indices(problem, solution: Solution) -> list[int]:
    index = {v.visit_id: i for i, v in enumerate(problem.visits)}
    return [index[s.visit_id] for r in solution.routes for s in r.stops]


def run_variant(job: _Job) -> Outcome:
    """Plan, guard, write and measure one variant (runs in a worker process)."""
    from optimizer import plan as pl
    from optimizer import solve as sv
    from optimizer import verify
    from optimizer.export import write_plan

    t0 = time.perf_counter()
    st = job.settings
    progress = _QueueProgress(job.name)
    initial = job.initial if job.start_from_base else None
    crews = rules.form_crews(job.collectors, st.policy, plan_date=st.plan_date,  # type: ignore
                             collectors_file=job.collectors_file)
    loc = pl.locate(job.cases, crews, st, collectors_file=job.collectors_file,  # type: ignore
                    progress=progress)
    built = pl.build_problem(job.cases, loc, st)  # type: ignore[arg-type]
    problem = built.problem
    ss = sv.SolveSettings(time_limit_s=st.time_limit_s, seed=st.seed,  # type: ignore
                          **st.solver_options)  # type: ignore[attr-defined]
    # the variant's own search, as `collector-routes plan` would run it; with a base plan to
    # start from, a second search from it, and the better of the two (ties: from the base)
    searches = [("scratch", sv.solve(problem, ss, progress=progress))]
    if initial is not None:
        searches.insert(0, ("base plan", sv.solve(problem, ss, initial=initial,
                                                   progress=progress)))
    started_from, solution = min(searches, key=lambda t: round(t[1].objective * ss.value_scale))
    # with max_solutions a plan is reproducible only if that limit, not the clock, ended the search
    timed_out = any(sol.wall_s >= ss.time_limit_s - 0.05 for _, sol in searches)
    search_stop = "time limit" if timed_out or not ss.max_solutions else "solution limit"
    errs = verify.check_solution(problem, solution)
    if errs:
        raise CollectorRoutesError("the solver's plan failed re-simulation: " + "; ".join(
            errs[:5]))
    routes_from = "solver"
    guard = ""
    value = sum(problem.visits[i].value for i in _visited_indices(problem, solution))
    if job.guard and job.initial is not None and job.base_value is not None:
        if value < job.base_value - 1e-9 * max(1.0, abs(job.base_value)):
            fallback = base_routes_in(problem, job.initial)
            errs = verify.check_solution(problem, fallback)
            if errs:
                guard = f"base routes infeasible in this variant: {errs[0]}"
                log.warning("variant %s: value %.2f below the base %.2f and %s", job.name,
                            value, job.base_value, guard)
            else:
                _post(job.name, "Base plan kept (the searches found less)")
                guard = (f"the searches' best plan was worth {value:,.2f}, less than the base "
                         f"{job.base_value:,.2f}; the base routes were re-verified and kept")
                solution = fallback
                routes_from = "base plan (guard)"
    plan = pl.assemble(job.cases, loc, built, solution, st, progress=progress)  # type: ignore
    value = sum(r.value for r in plan.routes)
    plan.summary["wall_s"] = round(time.perf_counter() - t0, 2)
    write_plan(plan, job.out_dir, tiles=job.tiles, self_contained=job.self_contained,
               maps=job.maps, progress=progress)
    row = {"variant": job.name, "status": "ok", "error": "",
           "plan_date": plan.summary.get("plan_date", ""), "policy": plan.summary.get("policy"),
           "weighting": plan.summary.get("weighting"), **plan_kpis(plan),
           "capacity_only": job.capacity_only, "not_capacity_only": job.why_not_capacity,
           "searches": len(searches), "started_from": started_from,
           "routes_from": routes_from, "guard": guard, "solver": solution.solver,
           "search_stop": search_stop,
           "objective": round(solution.objective, 2) if routes_from == "solver" else None,
           "wall_s": plan.summary["wall_s"], "plan_dir": job.out_dir.name}
    return Outcome(job.name, row, solution, value)


def _run_variant_safe(job: _Job) -> Outcome:
    try:
        return run_variant(job)
    except (CollectorRoutesError, ValueError, FileNotFoundError) as exc:
        return Outcome(job.name, _failed_row(job.name, str(exc)))
    except Exception as exc:  # noqa: BLE001 - one variant's bug must not stop the others
        log.exception("variant %s failed", job.name)
        return Outcome(job.name, _failed_row(job.name, f"{type(exc).__name__}: {exc}"))


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
    from optimizer.inputs import DEMO_CASES, DEMO_COLLECTORS, read_inputs

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
        mode = vals.get("start_from_base", "auto")
        start = v.name != BASE and (mode == "always" or (mode == "auto" and cap))
        guard = cap and mode != "never"
        jobs.append(_Job(
            name=v.name, cases=cases, collectors=collectors, settings=settings,
            out_dir=out / v.name, collectors_file=kpath.name, maps=bool(vals["maps"]),
            tiles=str(vals["tiles"]), self_contained=bool(vals["self_contained"]),
            capacity_only=cap, why_not_capacity=why, start_from_base=start, guard=guard))
    return jobs, failed


def _issues_text(issues: Sequence[Issue]) -> str:
    n = len(issues)
    return f"{n} problem{'s' if n != 1 else ''}:\n" + "\n".join(f"  - {i}" for i in issues)


def _prewarm(jobs: Sequence[_Job]) -> None:
    """Build the network and geocoding caches once, before the variants share them."""
    from optimizer import geocode as gc
    from optimizer import network as nw

    seen_net: set[tuple] = set()
    seen_geo: set[tuple] = set()
    for job in jobs:
        st = job.settings
        nkey = (st.osm_path, st.place, st.bbox, st.mode, st.cache_dir)  # type: ignore
        if nkey not in seen_net:
            seen_net.add(nkey)
            nw.load_network(st.osm_path, place=st.place, bbox=st.bbox, mode=st.mode,  # type: ignore
                            cache_dir=st.cache_dir)  # type: ignore[attr-defined]
        gkey = (st.geocoder, st.osm_path, st.cache_dir, id(job.cases))  # type: ignore
        if gkey not in seen_geo:
            seen_geo.add(gkey)
            geo = gc.make_geocoder(st.geocoder, osm_path=st.osm_path,  # type: ignore
                                   cache_dir=st.cache_dir, user_agent=st.user_agent)  # type: ignore
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
        `optimizer.export.write_plan` writes a day), ``report.html``, ``kpis.csv`` and
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
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    workers = max(1, int(workers))
    before = set(mp.active_children())
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(queue, os.getpid(), pdeathsig_safe())) as pool:
        try:
            running: dict[cf.Future, str] = {}
            while ready or waiting or running:
                while ready and len(running) < workers:
                    job = ready.pop(0)
                    emit(job.name, "Starting")
                    try:
                        running[pool.submit(_run_variant_safe, job)] = job.name
                    except cf.BrokenExecutor as exc:  # a worker process died (e.g. out of memory)
                        outcomes[job.name] = Outcome(job.name, _failed_row(
                            job.name, f"not run: a worker process died ({exc})"))
                        emit(job.name, "failed")
                done, _ = cf.wait(list(running), timeout=0.25, return_when=cf.FIRST_COMPLETED)
                _drain(queue, emit)
                for fut in done:
                    name = running.pop(fut)
                    try:
                        res = fut.result()
                    except Exception as exc:  # noqa: BLE001 - e.g. a worker process died
                        res = Outcome(name, _failed_row(name, f"{type(exc).__name__}: {exc}"))
                    outcomes[name] = res
                    emit(name, "done" if res.row["status"] == "ok" else "failed")
                    if name == BASE:
                        ok = res.row["status"] == "ok"
                        # the dependents go first: they were held back for the base
                        ready[:0] = [replace(j, initial=res.solution if ok else None,
                                             base_value=res.value if ok else None)
                                     for j in waiting]
                        waiting = []
        except BaseException:
            # Ctrl-C (or a bug here): stop the variants now rather than wait for them to finish
            for child in set(mp.active_children()) - before:
                child.kill()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        _drain(queue, emit)
    order = [v.name for v in scenario.variants]
    rows = [outcomes[n].row for n in order]
    compare_to_base(rows)
    for r in rows:
        if r["status"] == "ok" and r["variant"] == BASE:
            r["capacity_only"] = False
    wall = round(time.perf_counter() - t0, 1)
    result = WhatIfResult(scenario, out_dir, tuple(rows), wall)
    write_kpis(result)
    from optimizer import report

    report.write_report(result, out_dir / "report.html")
    return result


def _drain(queue, emit) -> None:
    import queue as q

    while True:
        try:
            name, msg = queue.get_nowait()
        except (q.Empty, OSError, EOFError, ValueError):
            return
        emit(name, msg)


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
            max_variants: int = MAX_VARIANTS) -> int:
    """``collector-routes whatif FILE``: run, show progress and the comparison table.

    A file with more than `max_variants` variants asks for confirmation on a terminal and stops
    elsewhere (each variant is a full plan: hundreds of them take hours).

    Returns the exit code: 0 every variant planned, 1 some variant failed (the others are in the
    report), 2 the scenario file or its base is invalid, or too many variants (nothing run).
    """
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from optimizer.progress import plain_console, printable

    err = plain_console(stderr=True)
    try:
        names = [v.name for v in load_scenario(file).variants]
    except InputError as exc:
        err.print(f"error: {printable(exc)}", soft_wrap=True)
        return exc.exit_code
    n = len(names) - 1  # the base is always planned
    if n > max_variants and not _confirm(err, f"{Path(file).name} has {n} variants (more than "
                                         f"--max-variants {max_variants}); run them all?"):
        err.print(f"error: {Path(file).name} has {n} variants, more than --max-variants "
                  f"{max_variants}; fix: pass --max-variants {n} to run them all, or split the "
                  "file", markup=False, highlight=False, soft_wrap=True)
        return 2
    with Progress(SpinnerColumn(), TextColumn("{task.fields[variant]:<16}", markup=False),
                  TextColumn("{task.description}", markup=False), BarColumn(bar_width=12),
                  TimeElapsedColumn(), console=err, disable=quiet) as prog:
        tasks = {n: prog.add_task("queued", total=1, variant=printable(n), start=False)
                 for n in names}
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
            err.print(f"error: {printable(exc)}", soft_wrap=True)
            return exc.exit_code
    _print_table(result)
    return 1 if result.failed else 0


def _confirm(err, question: str) -> bool:
    """Ask on a terminal; anywhere else (a script, a pipe, CI) the answer is no."""
    import sys

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    err.print(question + " [y/N] ", end="", markup=False, highlight=False)
    try:
        answer = sys.stdin.readline()
    except (OSError, EOFError):
        return False
    return answer.strip().lower() in ("y", "yes")


def _print_table(result: WhatIfResult) -> None:
    from rich.table import Table
    from rich.text import Text

    from optimizer.progress import plain_console, printable

    con = plain_console()
    if not con.is_terminal:
        con = plain_console(width=160)  # a log file or pipe: do not wrap the table at 80 columns
    t = Table(title=f"What-if {result.scenario.name}: {len(result.rows)} variants, "
                    f"{result.wall_s:.0f} s")
    cols = ("variant", "collectors", "visited", "value visited", "share", "vs base",
            "per extra collector", "travel h", "travel km", "util mean", "util spread", "from")
    for c in cols:
        t.add_column(c, justify="left" if c in ("variant", "from") else "right")
    for r in result.rows:
        if r["status"] != "ok":
            t.add_row(printable(r["variant"]), "", "", Text("failed", style="red"), *[""] * 8)
            continue
        t.add_row(
            printable(r["variant"]), str(r["collectors"]), str(r["cases_visited"]),
            f"{r['value_visited']:,.0f}", f"{r['value_share']:.1%}",
            "" if r["value_vs_base"] is None else f"{r['value_vs_base']:+,.0f}",
            "" if r["marginal_value_per_collector"] is None else
            f"{r['marginal_value_per_collector']:,.0f}",
            f"{r['travel_h']:.1f}", f"{r['travel_km']:.1f}", f"{r['utilisation_mean']:.0%}",
            f"{r['utilisation_spread']:.0%}",
            r["started_from"] + (" (guard)" if r["routes_from"] != "solver" else ""))
    con.print(t)
    for r in result.failed:
        con.print(Text(f"variant {printable(r['variant'])} failed:", style="red"))
        con.print(printable(r["error"]))
    con.print(f"Report: {printable(result.out_dir / 'report.html')} (kpis.csv, kpis.json, one "
              "folder per "
              "variant)")
