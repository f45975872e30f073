"""Rules TOML: unit conversion, defaults, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from petrostream.detect.rules import (
    default_rules,
    load_rules,
    parse_duration_ms,
    parse_quantity,
    parse_rules,
    seed_rules,
    to_si,
)
from petrostream.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "si", "unit"),
    [
        ("300 bar", 3.0e7, "Pa"),
        ("30 MPa", 3.0e7, "Pa"),
        ("30000 kPa", 3.0e7, "Pa"),
        ("4351.13 psi", 3.0e7, "Pa"),
        ("100 degC", 100.0, "degC"),
        ("100 °C", 100.0, "degC"),
        ("212 degF", 100.0, "degC"),
        ("212 °F", 100.0, "degC"),
        ("373.15 K", 100.0, "degC"),
        ("36 m3/h", 0.01, "m3/s"),
    ],
)
def test_quantities_convert_to_the_si_units_of_3w(text: str, si: float, unit: str) -> None:
    value, dimension, _ = parse_quantity(text)
    assert dimension == unit
    assert value == pytest.approx(si, rel=1e-5)


def test_a_temperature_difference_ignores_the_offset() -> None:
    assert parse_quantity("9 degF", difference=True)[0] == pytest.approx(5.0)
    assert parse_quantity("5 K", difference=True)[0] == pytest.approx(5.0)
    assert to_si(41.0, "degF")[0] == pytest.approx(5.0)


def test_durations() -> None:
    assert parse_duration_ms("10 min") == 600_000
    assert parse_duration_ms(30) == 30_000
    assert parse_duration_ms("1.5 h") == 5_400_000
    with pytest.raises(ValueError, match="unknown duration unit"):
        parse_duration_ms("3 fortnights")


def test_the_default_rules_load_and_keep_the_seed_rule_off() -> None:
    rules = default_rules()
    names = [r.name for r in rules.rules]
    assert "p_pdg_high" not in names  # shipped, but disabled: it is evaluate's naive baseline
    assert {
        "pressure_jump",
        "baseline_departure",
        "frozen_sensor",
        "out_of_range",
        "data_gap",
    } <= set(names)
    assert load_rules(None) == rules
    categories = {r.name: r.category for r in rules.rules}
    assert categories["baseline_departure"] == "process"
    assert categories["frozen_sensor"] == "sensor_health"


def test_the_seed_rule_is_p_pdg_above_300_bar() -> None:
    (rule,) = seed_rules().rules
    assert (rule.name, rule.sensors, rule.op) == ("p_pdg_high", ("p_pdg",), ">")
    assert rule.threshold == pytest.approx(3.0e7)
    assert rule.category == "process"


def test_a_threshold_in_psi_equals_the_same_threshold_in_bar() -> None:
    psi = parse_rules('[[rule]]\nname="a"\nkind="threshold"\nexpr="p_pdg >= 4351.13 psi"\n')
    assert psi.rules[0].threshold == pytest.approx(3.0e7, rel=1e-6)
    assert psi.rules[0].op == ">="


def test_hysteresis_sets_the_release_level_on_the_safe_side() -> None:
    rules = parse_rules(
        '[[rule]]\nname="hot"\nkind="threshold"\nexpr="t_tpt > 100 degC"\nhysteresis="9 degF"\n'
        '[[rule]]\nname="low"\nkind="threshold"\nexpr="p_pdg < 100 bar"\nhysteresis="2 bar"\n'
    )
    hot, low = rules.rules
    assert hot.release == pytest.approx(95.0)
    assert low.release == pytest.approx(102e5)


GOOD = '[[rule]]\nname = "ok"\nkind = "threshold"\nexpr = "p_pdg > 300 bar"\n\n'


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ('expr = "p_pdg > 300 bars"', "unknown unit 'bars'"),
        ('expr = "p_pdg > 300 degC"', "p_pdg is in Pa"),
        ('expr = "p_pgd > 300 bar"', "unknown sensor 'p_pgd'"),
        ('expr = "p_pdg is high"', "is not like 'p_pdg > 300 bar'"),
        ('expr = "p_pdg > 300 bar"\nseverity = "urgent"', "severity 'urgent'"),
        ('expr = "p_pdg > 300 bar"\nthreshold = 3', "unknown key(s) ['threshold']"),
    ],
)
def test_a_bad_rule_names_the_file_the_line_and_the_problem(
    tmp_path: Path, rule: str, problem: str
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(GOOD + f'[[rule]]\nname = "bad"\nkind = "threshold"\n{rule}\n')
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:6: rule 'bad': ")  # line 6 is the second [[rule]]
    assert problem in message


def test_other_mistakes_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the rules file"):
        load_rules(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML.*line 1"):
        parse_rules("[[rule]\nname=1", source="x.toml")
    with pytest.raises(ConfigError, match="kind 'magic' is not one of"):
        parse_rules('[[rule]]\nname="a"\nkind="magic"\n')
    with pytest.raises(ConfigError, match="used twice"):
        parse_rules(GOOD + GOOD)
    with pytest.raises(ConfigError, match="no amount in degC for sensor t_tpt"):
        parse_rules(
            '[[rule]]\nname="j"\nkind="jump"\nsensors=["t_tpt"]\ndelta="5 bar"\nwindow="1 min"\n'
        )
    with pytest.raises(ConfigError, match="need 0 < z_close <= z_open"):
        parse_rules(
            '[[rule]]\nname="b"\nkind="baseline"\nunits=["Pa"]\nwindow="10 min"\n'
            'min_scale="1 bar"\nz_open=3\nz_close=4\n'
        )
    with pytest.raises(ConfigError, match="unknown top-level"):
        parse_rules("[rules]\n")


def test_a_trend_names_a_direction_per_sensor() -> None:
    rules = parse_rules(
        '[[rule]]\nname = "t"\nkind = "trend"\nsensors = ["p_pdg", "p_tpt"]\n'
        'directions = ["rise", "fall"]\nwindow = "30 min"\n'
    )
    (rule,) = rules.rules
    assert rule.directions == (1, -1)
    assert (rule.z_open, rule.z_close, rule.min_moves) == (0.6, 0.5, 0.2)
    assert rule.category == "process"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('sensors = ["p_pdg"]\nwindow = "1 h"', "directions"),
        ('sensors = ["p_pdg", "p_tpt"]\ndirections = ["rise"]\nwindow = "1 h"', "each of the 2"),
        ('sensors = ["p_pdg"]\ndirections = ["up"]\nwindow = "1 h"', "rise"),
        ('sensors = ["p_pdg"]\ndirections = ["rise"]', "window"),
        (
            'sensors = ["p_pdg"]\ndirections = ["rise"]\nwindow = "1 h"\nsteadiness = 2',
            "steadiness",
        ),
        ('units = ["Pa"]\ndirections = ["rise"]\nwindow = "1 h"', "unknown key"),
    ],
)
def test_a_bad_trend_says_what_to_write(body: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_rules(f'[[rule]]\nname = "t"\nkind = "trend"\n{body}\n', source="r.toml")
