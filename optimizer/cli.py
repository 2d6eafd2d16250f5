"""Command line: ``collector-routes plan | validate | serve | whatif``.

Thin: parse options, read, plan, write, print. Only this module prints, sets up logging and exits.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import NoReturn

from optimizer import interrupts
from optimizer import options as opt
from optimizer import rules, weigh
from optimizer.errors import CollectorRoutesError, ConfigError, InputError
from optimizer.export import out_dir_problem, write_plan
from optimizer.inputs import DEMO_COLLECTORS, read_inputs
from optimizer.progress import printable

DEFAULT_MAPS = Path("maps")

log = logging.getLogger("optimizer.cli")


WEIGHTINGS = weigh.PRESETS
MODES = ("drive", "bike", "walk")
TILES = ("osm", "amap")


def add_plan_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `plan` (and read by what-if scenario files under the same names).

    Values are kept as text here and checked all at once by `check_options` (argparse would stop
    at the first bad one); the policy overrides are absent from the namespace unless given.
    """
    unset = argparse.SUPPRESS
    g = p.add_argument_group("inputs")
    g.add_argument("--cases", type=Path, default=None,
                   help="case list, .csv or .xlsx (default: the bundled demo, data/demo/cases.csv)")
    g.add_argument("--collectors", type=Path, default=None,
                   help="collector list, .csv or .xlsx (default: data/demo/collectors.csv)")
    g.add_argument("--date", default=None,
                   help="day to plan, YYYY-MM-DD (default: the next working day)")
    g = p.add_argument_group("value and rules")
    g.add_argument("--weighting", default="expected_recovery", metavar="{" + ",".join(WEIGHTINGS)
                   + "}", help="what a visit is worth (default: expected_recovery = amount x "
                               "collectability by days past due)")
    g.add_argument("--curve", default=None,
                   help="collectability curve 'dpd:share,...' (default "
                        "'0:0.95,60:0.9,90:0.5,180:0.2,365:0.08,730:0.03')")
    g.add_argument("--policy", default="china", metavar="{" + ",".join(rules.PRESETS) + "}",
                   help="collection rules preset (default: china = no visits 22:00-08:00, two "
                        "collectors per visit, 30-min lunch, 10 h max, 3-day cooldown)")
    g.add_argument("--team-size", default=unset,
                   help="collectors per visit, 1-10 (overrides the policy)")
    g.add_argument("--contact-hours", default=unset,
                   help="legal contact hours HH:MM-HH:MM (overrides the policy)")
    g.add_argument("--lunch", default=unset,
                   help="lunch break window HH:MM-HH:MM (default 11:30-13:30)")
    g.add_argument("--lunch-minutes", default=unset,
                   help="lunch break length in minutes, 0-240, 0 = none (policy default)")
    g.add_argument("--max-work-hours", default=unset,
                   help="longest working day in hours, up to 24, or none = the shift only "
                        "(policy default)")
    g.add_argument("--overtime-minutes", default=unset,
                   help="overtime allowed past the shift, minutes, 0-720 (default 0)")
    g.add_argument("--overtime-cost-per-hour", default=unset,
                   help="cost of one hour of overtime in value units")
    g.add_argument("--cooldown-days", default=unset,
                   help="no visit within N days of the last visit, 0 = off (policy default)")
    g.add_argument("--preferred-cost", default=unset,
                   help="cost of not giving a case to its preferred collector")
    g.add_argument("--balance", default=unset, metavar="{none,hours}",
                   help="balance working hours between routes (default none)")
    g.add_argument("--balance-cost-per-hour", default=unset,
                   help="cost per hour of spread between longest and shortest route")
    g = p.add_argument_group("roads and geocoding")
    g.add_argument("--osm", type=Path, default=None,
                   help="OSM extract: .osm, .osm.bz2, .osm.gz or .osm.pbf (default: bundled "
                        "central Chengdu)")
    g.add_argument("--place", default=None, help="download roads for a place name (online)")
    g.add_argument("--mode", default="drive", metavar="{" + ",".join(MODES) + "}",
                   help="travel mode (default drive)")
    g.add_argument("--speed-factor", default=1.0,
                   help="multiply all speeds, e.g. 0.8 for heavy traffic (default 1.0)")
    g.add_argument("--geocoder", default="offline",
                   help="'offline' (gazetteer of the OSM extract, default) or a geopy provider "
                        "name such as nominatim (online)")
    g.add_argument("--user-agent", default=None, help="user agent for online geocoders")
    g.add_argument("--cache-dir", type=Path, default=None,
                   help="cache for networks and geocoding (default ~/.cache/collector-routes "
                        "or $COLLECTOR_ROUTES_CACHE)")
    g = p.add_argument_group("solver")
    g.add_argument("--time-limit", default=30.0,
                   help="solver time in seconds, above 0 (default 30)")
    g.add_argument("--seed", default=0, help="random seed, >= 0 (default 0)")
    g.add_argument("--max-solutions", default=None,
                   help="stop after this many improving solutions: the plan then depends only "
                        "on inputs and seed, not on machine speed (the time limit stays a cap)")
    g.add_argument("--solver-option", action="append", default=[], metavar="KEY=VALUE",
                   help="advanced: set a field of optimizer.solve.SolveSettings, e.g. "
                        "warm_start=none (repeatable)")
    g.add_argument("--travel-cost-per-hour", default=30.0,
                   help="cost of an hour of travel in value units (default 30)")


