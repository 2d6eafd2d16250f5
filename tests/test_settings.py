"""One settings schema: the command line and the what-if files read options through one table.

`optimizer.settings.OPTIONS` names each option's check, conversion and settings field; these
tests show that both sources take their names and checks from it and give the same settings, and
pin the order in which options are applied.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import yaml

from optimizer.cli import build_parser, check_plan_options
from optimizer.errors import ConfigError
from optimizer.planning import rules
from optimizer.settings import OPTIONS, SettingsError, load_settings
from optimizer.whatif import scenario

H = 3600


def _plan_args(argv: list[str]):
    return build_parser().parse_args(["plan", *argv])


def test_cli_options_and_scenario_keys_come_from_the_table():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    plan = sub.choices["plan"]
    # the command line's own: the output folder, the bars, the case store, the visit pack
    from optimizer.cli import OUTCOME_POLICY_OPTIONS

    own = {"help", "out", "quiet", "store", "visit_pack", "pack_template", "lender"}
    own |= {f[2:].replace("-", "_") for f in OUTCOME_POLICY_OPTIONS}
    dests = {a.dest for a in plan._actions} - own
    assert dests == {o.name for o in OPTIONS.values() if o.cli is not None}
    for o in OPTIONS.values():
        if o.scenario:  # the same check, not a copy of it
            assert scenario.KEYS[o.name] is o.parse, o.name
        else:
            assert o.name not in scenario.KEYS


def test_validate_takes_its_plan_options_from_the_table():
    from optimizer.cli import VALIDATE_OPTIONS, _check_validate_options

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    actions = {a.dest: a for a in sub.choices["validate"]._actions}
    plan = {a.dest: a for a in sub.choices["plan"]._actions}
    assert set(VALIDATE_OPTIONS) <= set(actions)
    for name in VALIDATE_OPTIONS:  # one definition: the same flag, help and default as plan's
        a, p = actions[name], plan[name]
        assert (a.option_strings, a.help, a.default) == (p.option_strings, p.help, p.default)
        assert a.option_strings == [OPTIONS[name].flag]
    assert set(actions) - set(VALIDATE_OPTIONS) == {"help", "geocode", "out", "show", "quiet"}
    # read as plan reads them: the preset, then the lunch window over it
    a = build_parser().parse_args(["validate", "--lunch", "12:00-13:00", "--policy", "us_fdcpa",
                                   "--geocoder", "nominatim", "--user-agent", "me"])
    _check_validate_options(a)
    assert (a.settings.policy.name, a.settings.policy.lunch_window.start_s) == ("us_fdcpa", 12 * H)
    assert (a.settings.geocoding.geocoder, a.settings.geocoding.user_agent) == ("nominatim", "me")
    bad = build_parser().parse_args(["validate", "--policy", "mars", "--lunch", "noon"])
    with pytest.raises(ConfigError) as exc:
        _check_validate_options(bad)
    assert "2 option problems" in str(exc.value)
    assert "--policy value 'mars'" in str(exc.value) and "--lunch value 'noon'" in str(exc.value)


def test_the_command_line_and_a_scenario_file_give_the_same_settings(tmp_path: Path):
    given = {"date": "2026-12-01", "policy": "us_fdcpa", "cooldown_days": 1,
             "contact_hours": "none", "lunch": "12:00-14:00", "lunch_minutes": 45,
             "max_work_hours": 9.5, "weighting": "urgency", "time_limit": 5, "seed": 3,
             "max_solutions": 40, "travel_cost_per_hour": 12, "mode": "bike",
             "speed_factor": 0.9, "tiles": "amap"}
    argv = [x for k, v in given.items() for x in (OPTIONS[k].flag, str(v))]
    a = _plan_args([*argv, "--self-contained", "--out", str(tmp_path / "out")])
    check_plan_options(a)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"base": {**given, "self_contained": True}}),
                    encoding="utf-8")
    from_file = scenario.load_scenario(path).variant("base").settings
    # the one difference: a scenario plans each variant in one process
    assert from_file == replace(a.settings, solver=replace(a.settings.solver, num_workers=1))
    s = a.settings
    assert s.plan_date == date(2026, 12, 1)
    assert (s.policy.name, s.policy.cooldown_days, s.policy.lunch_s) == ("us_fdcpa", 1, 45 * 60)
    assert s.policy.contact_start_s is None and s.policy.contact_end_s is None
    assert (s.policy.lunch_window.start_s, s.policy.max_work_s) == (12 * H, int(9.5 * H))
    assert (s.solver.time_limit_s, s.solver.seed, s.solver.max_solutions) == (5.0, 3, 40)
    assert (s.roads.mode, s.roads.speed_factor, s.travel_cost_per_h) == ("bike", 0.9, 12.0)
    assert (s.output.tiles, s.output.self_contained, s.output.maps) == ("amap", True, True)


def test_a_policy_preset_comes_before_its_overrides_whatever_the_order_given():
    s = load_settings({"cooldown_days": "1", "policy": "china"})
    assert (s.policy.name, s.policy.cooldown_days) == ("china", 1)
    assert s.policy.min_team_size == rules.PRESETS["china"].min_team_size == 2


def test_max_solutions_wins_over_the_solver_mapping():
    s = load_settings({"max_solutions": 9, "solver": {"max_solutions": 5, "warm_start": "none"}})
    assert (s.solver.max_solutions, s.solver.warm_start) == (9, "none")
    assert load_settings({"max_solutions": "none"}).solver.max_solutions is None


def test_every_problem_at_once_with_the_option_named():
    with pytest.raises(SettingsError) as exc:
        load_settings({"team_size": "0", "mode": "boat", "osm": "x.osm", "place": "Chengdu",
                       "solver_option": ["num_wrkers=2"]})
    assert isinstance(exc.value, ConfigError)
    assert [p.option for p in exc.value.problems] == ["team_size", "mode", "solver_option",
                                                      "place"]
    by = {p.option: p for p in exc.value.problems}
    assert by["team_size"].message == "must be >= 1"
    assert by["solver_option"].value == "num_wrkers=2"
    assert "unknown field 'num_wrkers'" in by["solver_option"].message
    assert by["place"].fix == "give only one of them"
