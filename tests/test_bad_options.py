"""Bad command-line options, through the real CLI in a subprocess: exit code, message, no traceback.

Every option problem is reported before any work (nothing is read, geocoded or written: the
runs start in an empty folder and must leave it empty), all at once, naming the option, the value
and the fix. ``{file}``, ``{dir}``, ``{foreign}``, ``{missing}``, ``{plan}`` and ``{many}`` in an
argument stand for paths made by the `paths` fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BAD = [
    # --- plan: values out of range (today they changed the plan silently or crashed late)
    pytest.param(["plan", "--travel-cost-per-hour", "nan"], 2,
                 ["--travel-cost-per-hour value 'nan'", "is not a finite number",
                  "fix: give a number >= 0"], id="travel-cost-nan"),
    pytest.param(["plan", "--max-work-hours", "0"], 2,
                 ["--max-work-hours value '0'", "must be > 0", "fix: "], id="max-work-hours-0"),
    pytest.param(["plan", "--cooldown-days", "-5"], 2,
                 ["--cooldown-days value '-5'", "must be >= 0", "fix: give a whole number >= 0"],
                 id="cooldown-negative"),
    pytest.param(["plan", "--lunch-minutes", "-30"], 2,
                 ["--lunch-minutes value '-30'", "must be >= 0"], id="lunch-negative"),
    pytest.param(["plan", "--lunch-minutes", "600"], 2,
                 ["--lunch-minutes value '600'", "must be <= 240"], id="lunch-too-long"),
    pytest.param(["plan", "--time-limit", "0"], 2,
                 ["--time-limit value '0'", "must be > 0"], id="time-limit-0"),
    pytest.param(["plan", "--time-limit", "inf"], 2,
                 ["--time-limit value 'inf'", "not a finite number"], id="time-limit-inf"),
    pytest.param(["plan", "--team-size", "0"], 2, ["--team-size value '0'", "must be >= 1"],
                 id="team-size-0"),
    pytest.param(["plan", "--seed", "-1"], 2, ["--seed value '-1'", "must be >= 0"],
                 id="seed-negative"),
    pytest.param(["plan", "--seed", "1.5"], 2, ["--seed value '1.5'", "is not a whole number"],
                 id="seed-not-whole"),
    pytest.param(["plan", "--max-solutions", "0"], 2, ["--max-solutions value '0'"],
                 id="max-solutions-0"),
    pytest.param(["plan", "--speed-factor", "0"], 2, ["--speed-factor value '0'", "must be > 0"],
                 id="speed-factor-0"),
    pytest.param(["plan", "--overtime-minutes", "100000"], 2,
                 ["--overtime-minutes value '100000'", "must be <= 720"], id="overtime-huge"),
    pytest.param(["plan", "--preferred-cost", "1e300"], 2,
                 ["--preferred-cost value '1e300'", "must be <= 1000000"], id="cost-overflow"),
    pytest.param(["plan", "--policy", "mars"], 2,
                 ["--policy value 'mars'", "use one of: none, china, us_fdcpa"], id="policy"),
    pytest.param(["plan", "--mode", "boat"], 2, ["--mode value 'boat'", "drive, bike, walk"],
                 id="mode"),
    pytest.param(["plan", "--tiles", "google"], 2, ["--tiles value 'google'", "osm, amap"],
                 id="tiles"),
    pytest.param(["plan", "--balance", "days"], 2, ["--balance value 'days'", "none, hours"],
                 id="balance"),
    pytest.param(["plan", "--date", "2026-02-30"], 2,
                 ["--date value '2026-02-30'", "is not a date", "YYYY-MM-DD"], id="date"),
    pytest.param(["plan", "--contact-hours", "22:00-08:00"], 2,
                 ["--contact-hours value '22:00-08:00'", "before start"], id="contact-hours"),
    pytest.param(["plan", "--curve", "0:2"], 2,
                 ["--curve value '0:2'", "shares must be in 0..1"], id="curve"),
    pytest.param(["plan", "--solver-option", "num_wrkers=2"], 2,
                 ["--solver-option 'num_wrkers=2'", "unknown field 'num_wrkers'"],
                 id="solver-option"),
    pytest.param(["plan", "--cases", "{missing}"], 2, ["--cases value", "no such file"],
                 id="cases-missing"),
    pytest.param(["plan", "--osm", "{file}", "--place", "Chengdu"], 2,
                 ["--place value 'Chengdu'", "give only one of them"], id="osm-and-place"),
    pytest.param(["plan", "--cache-dir", "{file}"], 2,
                 ["--cache-dir value", "is a file, not a folder"], id="cache-dir-file"),
    # --- plan: the output folder
    pytest.param(["plan", "--out", "{file}"], 2,
                 ["--out value", "is a file, not a folder", "fix: give a folder"], id="out-file"),
    pytest.param(["plan", "--out", "{file}/sub"], 2, ["--out value", "lies inside the file"],
                 id="out-inside-file"),
    pytest.param(["plan", "--out", "{foreign}"], 2,
                 ["--out value", "holds files that are not part of a plan (notes.txt)",
                  "fix: give a new or empty folder"], id="out-foreign-files"),
    # --- every problem at once
    pytest.param(["plan", "--cooldown-days", "-5", "--lunch-minutes", "-30", "--time-limit", "0",
                  "--travel-cost-per-hour", "nan", "--out", "{file}"], 2,
                 ["5 option problems", "--cooldown-days", "--lunch-minutes", "--time-limit",
                  "--travel-cost-per-hour", "--out"], id="all-at-once"),
    # --- the other commands
    pytest.param(["validate", "--show", "0"], 2, ["--show value '0'", "must be >= 1"],
                 id="validate-show"),
    pytest.param(["validate", "--out", "{dir}"], 2, ["--out value", "is a folder"],
                 id="validate-out-dir"),
    pytest.param(["validate", "--out", "{missing}/addresses.csv"], 2,
                 ["--out value", "its folder does not exist"], id="validate-out-no-folder"),
    pytest.param(["serve", "{plan}", "--port", "70000"], 2,
                 ["--port value '70000'", "must be <= 65535"], id="serve-port"),
    pytest.param(["serve", "{missing}"], 2, ["no such plan directory", "collector-routes plan"],
                 id="serve-no-dir"),
    pytest.param(["serve", "{dir}"], 2, ["holds no complete plan", "manifest.json missing",
                                         "fix: run `collector-routes plan --out"],
                 id="serve-no-plan"),
    pytest.param(["whatif", "{many}", "--workers", "0"], 2, ["--workers value '0'"],
                 id="whatif-workers"),
    pytest.param(["whatif", "{many}", "--max-variants", "0"], 2, ["--max-variants value '0'"],
                 id="whatif-max-variants-0"),
    pytest.param(["whatif", "{many}"], 2,
                 ["many.yaml has 30 variants, more than --max-variants 20",
                  "fix: pass --max-variants 30"], id="whatif-too-many-variants"),
    # --- found by scripts/hostile_inputs.py (each failed as the comment says before its fix)
    # an empty value (a shell variable left unset) read as "none": the 10-hour limit was off
    pytest.param(["plan", "--max-work-hours", ""], 2,
                 ["--max-work-hours value ''", "is not a number"], id="max-work-hours-empty"),
    # solver options: tracebacks deep in OR-Tools (NaN, overflow, a text for a flag), or taken
    pytest.param(["plan", "--solver-option", "value_scale=nan"], 2,
                 ["value_scale=nan must be a positive, finite number", "fix: "],
                 id="solver-option-nan"),
    pytest.param(["plan", "--solver-option", "value_scale=1e300"], 2,
                 ["value_scale=1e+300 must be a positive, finite number at most 1e+06"],
                 id="solver-option-overflow"),
    pytest.param(["plan", "--solver-option", "log_search=maybe"], 2,
                 ["log_search='maybe' must be true or false"], id="solver-option-not-a-flag"),
    pytest.param(["plan", "--solver-option", "max_warm_iterations=-1"], 2,
                 ["max_warm_iterations=-1 must be a whole number >= 1"],
                 id="solver-option-negative"),
    pytest.param(["plan", "--solver-option", "num_workers=1000"], 2,
                 ["num_workers=1000 must be a whole number >= 1 and <= 64"],
                 id="solver-option-workers"),
    # argparse's own errors: a usage screen and no fix
    pytest.param(["plan", "--cases-file", "x.csv"], 2,
                 ["unrecognized arguments: --cases-file x.csv", "fix: check the spelling"],
                 id="unknown-option"),
    pytest.param(["plan", "--curve", "-10:0.5"], 2,
                 ["argument --curve: expected one argument", "--curve=-10:0.5"],
                 id="value-like-an-option"),
    # a path longer than a file name may be: OSError tracebacks
    pytest.param(["plan", "--out", "{long}"], 2,
                 ["--out value", "cannot be a folder here (File name too long)"],
                 id="out-name-too-long"),
    pytest.param(["plan", "--cases", "{long}.csv"], 2, ["--cases value", "no such file"],
                 id="cases-name-too-long"),
    pytest.param(["validate", "--out", "{long}.csv"], 2,
                 ["--out value", "cannot be a file here (File name too long)"],
                 id="validate-out-name-too-long"),
    pytest.param(["serve", "{long}"], 2, ["cannot be a plan directory (File name too long)"],
                 id="serve-name-too-long"),
    # online geocoders that cannot work: found after the files were read (unclear), or a
    # geopy ConfigurationError traceback (Google without an API key)
    pytest.param(["plan", "--geocoder", "nosuch"], 2,
                 ["--geocoder value 'nosuch': unknown geocoding service", "fix: use 'offline'"],
                 id="geocoder-unknown"),
    pytest.param(["plan", "--geocoder", "googlev3"], 2,
                 ["--geocoder value 'googlev3'", "API key", "fix: give it the options it needs"],
                 id="geocoder-needs-a-key"),
    pytest.param(["plan", "--geocoder", "nominatim"], 2,
                 ["--geocoder value 'nominatim'", "user agent", "--user-agent"],
                 id="geocoder-needs-a-user-agent"),
    # what-if files: a UnicodeDecodeError traceback; a variant silently lost to a key written
    # twice; a message without its fix
    pytest.param(["whatif", "{gbk}"], 2, ["gbk.yaml: not UTF-8 text",
                                         "fix: save the scenario file as UTF-8"],
                 id="whatif-not-utf8"),
    pytest.param(["whatif", "{twice}"], 2,
                 ["the key 'same' is written twice (lines 3 and 4); fix: keep one"],
                 id="whatif-key-twice"),
    pytest.param(["whatif", "{missing}"], 2, ["not found; fix: give the path"],
                 id="whatif-missing-file"),
]


@pytest.fixture
def paths(tmp_path) -> dict[str, str]:
    f = tmp_path / "a-file.txt"
    f.write_text("not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("my notes")
    many = tmp_path / "many.yaml"
    many.write_text("base: {policy: none}\nvariants:\n" + "".join(
        f"  v{i:02d}: {{seed: {i}}}\n" for i in range(30)))
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("base: {policy: none}\nvariants:\n  多一人: {seed: 1}\n".encode("gbk"))
    twice = tmp_path / "twice.yaml"
    twice.write_text("base: {policy: none}\nvariants:\n  same: {seed: 1}\n  same: {seed: 2}\n",
                     encoding="utf-8")
    return {"file": str(f), "dir": str(empty), "foreign": str(foreign),
            "missing": str(tmp_path / "nowhere.csv"), "plan": str(empty), "many": str(many),
            "long": str(tmp_path / ("n" * 300)), "gbk": str(gbk), "twice": str(twice)}


def run_cli(argv: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    """``python -m optimizer ARGV`` in a child process with this checkout on its path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "optimizer", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          **kw)


@pytest.mark.parametrize(("argv", "exit_code", "expected"), BAD)
def test_bad_option_is_named_with_its_fix(argv, exit_code, expected, paths, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    args = [a.format(**paths) for a in argv]
    run = run_cli(args, work)
    assert run.returncode == exit_code, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr + run.stdout
    err = run.stderr
    assert err.startswith("error: "), err
    for words in expected:
        assert words.format(**paths) in err, err
    # nothing was done: no plan folder (default maps/<date>), no cache, no what-if folder
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in Path(paths["foreign"]).iterdir()) == ["notes.txt"]
