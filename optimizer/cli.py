"""Command line: ``collector-routes plan | validate | serve | whatif``.

Thin: parse options, read, plan, write, print. Only this module prints, sets up logging and exits.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path

from optimizer import rules
from optimizer.errors import CollectorRoutesError, ConfigError, InputError
from optimizer.export import write_plan
from optimizer.inputs import DEMO_COLLECTORS, read_inputs

DEFAULT_MAPS = Path("maps")

log = logging.getLogger("optimizer.cli")


def _time_window(text: str):
    from optimizer.inputs import parse_time_window

    try:
        return parse_time_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def add_plan_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `plan` (and read by what-if scenario files under the same names)."""
    g = p.add_argument_group("inputs")
    g.add_argument("--cases", type=Path, default=None,
                   help="case list, .csv or .xlsx (default: the bundled demo, data/demo/cases.csv)")
    g.add_argument("--collectors", type=Path, default=None,
                   help="collector list, .csv or .xlsx (default: data/demo/collectors.csv)")
    g.add_argument("--date", type=_date, default=None,
                   help="day to plan, YYYY-MM-DD (default: the next working day)")
    g = p.add_argument_group("value and rules")
    g.add_argument("--weighting", default="expected_recovery",
                   choices=("expected_recovery", "amount", "urgency", "count"),
                   help="what a visit is worth (default: expected_recovery = amount x "
                        "collectability by days past due)")
    g.add_argument("--curve", default=None,
                   help="collectability curve 'dpd:share,...' (default "
                        "'0:0.95,60:0.9,90:0.5,180:0.2,365:0.08,730:0.03')")
    g.add_argument("--policy", default="china", choices=tuple(rules.PRESETS),
                   help="collection rules preset (default: china = no visits 22:00-08:00, two "
                        "collectors per visit, 30-min lunch, 10 h max, 3-day cooldown)")
    g.add_argument("--team-size", type=int, default=None,
                   help="collectors per visit (overrides the policy)")
    g.add_argument("--contact-hours", type=_time_window, default=None,
                   help="legal contact hours HH:MM-HH:MM (overrides the policy)")
    g.add_argument("--lunch", type=_time_window, default=None,
                   help="lunch break window HH:MM-HH:MM (default 11:30-13:30)")
    g.add_argument("--lunch-minutes", type=int, default=None,
                   help="lunch break length in minutes, 0 = none (policy default)")
    g.add_argument("--max-work-hours", type=float, default=None,
                   help="longest working day in hours (policy default)")
    g.add_argument("--overtime-minutes", type=int, default=None,
                   help="overtime allowed past the shift, minutes (default 0)")
    g.add_argument("--overtime-cost-per-hour", type=float, default=None,
                   help="cost of one hour of overtime in value units")
    g.add_argument("--cooldown-days", type=int, default=None,
                   help="no visit within N days of the last visit (policy default)")
    g.add_argument("--preferred-cost", type=float, default=None,
                   help="cost of not giving a case to its preferred collector")
    g.add_argument("--balance", choices=("none", "hours"), default=None,
                   help="balance working hours between routes (default none)")
    g.add_argument("--balance-cost-per-hour", type=float, default=None,
                   help="cost per hour of spread between longest and shortest route")
    g = p.add_argument_group("roads and geocoding")
    g.add_argument("--osm", type=Path, default=None,
                   help="OSM extract: .osm, .osm.bz2, .osm.gz or .osm.pbf (default: bundled "
                        "central Chengdu)")
    g.add_argument("--place", default=None, help="download roads for a place name (online)")
    g.add_argument("--mode", choices=("drive", "bike", "walk"), default="drive",
                   help="travel mode (default drive)")
    g.add_argument("--speed-factor", type=float, default=1.0,
                   help="multiply all speeds, e.g. 0.8 for heavy traffic (default 1.0)")
    g.add_argument("--geocoder", default="offline",
                   help="'offline' (gazetteer of the OSM extract, default) or a geopy provider "
                        "name such as nominatim (online)")
    g.add_argument("--user-agent", default=None, help="user agent for online geocoders")
    g.add_argument("--cache-dir", type=Path, default=None,
                   help="cache for networks and geocoding (default ~/.cache/collector-routes "
                        "or $COLLECTOR_ROUTES_CACHE)")
    g = p.add_argument_group("solver")
    g.add_argument("--time-limit", type=float, default=30.0,
                   help="solver time in seconds (default 30)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--max-solutions", type=int, default=None,
                   help="stop after this many improving solutions: the plan then depends only "
                        "on inputs and seed, not on machine speed (the time limit stays a cap)")
    g.add_argument("--solver-option", action="append", default=[], metavar="KEY=VALUE",
                   help="advanced: set a field of optimizer.solve.SolveSettings, e.g. "
                        "warm_start=none (repeatable)")
    g.add_argument("--travel-cost-per-hour", type=float, default=30.0,
                   help="cost of an hour of travel in value units (default 30)")


