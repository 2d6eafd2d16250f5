"""`SolveSettings` checks every field when built: one `ConfigError` naming each bad field, its
value and what it takes; through the command line (``--solver-option``) one line of the list of
option problems, before any work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer.errors import CollectorRoutesError, ConfigError
from optimizer.routing.params import SolveSettings

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("fields", "message"), [
    ({"warm_share": 2.0}, "warm_share=2.0 must be between 0 and 1"),
    ({"num_workers": 2.5}, "num_workers=2.5 must be a whole number >= 1"),
    ({"num_workers": True}, "num_workers=True must be a whole number >= 1"),
    ({"time_limit_s": float("inf")}, "time_limit_s=inf must be a positive, finite number"),
    ({"seed": -1}, "seed=-1 must be a whole number >= 0"),
    ({"max_solutions": 0}, "max_solutions=0 must be a whole number >= 1 or None"),
    ({"max_warm_iterations": "many"}, "max_warm_iterations='many' must be a whole number"),
    ({"warm_start": "ortools"}, "warm_start='ortools' is unknown; use one of ('auto', 'pyvrp'"),
    ({"log_search": "yes"}, "log_search='yes' must be true or false"),
])
def test_a_bad_field_is_a_config_error_naming_field_value_and_range(fields, message):
    with pytest.raises(ConfigError) as err:
        SolveSettings(**fields)
    assert message in str(err.value)
    assert isinstance(err.value, CollectorRoutesError) and isinstance(err.value, ValueError)


def test_every_bad_field_at_once():
    with pytest.raises(ConfigError) as err:
        SolveSettings(time_ticks_per_s=0, value_scale=-1.0, metaheuristic="magic")
    assert str(err.value).count(";") >= 3  # three problems, one message
    for field in ("time_ticks_per_s=0", "value_scale=-1.0", "metaheuristic='magic'"):
        assert field in str(err.value)


def test_the_defaults_and_the_documented_values_are_accepted():
    SolveSettings()
    SolveSettings(time_limit_s=1, seed=3, max_solutions=1, max_warm_iterations=1,
                  warm_start="none", num_workers=1, time_ticks_per_s=10, value_scale=1)


@pytest.mark.parametrize(("option", "words"), [
    ("warm_share=2", ["warm_share=2 must be between 0 and 1"]),
    ("num_workers=2.5", ["num_workers=2.5 must be a whole number >= 1"]),
])
def test_solver_option_with_a_bad_value_is_one_line(tmp_path, option, words):
    run = subprocess.run([sys.executable, "-m", "optimizer", "plan", "--solver-option", option],
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 2
    # the command line's list of option problems, this one on one line of its own
    head, *problems = run.stderr.strip().splitlines()
    assert head == "error: 1 option problem:" and len(problems) == 1, run.stderr
    assert problems[0].startswith(f"  - --solver-option {option!r}: ") and "fix: " in problems[0]
    assert all(w in problems[0] for w in words)
    assert list(tmp_path.iterdir()) == []  # nothing read, nothing written
