"""A multi-city day through the command line: the Chengdu fixture and a cut of Heidelberg's
old town (tests/data/heidelberg_altstadt.osm.bz2, © OpenStreetMap contributors, ODbL 1.0, cut
by scripts/cut_osm.py), each city on its own roads, each city's plan re-simulated by
tests/plancheck.py, every case once, one combined summary."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
CITIES = DATA / "cities"
OSM = {"chengdu": ROOT / "data" / "osm" / "chengdu_ring2.osm.bz2",
       "heidelberg": DATA / "heidelberg_altstadt.osm.bz2"}
CITY_ARGS = [a for city, osm in OSM.items() for a in ("--city", f"{city}={osm}")]
DAY = ["--date", "2026-11-30", "--policy", "none", "--time-limit", "60", "--max-solutions",
       "100", "--no-maps", "-q"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "optimizer", *args], cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=900)


def plan_cities(out: Path, cache_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("plan", "--cases", str(CITIES / "cases.csv"), "--collectors",
               str(CITIES / "collectors.csv"), *CITY_ARGS, *DAY, "--cache-dir", str(cache_dir),
               "--out", str(out), *extra, cwd=out.parent)


def check_cities(out: Path, cache_dir: Path) -> dict:
    """Each city's folder re-simulated with its own cases, collectors and roads; the totals."""
    from plancheck import check_plan_outputs

    from optimizer.geo import network as nw
    from optimizer.io.inputs import read_inputs
    from optimizer.planning import rules

    cases, collectors = read_inputs(CITIES / "cases.csv", CITIES / "collectors.csv")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    seen: list[str] = []
    for line in summary["per_city"]:
        folder = out / line["folder"]
        mine = [c for c in cases if c.city == line["city"]]
        crew = [c for c in collectors if c.city == line["city"]]
        roads = nw.load_network(OSM[line["city"]], cache_dir=cache_dir)
        errs = check_plan_outputs(folder, mine, crew, date(2026, 11, 30), rules.PRESETS["none"],
                                  network=roads)
        assert errs == [], (line["city"], errs[:3])
        for name in ("routes.csv", "unassigned.csv"):
            with open(folder / name, encoding="utf-8-sig") as f:
                ids = [r["case_id"] for r in csv.DictReader(f)]
            assert set(ids) <= {c.case_id for c in mine}  # no case crosses a city
            seen += ids
        city = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        assert city["cases_total"] == line["cases_total"] == len(mine)
        assert city["value_visited"] == pytest.approx(line["value_visited"], abs=0.01)
    assert sorted(seen) == sorted(c.case_id for c in cases)  # every case exactly once
    assert summary["cases_total"] == len(cases) and summary["cities"] == 2
    assert summary["value_visited"] == pytest.approx(
        sum(x["value_visited"] for x in summary["per_city"]), abs=0.01)
    return summary


def test_each_city_is_planned_on_its_own_roads_with_one_combined_summary(tmp_path, cache_dir):
    out = tmp_path / "cities"
    res = plan_cities(out, cache_dir)
    assert res.returncode == 0, res.stderr
    summary = check_cities(out, cache_dir)
    by = {x["city"]: x for x in summary["per_city"]}
    assert by["heidelberg"]["osm"] == "heidelberg_altstadt.osm.bz2"
    assert by["chengdu"]["cases_visited"] > 0 and by["heidelberg"]["cases_visited"] > 0
    with open(out / "cities.csv", encoding="utf-8-sig") as f:
        assert [r["city"] for r in csv.DictReader(f)] == ["chengdu", "heidelberg"]
    # the Heidelberg stops lie in Heidelberg: its own network, not Chengdu's
    with open(out / "heidelberg" / "routes.csv", encoding="utf-8-sig") as f:
        assert all(49.3 < float(r["lat"]) < 49.5 for r in csv.DictReader(f))


def test_a_case_or_collector_of_no_given_city_is_named_with_its_row(tmp_path, cache_dir):
    cases = tmp_path / "cases.csv"
    text = (CITIES / "cases.csv").read_text(encoding="utf-8")
    cases.write_text(text.replace("W03,chengdu", "W03,lisbon").replace("H02,heidelberg",
                                                                        "H02,"), "utf-8")
    res = cli("plan", "--cases", str(cases), "--collectors", str(CITIES / "collectors.csv"),
              *CITY_ARGS, *DAY, "--cache-dir", str(cache_dir), "--out", str(tmp_path / "o"),
              cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "case_id=W03" in res.stderr and "lisbon" in res.stderr and "city" in res.stderr
    assert "case_id=H02" in res.stderr
    assert not (tmp_path / "o").exists()


def test_a_multi_city_day_is_refused_with_days_and_a_bad_city_option(tmp_path):
    res = cli("plan", *CITY_ARGS, "--days", "2", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--city" in res.stderr and "--days" in res.stderr
    res = cli("plan", "--city", "porto", "--city", "x=/no/such.osm", "--out",
              str(tmp_path / "o"), cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "CITY=FILE" in res.stderr and "/no/such.osm" in res.stderr
