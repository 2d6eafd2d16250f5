"""Bad and hostile inputs through the real command line, classified strictly (issue 10's evidence).

Every scenario writes a small input (files made from the bundled demo data `data/demo/` or by
hand) into a folder of its own, runs ``python -m optimizer ...`` in a child process (this
checkout on ``PYTHONPATH``, a time limit each, at most two at a time, loopback only) and
classifies what happened:

clear error
    non-zero exit, no traceback, the message names the file and row/field (or the option) the
    scenario broke, and gives a fix (``fix:``).
handled
    exit 0 and the written plan verified: `tests/plancheck.py`'s independent re-simulation, every
    input case exactly once in routes.csv or unassigned.csv with the amount, days past due and
    text *as the user meant them* (the scenario's own record of what it wrote, not the product's
    reading; modulo the documented ``'`` before text that would start a formula), visits inside
    the windows as meant, the pages showing every text literally (HTML-escaped, in the page
    data), no formula cell in routes.xlsx, nothing created by template syntax. Special conditions
    (Ctrl-C, kill -9, serve) check their own state instead (the previous plan intact, exit 130...).
traceback
    ``Traceback`` (or an uncaught exception in a thread or child) in the output, or a crash by
    a signal nobody sent.
silent change
    exit 0 but the checks above found data lost or changed, a rule bypassed or unsafe output; or
    exit 0 on an input that must be refused (a negative amount, a window 25:00-26:00...).
hang
    the time limit ran out.
unclear error / refused valid input
    non-zero exit whose message does not name the place and a fix; a valid input refused.

Outside the pytest suite: this measures, it does not assert. Usage::

    python scripts/hostile_inputs.py --out /tmp/hostile            # all scenarios
    python scripts/hostile_inputs.py --out /tmp/h --only 'enc-*'   # a subset (glob on id or class)
    python scripts/hostile_inputs.py --list                        # ids and classes

It prints a table per class of input and writes ``results.csv`` (id, class, command, exit
code, outcome, first line of the message, detail) to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import fnmatch
import html
import io
import json
import logging
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from plancheck import check_plan_outputs  # noqa: E402

from optimizer.io.inputs import (  # noqa: E402
    DEMO_CASES,
    DEMO_COLLECTORS,
    read_cases,
    read_collectors,
)
from optimizer.model import TimeWindow  # noqa: E402
from optimizer.outputs.write import check_plan_folder  # noqa: E402
from optimizer.planning import rules  # noqa: E402

DEMO = ROOT / "data" / "demo"
DATE = "2026-11-30"  # a Monday
PLAN_DATE = date.fromisoformat(DATE)
H = 3600
BASE = (30.670778, 104.053299)  # the demo's Qingyang branch (K03, K06, K09, K15)
OUTCOMES = ("clear error", "handled", "traceback", "silent change", "hang", "unclear error",
            "refused valid input")
BAD_OUTCOMES = ("traceback", "silent change", "hang", "unclear error", "refused valid input")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_TIMEOUT_S = 180.0

log = logging.getLogger("hostile")
SHARED: Shared | None = None  # set by `main`


# --------------------------------------------------------------------------- what a run gives


@dataclass
class Proc:
    """One child process: the command, how it ended and what it printed."""

    argv: list[str]
    returncode: int | None  # None: killed at the time limit
    stdout: str
    stderr: str
    seconds: float
    signalled: bool = False  # the harness sent the signal itself (kill -9, Ctrl-C)

    @property
    def text(self) -> str:
        return self.stdout + "\n" + self.stderr


@dataclass
class Outcome:
    """What a scenario found: its runs, what was expected, and the checks' findings."""

    procs: list[Proc]
    # "error", "ok", "either", "signal" (killed or interrupted on purpose), "report" (exit 0 or
    # 1 are answers: `validate --geocode`)
    expect: str
    where: list[str] = field(default_factory=list)  # a clear message names all of these
    problems: list[str] = field(default_factory=list)  # verification findings: data changed
    note: str = ""

    @property
    def main(self) -> Proc:
        return self.procs[-1]


@dataclass(frozen=True)
class Result:
    sid: str
    kind: str
    command: str
    returncode: int | None
    outcome: str
    message: str
    detail: str
    seconds: float


# --------------------------------------------------------------------------- classification

_UNCAUGHT = re.compile(r"Traceback \(most recent call last\)|^Exception in thread|"
                       r"^Exception ignored in|^Fatal Python error", re.M)


def first_message(p: Proc) -> str:
    """The first informative line the run printed (an error's first problem)."""
    lines = [ln.strip() for ln in (p.stderr + "\n" + p.stdout).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not any(ch in ln for ch in "━╸╺⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")]
    for i, ln in enumerate(lines):
        if re.fullmatch(r"variant .* failed:", ln) and i + 1 < len(lines):
            return f"{ln} {lines[i + 1]}"
        if ln.startswith("error:") or ln.startswith("Traceback"):
            if re.search(r"problems?:$", ln) and i + 1 < len(lines):
                return f"{ln} {lines[i + 1]}"
            if ln.startswith("Traceback"):
                tail = [x for x in lines[i:] if re.match(r"^[\w.]+(Error|Exception|Interrupt)", x)]
                return tail[-1] if tail else ln
            return ln
    return lines[0] if lines else ""


def classify(o: Outcome) -> tuple[str, str]:
    """(outcome, detail) of a scenario; strict: see the module docstring."""
    for p in o.procs:
        if p.returncode is None:
            return "hang", f"no answer within {p.seconds:.0f} s: {shlex.join(p.argv[-6:])}"
    for p in o.procs:
        m = _UNCAUGHT.search(p.text)
        if m:
            return "traceback", first_message(p)
        if p.returncode is not None and p.returncode < 0 and not p.signalled:
            return "traceback", f"killed by signal {-p.returncode}"
    if o.problems:
        return "silent change", "; ".join(o.problems)[:2000]
    p = o.main
    if o.expect == "signal" or (o.expect == "report" and p.returncode in (0, 1)):
        return "handled", o.note
    if p.returncode == 0:
        if o.expect == "error":
            return "silent change", ("exit 0 on an input that must be refused"
                                     + (f" ({o.note})" if o.note else ""))
        return "handled", o.note
    if o.expect == "ok":
        return "refused valid input", first_message(p)
    text = p.stderr + p.stdout
    missing = [w for w in o.where if w not in text]
    if "fix" not in text.lower():
        missing.append("a fix")
    # an "error: ..." line; what-if's failed variants: "variant NAME failed:" and the problem
    if not re.search(r"error: |^variant .* failed:$", text, re.M):
        missing.append("an 'error:' line")
    if missing:
        return "unclear error", f"message lacks {missing}: {first_message(p)}"
    return "clear error", ""


# --------------------------------------------------------------------------- the data

CASE_HEADER = ["case_id", "customer_name", "phone", "address", "district", "lat", "lon",
               "amount_overdue", "days_past_due", "windows", "service_minutes", "notes"]
COLLECTOR_HEADER = ["collector_id", "name", "team", "start_address", "start_lat", "start_lon",
                    "shift", "max_visits", "skills", "districts"]


def _demo_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def base_cases(n: int = 8) -> list[dict[str, str]]:
    """The `n` demo cases with coordinates nearest to the Qingyang branch (most fit one day)."""
    rows = [r for r in _demo_rows(DEMO_CASES) if r["lat"] and r["lon"]]
    rows.sort(key=lambda r: math.hypot(float(r["lat"]) - BASE[0], float(r["lon"]) - BASE[1]))
    out = []
    for r in rows[:n]:
        out.append({k: r.get(k, "") for k in CASE_HEADER} | {"windows": "",
                                                             "service_minutes": "20"})
    return out


def demo_cases_with_coords() -> list[dict[str, str]]:
    return [r for r in _demo_rows(DEMO_CASES) if r["lat"] and r["lon"]]


def base_collectors() -> list[dict[str, str]]:
    """Two demo collectors of the Qingyang branch (one team of two under the China policy)."""
    demo = {r["collector_id"]: r for r in _demo_rows(DEMO_COLLECTORS)}
    return [{k: demo[cid].get(k, "") for k in COLLECTOR_HEADER} for cid in ("K03", "K06")]


@dataclass
class Truth:
    """A case as the user meant it (what the plan must keep)."""

    case_id: str
    amount: float
    dpd: int
    texts: dict[str, str]
    windows: tuple[tuple[int, int], ...] | None = None  # on the plan date; None: not checked
    must_not_visit: bool = False  # a rule forbids the visit today (cooldown, promise...)


def _hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * H + int(m) * 60


def truth_of(rows: Sequence[dict[str, str]], over: dict[str, dict] | None = None
             ) -> list[Truth]:
    """Truths from rows written with plain values (`over`: attributes by case id)."""
    out = []
    for r in rows:
        w = r.get("windows", "")
        windows = None if w else ((0, 24 * H),)
        if re.fullmatch(r"\d\d:\d\d-\d\d:\d\d", w):
            windows = ((_hm(w[:5]), _hm(w[6:])),)
        dpd = _num(r.get("days_past_due", ""))
        t = Truth(r["case_id"].strip(), _num(r.get("amount_overdue", "")),
                  int(dpd) if dpd == dpd and dpd.is_integer() else -1,
                  {k: r.get(k, "").strip() for k in ("customer_name", "address", "notes",
                                                      "phone") if k in r},
                  windows)
        for k, v in (over or {}).get(t.case_id, {}).items():
            setattr(t, k, v)
        out.append(t)
    return out


def _num(text: str) -> float:
    """A plainly written number (anything else: NaN, which matches nothing)."""
    try:
        x = float(text)
    except ValueError:
        return math.nan
    return x if math.isfinite(x) else math.nan


def csv_text(header: Sequence[str], rows: Iterable[dict[str, str]], *, sep: str = ",",
             newline: str = "\n") -> str:
    def cell(v: str) -> str:
        # quoted when it holds the separator, a quote or a line break (CR too: the csv module
        # leaves a lone CR unquoted when the line terminator is "\n")
        if any(ch in v for ch in (sep, '"', "\r", "\n")):
            return '"' + v.replace('"', '""') + '"'
        return v

    lines = [sep.join(cell(h) for h in header)]
    lines += [sep.join(cell(r.get(h, "")) for h in header) for r in rows]
    return newline.join(lines) + newline


# --------------------------------------------------------------------------- verification


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _same_text(written: str, meant: str) -> bool:
    """A CSV cell keeps the text, or adds the documented "'" before a formula start."""
    return written == meant or (meant.startswith(FORMULA_START) and written == "'" + meant)


def _same_number(written: str | float, meant: float) -> bool:
    try:
        x = float(written)
    except (TypeError, ValueError):
        return False
    return abs(x - meant) <= 1e-9 * max(1.0, abs(meant))


def _page_data(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    # (a self-contained page also names the tag in a comment of its inlined script)
    blocks = re.findall(r'<script type="application/json" id="cr-data">(\{.*?)</script>', text,
                        re.S)
    if len(blocks) != 1:
        raise ValueError(f"{path.name}: {len(blocks)} page data blocks")
    return json.loads(blocks[0])


def _span(fieldname: str, text: str) -> str:
    return f'data-field="{fieldname}">{html.escape(text, quote=True)}</'


@dataclass
class PlanCheck:
    """What a plan written by one run must hold."""

    out: Path
    truth: list[Truth] | None
    cases_file: Path | None
    collectors_file: Path | None
    policy: rules.Policy
    plan_date: date = PLAN_DATE
    maps: bool = True
    shifts: dict[str, tuple[int, int]] | None = None  # collector_id -> shift as meant
    network: object = None
    marker_dir: Path | None = None


def verify_plan(pc: PlanCheck) -> list[str]:
    """Every finding that says the written plan lost or changed something (empty: it holds)."""
    out = pc.out
    if not (out / "manifest.json").is_file():
        return [f"exit 0 but {out.name}/manifest.json is missing"]
    try:
        errs = [f"manifest: {p}" for p in check_plan_folder(out)]
    except Exception as exc:  # noqa: BLE001 - a finding, not a harness crash
        return [f"manifest unreadable: {exc}"]
    routes = _read_csv(out / "routes.csv")
    unassigned = _read_csv(out / "unassigned.csv")
    plan_json = json.loads((out / "routes.json").read_text(encoding="utf-8"))
    stops = {s["case_id"]: s for r in plan_json["routes"] for s in r["stops"]}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    if pc.truth is not None:
        meant = {t.case_id: t for t in pc.truth}
        if summary.get("cases_total") != len(meant):
            errs.append(f"summary.json cases_total {summary.get('cases_total')} != "
                        f"{len(meant)} input cases")
        seen: dict[str, int] = {}
        for r in routes + unassigned:
            cid = r["case_id"]
            key = cid[1:] if cid[:1] == "'" and cid[1:2] in FORMULA_START else cid
            seen[key] = seen.get(key, 0) + 1
        for cid in meant:
            if seen.get(cid, 0) != 1:
                errs.append(f"case {cid!r} appears {seen.get(cid, 0)} times in "
                            "routes.csv + unassigned.csv")
        errs += [f"unknown case {cid!r} in the output" for cid in seen if cid not in meant]
        for r in routes + unassigned:
            cid = r["case_id"]
            t = meant.get(cid) or meant.get(cid[1:])
            if t is None:
                continue
            if not _same_number(r["amount_overdue"], t.amount):
                errs.append(f"{cid}: amount_overdue {r['amount_overdue']} != {t.amount!r} "
                            "as written")
            if not _same_number(r["days_past_due"], t.dpd):
                errs.append(f"{cid}: days_past_due {r['days_past_due']} != {t.dpd}")
            for f in ("customer_name", "address"):
                if f in r and f in t.texts and not _same_text(r[f], t.texts[f]):
                    errs.append(f"{cid}: {f} {r[f]!r} != {t.texts[f]!r} as written")
            if "start" in r and t.must_not_visit:
                errs.append(f"{cid}: visited although a rule forbids it today")
            if "start" in r and t.windows is not None:
                h, m, s = (int(x) for x in r["start"].split(":"))
                start = h * H + m * 60 + s
                if not any(a - 2 <= start <= b + 2 for a, b in t.windows):
                    errs.append(f"{cid}: visit starts {r['start']} outside its windows as "
                                f"written {t.windows}")
        for cid, s in stops.items():
            t = meant.get(cid)
            for f in ("customer_name", "address"):
                if t is not None and f in t.texts and s.get(f) != t.texts[f]:
                    errs.append(f"routes.json {cid}: {f} {s.get(f)!r} != {t.texts[f]!r}")
    if summary.get("cases_visited") == 0:
        # an empty plan is right only when no visit is worth its travel: a case that fits a
        # day on its own and is worth thousands says the search failed
        worth = [u["case_id"] for u in unassigned if u["reason_code"] == "lower_value"
                 and _same_number(u["value"], float(u["value"])) and float(u["value"]) > 1000]
        if worth:
            errs.append(f"the plan visits nothing although {len(worth)} case(s) fit a day on "
                        f"their own and are worth more than 1,000 (e.g. {worth[0]})")
    if pc.shifts:
        for r in plan_json["routes"]:
            for m in r["members"] or [r["collector_id"]]:
                if m in pc.shifts and r["stops"]:
                    a, b = pc.shifts[m]
                    if _hms(r["leave"]) < a - 2 or _hms(r["return"]) > b + pc.policy.overtime_s + 2:
                        errs.append(f"route {r['collector_id']}: {r['leave']}-{r['return']} "
                                    f"outside {m}'s shift as written")
    # the independent re-simulation (rules, windows, travel), on the product's reading
    if pc.cases_file is not None:
        try:
            cases = read_cases(pc.cases_file)
            collectors = read_collectors(pc.collectors_file or DEMO_COLLECTORS)
            errs += check_plan_outputs(out, cases, collectors, pc.plan_date, pc.policy,
                                       network=pc.network)
        except Exception as exc:  # noqa: BLE001
            errs.append(f"re-simulation could not run: {type(exc).__name__}: {exc}")
    if pc.maps:
        errs += _check_pages(pc, plan_json, unassigned, stops)
    errs += _check_workbook(out / "routes.xlsx")
    if pc.marker_dir is not None and any(pc.marker_dir.iterdir()):
        errs.append(f"template syntax ran code: {sorted(p.name for p in pc.marker_dir.iterdir())}")
    return errs


def _hms(clock: str) -> int:
    h, m, s = (int(x) for x in clock.split(":"))
    return h * H + m * 60 + s


def _check_pages(pc: PlanCheck, plan_json: dict, unassigned: list[dict], stops: dict) -> list[str]:
    out = pc.out
    errs: list[str] = []
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    names = [manifest["overview"], *manifest["pages"].values()]
    folded = [n.casefold() for n in names]
    if len(set(folded)) != len(folded):
        errs.append(f"two pages share a file name on a case-insensitive disk: {sorted(names)}")
    meant = {t.case_id: t for t in pc.truth} if pc.truth else {}
    for r in plan_json["routes"]:
        for member in r["members"] or [r["collector_id"]]:
            page = manifest["pages"].get(member)
            if page is None:
                errs.append(f"collector {member!r} has no page")
                continue
            try:
                data = _page_data(out / page)
            except (ValueError, OSError) as exc:
                errs.append(f"page of {member!r}: {exc}")
                continue
            raw = (out / page).read_text(encoding="utf-8")
            if html.escape(member, quote=True) not in raw:
                errs.append(f"page {page} does not show the collector id {member!r} as written")
            shown = {s["id"]: s["popup"] for s in data.get("stops", [])}
            for s in r["stops"]:
                cid = s["case_id"]
                popup = shown.get(cid)
                if popup is None:
                    errs.append(f"page {page}: stop {cid!r} missing")
                    continue
                t = meant.get(cid)
                texts = {"case-id": cid}
                if t is not None:
                    texts |= {"address": t.texts.get("address", ""),
                              "notes": t.texts.get("notes", "")}
                for f, v in texts.items():
                    if v and _span(f, v) not in popup:
                        errs.append(f"page {page}: {f} of {cid!r} not shown as written")
    try:
        overview = _page_data(out / manifest["overview"])
    except (ValueError, OSError, TypeError) as exc:
        return [*errs, f"overview page: {exc}"]
    points = {p["id"]: p["popup"] for p in overview.get("unvisited", {}).get("points", [])}
    for u in unassigned:
        cid = u["case_id"]
        popup = points.get(cid)
        if popup is None:
            continue  # no coordinates: not on the map
        reason = u["reason"][1:] if u["reason"][:1] == "'" else u["reason"]
        if _span("reason", reason) not in popup and _span("reason", u["reason"]) not in popup:
            errs.append(f"overview: the reason of {cid!r} is not shown as written")
        t = meant.get(cid)
        if t is not None and t.texts.get("address") and \
                _span("address", t.texts["address"]) not in popup:
            errs.append(f"overview: the address of {cid!r} is not shown as written")
    return errs


def _check_workbook(path: Path) -> list[str]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path)
    except Exception as exc:  # noqa: BLE001
        return [f"routes.xlsx cannot be opened: {exc}"]
    bad = [f"{ws.title}!{c.coordinate}" for ws in wb.worksheets for row in ws.iter_rows()
           for c in row if c.data_type == "f"]
    return [f"routes.xlsx has formula cells {bad[:3]}"] if bad else []


