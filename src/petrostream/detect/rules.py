"""Detection rules: the TOML format, unit-aware quantities, and the parsed `RuleSet`.

Values on the stream are SI as in 3W (pressures in Pa, temperatures in °C, flows
in m³/s); rules are written in the units operators think in (``p_pdg > 300 bar``,
``delta = "5 bar"``, ``min_scale = ["0.3 bar", "0.3 degC"]``) and converted once,
here, when the file is loaded. Pure Python (``tomllib``): the Lambda zip imports it.

See docs/detection.md for the file format and what each rule kind does.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from petrostream.errors import ConfigError
from petrostream.schema import PHYSICAL_RANGES, VARIABLES, VARIABLES_BY_COLUMN

# unit -> (dimension, scale, offset): si = value * scale + offset (offset only for absolutes)
_UNITS: Final[dict[str, tuple[str, float, float]]] = {
    "Pa": ("Pa", 1.0, 0.0),
    "kPa": ("Pa", 1.0e3, 0.0),
    "MPa": ("Pa", 1.0e6, 0.0),
    "bar": ("Pa", 1.0e5, 0.0),
    "psi": ("Pa", 6894.757293168361, 0.0),
    "degC": ("degC", 1.0, 0.0),
    "°C": ("degC", 1.0, 0.0),
    "C": ("degC", 1.0, 0.0),
    "degF": ("degC", 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "°F": ("degC", 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "F": ("degC", 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "K": ("degC", 1.0, -273.15),
    "m3/s": ("m3/s", 1.0, 0.0),
    "m3/h": ("m3/s", 1.0 / 3600.0, 0.0),
    "m3/d": ("m3/s", 1.0 / 86400.0, 0.0),
    "%": ("%", 1.0, 0.0),
    "-": ("-", 1.0, 0.0),
}
_DISPLAY: Final[dict[str, str]] = {"Pa": "bar", "degC": "°C", "m3/s": "m3/s", "%": "%", "-": ""}
_DURATIONS: Final[dict[str, int]] = {
    "ms": 1,
    "s": 1000,
    "sec": 1000,
    "min": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
}
_QUANTITY_RE: Final = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")
_EXPR_RE: Final = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(>=|<=|>|<)\s*(.+?)\s*$")
SEVERITIES: Final = ("info", "warning", "critical")
PROCESS: Final = "process"
SENSOR_HEALTH: Final = "sensor_health"
KINDS: Final[dict[str, str]] = {
    "threshold": PROCESS,
    "jump": PROCESS,
    "swing": PROCESS,
    "baseline": PROCESS,
    "trend": PROCESS,
    "out_of_range": SENSOR_HEALTH,
    "frozen": SENSOR_HEALTH,
    "data_gap": SENSOR_HEALTH,
}
_DIRECTIONS: Final = {"rise": 1, "fall": -1}

UNIT_NAMES: Final = ", ".join(_UNITS)


def to_si(value: float, unit: str, *, difference: bool = False) -> tuple[float, str]:
    """Convert ``value unit`` to SI; returns (si value, SI unit).

    A *difference* (a jump, a hysteresis band, a noise floor) ignores the offset:
    5 degF of difference is 2.78 °C, while 41 degF of temperature is 5 °C.

    Raises:
        ValueError: the unit is not one PetroStream knows.
    """
    if unit not in _UNITS:
        raise ValueError(f"unknown unit {unit!r} (use one of {UNIT_NAMES})")
    dimension, scale, offset = _UNITS[unit]
    return value * scale + (0.0 if difference else offset), dimension


def from_si(value: float, unit: str, *, difference: bool = False) -> float:
    """Convert an SI value back to ``unit`` (for messages)."""
    _, scale, offset = _UNITS[unit]
    return (value - (0.0 if difference else offset)) / scale


def display_unit(si_unit: str) -> str:
    """The unit messages use for a sensor stored in ``si_unit`` (bar for Pa, °C for degC)."""
    return _DISPLAY.get(si_unit, si_unit)


def format_value(si_value: float, unit: str, *, difference: bool = False) -> str:
    """``3.124e7`` Pa shown in bar -> ``"312.4 bar"``; ``3e7`` -> ``"300 bar"``."""
    shown = from_si(si_value, unit, difference=difference) if unit in _UNITS else si_value
    size = abs(shown)
    if size >= 1e5 or 0 < size < 0.01:
        text = f"{shown:.4g}"
    else:
        text = f"{shown:.{1 if size >= 100 else 2}f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".rstrip()


def parse_quantity(text: Any, *, difference: bool = False) -> tuple[float, str, str]:
    """Parse ``"300 bar"`` into (SI value, SI unit, the unit as written).

    Raises:
        ValueError: not ``<number> <unit>`` or an unknown unit.
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a quantity like '300 bar'")
    match = _QUANTITY_RE.match(text)
    if not match or not match[2]:
        raise ValueError(f"{text!r} is not a quantity like '300 bar' (a number and a unit)")
    si, dimension = to_si(float(match[1]), match[2], difference=difference)
    return si, dimension, match[2]