def settings_from_args(a: argparse.Namespace, plan_date: date):
    from optimizer.plan import PlanSettings
    from optimizer.weigh import Weighting, parse_curve

    weighting = Weighting(preset=a.weighting,
                          **({"curve": parse_curve(a.curve)} if a.curve else {}))
    over: dict = {}
    if a.team_size is not None:
        over["min_team_size"] = a.team_size
    if a.contact_hours is not None:
        over["contact_start_s"] = a.contact_hours.start_s
        over["contact_end_s"] = a.contact_hours.end_s
    if a.lunch is not None:
        over["lunch_window"] = a.lunch
    if a.lunch_minutes is not None:
        over["lunch_s"] = a.lunch_minutes * 60
    if a.max_work_hours is not None:
        over["max_work_s"] = int(a.max_work_hours * 3600)
    if a.overtime_minutes is not None:
        over["overtime_s"] = a.overtime_minutes * 60
    if a.overtime_cost_per_hour is not None:
        over["overtime_cost_per_h"] = a.overtime_cost_per_hour
    if a.cooldown_days is not None:
        over["cooldown_days"] = a.cooldown_days
    if a.preferred_cost is not None:
        over["preferred_cost"] = a.preferred_cost
    if a.balance is not None:
        over["balance"] = a.balance
    if a.balance_cost_per_hour is not None:
        over["balance_cost_per_h"] = a.balance_cost_per_hour
    policy = rules.policy_preset(a.policy, **over)
    return PlanSettings(
        plan_date=plan_date, weighting=weighting, policy=policy, time_limit_s=a.time_limit,
        seed=a.seed, travel_cost_per_h=a.travel_cost_per_hour, geocoder=a.geocoder,
        user_agent=a.user_agent, osm_path=a.osm, place=a.place, mode=a.mode,
        speed_factor=a.speed_factor, cache_dir=a.cache_dir,
        solver_options=solver_options(a))


def solver_options(a: argparse.Namespace) -> dict:
    """``--max-solutions`` and ``--solver-option KEY=VALUE`` as SolveSettings keywords."""
    import dataclasses

    from optimizer.solve import SolveSettings

    fields = {f.name: f for f in dataclasses.fields(SolveSettings)}
    out: dict = {"max_solutions": a.max_solutions} if a.max_solutions else {}
    for item in a.solver_option:
        key, _, raw = item.partition("=")
        if key not in fields or key in ("time_limit_s", "seed"):
            known = ", ".join(k for k in fields if k not in ("time_limit_s", "seed"))
            raise ConfigError(f"--solver-option {item!r}: unknown field {key!r}; use one of "
                              f"{known}")
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
        raise ConfigError(f"--solver-option: {exc}") from None
    return out