# --------------------------------------------------------------------------- running


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Shared:
    """What every scenario shares: the warm cache, the network, the child environment."""

    root: Path
    cache: Path
    env: dict[str, str]
    network: object = None
    timeout_s: float = DEFAULT_TIMEOUT_S


def child_env(cache: Path) -> dict[str, str]:
    """This checkout on the path; every proxy a closed loopback port, so that nothing a child
    tries to fetch (an online geocoder, an OSMnx download) leaves the machine."""
    dead = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update({"PYTHONPATH": str(ROOT), "COLLECTOR_ROUTES_CACHE": str(cache),
                "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead,
                "https_proxy": dead, "ALL_PROXY": dead, "all_proxy": dead,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "PYTHONIOENCODING": "utf-8", "COLUMNS": "160"})
    env.pop("PYTHONSTARTUP", None)
    return env


class Ctx:
    """One scenario's folder and helpers to write inputs and run the CLI."""

    def __init__(self, sid: str, folder: Path, shared: Shared) -> None:
        self.sid, self.dir, self.shared = sid, folder, shared
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cache = shared.cache

    # ---- files
    def write(self, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
        p = self.dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
        return p

    def cases(self, rows: Sequence[dict[str, str]] | None = None, *, name: str = "cases.csv",
              header: Sequence[str] | None = None, sep: str = ",", encoding: str = "utf-8",
              bom: bytes = b"", newline: str = "\n") -> Path:
        rows = base_cases() if rows is None else rows
        text = csv_text(header or _header_of(rows, CASE_HEADER), rows, sep=sep, newline=newline)
        return self.write(name, bom + text.encode(encoding))

    def collectors(self, rows: Sequence[dict[str, str]] | None = None, *,
                   name: str = "collectors.csv", header: Sequence[str] | None = None,
                   sep: str = ",", encoding: str = "utf-8") -> Path:
        rows = base_collectors() if rows is None else rows
        return self.write(name, csv_text(header or _header_of(rows, COLLECTOR_HEADER), rows,
                                         sep=sep).encode(encoding))

    def xlsx(self, name: str, header: Sequence[str], rows: Sequence[Sequence[object]],
             *, formats: dict[int, str] | None = None) -> Path:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.append(list(header))
        for r in rows:
            ws.append(list(r))
        for col, fmt in (formats or {}).items():
            for row in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                for c in row:
                    c.number_format = fmt
        p = self.dir / name
        wb.save(p)
        return p

    # ---- runs
    def run(self, argv: Sequence[object], *, timeout_s: float | None = None,
            env: dict[str, str] | None = None, cwd: Path | None = None,
            prefix: Sequence[str] = ()) -> Proc:
        args = [*prefix, sys.executable, "-m", "optimizer", *map(str, argv)]
        t0 = time.monotonic()
        p = subprocess.Popen(args, cwd=cwd or self.dir, env=env or self.shared.env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout_s or self.shared.timeout_s)
            rc: int | None = p.returncode
        except subprocess.TimeoutExpired:
            _kill_group(p)
            out, err = p.communicate()
            rc = None
        return Proc(args[len(prefix) + 3:], rc, _text(out), _text(err), time.monotonic() - t0)

    def start(self, argv: Sequence[object], **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "optimizer", *map(str, argv)],
                                cwd=kw.pop("cwd", self.dir), env=kw.pop("env", self.shared.env),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, **kw)

    def plan_argv(self, cases: Path | None, collectors: Path | None, *, out: Path | None,
                  extra: Sequence[object] = (), date_: str | None = DATE,
                  cache: Path | None = None, quick: bool = True) -> list[object]:
        argv: list[object] = ["plan"]
        if cases is not None:
            argv += ["--cases", cases]
        if collectors is not None:
            argv += ["--collectors", collectors]
        if date_ is not None:
            argv += ["--date", date_]
        if quick:
            argv += ["--time-limit", "5", "--max-solutions", "30", "--solver-option",
                     "num_workers=1"]
        argv += ["--cache-dir", cache or self.cache]
        if out is not None:
            argv += ["--out", out]
        return argv + list(extra)

    def plan(self, cases: Path | None = None, collectors: Path | None = None, *,
             truth: list[Truth] | None | str = "base", policy: str = "china",
             over: dict | None = None, extra: Sequence[object] = (), expect: str = "either",
             where: Sequence[str] = (), out: Path | None = None, date_: str | None = DATE,
             shifts: dict[str, tuple[int, int]] | None = None, network: object = None,
             cache: Path | None = None, timeout_s: float | None = None, note: str = "",
             marker_dir: Path | None = None, quick: bool = True,
             prefix: Sequence[str] = ()) -> Outcome:
        """`plan` on these files (default: the base inputs, written now) and its verification."""
        if cases is None:
            cases = self.cases()
        if collectors is None:
            collectors = self.collectors()
        if truth == "base":
            truth = truth_of(base_cases())
        out = out or self.dir / "plan"
        extra = list(extra)
        if policy != "china" and "--policy" not in map(str, extra):
            extra += ["--policy", policy]
        argv = self.plan_argv(cases, collectors, out=out, extra=extra, date_=date_, cache=cache,
                              quick=quick)
        p = self.run(argv, timeout_s=timeout_s, prefix=prefix)
        o = Outcome([p], expect, list(where), note=note)
        if p.returncode == 0:
            pol = replace(rules.policy_preset(policy), **(over or {}))
            o.problems = verify_plan(PlanCheck(
                out, truth if isinstance(truth, list) else None, cases, collectors, pol,
                plan_date=date.fromisoformat(date_) if date_ else PLAN_DATE,
                maps="--no-maps" not in map(str, extra), shifts=shifts,
                network=(network() if callable(network) else network) if network is not None
                else self.shared.network,
                marker_dir=marker_dir))
        return o

    def validate(self, cases: Path | None = None, collectors: Path | None = None, *,
                 n_cases: int | None = 8, n_collectors: int | None = 2, expect: str = "either",
                 where: Sequence[str] = (), extra: Sequence[object] = ()) -> Outcome:
        argv: list[object] = ["validate"]
        argv += ["--cases", cases or self.cases()]
        argv += ["--collectors", collectors or self.collectors()]
        p = self.run([*argv, *extra])
        o = Outcome([p], expect, list(where))
        if p.returncode == 0 and n_cases is not None:
            m = re.search(r"OK: (\d+) cases and (\d+) collectors", p.stdout)
            if not m:
                o.problems.append("validate exit 0 without its OK line")
            elif (int(m.group(1)), int(m.group(2))) != (n_cases, n_collectors):
                o.problems.append(f"validate counted {m.group(1)} cases and {m.group(2)} "
                                  f"collectors; the files hold {n_cases} and {n_collectors}")
        return o


def _header_of(rows: Sequence[dict[str, str]], default: Sequence[str]) -> list[str]:
    keys = [k for k in default if any(k in r for r in rows)] if rows else list(default)
    for r in rows:
        keys += [k for k in r if k not in keys]
    return keys


def _text(b: bytes | None) -> str:
    return (b or b"").decode("utf-8", errors="replace")