_V = opt.PLAN_VALUES
#: how each option's text is checked and converted (`check_options`); the ranges of the plan
#: settings are those of the what-if scenario files (`optimizer.options.PLAN_VALUES`)
PLAN_CHECKS: Mapping[str, opt.Parser] = {
    "date": opt.day, "weighting": opt.choice(WEIGHTINGS), "curve": opt.curve,
    "policy": opt.choice(tuple(rules.PRESETS)), "team_size": _V["team_size"],
    "contact_hours": opt.time_range(), "lunch": opt.time_range(),
    "lunch_minutes": _V["lunch_minutes"], "max_work_hours": _V["max_work_hours"],
    "overtime_minutes": _V["overtime_minutes"],
    "overtime_cost_per_hour": _V["overtime_cost_per_hour"],
    "cooldown_days": _V["cooldown_days"], "preferred_cost": _V["preferred_cost"],
    "balance": opt.choice(("none", "hours")), "balance_cost_per_hour": _V["balance_cost_per_hour"],
    "mode": opt.choice(MODES), "speed_factor": _V["speed_factor"],
    "time_limit": _V["time_limit"], "seed": _V["seed"], "max_solutions": _V["max_solutions"],
    "travel_cost_per_hour": _V["travel_cost_per_hour"], "tiles": opt.choice(TILES),
}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _option_problem(dest: str, value: object, message: str, fix: str) -> str:
    return f"{_flag(dest)} value {str(value)!r}: {message}; fix: {fix}"


def check_options(a: argparse.Namespace, checks: Mapping[str, opt.Parser]) -> list[str]:
    """Convert the options named in `checks` in place; every problem found, as a sentence.

    An option with a bad value is removed from `a` (later checks skip what depends on it).
    """
    problems = []
    for dest, parse in checks.items():
        raw = getattr(a, dest, None)
        if raw is None:
            continue
        try:
            setattr(a, dest, parse(raw))
        except opt.Bad as bad:
            problems.append(_option_problem(dest, raw, bad.message, bad.fix))
            delattr(a, dest)
    return problems


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except OSError:  # a name too long for the file system: no such file either
        return False


def _file_problems(a: argparse.Namespace, dests: Sequence[str]) -> list[str]:
    """Input files given that do not exist."""
    return [_option_problem(d, getattr(a, d), "no such file", "give the path of an existing "
                            "file (relative to the current folder)")
            for d in dests if getattr(a, d, None) is not None and not _is_file(getattr(a, d))]


