"""Command line: ``collector-routes plan | validate | serve | apikey | whatif | import | outcomes |
correct-address | store | users | console`` (and ``replan``).

Thin: parse options, read, plan, write, print. Only this module prints, sets up logging and exits.
Nothing imports it. Each command imports the stages it runs when it runs (the only imports of
the package inside functions): ``--help`` and ``validate`` start without loading the solver,
the road network (scipy) or the maps (folium), which take a second.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import getpass
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bars
from rich.table import Table
from rich.text import Text

from optimizer import atomic, interrupts
from optimizer import options as opt
from optimizer.cluster import make_executor
from optimizer.errors import CollectorRoutesError, ConfigError, InputError
from optimizer.executor import Executor
from optimizer.io.inputs import (
    DEMO_CASES,
    DEMO_COLLECTORS,
    check_references,
    read_cases,
    read_collectors,
    read_inputs,
)
from optimizer.model import Collector, Plan
from optimizer.planning import rules
from optimizer.progress import RichProgress, plain_console, printable
from optimizer.settings import (
    OPTIONS,
    GeocodingSettings,
    OptionProblem,
    PlanSettings,
    build_settings,
    option_defaults,
    parse_options,
)

if TYPE_CHECKING:  # the what-if stages and the store load when the command runs
    from optimizer.loop import StoreDay
    from optimizer.store.cases import MergeReport
    from optimizer.store.db import Store
    from optimizer.whatif.kpis import WhatIfResult

DEFAULT_MAPS = Path("maps")
#: the plan options `whatif` takes (where its variants run; the rest are the scenario's keys)
WHATIF_OPTIONS = ("executor", "scheduler")
#: local processes planning the parts of a large day at once (the machine's two cores)
PART_WORKERS = 2
#: the store's environment variable (`optimizer.store.db.ENV_VAR`; here so that building the
#: command line does not load SQLAlchemy)
STORE_ENV = "COLLECTOR_ROUTES_STORE"

log = logging.getLogger("optimizer.cli")


#: `plan --store`'s options of the outcome policy (`optimizer.store.history.OutcomePolicy`):
#: flag -> help; the destinations are its fields
OUTCOME_POLICY_OPTIONS = {
    "--promise-grace-days": "days after a promised date before an unpaid promise is broken and "
                            "the case due for a visit, 0-3650 (default 2)",
    "--not-home-limit": "visits in a row nobody was home before the contact is verified "
                        "instead, 1-100 (default 3)",
    "--refused-cooldown-days": "days without a visit after a refusal, 0-3650, 0 = none "
                               "(default 7)",
    "--hardship-pause-days": "days without a visit after a hardship report, 0-3650, 0 = none "
                             "(default 30)",
    "--dispute-skill": "skill a visitor of a disputed case needs (default legal); none = no "
                       "visits while the dispute is open",
}


#: the plan options `validate` takes too (the shifts against the policy's lunch window, and the
#: geocoding of ``--geocode``): the same definitions, checks and settings as for `plan`
VALIDATE_OPTIONS = ("cases", "collectors", "policy", "lunch", "osm", "geocoder", "user_agent",
                    "cache_dir")


def add_plan_options(p: argparse.ArgumentParser, *,
                     first: Mapping[str, Callable[[argparse._ArgumentGroup], object]] = {},
                     names: Sequence[str] | None = None) -> dict[str, argparse._ArgumentGroup]:
    """The options of `plan`: those of `optimizer.settings.OPTIONS` the command line takes (the
    what-if scenario files take them under the same names), in their groups; ``first[group]``
    adds the command line's own options at the head of a group; `names` keeps only those
    options (another command's share of them). Returns the groups by name.

    Values are kept as text here and checked all at once by `read_plan_options` (argparse would
    stop at the first bad one); an option not given is None (a flag False, a list empty).
    """
    groups: dict[str, argparse._ArgumentGroup] = {}
    for o in OPTIONS.values():
        if o.cli is None or (names is not None and o.name not in names):
            continue
        g = groups.get(o.group)
        if g is None:
            g = groups[o.group] = p.add_argument_group(o.group)
            if o.group in first:
                first[o.group](g)
        if o.cli == "flag":
            g.add_argument(o.flag, action="store_true", help=o.help)
        elif o.cli == "append":
            g.add_argument(o.flag, action="append", default=[], metavar=o.metavar, help=o.help)
        else:
            g.add_argument(o.flag, default=None, metavar=o.metavar, help=o.help)
    return groups


def _given(a: argparse.Namespace) -> dict[str, object]:
    """The plan options given on the command line, as text (flags as True)."""
    return {o.name: v for o in OPTIONS.values() if o.cli is not None
            for v in [getattr(a, o.name, None)] if v not in (None, False, [])}


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _option_problem(dest: str, value: object, message: str, fix: str) -> str:
    return f"{_flag(dest)} value {str(value)!r}: {message}; fix: {fix}"


def _settings_problem(p: OptionProblem) -> str:
    if OPTIONS[p.option].cli == "append":  # the item at fault: --solver-option 'KEY=VALUE'
        shown = " ".join(map(str, p.value)) if isinstance(p.value, list) else str(p.value)
        return f"{_flag(p.option)} {shown!r}: {p.message}; fix: {p.fix}"
    return _option_problem(p.option, p.value, p.message, p.fix)


def check_options(a: argparse.Namespace, checks: Mapping[str, opt.Parser]) -> list[str]:
    """Convert the options named in `checks` in place; every problem found, as a sentence.

    An option with a bad value is removed from `a`.
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
        except OSError as exc:  # a name too long for the file system, a path it cannot reach
            out.append(_option_problem(d, p, f"cannot be a folder here ({exc.strerror or exc})",
                                       "give a shorter or another folder path"))
            continue
        if blocker is not None:
            what = "is a file" if blocker == p else f"lies inside the file {blocker}"
            out.append(_option_problem(d, p, f"{what}, not a folder", "give a folder "
                                       "(created if missing), or move the file away"))
    return out


def _geocoder_problems(a: argparse.Namespace) -> list[str]:
    """An online geocoder that cannot be built as given (built here; no request is sent)."""
    geo: GeocodingSettings = a.settings.geocoding
    if geo.geocoder == "offline":
        return []
    from optimizer.geo.geocode import GeocoderConfigError, geopy_service

    try:
        geopy_service(geo.geocoder, user_agent=geo.user_agent)
    except GeocoderConfigError as exc:
        return [_option_problem("geocoder", geo.geocoder, *_message_and_fix(str(exc)))]
    return []


def _message_and_fix(text: str) -> tuple[str, str]:
    """A project error's message split at its ``; fix:``."""
    message, _, fix = text.partition("; fix: ")
    return message, fix or "see --help"


def _raise_option_problems(problems: Sequence[str]) -> None:
    if problems:
        n = len(problems)
        raise ConfigError(f"{n} option problem{'s' if n != 1 else ''}:\n"
                          + "\n".join(f"  - {p}" for p in problems))


def read_plan_options(a: argparse.Namespace) -> tuple[list[str], list[str], set[str]]:
    """The plan options given (`plan`'s, or `validate`'s share of them) read into
    `PlanSettings` by `optimizer.settings` (``a.settings``), the input files and folders kept in
    `a` as paths. Returns every problem found as a sentence: of the values and files, and of the
    rules across options; and the names of the options with a bad value."""
    values, bad = parse_options(_given(a))
    for name in ("cases", "collectors", "osm", "cache_dir"):
        setattr(a, name, values.get(name))
    problems = [_settings_problem(p) for p in bad]
    problems += _file_problems(a, ("cases", "collectors", "osm"))
    problems += _folder_problems(a, ("cache_dir",))
    a.settings, across = build_settings(values, base=option_defaults())
    return problems, [_settings_problem(p) for p in across], {p.option for p in bad}


def check_plan_options(a: argparse.Namespace) -> None:
    """Every problem of `plan`'s options at once (`ConfigError`), before any work is done."""
    from optimizer.outputs.write import (
        cities_out_dir_problem,
        horizon_out_dir_problem,
        out_dir_problem,
    )

    problems, across, bad = read_plan_options(a)
    a.store = _store_url(a.store)
    problems += _outcome_policy(a)
    problems += _file_problems(a, ("pack_template", "lender"))
    if (a.pack_template or a.lender) and not a.visit_pack:
        problems.append(_option_problem("pack_template" if a.pack_template else "lender",
                                        a.pack_template or a.lender, "is used only with "
                                        "--visit-pack", "add --visit-pack, or leave it out"))
    if not {"geocoder", "user_agent"} & bad:
        problems += _geocoder_problems(a)
    if not {"date", "days"} & bad:
        days = a.settings.horizon.days
        if days > 1 and a.visit_pack:
            problems.append(_option_problem("days", days, "a plan of several days does not "
                                            "write visit packs yet", "plan one day at a time "
                                            "with --visit-pack, or leave it out"))
        cities = a.settings.cities
        if cities and (days > 1 or a.store or a.visit_pack):
            problems.append(_option_problem("city", f"{cities[0][0]}={cities[0][1]}",
                                            "a multi-city day is planned alone: not with "
                                            "--days, --store or --visit-pack",
                                            "plan the cities without those options, or one "
                                            "city at a time with them"))
        check = (cities_out_dir_problem if cities else horizon_out_dir_problem if days > 1
                 else out_dir_problem)
        why = check(plan_out_dir(a))
        if why:
            problems.append(_option_problem("out", plan_out_dir(a), *why))
    _raise_option_problems(problems + across)


def _outcome_policy(a: argparse.Namespace) -> list[str]:
    """``a.outcome_policy`` from `OUTCOME_POLICY_OPTIONS` (None without a store); the problems."""
    dests = [f[2:].replace("-", "_") for f in OUTCOME_POLICY_OPTIONS]
    given = [d for d in dests if getattr(a, d) is not None]
    a.outcome_policy = None
    if not a.store:
        return [_option_problem(d, getattr(a, d), "is used only with a case store",
                                "give --store URL (or set $" + STORE_ENV + "), or leave it out")
                for d in given]
    problems = check_options(a, {"promise_grace_days": opt.whole(0, hi=3650),
                                 "not_home_limit": opt.whole(1, hi=100),
                                 "refused_cooldown_days": opt.whole(0, hi=3650),
                                 "hardship_pause_days": opt.whole(0, hi=3650)})
    if problems:
        return problems
    from optimizer.store.history import OutcomePolicy  # SQLAlchemy: only with a store

    values = {d: getattr(a, d) for d in given}
    if "dispute_skill" in values and opt.is_none(values["dispute_skill"]):
        values["dispute_skill"] = ""
    a.outcome_policy = OutcomePolicy(**values)
    return []


def print_summary(plan: Plan, out: Path) -> None:
    s = plan.summary
    if s is None:  # a plan of the pipeline always has one
        return
    con = plain_console()
    t = Table(title=f"Plan for {s.plan_date.isoformat()} (policy {s.policy}, weighting "
                    f"{s.weighting})")
    for col in ("route", "visits", "value", "travel h", "travel km", "leave", "return",
                "utilisation"):
        t.add_column(col, justify="right" if col != "route" else "left")
    for p in s.per_collector:
        t.add_row(printable(p.collector_id), str(p.cases_visited), f"{p.value_visited:,.0f}",
                  f"{p.travel_s / 3600:.1f}", f"{p.travel_m / 1000:.1f}", p.leave,
                  p.return_, f"{p.utilisation:.0%}")
    t.add_section()
    t.add_row("total", str(s.cases_visited), f"{s.value_visited:,.0f}",
              f"{s.travel_s_total / 3600:.1f}", f"{s.travel_m_total / 1000:.1f}", "", "",
              f"{s.utilisation_mean:.0%}")
    con.print(t)
    con.print(f"Visited {s.cases_visited} of {s.cases_total} cases, value "
              f"{s.value_visited:,.0f} of {s.value_total:,.0f} ({s.value_share:.1%}).")
    if s.unassigned_by_reason:
        con.print("Not visited: " + ", ".join(f"{k} {v}" for k, v in
                                               s.unassigned_by_reason.items()))
    if s.geocoding.uncertain:
        con.print(f"Check {s.geocoding.uncertain} uncertain address match(es): geocode_score "
                  "below 1 in routes.csv / unassigned.csv (a near spelling, or one of several "
                  "same-name places; add the town or lat/lon).")
    con.print(f"Written to {printable(out)}/ (index.html, one page per collector, routes.csv, "
              "routes.json, routes.xlsx, unassigned.csv, summary.json)")


def plan_out_dir(a: argparse.Namespace) -> Path:
    """``--out``, or ``maps/<date>`` of the day planned (``maps/<date>+<N>d`` of N days)."""
    if a.out:
        return Path(a.out)
    first = a.settings.plan_date.isoformat()
    days = a.settings.horizon.days
    return DEFAULT_MAPS / (first if days == 1 else f"{first}+{days}d")


def cmd_plan(a: argparse.Namespace) -> int:
    from optimizer.outputs.write import write_plan
    from optimizer.partitioned import needs_parts, plan_partitioned
    from optimizer.plan import plan_day

    settings: PlanSettings = a.settings  # read and checked by `check_plan_options`
    progress = RichProgress(disable=a.quiet)
    if settings.cities:
        return _plan_cities(a, progress)
    if settings.horizon.days > 1:
        return _plan_horizon(a, progress)
    store = _open_store(a.store) if a.store else None
    try:
        if store is None:
            cases, collectors = read_inputs(a.cases, a.collectors)
            day = None
        else:
            cases, collectors, day = _store_day(a, store, settings, progress)
        geocoder = _geocoder(settings.geocoding, settings.roads.osm_path, settings.cache_dir,
                             progress)
        collectors_file = (a.collectors or DEMO_COLLECTORS).name
        steering = day.steering if day is not None else None
        try:
            if needs_parts(cases, settings):
                with make_executor(settings.executor, max_workers=PART_WORKERS) as executor:
                    plan = plan_partitioned(cases, collectors, settings, executor=executor,
                                            geocoder=geocoder, collectors_file=collectors_file,
                                            steering=steering, progress=progress)
            else:
                with _executor(settings) as one:
                    plan = plan_day(cases, collectors, settings, geocoder=geocoder,
                                    progress=progress, collectors_file=collectors_file,
                                    steering=steering, executor=one)
        finally:
            _report_unavailable(geocoder)
        out = plan_out_dir(a)
        output = settings.output
        packs = _visit_packs(a, plan, store, progress) if a.visit_pack else None
        write_plan(plan, out, tiles=output.tiles, self_contained=output.self_contained,
                   maps=output.maps, progress=progress,
                   extra={n: t.encode("utf-8") for n, t in (packs or {}).items()})
        recorded = None
        if store is not None:
            from optimizer import loop

            recorded = loop.record(store, plan, actor=_actor("plan"))
    finally:
        if store is not None:
            store.close()
    if not a.quiet:
        print_summary(plan, out)
        if packs:
            print(f"Visit packs (print, or save as PDF from the browser): {len(packs)} in "
                  f"{out}/ ({', '.join(sorted(packs)[:3])}{', ...' if len(packs) > 3 else ''})")
        if recorded is not None and store is not None:
            print(f"Recorded in the store {store.url} as plan #{recorded.plan_id} (version "
                  f"{recorded.version} of {recorded.plan_date.isoformat()}, published).")
    return 0


def _visit_packs(a: argparse.Namespace, plan: Plan, store: Store | None,
                 progress: RichProgress) -> dict[str, str]:
    """``plan --visit-pack``: one printable pack per route (the records from the store)."""
    from optimizer.outputs import pack

    settings = pack.PackSettings(*pack.load_template(a.pack_template),
                                 lender=pack.load_lender(a.lender))
    records = None
    if store is not None:
        from optimizer import loop

        records = loop.pack_records(store, [s.case.case_id for r in plan.routes
                                            for s in r.stops])
    with progress.step("Writing the visit packs", total=len(plan.routes)):
        return pack.render_packs(plan, settings, records=records)


def _actor(command: str) -> str:
    """Who does it, for the store's audit log: the command and the user running it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = "unknown"
    return f"cli:{command}:{user}"


def _store_url(given: str | None) -> str | None:
    """``--store``, else ``$COLLECTOR_ROUTES_STORE``, else None."""
    return given or os.environ.get(STORE_ENV) or None


def _open_store(url: str | None) -> Store:
    """Open the store (`optimizer.store.db.resolve_url`: the default SQLite file when `url` is
    None), its schema brought to the newest migration."""
    from optimizer.store.db import Store

    return Store.open(url)


def _store_day(a: argparse.Namespace, store: Store, settings: PlanSettings,
               progress: RichProgress) -> tuple[tuple, tuple, StoreDay]:
    """``plan --store``: the case list merged into the store (or the store's latest one), the
    collectors, and what the store's history says about the cases."""
    from optimizer import loop

    if a.cases is None and loop.latest_import(store) is not None:
        cases = loop.stored_case_list(store)
        collectors = read_collectors(a.collectors or DEMO_COLLECTORS)
        check_references(cases, collectors, cases_file="the store's cases")
        report = None
    else:
        cases, collectors = read_inputs(a.cases, a.collectors)
        report = loop.merge_file(store, a.cases or DEMO_CASES, cases, actor=_actor("plan"),
                                 progress=progress)
    day = loop.prepare(store, cases, settings.plan_date, progress=progress,
                       **({"policy": a.outcome_policy} if a.outcome_policy else {}))
    if not a.quiet:
        if report is not None:
            print_merge(report)
        else:
            last = loop.latest_import(store)
            assert last is not None
            print(f"Cases: the {len(cases)} of the store's latest import ({last.file_name}, "
                  f"{last.imported_at:%Y-%m-%d %H:%M} UTC).")
        held = day.held_by_reason()
        print(f"From the store's history: {len(day.steering.held)} case(s) held back"
              + (" (" + ", ".join(f"{k} {v}" for k, v in held.items()) + ")" if held else "")
              + f", {len(day.steering.windows)} steered away from the windows nobody was "
              f"home in, {len(day.changed)} planned with a change (amount, promise, skill).")
    return day.cases, collectors, day


def print_merge(report: MergeReport) -> None:
    """The merge of a case list, in one table."""
    con = Console()
    if report.repeat_of is not None:
        con.print(f"{report.file_name}: imported before (import #{report.repeat_of}, same "
                  f"SHA-256); nothing changed ({len(report.unchanged)} cases).", markup=False)
        return
    t = Table(title=f"{report.file_name} merged into the store (import #{report.import_id})")
    for col in ("added", "updated", "closed", "reopened", "unchanged", "kept closed (paid)"):
        t.add_column(col, justify="right")
    c = report.counts()
    t.add_row(*(str(c[k]) for k in ("added", "updated", "closed", "reopened", "unchanged",
                                    "stale")))
    con.print(t)
    if report.closed:
        con.print("Closed (not in this export; kept in the store): "
                  + _ids(report.closed), markup=False)
    if report.reopened:
        con.print("Reopened: " + _ids(report.reopened), markup=False)
    if report.stale:
        con.print("Kept closed as paid (the export still shows the debt the payment settled): "
                  + _ids(report.stale), markup=False)


def _ids(ids: Sequence[str], most: int = 12) -> str:
    return ", ".join(ids[:most]) + (f" and {len(ids) - most} more" if len(ids) > most else "")


def cmd_import(a: argparse.Namespace) -> int:
    """``collector-routes import CASES``: merge a case list into the store."""
    from optimizer import loop

    cases = read_cases(a.file)
    with _open_store(a.store) as store:
        report = loop.merge_file(store, a.file, cases, actor=_actor("import"),
                                 close_missing=not a.partial,
                                 progress=RichProgress(disable=a.quiet))
        print_merge(report)
        print(f"Store: {store.url}")
    return 0


def cmd_outcomes_import(a: argparse.Namespace) -> int:
    """``collector-routes outcomes import FILE``: record a filled route workbook or CSV."""
    from optimizer.io.outcomes import read_outcome_file
    from optimizer.recording import record_outcome_file

    progress = RichProgress(disable=a.quiet)
    with progress.step(f"Reading {a.file.name}"):
        outcomes = read_outcome_file(a.file, visit_date=a.date, keep_problems=True)
    with _open_store(a.store) as store:
        with progress.step("Recording the outcomes"), store.session() as s:
            done = record_outcome_file(s, outcomes, tz=a.timezone,
                                       actor=f"sheet:{a.file.name}:{_actor('outcomes')}")
        url = store.url
    c = done.counts()
    codes = ", ".join(f"{k} {v}" for k, v in done.by_code().items())
    print(f"{a.file.name}: {c['recorded']} outcome(s) recorded"
          + (f" ({codes})" if codes else "")
          + f", {c['corrected']} correction(s) of outcomes imported before, {c['repeated']} "
          f"already recorded (nothing changed), {c['blank']} stop(s) without an outcome.")
    if done.blank and not a.quiet:
        shown = [f"{sheet or done.file_name} row {row} ({cid})" for sheet, row, cid in done.blank]
        print("Not reported: " + _ids(shown, 8))
    print(f"Store: {url}")
    return 0


def cmd_outcomes_export(a: argparse.Namespace) -> int:
    """``collector-routes outcomes export --out FILE``: the compliance file."""
    from optimizer.store.export import export_compliance

    with _open_store(a.store) as store, store.reading() as s:
        try:
            written = export_compliance(s, a.out)
        except OSError as exc:
            raise ConfigError(_option_problem("out", a.out, f"cannot be written "
                                              f"({exc.strerror or exc})", "give a file in a "
                                              "folder you can write to")) from exc
    print("Written: " + ", ".join(str(p) for p in written))
    return 0


def cmd_correct_address(a: argparse.Namespace) -> int:
    """``collector-routes correct-address CASE ADDRESS``: the dispatcher's correction."""
    from optimizer.store.events import correct_address

    with _open_store(a.store) as store, store.session() as s:
        corr = correct_address(s, a.case_id, a.address, actor=_actor("correct-address"),
                               lat=a.lat, lon=a.lon, note=a.note)
        print(f"Case {a.case_id}: address corrected to {corr.address!r} (correction "
              f"#{corr.id}; it replaces {corr.replaces_address!r}"
              + (f", pin {a.lat}, {a.lon}" if a.lat is not None else ", geocoded when planned")
              + "); the next plan may visit it.")
    return 0


def cmd_store_migrate(a: argparse.Namespace) -> int:
    """``collector-routes store migrate``: create the store or bring it to the newest schema."""
    from optimizer.store import migrate
    from optimizer.store.db import Store

    with Store.open(a.store, migrate=False) as store:
        before = migrate.current(store.engine)
        migrate.upgrade(store.engine)
        after = migrate.current(store.engine)
        print(f"Store {store.url}: schema {before or 'empty'} -> {after}"
              + (" (already the newest)" if before == after else ""))
    return 0


def cmd_store_status(a: argparse.Namespace) -> int:
    """``collector-routes store status``: what the store holds."""
    from optimizer import loop
    from optimizer.store import migrate
    from optimizer.store.db import Store

    with Store.open(a.store, migrate=False) as store:
        rev = migrate.current(store.engine)
        print(f"Store {store.url}: schema {rev or 'empty'} (newest {migrate.head()})")
        if rev is None:
            print("Empty: `collector-routes store migrate` creates it (any command that uses "
                  "the store does too).")
            return 0
        if rev != migrate.head():
            print("Older schema: `collector-routes store migrate` brings it to the newest.")
            return 0
        c = loop.store_counts(store)
    print(f"Cases: {c['open']} open, {c['closed']} closed; case imports {c['imports']}; plans "
          f"{c['plans']}; outcomes {c['outcomes']}.")
    return 0


def _plan_cities(a: argparse.Namespace, progress: RichProgress) -> int:
    """``plan --city CITY=FILE ...``: every city on its own roads, as jobs on the executor; one
    plan folder per city and the combined summary."""
    from optimizer.cities import plan_cities
    from optimizer.outputs.write import write_cities

    settings: PlanSettings = a.settings
    cases, collectors = read_inputs(a.cases, a.collectors)
    geocoders: dict[Path, Any] = {}

    def geocoder_for(osm: Path) -> Any:
        if osm not in geocoders:
            geocoders[osm] = _geocoder(settings.geocoding, osm, settings.cache_dir, progress)
        return geocoders[osm]

    try:
        with make_executor(settings.executor, max_workers=PART_WORKERS) as executor:
            plan = plan_cities(cases, collectors, settings, executor=executor,
                               geocoder_for=geocoder_for,
                               collectors_file=(a.collectors or DEMO_COLLECTORS).name,
                               progress=progress)
    finally:
        for g in geocoders.values():
            _report_unavailable(g)
    out = plan_out_dir(a)
    output = settings.output
    write_cities(plan, out, tiles=output.tiles, self_contained=output.self_contained,
                 maps=output.maps, progress=progress)
    if a.quiet:
        return 0
    t = Table(title=f"Plan for {len(plan.cities)} cities, {settings.plan_date.isoformat()}")
    for col in ("city", "cases", "visited", "value visited", "routes", "parts"):
        t.add_column(col, justify="left" if col == "city" else "right")
    for c in plan.cities:
        t.add_row(printable(c.city), str(c.cases_total), str(c.cases_visited),
                  f"{c.value_visited:,.0f}", str(c.routes), str(c.parts))
    tot = plan.totals()
    t.add_section()
    t.add_row("total", str(tot["cases_total"]), str(tot["cases_visited"]),
              f"{tot['value_visited']:,.0f}", str(tot["routes"]), str(tot["parts"]))
    plain_console().print(t)
    print(f"Written to {printable(out)}/ (one plan folder per city, summary.json, cities.csv)")
    return 0


def _plan_horizon(a: argparse.Namespace, progress: RichProgress) -> int:
    """``plan --days N``: the days in order, one folder each, and the week overview. With a
    store (a rolling horizon): every day takes what the store's history says that day, the
    first day is recorded and published as ``plan --store`` does, the others are provisional
    (written, not recorded: the next morning's run plans them again from the outcomes)."""
    from optimizer.horizon import StoreView, plan_horizon
    from optimizer.outputs.write import write_horizon

    settings: PlanSettings = a.settings
    store = _open_store(a.store) if a.store else None
    recorded = None
    try:
        see = None
        if store is None:
            cases, collectors = read_inputs(a.cases, a.collectors)
        else:
            from optimizer import loop

            cases, collectors, first = _store_day(a, store, settings, progress)
            policy = {"policy": a.outcome_policy} if a.outcome_policy else {}

            def see(day: date) -> StoreView:
                seen = first if day == settings.plan_date else loop.prepare(
                    store, cases, day, **policy)
                return StoreView(seen.cases, seen.steering)

        geocoder = _geocoder(settings.geocoding, settings.roads.osm_path, settings.cache_dir,
                             progress)
        try:
            week = plan_horizon(cases, collectors, settings, geocoder=geocoder,
                                progress=progress, see=see,
                                collectors_file=(a.collectors or DEMO_COLLECTORS).name)
        finally:
            _report_unavailable(geocoder)
        out = plan_out_dir(a)
        output = settings.output
        write_horizon(week, out, tiles=output.tiles, self_contained=output.self_contained,
                      maps=output.maps, progress=progress,
                      published=settings.plan_date if store is not None else None)
        if store is not None:
            from optimizer import loop

            recorded = loop.record(store, week.days[0].plan, actor=_actor("plan"))
    finally:
        if store is not None:
            store.close()
    if a.quiet:
        return 0
    s = week.summary
    con = plain_console()
    t = Table(title=f"Plan for {s.days} days, {s.first_date.isoformat()} to "
                    f"{s.last_date.isoformat()} (policy {s.policy})")
    for col in ("day", "visits", "value", "travel h", "routes", "collectors"):
        t.add_column(col, justify="right" if col != "day" else "left")
    for d in s.per_day:
        t.add_row(f"{d.plan_date:%a} {d.plan_date.isoformat()}", str(d.cases_visited),
                  f"{d.value_visited:,.0f}", f"{d.travel_s / 3600:.1f}", str(d.routes_used),
                  str(d.collectors_working))
    t.add_section()
    t.add_row("total", str(s.visits), f"{s.value_visited:,.0f}",
              f"{s.travel_s_total / 3600:.1f}", "", "")
    con.print(t)
    con.print(f"Visited {s.cases_visited} of {s.cases_total} cases, value "
              f"{s.value_visited:,.0f} of {s.value_total:,.0f} ({s.value_share:.1%}).")
    con.print(f"Written to {printable(out)}/ (one plan folder per day, index.html: the week, "
              "week.csv, routes.xlsx: the week workbook, summary.json)")
    if recorded is not None and store is not None:
        con.print(f"Recorded in the store {printable(store.url)} as plan #{recorded.plan_id} "
                  f"(version {recorded.version} of {recorded.plan_date.isoformat()}, "
                  f"published); the {s.days - 1} later day(s) are provisional: not published, "
                  "planned again by the next morning's run from the outcomes recorded.")
    return 0


@contextmanager
def _executor(settings: PlanSettings) -> Iterator[Executor | None]:
    """The executor of ``--executor``: None for local processes (the solver starts its own),
    else connected before any work (an unreachable scheduler stops here, exit code 2)."""
    if settings.executor.kind == "local":
        yield None
        return
    with make_executor(settings.executor, max_workers=settings.solver.num_workers) as ex:
        yield ex


def _geocoder(geo: GeocodingSettings, osm_path: Path | None, cache_dir: Path | None, progress):
    from optimizer.geo import geocode as gc

    return gc.make_geocoder(geo.geocoder, osm_path=osm_path, cache_dir=cache_dir,
                            user_agent=geo.user_agent, progress=progress)


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


def _shift_notes(a: argparse.Namespace, collectors: Sequence[Collector]) -> list[str]:
    """One line per collector whose shift misses the policy's lunch window (no break planned)."""
    policy = a.settings.policy  # --policy and --lunch, as `plan` reads them
    name = Path(a.collectors).name if a.collectors else DEMO_COLLECTORS.name
    w = policy.lunch_window
    return [f"{name} row {c.row} (collector_id={c.collector_id}): shift {c.shift.label()} does "
            f"not meet the lunch window {w.label()} of policy '{policy.name}' (a "
            f"{policy.lunch_s // 60}-minute break inside the shift): no lunch break is planned "
            "for this collector"
            for c in rules.lunch_exempt(collectors, policy)]


def _check_addresses(a: argparse.Namespace, cases, collectors) -> int:
    """``validate --geocode``: how every address geocodes; exit 1 if any needs attention."""
    from optimizer.geo import geocode as gc

    progress = RichProgress(disable=a.quiet)
    settings: PlanSettings = a.settings
    geocoder = _geocoder(settings.geocoding, settings.roads.osm_path, settings.cache_dir,
                         progress)
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
                                              "folder you can write to")) from exc
        con.print(f"Every address with its result: {printable(a.out)}")
    return 1 if counts["not_found"] or counts["uncertain"] else 0