def parse_duration_ms(text: Any) -> int:
    """``"10 min"`` -> 600000; a bare number is seconds.

    Raises:
        ValueError: not a non-negative duration.
    """
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a duration like '60 s'")
    if isinstance(text, int | float):
        value, unit = float(text), "s"
    elif isinstance(text, str) and (match := _QUANTITY_RE.match(text)):
        value, unit = float(match[1]), match[2] or "s"
    else:
        raise ValueError(f"{text!r} is not a duration like '60 s' or '10 min'")
    if unit not in _DURATIONS:
        raise ValueError(f"unknown duration unit {unit!r} in {text!r} (use ms, s, min, h, d)")
    if value < 0 or not math.isfinite(value):
        raise ValueError(f"duration {text!r} must be >= 0")
    return round(value * _DURATIONS[unit])


@dataclass(frozen=True)
class Rule:
    """One parsed rule; which fields matter depends on ``kind``.

    Attributes:
        name: the rule name alerts carry (``p_pdg_high``, ``pressure_jump``).
        kind: threshold | jump | swing | baseline | out_of_range | frozen | data_gap.
        category: ``process`` or ``sensor_health`` (from the kind).
        severity: info | warning | critical.
        sensors: canonical columns the rule watches (empty for data_gap).
        clear_ms: the release condition must hold this long before the alert closes.
        cooldown_ms: after a close, the same rule and sensor do not reopen for this long.
        op: threshold comparison (``>``, ``>=``, ``<``, ``<=``).
        threshold: threshold in SI units.
        release: threshold the value must cross back (SI; threshold minus hysteresis).
        unit: the unit the rule was written in (messages use it).
        amount: per SI unit: the jump or swing delta, or the noise floor of the scale (baseline).
        window_ms: jump / swing / baseline window, frozen duration, or the data gap limit.
        warmup_ms: baseline: history needed before the detector speaks.
        z_open: baseline: |z| at or above which the alert opens.
        z_close: baseline: |z| below which the alert may close; jump, swing: fraction of the
            delta; trend: fraction of the steadiness.
        directions: trend: per sensor, +1 (rises) or -1 (falls); jump: empty (either way),
            or one direction it only looks at.
        min_moves: trend: the least share of the window's steps that must move (0-1).

    A trend's ``z_open`` is its steadiness: (steps in its direction - steps against) /
    (steps that move, at least ``min_moves`` of the window's steps).
    """

    name: str
    kind: str
    category: str
    severity: str
    sensors: tuple[str, ...] = ()
    clear_ms: int = 0
    cooldown_ms: int = 0
    op: str = ">"
    threshold: float = 0.0
    release: float = 0.0
    unit: str = ""
    amount: Mapping[str, float] = field(default_factory=dict)
    window_ms: int = 0
    warmup_ms: int = 0
    z_open: float = 0.0
    z_close: float = 0.0
    directions: tuple[int, ...] = ()
    min_moves: float = 0.0


@dataclass(frozen=True)
class RuleSet:
    """The enabled rules of one file, and the history resolution of windowed detectors.

    Attributes:
        rules: enabled rules in file order (alerts of one reading come in this order).
        sample_ms: jump and baseline detectors keep one sample per interval of this length.
        source: the file the rules came from (for messages).
    """

    rules: tuple[Rule, ...]
    sample_ms: int = 10_000
    source: str = "<rules>"

    def by_kind(self, kind: str) -> tuple[Rule, ...]:
        """The enabled rules of one kind."""
        return tuple(r for r in self.rules if r.kind == kind)