def _folder_problems(a: argparse.Namespace, dests: Sequence[str]) -> list[str]:
    """Output or cache folders given that are (or lie inside) an existing file."""
    out = []
    for d in dests:
        p = getattr(a, d, None)
        if p is None:
            continue
        try:
            blocker = next((q for q in (p, *p.parents) if q.exists() and not q.is_dir()), None)
        except OSError as exc:
            out.append(_option_problem(d, p, f"cannot be a folder here ({exc.strerror or exc})",
                                       "give a shorter or another folder path"))
            continue
        if blocker is not None:
            what = "is a file" if blocker == p else f"lies inside the file {blocker}"
            out.append(_option_problem(d, p, f"{what}, not a folder", "give a folder "
                                       "(created if missing), or move the file away"))
    return out


def _geocoder_problems(a: argparse.Namespace) -> list[str]:
    """An online geocoder that cannot be built as given (built here, no request is sent)."""
    if getattr(a, "geocoder", "offline") == "offline":
        return []
    from optimizer.geocode import GeocoderConfigError, geopy_service

    try:
        geopy_service(a.geocoder, user_agent=a.user_agent)
    except GeocoderConfigError as exc:
        return [f"--geocoder value {a.geocoder!r}: {exc}"]
    return []


def _raise_option_problems(problems: Sequence[str]) -> None:
    if problems:
        n = len(problems)
        raise ConfigError(f"{n} option problem{'s' if n != 1 else ''}:\n"
                          + "\n".join(f"  - {p}" for p in problems))


def check_plan_options(a: argparse.Namespace) -> None:
    """Every problem of `plan`'s options at once (`ConfigError`), before any work is done."""
    problems = check_options(a, PLAN_CHECKS)
    problems += _geocoder_problems(a)
    problems += _file_problems(a, ("cases", "collectors", "osm"))
    problems += _folder_problems(a, ("cache_dir",))
    if "date" in vars(a):
        why = out_dir_problem(plan_out_dir(a))
        if why:
            problems.append(_option_problem("out", plan_out_dir(a), *why))
    if a.osm is not None and a.place is not None:
        problems.append(_option_problem("place", a.place, "--osm and --place both name the "
                                        "roads", "give only one of them"))
    given = vars(a)
    # rules across options, each checked when the options it reads are valid
    try:
        solver_options(a)
    except ConfigError as exc:
        problems.append(str(exc))
    if "policy" in given:  # the policy with the valid overrides: rules across them
        try:
            _policy(a)
        except ConfigError as exc:
            problems.append(str(exc))
    _raise_option_problems(problems)


_POLICY_OPTIONS = ("team_size", "contact_hours", "lunch", "lunch_minutes", "max_work_hours",
                   "overtime_minutes", "overtime_cost_per_hour", "cooldown_days",
                   "preferred_cost", "balance", "balance_cost_per_hour")


def _weighting(a: argparse.Namespace):
    from optimizer.weigh import Weighting

    return Weighting(preset=a.weighting, **({"curve": a.curve} if a.curve else {}))


def _policy(a: argparse.Namespace) -> rules.Policy:
    """The policy preset with the overrides given (those absent from `a` are not)."""
    given = vars(a)
    over: dict = {}
    if "team_size" in given:
        over["min_team_size"] = a.team_size
    if "contact_hours" in given:
        over["contact_start_s"] = a.contact_hours.start_s
        over["contact_end_s"] = a.contact_hours.end_s
    if "lunch" in given:
        over["lunch_window"] = a.lunch
    if "lunch_minutes" in given:
        over["lunch_s"] = a.lunch_minutes * 60
    if "max_work_hours" in given:
        over["max_work_s"] = None if a.max_work_hours is None else int(a.max_work_hours * 3600)
    if "overtime_minutes" in given:
        over["overtime_s"] = a.overtime_minutes * 60
    for dest, fld in (("overtime_cost_per_hour", "overtime_cost_per_h"),
                      ("cooldown_days", "cooldown_days"), ("preferred_cost", "preferred_cost"),
                      ("balance", "balance"), ("balance_cost_per_hour", "balance_cost_per_h")):
        if dest in given:
            over[fld] = given[dest]
    try:
        return rules.policy_preset(a.policy, **over)
    except ConfigError as exc:
        raise ConfigError(f"--policy {a.policy} with the overrides given: {exc}; fix: give "
                          "consistent values") from None


