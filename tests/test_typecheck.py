"""mypy over the problem model and the routing stage: strict there (pyproject.toml, [tool.mypy]).

OR-Tools and VROOM ship no types: their objects are `Any` and stay inside optimizer/routing
(`ortools_model`, `warm`), which is what the strict check of everything else holds to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STRICT = ["optimizer/model.py", "optimizer/routing"]
#: the flags ``mypy --strict`` turns on that can be set per module
STRICT_FLAGS = {
    "disallow_any_generics", "disallow_subclassing_any", "disallow_untyped_calls",
    "disallow_untyped_defs", "disallow_incomplete_defs", "check_untyped_defs",
    "disallow_untyped_decorators", "warn_unused_ignores", "warn_return_any", "strict_equality",
    "extra_checks",
}


def test_model_and_routing_pass_mypy_strict():
    pytest.importorskip("mypy", reason="mypy is in the dev extra: pip install -e '.[dev]'")
    # without PYTHONPATH: on it, mypy would take the package for an installed one and keep quiet
    # about the modules the strict ones import (errors, executor, progress, interrupts)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-m", "mypy", *STRICT], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_strict_modules_get_every_strict_flag():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    strict = next(o for o in config["overrides"] if "optimizer.routing.*" in o["module"])
    assert set(strict["module"]) == {"optimizer.model", "optimizer.routing", "optimizer.routing.*"}
    assert {k for k, v in strict.items() if v is True} == STRICT_FLAGS
    assert strict["implicit_reexport"] is False
    assert config["warn_redundant_casts"] is True
