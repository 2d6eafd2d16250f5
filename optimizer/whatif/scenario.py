"""What-if scenario files: their schema, and reading them into checked, typed variants.

A scenario file (YAML or TOML, documented in ``docs/whatif.md``) holds a *base* and named
*variants*. Their keys are the plan options (`optimizer.settings.OPTIONS`: the names of
``collector-routes plan``'s options, with the same checks), the team edits of variants
(`optimizer.whatif.edits.TEAM_KEYS`) and how a variant is run (`RUN_KEYS`). `load_scenario`
checks every value, reports every problem with the file, variant, key, value and fix, and
resolves each variant into its `PlanSettings`, `TeamEdits` and input files.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from optimizer import options as opt
from optimizer.errors import ConfigError, InputError, Issue, MissingFileError
from optimizer.settings import OPTIONS, PlanSettings, build_settings, option_defaults
from optimizer.whatif.edits import NAME_RE, TEAM_KEYS, TeamEdits

BASE = "base"
#: the files a run writes beside the variants' folders (a variant may not take their names)
RESULT_FILES = ("report.html", "kpis.csv", "kpis.json")
START_FROM_BASE = ("auto", "always", "never")
#: keys of how a variant is run (the others: plan options and team edits)
RUN_KEYS: Mapping[str, opt.Parser] = {
    "description": opt.text,  # one line shown in the report
    # warm start from the base plan: auto = when the variant only adds capacity
    "start_from_base": opt.choice(START_FROM_BASE),
}
#: every key of a scenario section and its check
KEYS: Mapping[str, opt.Parser] = {
    **{o.name: o.parse for o in OPTIONS.values() if o.scenario}, **RUN_KEYS, **TEAM_KEYS}


@dataclass(frozen=True)
class Variant:
    """One variant of a scenario, checked and resolved.

    ``values`` are its checked key values, the base's then its own (``overrides``: the keys it
    sets itself; none for the base). ``issues`` lists what is wrong with it; a variant with
    issues is reported failed and not run (its ``settings`` are None). ``cases`` and
    ``collectors`` are the input files (None: the bundled demo's).
    """

    name: str
    description: str = ""
    overrides: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=dict)
    issues: tuple[Issue, ...] = ()
    settings: PlanSettings | None = None
    team: TeamEdits = TeamEdits()
    cases: Path | None = None
    collectors: Path | None = None
    start_from_base: str = "auto"


@dataclass(frozen=True)
class Scenario:
    """A scenario file: the base and its variants (the base first, named ``base``)."""

    name: str
    path: Path
    description: str
    variants: tuple[Variant, ...]

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)


def scenario_defaults() -> PlanSettings:
    """The settings of keys a scenario does not give: the command line's (a time budget sized
    by each variant's day, a search that stops when it stalls), but one process per variant
    (the variants are the parallelism)."""
    base = option_defaults()
    return replace(base, solver=replace(base.solver, num_workers=1))


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file.

    Problems of the base or of the file's layout raise `InputError` (nothing can run); problems
    of a variant are kept in its ``issues`` (that variant is reported failed, the others run).
    """
    path = Path(path)
    data = _read_file(path)
    file = path.name
    issues: list[Issue] = []
    unknown = sorted(map(str, set(data) - {"name", "description", "base", "variants"}))
    for k in unknown:
        issues.append(Issue(file, 0, "", k, _show(data[k]), "unknown top-level key",
                            "use name, description, base and variants; put settings under base"))
    name = str(data.get("name") or path.stem)
    if not NAME_RE.match(name):
        issues.append(Issue(file, 0, "", "name", name, "not usable as a folder name",
                            "use letters, digits, '-', '_' or '.'"))
    base, base_issues = _parse_section(data.get("base"), "base", file, allow_team=False)
    issues += base_issues
    raw_variants = data.get("variants") or {}
    if not isinstance(raw_variants, Mapping):
        issues.append(Issue(file, 0, "", "variants", _show(raw_variants),
                            "is not a mapping of named variants",
                            "write `variants:` then one `name: {overrides}` per variant"))
        raw_variants = {}
    if issues:
        raise InputError(issues)
    base_variant = _resolved(BASE, base, base, [], file, "base", path.parent, own=())
    if base_variant.issues:
        raise InputError(base_variant.issues)
    variants = [base_variant]
    for vname, section in raw_variants.items():
        variants.append(_variant(str(vname), section, base, file, path.parent))
    if len({v.name for v in variants}) != len(variants):
        raise InputError([Issue(file, 0, "", "variants", "", "duplicate variant names",
                                "give every variant its own name")])
    clashes = _case_clashes([v.name for v in variants])
    if clashes:
        raise InputError([Issue(file, 0, "", "variants", " and ".join(names),
                                f"the names {' and '.join(f'`{n}`' for n in names)} differ only "
                                "in case: on a file system that ignores case (Windows, macOS) "
                                "their result folders are one folder",
                                "give them names that differ in more than case")
                          for names in clashes])
    return Scenario(name, path, str(data.get("description", "")), tuple(variants))


def _case_clashes(names: Sequence[str]) -> list[tuple[str, ...]]:
    """Groups of names equal when case is ignored (`str.casefold`), in file order."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(n.casefold(), []).append(n)
    return [tuple(g) for g in groups.values() if len(g) > 1]


def _variant(name: str, section: object, base: Mapping[str, Any], file: str,
             root: Path) -> Variant:
    where = f"variant {name}"
    issues: list[Issue] = []
    if name == BASE:
        issues.append(Issue(file, 0, where, "", "", f"the name `{BASE}` is reserved for the "
                            "base", "rename the variant"))
    elif not NAME_RE.match(name):
        issues.append(Issue(file, 0, where, "", name, "the name is not usable as a folder name",
                            "use letters, digits, '-', '_' or '.'"))
    elif name.casefold() in RESULT_FILES:
        issues.append(Issue(file, 0, where, "", name, "the name is the one of a file of the "
                            "results folder (its folder would take the file's place)",
                            "rename the variant"))
    over, more = _parse_section(section, where, file, allow_team=True)
    issues += more
    if "shift_hours" in over and "extend_shift_hours" in over:
        issues.append(Issue(file, 0, where, "extend_shift_hours",
                            _show(over["extend_shift_hours"]),
                            "shift_hours and extend_shift_hours together are ambiguous",
                            "keep one of them"))
    return _resolved(name, {**base, **over}, over, issues, file, where, root,
                     own=tuple(sorted(over)))


def _resolved(name: str, values: Mapping[str, Any], own_values: Mapping[str, Any],
              issues: Sequence[Issue], file: str, where: str, root: Path, *,
              own: tuple[str, ...]) -> Variant:
    """The variant of these checked values: its settings, team edits and input files, or the
    problems found making them (rules across keys, files not found)."""
    description = str(own_values.get("description", ""))
    if issues:
        return Variant(name, description, own, values, tuple(issues))
    settings, problems = build_settings({k: v for k, v in values.items() if k in OPTIONS},
                                        base=scenario_defaults(), root=root)
    found = [Issue(file, 0, where, p.option, _show(p.value), p.message, p.fix)
             for p in problems] or _missing_files(values, file, where, root)
    if found:
        return Variant(name, description, own, values, tuple(found))
    cases, collectors = values.get("cases"), values.get("collectors")
    return Variant(name, description, own, values, (), settings, TeamEdits.of(values),
                   None if cases is None else root / cases,
                   None if collectors is None else root / collectors,
                   values.get("start_from_base", "auto"))


def _missing_files(values: Mapping[str, Any], file: str, where: str, root: Path) -> list[Issue]:
    """The first input file named that does not exist (paths relative to the scenario)."""
    for key in ("cases", "collectors", "osm"):
        p = values.get(key)
        if p is not None and not (root / p).is_file():
            return [Issue(file, 0, where, key, str(p), f"file {root / p} not found",
                          "give a path relative to the scenario file")]
    return []


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingFileError(f"scenario file {path} not found; fix: give the path of a .yaml "
                               "or .toml scenario file (see docs/whatif.md)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not UTF-8 text (byte {exc.start}); fix: save the "
                          "scenario file as UTF-8") from None
    except OSError as exc:  # a folder, no permission
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc}); fix: give the path "
                          "of a readable .yaml or .toml scenario file") from None
    toml = path.suffix.lower() == ".toml"
    try:
        data = tomllib.loads(text) if toml else _yaml(text)
    except Exception as exc:  # noqa: BLE001 - YAML and TOML raise their own types
        raise ConfigError(f"{path.name}: cannot be read as {'TOML' if toml else 'YAML'}: {exc}; "
                          "fix: correct the syntax (see docs/whatif.md)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: the file must be a mapping with `base` and `variants`; "
                          "fix: write `base:` and `variants:` at the top level (see "
                          "docs/whatif.md)")
    return data


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with two of its surprises turned off: a key written twice is an
    error (PyYAML keeps the last silently, so a variant would vanish), and dates stay text until
    the key's own check reads them (a bad date then names its key)."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is written twice (lines {seen[key]} and "
                f"{key_node.start_mark.line + 1}); fix: keep one, or rename one",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _parse_section(section: object, where: str, file: str, *, allow_team: bool
                   ) -> tuple[dict[str, Any], list[Issue]]:
    """The checked values of a section's keys, and an issue for each bad key or value."""
    issues: list[Issue] = []
    if section is None:
        return {}, issues
    if not isinstance(section, Mapping):
        return {}, [Issue(file, 0, where, "", repr(section), "is not a mapping of settings",
                          "write `key: value` lines under it")]
    out: dict[str, Any] = {}
    for key, raw in section.items():
        key = str(key)
        parse = KEYS.get(key)
        if parse is None:
            close = difflib.get_close_matches(key, list(KEYS), n=1, cutoff=0.6)
            issues.append(Issue(file, 0, where, key, _show(raw), "unknown key",
                                f"did you mean `{close[0]}`?" if close else
                                "see docs/whatif.md for the keys"))
            continue
        if key in TEAM_KEYS and not allow_team:
            issues.append(Issue(file, 0, where, key, _show(raw), "team edits belong to variants",
                                "edit the base's collector list, or move the key to a variant"))
            continue
        try:
            out[key] = parse(raw)
        except opt.Bad as bad:
            issues.append(Issue(file, 0, where, key, _show(raw), bad.message, bad.fix))
    return out, issues


def _show(v: object) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False)
    return s if len(s) <= 80 else s[:77] + "..."
