"""mypy over the whole package: strict on the problem model and the routing stage, the defaults
with the bodies of untyped functions checked everywhere else (pyproject.toml, [tool.mypy]).

OR-Tools, VROOM and geopy ship no types: their objects are `Any` and stay behind the modules that
use them (`routing/ortools_model`, `routing/warm`, `geo/geocode/online`). The other libraries
are checked through their own types or the stubs of the dev extra (PyYAML, networkx, openpyxl,
SciPy).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the flags ``mypy --strict`` turns on that can be set per module
STRICT_FLAGS = {
    "disallow_any_generics", "disallow_subclassing_any", "disallow_untyped_calls",
    "disallow_untyped_defs", "disallow_incomplete_defs", "check_untyped_defs",
    "disallow_untyped_decorators", "warn_unused_ignores", "warn_return_any", "strict_equality",
    "extra_checks",
}
#: a ``# type: ignore`` names the error it silences and says why, in a comment after it
_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<code>\[[a-z-, ]+\])?(?P<why>\s*#?\s*\S.*)?$")


def test_the_package_passes_mypy():
    pytest.importorskip("mypy", reason="mypy is in the dev extra: pip install -e '.[dev]'")
    # without PYTHONPATH: on it, mypy would take the package for an installed one and keep quiet
    # about the modules the checked ones import
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, "-m", "mypy", "optimizer"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Success: no issues found" in run.stdout, run.stdout


def test_the_strict_modules_get_every_strict_flag():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    strict = next(o for o in config["overrides"] if "optimizer.routing.*" in o["module"])
    assert set(strict["module"]) == {"optimizer.model", "optimizer.routing", "optimizer.routing.*"}
    assert {k for k, v in strict.items() if v is True} == STRICT_FLAGS
    assert strict["implicit_reexport"] is False
    assert config["warn_redundant_casts"] is True
    assert config["check_untyped_defs"] is True
    assert config["warn_unused_ignores"] is True


def test_every_type_ignore_names_its_error_and_says_why():
    bare = []
    for path in sorted((ROOT / "optimizer").rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = _IGNORE.search(line)
            if m and not (m["code"] and m["why"]):
                bare.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not bare, "\n".join(bare)