def settings_from_args(a: argparse.Namespace, plan_date: date):
    """`PlanSettings` of `plan`'s options (already converted by `check_plan_options`)."""
    from optimizer.plan import PlanSettings

    return PlanSettings(
        plan_date=plan_date, weighting=_weighting(a), policy=_policy(a),
        time_limit_s=a.time_limit,
        seed=a.seed, travel_cost_per_h=a.travel_cost_per_hour, geocoder=a.geocoder,
        user_agent=a.user_agent, osm_path=a.osm, place=a.place, mode=a.mode,
        speed_factor=a.speed_factor, cache_dir=a.cache_dir,
        solver_options=solver_options(a))


def solver_options(a: argparse.Namespace) -> dict:
    """``--max-solutions`` and ``--solver-option KEY=VALUE`` as SolveSettings keywords."""
    import dataclasses

    from optimizer.solve import SolveSettings

    fields = {f.name: f for f in dataclasses.fields(SolveSettings)}
    max_solutions = getattr(a, "max_solutions", None)  # absent: a bad value, reported
    out: dict = {"max_solutions": max_solutions} if max_solutions else {}
    for item in a.solver_option:
        key, _, raw = item.partition("=")
        if key not in fields or key in ("time_limit_s", "seed"):
            known = ", ".join(k for k in fields if k not in ("time_limit_s", "seed"))
            raise ConfigError(f"--solver-option {item!r}: unknown field {key!r}; fix: write "
                              f"KEY=VALUE with a KEY of {known} (--time-limit and --seed "
                              "set the others)")
        value: object = raw
        if raw.lower() == "null":
            value = None
        elif raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            for conv in (int, float):
                try:
                    value = conv(raw)
                    break
                except ValueError:
                    pass
        out[key] = value
    try:
        SolveSettings(**out)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--solver-option {' '.join(a.solver_option)!r}: {exc}; fix: give "
                          "a valid value (see optimizer.solve.SolveSettings)") from None
    return out


def print_summary(plan, out: Path) -> None:
    from rich.table import Table

    from optimizer.progress import plain_console

    s = plan.summary
    con = plain_console()
    t = Table(title=f"Plan for {s['plan_date']} (policy {s['policy']}, weighting "
                    f"{s['weighting']})")
    for col in ("route", "visits", "value", "travel h", "travel km", "leave", "return",
                "utilisation"):
        t.add_column(col, justify="right" if col != "route" else "left")
    for p in s["per_collector"]:
        t.add_row(printable(p["collector_id"]), str(p["cases_visited"]),
                  f"{p['value_visited']:,.0f}",
                  f"{p['travel_s'] / 3600:.1f}", f"{p['travel_m'] / 1000:.1f}", p["leave"],
                  p["return"], f"{p['utilisation']:.0%}")
    t.add_section()
    t.add_row("total", str(s["cases_visited"]), f"{s['value_visited']:,.0f}",
              f"{s['travel_s_total'] / 3600:.1f}", f"{s['travel_m_total'] / 1000:.1f}", "", "",
              f"{s['utilisation_mean']:.0%}")
    con.print(t)
    con.print(f"Visited {s['cases_visited']} of {s['cases_total']} cases, value "
              f"{s['value_visited']:,.0f} of {s['value_total']:,.0f} ({s['value_share']:.1%}).")
    if s["unassigned_by_reason"]:
        con.print("Not visited: " + ", ".join(f"{k} {v}" for k, v in
                                               s["unassigned_by_reason"].items()))
    geo = s.get("geocoding", {})
    if geo.get("uncertain"):
        con.print(f"Check {geo['uncertain']} uncertain address match(es): geocode_score below 1 "
                  "in routes.csv / unassigned.csv (a near spelling, or one of several same-name "
                  "places; add the town or lat/lon).")
    con.print(f"Written to {printable(out)}/ (index.html, one page per collector, routes.csv, "
              "routes.json, routes.xlsx, unassigned.csv, summary.json)")


def plan_out_dir(a: argparse.Namespace) -> Path:
    """``--out``, or ``maps/<date>`` of the day planned."""
    from optimizer.plan import next_working_day

    return a.out or DEFAULT_MAPS / (a.date or next_working_day()).isoformat()