DEFAULT_RULES_FILE: Final = "rules.toml"
SEED_RULE_TOML: Final = """\
# The seed system's rule, `pressure > 300`, written in real units: it meant bar on P-PDG.
[[rule]]
name = "p_pdg_high"
kind = "threshold"
expr = "p_pdg > 300 bar"
severity = "critical"
"""


def default_rules() -> RuleSet:
    """The rules that ship with PetroStream (``petrostream/detect/rules.toml``)."""
    text = resources.files("petrostream.detect").joinpath(DEFAULT_RULES_FILE).read_text("utf-8")
    return parse_rules(text, source="petrostream/detect/rules.toml")


def seed_rules() -> RuleSet:
    """The naive seed rule alone (``p_pdg > 300 bar``): the baseline `evaluate` compares to."""
    return parse_rules(SEED_RULE_TOML, source="<seed rule>")


def load_rules(path: Path | str | None = None) -> RuleSet:
    """Load a rules file; None (or an empty string) loads the bundled default rules.

    Raises:
        ConfigError: the file is missing, not TOML, or a rule is wrong; the message names
            the file, the line and the problem.
    """
    if path is None or path == "":
        return default_rules()
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the rules file ({exc.strerror})") from None
    return parse_rules(text, source=str(path))


def parse_rules(text: str, *, source: str = "<rules>") -> RuleSet:
    """Parse rules TOML text (see docs/detection.md).

    Raises:
        ConfigError: with ``<source>:<line>: <problem>``.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"engine", "rule"}
    if unknown:
        raise ConfigError(
            f"{source}: unknown top-level key(s) {sorted(unknown)}; use [engine] and [[rule]]"
        )
    engine = doc.get("engine", {})
    sample_ms = 10_000
    if not isinstance(engine, dict):
        raise ConfigError(f"{source}: [engine] must be a table")
    try:
        if "sample_interval" in engine:
            sample_ms = parse_duration_ms(engine["sample_interval"])
            if sample_ms <= 0:
                raise ValueError("sample_interval must be > 0")
    except ValueError as exc:
        raise ConfigError(f"{source}:{_line_of(text, 'sample_interval')}: {exc}") from None
    raw_rules = doc.get("rule", [])
    if not isinstance(raw_rules, list):
        raise ConfigError(f"{source}: 'rule' must be an array of tables: write [[rule]]")
    rules: list[Rule] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_rules):
        where = f"{source}:{_line_of_rule(text, index)}"
        try:
            rule = _parse_rule(raw)
        except (ValueError, TypeError, KeyError) as exc:
            name = raw.get("name", f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
            raise ConfigError(f"{where}: rule {name!r}: {exc}") from None
        if rule is None:
            continue
        if rule.name in names:
            raise ConfigError(f"{where}: rule name {rule.name!r} is used twice; names must differ")
        names.add(rule.name)
        rules.append(rule)
    return RuleSet(tuple(rules), sample_ms, source)


_COMMON: Final = {"name", "kind", "severity", "enabled", "clear", "cooldown", "description"}
_ALLOWED: Final[dict[str, set[str]]] = {
    "threshold": _COMMON | {"expr", "hysteresis"},
    "jump": _COMMON | {"sensors", "units", "delta", "window", "release", "direction"},
    "swing": _COMMON | {"sensors", "units", "delta", "window", "release"},
    "baseline": _COMMON
    | {"sensors", "units", "window", "warmup", "z_open", "z_close", "min_scale"},
    "trend": _COMMON | {"sensors", "directions", "window", "steadiness", "min_moves", "release"},
    "out_of_range": _COMMON | {"sensors", "units"},
    "frozen": _COMMON | {"sensors", "units", "duration"},
    "data_gap": _COMMON | {"max_gap"},
}


def _parse_rule(raw: Any) -> Rule | None:
    if not isinstance(raw, dict):
        raise ValueError("a rule must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError("'name' must be lower_snake_case text, e.g. name = \"p_pdg_high\"")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    extra = set(raw) - _ALLOWED[kind]
    if extra:
        raise ValueError(f"unknown key(s) {sorted(extra)} for kind {kind!r}")
    if not raw.get("enabled", True):
        return None
    severity = raw.get("severity", "warning")
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "category": KINDS[kind],
        "severity": severity,
        "clear_ms": parse_duration_ms(raw.get("clear", 0)),
        "cooldown_ms": parse_duration_ms(raw.get("cooldown", 0)),
    }
    parser: Callable[[dict[str, Any], dict[str, Any]], Rule] = _KIND_PARSERS[kind]
    return parser(raw, common)


def _parse_threshold(raw: dict[str, Any], common: dict[str, Any]) -> Rule:
    expr = raw.get("expr")
    match = _EXPR_RE.match(expr) if isinstance(expr, str) else None
    if not match:
        raise ValueError(f"expr {expr!r} is not like 'p_pdg > 300 bar'")
    sensor, op, quantity = match.groups()
    variable = VARIABLES_BY_COLUMN.get(sensor)
    if variable is None:
        raise ValueError(f"unknown sensor {sensor!r} in expr (a canonical column like p_pdg)")
    threshold, dimension, unit = parse_quantity(quantity)
    if dimension != variable.unit:
        raise ValueError(
            f"{quantity!r} is in {dimension} but {sensor} is in {variable.unit}; "
            f"use a unit of {variable.unit}"
        )
    band = 0.0
    if "hysteresis" in raw:
        band, band_dimension, _ = parse_quantity(raw["hysteresis"], difference=True)
        if band_dimension != dimension or band < 0:
            raise ValueError(f"hysteresis {raw['hysteresis']!r} must be >= 0 in {dimension}")
    release = threshold - band if op in (">", ">=") else threshold + band
    return Rule(**common, sensors=(sensor,), op=op, threshold=threshold, release=release, unit=unit)


def _sensors(
    raw: dict[str, Any], *, default_units: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    if "sensors" in raw and "units" in raw:
        raise ValueError("give either 'sensors' or 'units', not both")
    if "sensors" in raw:
        sensors = raw["sensors"]
        if not isinstance(sensors, list) or not sensors:
            raise ValueError("'sensors' must be a non-empty list of columns like [\"p_pdg\"]")
        for sensor in sensors:
            if sensor not in VARIABLES_BY_COLUMN:
                raise ValueError(f"unknown sensor {sensor!r} (a canonical column like p_pdg)")
        return tuple(dict.fromkeys(sensors))
    units = raw.get("units", list(default_units) if default_units else None)
    if units is None:
        raise ValueError("give 'sensors' (columns) or 'units' (e.g. [\"Pa\", \"degC\"])")
    if not isinstance(units, list) or not all(u in PHYSICAL_RANGES for u in units):
        raise ValueError(f"'units' must be a list of SI units among {sorted(PHYSICAL_RANGES)}")
    return tuple(v.column for v in VARIABLES if v.unit in units)


def _per_unit(raw: Any, key: str, sensors: tuple[str, ...]) -> dict[str, float]:
    items = raw if isinstance(raw, list) else [raw]
    amounts: dict[str, float] = {}
    for item in items:
        value, dimension, _ = parse_quantity(item, difference=True)
        if value <= 0:
            raise ValueError(f"{key} {item!r} must be > 0")
        amounts[dimension] = value
    for sensor in sensors:
        unit = VARIABLES_BY_COLUMN[sensor].unit
        if unit not in amounts:
            raise ValueError(
                f"{key} has no amount in {unit} for sensor {sensor}; add e.g. '1 {unit}'"
            )
    return amounts


def _positive_duration(raw: dict[str, Any], key: str, default: Any = None) -> int:
    if key not in raw and default is None:
        raise ValueError(f"missing {key!r} (a duration like '60 s')")
    value = parse_duration_ms(raw.get(key, default))
    if value <= 0:
        raise ValueError(f"{key} must be > 0")
    return value


def _parse_jump(raw: dict[str, Any], common: dict[str, Any]) -> Rule:
    sensors = _sensors(raw)
    if "delta" not in raw:
        raise ValueError('missing \'delta\' (e.g. delta = ["5 bar", "3 degC"])')
    release = float(raw.get("release", 0.5))
    if not 0 < release <= 1:
        raise ValueError("release must be in (0, 1]: the fraction of delta below which it closes")
    directions: tuple[int, ...] = ()
    if "direction" in raw:
        if common["kind"] != "jump" or raw["direction"] not in _DIRECTIONS:
            raise ValueError('direction must be "rise" or "fall" (a jump that only goes one way)')
        directions = (_DIRECTIONS[raw["direction"]],)
    return Rule(
        **common,
        sensors=sensors,
        amount=_per_unit(raw["delta"], "delta", sensors),
        window_ms=_positive_duration(raw, "window"),
        z_close=release,
        directions=directions,
    )


def _parse_baseline(raw: dict[str, Any], common: dict[str, Any]) -> Rule:
    sensors = _sensors(raw)
    z_open = float(raw.get("z_open", 5.0))
    z_close = float(raw.get("z_close", z_open / 2))
    if not 0 < z_close <= z_open:
        raise ValueError("need 0 < z_close <= z_open")
    if "min_scale" not in raw:
        raise ValueError('missing \'min_scale\' (the noise floor, e.g. ["0.3 bar", "0.3 degC"])')
    window_ms = _positive_duration(raw, "window")
    warmup_ms = _positive_duration(raw, "warmup", "0 s") if "warmup" in raw else window_ms // 5
    if warmup_ms > window_ms:
        raise ValueError("warmup must not be longer than window")
    return Rule(
        **common,
        sensors=sensors,
        amount=_per_unit(raw["min_scale"], "min_scale", sensors),
        window_ms=window_ms,
        warmup_ms=warmup_ms,
        z_open=z_open,
        z_close=z_close,
    )


def _parse_trend(raw: dict[str, Any], common: dict[str, Any]) -> Rule:
    if "sensors" not in raw:
        raise ValueError('a trend names its sensors, e.g. sensors = ["p_pdg", "p_tpt"]')
    sensors = _sensors(raw)
    directions = raw.get("directions")
    if (
        not isinstance(directions, list)
        or len(directions) != len(sensors)
        or not all(d in _DIRECTIONS for d in directions)
    ):
        raise ValueError(
            f'\'directions\' must give "rise" or "fall" for each of the {len(sensors)} '
            'sensors, e.g. directions = ["rise", "fall"]'
        )
    steadiness = float(raw.get("steadiness", 0.6))
    min_moves = float(raw.get("min_moves", 0.2))
    release = float(raw.get("release", 0.5))
    if not 0 < steadiness <= 1:
        raise ValueError("steadiness must be in (0, 1]: 1 means every step of the window agrees")
    if not 0 < min_moves <= 1:
        raise ValueError("min_moves must be in (0, 1]: the share of the window's steps that move")
    if not 0 < release <= 1:
        raise ValueError("release must be in (0, 1]: the share of steadiness below which it closes")
    return Rule(
        **common,
        sensors=sensors,
        window_ms=_positive_duration(raw, "window"),
        z_open=steadiness,
        z_close=release,
        directions=tuple(_DIRECTIONS[d] for d in directions),
        min_moves=min_moves,
    )


def _parse_out_of_range(raw: dict[str, Any], common: dict[str, Any]) -> Rule:
    return Rule(**common, sensors=_sensors(raw, default_units=tuple(PHYSICAL_RANGES)))


def _parse_frozen(raw: dict[str, Any], common: dict[str, Any]) -> Rule:
    return Rule(**common, sensors=_sensors(raw), window_ms=_positive_duration(raw, "duration"))


def _parse_data_gap(raw: dict[str, Any], common: dict[str, Any]) -> Rule:
    return Rule(**common, window_ms=_positive_duration(raw, "max_gap"))


_KIND_PARSERS: Final[dict[str, Callable[[dict[str, Any], dict[str, Any]], Rule]]] = {
    "threshold": _parse_threshold,
    "jump": _parse_jump,
    "swing": _parse_jump,  # same keys: the swing of interval samples instead of a reading's move
    "baseline": _parse_baseline,
    "trend": _parse_trend,
    "out_of_range": _parse_out_of_range,
    "frozen": _parse_frozen,
    "data_gap": _parse_data_gap,
}


def _line_of_rule(text: str, index: int) -> int:
    """1-based line of the ``index``-th ``[[rule]]`` header (best effort)."""
    seen = -1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith("[[rule]]"):
            seen += 1
            if seen == index:
                return number
    return 1


def _line_of(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(key):
            return number
    return 1