def _kill_group(p: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        p.kill()


def finish(p: subprocess.Popen, argv: Sequence[object], t0: float, *, timeout_s: float,
           signalled: bool = False) -> Proc:
    try:
        out, err = p.communicate(timeout=timeout_s)
        rc: int | None = p.returncode
    except subprocess.TimeoutExpired:
        _kill_group(p)
        out, err = p.communicate()
        rc = None
    return Proc([*map(str, argv)], rc, _text(out), _text(err), time.monotonic() - t0,
                signalled=signalled)


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Scenario:
    sid: str
    kind: str
    fn: Callable[[Ctx], Outcome]
    solo: bool = False  # runs alone (it starts two processes itself, or times things)


SCENARIOS: list[Scenario] = []


def scenario(sid: str, kind: str, *, solo: bool = False):
    def deco(fn: Callable[[Ctx], Outcome]) -> Callable[[Ctx], Outcome]:
        if any(s.sid == sid for s in SCENARIOS):
            raise ValueError(f"duplicate scenario id {sid}")
        SCENARIOS.append(Scenario(sid, kind, fn, solo))
        return fn
    return deco


def add(sid: str, kind: str, fn: Callable[[Ctx], Outcome], *, solo: bool = False) -> None:
    scenario(sid, kind, solo=solo)(fn)



# =========================================================================== the corpus
#
# Row i of `base_cases()` is spreadsheet row i + 2 (the header is row 1). Each scenario says what
# a correct product does: "error" (must be refused, clearly), "ok" (must be planned and verified)
# or "either" (a clear refusal, or a verified plan of what the user meant).


def cases_with(i: int = 0, **fields: str) -> list[dict[str, str]]:
    rows = base_cases()
    rows[i].update(fields)
    return rows


def cid(i: int) -> str:
    return base_cases()[i]["case_id"]


def case_value(sid: str, kind: str, fieldname: str, value: str, *, expect: str,
               meant: dict | None = None, i: int = 0, sep: str = ",",
               where: Sequence[str] | None = None, more: dict[str, str] | None = None,
               validate: bool = False) -> None:
    """A scenario: case row `i` gets `value` in `fieldname`; `meant`: what the user meant."""

    def fn(c: Ctx) -> Outcome:
        rows = cases_with(i, **{fieldname: value}, **(more or {}))
        f = c.cases(rows, sep=sep)
        w = list(where) if where is not None else ["cases.csv", f"row {i + 2}"]
        if validate:
            return c.validate(f, expect=expect, where=w)
        return c.plan(f, truth=truth_of(rows, {rows[i]["case_id"]: meant or {}}),
                      expect=expect, where=w)

    add(sid, kind, fn)


# --------------------------------------------------------------------------- encodings

LATIN = {0: {"customer_name": "Jürgen Müller", "address": "Rua São João 12",
             "notes": "Café, 2º andar; façade"},
         1: {"customer_name": "Begoña Ibáñez", "address": "Calle Peña 3",
             "notes": "llamar antes"}}
WESTERN = {0: {"customer_name": "Zoë “Zee” O’Neil", "address": "12 Rue de l’Église",
               "notes": "owes €1,200 – call first…"}}


def _with_texts(texts: dict[int, dict[str, str]], *, spread: bool = True
                ) -> list[dict[str, str]]:
    """The base cases with `texts` on their rows; `spread`: every row's text in that language
    (for encodings without Chinese: row k takes the text of the nearest given row at or before
    k, numbered)."""
    rows = base_cases()
    if not spread:
        for i, t in texts.items():
            rows[i].update(t)
        return rows
    if not texts:
        return rows
    first = texts[min(texts)]
    for k, r in enumerate(rows):
        t = {**first, **(texts.get(k) or texts[max(i for i in texts if i <= k)])}
        r.update({f: (v if k in texts else f"{v} {k}") for f, v in t.items()})
        r["district"] = t.get("district", r["customer_name"].split()[0])
    return rows


def encoded(sid: str, encoding: str, *, bom: bytes = b"", expect: str = "ok",
            texts: dict[int, dict[str, str]] | None = None, sep: str = ",",
            spread: bool = True) -> None:
    def fn(c: Ctx) -> Outcome:
        rows = _with_texts(texts or {}, spread=spread)
        if encoding == "utf-16":  # native order, with the BOM Python writes
            data = csv_text(CASE_HEADER, rows, sep=sep).encode("utf-16")
            f = c.write("cases.csv", data)
        else:
            f = c.cases(rows, encoding=encoding, bom=bom, sep=sep)
        return c.plan(f, truth=truth_of(rows), expect=expect, where=["cases.csv"])

    add(sid, "encoding", fn)


encoded("enc-gbk", "gbk")
encoded("enc-gb18030-beyond-gbk", "gb18030",
        texts={0: {"customer_name": "吉𠮷祥", "notes": "𠀀 生僻字 客户"}}, spread=False)
encoded("enc-utf16le-bom", "utf-16-le", bom=b"\xff\xfe")
encoded("enc-utf16be-bom", "utf-16-be", bom=b"\xfe\xff")
encoded("enc-utf16-excel-tabs", "utf-16", sep="\t")
encoded("enc-utf16le-no-bom", "utf-16-le", expect="either")
encoded("enc-utf16be-no-bom", "utf-16-be", expect="either")
encoded("enc-utf8-bom", "utf-8", bom=b"\xef\xbb\xbf")
encoded("enc-utf32-bom", "utf-32")
encoded("enc-latin1", "latin-1", texts=LATIN)
encoded("enc-cp1252", "cp1252", texts=WESTERN)
encoded("enc-big5", "big5", expect="either",
        texts={0: {"customer_name": "陳大文", "address": "臺北市中正區重慶南路一段122號",
                   "notes": "請先電話聯繫"}})
encoded("enc-shift-jis", "shift_jis", expect="either",
        texts={0: {"customer_name": "山田太郎", "address": "東京都千代田区丸の内1丁目",
                   "notes": "午前中に訪問"}})
encoded("enc-euc-kr", "euc-kr", expect="either",
        texts={0: {"customer_name": "김철수", "address": "서울특별시 중구 세종대로 110",
                   "notes": "전화 먼저"}})


def _mixed(first: str, second: str, texts: dict[int, dict[str, str]] | None = None):
    def fn(c: Ctx) -> Outcome:
        rows = _with_texts(texts or {})
        head = csv_text(CASE_HEADER, rows[:4]).encode(first)
        tail = csv_text(CASE_HEADER, rows[4:]).split("\n", 1)[1].encode(second)
        f = c.write("cases.csv", head + tail)
        return c.plan(f, truth=truth_of(rows), expect="either", where=["cases.csv"])
    return fn


add("enc-mixed-utf8-gbk", "encoding", _mixed("utf-8", "gbk"))
add("enc-mixed-utf8-latin1", "encoding", _mixed("utf-8", "latin-1", {
    **LATIN, 5: {"customer_name": "Müller-Lüdenscheidt", "notes": "Grüße"}}))


def _stray_byte(c: Ctx) -> Outcome:
    # a UTF-8 file with one byte of another encoding (a name pasted from an old system)
    rows = _with_texts(LATIN)
    data = csv_text(CASE_HEADER, rows).encode("utf-8").replace("Peña".encode(), b"Pe\xf1a")
    f = c.write("cases.csv", data)
    return c.plan(f, truth=truth_of(rows), expect="either", where=["cases.csv"])


add("enc-utf8-one-latin1-byte", "encoding", _stray_byte)


def _bom_lies(c: Ctx) -> Outcome:
    f = c.write("cases.csv", b"\xef\xbb\xbf" + csv_text(CASE_HEADER, base_cases()).encode("gbk"))
    return c.plan(f, expect="error", where=["cases.csv", "byte-order mark"])


add("enc-utf8-bom-on-gbk", "encoding", _bom_lies)


def _collectors_gbk(c: Ctx) -> Outcome:
    f = c.collectors(encoding="gbk")
    return c.plan(collectors=f, expect="ok")


add("enc-collectors-gbk", "encoding", _collectors_gbk)

# --------------------------------------------------------------------------- numbers

A = "amount_overdue"
case_value("num-semicolon-decimal-comma", "numbers", A, "1.234,56", sep=";", expect="ok",
           meant={"amount": 1234.56})
case_value("num-semicolon-comma-only", "numbers", A, "1234,56", sep=";", expect="ok",
           meant={"amount": 1234.56})
# the column's other numbers write a decimal point: 1,234 groups thousands (README)
case_value("num-semicolon-column-settles", "numbers", A, "1,234", sep=";", expect="either",
           meant={"amount": 1234.0}, where=["cases.csv", "row 2", "amount_overdue", "1,234"])


def _ambiguous_column(c: Ctx) -> Outcome:
    rows = [dict(r, amount_overdue=str(round(float(r[A])))) for r in base_cases()]
    rows[0][A] = "1,234"  # nothing in the file says whether that is 1.234 or 1234
    return c.plan(c.cases(rows, sep=";"), truth=truth_of(rows), expect="error",
                  where=["cases.csv", "row 2", A, "1,234"])


add("num-semicolon-ambiguous", "numbers", _ambiguous_column)
case_value("num-quoted-thousands", "numbers", A, "15,800.50", expect="ok",
           meant={"amount": 15800.5})
case_value("num-quoted-decimal-comma", "numbers", A, "1234,56", expect="ok",
           meant={"amount": 1234.56})
case_value("num-tab-spaced-groups", "numbers", A, "1 234,56", sep="\t", expect="ok",
           meant={"amount": 1234.56})
case_value("num-swiss-apostrophe", "numbers", A, "1'500.50", expect="either",
           meant={"amount": 1500.5})
case_value("num-yen", "numbers", A, "¥1,500.50", expect="ok", meant={"amount": 1500.5})
case_value("num-fullwidth-yen", "numbers", A, "￥1500", expect="ok", meant={"amount": 1500.0})
case_value("num-dollar", "numbers", A, "$1500", expect="either", meant={"amount": 1500.0})
case_value("num-yuan-suffix", "numbers", A, "1500元", expect="either", meant={"amount": 1500.0})
case_value("num-negative", "numbers", A, "-500", expect="error",
           where=["cases.csv", "row 2", "amount_overdue", "-500"])
case_value("num-huge", "numbers", A, "1e13", expect="error", where=["row 2", "amount_overdue"])
case_value("num-nan", "numbers", A, "NaN", expect="error", where=["row 2", "amount_overdue"])
case_value("num-inf", "numbers", A, "inf", expect="error", where=["row 2", "amount_overdue"])
case_value("num-minus-inf", "numbers", A, "-inf", expect="error",
           where=["row 2", "amount_overdue"])
case_value("num-1e400", "numbers", A, "1e400", expect="error",
           where=["row 2", "amount_overdue"])
case_value("num-exponent", "numbers", A, "1.5e4", expect="either", meant={"amount": 15000.0})
case_value("num-zero", "numbers", A, "0", expect="ok", meant={"amount": 0.0})
case_value("num-plus-sign", "numbers", A, "+1500", expect="either", meant={"amount": 1500.0})
case_value("num-fullwidth-digits", "numbers", A, "１５８００", expect="either",
           meant={"amount": 15800.0})
case_value("num-arabic-indic-digits", "numbers", A, "١٥٠٠", expect="either",
           meant={"amount": 1500.0})
case_value("num-underscore", "numbers", A, "1_500", expect="either", meant={"amount": 1500.0})
case_value("num-hex", "numbers", A, "0x10", expect="error", where=["row 2", "amount_overdue"])
case_value("num-blank-amount", "numbers", A, "", expect="error",
           where=["row 2", "amount_overdue"])
case_value("num-text-amount", "numbers", A, "unknown", expect="error",
           where=["row 2", "amount_overdue"])
D = "days_past_due"
case_value("num-dpd-fraction", "numbers", D, "45.5", expect="error",
           where=["row 2", "days_past_due"])
case_value("num-dpd-negative", "numbers", D, "-3", expect="error",
           where=["row 2", "days_past_due"])
case_value("num-dpd-huge", "numbers", D, "100000", expect="error",
           where=["row 2", "days_past_due"])
case_value("num-dpd-with-unit", "numbers", D, "45 days", expect="either", meant={"dpd": 45},
           where=["row 2", "days_past_due"])
case_value("num-dpd-whole-float", "numbers", D, "45.0", expect="either", meant={"dpd": 45})
case_value("num-dpd-nan", "numbers", D, "nan", expect="error", where=["row 2", "days_past_due"])
S = "service_minutes"
case_value("num-service-0", "numbers", S, "0", expect="error", where=["row 2", S])
case_value("num-service-10000", "numbers", S, "10000", expect="error", where=["row 2", S])
case_value("num-service-text", "numbers", S, "20min", expect="either", where=["row 2", S])
case_value("num-service-inf", "numbers", S, "inf", expect="error", where=["row 2", S])
case_value("num-lat-lon-swapped", "numbers", "lat", "104.052587", expect="error",
           more={"lon": "30.670626"}, where=["row 2", "lat"])
case_value("num-lat-out-of-range", "numbers", "lat", "95", expect="error",
           where=["row 2", "lat"])
case_value("num-lon-out-of-range", "numbers", "lon", "-181", expect="error",
           where=["row 2", "lon"])
case_value("num-lat-without-lon", "numbers", "lon", "", expect="either",
           where=["row 2", "lon"])
case_value("num-lat-lon-zero", "numbers", "lat", "0", expect="error", more={"lon": "0"},
           where=["row 2", "lat"])
case_value("num-lat-dms", "numbers", "lat", "30°40'14\"N", expect="either",
           where=["row 2", "lat"])
case_value("num-lat-nan", "numbers", "lat", "nan", expect="error", where=["row 2", "lat"])
case_value("num-lat-inf", "numbers", "lon", "inf", expect="error", where=["row 2", "lon"])
case_value("num-latlon-far-away", "numbers", "lat", "41.1496", more={"lon": "-8.6110"},
           expect="ok")
case_value("num-latlon-poles", "numbers", "lat", "90", more={"lon": "180"}, expect="ok")


def _unquoted_latlon_comma(c: Ctx) -> Outcome:
    text = csv_text(CASE_HEADER, base_cases())
    first = base_cases()[0]
    text = text.replace(f"{first['lat']},{first['lon']}",
                        f"{first['lat'].replace('.', ',')},{first['lon']}")
    return c.plan(c.write("cases.csv", text), expect="error", where=["cases.csv", "row 2"])


add("num-latlon-decimal-comma-unquoted", "numbers", _unquoted_latlon_comma)


def _unquoted_thousands(c: Ctx) -> Outcome:
    rows = cases_with(0, amount_overdue="THOUSANDS")
    text = csv_text(CASE_HEADER, rows).replace("THOUSANDS", "15,800.50")
    return c.plan(c.write("cases.csv", text), expect="error", where=["cases.csv", "row 2"])


add("num-unquoted-thousands", "numbers", _unquoted_thousands)


def _semicolon_latlon(c: Ctx) -> Outcome:
    rows = base_cases()
    written = [dict(r, lat=r["lat"].replace(".", ","), lon=r["lon"].replace(".", ","))
               for r in rows]
    return c.plan(c.cases(written, sep=";"), truth=truth_of(rows), expect="ok")


add("num-semicolon-latlon-commas", "numbers", _semicolon_latlon)

# --------------------------------------------------------------------------- rows


def raw_cases(sid: str, data: bytes | str, *, expect: str = "error",
              where: Sequence[str] = ("cases.csv",), name: str = "cases.csv",
              truth: list[Truth] | None | str = None) -> None:
    def fn(c: Ctx) -> Outcome:
        f = c.write(name, data)
        return c.plan(f, truth=truth, expect=expect, where=list(where))

    add(sid, "rows", fn)


HEAD = ",".join(CASE_HEADER) + "\n"
raw_cases("row-empty-file", b"")
raw_cases("row-header-only", HEAD)
raw_cases("row-only-blank-lines", "\n\n\n\n")
raw_cases("row-blank-and-empty-records", HEAD + ",,,,,,,,,,,\n   \n\n,, ,\n")
raw_cases("row-bom-only", b"\xef\xbb\xbf")
raw_cases("row-json-extension", csv_text(CASE_HEADER, base_cases()), name="cases.json",
          where=["cases.json"])
raw_cases("row-no-extension", csv_text(CASE_HEADER, base_cases()), name="cases",
          where=["cases"])
raw_cases("row-pipe-separated", csv_text(CASE_HEADER, base_cases(), sep="|"),
          where=["cases.csv", "case_id"])
raw_cases("row-cr-line-endings", csv_text(CASE_HEADER, base_cases(), newline="\r"),
          expect="ok", truth="base")
raw_cases("row-crlf-no-final-newline", csv_text(CASE_HEADER, base_cases(), newline="\r\n")
          .rstrip("\r\n"), expect="ok", truth="base")
raw_cases("row-tab-separated", csv_text(CASE_HEADER, base_cases(), sep="\t"), expect="ok",
          truth="base")
raw_cases("row-tsv-extension", csv_text(CASE_HEADER, base_cases(), sep="\t"), name="cases.tsv",
          expect="ok", truth="base")
raw_cases("row-txt-extension", csv_text(CASE_HEADER, base_cases()), name="cases.txt",
          expect="ok", truth="base")
raw_cases("row-excel-sep-line", "sep=;\n" + csv_text(CASE_HEADER, base_cases(), sep=";"),
          expect="either", truth="base")
raw_cases("row-comment-line", "# exported 2026-11-29 by CMS\n" + csv_text(CASE_HEADER,
                                                                          base_cases()),
          expect="either", truth="base")


def _rows_case(sid: str, rows: list[dict[str, str]], *, expect: str,
               where: Sequence[str] = ("cases.csv",), header: Sequence[str] | None = None,
               truth: list[Truth] | None = None, validate: bool = False) -> None:
    def fn(c: Ctx) -> Outcome:
        f = c.cases(rows, header=header)
        if validate:
            return c.validate(f, expect=expect, where=list(where), n_cases=len(rows))
        return c.plan(f, truth=truth if truth is not None else truth_of(rows), expect=expect,
                      where=list(where))
    add(sid, "rows", fn)


_dup = base_cases()
_dup[3]["case_id"] = _dup[1]["case_id"]
_rows_case("row-duplicate-ids", _dup, expect="error", where=["cases.csv", "row 5", "duplicate"])
_dup2 = base_cases()
_dup2[3]["case_id"] = " " + _dup2[1]["case_id"] + " "
_rows_case("row-duplicate-ids-with-spaces", _dup2, expect="error",
           where=["cases.csv", "row 5", "duplicate"])
_dup3 = base_cases()
_dup3[3]["case_id"] = _dup3[1]["case_id"].lower()
_rows_case("row-ids-differ-in-case", _dup3, expect="either")
_blank_id = base_cases()
_blank_id[2]["case_id"] = ""
_rows_case("row-blank-id", _blank_id, expect="error", where=["cases.csv", "row 4", "case_id"],
           truth=[])
_rows_case("row-one-case", base_cases()[:1], expect="ok")
_rows_case("row-unknown-columns", [dict(r, 催收备注="x", extra="y") for r in base_cases()],
           expect="ok", header=[*CASE_HEADER, "催收备注", "extra"])
_rows_case("row-reordered-columns", base_cases(), expect="ok",
           header=list(reversed(CASE_HEADER)))
_rows_case("row-missing-amount-column", base_cases(), expect="error",
           header=[h for h in CASE_HEADER if h != A], where=["cases.csv", A])


def _dup_column(c: Ctx) -> Outcome:
    rows = base_cases()
    text = csv_text([*CASE_HEADER, "second"], [dict(r, second="999") for r in rows])
    text = text.replace(",second\n", f",{A}\n", 1)  # a second amount_overdue, other numbers
    return c.plan(c.write("cases.csv", text), expect="error", where=["cases.csv", A])


add("row-duplicate-column", "rows", _dup_column)


def _alias_column(c: Ctx) -> Outcome:
    rows = [dict(r, 逾期金额="1") for r in base_cases()]
    f = c.cases(rows, header=[*CASE_HEADER, "逾期金额"])
    return c.plan(f, expect="error", where=["cases.csv", "逾期金额"])


add("row-alias-duplicates-column", "rows", _alias_column)


def _header_spelling(c: Ctx) -> Outcome:
    rows = base_cases()
    head = [" Case ID ", "Customer Name", "PHONE", "Address", "District", "Lat", "Lon",
            "Amount Overdue", "Days Past Due", "Windows", "Service Minutes", "Notes"]
    text = csv_text(CASE_HEADER, rows).split("\n", 1)[1]
    return c.plan(c.write("cases.csv", ",".join(head) + "\n" + text), truth=truth_of(rows),
                  expect="ok")


add("row-header-case-and-spaces", "rows", _header_spelling)


def _chinese_headers(c: Ctx) -> Outcome:
    rows = base_cases()
    head = ["案件编号", "客户姓名", "联系电话", "地址", "区县", "纬度", "经度", "逾期金额（元）",
            "逾期天数", "可上门时间", "上门时长", "备注"]
    text = csv_text(CASE_HEADER, rows).split("\n", 1)[1]
    return c.plan(c.write("cases.csv", ",".join(head) + "\n" + text, encoding="gbk"),
                  truth=truth_of(rows), expect="ok")


add("row-chinese-headers-gbk", "rows", _chinese_headers)


def _more_cells(c: Ctx) -> Outcome:
    rows = cases_with(1, notes="COMMA")
    text = csv_text(CASE_HEADER, rows).replace("COMMA", "call first, then visit")
    return c.plan(c.write("cases.csv", text), expect="error", where=["cases.csv", "row 3"])


add("row-more-cells-than-header", "rows", _more_cells)


def _fewer_cells(c: Ctx) -> Outcome:
    rows = base_cases()
    lines = csv_text(CASE_HEADER, rows).splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0]  # row 3 loses its notes cell
    meant = truth_of(rows, {rows[1]["case_id"]: {"texts": {**truth_of(rows)[1].texts,
                                                           "notes": ""}}})
    return c.plan(c.write("cases.csv", "\n".join(lines) + "\n"), truth=meant, expect="ok")


add("row-fewer-cells-than-header", "rows", _fewer_cells)
_rows_case("row-quoted-newline", cases_with(0, notes="第一行\n第二行\r\n第三行"), expect="ok")
_rows_case("row-u2028-u2029", cases_with(0, notes="before\u2028middle\u2029after"), expect="ok")
_rows_case("row-30k-field", cases_with(0, notes="长" * 30_000), expect="ok")
_rows_case("row-40k-field", cases_with(0, notes="长" * 40_000), expect="error",
           where=["cases.csv", "row 2", "notes"])
_rows_case("row-nul-byte", cases_with(0, notes="nul\x00byte"), expect="either",
           where=["cases.csv", "row 2"])
_rows_case("row-control-chars", cases_with(0, notes="bell\x07 esc\x1b[31mred\x1b[0m bs\x08"),
           expect="either", where=["cases.csv", "row 2"])
raw_cases("row-1mb-field", HEAD + csv_text(CASE_HEADER, base_cases()).split("\n", 1)[1]
          + "C-X,n,p,addr,d,30.67,104.05,100,10,,20," + "x" * 1_000_000 + "\n",
          where=["cases.csv", "row 10"])
raw_cases("row-unclosed-quote", HEAD + csv_text(CASE_HEADER, base_cases()).split("\n", 1)[1]
          .replace(",20,", ',20,"never closed ', 1), where=["cases.csv", "row 2"])
raw_cases("row-text-after-quote", csv_text(CASE_HEADER, cases_with(0, notes="QQ"))
          .replace("QQ", '"quoted" then text'), where=["cases.csv", "row 2"], expect="either",
          truth=truth_of(cases_with(0, notes='quoted then text')))


def _value_without_header(c: Ctx) -> Outcome:
    rows = base_cases()
    text = csv_text([*CASE_HEADER, ""], [dict(r, **{"": "lost?"}) for r in rows])
    return c.plan(c.write("cases.csv", text), expect="error", where=["cases.csv", "row 2"])


add("row-value-under-blank-header", "rows", _value_without_header)


def _cases_folder(c: Ctx) -> Outcome:
    (c.dir / "cases.csv").mkdir()
    return c.plan(c.dir / "cases.csv", expect="error", where=["--cases"])


add("row-cases-is-a-folder", "rows", _cases_folder)
add("row-cases-dev-null", "rows",
    lambda c: c.plan(Path("/dev/null"), expect="error", where=["--cases"]))
add("row-cases-missing-file", "rows",
    lambda c: c.plan(c.dir / "nowhere.csv", expect="error", where=["--cases", "nowhere.csv"]))


def _fifo(c: Ctx) -> Outcome:
    os.mkfifo(c.dir / "cases.csv")
    return c.plan(c.dir / "cases.csv", expect="error", where=["--cases"])


add("row-cases-is-a-fifo", "rows", _fifo)
LONG = "n" * 300  # longer than a file name may be
add("row-cases-name-too-long", "rows",
    lambda c: c.plan(c.dir / f"{LONG}.csv", expect="error", where=["--cases"]))
add("cache-dir-name-too-long", "cache",
    lambda c: c.plan(cache=c.dir / LONG, expect="error", where=["--cache-dir"]))
add("geo-validate-out-name-too-long", "geocoder",
    lambda c: Outcome([c.run(["validate", "--cases", c.cases(), "--collectors", c.collectors(),
                              "--out", c.dir / f"{LONG}.csv"])], "error", ["--out"]))
add("serve-folder-name-too-long", "serve",
    lambda c: Outcome([c.run(["serve", c.dir / LONG, "--port", "0"])], "error", ["serve"]))
add("wi-out-name-too-long", "whatif",
    lambda c: Outcome([c.run(["whatif", c.write("s.yaml", "base: {policy: none}\n"
                                                "variants: {}\n"), "--out", c.dir / LONG])],
                      "error", ["--out"]))


