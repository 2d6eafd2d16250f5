"""The package's imports follow the data flow (README, "Architecture"), read from the source.

Every import of every module of ``optimizer/`` counts, at the top or inside a function: no cycle
between modules, each stage imports only the stages it may, nothing imports the command line,
and an import inside a function is one of the few documented ones in `LAZY`.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "optimizer"

#: the stage of a module: the longest matching prefix of its name
STAGES = {
    "optimizer": "package",
    "optimizer.__main__": "main",
    "optimizer.cli": "cli",
    "optimizer.model": "model",
    "optimizer.errors": "model",
    "optimizer.atomic": "core",
    "optimizer.bundled": "core",
    "optimizer.cache": "core",
    "optimizer.cells": "core",
    "optimizer.executor": "core",
    "optimizer.cluster": "core",
    "optimizer.interrupts": "core",
    "optimizer.progress": "core",
    "optimizer.io": "io",
    "optimizer.geo": "geo",
    "optimizer.routing": "routing",
    "optimizer.planning": "planning",
    "optimizer.plan": "plan",
    "optimizer.partitioned": "plan",
    "optimizer.cities": "plan",
    "optimizer.horizon": "plan",
    "optimizer.replan": "plan",
    "optimizer.options": "plan",
    "optimizer.settings": "plan",
    "optimizer.outputs": "outputs",
    "optimizer.whatif": "whatif",
    "optimizer.web": "web",
    "optimizer.store": "store",
    "optimizer.store.outcomes": "codes",
    "optimizer.loop": "loop",
    "optimizer.recording": "loop",
    "optimizer.console": "console",
}

_BELOW_PLAN = {"model", "core", "io", "geo", "routing", "planning"}
#: the rule table: stage -> the stages its modules may import (its own included)
MAY_IMPORT = {
    "package": set(),
    "model": {"model"},  # model and errors: plain data, nothing else of the project
    "core": {"model", "core"},  # files, caches, progress, processes: no stage at all
    "io": {"model", "core", "codes", "io"},  # codes: a filled route sheet's outcomes
    "geo": {"model", "core", "geo"},
    "routing": {"model", "core", "routing"},  # plain Problem -> Solution, no places or rules
    "planning": {"model", "core", "geo", "routing", "planning"},
    "plan": _BELOW_PLAN | {"plan"},  # the day's pipeline and its option values
    "outputs": _BELOW_PLAN | {"plan", "outputs"},
    "whatif": _BELOW_PLAN | {"plan", "outputs", "whatif"},
    # the web application records outcomes into the store and reads its plans
    "web": _BELOW_PLAN | {"plan", "outputs", "codes", "store", "web"},
    # nothing imports it; the store for plan --store and its commands, replan --store, serve
    # --store and apikey
    "cli": _BELOW_PLAN | {"plan", "outputs", "whatif", "web", "codes", "store", "loop",
                          "console", "cli"},
    # the dispatcher console: the day's pipeline, the loop, what-if and re-planning behind the
    # web application's routes
    "console": _BELOW_PLAN | {"plan", "outputs", "whatif", "web", "codes", "store", "loop",
                              "console"},
    "main": {"cli"},
    # the case store's outcome codes and their validation: plain data, shared by the store,
    # the sheet reader (io) and the web app
    "codes": {"model", "codes"},
    # the case store: database rows, merges, outcomes, what the next plan learns; it takes
    # cases as io makes them (plain model data) and may use the planning rules, never a
    # stage after planning, nor io itself (io reads the outcome codes from the store)
    "store": {"model", "core", "planning", "codes", "store"},
    # the collection loop: the store before and after the day's pipeline (plan --store), and
    # outcome files read by io recorded into the store (`optimizer.recording`)
    "loop": _BELOW_PLAN | {"outputs", "codes", "store", "loop"},
}

#: imports a module makes inside functions, each with its reason; all others are at the top
LAZY = {
    "optimizer.cli": {  # each command loads its stages when it runs: --help and validate start
        "optimizer.plan", "optimizer.outputs.write", "optimizer.horizon",  # fast
        "optimizer.partitioned", "optimizer.cities", "optimizer.replan",
        "optimizer.io.published",
        # replan --store: the outcomes recorded, through the store's reading function
        "optimizer.store.db", "optimizer.store.history",
        "optimizer.geo.geocode", "optimizer.whatif.runner",
        "optimizer.whatif.scenario",
        # SQLAlchemy and Alembic (0.3 s) only for the commands that use the store
        "optimizer.loop", "optimizer.recording",
        "optimizer.store.export", "optimizer.io.outcomes", "optimizer.store.migrate",
        "optimizer.store.events", "optimizer.outputs.pack",  # Jinja, for plan --visit-pack only
        # serve and apikey: the web application (FastAPI, uvicorn) and the store
        # (SQLAlchemy) load only for them
        "optimizer.web.run", "optimizer.web.settings", "optimizer.store.apikeys",
        # users and console: the store's accounts (argon2) and the console's application
        "optimizer.store.users", "optimizer.console.run", "optimizer.console.settings"},
    "optimizer.routing.ortools_model": {"ortools"},  # 0.3 s, when a model is built
    "optimizer.routing.warm": {"pyvrp", "vroom"},  # a worker loads only the engine it runs
    "optimizer.geo.network": {"networkx", "osmnx"},  # only to build a network (cache miss)
    # optional: without the wheel the matrices use Dijkstra; the kernels import numba (0.25 s)
    # only when a CCH matrix is computed
    "optimizer.geo.cch": {"routingkit_cch", "optimizer.geo._cch_kernels"},
    "optimizer.geo.geocode.online": {"geopy"},  # online geocoding only: 0.1 s to import
    "optimizer.geo.osmfile": {"osmium"},  # .osm.pbf extracts only
    "optimizer.io.files": {"openpyxl"},  # .xlsx input only
    "optimizer.progress": {"rich"},  # only when bars are drawn; the library never needs it
    "optimizer.atomic": {"fcntl"},  # POSIX only: the module must import everywhere
    "optimizer.cluster": {"distributed"},  # the dask extra, only with --executor dask
}

#: inside geo/geocode, the modules a module may import (besides other stages): text -> index ->
#: matcher, the online service and the cache beside it, the package's interface on top; none
#: imports the package itself
GEOCODE = "optimizer.geo.geocode"
GEOCODE_MAY_IMPORT = {
    f"{GEOCODE}.base": set(),  # the result, the protocol, the configuration error
    f"{GEOCODE}.normalize": set(),  # pure text functions
    f"{GEOCODE}.index": {"normalize"},
    f"{GEOCODE}.gazetteer": {"base", "index", "normalize"},
    f"{GEOCODE}.online": {"base"},
    f"{GEOCODE}.cache": {"base"},
    GEOCODE: {"base", "cache", "gazetteer", "index", "online"},
}


#: the solvers and who may import them: their untyped objects stay behind these seams
ENGINES = {
    "ortools": {"optimizer.routing.ortools_model"},  # the OR-Tools model, one family a function
    "pyvrp": {"optimizer.routing.warm"},  # starting routes
    "vroom": {"optimizer.routing.warm"},
}
#: modules kept apart from their own stage on purpose, and the only modules of the package they
#: may import: verify is the check of the solver, so it shares neither the solver nor its
#: simulator (optimizer.routing.schedule)
INDEPENDENT = {"optimizer.routing.verify": {"optimizer.model"}}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _stage(module: str) -> str:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in STAGES:
            return STAGES[".".join(parts[:n])]
    raise AssertionError(f"{module} has no stage: add it to STAGES (and to the README)")


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported module, line, inside a function) of every import in `module`; a package's
    own modules resolved to the module, third-party ones to their top-level name."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    lazy_lines = {n.lineno for f in ast.walk(tree)
                  if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                  for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                pkg = module.split(".") if _is_package(module) else module.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "optimizer":
                assert name in MODULES, f"{module} line {node.lineno}: no module {name}"
            else:
                name = name.split(".")[0]
            out.append((name, node.lineno, node.lineno in lazy_lines))
    return out


def _graph() -> dict[str, set[str]]:
    return {m: {n for n, _, _ in _imports(m) if n in MODULES and n != m} for m in MODULES}


def test_every_module_has_a_stage_and_every_stage_a_rule():
    assert set(STAGES.values()) == set(MAY_IMPORT)
    for module in MODULES:
        _stage(module)


def test_no_import_cycles_between_modules():
    graph = _graph()
    # Tarjan's strongly connected components: a component of more than one module is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_stages_import_only_what_the_data_flow_allows():
    wrong = []
    for module in MODULES:
        stage = _stage(module)
        for name, line, _ in _imports(module):
            if name in MODULES and _stage(name) not in MAY_IMPORT[stage]:
                wrong.append(f"{module} line {line} ({stage}) imports {name} ({_stage(name)})")
    assert wrong == []


def test_nothing_imports_the_command_line():
    users = sorted(m for m in MODULES if m != "optimizer.__main__"
                   for name, _, _ in _imports(m) if name == "optimizer.cli")
    assert users == []


def test_imports_inside_functions_are_the_documented_ones():
    undocumented = [f"{module} line {line}: {name}" for module in MODULES
                    for name, line, lazy in _imports(module)
                    if lazy and name not in LAZY.get(module, set())]
    assert undocumented == []
    # and each documented one is still there
    stale = [f"{module}: {name}" for module, names in LAZY.items() for name in names
             if not any(n == name and lazy for n, _, lazy in _imports(module))]
    assert stale == []


def test_solvers_are_imported_behind_their_seams():
    wrong = [f"{module} line {line} imports {name}" for module in MODULES
             for name, line, _ in _imports(module)
             if name in ENGINES and module not in ENGINES[name]]
    assert wrong == []


def test_the_check_imports_neither_the_solver_nor_its_simulator():
    for module, allowed in INDEPENDENT.items():
        imported = {name for name, _, _ in _imports(module)}
        assert {n for n in imported if n in MODULES} <= allowed, module
        assert not imported & set(ENGINES), module


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _is_package(m)
                                          and m not in ("optimizer", "optimizer.geo.geocode")))
def test_a_stage_package_holds_its_docstring_only(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{module}: say what the stage does"
    assert len(tree.body) == 1, f"{module}: no code or re-exports in the package's __init__"


def test_the_wheel_lists_every_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(config["setuptools"]["packages"])
    assert listed == {m for m in MODULES if _is_package(m)} | {"optimizer.data"}
    assert config["setuptools"]["package-dir"] == {"optimizer.data": "data"}


def test_geocoding_modules_import_along_their_flow():
    modules = {m for m in MODULES if m == GEOCODE or m.startswith(GEOCODE + ".")}
    assert modules == set(GEOCODE_MAY_IMPORT), "add the module to GEOCODE_MAY_IMPORT"
    wrong = [f"{module} line {line} imports {name}" for module in sorted(modules)
             for name, line, _ in _imports(module)
             if name in modules and name != module
             and name.removeprefix(GEOCODE + ".") not in GEOCODE_MAY_IMPORT[module]]
    assert wrong == []