def cmd_plan(a: argparse.Namespace) -> int:
    from optimizer.plan import next_working_day, plan_day
    from optimizer.progress import RichProgress

    plan_date = a.date or next_working_day()
    settings = settings_from_args(a, plan_date)  # checked by `check_plan_options`
    cases, collectors = read_inputs(a.cases, a.collectors)
    progress = RichProgress(disable=a.quiet)
    geocoder = _geocoder(a, progress)
    try:
        plan = plan_day(cases, collectors, settings, geocoder=geocoder, progress=progress,
                        collectors_file=(a.collectors or DEMO_COLLECTORS).name)
    finally:
        _report_unavailable(geocoder)
    out = plan_out_dir(a)
    write_plan(plan, out, tiles=a.tiles, self_contained=a.self_contained, maps=not a.no_maps,
               progress=progress)
    if not a.quiet:
        print_summary(plan, out)
    return 0


def _geocoder(a: argparse.Namespace, progress):
    from optimizer import geocode as gc

    return gc.make_geocoder(a.geocoder, osm_path=a.osm, cache_dir=a.cache_dir,
                            user_agent=a.user_agent, progress=progress)


def _report_unavailable(geocoder) -> None:
    """One line when the online geocoder stopped answering (its circuit breaker opened)."""
    why = getattr(geocoder, "unavailable", None)
    if why:
        skipped = getattr(getattr(geocoder, "inner", None), "skipped", 0)
        print(f"warning: geocoder unavailable: {why}; {skipped} more address(es) not looked up "
              "(their cases are unvisited, reason no_coordinates); fix: check the network, or "
              "use --geocoder offline, or give lat/lon", file=sys.stderr)


def cmd_validate(a: argparse.Namespace) -> int:
    cases, collectors = read_inputs(a.cases, a.collectors)
    notes = _shift_notes(a, collectors)
    for line in notes:
        print(f"warning: {printable(line)}", file=sys.stderr)
    print(f"OK: {len(cases)} cases and {len(collectors)} collectors, no problems found"
          + (f" ({len(notes)} warning{'s' if len(notes) != 1 else ''} above)." if notes else "."))
    if not a.geocode:
        return 0
    return _check_addresses(a, cases, collectors)


def _shift_notes(a: argparse.Namespace, collectors) -> list[str]:
    """One line per collector whose shift misses the policy's lunch window (no break planned)."""
    over = {"lunch_window": a.lunch} if a.lunch is not None else {}
    policy = rules.policy_preset(a.policy, **over)
    name = Path(a.collectors).name if a.collectors else DEMO_COLLECTORS.name
    w = policy.lunch_window
    return [f"{name} row {c.row} (collector_id={c.collector_id}): shift {c.shift.label()} does "
            f"not meet the lunch window {w.label()} of policy '{policy.name}' (a "
            f"{policy.lunch_s // 60}-minute break inside the shift): no lunch break is planned "
            "for this collector"
            for c in rules.lunch_exempt(collectors, policy)]