def _many_rows(n: int, *, quick: bool = True):
    def fn(c: Ctx) -> Outcome:
        demo = demo_cases_with_coords()
        rows = []
        for k in range(n):
            r = demo[k % len(demo)]
            rows.append({h: r.get(h, "") for h in CASE_HEADER} | {
                "case_id": f"X{k:05d}", "windows": "", "service_minutes": "20",
                "lat": f"{float(r['lat']) + (k // len(demo)) * 1e-4:.6f}"})
        f = c.cases(rows)
        team = c.write("collectors.csv", DEMO_COLLECTORS.read_bytes())
        # a 5-second limit is too short for 3,000 cases: a clear refusal with the fix is right
        return c.plan(f, team, truth=truth_of(rows), expect="either" if quick and n >= 1000
                      else "ok", where=["--time-limit"], timeout_s=900, quick=quick)
    return fn


add("row-3000-cases", "size", _many_rows(3000))
add("row-3000-cases-default-limit", "size", _many_rows(3000, quick=False))
add("row-300-cases-demo-team", "size", _many_rows(300))

# --------------------------------------------------------------------------- dates

LV = "last_visit_date"
case_value("date-trailing-text", "dates", LV, "2026-11-20abc", expect="error",
           where=["cases.csv", "row 2", LV])
case_value("date-impossible", "dates", LV, "2026-02-30", expect="error",
           where=["cases.csv", "row 2", LV])
case_value("date-day-first", "dates", LV, "30/11/2026", expect="either",
           where=["cases.csv", "row 2", LV])
case_value("date-iso-utc", "dates", LV, "2026-11-01T10:00:00Z", expect="either",
           where=["cases.csv", "row 2", LV])
case_value("date-with-midnight", "dates", LV, "2026-11-01 00:00:00", expect="ok")
case_value("date-yesterday-cooldown", "dates", LV, "2026-11-29", expect="ok",
           meant={"must_not_visit": True})
case_value("date-chinese-cooldown", "dates", LV, "2026年11月29日", expect="either",
           meant={"must_not_visit": True}, where=["cases.csv", "row 2", LV])
case_value("date-slashes-cooldown", "dates", LV, "2026/11/29", expect="either",
           meant={"must_not_visit": True})
case_value("date-future-last-visit", "dates", LV, "2027-03-01", expect="either")
case_value("date-two-digit-year", "dates", LV, "26-11-29", expect="either",
           meant={"must_not_visit": True}, where=["cases.csv", "row 2", LV])
case_value("date-year-zero", "dates", LV, "0000-01-01", expect="error",
           where=["cases.csv", "row 2", LV])
case_value("date-excel-serial", "dates", LV, "46355", expect="either",
           meant={"must_not_visit": True}, where=["cases.csv", "row 2", LV])
case_value("date-open-promise", "dates", "promise_date", "2026-12-05", expect="ok",
           meant={"must_not_visit": True})
case_value("date-promise-broken-maybe", "dates", "promise_broken", "maybe", expect="error",
           where=["cases.csv", "row 2", "promise_broken"], more={"promise_date": "2026-12-05"})
case_value("date-promise-impossible", "dates", "promise_date", "2026-13-01", expect="error",
           where=["cases.csv", "row 2", "promise_date"])
case_value("date-consent-chinese-yes", "dates", "consent", "是", expect="ok")
case_value("date-consent-garbage", "dates", "consent", "perhaps", expect="error",
           where=["cases.csv", "row 2", "consent"])

# --------------------------------------------------------------------------- Excel


def _xlsx_rows(rows: Sequence[dict[str, str]], header: Sequence[str] = CASE_HEADER,
               numeric: Sequence[str] = ("lat", "lon", A, D, S)) -> list[list[object]]:
    out = []
    for r in rows:
        out.append([float(r[h]) if h in numeric and r.get(h) else r.get(h, "") for h in header])
    return out


def _xlsx_ok(c: Ctx) -> Outcome:
    rows = base_cases()
    f = c.xlsx("cases.xlsx", CASE_HEADER, _xlsx_rows(rows))
    return c.plan(f, truth=truth_of(rows), expect="ok")


def _xlsx_ids(ids: list[object], meant: list[str], *, formats: dict[int, str] | None = None):
    def fn(c: Ctx) -> Outcome:
        rows = base_cases()[:len(ids)]
        data = _xlsx_rows(rows)
        for row, v in zip(data, ids, strict=True):
            row[0] = v
        f = c.xlsx("cases.xlsx", CASE_HEADER, data, formats=formats)
        truth = truth_of([dict(r, case_id=m) for r, m in zip(rows, meant, strict=True)])
        return c.plan(f, truth=truth, expect="either", where=["cases.xlsx"])
    return fn


add("xlsx-plain", "excel", _xlsx_ok)
add("xlsx-big-integer-ids", "excel",
    _xlsx_ids([123456789012345678, 123456789012345679, 9007199254740993],
              ["123456789012345678", "123456789012345679", "9007199254740993"]))
add("xlsx-float-ids", "excel", _xlsx_ids([4567.0, 12.0, 1e20],
                                         ["4567", "12", "100000000000000000000"]))
add("xlsx-leading-zero-ids", "excel", _xlsx_ids([123, 45], ["000123", "000045"],
                                                formats={1: "000000"}))


def _xlsx_bytes(sid: str, data: Callable[[], bytes], where: Sequence[str] = ("cases.xlsx",),
                name: str = "cases.xlsx") -> None:
    add(sid, "excel", lambda c: c.plan(c.write(name, data()), expect="error", where=list(where)))


def _real_xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(CASE_HEADER)
    for r in _xlsx_rows(base_cases()):
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip_of_other() -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
        z.writestr("[Content_Types].xml", "<Types/>")
    return buf.getvalue()


_xlsx_bytes("xlsx-truncated", lambda: _real_xlsx_bytes()[:3000])
_xlsx_bytes("xlsx-csv-renamed", lambda: csv_text(CASE_HEADER, base_cases()).encode())
_xlsx_bytes("xlsx-empty-file", lambda: b"")
_xlsx_bytes("xlsx-xls-renamed", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4000)
_xlsx_bytes("xlsx-zip-of-something-else", _zip_of_other)
_xlsx_bytes("xlsx-random-bytes", lambda: os.urandom(5000))
_xlsx_bytes("xlsx-old-xls-extension", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100,
            name="cases.xls", where=["cases.xls"])


def _xlsx_sheet(setup: Callable[[object], None], *, expect: str = "error",
                truth: list[Truth] | None = None, where: Sequence[str] = ("cases.xlsx",)):
    def fn(c: Ctx) -> Outcome:
        from openpyxl import Workbook

        wb = Workbook()
        setup(wb)
        p = c.dir / "cases.xlsx"
        wb.save(p)
        return c.plan(p, truth=truth, expect=expect, where=list(where))
    return fn


def _empty_sheet(wb) -> None:
    pass


def _second_sheet(wb) -> None:
    ws = wb.create_sheet("cases")
    ws.append(CASE_HEADER)
    for r in _xlsx_rows(base_cases()):
        ws.append(r)


def _title_row(wb) -> None:
    wb.active.append(["外访案件清单 2026-11-30"])
    wb.active.append(CASE_HEADER)
    for r in _xlsx_rows(base_cases()):
        wb.active.append(r)


def _typed_cells(wb) -> None:
    from datetime import datetime

    ws = wb.active
    ws.append([*CASE_HEADER, LV, "consent"])
    for k, r in enumerate(_xlsx_rows(base_cases())):
        ws.append([*r, datetime(2026, 11, 29) if k == 0 else None, k == 1])


def _time_cell(wb) -> None:
    from datetime import time as dtime

    _typed_cells(wb)
    wb.active.cell(row=3, column=CASE_HEADER.index("windows") + 1).value = dtime(9, 0)


def _formula_amount(wb) -> None:
    ws = wb.active
    ws.append(CASE_HEADER)
    for k, r in enumerate(_xlsx_rows(base_cases())):
        if k == 0:
            r[CASE_HEADER.index(A)] = "=1000+500"  # no cached value: never opened in Excel
        ws.append(r)


def _formula_text(wb) -> None:
    ws = wb.active
    ws.append(CASE_HEADER)
    for r in _xlsx_rows(base_cases()):
        ws.append(r)
    cell = ws.cell(row=2, column=CASE_HEADER.index("customer_name") + 1)
    cell.value, cell.data_type = '=HYPERLINK("http://evil.example","click")', "s"


def _long_cell(wb) -> None:
    ws = wb.active
    ws.append(CASE_HEADER)
    for k, r in enumerate(_xlsx_rows(base_cases())):
        if k == 0:
            r[CASE_HEADER.index("notes")] = "LONGCELL"  # made 40,000 characters in the file
        ws.append(r)


def _long_cell_file(c: Ctx) -> Outcome:
    # openpyxl cuts text at Excel's 32,767 characters: write the long text into the zip itself
    import zipfile

    from openpyxl import Workbook

    wb = Workbook()
    _long_cell(wb)
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name).replace(b"LONGCELL", b"x" * 40_000))
    f = c.write("cases.xlsx", out.getvalue())
    return c.plan(f, truth=truth_of(cases_with(0, notes="x" * 40_000)), expect="either",
                  where=["cases.xlsx", "row 2"])


add("xlsx-empty-sheet", "excel", _xlsx_sheet(_empty_sheet))
add("xlsx-data-on-second-sheet", "excel", _xlsx_sheet(_second_sheet))
add("xlsx-title-row-above-header", "excel", _xlsx_sheet(_title_row))
add("xlsx-date-and-bool-cells", "excel", _xlsx_sheet(
    _typed_cells, expect="ok", truth=truth_of(base_cases(), {cid(0): {"must_not_visit": True}})))
add("xlsx-time-cell-as-window", "excel", _xlsx_sheet(_time_cell,
                                                     where=["cases.xlsx", "row 3", "windows"]))
add("xlsx-formula-without-cached-value", "excel", _xlsx_sheet(
    _formula_amount, expect="either", where=["cases.xlsx", "row 2", A],
    truth=truth_of(cases_with(0, amount_overdue="1500"))))
add("xlsx-formula-text-cell", "excel", _xlsx_sheet(
    _formula_text, expect="ok", truth=truth_of(cases_with(
        0, customer_name='=HYPERLINK("http://evil.example","click")'))))
add("xlsx-40k-cell", "excel", _long_cell_file)


def _xlsm(c: Ctx) -> Outcome:
    rows = base_cases()
    f = c.xlsx("cases.xlsm", CASE_HEADER, _xlsx_rows(rows))
    return c.plan(f, truth=truth_of(rows), expect="either", where=["cases.xlsm"])


add("xlsx-xlsm-extension", "excel", _xlsm)


def _xlsx_collectors(c: Ctx) -> Outcome:
    rows = base_collectors()
    data = [[float(r[h]) if h in ("start_lat", "start_lon", "max_visits") and r[h] else r[h]
             for h in COLLECTOR_HEADER] for r in rows]
    f = c.xlsx("collectors.xlsx", COLLECTOR_HEADER, data)
    return c.plan(collectors=f, expect="ok")


add("xlsx-collectors", "excel", _xlsx_collectors)

# --------------------------------------------------------------------------- hostile text


def payloads(marker: Path) -> dict[str, str]:
    """Text a hostile or careless user puts in a field; none may run or change anything."""
    return {
        "template": "{{ 7*191 }} {% if 1 %}x{% endif %} {# x #} {#",
        "template-code": (f"{{{{ cycler.__init__.__globals__.os.system('touch {marker}/M1') }}}}"
                          f" {{{{ lipsum.__globals__['os'].popen('touch {marker}/M2').read() }}}}"),
        "html-script": '<script>alert(1)</script></script><!-- <img src=x onerror="alert(2)">',
        "rich-markup": "[bold red]x[/] [/] [link=file:///etc/passwd]y[/link] [",
        "format-strings": "%s %(x)s %d {0} {x} {{}} %% {!r}",
        "unicode-tricks": "RTL\u202eevil\u202c zero\u200bwidth\u200d 😀👨‍👩‍👧 \ufeffbom e\u0301",
        "quotes": 'a "double" \'single\' `back` \\ back\\\\slash \\n not-a-newline',
        "shell": f"$(touch {marker}/M3) `touch {marker}/M4` && rm -rf /nonexistent | cat",
        "js-breakout": '"}]); alert(1); //\u2028</script><script>alert(3)</script>',
        "control-chars": "bell\x07 esc\x1b[31mRED\x1b[0m \x1b]0;title\x07 bs\x08 del\x7f",
    }


LIST_SEPARATORS = re.compile(r"[;,，；]")
CASE_TEXT_FIELDS = ("case_id", "customer_name", "phone", "address", "district", "notes",
                    "skill")
COLLECTOR_TEXT_FIELDS = ("collector_id", "name", "team", "start_address", "skills", "districts")


def text_plan(c: Ctx, case_fields: dict[str, str], collector_fields: dict[str, str], *,
              fixed: bool = False, expect: str = "ok", stdout_has: Sequence[str] = ()) -> Outcome:
    """Plan the base inputs with these text fields on every record (tagged per record)."""
    rows = base_cases()
    team = base_collectors()
    for k, r in enumerate(team):
        for f, v in collector_fields.items():
            tag = f"K{k}" if f in ("collector_id", "name") else ""
            r[f] = f"{tag} {v}" if tag else v
        # lists are split at , ; (documented): what a case asks for, a collector has
        if "skill" in case_fields:
            r["skills"] = LIST_SEPARATORS.sub(" ", case_fields["skill"])
        if "district" in case_fields and "districts" in collector_fields:
            r["districts"] = LIST_SEPARATORS.sub(" ", case_fields["district"])
    for k, r in enumerate(rows):
        for f, v in case_fields.items():
            if f in ("skill", "district"):
                r[f] = LIST_SEPARATORS.sub(" ", v)
            else:
                r[f] = f"{k} {v}" if f == "case_id" else f"{v} {k}"
    if fixed:  # the ids are text too: a case fixed to a collector, one preferring the other
        rows[2]["fixed_collector"] = team[0]["collector_id"]
        rows[3]["preferred_collector"] = team[1]["collector_id"]
    # a team name on both (under the China policy they visit together anyway)
    f_cases, f_team = c.cases(rows), c.collectors(team)
    o = c.plan(f_cases, f_team, truth=truth_of(rows), expect=expect,
               marker_dir=c.dir / "markers")
    marks = sorted(p.name for p in (c.dir / "markers").iterdir())
    if marks:
        o.problems.append(f"template or shell syntax ran: created {marks}")
    for s in stdout_has:
        if o.main.returncode == 0 and s not in o.main.stdout:
            o.problems.append(f"the console summary does not show {s!r} as written")
    if "\x1b[31m" in o.main.stdout + o.main.stderr:
        o.problems.append("an escape sequence from the input reached the terminal")
    return o


def _payload_everywhere(kind_: str) -> Callable[[Ctx], Outcome]:
    def fn(c: Ctx) -> Outcome:
        (c.dir / "markers").mkdir()
        v = payloads(c.dir / "markers")[kind_]
        return text_plan(c, dict.fromkeys(CASE_TEXT_FIELDS, v),
                         dict.fromkeys(COLLECTOR_TEXT_FIELDS, v), fixed=True,
                         stdout_has=["[bold red]x[/]"] if kind_ == "rich-markup" else ())
    return fn


for _k in payloads(Path("/m")):
    add(f"text-{_k}-in-every-field", "text", _payload_everywhere(_k))


def _all_payloads(marker: Path) -> str:
    p = payloads(marker)
    return " ".join(p[k] for k in ("template", "template-code", "html-script", "rich-markup",
                                   "format-strings", "js-breakout"))


def _one_field(fieldname: str, of: str) -> Callable[[Ctx], Outcome]:
    def fn(c: Ctx) -> Outcome:
        (c.dir / "markers").mkdir()
        v = _all_payloads(c.dir / "markers")
        if of == "case":
            return text_plan(c, {fieldname: v}, {})
        return text_plan(c, {}, {fieldname: v}, fixed=fieldname == "collector_id")
    return fn


for _f in CASE_TEXT_FIELDS:
    add(f"text-case-{_f}-payloads", "text", _one_field(_f, "case"))
for _f in COLLECTOR_TEXT_FIELDS:
    add(f"text-collector-{_f}-payloads", "text", _one_field(_f, "collector"))


def _formula(start: str) -> Callable[[Ctx], Outcome]:
    def fn(c: Ctx) -> Outcome:
        rows = base_cases()
        rows[0]["customer_name"] = f'{start}HYPERLINK("http://evil.example","x")'
        rows[1]["address"] = f"{start}2+3 Main St"
        rows[2]["case_id"] = f"{start}1+1"
        rows[3]["notes"] = f"{start}cmd|' /C calc'!A0"
        team = base_collectors()
        team[0]["name"] = f"{start}SUM(A1:A9)"
        return c.plan(c.cases(rows), c.collectors(team), truth=truth_of(rows), expect="ok")
    return fn


for _name, _start in (("equals", "="), ("plus", "+"), ("minus", "-"), ("at", "@"),
                      ("tab", "\t"), ("cr", "\r"), ("fullwidth-equals", "＝")):
    add(f"formula-{_name}", "formula", _formula(_start))


