"""A non-editable install (``pip install .``) plans the demo from any folder.

The package is built from a clean copy of the repository (so that no ``build/`` left in the
checkout can leak into the wheel), offline and without build isolation, into a fresh venv that
sees this machine's packages (``--system-site-packages``) but not the repository: the child runs
in another folder, without ``PYTHONPATH``, and the test checks that it imported the installed
copy. Its plan is re-simulated like every other plan of the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from plancheck import check_plan_outputs

from optimizer.io.inputs import DEMO_CASES, DEMO_COLLECTORS, read_cases, read_collectors
from optimizer.planning.rules import PRESETS

ROOT = Path(__file__).resolve().parents[1]
#: what a wheel is built from; everything else of the repository stays behind
SOURCES = ("pyproject.toml", "README.md", "optimizer", "data")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))}
    return {**env, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


@pytest.mark.slow
def test_a_non_editable_install_plans_the_demo_from_another_folder(tmp_path, cache_dir):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, capture_output=True, timeout=300)
    python = venv / "bin" / "python"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env(COLLECTOR_ROUTES_CACHE=str(cache_dir))
    pip = subprocess.run([str(python), "-m", "pip", "install", "--no-deps",
                          "--no-build-isolation", str(src)],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout + pip.stderr

    where = subprocess.run([str(python), "-c", "import optimizer, optimizer.bundled as b; "
                            "print(optimizer.__file__); print(b.data_path())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    package, data = (Path(line) for line in where.stdout.splitlines())
    assert venv in package.parents and venv in data.parents, where.stdout  # not the checkout
    assert data == package.parent / "data" and (data / "demo" / "cases.csv").is_file()

    out = elsewhere / "X"
    run = subprocess.run([str(python), "-m", "optimizer", "plan", "--date", "2026-11-30",
                          "--time-limit", "300", "--max-solutions", "20", "--no-maps", "-q",
                          "--out", "X"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert (out / "routes.csv").is_file() and (out / "manifest.json").is_file()
    from optimizer.geo.network import load_network

    errs = check_plan_outputs(out, read_cases(DEMO_CASES), read_collectors(DEMO_COLLECTORS),
                              date(2026, 11, 30), PRESETS["china"],
                              network=load_network(cache_dir=cache_dir))
    assert errs == []