def _check_addresses(a: argparse.Namespace, cases, collectors) -> int:
    """``validate --geocode``: how every address geocodes; exit 1 if any needs attention."""
    import csv
    import dataclasses

    from rich.table import Table

    from optimizer import geocode as gc
    from optimizer.progress import RichProgress, plain_console

    progress = RichProgress(disable=a.quiet)
    geocoder = _geocoder(a, progress)
    cases_file = Path(a.cases).name if a.cases else "cases.csv"
    collectors_file = Path(a.collectors).name if a.collectors else DEMO_COLLECTORS.name
    try:
        checks = gc.check_addresses(cases, collectors, geocoder, cases_file=cases_file,
                                    collectors_file=collectors_file, progress=progress)
    finally:
        _report_unavailable(geocoder)
    counts = {s: sum(c.status == s for c in checks) for s in gc.ADDRESS_STATUSES}
    con = plain_console(width=None if sys.stdout.isatty() else 160)
    con.print(f"Addresses: {counts['given']} with lat/lon given, {counts['found']} found, "
              f"{counts['uncertain']} uncertain, {counts['not_found']} not found.")
    for status, title in (("not_found", "Not found (the case stays unvisited: fix the address "
                                        "or give lat/lon)"),
                          ("uncertain", "Uncertain matches (check the pin; add the town, "
                                        "postcode or lat/lon)")):
        rows = [c for c in checks if c.status == status]
        if not rows:
            continue
        t = Table(title=title, title_justify="left")
        for col in ("where", "address", "found" if status == "uncertain" else "why"):
            t.add_column(col, overflow="fold")
        for c in rows[: a.show]:
            detail = f"{c.matched} (score {c.score:.2f})" if status == "uncertain" else c.reason
            t.add_row(printable(f"{c.file} row {c.row} ({c.record})"), printable(c.address),
                      printable(detail))
        con.print(t)
        if len(rows) > a.show:
            con.print(f"... and {len(rows) - a.show} more" + ("" if a.out else "; --out FILE "
                                                              "lists them all"))
    if a.out:
        from optimizer import atomic

        try:
            with atomic.replaced_file(a.out) as tmp, open(tmp, "w", encoding="utf-8-sig",
                                                          newline="") as f:
                fields = [fl.name for fl in dataclasses.fields(gc.AddressCheck)]
                w = csv.DictWriter(f, fieldnames=fields)
                w.writeheader()
                w.writerows(dataclasses.asdict(c) for c in checks)
        except OSError as exc:
            raise ConfigError(_option_problem("out", a.out, f"cannot be written "
                                              f"({exc.strerror or exc})", "give a file in a "
                                              "folder you can write to")) from None
        con.print(f"Every address with its result: {printable(a.out)}")
    return 1 if counts["not_found"] or counts["uncertain"] else 0


def cmd_serve(a: argparse.Namespace) -> int:
    from optimizer import serve

    serve.serve_forever(a.dir, host=a.host, port=a.port, public_url=a.public_url)
    return 0


def cmd_whatif(a: argparse.Namespace) -> int:
    from optimizer import whatif

    return whatif.run_cli(a.file, out=a.out, workers=a.workers, quiet=a.quiet,
                          max_variants=a.max_variants)


def whatif_max_variants() -> int:
    from optimizer.whatif import MAX_VARIANTS

    return MAX_VARIANTS


def _check_validate_options(a: argparse.Namespace) -> None:
    problems = check_options(a, {"show": opt.whole(1), "lunch": opt.time_range()})
    problems += _geocoder_problems(a) if a.geocode else []
    problems += _file_problems(a, ("cases", "collectors", "osm"))
    problems += _folder_problems(a, ("cache_dir",))
    try:
        out_is_dir = a.out is not None and a.out.is_dir()
        no_folder = a.out is not None and not a.out.absolute().parent.is_dir()
    except OSError as exc:
        problems.append(_option_problem("out", a.out, f"cannot be a file here "
                                        f"({exc.strerror or exc})", "give a shorter path"))
        out_is_dir = no_folder = False
    if out_is_dir:
        problems.append(_option_problem("out", a.out, "is a folder", "give a file name for "
                                        "the CSV, e.g. addresses.csv"))
    elif no_folder:
        problems.append(_option_problem("out", a.out, "its folder does not exist",
                                        "create the folder, or give a file in an existing one"))
    _raise_option_problems(problems)


def _check_serve_options(a: argparse.Namespace) -> None:
    _raise_option_problems(check_options(a, {"port": opt.whole(0, hi=65535)}))