def _collector_ids(ids: Sequence[str], *, expect: str = "ok") -> Callable[[Ctx], Outcome]:
    def fn(c: Ctx) -> Outcome:
        base = base_collectors()
        team = [dict(base[k % 2], collector_id=i, name=f"name {k}") for k, i in enumerate(ids)]
        return c.plan(collectors=c.collectors(team), expect=expect, policy="none",
                      where=["collectors.csv"])
    return fn


add("id-slash-and-underscore", "collector ids", _collector_ids(["K/1", "K_1", "k_1"]))
add("id-index-and-assets", "collector ids", _collector_ids(["index", "INDEX", "assets",
                                                            "manifest"]))
add("id-windows-device-names", "collector ids", _collector_ids(["CON", "nul", "COM1.x", "LPT¹"]))
add("id-dots", "collector ids", _collector_ids([".", "..", "...", ".hidden"], expect="either"))
add("id-path-traversal", "collector ids", _collector_ids(["../../escape", "/etc/passwd",
                                                          "C:\\Windows\\x", "a/../../b"]))
add("id-very-long", "collector ids", _collector_ids(["K" * 300, "张" * 200]))
add("id-emoji-and-spaces", "collector ids", _collector_ids(["😀", "K 1", "K\u00a01", "Ｋ１"]))
add("id-nfc-vs-nfd", "collector ids", _collector_ids(["Jos\u00e9", "Jose\u0301"]))


def _sql_addresses(c: Ctx) -> Outcome:
    rows = base_cases()
    for k, r in enumerate(rows):
        r["lat"] = r["lon"] = ""
        if k < 3:
            r["address"] = ["'; DROP TABLE geocode; --", "\" OR 1=1 --", "%' OR '%'='"][k]
    cache = c.dir / "cache"
    shutil.copytree(c.shared.cache, cache)
    o = c.plan(c.cases(rows), truth=truth_of(rows), cache=cache, expect="ok")
    again = c.plan(c.cases(rows), truth=truth_of(rows), cache=cache, expect="ok",
                   out=c.dir / "again")
    o.procs.append(again.main)
    o.problems += again.problems
    return o


add("text-sql-in-geocoded-addresses", "text", _sql_addresses)

# --------------------------------------------------------------------------- windows

W = "windows"


def window(sid: str, text: str, meant: Sequence[tuple[str, str]] | None, *, expect: str,
           i: int = 0) -> None:
    """Case row `i` gets the windows `text`; `meant`: the windows on Monday as the user meant
    them (None: no valid reading, must be refused; empty: not available today)."""
    m = None if meant is None else {"windows": tuple((_hm(a), _hm(b)) for a, b in meant),
                                    "must_not_visit": not meant}
    case_value(sid, "windows", W, text, expect=expect, meant=m or {}, i=i,
               where=["cases.csv", f"row {i + 2}", "windows"])


window("win-25-to-26", "25:00-26:00", None, expect="error")
window("win-hours-only", "9-17", [("09:00", "17:00")], expect="either")
window("win-tilde", "09:00~12:00", [("09:00", "12:00")], expect="ok")
window("win-wave-dash", "09:00〜12:00", [("09:00", "12:00")], expect="either")
window("win-fullwidth-digits", "０９:００-１２:００", [("09:00", "12:00")], expect="either")
window("win-fullwidth-all", "０９：００－１２：００", [("09:00", "12:00")], expect="either")
window("win-fullwidth-tilde", "09:00～12:00", [("09:00", "12:00")], expect="either")
window("win-em-dash", "09:00—12:00", [("09:00", "12:00")], expect="either")
window("win-single-digit-hour", "9:00-12:00", [("09:00", "12:00")], expect="ok")
window("win-spaces", " 09:00 - 12:00 ", [("09:00", "12:00")], expect="ok")
window("win-to-midnight", "20:00-24:00", [("20:00", "24:00")], expect="ok")
window("win-24-00-start", "24:00-24:00", [("24:00", "24:00")], expect="either")
window("win-overnight", "22:00-02:00", None, expect="error")
window("win-end-before-start", "12:00-09:00", None, expect="error")
window("win-zero-length", "12:00-12:00", [("12:00", "12:00")], expect="ok")
window("win-minute-60", "09:60-10:00", None, expect="error")
window("win-chinese-semicolon", "09:00-11:00；14:00-16:00",
       [("09:00", "11:00"), ("14:00", "16:00")], expect="ok")
window("win-chinese-comma", "09:00-11:00，14:00-16:00",
       [("09:00", "11:00"), ("14:00", "16:00")], expect="ok")
window("win-enumeration-comma", "09:00-11:00、14:00-16:00",
       [("09:00", "11:00"), ("14:00", "16:00")], expect="ok")
window("win-slash-separated", "09:00-11:00 / 14:00-16:00",
       [("09:00", "11:00"), ("14:00", "16:00")], expect="either")
window("win-chinese-days", "周一至周五 09:00-17:00", [("09:00", "17:00")], expect="ok")
window("win-workdays-word", "工作日 09:00-17:00", [("09:00", "17:00")], expect="ok")
window("win-weekend-only-on-monday", "周末 10:00-12:00", [], expect="ok")
window("win-sat-sun-on-monday", "Sat-Sun 09:00-17:00", [], expect="ok")
window("win-wrapping-days", "Sat-Mon 10:00-12:00", [("10:00", "12:00")], expect="ok")
window("win-unknown-day", "Funday 09:00-10:00", None, expect="error")
window("win-days-only", "Mon-Fri", None, expect="error")
window("win-time-before-days", "09:00-17:00 Mon-Fri", [("09:00", "17:00")], expect="either")
window("win-dots", "09.00-12.00", [("09:00", "12:00")], expect="either")
window("win-am-pm", "9am-5pm", [("09:00", "17:00")], expect="either")
window("win-seconds", "09:00:00-12:00:00", [("09:00", "12:00")], expect="either")
window("win-chinese-words", "上午9点到12点", [("09:00", "12:00")], expect="either")
window("win-only-separators", ";", None, expect="either")
window("win-only-separators-many", " ; ；, ", None, expect="either")
window("win-before-legal-hours", "06:00-07:30", [("06:00", "07:30")], expect="ok")
window("win-evening-outside-shift", "Mon-Fri 18:00-21:00", [("18:00", "21:00")], expect="ok")
window("win-many-tiny", "; ".join(f"{h:02d}:{m:02d}-{h:02d}:{m + 1:02d}" for h in range(9, 17)
                                   for m in range(0, 60, 10)),
       [(f"{h:02d}:{m:02d}", f"{h:02d}:{m + 1:02d}") for h in range(9, 17)
        for m in range(0, 60, 10)], expect="ok")
window("win-daily-newline", "Mon 09:00-10:00\nTue 11:00-12:00", [("09:00", "10:00")],
       expect="ok")

# --------------------------------------------------------------------------- shifts and lunch


def shifted(sid: str, shift: str, *, policy: str, expect: str = "ok",
            meant: tuple[str, str] | None = None, kind: str = "shifts",
            extra: Sequence[str] = ()) -> None:
    def fn(c: Ctx) -> Outcome:
        team = base_collectors()
        team[1]["shift"] = shift
        ids = [r["collector_id"] for r in team]
        shifts = {ids[0]: (_hm("08:30"), _hm("17:30"))}
        if meant:
            shifts[ids[1]] = (_hm(meant[0]), _hm(meant[1]))
        return c.plan(collectors=c.collectors(team), policy=policy, expect=expect,
                      shifts=shifts if meant or expect == "ok" else None, extra=extra,
                      where=["collectors.csv", "row 3", "shift"])
    add(sid, kind, fn)


for _p in ("china", "us_fdcpa", "india_rbi", "none"):
    shifted(f"shift-evening-{_p}", "14:00-22:00", policy=_p, meant=("14:00", "22:00"))
    shifted(f"shift-morning-{_p}", "07:00-11:45", policy=_p, meant=("07:00", "11:45"))
shifted("shift-whole-day", "00:00-24:00", policy="china", meant=("00:00", "24:00"))
shifted("shift-inside-lunch", "11:40-13:20", policy="china", meant=("11:40", "13:20"))
shifted("shift-overnight", "22:00-06:00", policy="china", expect="error")
shifted("shift-25-to-26", "25:00-26:00", policy="china", expect="error")
shifted("shift-20-minutes", "09:00-09:20", policy="china", expect="error")
shifted("shift-blank", "", policy="china", expect="error")
shifted("shift-fullwidth", "０８：３０－１７：３０", policy="china", expect="either",
        meant=("08:30", "17:30"))
shifted("shift-no-colons", "0830-1730", policy="china", expect="either",
        meant=("08:30", "17:30"))
shifted("shift-chinese-to", "8:30至17:30", policy="china", expect="ok", meant=("08:30", "17:30"))
shifted("shift-lunch-window-zero", "08:30-17:30", policy="china", extra=["--lunch",
                                                                         "12:00-12:00"],
        meant=("08:30", "17:30"))

# --------------------------------------------------------------------------- collectors


def team_case(sid: str, team: Callable[[], list[dict[str, str]]], *, expect: str,
              where: Sequence[str] = ("collectors.csv",), policy: str = "china",
              cases: Callable[[], list[dict[str, str]]] | None = None,
              header: Sequence[str] | None = None, kind: str = "collectors") -> None:
    def fn(c: Ctx) -> Outcome:
        rows = cases() if cases else base_cases()
        f_team = c.collectors(team(), header=header)
        return c.plan(c.cases(rows), f_team, truth=truth_of(rows), policy=policy,
                      expect=expect, where=list(where))
    add(sid, kind, fn)


def _team(**changes: dict[str, str]) -> Callable[[], list[dict[str, str]]]:
    def make() -> list[dict[str, str]]:
        t = base_collectors()
        for k, ch in changes.items():
            t[int(k[1:])].update(ch)
        return t
    return make


team_case("col-header-only", lambda: [], expect="error", header=COLLECTOR_HEADER)
add("col-empty-file", "collectors",
    lambda c: c.plan(collectors=c.write("collectors.csv", b""), expect="error",
                     where=["collectors.csv"]))
team_case("col-all-off-today", _team(r0={"workdays": "Sat-Sun"}, r1={"workdays": "周六,周日"}),
          expect="either", where=["collectors.csv", "workdays", "Monday"])
team_case("col-start-unknown-address", _team(r1={"start_lat": "", "start_lon": "",
                                                  "start_address": "火星基地不存在的地方"}),
          expect="either", where=["collectors.csv", "row 3"])
team_case("col-start-far-away", _team(r1={"start_lat": "41.1496", "start_lon": "-8.611"}),
          expect="either", where=["collectors.csv", "row 3"])
team_case("col-team-of-one-china", lambda: base_collectors()[:1], expect="either",
          where=["collectors.csv", "row 2", "K03"])
team_case("col-explicit-teams-of-one-china", _team(r0={"team": "A"}, r1={"team": "B"}),
          expect="either", where=["collectors.csv", "row 2", "row 3"])
team_case("col-three-collectors-china", lambda: [*base_collectors(), dict(
    base_collectors()[0], collector_id="K99", name="third")], expect="ok")
team_case("col-team-of-one-us", lambda: base_collectors()[:1], expect="ok", policy="us_fdcpa")
team_case("col-fixed-collector-missing", base_collectors, expect="error",
          cases=lambda: cases_with(2, fixed_collector="K99"),
          where=["cases.csv", "row 4", "fixed_collector", "K99"])
team_case("col-preferred-collector-missing", base_collectors, expect="error",
          cases=lambda: cases_with(2, preferred_collector="K99"),
          where=["cases.csv", "row 4", "preferred_collector", "K99"])
team_case("col-fixed-collector-off-today", _team(r0={"workdays": "Sat"}), expect="ok",
          cases=lambda: cases_with(2, fixed_collector="K03"), policy="none")
team_case("col-skill-nobody-has", base_collectors, expect="ok",
          cases=lambda: cases_with(2, skill="klingon"))
team_case("col-skill-other-case", base_collectors, expect="ok",
          cases=lambda: cases_with(2, skill="LEGAL"))
team_case("col-max-visits-0", _team(r1={"max_visits": "0"}), expect="error",
          where=["collectors.csv", "row 3", "max_visits"])
team_case("col-max-visits-text", _team(r1={"max_visits": "many"}), expect="error",
          where=["collectors.csv", "row 3", "max_visits"])
team_case("col-max-visits-1", _team(r1={"max_visits": "1"}), expect="ok")
team_case("col-max-work-hours-tiny", _team(r1={"max_work_hours": "0.1"}), expect="error",
          where=["collectors.csv", "row 3", "max_work_hours"])
team_case("col-max-work-hours-30", _team(r1={"max_work_hours": "30"}), expect="error",
          where=["collectors.csv", "row 3", "max_work_hours"])
team_case("col-duplicate-ids", _team(r1={"collector_id": "K03"}), expect="error",
          where=["collectors.csv", "row 3", "duplicate"])
team_case("col-workdays-chinese", _team(r0={"workdays": "周一至周五"}), expect="ok")
team_case("col-workdays-bad", _team(r0={"workdays": "Mon-Funday"}), expect="error",
          where=["collectors.csv", "row 2", "workdays"])
team_case("col-districts-no-match", _team(r0={"districts": "锦江区"}, r1={"districts": "锦江区"}),
          expect="ok")
team_case("col-start-lat-only", _team(r1={"start_lon": ""}), expect="error",
          where=["collectors.csv", "row 3", "start_lon"])
team_case("col-start-lat-nan", _team(r1={"start_lat": "nan"}), expect="error",
          where=["collectors.csv", "row 3", "start_lat"])
team_case("col-no-start-place", _team(r1={"start_lat": "", "start_lon": "",
                                          "start_address": ""}),
          expect="error", where=["collectors.csv", "row 3"])
team_case("col-end-address-unknown", _team(r1={"end_address": "不存在的终点xyz"}),
          expect="either", where=["collectors.csv", "row 3"])


def _collector_headers_cn(c: Ctx) -> Outcome:
    text = csv_text(COLLECTOR_HEADER, base_collectors()).split("\n", 1)[1]
    head = "工号,姓名,小组,出发地址,出发纬度,出发经度,班次,最大上门数,技能,负责区域\n"
    return c.plan(collectors=c.write("collectors.csv", head + text, encoding="gbk"),
                  expect="ok")


add("col-chinese-headers-gbk", "collectors", _collector_headers_cn)

# --------------------------------------------------------------------------- options

#: option -> (values a correct CLI accepts -> the policy fields they set)
NUMERIC_OPTIONS: dict[str, dict[str, dict]] = {
    "--team-size": {},
    "--lunch-minutes": {"0": {"lunch_s": 0}},
    "--max-work-hours": {"none": {"max_work_s": None}},
    "--overtime-minutes": {"0": {"overtime_s": 0}},
    "--overtime-cost-per-hour": {"0": {}},
    "--cooldown-days": {"0": {"cooldown_days": 0}},
    "--preferred-cost": {"0": {}},
    "--balance-cost-per-hour": {"0": {}},
    "--speed-factor": {},
    "--time-limit": {},
    "--seed": {"0": {}},
    "--max-solutions": {},
    "--travel-cost-per-hour": {"0": {}},
}
BAD_NUMBERS = ("nan", "inf", "-5", "0", "1e12", "1e400", "abc", "")


def option(sid: str, args: Sequence[str], *, expect: str, over: dict | None = None,
           where: Sequence[str] | None = None, policy: str = "china", date_: str = DATE,
           network: Callable[[], object] | None = None, kind: str = "options") -> None:
    def fn(c: Ctx) -> Outcome:
        w = list(where) if where is not None else [args[0] if args else "--date"]
        return c.plan(extra=list(args), over=over, expect=expect, where=w, policy=policy,
                      date_=date_, network=network)
    add(sid, kind, fn)


def _slug(v: str) -> str:
    return {"": "empty", "-5": "negative", "1e12": "huge"}.get(v, v)


for _opt, _valid in NUMERIC_OPTIONS.items():
    for _v in (*BAD_NUMBERS, *(k for k in _valid if k not in BAD_NUMBERS)):
        option(f"opt{_opt[1:]}-{_slug(_v)}", [_opt, _v],
               expect="ok" if _v in _valid else "error", over=_valid.get(_v))

option("opt-seed-max", ["--seed", "2147483647"], expect="ok")
option("opt-seed-too-big", ["--seed", "2147483648"], expect="error")
option("opt-time-limit-tiny", ["--time-limit", "0.001"], expect="either")
option("opt-max-solutions-1", ["--max-solutions", "1"], expect="ok")
option("opt-team-size-10", ["--team-size", "10"], expect="either",
       over={"min_team_size": 10})
option("opt-team-size-1", ["--team-size", "1"], expect="ok", over={"min_team_size": 1})
for _v, _e in (("2026-02-30", "error"), ("yesterday", "error"), ("30/11/2026", "error"),
               ("", "error"), ("2026-11-30T09:00", "either")):
    option(f"opt-date-{_slug(_v).replace('/', '-')}", ["--date", _v], expect=_e, date_=None)
