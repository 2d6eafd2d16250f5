"""Input lists whose every text field carries template syntax, and the pages they must show.

Built from the bundled demo data: the 12 demo cases with coordinates nearest to a collector base
in Qingyang (so that most of them fit one short day), and four collectors at demo bases. Every
text field of both files carries all of `payloads` (``{{ 7*191 }}``, ``{% if 1 %}x{% endif %}``,
a lone ``{#``, ``{# x #}`` and two expressions that would create a marker file through Python's
``os`` module if a template engine ever evaluated them). Windows, numbers and dates cannot carry
text and keep their demo values.

Used by tests/test_template_injection.py (the plan and what-if CLIs, page sources) and
tests/browser/test_injection_pages.py (the same pages in Chromium).
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

import optimizer
from optimizer.io.inputs import DEMO_CASES

ROOT = Path(__file__).resolve().parents[1]

MARKERS = ("MARKER", "MARKER2")
PLAN_DATE = "2026-11-30"  # a Monday
BASE = (30.670778, 104.053299)  # the demo's Qingyang base (K03, K06, K09, K15)


def payloads(marker_dir: Path) -> tuple[str, ...]:
    """Template syntax of every kind; the last two would create files in `marker_dir`."""
    m1, m2 = (marker_dir / name for name in MARKERS)
    return (
        "{{ 7*191 }}",
        "{% if 1 %}x{% endif %}",
        "{#",
        "{# x #}",
        f"{{{{ cycler.__init__.__globals__.os.system('touch {m1}') }}}}",
        f"{{{{ lipsum.__globals__['os'].popen('touch {m2}').read() }}}}",
    )


def carrier(tag: str, marker_dir: Path) -> str:
    """A field value: a tag that tells the fields apart, then every payload."""
    return " ".join((tag, *payloads(marker_dir)))


@dataclass(frozen=True)
class InjectionInputs:
    """The written input files and the text each record carries."""

    cases_csv: Path
    collectors_csv: Path
    cases: dict[str, dict[str, str]]  # case_id -> row as written
    collectors: dict[str, dict[str, str]]  # collector_id -> row as written
    team: str  # the team name of the two collectors who visit together
    marker_dir: Path

    def marker_files(self) -> list[Path]:
        """Marker files that exist (there must be none)."""
        return [self.marker_dir / m for m in MARKERS if (self.marker_dir / m).exists()]


def _nearest_demo_cases(n: int) -> list[dict[str, str]]:
    with DEMO_CASES.open(encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["lat"] and r["lon"]]

    def dist(r: dict[str, str]) -> float:
        return math.hypot(float(r["lat"]) - BASE[0], float(r["lon"]) - BASE[1])

    return sorted(rows, key=dist)[:n]


def write_inputs(folder: Path, marker_dir: Path) -> InjectionInputs:
    """Write ``cases.csv`` and ``collectors.csv`` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)

    def c(tag: str) -> str:
        return carrier(tag, marker_dir)

    # collectors: two alone, two as a team (the team name becomes their route's id)
    ids = [c(f"K{i}") for i in range(1, 5)]
    team = c("T")
    districts = f"{c('D1')};{c('D2')}"
    collectors = {}
    for i, cid in enumerate(ids, start=1):
        collectors[cid] = {
            "collector_id": cid,
            "name": c(f"N{i}"),
            "team": team if i >= 3 else "",
            "start_address": c(f"SA{i}"),
            "start_lat": f"{BASE[0]:.6f}",
            "start_lon": f"{BASE[1]:.6f}",
            "end_address": c(f"EA{i}"),
            "end_lat": f"{BASE[0]:.6f}",
            "end_lon": f"{BASE[1]:.6f}",
            "shift": "08:30-17:30",
            "max_visits": "4",
            "skills": f"{c(f'S{i}')};{c('S')}",
            "districts": districts,
        }
    cases = {}
    for i, demo in enumerate(_nearest_demo_cases(12), start=1):
        cid = c(f"C{i:02d}")
        row = {
            "case_id": cid,
            "customer_name": c(f"name{i}"),
            "phone": c(f"138 0000 {i:04d}"),
            "address": c(f"addr{i}"),
            "district": c("D1") if i % 2 else c("D2"),
            "lat": demo["lat"],
            "lon": demo["lon"],
            "amount_overdue": demo["amount_overdue"],
            "days_past_due": demo["days_past_due"],
            "windows": "",
            "service_minutes": "20",
            "skill": "",
            "preferred_collector": "",
            "fixed_collector": "",
            "notes": c(f"notes{i}"),
        }
        cases[cid] = row
    rows = list(cases.values())
    rows[0]["skill"] = c("S")  # every collector has it
    rows[1]["skill"] = c("S1")  # only K1 has it
    rows[2]["preferred_collector"] = ids[1]
    rows[3]["fixed_collector"] = ids[0]
    rows[4]["skill"] = c("S-nobody")  # not visited: the reason names the skill
    rows[5]["district"] = c("D-nobody")  # not visited: the reason names the district
    cases_csv = folder / "cases.csv"
    collectors_csv = folder / "collectors.csv"
    for path, records in ((cases_csv, rows), (collectors_csv, list(collectors.values()))):
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(records[0]))
            w.writeheader()
            w.writerows(records)
    return InjectionInputs(cases_csv, collectors_csv, cases, collectors, team, marker_dir)