def cmd_serve(a: argparse.Namespace) -> int:
    """``serve DIR``: the web application on uvicorn; with a store (``--store`` or
    $COLLECTOR_ROUTES_STORE) also the outcome form, offline queue and lender API."""
    from optimizer.store.db import ENV_VAR
    from optimizer.web import run
    from optimizer.web.settings import WebSettings

    run.serve_forever(a.dir, store_url=a.store or os.environ.get(ENV_VAR) or None,
                      host=a.host, port=a.port, public_url=a.public_url,
                      settings=WebSettings(plan_dir=a.dir, collectors_file=a.collectors))
    return 0


def cmd_apikey(a: argparse.Namespace) -> int:
    """``apikey add NAME | revoke NAME | list``: keys of the lender's HTTP API (docs/api.md)."""
    from optimizer.store import apikeys
    from optimizer.store.db import Store

    con = plain_console()
    with Store.open(a.store) as store:
        if a.action == "list":
            with store.reading() as s:
                keys = apikeys.list_keys(s)
            table = Table("name", "key id", "created (UTC)", "revoked (UTC)")
            for k in keys:
                table.add_row(printable(k.name), k.key_id, f"{k.created_at:%Y-%m-%d %H:%M}",
                              f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
            con.print(table if keys else "no API keys; make one with `collector-routes apikey "
                      "add NAME`")
            return 0
        if not a.name:
            raise ConfigError(_option_problem("name", "", f"is needed by `apikey {a.action}`",
                                              "give the name of the lender's system, e.g. "
                                              "loan-system"))
        with store.session() as s:
            if a.action == "add":
                client, key = apikeys.add_key(s, a.name, actor="console")
            else:
                apikeys.revoke_key(s, a.name, actor="console")
    if a.action == "add":
        print(f"API key of {client.name} (key id {client.key_id}); it is shown only now, keep "
              f"it in the system's secrets:\n{key}")
    else:
        print(f"revoked the API key of {a.name}")
    return 0


def cmd_whatif(a: argparse.Namespace) -> int:
    """``collector-routes whatif FILE``: run, show progress and the comparison table.

    A file with more than ``--max-variants`` variants asks for confirmation on a terminal and
    stops elsewhere (each variant is a full plan: hundreds of them take hours). Exit code: 0 every
    variant planned, 1 some variant failed (the others are in the report), 2 the scenario file or
    its base is invalid, or too many variants (nothing run).
    """
    from optimizer.whatif import runner, scenario

    err = plain_console(stderr=True)
    try:
        names = [v.name for v in scenario.load_scenario(a.file).variants]
    except InputError as exc:
        err.print(f"error: {printable(exc)}", soft_wrap=True)
        return exc.exit_code
    n, most, file = len(names) - 1, a.max_variants, Path(a.file).name  # the base always runs
    if n > most and not _confirm(err, f"{file} has {n} variants (more than --max-variants "
                                      f"{most}); run them all?"):
        err.print(f"error: {file} has {n} variants, more than --max-variants {most}; fix: pass "
                  f"--max-variants {n} to run them all, or split the file", markup=False,
                  highlight=False, soft_wrap=True)
        return 2
    with Bars(SpinnerColumn(), TextColumn("{task.fields[variant]:<16}", markup=False),
              TextColumn("{task.description}", markup=False), BarColumn(bar_width=12),
              TimeElapsedColumn(), console=err, disable=a.quiet) as bars:
        tasks = {name: bars.add_task("queued", total=1, variant=printable(name), start=False)
                 for name in names}
        overall = bars.add_task("", total=len(names), variant="all variants")

        def on_event(name: str, msg: str) -> None:
            if name not in tasks:
                bars.update(overall, description=msg)
                return
            t = tasks[name]
            if msg in ("done", "failed"):
                bars.update(t, description=msg, completed=1)
                bars.stop_task(t)
                bars.advance(overall)
            else:
                bars.start_task(t)
                bars.update(t, description=msg)

        try:
            result = runner.run_scenario(a.file, out=a.out, workers=a.workers,
                                         on_event=on_event, executor=a.executor)
        except InputError as exc:
            bars.stop()
            err.print(f"error: {printable(exc)}", soft_wrap=True)
            return exc.exit_code
    _print_whatif(result)
    return 1 if result.failed else 0


def _confirm(err: Console, question: str) -> bool:
    """Ask on a terminal; anywhere else (a script, a pipe, CI) the answer is no."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return False
    err.print(question + " [y/N] ", end="", markup=False, highlight=False)
    try:
        answer = sys.stdin.readline()
    except (OSError, EOFError):
        return False
    return answer.strip().lower() in ("y", "yes")


def _print_whatif(result: WhatIfResult) -> None:
    """The comparison table of a what-if run, and its failures."""
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
        k, solved = r.kpis, r.solved
        if not r.ok or k is None or solved is None:
            t.add_row(printable(r.variant), "", "", Text("failed", style="red"), *[""] * 8)
            continue
        vb, mv = r.value_vs_base, r.marginal_value_per_collector
        t.add_row(
            printable(r.variant), str(k.collectors), str(k.cases_visited),
            f"{k.value_visited:,.0f}",
            f"{k.value_share:.1%}", "" if vb is None else f"{vb:+,.0f}",
            "" if mv is None else f"{mv:,.0f}", f"{k.travel_h:.1f}", f"{k.travel_km:.1f}",
            f"{k.utilisation_mean:.0%}", f"{k.utilisation_spread:.0%}",
            solved.started_from + (" (guard)" if solved.routes_from != "solver" else ""))
    con.print(t)
    for r in result.failed:
        con.print(Text(f"variant {printable(r.variant)} failed:", style="red"))
        con.print(printable(r.error))
    con.print(f"Report: {printable(result.out_dir / 'report.html')} (kpis.csv, kpis.json, one "
              "folder per variant)")


def _check_validate_options(a: argparse.Namespace) -> None:
    problems, across, bad = read_plan_options(a)
    if a.geocode and not {"geocoder", "user_agent"} & bad:
        problems += _geocoder_problems(a)
    problems += check_options(a, {"show": opt.whole(1)})
    problems += across
    try:
        out_is_dir = a.out is not None and a.out.is_dir()
        no_folder = a.out is not None and not a.out.absolute().parent.is_dir()
    except OSError as exc:  # a name too long for the file system
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


def _check_import_options(a: argparse.Namespace) -> None:
    a.store = _store_url(a.store)
    _raise_option_problems(_file_problems(a, ("file",)))


def _check_outcomes_import_options(a: argparse.Namespace) -> None:
    a.store = _store_url(a.store)
    problems = _file_problems(a, ("file",))
    problems += check_options(a, {"date": opt.day, "timezone": opt.time_zone})
    _raise_option_problems(problems)


def _check_outcomes_export_options(a: argparse.Namespace) -> None:
    a.store = _store_url(a.store)
    problems = []
    if a.out.suffix.lower() not in (".csv", ".xlsx"):
        problems.append(_option_problem("out", a.out, "is neither a .csv nor an .xlsx file",
                                        "give a file name ending in .csv or .xlsx"))
    if a.out.is_dir():
        problems.append(_option_problem("out", a.out, "is a folder", "give a file name, e.g. "
                                        "outcomes.csv"))
    elif not a.out.absolute().parent.is_dir():
        problems.append(_option_problem("out", a.out, "its folder does not exist",
                                        "create the folder, or give a file in an existing one"))
    _raise_option_problems(problems)


def _check_store_options(a: argparse.Namespace) -> None:
    a.store = _store_url(a.store)


def _check_correct_address_options(a: argparse.Namespace) -> None:
    a.store = _store_url(a.store)
    problems = check_options(a, {"lat": opt.number(-90.0, hi=90.0),
                                 "lon": opt.number(-180.0, hi=180.0)})
    if (getattr(a, "lat", None) is None) != (getattr(a, "lon", None) is None) and not problems:
        problems.append(_option_problem("lat" if a.lat is None else "lon", "", "given without "
                                        "the other", "give both --lat and --lon, or neither "
                                        "(the new address is then geocoded)"))
    _raise_option_problems(problems)


def _add_store(p: argparse.ArgumentParser | argparse._ArgumentGroup, *,
               default_note: str) -> None:
    p.add_argument("--store", default=None, metavar="URL",
                   help="the case store: a SQLAlchemy URL (sqlite:////path/store.sqlite, "
                        "postgresql+psycopg://user:password@host:5432/db) or a SQLite file "
                        f"path (default: ${STORE_ENV}, else {default_note})")


#: the plan options `replan` does not take: the day is the plan's, one day
NOT_REPLAN_OPTIONS = ("date", "days", "revisit_gap_days", "urgency_weight")


def _check_replan_options(a: argparse.Namespace) -> None:
    """Every problem of `replan`'s options at once: the plan folder, --at, --absent ids,
    --urgent, --out and the plan options (the policy defaults to the plan's)."""
    from optimizer.io.published import PlanFolderError, read_published
    from optimizer.outputs.write import out_dir_problem

    problems: list[str] = []
    a.day = None
    try:
        a.day = read_published(a.plan)
    except PlanFolderError as exc:
        problems.append(str(exc))
    if a.day is not None and a.policy is None and a.day.policy:
        a.policy = a.day.policy  # re-plan under the rules the day was planned with
    more, across, _ = read_plan_options(a)
    problems += more
    problems += check_options(a, {"at": opt.clock_time, "change_cost": opt.number(0.0)})
    if a.day is not None:
        known = a.day.collectors
        unknown = [x for x in a.absent if x not in known]
        if unknown:
            problems.append(_option_problem(
                "absent", " ".join(unknown), f"no collector of the plan in {a.plan} has this "
                f"id", f"give ids of the plan's collectors: {', '.join(sorted(known))}"))
    problems += _file_problems(a, ("urgent",))
    why = out_dir_problem(a.out)
    if why:
        problems.append(_option_problem("out", a.out, *why))
    _raise_option_problems(problems + across)


def cmd_replan(a: argparse.Namespace) -> int:
    """``collector-routes replan``: the rest of a published day from --at, written to --out."""
    from optimizer.outputs.write import write_replanned
    from optimizer.replan import done_by_clock, replan_day

    settings: PlanSettings = a.settings
    cases, collectors = read_inputs(a.cases, a.collectors)
    urgent = read_cases(a.urgent) if a.urgent else ()
    day = a.day
    done, positions = (done_from_store(a.store, day, a.at) if a.store is not None
                       else (done_by_clock(day, a.at), {}))
    progress = RichProgress(disable=a.quiet)
    geocoder = _geocoder(settings.geocoding, settings.roads.osm_path, settings.cache_dir,
                         progress)
    try:
        result = replan_day(day, cases, collectors, settings, at_s=a.at, done=done,
                            absent=a.absent, urgent=urgent, change_cost=a.change_cost,
                            positions=positions, geocoder=geocoder, progress=progress)
    finally:
        _report_unavailable(geocoder)
    output = settings.output
    updated_at = datetime.now().astimezone().strftime("%H:%M")  # the pages' "Updated at"
    write_replanned(result, a.out, updated_at=updated_at, tiles=output.tiles,
                    self_contained=output.self_contained, maps=output.maps, progress=progress)
    for cid in result.impossible:  # never silent, also with -q
        reason = next(u.reason for u in result.plan.unassigned if u.case.case_id == cid)
        print(printable(f"warning: urgent case {cid} cannot be visited: {reason}"),
              file=sys.stderr)
    if not a.quiet:
        print_summary(result.plan, Path(a.out))
        con = plain_console()
        con.print(f"Re-planned at {a.at // 3600:02d}:{a.at % 3600 // 60:02d}: "
                  f"{len(result.done)} visit(s) kept as done"
                  + (f", {', '.join(result.stopped)} stop" if result.stopped else "")
                  + f"; {len(result.moves)} case(s) changed route (changes.csv):")
        for m in result.moves[: 30]:
            con.print(printable(f"  {m.case_id}: {m.before or '-'} -> {m.after or '-'}"
                                + (f" ({m.reason})" if m.reason and not m.after else "")))
    return 0


def done_from_store(url: str, day, at_s: int
                    ) -> tuple[frozenset[str], dict[str, tuple[float, float]]]:
    """The seam to the case store: the published stops whose case has an outcome recorded on
    the plan's day at or before `at_s` (device time), ``no_attempt`` excepted (no visit
    happened), and the device positions recorded with them
    (`optimizer.store.history.visited_by`, `device_positions`)."""
    from optimizer.store.db import Store
    from optimizer.store.history import device_positions, visited_by

    ids = [s.case_id for r in day.routes for s in r.stops]
    with Store.open(url) as store, store.reading() as session:
        return (visited_by(session, ids, day.plan_date, at_s),
                device_positions(session, ids, day.plan_date, at_s))


def cmd_users(a: argparse.Namespace) -> int:
    """``users add NAME --role ROLE``: a console account, its password read from stdin;
    ``users list``: the accounts."""
    from optimizer.store import users
    from optimizer.store.db import Store

    with Store.open(a.store) as store:
        if a.action == "list":
            with store.reading() as s:
                accounts = users.list_users(s)
            for u in accounts:
                print(f"{printable(u.name)}  {u.role}")
            if not accounts:
                print("no console accounts; make one with `collector-routes users add NAME "
                      "--role dispatcher`")
            return 0
        if not a.name:
            raise ConfigError(_option_problem("name", "", "is needed by `users add`",
                                              "give the account's name, e.g. li.wei"))
        if sys.stdin.isatty():
            password = getpass.getpass(f"password for {a.name}: ")
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        with store.session() as s:
            user = users.add_user(s, a.name, password, role=a.role, actor=_actor("users"))
    print(f"added the console account {printable(user.name)} ({user.role})")
    return 0


def cmd_console(a: argparse.Namespace) -> int:
    """``console``: the dispatcher console and the collectors' pages on one server."""
    from optimizer.console import run
    from optimizer.console.settings import ConsoleSettings

    settings = ConsoleSettings(work_dir=a.dir, time_limit_s=a.time_limit,
                               max_solutions=a.max_solutions,
                               secure_cookies=a.secure_cookies or bool(
                                   a.public_url and a.public_url.startswith("https://")))
    run.serve_forever(store_url=_store_url(a.store), console=settings, host=a.host,
                      port=a.port, public_url=a.public_url)
    return 0


def _check_console_options(a: argparse.Namespace) -> None:
    _raise_option_problems(check_options(a, {
        "port": opt.whole(0, hi=65535), "time_limit": opt.number(0.0, strict=True,
                                                                 hi=24 * 3600.0),
        "max_solutions": opt.whole(1, allow_none=True)}) + _folder_problems(a, ("dir",)))


def _check_serve_options(a: argparse.Namespace) -> None:
    _raise_option_problems(check_options(a, {"port": opt.whole(0, hi=65535)}))


def _check_whatif_options(a: argparse.Namespace) -> None:
    problems = check_options(a, {"workers": opt.whole(1, hi=64),
                                 "max_variants": opt.whole(1)})
    problems += _folder_problems(a, ("out",))
    values, bad = parse_options(_given(a))  # --executor and --scheduler, as plan reads them
    settings, across = build_settings(values, base=option_defaults())
    a.executor = settings.executor
    problems += [_settings_problem(p) for p in [*bad, *across]]
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
    groups = add_plan_options(sp, first={"output": lambda g: g.add_argument(
        "--out", type=Path, default=None, help="output folder (default maps/<date>/)")})
    groups["output"].add_argument("-q", "--quiet", action="store_true",
                                  help="no progress bars or summary")
    groups["output"].add_argument(
        "--visit-pack", action="store_true",
        help="also write a printable visit pack per route (pack-<route>.html: one page per "
             "visit, the overdue notice, the repayment record from the store, the options "
             "offered; print it or save it as PDF from the browser)")
    groups["output"].add_argument(
        "--pack-template", type=Path, default=None, metavar="FILE",
        help="the lender's visit pack template (Jinja HTML, sandboxed; default: the shipped "
             "Chinese/English one, optimizer/outputs/assets/visit_pack.html)")
    groups["output"].add_argument(
        "--lender", type=Path, default=None, metavar="FILE",
        help="the lender's details for the visit pack, TOML: name, phone, how_to_pay, "
             "legal_statement, options (a list)")
    g = sp.add_argument_group("case store")
    _add_store(g, default_note="no store: the plan uses the case list only. With a store, "
               "--cases (or, without it, the store's latest import) is merged into it, the "
               "store's history of outcomes decides what is planned, and the plan written is "
               "recorded and published")
    for flag, what in OUTCOME_POLICY_OPTIONS.items():
        g.add_argument(flag, default=None, help=what,
                       metavar="SKILL" if flag == "--dispute-skill" else "N")
    sp.set_defaults(func=cmd_plan, check=check_plan_options)

    sp = sub.add_parser(
        "validate", help="check the case and collector lists, report problems",
        description="Check the case and collector lists: every problem at once, exit code 2 if "
                    "any. With --geocode, also geocode every address and list those not found "
                    "or matched with uncertainty (exit code 1 if any).")
    # the shifts are checked against --policy and --lunch, --geocode uses the geocoding options:
    # the plan options of the same names (optimizer.settings.OPTIONS)
    add_plan_options(sp, names=VALIDATE_OPTIONS)
    sp.add_argument("--geocode", action="store_true",
                    help="also geocode every address and report misses and uncertain matches")
    sp.add_argument("--out", type=Path, default=None,
                    help="write every address with its status, match and coordinates to this CSV")
    sp.add_argument("--show", default=30, help="rows per table (default 30)")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_validate, check=_check_validate_options)

    sp = sub.add_parser(
        "replan", help="re-plan the rest of a published day (absent collectors, urgent cases)",
        description="Re-plan the rest of the day planned in --plan from --at: the stops planned "
                    "to start before --at (or, with --store, those with an outcome recorded) "
                    "stay as they are, each crew continues from its last one, absent "
                    "collectors stop, urgent cases come first. Writes the new plan to --out "
                    "with changes.csv (the cases that moved).")
    replan = sp.add_argument_group("re-plan")
    replan.add_argument("--plan", type=Path, required=True, metavar="DIR",
                        help="the plan folder of the day (written by plan)")
    replan.add_argument("--at", required=True, metavar="HH:MM",
                        help="the time of the re-plan: no new visit starts before it")
    replan.add_argument("--absent", action="append", default=[], metavar="ID",
                        help="a collector who makes no further visit today (repeatable; a "
                             "team left below the policy's team size stops too)")
    replan.add_argument("--urgent", type=Path, default=None, metavar="CASES.csv",
                        help="cases to add, each a required visit: made whenever a crew can "
                             "(ahead of all others), else listed with the reason it cannot be "
                             "(a case list; a case of --cases with the same id is replaced)")
    replan.add_argument("--change-cost", default=None, metavar="VALUE",
                        help="what giving one of a crew's remaining stops to another crew must "
                             "gain, in value units (default: the policy's preferred_cost; 0 = "
                             "stops move freely); a crew keeps its stops in order unless a move "
                             "gains more")
    replan.add_argument("--store", default=None, metavar="URL",
                        help="the case store: the visits done are those with an outcome "
                             "recorded today up to --at (default: those planned before --at)")
    replan.add_argument("--out", type=Path, required=True, metavar="NEW_DIR",
                        help="folder of the new plan (may be --plan itself)")
    replan.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    add_plan_options(sp, names=[n for n in OPTIONS if n not in NOT_REPLAN_OPTIONS])
    sp.set_defaults(func=cmd_replan, check=_check_replan_options)

    sp = sub.add_parser("serve", help="serve a plan's pages with a private link per collector")
    sp.add_argument("dir", type=Path, help="a plan output folder (e.g. maps/2026-11-30)")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                    "127.0.0.1; 0.0.0.0 to reach it from phones on the network)")
    sp.add_argument("--port", default=8000, help="port, 0-65535, 0 = any free port "
                    "(default 8000)")
    sp.add_argument("--public-url", default=None,
                    help="address phones use to reach this server, e.g. http://192.168.1.5:8000 "
                         "(default: http://HOST:PORT)")
    sp.add_argument("--store", default=None,
                    help="the case store (a SQLAlchemy URL; default $COLLECTOR_ROUTES_STORE): "
                         "serve the web application, where collectors record each visit's "
                         "outcome (kept on the phone while offline) and the lender's systems "
                         "use the HTTP API (docs/api.md); without it, the pages alone "
                         "(no outcome form; the outcome endpoint answers 403)")
    sp.add_argument("--collectors", default=None, type=Path, metavar="FILE",
                    help="with --store: the collector list a re-plan through the API "
                         "(POST /api/v1/replan) reads (default: the bundled demo's)")
    sp.set_defaults(func=cmd_serve, check=_check_serve_options)

    sp = sub.add_parser("apikey", help="make, revoke or list keys of the lender's HTTP API",
                        description="Keys of the HTTP API (docs/api.md). `add NAME` prints a "
                        "new key once (the store keeps only its SHA-256); `revoke NAME` stops "
                        "it at once; `list` shows names and key ids, never keys.")
    sp.add_argument("action", choices=("add", "revoke", "list"))
    sp.add_argument("name", nargs="?", default=None,
                    help="the lender's system the key is for, e.g. loan-system")
    sp.add_argument("--store", default=None, help="the case store (a SQLAlchemy URL; default "
                    "$COLLECTOR_ROUTES_STORE, else SQLite in the user's data folder)")
    sp.set_defaults(func=cmd_apikey, check=lambda a: None)

    sp = sub.add_parser("users", help="make or list accounts of the dispatcher console",
                        description="Accounts of the console (`collector-routes console`). "
                        "`add NAME --role ROLE` reads the password from standard input (one "
                        "line; asked for on a terminal) and keeps only its argon2 hash.")
    sp.add_argument("action", choices=("add", "list"))
    sp.add_argument("name", nargs="?", default=None, help="the account's name, e.g. li.wei")
    sp.add_argument("--role", choices=("dispatcher", "planner", "admin"), default="dispatcher",
                    help="dispatcher: plans and publishes; planner: what-if only; admin: "
                    "accounts (default dispatcher)")
    sp.add_argument("--store", default=None, help="the case store (a SQLAlchemy URL; default "
                    "$COLLECTOR_ROUTES_STORE, else SQLite in the user's data folder)")
    sp.set_defaults(func=cmd_users, check=lambda a: None)

    sp = sub.add_parser("console", help="serve the dispatcher console (and the collectors' "
                        "pages) in a browser",
                        description="The dispatcher console at http://HOST:PORT/: sign in, "
                        "load the day, plan, adjust, publish the collectors' links, follow "
                        "the day. One process also serves the collectors' token pages of "
                        "the published plan (docs/console.md).")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                    "127.0.0.1; 0.0.0.0 to reach it from the office network and phones)")
    sp.add_argument("--port", default=8000, help="port, 0-65535, 0 = any free port "
                    "(default 8000)")
    sp.add_argument("--store", default=None, help="the case store (a SQLAlchemy URL; default "
                    "$COLLECTOR_ROUTES_STORE, else SQLite in the user's data folder)")
    sp.add_argument("--dir", type=Path, default=Path("maps/console"),
                    help="where uploads, draft plans and the published plan are kept "
                    "(default maps/console)")
    sp.add_argument("--time-limit", default=30.0, help="solver budget of a plan when the form "
                    "gives none, seconds (default 30)")
    sp.add_argument("--max-solutions", default=None, help="stop each search after this many "
                    "solutions (reproducible plans; default: the time limit only)")
    sp.add_argument("--public-url", default=None,
                    help="address phones and browsers use, e.g. http://192.168.1.5:8000 "
                         "(default: http://HOST:PORT); https:// marks the cookies Secure")
    sp.add_argument("--secure-cookies", action="store_true",
                    help="mark the session cookie Secure (when served over HTTPS by a proxy)")
    sp.set_defaults(func=cmd_console, check=_check_console_options)

    sp = sub.add_parser("whatif", help="run scenario variants side by side and compare them")
    sp.add_argument("file", type=Path, help="scenario file (.yaml/.toml)")
    sp.add_argument("--out", type=Path, default=None,
                    help="output folder (default maps/whatif-<name>/)")
    sp.add_argument("--workers", default=2, help="parallel processes, 1-64 (default 2)")
    sp.add_argument("--max-variants", default=opt.MAX_VARIANTS,
                    help="most variants run without asking (default %(default)s); a larger "
                         "file asks for confirmation on a terminal, or needs this option")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    add_plan_options(sp, names=WHATIF_OPTIONS)
    sp.set_defaults(func=cmd_whatif, check=_check_whatif_options)

    default_store = ("the SQLite file in the user's data folder, "
                     "~/.local/share/collector-routes/store.sqlite")
    sp = sub.add_parser(
        "import", help="merge a case list into the case store",
        description="Merge a case list (.csv or .xlsx, the columns of `plan --cases`) into the "
                    "case store: new cases added, changed ones updated, open cases the list no "
                    "longer has closed (kept, never deleted), a case paid in full kept closed "
                    "unless the list shows a new default. The same file again changes nothing. "
                    "Exit code 2 if the file has problems (all listed, nothing merged).")
    sp.add_argument("file", type=Path, help="case list, .csv or .xlsx")
    _add_store(sp, default_note=default_store)
    sp.add_argument("--partial", action="store_true",
                    help="a partial export: do not close the open cases it does not list")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_import, check=_check_import_options)

    sp = sub.add_parser("outcomes", help="record visit outcomes, export the compliance file")
    osub = sp.add_subparsers(dest="outcomes_command", required=True)
    op = osub.add_parser(
        "import", help="record the outcomes of a filled routes.xlsx or an outcome CSV",
        description="Record visit outcomes: a routes.xlsx as plan wrote it (every route sheet's "
                    "Outcome, Promise date YYYY-MM-DD and Amount paid columns filled in; the "
                    "outcome as its English code or Chinese label), or a CSV with the columns "
                    "case_id, outcome, promise_date, amount_paid, note (optional visit_date, "
                    "new_address, instalments). The visits must be stops of the plan the "
                    "store published for their day (plan --store). All of the file or "
                    "nothing: exit code 2 with every problem (file, sheet, row, case, field, "
                    "value, fix). Importing the same file again records nothing new; a row "
                    "changed since is recorded as a correction.")
    op.add_argument("file", type=Path, help="routes.xlsx, or an outcome .csv/.xlsx table")
    _add_store(op, default_note=default_store)
    op.add_argument("--date", default=None, metavar="YYYY-MM-DD",
                    help="day of the visits of a CSV without a visit_date column")
    op.add_argument("--timezone", default="local", metavar="ZONE",
                    help="the city's time zone, e.g. Asia/Shanghai or +08:00 (default: this "
                         "computer's); a visit is recorded at its planned start on that clock")
    op.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    op.set_defaults(func=cmd_outcomes_import, check=_check_outcomes_import_options)
    op = osub.add_parser(
        "export", help="write every recorded outcome and the audit log (compliance file)",
        description="Write the compliance file: one row per recorded outcome (who visited "
                    "whom, when, with which colleague, where, what was said, corrections both "
                    "ways), and the audit log: FILE.csv with FILE.audit.csv beside it, or one "
                    "FILE.xlsx with both sheets.")
    _add_store(op, default_note=default_store)
    op.add_argument("--out", type=Path, required=True, metavar="FILE",
                    help="FILE.csv or FILE.xlsx")
    op.set_defaults(func=cmd_outcomes_export, check=_check_outcomes_export_options)

    sp = sub.add_parser(
        "correct-address", help="correct a case's address in the store (after a wrong "
                                "address or moved report)",
        description="Correct a case's address in the case store: the case is planned again "
                    "(a wrong_address or moved report holds it back until then), and later "
                    "case exports that still show the old address keep the correction.")
    sp.add_argument("case_id", help="the case's id")
    sp.add_argument("address", help="the new address")
    sp.add_argument("--lat", default=None, help="the new pin's latitude (with --lon; default: "
                                                 "geocode the new address)")
    sp.add_argument("--lon", default=None, help="the new pin's longitude")
    sp.add_argument("--note", default="", help="why, for the audit log")
    _add_store(sp, default_note=default_store)
    sp.set_defaults(func=cmd_correct_address, check=_check_correct_address_options)

    sp = sub.add_parser("store", help="create or upgrade the case store, show what it holds")
    ssub = sp.add_subparsers(dest="store_command", required=True)
    op = ssub.add_parser("migrate", help="create the store or bring its schema to the newest",
                         description="Create the case store, or upgrade its schema to the "
                                     "newest migration (every command that uses the store "
                                     "does this too when it opens it).")
    _add_store(op, default_note=default_store)
    op.set_defaults(func=cmd_store_migrate, check=_check_store_options)
    op = ssub.add_parser("status", help="the store's schema and what it holds")
    _add_store(op, default_note=default_store)
    op.set_defaults(func=cmd_store_status, check=_check_store_options)
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
    except CollectorRoutesError as exc:  # every error a user can cause (optimizer.errors)
        print(f"error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


