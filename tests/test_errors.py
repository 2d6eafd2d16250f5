"""Every error a user can cause is a project error with its exit code, and none ends in a
traceback (README, "exit code" table; `optimizer.errors`).

Read from the source: the built-in errors the package still raises are the few internal ones
in `INTERNAL`, each with the reason a user cannot reach it, and the command line's `main` maps
the root class and Ctrl-C only. Then the classes themselves (every one a `CollectorRoutesError`
with a documented exit code) and, through the real command line, the user errors that used to
end in a traceback or in a bare built-in error.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from optimizer.errors import (
    CollectorRoutesError,
    ConfigError,
    InputError,
    MissingFileError,
    ProblemError,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "optimizer"
BUILTIN = {"ValueError", "RuntimeError", "TypeError", "KeyError", "IndexError", "OSError",
           "FileNotFoundError", "Exception", "AssertionError", "NotImplementedError"}

#: (module, innermost function) -> why no user reaches this built-in error
INTERNAL = {
    # the text parsers' ValueError: `_Row.parse` and `options.time_range` turn it into a
    # problem naming file (or option), row, field and fix
    **{("optimizer.io.inputs", f): "parser" for f in (
        "parse_time_s", "parse_time_window", "parse_days", "parse_windows", "parse_bool",
        "parse_date", "conv")},
    # a missing XML attribute: `_iter_xml` reports an unreadable file (OsmFileError)
    ("optimizer.geo.osmfile", "_attr"): "caught",
    # a gazetteer cache file not ours: `_read_cache` sets it aside and rebuilds it
    ("optimizer.geo.geocode.index", "from_json"): "caught",
    # renameat2's error: the plan writer turns it into an OutputError naming the folder
    ("optimizer.atomic", "_exchange"): "caught",
    # a network cache file whose node order or edge flags do not fit: `load_network` sets it
    # aside and builds the network again (a fresh build makes both itself)
    ("optimizer.geo.network", "_network_from_arrays"): "caught",
    # the model's own order of constraint families
    ("optimizer.routing.ortools_model", "time"): "invariant",
    # this module's page template and folium's defaults, never the input
    ("optimizer.outputs.maps", "_figure"): "invariant",
    ("optimizer.outputs.maps", "_fill_slots"): "invariant",
    ("optimizer.outputs.maps", "_render"): "invariant",
    # time bands are built by plan.time_bands from a checked profile, never from the input
    ("optimizer.model", "__post_init__"): "invariant",
    # searching a problem without time bands through the time-dependent search: a caller's bug
    ("optimizer.routing.timedep", "_bands"): "invariant",
    # a Plan built by hand by a library caller: every plan of the pipeline has its summary
    ("optimizer.whatif.kpis", "plan_kpis"): "library",
    # Alembic's env run by hand (`alembic upgrade`): the store's migrations run only through
    # optimizer.store.migrate, which passes the connection
    ("optimizer.store.migrations.env", "<module>"): "library",
    # a naive time written to the store: the store's writers stamp every time in UTC; input
    # dates and times are read (and refused) by optimizer.store.outcomes first
    ("optimizer.store.tables", "process_bind_param"): "invariant",
}


#: exception classes of the package that are not errors a user sees, and why
NOT_SEEN = {
    # a parser's answer (message and fix): every caller reports it as an option problem
    "Bad": "optimizer.options",
    # HTTP answers of the web application (a JSON error body, an empty 404), never a command's
    "ApiError": "optimizer.web.errors",
    "NotFound": "optimizer.web.errors",
    # the console's refusals (401, 403, 429): an HTTP page, never a command's
    "Refused": "optimizer.console.auth",
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _builtin_raises() -> dict[tuple[str, str], list[int]]:
    """(module, innermost function) -> lines of every ``raise <built-in error>(...)``."""
    found: dict[tuple[str, str], list[int]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node: ast.AST, func: str, module: str = module) -> None:
            for child in ast.iter_child_nodes(node):
                name = func
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = child.name
                if isinstance(child, ast.Raise) and child.exc is not None:
                    exc = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                    if isinstance(exc, ast.Name) and exc.id in BUILTIN:
                        found.setdefault((module, name), []).append(child.lineno)
                visit(child, name)

        visit(tree, "<module>")
    return found


def test_built_in_errors_are_raised_only_where_no_user_reaches_them():
    found = _builtin_raises()
    stray = {k: v for k, v in found.items() if k not in INTERNAL}
    assert not stray, ("raise a project error (optimizer.errors) naming what and the fix, or "
                       f"add the place to INTERNAL with the reason: {stray}")
    assert not set(INTERNAL) - set(found), "INTERNAL lists places that raise nothing built-in"


def test_main_maps_the_root_error_and_ctrl_c_only():
    tree = ast.parse(MODULES["optimizer.cli"].read_text(encoding="utf-8"))
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    handlers = [h.type.id for n in ast.walk(main) if isinstance(n, ast.Try)
                for h in n.handlers if isinstance(h.type, ast.Name)]
    assert handlers == ["KeyboardInterrupt", "CollectorRoutesError"]


def _error_classes() -> dict[str, type[CollectorRoutesError]]:
    out: dict[str, type[CollectorRoutesError]] = {}
    for module in MODULES:
        if module.endswith("__main__") or ".migrations" in module:
            continue  # runs the command line; Alembic runs the migrations' modules
        for name, obj in inspect.getmembers(importlib.import_module(module), inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module \
                    and not name.startswith("_"):
                out[name] = obj
    return out


def test_every_error_class_is_a_project_error_with_a_documented_exit_code():
    classes = _error_classes()
    assert {"InputError", "ConfigError", "MissingFileError", "InfeasibleError", "OutputError",
            "ServeError", "WorkerDied"} <= set(classes)
    assert {n: classes[n].__module__ for n in NOT_SEEN} == NOT_SEEN
    not_ours = [n for n, c in classes.items()
                if not issubclass(c, CollectorRoutesError) and n not in NOT_SEEN]
    assert not not_ours, f"errors a user can see must derive from CollectorRoutesError: {not_ours}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d+) \| [^|]+ \| ([^\n]+) \|$", readme, re.M))
    assert set(table) == {"0", "1", "2", "3", "130"}
    for name, cls in classes.items():
        if name in NOT_SEEN:
            continue
        assert str(cls.exit_code) in table, (name, cls.exit_code)
        assert f"`{name}`" in table[str(cls.exit_code)], (
            f"README's exit code table: {name} (exit code {cls.exit_code}) is not in its row")


def test_built_in_bases_kept_for_callers_that_catch_them():
    assert issubclass(InputError, ValueError) and issubclass(ConfigError, ValueError)
    assert issubclass(MissingFileError, FileNotFoundError) and MissingFileError.exit_code == 2


# --------------------------------------------------------------------------- library


def test_a_window_ending_before_it_starts_is_a_problem_error():
    from optimizer.model import TimeWindow

    with pytest.raises(ProblemError, match="time window end 09:00 .* before its start 10:30"):
        TimeWindow(10 * 3600 + 1800, 9 * 3600)


def test_missing_extract_is_a_missing_file_error(tmp_path):
    from optimizer.geo.geocode.index import load_index
    from optimizer.geo.network import load_network

    for load in (load_network, load_index):
        with pytest.raises(MissingFileError, match="nowhere.osm.bz2 not found"):
            load(tmp_path / "nowhere.osm.bz2", cache_dir=tmp_path)


def test_executor_without_workers_and_unknown_tiles_are_config_errors():
    from optimizer.executor import LocalProcesses
    from optimizer.outputs.maps import write_overview

    with pytest.raises(ConfigError, match="max_workers=0.*give max_workers >= 1"):
        LocalProcesses(0)
    with pytest.raises(ConfigError, match="unknown tile provider 'google'"):
        write_overview(None, "unused.html", tiles="google")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- command line


def _run(*args: str, cwd: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "optimizer", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert "Traceback" not in out, out
    return res.returncode, out


def test_whatif_scenario_file_missing_a_folder_or_not_utf8(tmp_path):
    code, out = _run("whatif", "nowhere.yaml", cwd=tmp_path)
    assert code == 2 and "scenario file nowhere.yaml not found; fix: give the path" in out, out
    (tmp_path / "folder.yaml").mkdir()
    code, out = _run("whatif", "folder.yaml", cwd=tmp_path)
    assert code == 2 and "folder.yaml: cannot be read" in out, out
    (tmp_path / "latin1.yaml").write_bytes("name: café\n".encode("latin-1"))
    code, out = _run("whatif", "latin1.yaml", cwd=tmp_path)
    assert code == 2 and "latin1.yaml: not UTF-8 text" in out, out
    assert "fix: save the scenario" in out, out


def test_whatif_output_folder_that_cannot_be_made(tmp_path):
    scenario = ROOT / "tests" / "data" / "whatif" / "scenario.yaml"
    code, out = _run("whatif", str(scenario), "--out", "/proc/no-such/whatif", "-q",
                     cwd=tmp_path)
    assert code == 2, out
    assert "cannot write the what-if results into /proc/no-such/whatif" in out, out
    assert "give a folder you can write to (--out)" in out, out