def plan_args(inputs: InjectionInputs, out: Path, cache_dir: Path) -> list[str]:
    """``python -m optimizer`` arguments that plan `inputs` into `out` (short, reproducible)."""
    return [
        "plan", "--cases", str(inputs.cases_csv), "--collectors", str(inputs.collectors_csv),
        "--date", PLAN_DATE, "--policy", "none", "--time-limit", "10", "--max-solutions", "30",
        "--cache-dir", str(cache_dir), "--out", str(out), "-q",
    ]  # fmt: skip


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    """A CLI run in its own process, in its own working folder."""

    inputs: InjectionInputs
    out: Path
    cwd: Path
    returncode: int
    stdout: str
    stderr: str
    scenario: Path | None = None

    def created_files(self) -> list[Path]:
        """Marker files anywhere the run could have written them (there must be none)."""
        found = list(self.inputs.marker_files())
        # the run's whole folder (inputs, output, working folder), and the repository's top
        found += [p for m in MARKERS for p in self.inputs.marker_dir.parent.rglob(m)]
        found += [ROOT / m for m in MARKERS if (ROOT / m).exists()]
        return found


def _python_m(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    # the child imports the same optimizer package as the tests, from any working folder
    code_root = Path(optimizer.__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(code_root), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", "optimizer", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1800)


def _folders(folder: Path) -> tuple[Path, Path]:
    marker_dir, cwd = folder / "markers", folder / "cwd"
    marker_dir.mkdir(parents=True)
    cwd.mkdir()
    return marker_dir, cwd


def run_plan(folder: Path, cache_dir: Path) -> Run:
    """Plan the payload inputs with ``python -m optimizer plan`` into ``folder/out``."""
    marker_dir, cwd = _folders(folder)
    inputs = write_inputs(folder / "in", marker_dir)
    out = folder / "out"
    proc = _python_m(plan_args(inputs, out, cache_dir), cwd)
    return Run(inputs, out, cwd, proc.returncode, proc.stdout, proc.stderr)


#: a variant name made of template syntax: not a usable folder name, so that variant fails and the
#: report shows its name and the problem
BAD_VARIANT = "{{ 7*191 }}{% if 1 %}x{% endif %}{# x #}{#"


def run_whatif(folder: Path, cache_dir: Path) -> Run:
    """A what-if scenario on the payload inputs: the base, one more collector, a bad variant."""
    marker_dir, cwd = _folders(folder)
    inputs = write_inputs(folder / "in", marker_dir)
    first = next(iter(inputs.collectors))
    scenario = {
        "name": "injection",
        "description": carrier("scenario", marker_dir),
        "base": {
            "cases": str(inputs.cases_csv), "collectors": str(inputs.collectors_csv),
            "date": PLAN_DATE, "policy": "none", "time_limit": 10, "max_solutions": 30,
            "cache_dir": str(cache_dir), "description": carrier("base", marker_dir),
        },
        "variants": {
            "plus_one": {
                "description": carrier("variant", marker_dir),
                "add_collectors": {"count": 1, "like": first, "name": carrier("N-new", marker_dir)},
            },
            BAD_VARIANT: {"description": carrier("bad", marker_dir), "seed": 1},
        },
    }  # fmt: skip
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    out = folder / "out"
    proc = _python_m(["whatif", str(path), "--out", str(out), "--workers", "2", "-q"], cwd)
    return Run(inputs, out, cwd, proc.returncode, proc.stdout, proc.stderr, scenario=path)


# --------------------------------------------------------------------------- what pages show


@dataclass(frozen=True)
class RouteView:
    """A route of a written plan (routes.json) and the text its pages must show."""

    route_id: str
    name: str
    members: tuple[str, ...]
    case_ids: tuple[str, ...]  # in visiting order


def routes_of(plan_dir: Path) -> list[RouteView]:
    routes = json.loads((plan_dir / "routes.json").read_text(encoding="utf-8"))["routes"]
    return [RouteView(r["collector_id"], r["name"], tuple(r["members"]),
                      tuple(s["case_id"] for s in r["stops"])) for r in routes]


def unassigned_of(plan_dir: Path) -> dict[str, dict[str, str]]:
    with (plan_dir / "unassigned.csv").open(encoding="utf-8-sig", newline="") as fh:
        return {r["case_id"]: r for r in csv.DictReader(fh)}


def expected_name(route: RouteView, names: dict[str, str], team: str) -> str:
    """A route's name from the input: a team's is its members' names joined by `` & ``."""
    if route.route_id == team:
        return " & ".join(names[m] or m for m in route.members)
    return names[route.route_id]


def collector_title(route: RouteView, name: str) -> str:
    return " · ".join(x for x in (route.route_id, name, PLAN_DATE) if x)