option("opt-date-9999-12-31", [], expect="either", date_="9999-12-31")
option("opt-date-0001-01-01", [], expect="either", date_="0001-01-01")
option("opt-date-sunday", [], expect="ok", date_="2026-11-29")
for _o, _v, _e, _over in (
        ("--contact-hours", "25:00-26:00", "error", None),
        ("--contact-hours", "9-17", "either", {"contact_start_s": 9 * H, "contact_end_s": 17 * H}),
        ("--contact-hours", "22:00-08:00", "error", None),
        ("--contact-hours", "00:00-24:00", "ok", {"contact_start_s": 0, "contact_end_s": 24 * H}),
        ("--contact-hours", "10:00-10:00", "either", {"contact_start_s": 10 * H,
                                                      "contact_end_s": 10 * H}),
        ("--contact-hours", "", "error", None),
        ("--lunch", "13:30-11:30", "error", None),
        ("--lunch", "9-17", "either", {"lunch_window": TimeWindow(9 * H, 17 * H)}),
        ("--lunch", "00:00-24:00", "ok", {"lunch_window": TimeWindow(0, 24 * H)}),
        ("--lunch", "", "error", None),
        ("--curve", "abc", "error", None),
        ("--curve", "0:2", "error", None),
        ("--curve", "0:0.9,0:0.8", "error", None),
        ("--curve", "60:0.5,30:0.9", "error", None),
        ("--curve", "0:nan", "error", None),
        ("--curve", "-10:0.5", "error", None),
        ("--curve", "0:0.95,60:0.9", "ok", None),
        ("--policy", "mars", "error", None),
        ("--policy", "China", "either", None),
        ("--policy", "", "error", None),
        ("--weighting", "bogus", "error", None),
        ("--weighting", "count", "ok", None),
        ("--weighting", "", "error", None),
        ("--mode", "boat", "error", None),
        ("--tiles", "google", "error", None),
        ("--tiles", "amap", "ok", None),
        ("--balance", "days", "error", None),
        ("--balance", "hours", "ok", None),
        ("--geocoder", "nosuch", "error", None),
        ("--geocoder", "", "error", None),
        ("--solver-option", "num_workers=0", "error", None),
        ("--solver-option", "num_workers=abc", "error", None),
        ("--solver-option", "warm_start=bogus", "error", None),
        ("--solver-option", "time_limit_s=5", "error", None),
        ("--solver-option", "=", "error", None),
        ("--solver-option", "novalue", "error", None),
        ("--solver-option", "value_scale=nan", "error", None),
        ("--solver-option", "value_scale=1e300", "either", None),
        ("--solver-option", "time_ticks_per_s=0", "error", None),
        ("--solver-option", "time_ticks_per_s=100000", "either", None),
        ("--solver-option", "warm_share=nan", "error", None),
        ("--solver-option", "log_search=maybe", "either", None),
        ("--solver-option", "max_warm_iterations=-1", "error", None)):
    option(f"opt{_o[1:]}-{_slug(_v).replace(':', '').replace('=', '-')}", [_o, _v],
           expect=_e, over=_over, where=[_o])


def _walk_network():
    from optimizer.geo.network import load_network

    return load_network(mode="walk", cache_dir=SHARED.cache if SHARED else None)


option("opt-mode-walk", ["--mode", "walk"], expect="ok", network=_walk_network)


def _argv(sid: str, argv: Sequence[str], where: Sequence[str]) -> None:
    add(sid, "command line", lambda c: Outcome([c.run(argv)], "error", list(where)))


_argv("cli-unknown-option", ["plan", "--cases-file", "x.csv"], ["--cases-file"])
_argv("cli-option-without-value", ["plan", "--cases"], ["--cases"])
_argv("cli-no-command", [], ["command"])
_argv("cli-unknown-command", ["plna"], ["plna"])
_argv("cli-extra-positional", ["plan", "cases.csv"], ["cases.csv"])
_argv("cli-validate-bad-policy", ["validate", "--policy", "mars"], ["--policy", "mars"])
_argv("cli-validate-bad-lunch", ["validate", "--lunch", "9-17x"], ["--lunch"])
_argv("cli-whatif-missing-file", ["whatif", "nowhere.yaml"], ["nowhere.yaml"])
_argv("cli-serve-port-text", ["serve", ".", "--port", "http"], ["--port"])

# --------------------------------------------------------------------------- output folders


def _out(sid: str, make: Callable[[Ctx], Path | str], *, expect: str = "error",
         where: Sequence[str] = ("--out",), check_dir: Callable[[Ctx], Path] | None = None,
         after: Callable[[Ctx, Outcome], None] | None = None) -> None:
    def fn(c: Ctx) -> Outcome:
        out = make(c)
        o = c.plan(out=Path(out), expect=expect, where=list(where))
        if after is not None:
            after(c, o)
        return o
    add(sid, "output", fn)


def _a_file(c: Ctx) -> Path:
    return c.write("today.csv", "not a folder")


def _foreign(c: Ctx) -> Path:
    c.write("mine/notes.txt", "my notes")
    return c.dir / "mine"


def _mine_intact(c: Ctx, o: Outcome) -> None:
    if (c.dir / "mine" / "notes.txt").read_text() != "my notes" or \
            sorted(p.name for p in (c.dir / "mine").iterdir()) != ["notes.txt"]:
        o.problems.append("the folder with the user's own files was changed")


_out("out-is-a-file", _a_file)
_out("out-inside-a-file", lambda c: _a_file(c) / "sub")
_out("out-holds-other-files", _foreign, after=_mine_intact)
_out("out-root", lambda c: "/")
_out("out-current-folder-with-inputs", lambda c: ".")
_out("out-proc", lambda c: "/proc/collector-routes-plan", where=("/proc",))
_out("out-sys", lambda c: "/sys/collector-routes-plan", where=("/sys",))
_out("out-name-too-long", lambda c: c.dir / ("p" * 300), where=("--out",))
_out("out-dangling-symlink", lambda c: (os.symlink(c.dir / "nowhere", c.dir / "link"),
                                        c.dir / "link")[1], expect="either")


def _symlink_to_foreign(c: Ctx) -> Path:
    _foreign(c)
    os.symlink(c.dir / "mine", c.dir / "link")
    return c.dir / "link"


_out("out-symlink-to-foreign-folder", _symlink_to_foreign, after=_mine_intact)


def _read_only_parent(c: Ctx) -> Outcome:
    ro = c.dir / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    # root ignores permissions; drop that power for the child (as an ordinary user would be)
    cache = c.dir / "cache"
    shutil.copytree(c.shared.cache, cache)
    o = c.plan(out=ro / "plan", expect="error", where=["readonly"], cache=cache,
               prefix=["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"])
    ro.chmod(0o755)
    return o


add("out-read-only-folder", "output", _read_only_parent)


def _read_only_plan(c: Ctx) -> Outcome:
    first = c.plan(out=c.dir / "plan", expect="ok")
    (c.dir / "plan").chmod(0o555)
    cache = c.dir / "cache"
    shutil.copytree(c.shared.cache, cache)
    o = c.plan(out=c.dir / "plan", expect="either", where=["plan"], cache=cache,
               prefix=["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"])
    (c.dir / "plan").chmod(0o755)
    o.procs.insert(0, first.main)
    o.problems += first.problems
    return o


add("out-previous-plan-read-only", "output", _read_only_plan)


def _spaces_and_chinese(c: Ctx) -> Outcome:
    d = c.dir / "客户 名单 (1) 'a' & b"
    d.mkdir()
    rows = base_cases()
    f = c.cases(rows, name=f"{d.name}/今天 的 案件.csv")
    t = c.collectors(name=f"{d.name}/催收员 名单.csv")
    return c.plan(f, t, truth=truth_of(rows), out=d / "输出 今天", expect="ok")


add("out-path-with-spaces-and-chinese", "output", _spaces_and_chinese)


def _replan(c: Ctx) -> Outcome:
    first = c.plan(out=c.dir / "plan", expect="ok")
    (c.dir / "plan" / "links.json").write_text('{"overview": "%s", "collectors": {}}'
                                               % ("A" * 43))
    one = c.collectors(base_collectors()[:1], name="one.csv")
    second = c.plan(collectors=one, out=c.dir / "plan", expect="ok", policy="none")
    second.procs.insert(0, first.main)
    second.problems += first.problems
    if not (c.dir / "plan" / "links.json").is_file():
        second.problems.append("links.json of the previous plan was not kept")
    return second


add("out-replan-with-fewer-collectors", "output", _replan)


def _default_out(c: Ctx) -> Outcome:
    # no --out: the plan goes to maps/<date> in the current folder
    rows = base_cases()
    p = c.run(c.plan_argv(c.cases(rows), c.collectors(), out=None))
    o = Outcome([p], "ok")
    if p.returncode == 0:
        o.problems = verify_plan(PlanCheck(c.dir / "maps" / DATE, truth_of(rows),
                                           c.dir / "cases.csv", c.dir / "collectors.csv",
                                           rules.PRESETS["china"], network=c.shared.network))
    return o


add("out-default-folder", "output", _default_out)
add("out-no-maps", "output", lambda c: c.plan(extra=["--no-maps"], expect="ok"))
add("out-self-contained-amap", "output",
    lambda c: c.plan(extra=["--self-contained", "--tiles", "amap"], expect="ok"))

# --------------------------------------------------------------------------- caches


def _address_only() -> list[dict[str, str]]:
    rows = base_cases()
    for r in rows:
        r["lat"] = r["lon"] = ""
    return rows


def damaged_cache(sid: str, damage: Callable[[Path], None], *, geocode: bool = False,
                  expect: str = "ok", where: Sequence[str] = ("cache",)) -> None:
    def fn(c: Ctx) -> Outcome:
        cache = c.dir / "cache"
        shutil.copytree(c.shared.cache, cache)
        damage(cache)
        rows = _address_only() if geocode else base_cases()
        o = c.plan(c.cases(rows), truth=truth_of(rows), cache=cache, expect=expect,
                   where=list(where))
        if o.main.returncode == 0:  # and the next plan, on the rebuilt cache
            again = c.plan(c.cases(rows), truth=truth_of(rows), cache=cache, expect=expect,
                           out=c.dir / "again")
            o.procs.append(again.main)
            o.problems += again.problems
            if "Traceback" not in again.main.text and "warning" in again.main.stderr and \
                    "corrupt" in again.main.stderr:
                o.problems.append("the damaged cache was not rebuilt: warned again")
        return o
    add(sid, "cache", fn)


def _one(cache: Path, pattern: str) -> Path:
    (p,) = cache.glob(pattern)
    return p


def _truncate(pattern: str, keep: float) -> Callable[[Path], None]:
    def damage(cache: Path) -> None:
        p = _one(cache, pattern)
        data = p.read_bytes()
        p.write_bytes(data[:int(len(data) * keep)])
    return damage


def _replace(pattern: str, data: bytes) -> Callable[[Path], None]:
    def damage(cache: Path) -> None:
        _one(cache, pattern).write_bytes(data)
    return damage


def _make_dir(pattern: str) -> Callable[[Path], None]:
    def damage(cache: Path) -> None:
        p = _one(cache, pattern)
        p.unlink()
        p.mkdir()
        (p / "x").write_text("x")
    return damage


def _gz(obj: object) -> bytes:
    import gzip

    return gzip.compress(json.dumps(obj).encode())


def _other_schema(cache: Path) -> None:
    import sqlite3

    p = cache / "geocode.sqlite"
    p.unlink()
    db = sqlite3.connect(p)
    db.execute("CREATE TABLE geocode (id INTEGER PRIMARY KEY, blob BLOB)")
    db.execute("INSERT INTO geocode (blob) VALUES (x'00')")
    db.commit()
    db.close()


def _foreign_rows(cache: Path) -> None:
    import sqlite3

    db = sqlite3.connect(cache / "geocode.sqlite")
    cols = [r[1] for r in db.execute("PRAGMA table_info(geocode)")]
    # a row of the right shape with values of the wrong types
    db.execute(f"INSERT OR REPLACE INTO geocode ({', '.join(cols)}) VALUES "
               f"({', '.join('?' for _ in cols)})",
               [base_cases()[0]["address"] if k == 0 else "not-a-number" for k in range(len(cols))])
    db.commit()
    db.close()


NPZ, GAZ, SQL = "network-drive-*.npz", "gazetteer-*.json.gz", "geocode.sqlite"
damaged_cache("cache-network-truncated", _truncate(NPZ, 0.5))
damaged_cache("cache-network-empty", _replace(NPZ, b""))
damaged_cache("cache-network-garbage", _replace(NPZ, os.urandom(4096)))
damaged_cache("cache-network-foreign-npz", lambda cache: _one(cache, NPZ).write_bytes(
    _npz_bytes()))
damaged_cache("cache-network-is-a-folder", _make_dir(NPZ))
damaged_cache("cache-gazetteer-truncated", _truncate(GAZ, 0.5), geocode=True)
damaged_cache("cache-gazetteer-foreign-json", _replace(GAZ, _gz({"hello": [1, 2, 3]})),
              geocode=True)
damaged_cache("cache-gazetteer-not-gzip", _replace(GAZ, b"plain text"), geocode=True)
damaged_cache("cache-gazetteer-is-a-folder", _make_dir(GAZ), geocode=True)
damaged_cache("cache-sqlite-not-a-database", _replace(SQL, b"hello, I am not sqlite" * 100),
              geocode=True)
damaged_cache("cache-sqlite-truncated", _truncate(SQL, 0.3), geocode=True)
damaged_cache("cache-sqlite-empty-file", _replace(SQL, b""), geocode=True)
damaged_cache("cache-sqlite-other-schema", _other_schema, geocode=True)
damaged_cache("cache-sqlite-wrong-value-types", _foreign_rows, geocode=True)
damaged_cache("cache-sqlite-is-a-folder", _make_dir(SQL), geocode=True, expect="either")


def _npz_bytes() -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, something=np.arange(5))
    return buf.getvalue()


def _locked_sqlite(c: Ctx) -> Outcome:
    import sqlite3

    cache = c.dir / "cache"
    shutil.copytree(c.shared.cache, cache)
    db = sqlite3.connect(cache / SQL, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")  # another program (or a stuck plan) holds the cache
    try:
        rows = _address_only()
        for r in rows:  # addresses the cache has not seen: the plan must write to it
            r["address"] += " 附1号"
        return c.plan(c.cases(rows), truth=truth_of(rows), cache=cache, expect="either",
                      where=["geocode.sqlite"], timeout_s=120)
    finally:
        db.rollback()
        db.close()


add("cache-sqlite-locked", "cache", _locked_sqlite)
add("cache-dir-is-a-file", "cache", lambda c: c.plan(cache=c.write("cachefile", "x"),
                                                     expect="error", where=["--cache-dir"]))


def _cache_read_only(c: Ctx) -> Outcome:
    cache = c.dir / "cache"
    shutil.copytree(c.shared.cache, cache)
    cache.chmod(0o555)
    rows = _address_only()
    o = c.plan(c.cases(rows), truth=truth_of(rows), cache=cache, expect="either",
               where=["cache"],
               prefix=["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"])
    cache.chmod(0o755)
    return o


add("cache-read-only", "cache", _cache_read_only)

# --------------------------------------------------------------------------- geocoders


def geocoder(sid: str, args: Sequence[str], *, expect: str, where: Sequence[str],
             validate: bool = False) -> None:
    def fn(c: Ctx) -> Outcome:
        cache = c.dir / "cache"
        shutil.copytree(c.shared.cache, cache)
        rows = _address_only()
        f = c.cases(rows)
        if validate:
            p = c.run(["validate", "--cases", f, "--collectors", c.collectors(), "--geocode",
                       "--cache-dir", cache, *args], timeout_s=120)
            o = Outcome([p], expect, list(where))
            if p.returncode == 1 and "8 not found" not in p.stdout.replace("  ", " "):
                o.problems.append("validate --geocode does not count every address")
            return o
        t0 = time.monotonic()
        o = c.plan(f, truth=truth_of(rows), cache=cache, expect=expect, where=list(where),
                   extra=list(args), timeout_s=120)
        if o.main.returncode == 0 and time.monotonic() - t0 > 60:
            o.problems.append(f"an unreachable geocoder cost {time.monotonic() - t0:.0f} s")
        return o
    add(sid, "geocoder", fn)


geocoder("geo-nominatim-unreachable", ["--geocoder", "nominatim", "--user-agent",
                                       "collector-routes-hostile"], expect="ok", where=[])
geocoder("geo-arcgis-unreachable", ["--geocoder", "arcgis"], expect="ok", where=[])
geocoder("geo-nominatim-without-user-agent", ["--geocoder", "nominatim"], expect="error",
         where=["user agent"])
geocoder("geo-google-without-key", ["--geocoder", "googlev3"], expect="error",
         where=["googlev3"])
geocoder("geo-unknown-service", ["--geocoder", "mapquest9"], expect="error",
         where=["mapquest9"])
geocoder("geo-validate-unreachable", ["--geocoder", "nominatim", "--user-agent", "x"],
         expect="report", where=[], validate=True)
geocoder("geo-place-download-offline", ["--place", "Chengdu, China"], expect="error",
         where=["--place"])


def _validate_out(target: Callable[[Ctx], Path]) -> Callable[[Ctx], Outcome]:
    def fn(c: Ctx) -> Outcome:
        p = c.run(["validate", "--cases", c.cases(), "--collectors", c.collectors(),
                   "--geocode", "--cache-dir", c.shared.cache, "--out", target(c)])
        return Outcome([p], "either", ["--out"])
    return fn


add("geo-validate-out-proc", "geocoder", _validate_out(lambda c: Path("/proc/addresses.csv")))
add("geo-validate-out-folder", "geocoder", _validate_out(lambda c: c.dir))


def _garbage_addresses(c: Ctx) -> Outcome:
    rows = _address_only()
    for r, a in zip(rows, ["!!!", "    ", "12", "a" * 2000, "中", "北京市", "😀", "NULL"],
                    strict=True):
        r["address"] = a
    rows[1]["address"] = "?"
    return c.plan(c.cases(rows), truth=truth_of(rows), expect="ok")


add("geo-garbage-addresses", "geocoder", _garbage_addresses)

# --------------------------------------------------------------------------- OSM files

BUNDLED_OSM = ROOT / "data" / "osm" / "chengdu_ring2.osm.bz2"
TINY_OSM = ROOT / "tests" / "data" / "tiny_network.osm"


def osm(sid: str, name: str, data: Callable[[], bytes] | None, *, expect: str = "error",
        where: Sequence[str] | None = None, network: bool = False) -> None:
    def fn(c: Ctx) -> Outcome:
        cache = c.dir / "cache"
        cache.mkdir()
        f = c.write(name, data()) if data is not None else c.dir / name
        net = None
        if network:
            from optimizer.geo.network import load_network

            net = load_network(f, cache_dir=cache)
        o = c.plan(extra=["--osm", f], cache=cache, expect=expect,
                   where=list(where) if where is not None else [name], network=net,
                   timeout_s=300)
        leaked = [p for p in c.dir.rglob("*") if p.is_file() and p.suffix in (".json", ".csv",
                                                                              ".html")
                  and "root:x:0:0" in p.read_text(encoding="utf-8", errors="replace")]
        if leaked:
            o.problems.append(f"a local file's content reached the output: {leaked[0].name}")
        return o
    add(sid, "osm", fn)


_OSM_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
osm("osm-missing-file", "nowhere.osm", None, where=["--osm", "nowhere.osm"])
osm("osm-text-file", "city.osm", lambda: b"hello, this is not OSM\n")
osm("osm-html-page", "city.osm.pbf", lambda: b"<html><body>404 Not Found</body></html>")
osm("osm-random-pbf", "city.osm.pbf", lambda: os.urandom(20_000))
osm("osm-empty-file", "city.osm", lambda: b"")
osm("osm-truncated-bz2", "city.osm.bz2", lambda: BUNDLED_OSM.read_bytes()[:40_000])
osm("osm-no-roads", "city.osm", lambda: _OSM_HEAD + b'<osm version="0.6"><node id="1" '
    b'lat="30.67" lon="104.05"/><node id="2" lat="30.68" lon="104.06"/></osm>')
osm("osm-wrong-extension", "city.txt", lambda: BUNDLED_OSM.read_bytes())
osm("osm-gz-not-gzip", "city.osm.gz", lambda: b"<osm></osm>")
osm("osm-billion-laughs", "city.osm", lambda: _OSM_HEAD + b'<!DOCTYPE osm [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(b'<!ENTITY %s "%s">' % (bytes([98 + k]), (b"&" + bytes([97 + k]) + b";") * 10)
               for k in range(9))
    + b']><osm version="0.6"><node id="1" lat="30.67" lon="104.05"><tag k="name" v="&j;"/>'
      b'</node></osm>')
