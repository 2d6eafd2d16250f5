"""Plan settings: one typed, frozen schema, and the one place that reads options into it.

A plan depends on its cases and collectors and on `PlanSettings`: the day, what a visit is worth
(`Weighting`), the collection rules (`Policy`), the solver's budget (`SolveSettings`), the cost of
travel, geocoding, roads, the cache folder and what is written (`OutputSettings`). Every part is a
frozen dataclass; a changed setting is a copy (`dataclasses.replace`).

Options reach the settings from two places, the command line (``plan --cooldown-days 2``) and
what-if scenario files (``cooldown_days: 2``); both are a mapping of option names to raw values.
`OPTIONS` says once, for every option, how its value is checked and converted
(`optimizer.options`), which settings field it sets, its help text and where it is accepted: the
command line builds its arguments from it, the scenario files take its names as keys.
`parse_options` checks raw values (every problem at once), `build_settings` applies the checked
values to a base in the order of `OPTIONS` (a policy preset before its overrides, the solver
mapping before ``max_solutions``) and checks the rules across options; `load_settings` does both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from optimizer import options as opt
from optimizer.cluster import EXECUTORS, SCHEDULER_ADDRESS, ExecutorSettings
from optimizer.errors import ConfigError, InputError, Issue
from optimizer.geo import traffic
from optimizer.geo.traffic import TrafficProfile
from optimizer.planning import rules, weigh
from optimizer.planning.rules import Policy
from optimizer.planning.weigh import Weighting
from optimizer.routing.params import SolveSettings

__all__ = ["OPTIONS", "ExecutorSettings", "GeocodingSettings", "HorizonSettings", "Option",
           "OptionProblem", "OutputSettings", "PlanSettings", "RoadSettings", "SettingsError",
           "build_settings", "load_settings", "next_working_day", "option_defaults",
           "parse_options"]

MODES = ("drive", "bike", "walk")
MAX_DAYS = 14  # longest multi-day plan
#: default ``max_part_cases``: larger days are planned in parts of about this many cases
MAX_PART_CASES = 1000
#: default ``border_routes``: routes of each part planned again with the next part's
BORDER_ROUTES = 8
TILES = ("osm", "amap")


@dataclass(frozen=True)
class GeocodingSettings:
    """How addresses are found.

    Parameters
    ----------
    geocoder
        ``"offline"`` (the gazetteer of the OSM extract, default) or a geopy provider name.
    user_agent
        For online geocoders (Nominatim requires one).
    """

    geocoder: str = "offline"
    user_agent: str | None = None


@dataclass(frozen=True)
class RoadSettings:
    """The road network and how the places are put on it.

    Parameters
    ----------
    osm_path, place, bbox
        A local OSM file (default: the bundled extract), or online by place name or bounding box.
    mode, speed_factor
        Travel mode (drive, bike, walk) and a factor on all speeds (0.8 = 20 % slower).
    max_snap_m
        A case farther than this from the road network is left unassigned (off network), metres.
    traffic
        Travel by time of day: a speed profile (`optimizer.geo.traffic`), or None (default
        here; the command line's default is `DEFAULT_TRAFFIC`): every leg takes as long at any
        time.
    """

    osm_path: Path | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    mode: str = "drive"
    speed_factor: float = 1.0
    max_snap_m: float = 1000.0
    traffic: TrafficProfile | None = None


@dataclass(frozen=True)
class OutputSettings:
    """What is written besides the route sheets: the maps, their tiles, inlined scripts."""

    maps: bool = True
    tiles: str = "osm"
    self_contained: bool = False


@dataclass(frozen=True)
class HorizonSettings:
    """How the days of a multi-day plan are tied together (`optimizer.horizon`).

    Parameters
    ----------
    days
        Days planned, 1-14, from ``plan_date`` on; 1 = a day alone (default).
    revisit_gap_days
        None (default): a case is visited at most once in the horizon; else it may be visited
        again this many days after its last planned visit (and after the policy's cooldown).
    urgency_weight
        How much of a case's loss by waiting (its value today minus its value on its next
        possible day in the horizon; all of it when there is none) is added to the value the
        solver sees today; 0 = each day planned greedily on its own values. Default 1.
    """

    days: int = 1
    revisit_gap_days: int | None = None
    urgency_weight: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.days <= MAX_DAYS:
            raise ConfigError(f"days {self.days} must be 1..{MAX_DAYS}")
        if self.revisit_gap_days is not None and self.revisit_gap_days < 1:
            raise ConfigError(f"revisit_gap_days {self.revisit_gap_days} must be at least 1")
        if not 0 <= self.urgency_weight <= 10:
            raise ConfigError(f"urgency_weight {self.urgency_weight} must be 0..10")


@dataclass(frozen=True)
class PlanSettings:
    """Everything a plan depends on besides the cases and collectors.

    Parameters
    ----------
    plan_date
        The day planned; weekday windows and rules are resolved for it.
    weighting
        How case values are computed (`optimizer.planning.weigh`).
    policy
        Collection rules (`optimizer.planning.rules`); default none (the command line's default
        is the China preset, see `option_defaults`).
    solver
        Search budget, seed and strategy (`optimizer.routing.params.SolveSettings`); the same
        inputs and seed give the same plan when ``max_solutions`` ends the search.
    travel_cost_per_h
        Cost of one hour of travel in value units (currency): the plan visits a case only if it
        is worth its detour. Default 30.
    geocoding, roads
        How addresses are found (`GeocodingSettings`) and the road network (`RoadSettings`).
    cache_dir
        Cache for networks and geocoding (default ``~/.cache/collector-routes``).
    output
        Maps, tiles and inlined scripts of the written plan (`OutputSettings`); planning itself
        writes nothing.
    max_part_cases
        A day with more cases than this is planned in parts (`optimizer.partitioned`: split by
        collector territories, each part its own problem); ``None``: always one problem.
        Default `MAX_PART_CASES`.
    border_routes
        A day planned in parts is then improved across the parts' borders: neighbouring parts
        are paired, and each pair's ``border_routes`` routes nearest to the other part are
        planned again together with the cases both left out (`optimizer.partitioned`); 0: no
        border step. Default `BORDER_ROUTES`.
    cities
        A multi-city day (`optimizer.cities`): each city named in the files' ``city`` column
        and its OSM extract; empty (default): one road network for the day.
    executor
        Where the parallel work runs (`optimizer.cluster.ExecutorSettings`): this machine's
        processes (default) or a Dask cluster. It does not change the plan.
    horizon
        The days of a multi-day plan (`HorizonSettings`; default one day).
    """

    plan_date: date
    weighting: Weighting = Weighting()
    policy: Policy = rules.PRESETS["none"]
    solver: SolveSettings = SolveSettings()
    travel_cost_per_h: float = 30.0
    geocoding: GeocodingSettings = GeocodingSettings()
    roads: RoadSettings = RoadSettings()
    cache_dir: Path | None = None
    output: OutputSettings = OutputSettings()
    max_part_cases: int | None = MAX_PART_CASES
    border_routes: int = BORDER_ROUTES
    cities: tuple[tuple[str, Path], ...] = ()
    executor: ExecutorSettings = ExecutorSettings()
    horizon: HorizonSettings = HorizonSettings()


def next_working_day(today: date | None = None) -> date:
    """The next Monday-to-Friday day after `today` (default: today)."""
    d = (today or date.today()) + timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


#: ``--traffic`` when not given (see the README, "Traffic", for why)
DEFAULT_TRAFFIC = "none"


def traffic_profile(v: str | Path) -> TrafficProfile | None:
    """The profile an option value names: ``none`` (None), ``default`` or a file."""
    if isinstance(v, Path):
        return traffic.load_profile(v)
    return traffic.default_profile() if v == "default" else None


def option_defaults(today: date | None = None) -> PlanSettings:
    """The settings of the options not given: the next working day, the China policy and the
    `DEFAULT_TRAFFIC` profile (the rest as `PlanSettings` has it)."""
    return PlanSettings(plan_date=next_working_day(today), policy=rules.PRESETS["china"],
                        roads=RoadSettings(traffic=traffic_profile(DEFAULT_TRAFFIC)))


# --------------------------------------------------------------------------- the options

Apply = Callable[[PlanSettings, Any], PlanSettings]


@dataclass(frozen=True)
class Option:
    """One option: its check and conversion, the settings it changes, its help and sources.

    ``apply`` is None for the input files (``cases``, ``collectors``): checked here, read by the
    caller. ``cli`` is how the command line takes it (``value``: ``--name VALUE``, ``flag``:
    ``--name``, ``append``: repeatable ``--name VALUE``; None: not there); ``scenario`` whether
    a what-if scenario file takes it as a key. ``path``: a file or folder, relative to the
    scenario file (on the command line, to the current folder).
    """

    name: str
    parse: opt.Parser
    apply: Apply | None
    help: str
    group: str
    cli: Literal["value", "flag", "append"] | None = "value"
    scenario: bool = True
    metavar: str | None = None
    path: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _same(v: Any) -> Any:
    return v


def _part(part: str, **fields: Callable[[Any], Any]) -> Apply:
    """Set `fields` of one part of the settings (``policy``, ``solver``...), each converted from
    the option's value."""
    def apply(s: PlanSettings, v: Any) -> PlanSettings:
        new = replace(getattr(s, part), **{f: convert(v) for f, convert in fields.items()})
        return replace(s, **{part: new})
    return apply


def _top(field_name: str) -> Apply:
    def apply(s: PlanSettings, v: Any) -> PlanSettings:
        return replace(s, **{field_name: v})
    return apply


def _unless_none(apply: Apply) -> Apply:
    """None leaves the setting as it is (e.g. ``max_solutions: none`` = the solver's default)."""
    def guarded(s: PlanSettings, v: Any) -> PlanSettings:
        return s if v is None else apply(s, v)
    return guarded


def _preset(s: PlanSettings, name: str) -> PlanSettings:
    return replace(s, policy=rules.policy_preset(name))


def _solver_fields(s: PlanSettings, fields: Mapping[str, Any]) -> PlanSettings:
    return replace(s, solver=replace(s.solver, **fields))


_SOLVER_FIELDS = tuple(f.name for f in dataclasses.fields(SolveSettings)
                       if f.name not in ("time_limit_s", "seed", "stall_share"))


def _check_solver(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields, if `SolveSettings` takes them (raw values: it checks their ranges)."""
    try:
        SolveSettings(**fields)
    except (TypeError, ValueError) as exc:
        raise opt.Bad(str(exc), "give a value inside the range named (fields of SolveSettings "
                      "in optimizer/routing/params.py)") from None
    return dict(fields)


def solver_mapping(v: object) -> dict[str, Any]:
    """A mapping of `SolveSettings` fields (a scenario's ``solver:``), checked."""
    if not isinstance(v, Mapping):
        raise opt.Bad("is not a mapping", "give solver options as a mapping, e.g. "
                      "{num_workers: 1, warm_start: none}")
    unknown = sorted(map(str, set(v) - set(_SOLVER_FIELDS)))
    if unknown:
        raise opt.Bad(f"unknown solver option(s) {', '.join(unknown)}",
                      f"use time_limit/seed for those, else one of: "
                      f"{', '.join(sorted(_SOLVER_FIELDS))}")
    return _check_solver({str(k): x for k, x in v.items()})


def _literal(text: str) -> object:
    """The value of a ``KEY=VALUE`` text: null, true/false, a whole number, a number or text."""
    if text.lower() == "null":
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def solver_items(v: object) -> dict[str, Any]:
    """``--solver-option KEY=VALUE`` items (repeatable) as `SolveSettings` fields, checked."""
    items = [v] if isinstance(v, str) else list(v) if isinstance(v, Sequence) else [v]
    out: dict[str, Any] = {}
    for item in items:
        key, _, raw = str(item).partition("=")
        if key not in _SOLVER_FIELDS:
            raise opt.Bad(f"unknown field {key!r}", f"use one of {', '.join(_SOLVER_FIELDS)}",
                          value=item)
        out[key] = _literal(raw)
    return _check_solver(out)


_G_IN, _G_RULES, _G_ROADS, _G_SOLVER, _G_OUT = (
    "inputs", "value and rules", "roads and geocoding", "solver", "output")


def scheduler_address(v: object) -> str:
    """A Dask scheduler's address, ``tcp://HOST:PORT``."""
    text = opt.text(v)
    if not SCHEDULER_ADDRESS.match(text):
        raise opt.Bad("is not a scheduler address", "give tcp://HOST:PORT, e.g. "
                      "tcp://127.0.0.1:8786 (where `dask scheduler` listens)")
    return text


def city_extracts(v: object) -> tuple[tuple[str, Path], ...]:
    """``--city CITY=FILE`` items (repeatable): each city's name and its OSM extract; every
    bad item named in one problem."""
    items = [v] if isinstance(v, str) else list(v) if isinstance(v, Sequence) else [v]
    out: dict[str, Path] = {}
    bad: list[str] = []
    for item in items:
        name, sep, raw = str(item).partition("=")
        name = name.strip()
        if not sep or not name or not raw.strip():
            bad.append(f"{str(item)!r} is not CITY=FILE (e.g. porto=porto.osm.pbf)")
        elif name in out:
            bad.append(f"{str(item)!r} names the city {name!r} again")
        elif not Path(raw.strip()).is_file():
            bad.append(f"{str(item)!r} names no file {raw.strip()!r}")
        else:
            out[name] = Path(raw.strip())
    if bad:
        raise opt.Bad("; ".join(bad), "give each city once as CITY=FILE: the city as the case "
                      "and collector files write it, '=', and the path of its OSM extract "
                      "(.osm, .osm.bz2, .osm.pbf)", value=", ".join(map(str, items)))
    return tuple(out.items())


_COST = opt.number(0.0, hi=opt.MAX_COST)  # value units (per hour)


def _choices(options: Sequence[str]) -> str:
    return "{" + ",".join(options) + "}"


_OPTIONS: tuple[Option, ...] = (
    Option("cases", opt.path, None, "case list, .csv or .xlsx (default: the bundled demo, "
           "data/demo/cases.csv)", _G_IN, path=True),
    Option("collectors", opt.path, None, "collector list, .csv or .xlsx (default: "
           "data/demo/collectors.csv)", _G_IN, path=True),
    Option("date", opt.day, _top("plan_date"), "day to plan, YYYY-MM-DD (default: the next "
           "working day); with --days the first day", _G_IN),
    Option("days", opt.whole(1, hi=MAX_DAYS), _part("horizon", days=_same),
           f"plan this many days from --date, 1-{MAX_DAYS}: one folder per day in --out, each "
           "case visited once in the days (default 1); with --store, only the first day is "
           "published, the others are provisional", _G_IN, scenario=False),
    Option("revisit_gap_days", opt.whole(1, hi=MAX_DAYS, allow_none=True),
           _part("horizon", revisit_gap_days=_same),
           "with --days: a case may be visited again this many days after its last visit "
           "(default none = once)", _G_IN, scenario=False),
    Option("urgency_weight", opt.number(0.0, hi=10.0),
           _part("horizon", urgency_weight=_same),
           "with --days: share of a case's loss by waiting (value today minus on its next "
           "possible day, all of it on its last chance) added to its value for the solver, "
           "0-10 (default 1; 0 = each day greedy)", _G_IN, scenario=False),
    Option("weighting", opt.choice(weigh.PRESETS), _part("weighting", preset=_same),
           "what a visit is worth (default: expected_recovery = amount x collectability by days "
           "past due)", _G_RULES, metavar=_choices(weigh.PRESETS)),
    Option("curve", opt.curve, _part("weighting", curve=_same),
           "collectability curve 'dpd:share,...' (default "
           "'0:0.95,60:0.9,90:0.5,180:0.2,365:0.08,730:0.03')", _G_RULES),
    Option("broken_promise_factor", opt.number(0.0),
           _part("weighting", broken_promise_factor=_same),
           "value factor for broken promises (default 1.2)", _G_RULES, cli=None),
    Option("policy", opt.choice(tuple(rules.PRESETS)), _preset,
           "collection rules preset (default: china = no visits 22:00-08:00, two collectors per "
           "visit, 30-min lunch, 10 h max, 3-day cooldown)", _G_RULES,
           metavar=_choices(tuple(rules.PRESETS))),
    Option("team_size", opt.whole(1, hi=10), _part("policy", min_team_size=_same),
           "collectors per visit, 1-10 (overrides the policy)", _G_RULES),
    Option("contact_hours", opt.time_range(allow_none=True),
           _part("policy", contact_start_s=lambda w: None if w is None else w.start_s,
                 contact_end_s=lambda w: None if w is None else w.end_s),
           "legal contact hours HH:MM-HH:MM, or none (overrides the policy)", _G_RULES),
    Option("lunch", opt.time_range(), _part("policy", lunch_window=_same),
           "lunch break window HH:MM-HH:MM (default 11:30-13:30)", _G_RULES),
    Option("lunch_minutes", opt.whole(0, hi=240), _part("policy", lunch_s=lambda m: m * 60),
           "lunch break length in minutes, 0-240, 0 = none (policy default)", _G_RULES),
    Option("max_work_hours", opt.number(0.0, strict=True, hi=24.0, allow_none=True),
           _part("policy", max_work_s=lambda h: None if h is None else int(h * 3600)),
           "longest working day in hours, up to 24, or none = the shift only (policy default)",
           _G_RULES),
    Option("overtime_minutes", opt.whole(0, hi=12 * 60),
           _part("policy", overtime_s=lambda m: m * 60),
           "overtime allowed past the shift, minutes, 0-720 (default 0)", _G_RULES),
    Option("overtime_cost_per_hour", _COST,
           _part("policy", overtime_cost_per_h=_same),
           "cost of one hour of overtime in value units", _G_RULES),
    Option("cooldown_days", opt.whole(0, hi=3650), _part("policy", cooldown_days=_same),
           "no visit within N days of the last visit, 0 = off (policy default)", _G_RULES),
    Option("preferred_cost", _COST, _part("policy", preferred_cost=_same),
           "cost of not giving a case to its preferred collector", _G_RULES),
    Option("balance", opt.choice(("none", "hours")), _part("policy", balance=_same),
           "balance working hours between routes (default none)", _G_RULES,
           metavar="{none,hours}"),
    Option("balance_cost_per_hour", _COST,
           _part("policy", balance_cost_per_h=_same),
           "cost per hour of the day's span (latest return minus earliest departure over "
           "all routes) with --balance hours", _G_RULES),
    Option("osm", opt.path, _part("roads", osm_path=_same),
           "OSM extract: .osm, .osm.bz2, .osm.gz or .osm.pbf (default: bundled central Chengdu)",
           _G_ROADS, path=True),
    Option("place", opt.text, _part("roads", place=_same),
           "download roads for a place name (online)", _G_ROADS),
    Option("mode", opt.choice(MODES), _part("roads", mode=_same),
           "travel mode (default drive)", _G_ROADS, metavar=_choices(MODES)),
    Option("speed_factor", opt.number(0.0, strict=True, hi=10.0),
           _part("roads", speed_factor=_same),
           "multiply all speeds, e.g. 0.8 for heavy traffic (default 1.0)", _G_ROADS),
    Option("traffic", opt.traffic, _part("roads", traffic=traffic_profile),
           "travel times by time of day: none, default (the bundled profile for Chinese cities) "
           f"or a profile CSV (default {DEFAULT_TRAFFIC})", _G_ROADS,
           metavar="{none,default,FILE}", path=True),
    Option("max_snap_m", opt.number(0.0, strict=True, hi=100_000.0),
           _part("roads", max_snap_m=_same),
           "farthest distance from a case to a road, metres (default 1000)", _G_ROADS, cli=None),
    Option("geocoder", opt.text, _part("geocoding", geocoder=_same),
           "'offline' (gazetteer of the OSM extract, default) or a geopy provider name such as "
           "nominatim (online)", _G_ROADS),
    Option("user_agent", opt.text, _part("geocoding", user_agent=_same),
           "user agent for online geocoders", _G_ROADS),
    Option("cache_dir", opt.path, _top("cache_dir"),
           "cache for networks and geocoding (default ~/.cache/collector-routes or "
           "$COLLECTOR_ROUTES_CACHE)", _G_ROADS, path=True),
    Option("time_limit", opt.number(0.0, strict=True, hi=24 * 3600.0),
           _part("solver", time_limit_s=float),
           "solver time cap in seconds, above 0 (default: sized by the day, 10 s + 2 ms per "
           "case x collector route, 10-300 s; the search ends sooner when it stalls)", _G_SOLVER),
    Option("stall_share", opt.number(0.0, strict=True, hi=1.0, allow_none=True),
           _part("solver", stall_share=_same),
           "stop the search when it has not improved for this share of its time (at least "
           "2 s), below 1, or none = run to the time limit (default 0.5; off with "
           "--max-solutions)", _G_SOLVER),
    Option("seed", opt.whole(0, hi=2**31 - 1), _part("solver", seed=_same),
           "random seed, >= 0 (default 0)", _G_SOLVER),
    Option("solver", solver_mapping, _solver_fields,
           "further optimizer.routing.params.SolveSettings fields", _G_SOLVER, cli=None),
    Option("max_solutions", opt.whole(1, allow_none=True),
           _unless_none(_part("solver", max_solutions=_same)),
           "stop after this many improving solutions: the plan then depends only on inputs and "
           "seed, not on machine speed (the time limit stays a cap)", _G_SOLVER),
    Option("max_warm_iterations", opt.whole(1, allow_none=True),
           _unless_none(_part("solver", max_warm_iterations=_same)),
           "deterministic mode of the PyVRP warm start: stop after N iterations", _G_SOLVER,
           cli=None),
    Option("solver_option", solver_items, _solver_fields,
           "advanced: set a field of optimizer.routing.params.SolveSettings, e.g. "
           "warm_start=none (repeatable)", _G_SOLVER, cli="append", scenario=False,
           metavar="KEY=VALUE"),
    Option("max_part_cases", opt.whole(1, allow_none=True), _top("max_part_cases"),
           "plan a day of more cases than this in parts, split by collector territories "
           "(team column, else start places), or none = always one problem (default "
           f"{MAX_PART_CASES})", _G_SOLVER, scenario=False),
    Option("border_routes", opt.whole(0, hi=100), _top("border_routes"),
           "a day in parts: routes of each part planned again with the neighbouring part's, "
           "across their border, with the cases both left out; 0 = no border step (default "
           f"{BORDER_ROUTES})", _G_SOLVER, scenario=False),
    Option("city", city_extracts, _top("cities"),
           "a multi-city day: a city of the files' city column and its OSM extract, "
           "CITY=FILE (repeatable); each city is planned on its own roads, as jobs on the "
           "executor, with one combined summary", _G_SOLVER, cli="append", scenario=False,
           metavar="CITY=FILE"),
    Option("executor", opt.choice(EXECUTORS), _part("executor", kind=_same),
           "where parallel work runs (the solver's searches, what-if variants): local "
           "processes (default) or a Dask cluster (needs --scheduler)", _G_SOLVER,
           scenario=False, metavar=_choices(EXECUTORS)),
    Option("scheduler", scheduler_address, _part("executor", scheduler=_same),
           "the Dask scheduler of --executor dask, tcp://HOST:PORT (e.g. tcp://127.0.0.1:8786); "
           "its workers need the package and the --cache-dir (or --osm) path", _G_SOLVER,
           scenario=False, metavar="tcp://HOST:PORT"),
    Option("travel_cost_per_hour", _COST, _top("travel_cost_per_h"),
           "cost of an hour of travel in value units (default 30)", _G_SOLVER),
    Option("tiles", opt.choice(TILES), _part("output", tiles=_same),
           "map tiles: OpenStreetMap (default) or Amap (overlays shifted to GCJ-02)", _G_OUT,
           metavar=_choices(TILES)),
    Option("self_contained", opt.boolean, _part("output", self_contained=_same),
           "inline map scripts into every page (works offline, larger files)", _G_OUT,
           cli="flag"),
    Option("no_maps", opt.boolean, _part("output", maps=lambda no: not no),
           "write route sheets only", _G_OUT, cli="flag", scenario=False),
    Option("maps", opt.boolean, _part("output", maps=_same),
           "write the maps (default true)", _G_OUT, cli=None),
)
#: every option by name, in the order they are applied (and shown by ``--help``)
OPTIONS: Mapping[str, Option] = {o.name: o for o in _OPTIONS}


@dataclass(frozen=True)
class OptionProblem:
    """A bad option value: the option, the value at fault, what is wrong and the fix. The caller
    says where it came from (``--cooldown-days``, or ``scenario.yaml (variant x)``)."""

    option: str
    value: object
    message: str
    fix: str


class SettingsError(ConfigError):
    """Options with bad values; `problems` lists every one of them."""

    def __init__(self, problems: Sequence[OptionProblem]) -> None:
        self.problems = tuple(problems)
        n = len(self.problems)
        super().__init__(f"{n} option problem{'s' if n != 1 else ''}:\n" + "\n".join(
            f"  - {p.option} value {str(p.value)!r}: {p.message}; fix: {p.fix}"
            for p in self.problems))


def parse_options(raw: Mapping[str, object]) -> tuple[dict[str, Any], list[OptionProblem]]:
    """Check and convert raw option values (names of `OPTIONS`); the good ones converted, and a
    problem for each bad one."""
    values: dict[str, Any] = {}
    problems: list[OptionProblem] = []
    for name, v in raw.items():
        try:
            values[name] = OPTIONS[name].parse(v)
        except opt.Bad as bad:
            problems.append(OptionProblem(name, v if bad.value is None else bad.value,
                                          bad.message, bad.fix))
    return values, problems


def build_settings(values: Mapping[str, Any], *, base: PlanSettings, root: Path | None = None
                   ) -> tuple[PlanSettings, list[OptionProblem]]:
    """`base` with the checked `values` applied in the order of `OPTIONS`, and the problems of
    the rules across options (an option that breaks one is left out).

    `root`: the folder relative paths are in (a scenario file's); None: as given.
    """
    settings = base
    problems: list[OptionProblem] = []
    for option in OPTIONS.values():
        if option.name not in values or option.apply is None:
            continue
        v = values[option.name]
        if option.path and root is not None and isinstance(v, Path):
            v = root / v
        try:
            settings = option.apply(settings, v)
        except InputError as exc:  # a file the option names (a traffic profile): its problems
            problems.extend(OptionProblem(option.name, issue.value, _where(issue), issue.fix)
                            for issue in exc.problems)
        except (ConfigError, TypeError, ValueError) as exc:
            problems.append(OptionProblem(option.name, values[option.name], str(exc),
                                          "give consistent values"))
    executor, scheduler = values.get("executor"), values.get("scheduler")
    if executor == "dask" and scheduler is None:
        problems.append(OptionProblem("executor", executor, "the dask executor needs a "
                                      "scheduler", "give --scheduler tcp://HOST:8786 (started "
                                      "with `dask scheduler`)"))
    if scheduler is not None and executor != "dask":
        problems.append(OptionProblem("scheduler", scheduler, "only the dask executor uses a "
                                      "scheduler", "add --executor dask, or leave it out"))
    if values.get("osm") is not None and values.get("place") is not None:
        problems.append(OptionProblem("place", values["place"], "osm and place both name the "
                                      "roads", "give only one of them"))
    return settings, problems


def _where(issue: Issue) -> str:
    """An input file's problem as an option problem's message: file, row, field, what."""
    where = issue.file + (f" row {issue.row}" if issue.row else "")
    return f"{where}{f' field {issue.field!r}' if issue.field else ''}: {issue.message}"


def load_settings(raw: Mapping[str, object], *, base: PlanSettings | None = None,
                  root: Path | None = None) -> PlanSettings:
    """`PlanSettings` of raw option values on `base` (default `option_defaults`); raises
    `SettingsError` with every problem."""
    values, problems = parse_options(raw)
    settings, more = build_settings(values, base=base or option_defaults(), root=root)
    if problems or more:
        raise SettingsError([*problems, *more])
    return settings