def print_summary(plan, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    s = plan.summary
    con = Console()
    t = Table(title=f"Plan for {s['plan_date']} (policy {s['policy']}, weighting "
                    f"{s['weighting']})")
    for col in ("route", "visits", "value", "travel h", "travel km", "leave", "return",
                "utilisation"):
        t.add_column(col, justify="right" if col != "route" else "left")
    for p in s["per_collector"]:
        t.add_row(p["collector_id"], str(p["cases_visited"]), f"{p['value_visited']:,.0f}",
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
    con.print(f"Written to {out}/ (index.html, one page per collector, routes.csv, "
              "routes.json, routes.xlsx, unassigned.csv, summary.json)")


def cmd_plan(a: argparse.Namespace) -> int:
    from optimizer.plan import next_working_day, plan_day
    from optimizer.progress import RichProgress

    plan_date = a.date or next_working_day()
    settings = settings_from_args(a, plan_date)
    cases, collectors = read_inputs(a.cases, a.collectors)
    progress = RichProgress(disable=a.quiet)
    plan = plan_day(cases, collectors, settings, progress=progress,
                    collectors_file=(a.collectors or DEMO_COLLECTORS).name)
    out = a.out or DEFAULT_MAPS / plan_date.isoformat()
    write_plan(plan, out, tiles=a.tiles, self_contained=a.self_contained, maps=not a.no_maps,
               progress=progress)
    if not a.quiet:
        print_summary(plan, out)
    return 0


def cmd_validate(a: argparse.Namespace) -> int:
    cases, collectors = read_inputs(a.cases, a.collectors)
    notes = _shift_notes(a, collectors)
    for line in notes:
        print(f"warning: {line}", file=sys.stderr)
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

    from rich.console import Console
    from rich.table import Table

    from optimizer import geocode as gc
    from optimizer.progress import RichProgress

    progress = RichProgress(disable=a.quiet)
    geocoder = gc.make_geocoder(a.geocoder, osm_path=a.osm, cache_dir=a.cache_dir,
                                user_agent=a.user_agent, progress=progress)
    cases_file = Path(a.cases).name if a.cases else "cases.csv"
    collectors_file = Path(a.collectors).name if a.collectors else DEMO_COLLECTORS.name
    checks = gc.check_addresses(cases, collectors, geocoder, cases_file=cases_file,
                                collectors_file=collectors_file, progress=progress)
    counts = {s: sum(c.status == s for c in checks) for s in gc.ADDRESS_STATUSES}
    con = Console(width=None if sys.stdout.isatty() else 160)
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
            t.add_row(f"{c.file} row {c.row} ({c.record})", c.address, detail)
        con.print(t)
        if len(rows) > a.show:
            con.print(f"... and {len(rows) - a.show} more" + ("" if a.out else "; --out FILE "
                                                              "lists them all"))
    if a.out:
        with open(a.out, "w", encoding="utf-8-sig", newline="") as f:
            fields = [fl.name for fl in dataclasses.fields(gc.AddressCheck)]
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(dataclasses.asdict(c) for c in checks)
        con.print(f"Every address with its result: {a.out}")
    return 1 if counts["not_found"] or counts["uncertain"] else 0


def cmd_serve(a: argparse.Namespace) -> int:
    from optimizer import serve

    serve.serve_forever(a.dir, host=a.host, port=a.port, public_url=a.public_url)
    return 0


def cmd_whatif(a: argparse.Namespace) -> int:
    from optimizer import whatif

    return whatif.run_cli(a.file, out=a.out, workers=a.workers, quiet=a.quiet)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    g.add_argument("--tiles", choices=("osm", "amap"), default="osm",
                   help="map tiles: OpenStreetMap (default) or Amap (overlays shifted to GCJ-02)")
    g.add_argument("--self-contained", action="store_true",
                   help="inline map scripts into every page (works offline, larger files)")
    g.add_argument("--no-maps", action="store_true", help="write route sheets only")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    sp.set_defaults(func=cmd_plan)

    sp = sub.add_parser(
        "validate", help="check the case and collector lists, report problems",
        description="Check the case and collector lists: every problem at once, exit code 2 if "
                    "any. With --geocode, also geocode every address and list those not found "
                    "or matched with uncertainty (exit code 1 if any).")
    sp.add_argument("--cases", type=Path, default=None, help="case list (.csv/.xlsx)")
    sp.add_argument("--collectors", type=Path, default=None, help="collector list (.csv/.xlsx)")
    sp.add_argument("--policy", default="china", choices=tuple(rules.PRESETS),
                    help="collection rules preset the shifts are checked against (default china)")
    sp.add_argument("--lunch", type=_time_window, default=None,
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
    sp.add_argument("--show", type=int, default=30, help="rows per table (default 30)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser("serve", help="serve a plan's pages with a private link per collector")
    sp.add_argument("dir", type=Path, help="a plan output folder (e.g. maps/2026-11-30)")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                    "127.0.0.1; 0.0.0.0 to reach it from phones on the network)")
    sp.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    sp.add_argument("--public-url", default=None,
                    help="address phones use to reach this server, e.g. http://192.168.1.5:8000 "
                         "(default: http://HOST:PORT)")
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("whatif", help="run scenario variants side by side and compare them")
    sp.add_argument("file", type=Path, help="scenario file (.yaml/.toml)")
    sp.add_argument("--out", type=Path, default=None,
                    help="output folder (default maps/whatif-<name>/)")
    sp.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_whatif)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (ConfigError, CollectorRoutesError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