def _check_whatif_options(a: argparse.Namespace) -> None:
    problems = check_options(a, {"workers": opt.whole(1, hi=64),
                                 "max_variants": opt.whole(1)})
    problems += _folder_problems(a, ("out",))
    _raise_option_problems(problems)


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line errors: what is wrong, then ``fix:``."""

    def error(self, message: str) -> NoReturn:
        if "expected one argument" in message:
            fix = ("give a value after the option; a value that starts with '-' is written "
                   "with '=', e.g. --curve=-10:0.5")
        elif "invalid choice" in message:
            fix = "use one of the choices listed"
        elif "unrecognized arguments" in message:
            fix = ("check the spelling; `collector-routes <command> --help` lists the options "
                   "of a command")
        elif "required" in message:
            fix = f"give what is missing; `{self.prog} --help` shows how"
        else:
            fix = f"see `{self.prog} --help`"
        self.exit(2, f"error: {self.prog}: {message}; fix: {fix}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="collector-routes",
        description="Plan field debt-collection visit routes on real roads. With no arguments, "
                    "`collector-routes plan` plans the bundled Chengdu demo for the next "
                    "working day.")
    p.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("plan", help="plan the day's routes and write maps and route sheets",
                        description="Plan the day's routes: geocode, weigh, route, export.")
    add_plan_options(sp)
    g = sp.add_argument_group("output")
    g.add_argument("--out", type=Path, default=None,
                   help="output folder (default maps/<date>/)")
    g.add_argument("--tiles", default="osm", metavar="{" + ",".join(TILES) + "}",
                   help="map tiles: OpenStreetMap (default) or Amap (overlays shifted to GCJ-02)")
    g.add_argument("--self-contained", action="store_true",
                   help="inline map scripts into every page (works offline, larger files)")
    g.add_argument("--no-maps", action="store_true", help="write route sheets only")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    sp.set_defaults(func=cmd_plan, check=check_plan_options)

    sp = sub.add_parser(
        "validate", help="check the case and collector lists, report problems",
        description="Check the case and collector lists: every problem at once, exit code 2 if "
                    "any. With --geocode, also geocode every address and list those not found "
                    "or matched with uncertainty (exit code 1 if any).")
    sp.add_argument("--cases", type=Path, default=None, help="case list (.csv/.xlsx)")
    sp.add_argument("--collectors", type=Path, default=None, help="collector list (.csv/.xlsx)")
    sp.add_argument("--policy", default="china", choices=tuple(rules.PRESETS),
                    help="collection rules preset the shifts are checked against (default china)")
    sp.add_argument("--lunch", default=None,
                    help="lunch break window HH:MM-HH:MM, as for plan (default 11:30-13:30)")
    sp.add_argument("--geocode", action="store_true",
                    help="also geocode every address and report misses and uncertain matches")
    sp.add_argument("--osm", type=Path, default=None,
                    help="OSM extract for the offline geocoder (default: bundled central Chengdu)")
    sp.add_argument("--geocoder", default="offline",
                    help="'offline' (default) or a geopy provider name such as nominatim")
    sp.add_argument("--user-agent", default=None, help="user agent for online geocoders")
    sp.add_argument("--cache-dir", type=Path, default=None, help="cache for geocoding")
    sp.add_argument("--out", type=Path, default=None,
                    help="write every address with its status, match and coordinates to this CSV")
    sp.add_argument("--show", default=30, help="rows per table (default 30)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_validate, check=_check_validate_options)

    sp = sub.add_parser("serve", help="serve a plan's pages with a private link per collector")
    sp.add_argument("dir", type=Path, help="a plan output folder (e.g. maps/2026-11-30)")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                    "127.0.0.1; 0.0.0.0 to reach it from phones on the network)")
    sp.add_argument("--port", default=8000, help="port, 0-65535, 0 = any free port "
                    "(default 8000)")
    sp.add_argument("--public-url", default=None,
                    help="address phones use to reach this server, e.g. http://192.168.1.5:8000 "
                         "(default: http://HOST:PORT)")
    sp.set_defaults(func=cmd_serve, check=_check_serve_options)

    sp = sub.add_parser("whatif", help="run scenario variants side by side and compare them")
    sp.add_argument("file", type=Path, help="scenario file (.yaml/.toml)")
    sp.add_argument("--out", type=Path, default=None,
                    help="output folder (default maps/whatif-<name>/)")
    sp.add_argument("--workers", default=2, help="parallel processes, 1-64 (default 2)")
    sp.add_argument("--max-variants", default=whatif_max_variants(),
                    help="most variants run without asking (default %(default)s); a larger "
                         "file asks for confirmation on a terminal, or needs this option")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_whatif, check=_check_whatif_options)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # their retries of an unreachable service: we report it once
        for name in ("urllib3", "geopy"):
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with interrupts.one_line_exit():
            args.check(args)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return interrupts.EXIT_INTERRUPTED
    except InputError as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except (ConfigError, CollectorRoutesError) as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except FileNotFoundError as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