osm("osm-external-entity", "city.osm", lambda: _OSM_HEAD + b'<!DOCTYPE osm [<!ENTITY x SYSTEM '
    b'"file:///etc/passwd">]><osm version="0.6"><node id="1" lat="30.6706" lon="104.0525">'
    b'<tag k="name" v="&x;"/><tag k="addr:street" v="&x;"/></node></osm>', expect="either")
# the collectors' branch lies outside that network: refused, naming the row
osm("osm-elsewhere-tiny-network", "tiny.osm", lambda: TINY_OSM.read_bytes(), expect="either",
    network=True, where=["collectors.csv", "row 2"])


def _osm_folder(c: Ctx) -> Outcome:
    (c.dir / "city.osm").mkdir()
    return c.plan(extra=["--osm", c.dir / "city.osm"], expect="error", where=["--osm"])


add("osm-is-a-folder", "osm", _osm_folder)

# --------------------------------------------------------------------------- serve


def _no_proxy_get(url: str, *, method: str = "GET", timeout_s: float = 20) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(url, method=method)
    try:
        with opener.open(req, timeout=timeout_s) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _raw_get(port: int, target: bytes) -> tuple[int, bytes]:
    """A request line sent as it is (urllib would normalise ../ and %2e)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(head.split()[1]), body
    except (IndexError, ValueError):
        return 0, data


@dataclass
class Served:
    proc: subprocess.Popen
    argv: list[str]
    t0: float
    overview: str = ""
    links: dict[str, str] = field(default_factory=dict)
    port: int = 0


def serve_start(c: Ctx, plan_dir: Path, extra: Sequence[object] = (), *,
                wait_s: float = 30) -> Served | Proc:
    """Start `serve`; the running server, or the run if it ended (an error) or hung."""
    argv: list[object] = ["serve", plan_dir, "--host", "127.0.0.1", "--port", "0", *extra]
    if "--port" in map(str, extra):
        argv = ["serve", plan_dir, "--host", "127.0.0.1", *extra]
    t0 = time.monotonic()
    p = c.start(argv)
    lines: list[str] = []

    def read() -> None:
        assert p.stdout is not None
        for raw in p.stdout:
            lines.append(raw.decode("utf-8", "replace"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while time.monotonic() - t0 < wait_s:
        if p.poll() is not None:
            reader.join(5)
            err = p.stderr.read() if p.stderr else b""
            return Proc([*map(str, argv)], p.returncode, "".join(lines), _text(err),
                        time.monotonic() - t0)
        if lines and lines[0].startswith("Serving") and len(lines) >= 2:
            time.sleep(0.3)  # the collector lines follow at once
            break
        time.sleep(0.05)
    else:
        _kill_group(p)
        return Proc([*map(str, argv)], None, "".join(lines), "", wait_s)
    s = Served(p, [*map(str, argv)], t0)
    for ln in lines[1:]:
        parts = ln.split()
        if len(parts) == 2 and parts[0] == "overview":
            s.overview = parts[1]
        elif len(parts) >= 2 and parts[-1].startswith("http"):
            s.links[" ".join(parts[:-1])] = parts[-1]
    m = re.search(r":(\d+)/", s.overview)
    s.port = int(m.group(1)) if m else 0
    return s


def serve_stop(s: Served) -> Proc:
    s.proc.send_signal(signal.SIGINT)
    p = finish(s.proc, s.argv, s.t0, timeout_s=20, signalled=True)
    return p


def _base_plan_copy(c: Ctx) -> Path:
    d = c.dir / "day"
    shutil.copytree(c.shared.root / "_base_plan", d)
    return d


def serve_error(sid: str, prepare: Callable[[Ctx, Path], Sequence[object] | None],
                where: Sequence[str], *, expect: str = "error") -> None:
    def fn(c: Ctx) -> Outcome:
        d = _base_plan_copy(c)
        extra = prepare(c, d)
        extra = extra if isinstance(extra, list) else []
        with contextlib.ExitStack() as stack:
            if getattr(c, "hold", None) is not None:
                stack.callback(c.hold.close)
            got = serve_start(c, d, extra)
        if isinstance(got, Proc):
            return Outcome([got], expect, list(where))
        stopped = serve_stop(got)
        return Outcome([stopped], expect, list(where),
                       note="served" if expect != "error" else "",
                       problems=[] if expect != "error" else [
                           "serve started on a folder it must refuse"])
    add(sid, "serve", fn)


def _port_in_use(c: Ctx, d: Path) -> list[object]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    c.hold = s  # type: ignore[attr-defined]
    return ["--port", s.getsockname()[1]]


def _links(edit: Callable[[dict], object]) -> Callable[[Ctx, Path], None]:
    def prepare(c: Ctx, d: Path) -> None:
        tokens = {"overview": "o" * 43, "collectors": {}}
        data = edit(tokens)
        (d / "links.json").write_bytes(data if isinstance(data, bytes) else
                                       json.dumps(data).encode() if not isinstance(data, str)
                                       else data.encode())
    return prepare


serve_error("serve-port-in-use", _port_in_use, ["already in use"])
serve_error("serve-host-not-this-machine", lambda c, d: ["--host", "192.0.2.77"],
            ["192.0.2.77"])
serve_error("serve-links-not-json", _links(lambda t: "{not json"), ["links.json"])
serve_error("serve-links-empty-file", _links(lambda t: ""), ["links.json"])
serve_error("serve-links-binary", _links(lambda t: os.urandom(300)), ["links.json"])
serve_error("serve-links-a-list", _links(lambda t: ["a", "list"]), ["links.json"])
serve_error("serve-links-weak-token", _links(lambda t: {**t, "overview": "short"}),
            ["links.json", "weak"])
serve_error("serve-links-token-with-slash",
            _links(lambda t: {**t, "overview": "../" * 15}), ["links.json"])
serve_error("serve-links-duplicate-tokens", _links(lambda t: {
    **t, "collectors": {"K03": "A" * 43, "K06": "A" * 43}}), ["links.json"])
serve_error("serve-links-overview-token-reused", _links(lambda t: {
    "overview": "B" * 43, "collectors": {"K03": "B" * 43}}), ["links.json"])
serve_error("serve-links-is-a-folder", lambda c, d: (d / "links.json").mkdir(), ["links.json"])
serve_error("serve-links-wrong-types", _links(lambda t: {"overview": 5, "collectors": [1]}),
            ["links.json"])
serve_error("serve-manifest-damaged", lambda c, d: (d / "manifest.json").write_text("{bad"),
            ["manifest.json"])
serve_error("serve-manifest-deleted", lambda c, d: (d / "manifest.json").unlink(),
            ["manifest.json"])
serve_error("serve-not-a-plan", lambda c, d: [shutil.rmtree(d), d.mkdir(),
                                              (d / "x.txt").write_text("x")] and None,
            ["manifest.json"])
add("serve-missing-folder", "serve",
    lambda c: Outcome([c.run(["serve", c.dir / "nowhere", "--port", "0"])], "error",
                      ["nowhere"]))


def _serve_probe(c: Ctx) -> Outcome:
    """A served plan: every page behind its token, nothing else; traversal and odd requests."""
    d = _base_plan_copy(c)
    got = serve_start(c, d)
    if isinstance(got, Proc):
        return Outcome([got], "ok")
    problems: list[str] = []
    secret_bits = [(d / "routes.csv").read_bytes()[:200], (d / "manifest.json").read_bytes()[:80]]
    try:
        token = got.links[next(iter(got.links))].rstrip("/").rsplit("/", 1)[-1]
        other = list(got.links.values())[-1]
        for url in [got.overview, *got.links.values()]:
            status, body = _no_proxy_get(url)
            if status != 200 or b"<html" not in body.lower():
                problems.append(f"{url} answered {status}")
        links_file = (d / "links.json").read_bytes()
        for target in [b"/", b"/routes.csv", b"/manifest.json", b"/links.json",
                       b"/../routes.csv", b"/%2e%2e/routes.csv", b"/assets/../routes.csv",
                       b"/" + token.encode() + b"/../routes.csv",
                       b"/" + token.encode() + b"/%2e%2e%2froutes.csv",
                       b"/" + token.encode() + b"/assets/../../routes.csv",
                       b"/" + token.encode() + b"/assets/%2e%2e/%2e%2e/links.json",
                       b"/" + token.encode() + b"/routes.json",
                       b"/" + token.encode() + b"/K06.html",
                       b"/" + token.encode()[:-1] + b"/",
                       b"/" + token.encode() + b"/" + b"A" * 20_000,
                       b"/" + token.encode() + b"/\x00", b"/%00", b"//etc/passwd",
                       b"http://evil.example/" + token.encode() + b"/"]:
            status, body = _raw_get(got.port, target)
            leaked = any(bit and bit in body for bit in secret_bits) or \
                (len(links_file) > 20 and links_file[:40] in body) or b"root:x:0:0" in body
            if leaked or (status == 200 and target.startswith(b"/" + token.encode() + b"/")
                          and len(target) > len(token) + 2 and b"assets" not in target):
                problems.append(f"GET {target[:60]!r} answered {status} with plan data")
        for method in ("POST", "PUT", "DELETE"):
            status, _ = _no_proxy_get(other, method=method)
            if status < 400:
                problems.append(f"{method} {other} answered {status}")
    finally:
        stopped = serve_stop(got)
    o = Outcome([stopped], "signal", problems=problems)
    if stopped.returncode not in (0, 130):
        o.problems.append(f"serve stopped by Ctrl-C with exit code {stopped.returncode}")
    return o


add("serve-traversal-and-odd-requests", "serve", _serve_probe)


def _serve_tampered(c: Ctx) -> Outcome:
    d = _base_plan_copy(c)
    page = json.loads((d / "manifest.json").read_text(encoding="utf-8"))["pages"]
    cid0, name = next(iter(page.items()))
    got = serve_start(c, d)
    if isinstance(got, Proc):
        return Outcome([got], "ok")
    problems = []
    try:
        (d / name).write_text("<html>tampered: <script>alert(1)</script></html>")
        status, body = _no_proxy_get(got.links[cid0])
        if status == 200 and b"tampered" in body:
            problems.append("a page changed after the plan was served as the plan's")
        (d / name).unlink()
        status, body = _no_proxy_get(got.links[cid0])
        if status == 200:
            problems.append("a deleted page answered 200")
    finally:
        stopped = serve_stop(got)
    return Outcome([stopped], "signal", problems=problems)


add("serve-page-tampered-or-deleted", "serve", _serve_tampered)


def _serve_no_maps(c: Ctx) -> Outcome:
    first = c.plan(out=c.dir / "day", extra=["--no-maps"], expect="ok")
    got = serve_start(c, c.dir / "day")
    if isinstance(got, Proc):
        return Outcome([first.main, got], "either", ["day"])
    stopped = serve_stop(got)
    return Outcome([first.main, stopped], "signal", problems=first.problems)


add("serve-plan-without-pages", "serve", _serve_no_maps)

# --------------------------------------------------------------------------- what-if files


def _whatif_base(c: Ctx) -> dict:
    return {"cases": str(c.cases()), "collectors": str(c.collectors()), "date": DATE,
            "policy": "none", "time_limit": 5, "max_solutions": 20,
            "solver": {"num_workers": 1, "warm_start": "none"}, "maps": False,
            "cache_dir": str(c.shared.cache)}


def whatif_run(c: Ctx, text: str, *, name: str = "scenario.yaml", expect: str = "either",
               where: Sequence[str] = ("scenario.yaml",), extra: Sequence[object] = (),
               n_variants: int | None = None) -> Outcome:
    f = c.write(name, text)
    out = c.dir / "whatif"
    p = c.run(["whatif", f, "--out", out, "--workers", "1", *extra], timeout_s=600)
    o = Outcome([p], expect, list(where))
    if p.returncode in (0, 1) and (out / "kpis.json").is_file():
        o.problems += _verify_whatif(out, n_variants)
    elif p.returncode in (0, 1):
        o.problems.append(f"whatif exit {p.returncode} without kpis.json")
    escaped = [q for q in [*c.dir.parent.iterdir(), Path("/tmp/escape-abs")]
               if q.name.startswith("escape") and q.exists()]
    if escaped:
        o.problems.append(f"a variant wrote outside the output folder: {escaped[0]}")
    return o


def _verify_whatif(out: Path, n_variants: int | None) -> list[str]:
    errs = []
    k = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    variants = k.get("variants", k) if isinstance(k, dict) else k
    names = [v.get("name") for v in variants] if isinstance(variants, list) else list(variants)
    if n_variants is not None and len(names) != n_variants + 1:
        errs.append(f"the report has {len(names)} variants; the file has {n_variants} and the "
                    "base")
    for d in sorted(p for p in out.iterdir() if p.is_dir() and (p / "manifest.json").exists()):
        bad = check_plan_folder(d)
        if bad:
            errs.append(f"variant {d.name}: {bad[0]}")
    for f in out.rglob("*"):
        if not f.resolve().is_relative_to(out.resolve()):
            errs.append(f"{f} lies outside the output folder")
    report = (out / "report.html").read_text(encoding="utf-8") if (out / "report.html").exists() \
        else ""
    if "1337" in report:
        errs.append("report.html evaluated template syntax (1337)")
    return errs


def _yaml(obj: object) -> str:
    import yaml

    return yaml.safe_dump(obj, allow_unicode=True, sort_keys=False)


def whatif(sid: str, make: Callable[[Ctx], str], *, expect: str = "either",
           where: Sequence[str] = ("scenario.yaml",), name: str = "scenario.yaml",
           extra: Sequence[object] = (), n_variants: int | None = None) -> None:
    add(sid, "whatif", lambda c: whatif_run(c, make(c), name=name, expect=expect, where=where,
                                            extra=extra, n_variants=n_variants))


whatif("wi-small-ok", lambda c: _yaml({"name": "small", "base": _whatif_base(c), "variants": {
    "plus_one": {"add_collectors": {"count": 1, "like": "K03"}}}}), expect="ok", n_variants=1)
whatif("wi-many-variants", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    f"v{i:03d}": {"seed": i} for i in range(300)}}), expect="error",
    where=["300 variants", "--max-variants"])
whatif("wi-max-variants-text", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    "a": {"seed": 1}}}), extra=["--max-variants", "lots"], expect="error",
    where=["--max-variants"])
whatif("wi-yaml-syntax-error", lambda c: "base:\n  cases: [unclosed\nvariants: {\n",
       expect="error", where=["scenario.yaml"])
whatif("wi-empty-file", lambda c: "", expect="error")
whatif("wi-top-level-list", lambda c: "- a\n- b\n", expect="error")
whatif("wi-base-not-a-mapping", lambda c: "base: 5\nvariants: {a: {seed: 1}}\n",
       expect="error", where=["scenario.yaml", "base"])
whatif("wi-variants-a-list", lambda c: _yaml({"base": _whatif_base(c), "variants": ["a", "b"]}),
       expect="error", where=["scenario.yaml", "variants"])
whatif("wi-wrong-types", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    "slow": {"time_limit": "fast"}, "long": {"shift_hours": "long"},
    "neg": {"max_visits": -3}, "nan": {"cooldown_days": float("nan")}}}),
    where=["scenario.yaml", "time_limit", "shift_hours", "max_visits", "cooldown_days"])
whatif("wi-base-wrong-types", lambda c: _yaml({"base": {**_whatif_base(c), "time_limit": [1],
                                                        "policy": 7}, "variants": {}}),
       expect="error", where=["scenario.yaml", "time_limit", "policy"])
whatif("wi-unknown-key", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    "x": {"add_colectors": {"count": 1}}}}), where=["scenario.yaml", "add_colectors"])
whatif("wi-duplicate-variant-names", lambda c: _yaml({"base": _whatif_base(c)}) +
       "variants:\n  same:\n    seed: 1\n  same:\n    seed: 2\n  other:\n    seed: 3\n",
       where=["scenario.yaml", "same"], n_variants=3)
whatif("wi-duplicate-base-keys", lambda c: "base:\n  policy: none\n  policy: china\n"
       "variants: {}\n", expect="error", where=["scenario.yaml", "policy"])
whatif("wi-billion-laughs", lambda c: "a: &a ['x','x','x','x','x','x','x','x','x']\n" + "".join(
    f"{chr(98 + k)}: &{chr(98 + k)} [{', '.join(['*' + chr(97 + k)] * 9)}]\n"
    for k in range(8)) + "base:\n  description: *i\nvariants: {}\n", where=["scenario.yaml"])
whatif("wi-python-tag", lambda c: f"base: !!python/object/apply:os.system ['touch "
       f"{c.dir}/M5']\nvariants: {{}}\n", expect="error", where=["scenario.yaml"])
whatif("wi-variant-name-traversal", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    "../../escape": {"seed": 1}, "/tmp/escape-abs": {"seed": 2}, "a/b": {"seed": 3}}}),
    where=["scenario.yaml"], n_variants=3)
whatif("wi-variant-name-markup", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    "[/]": {"seed": 1}, "[bold]x": {"seed": 2}, "ok:smile:": {"seed": 3}}}),
    where=["scenario.yaml"], n_variants=3)
whatif("wi-variant-name-template", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    "{{ 7*191 }}": {"seed": 1}}, "description": "{{ 7*191 }}"}), where=["scenario.yaml"],
    n_variants=1)
whatif("wi-cases-missing", lambda c: _yaml({"base": {**_whatif_base(c), "cases": "nowhere.csv"},
                                            "variants": {}}), expect="error",
       where=["nowhere.csv"])
whatif("wi-cases-bad-file", lambda c: _yaml({"base": {**_whatif_base(c), "cases": str(c.cases(
    cases_with(1, amount_overdue="-5"), name="bad.csv"))}, "variants": {}}), expect="error",
    where=["bad.csv", "row 3", "amount_overdue"])
whatif("wi-remove-too-many", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    "none_left": {"remove_collectors": {"count": 10}}}}), where=["scenario.yaml",
                                                                 "remove_collectors"])
whatif("wi-add-like-unknown", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    "x": {"add_collectors": {"count": 2, "like": "NOPE"}}}}), where=["scenario.yaml", "NOPE"])
whatif("wi-add-thousands", lambda c: _yaml({"base": _whatif_base(c), "variants": {
    "x": {"add_collectors": {"count": 100000, "like": "K03"}}}}), where=["scenario.yaml",
                                                                         "count"])
whatif("wi-impossible-date", lambda c: _yaml({"base": _whatif_base(c), "variants": {}})
       .replace(f"date: '{DATE}'", "date: 2026-02-30").replace(f"date: {DATE}",
                                                               "date: 2026-02-30"),
       expect="error", where=["scenario.yaml", "date"])
whatif("wi-toml-syntax-error", lambda c: "[base\ncases = 'x'\n", name="scenario.toml",
       expect="error", where=["scenario.toml"])
whatif("wi-json-extension", lambda c: json.dumps({"base": {}, "variants": {}}),
       name="scenario.json", expect="either", where=["scenario.json"])
def _wi_not_utf8(c: Ctx) -> Outcome:
    text = _yaml({"name": "演示", "base": _whatif_base(c), "variants": {"多一人": {"seed": 1}}})
    c.write("scenario.yaml", text.encode("gbk"))
    p = c.run(["whatif", c.dir / "scenario.yaml", "--out", c.dir / "whatif", "--workers", "1"],
              timeout_s=600)
    return Outcome([p], "either", ["scenario.yaml"])


add("wi-gbk-file", "whatif", _wi_not_utf8)


def _wi_out_file(c: Ctx) -> Outcome:
    f = c.write("scenario.yaml", _yaml({"base": _whatif_base(c), "variants": {}}))
    p = c.run(["whatif", f, "--out", c.write("out.txt", "x")])
    return Outcome([p], "error", ["--out"])


add("wi-out-is-a-file", "whatif", _wi_out_file)

# --------------------------------------------------------------------------- signals


def _children_of(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = {int(x) for x in (task / "children").read_text().split()}
                todo += list(kids - out)
                out |= kids
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*")
                  if not p.name.endswith(".lock"))


def signalled(sid: str, sig: int, when: str, *, delay_s: float = 0.0, workers: int = 2,
              command: str = "plan") -> None:
    """A plan (or what-if) gets `sig` at `when` ("start", "solving" or "writing"); the previous
    plan must stay whole, nothing half-written, no worker left behind."""

    def fn(c: Ctx) -> Outcome:
        out = c.dir / "plan"
        rows = base_cases(30)  # 12 visits or more: the solver portfolio starts its worker
        first = c.plan(c.cases(rows), truth=truth_of(rows), out=out, expect="ok")
        if first.main.returncode != 0 or first.problems:
            return first
        before = (out / "manifest.json").read_bytes()
        if command == "plan":
            argv = c.plan_argv(c.cases(rows), c.collectors(), out=out, quick=False,
                               extra=["--time-limit", "20" if when == "solving" else "3",
                                      "--solver-option", f"num_workers={workers}"])
        else:
            f = c.write("s.yaml", _yaml({"base": {**_whatif_base(c), "time_limit": 20,
                                                  "max_solutions": None}, "variants": {
                "a": {"seed": 1}, "b": {"seed": 2}}}))
            argv = ["whatif", f, "--out", out.parent / "whatif", "--workers", "2"]
        t0 = time.monotonic()
        p = c.start(argv)
        kids: set[int] = set()
        sent = False
        deadline = t0 + 120
        while time.monotonic() < deadline and p.poll() is None:
            kids |= _children_of(p.pid)
            ready = {"start": time.monotonic() - t0 > delay_s,
                     "solving": time.monotonic() - t0 > delay_s and bool(kids),
                     "writing": bool(_leftovers(out))}[when]
            if ready:
                time.sleep(delay_s if when == "writing" else 0)
                kids |= _children_of(p.pid)
                p.send_signal(sig)
                sent = True
                break
            time.sleep(0.002 if when == "writing" else 0.05)
        proc = finish(p, argv, t0, timeout_s=90, signalled=sent)
        o = Outcome([first.main, proc], "signal" if sent else "ok", note="" if sent else
                    "finished before the signal")
        time.sleep(1.0)
        left = [k for k in kids if _alive(k)]
        if left:
            o.problems.append(f"{len(left)} worker process(es) outlived the "
                              f"{signal.Signals(sig).name}: {[_cmd(k) for k in left][:2]}")
            for k in left:
                with contextlib.suppress(OSError):
                    os.kill(k, signal.SIGKILL)
        if sent and sig == signal.SIGINT and proc.returncode is not None:
            if proc.returncode != 130:
                o.problems.append(f"Ctrl-C ended with exit code {proc.returncode}, not 130")
            elif proc.stderr.strip().splitlines()[-1:] != ["interrupted"]:
                o.problems.append(f"Ctrl-C printed {proc.stderr.strip()[-200:]!r}")
        if command == "plan":
            if proc.returncode == 0:
                o.problems += verify_plan(PlanCheck(out, truth_of(rows), c.dir / "cases.csv",
                                                    c.dir / "collectors.csv",
                                                    rules.PRESETS["china"],
                                                    network=c.shared.network))
            elif (out / "manifest.json").read_bytes() != before:
                o.problems.append("the previous plan was changed by the interrupted run")
            else:
                o.problems += [f"previous plan: {x}" for x in check_plan_folder(out)]
            again = c.plan(c.cases(rows), truth=truth_of(rows), out=out, expect="ok")
            o.problems += [f"next run: {x}" for x in again.problems]
            if again.main.returncode != 0:
                o.problems.append(f"the next run failed: {first_message(again.main)}")
            if _leftovers(out):
                o.problems.append(f"the next run left {_leftovers(out)} beside the folder")
        else:
            report = out.parent / "whatif" / "report.html"
            if proc.returncode == 130 and report.exists() and report.stat().st_size == 0:
                o.problems.append("an empty report.html was left")
        return o

    add(sid, "signals", fn, solo=True)


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
    except OSError:
        return "?"


signalled("sig-ctrl-c-at-start", signal.SIGINT, "start", delay_s=1.0)
signalled("sig-ctrl-c-while-solving", signal.SIGINT, "solving", delay_s=4.0)
signalled("sig-ctrl-c-while-writing", signal.SIGINT, "writing")
signalled("sig-kill-9-while-writing", signal.SIGKILL, "writing")
signalled("sig-kill-9-while-solving", signal.SIGKILL, "solving", delay_s=4.0)
signalled("sig-term-while-solving", signal.SIGTERM, "solving", delay_s=4.0)
signalled("sig-hangup-while-solving", signal.SIGHUP, "solving", delay_s=4.0)
signalled("sig-ctrl-c-whatif", signal.SIGINT, "solving", delay_s=6.0, command="whatif")


def _two_runs(c: Ctx) -> Outcome:
    out = c.dir / "plan"
    rows = base_cases()
    one = c.collectors(base_collectors()[:1], name="one.csv")
    f = c.cases(rows)
    argvs = [c.plan_argv(f, c.collectors(), out=out, extra=["--policy", "none"]),
             c.plan_argv(f, one, out=out, extra=["--policy", "none"])]
    t0 = time.monotonic()
    ps = [c.start(a) for a in argvs]
    procs = [finish(p, a, t0, timeout_s=300) for p, a in zip(ps, argvs, strict=True)]
    o = Outcome(procs, "ok")
    if all(p.returncode == 0 for p in procs):
        m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        team = one if m["collectors"] == ["K03"] else c.dir / "collectors.csv"
        o.problems = verify_plan(PlanCheck(out, truth_of(rows), f, team, rules.PRESETS["none"],
                                           network=c.shared.network))
        if _leftovers(out):
            o.problems.append(f"left {_leftovers(out)} beside the folder")
    return o


add("out-two-runs-into-one-folder", "output", _two_runs, solo=True)


# =========================================================================== running it all


def run_one(sc: Scenario, shared: Shared) -> Result:
    folder = shared.root / sc.sid
    if folder.exists():
        shutil.rmtree(folder)
    c = Ctx(sc.sid, folder, shared)
    t0 = time.monotonic()
    try:
        o = sc.fn(c)
        outcome, detail = classify(o)
        p = o.main
        message, rc = first_message(p), p.returncode
        command = _show_command(p.argv, folder, shared)
    except Exception as exc:  # noqa: BLE001 - a harness bug: reported, never counted as product's
        import traceback

        outcome, detail, message, rc, command = ("harness error", traceback.format_exc()[-1500:],
                                                 f"{type(exc).__name__}: {exc}", None, "")
    return Result(sc.sid, sc.kind, command, rc, outcome, message[:500], detail,
                  time.monotonic() - t0)


def _show_command(argv: Sequence[str], folder: Path, shared: Shared) -> str:
    text = shlex.join(["python", "-m", "optimizer", *argv])
    return text.replace(str(folder), "$W").replace(str(shared.cache), "$CACHE").replace(
        str(shared.root), "$ROOT")


def warm_up(shared: Shared) -> None:
    """The shared cache (roads, gazetteer, walk roads) and a plan folder for the serve cases."""
    from optimizer.geo.network import load_network

    c = Ctx("_warm", shared.root / "_warm", shared)
    rows = base_cases()
    p = c.run(c.plan_argv(c.cases(rows), c.collectors(), out=shared.root / "_base_plan"))
    if p.returncode != 0:
        raise SystemExit(f"warm-up plan failed:\n{p.stderr[-3000:]}")
    addr = c.cases(_address_only(), name="addr.csv")
    c.run(c.plan_argv(addr, c.collectors(), out=c.dir / "addr"))
    shared.network = load_network(cache_dir=shared.cache)


def print_tables(results: Sequence[Result], console) -> None:
    from rich.table import Table

    kinds = list(dict.fromkeys(r.kind for r in results))
    present = [o for o in (*OUTCOMES, "harness error") if any(r.outcome == o for r in results)]
    t = Table(title="Outcomes per class of input", title_justify="left")
    t.add_column("class")
    for o in present:
        t.add_column(o, justify="right")
    t.add_column("total", justify="right")
    for k in kinds:
        rs = [r for r in results if r.kind == k]
        t.add_row(k, *(str(sum(r.outcome == o for r in rs) or "") for o in present),
                  str(len(rs)))
    t.add_section()
    t.add_row("total", *(str(sum(r.outcome == o for r in results)) for o in present),
              str(len(results)))
    console.print(t)
    bad = [r for r in results if r.outcome in (*BAD_OUTCOMES, "harness error")]
    if bad:
        b = Table(title="To fix", title_justify="left")
        for col in ("id", "outcome", "detail"):
            b.add_column(col, overflow="fold")
        for r in bad:
            b.add_row(r.sid, r.outcome, (r.detail or r.message)[:400])
        console.print(b)


def write_results(results: Sequence[Result], out: Path) -> Path:
    path = out / "results.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "class", "command", "exit_code", "outcome", "message", "detail",
                    "seconds"])
        for r in results:
            w.writerow([r.sid, r.kind, r.command, "" if r.returncode is None else r.returncode,
                        r.outcome, r.message, r.detail, f"{r.seconds:.1f}"])
    return path


def main(argv: Sequence[str] | None = None) -> int:
    global SHARED
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="folder for results.csv and the scenarios' files")
    ap.add_argument("--only", default=None,
                    help="comma-separated glob patterns on scenario id or class, e.g. "
                         "'enc-*,cache' (default: all)")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    ap.add_argument("--jobs", type=int, default=2, choices=(1, 2),
                    help="scenarios at a time (default 2; the machine has 2 cores)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help=f"seconds a run may take before it counts as a hang (default "
                         f"{DEFAULT_TIMEOUT_S:.0f}; some scenarios allow more)")
    a = ap.parse_args(argv)
    chosen = SCENARIOS
    if a.only:
        pats = [x.strip() for x in a.only.split(",") if x.strip()]
        chosen = [s for s in SCENARIOS if any(fnmatch.fnmatch(s.sid, p) or
                                              fnmatch.fnmatch(s.kind, p) for p in pats)]
    if a.list:
        for s in chosen:
            print(f"{s.sid:48} {s.kind}")
        print(f"{len(chosen)} scenarios")
        return 0
    if a.out is None:
        ap.error("--out DIR is required (results.csv and the scenarios' files go there)")
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    logging.basicConfig(level=logging.ERROR)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # started in the background by a shell (`... &`): SIGINT is ignored and the children
        # would inherit that, so every Ctrl-C scenario would read as "exit 0, not 130"
        signal.signal(signal.SIGINT, signal.default_int_handler)
    console = Console()
    a.out.mkdir(parents=True, exist_ok=True)
    root = a.out / "work"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    cache = root / "_cache"
    cache.mkdir()
    shared = Shared(root=root, cache=cache, env=child_env(cache), timeout_s=a.timeout)
    SHARED = shared
    t0 = time.monotonic()
    console.print(f"{len(chosen)} scenarios; warming the cache ...")
    warm_up(shared)
    results: list[Result] = []
    with Progress(TextColumn("{task.description:<44}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as prog:
        task = prog.add_task("scenarios", total=len(chosen))

        def done(r: Result) -> None:
            results.append(r)
            write_results(results, a.out)  # as it goes: a run cut short keeps what it found
            prog.update(task, advance=1, description=f"{r.sid[:30]}: {r.outcome}")

        parallel = [s for s in chosen if not s.solo]
        with ThreadPoolExecutor(max_workers=a.jobs) as pool:
            futures = [pool.submit(run_one, s, shared) for s in parallel]
            for f in as_completed(futures):
                done(f.result())
        for s in chosen:
            if s.solo:
                done(run_one(s, shared))
    order = {s.sid: k for k, s in enumerate(SCENARIOS)}
    results.sort(key=lambda r: order[r.sid])
    path = write_results(results, a.out)
    print_tables(results, console)
    console.print(f"{len(results)} scenarios in {time.monotonic() - t0:.0f} s; results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
