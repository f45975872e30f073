"""Pure online detection: ``detect(state, readings) -> (state, alerts)``.

The Lambda handler and the local runtime call `Detector.detect` once per batch
of decoded stream records; the per-well state is explicit and serializes to
compact JSON (`DetectionState.to_bytes`), so it can be stored between
invocations. No I/O and no clock: time comes from each reading's ``ts``.
Standard library and `petrostream.schema` only; the Lambda zip imports this.

How one reading is processed (docs/detection.md has the definitions):

1. Per well, readings at or before the last processed ``ts`` are ignored
   (duplicates and late records), and a jump in ``ts`` larger than a
   ``data_gap`` rule's limit raises a data-gap alert.
2. Per sensor present in the reading, in plan order: a value outside the physical
   range raises ``out_of_range`` and is ignored by every other detector; then
   ``frozen``, ``threshold``, ``jump`` and ``baseline`` rules evaluate.
3. Every (rule, sensor) pair is an *episode* with hysteresis: it opens when its
   trigger condition holds (and no cooldown runs), and closes once its release
   condition has held for ``clear``; one event = one ``open`` then one ``closed``
   alert, both with the same deterministic ``alert_id``.

`petrostream.detect.vectorized` computes the same alerts over numpy columns.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from petrostream.detect.alert import Alert, alert_id, from_millis
from petrostream.detect.incident import HISTORY_COLUMNS, Incident, follow
from petrostream.detect.rules import (
    PROCESS,
    SENSOR_HEALTH,
    Rule,
    RuleSet,
    default_rules,
    display_unit,
    format_value,
    load_rules,
    parse_rules,
    seed_rules,
)
from petrostream.errors import InvalidRecord
from petrostream.record import format_ts
from petrostream.schema import PHYSICAL_RANGES, VARIABLES_BY_COLUMN

try:  # several times faster than the stdlib; optional (the lean Lambda zip may lack it)
    import orjson
except ImportError:  # pragma: no cover - exercised in a lean Lambda runtime
    orjson = None  # type: ignore[assignment]

__all__ = [
    "PROCESS",
    "SENSOR_HEALTH",
    "Alert",
    "DetectionState",
    "Detector",
    "Plan",
    "RuleSet",
    "default_rules",
    "load_rules",
    "parse_rules",
    "seed_rules",
    "ts_millis",
]

STATE_VERSION: Final = 2
_READABLE_VERSIONS: Final = (1, 2)  # version 1 kept one pending value per interval
MAD_TO_SIGMA: Final = 1.4826  # MAD of a normal distribution * 1.4826 = its standard deviation
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_MS: Final = 86_400_000
# Built once: json.dumps with options builds an encoder per call (half its cost on a state).
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


_day_cache: dict[str, int] = {}


def ts_millis(text: Any) -> int:
    """Epoch milliseconds of a record timestamp (``YYYY-MM-DD HH:MM:SS.mmm``) or aware datetime.

    Raises:
        InvalidRecord: the timestamp is malformed.
    """
    try:
        day = _day_cache.get(text[:10])
        if day is None:
            day = (date.fromisoformat(text[:10]).toordinal() - _EPOCH_ORDINAL) * _DAY_MS
            if len(_day_cache) > 4096:
                _day_cache.clear()
            _day_cache[text[:10]] = day
        return (
            day
            + int(text[11:13]) * 3_600_000
            + int(text[14:16]) * 60_000
            + int(text[17:19]) * 1000
            + int(text[20:23])
        )
    except (TypeError, ValueError):
        if isinstance(text, datetime) and text.tzinfo is not None:
            return (text - _EPOCH) // timedelta(milliseconds=1)
        raise InvalidRecord(
            "bad_timestamp", f"ts={text!r} is not 'YYYY-MM-DD HH:MM:SS.mmm'"
        ) from None


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Slot:
    """One rule applied to one sensor: an episode, and where it sorts among a reading's alerts.

    Attributes:
        rule: the rule.
        order: position among all slots (alerts of one reading come in this order).
        amount: jump delta / baseline noise floor for this sensor (SI).
        n: window length in history samples (jump, baseline).
        need: samples needed before the detector speaks (jump: n; baseline: warm-up).
    """

    rule: Rule
    order: int
    amount: float = 0.0
    n: int = 0
    need: int = 0


@dataclass(frozen=True)
class SensorPlan:
    """Everything the rules do with one sensor column.

    Attributes:
        column: canonical column (``p_pdg``).
        tag: the 3W tag, for messages (``P-PDG``).
        unit: SI unit of the stored value.
        shown: unit messages use (bar, °C).
        lo: physical range lower bound (out-of-range check), if checked.
        hi: physical range upper bound.
        ranges: out_of_range slots.
        frozen: frozen slots.
        thresholds: threshold slots.
        jumps: jump slots.
        swings: swing slots.
        baselines: baseline slots.
        hist_len: history samples kept (the longest jump, swing or baseline window, at
            least 2 for a trend); older samples are dropped.
        steps_len: trend steps kept (the longest trend window's steps; 0 without a trend):
            the sign of each sample against the one before, ``+``, ``-`` or ``0``.
        reset_len: a history (samples and steps) whose last sample is more than this many
            intervals old restarts (the longest window of any kind).
    """

    column: str
    tag: str
    unit: str
    shown: str
    lo: float
    hi: float
    ranges: tuple[Slot, ...]
    frozen: tuple[Slot, ...]
    thresholds: tuple[Slot, ...]
    jumps: tuple[Slot, ...]
    swings: tuple[Slot, ...]
    baselines: tuple[Slot, ...]
    hist_len: int
    steps_len: int = 0
    reset_len: int = 0


_SENSOR_KINDS: Final = ("out_of_range", "frozen", "threshold", "jump", "swing", "baseline")
_WINDOWED_KINDS: Final = ("jump", "swing", "baseline")


class Plan:
    """A `RuleSet` compiled per sensor; both detection paths run the same plan."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.sample_ms = rules.sample_ms
        gap_rules = rules.by_kind("data_gap")
        self.gaps = tuple(Slot(r, i - len(gap_rules)) for i, r in enumerate(gap_rules))
        columns: dict[str, None] = {}
        for rule in rules.rules:
            columns.update(dict.fromkeys(rule.sensors))
        trend_rules = rules.by_kind("trend")
        # a trend's n counts steps: one per history sample against the one before
        trend_n = {r.name: max(1, math.ceil(r.window_ms / rules.sample_ms)) for r in trend_rules}
        sensors: list[SensorPlan] = []
        order = 0
        for column in columns:
            variable = VARIABLES_BY_COLUMN[column]
            groups: dict[str, list[Slot]] = {k: [] for k in _SENSOR_KINDS}
            for kind in _SENSOR_KINDS:
                for rule in rules.by_kind(kind):
                    if column not in rule.sensors:
                        continue
                    amount = rule.amount.get(variable.unit, 0.0)
                    n = need = 0
                    if kind in _WINDOWED_KINDS:
                        n = max(1, math.ceil(rule.window_ms / rules.sample_ms))
                        need = n
                        if kind == "baseline":
                            need = min(n, max(3, rule.warmup_ms // rules.sample_ms))
                    groups[kind].append(Slot(rule, order, amount, n, need))
                    order += 1
            lo, hi = PHYSICAL_RANGES.get(variable.unit, (-math.inf, math.inf))
            windowed = groups["jump"] + groups["swing"] + groups["baseline"]
            trend_steps = max(
                (trend_n[r.name] for r in trend_rules if column in r.sensors), default=0
            )
            sensors.append(
                SensorPlan(
                    column=column,
                    tag=variable.tag,
                    unit=variable.unit,
                    shown=display_unit(variable.unit),
                    lo=lo,
                    hi=hi,
                    ranges=tuple(groups["out_of_range"]),
                    frozen=tuple(groups["frozen"]),
                    thresholds=tuple(groups["threshold"]),
                    jumps=tuple(groups["jump"]),
                    swings=tuple(groups["swing"]),
                    baselines=tuple(groups["baseline"]),
                    hist_len=max(max((s.n for s in windowed), default=0), 2 if trend_steps else 0),
                    steps_len=trend_steps,
                    reset_len=max(max((s.n for s in windowed), default=0), trend_steps + 1),
                )
            )
        self.sensors: tuple[SensorPlan, ...] = tuple(sensors)
        self.by_column = {sp.column: sp for sp in sensors}
        self.trend_columns = frozenset(c for r in trend_rules for c in r.sensors)
        # Trends read several sensors' samples: evaluated once a reading's sensors are done,
        # at readings that start a history interval; their alerts follow the sensors'.
        self.trends = tuple(
            Slot(r, order + i, n=trend_n[r.name], need=trend_n[r.name])
            for i, r in enumerate(trend_rules)
        )


# ------------------------------------------------------------------------ messages


def _fmt(plan: SensorPlan, value: float, *, difference: bool = False) -> str:
    return format_value(value, plan.shown, difference=difference)


def _op_not(op: str) -> str:
    return {">": "<=", ">=": "<", "<": ">=", "<=": ">"}[op]


def open_message(slot: Slot, sp: SensorPlan, x: float, a: float, b: float) -> str:
    """The sentence of an opening alert; ``a``/``b`` are the detector's context numbers.

    jump, swing: a = lowest, b = highest level in the window; baseline: a = median, b = scale;
    frozen: a = seconds unchanged.
    """
    rule = slot.rule
    kind = rule.kind
    if kind == "threshold":
        shown = format_value(x, rule.unit)
        return f"{sp.tag} {shown} {rule.op} {format_value(rule.threshold, rule.unit)}"
    if kind == "jump":
        window = _duration(rule.window_ms)
        rising = rule.directions[0] > 0 if rule.directions else x - a >= b - x
        if rising:
            change = _fmt(sp, x - a, difference=True)
            return f"{sp.tag} rose {change} within {window} (to {_fmt(sp, x)})"
        change = _fmt(sp, b - x, difference=True)
        return f"{sp.tag} fell {change} within {window} (to {_fmt(sp, x)})"
    if kind == "swing":
        change = _fmt(sp, b - a, difference=True)
        return (
            f"{sp.tag} swung {change} within {_duration(rule.window_ms)} "
            f"(between {_fmt(sp, a)} and {_fmt(sp, b)}; now {_fmt(sp, x)})"
        )
    if kind == "baseline":
        z = (x - a) / b
        way = "above" if x >= a else "below"
        gap = _fmt(sp, abs(x - a), difference=True)
        return (
            f"{sp.tag} {_fmt(sp, x)} is {gap} {way} its {_duration(rule.window_ms)} baseline "
            f"{_fmt(sp, a)} (z = {z:+.1f}, limit {rule.z_open:g})"
        )
    if kind == "trend":  # a, b: the first two sensors' steadiness in their direction
        parts = []
        for column, direction in zip(rule.sensors, rule.directions, strict=True):
            way = "rising" if direction > 0 else "falling"
            parts.append(f"{VARIABLES_BY_COLUMN[column].tag} {way}")
        scores = ", ".join(f"{v:.2f}" for v in (a, b)[: len(rule.sensors)])
        return (
            f"{' and '.join(parts)} steadily over {_duration(rule.window_ms)} "
            f"(steadiness {scores}, limit {rule.z_open:g})"
        )
    if kind == "out_of_range":
        return (
            f"{sp.tag} reads {x:.6g} {sp.unit}, outside its physical range "
            f"[{sp.lo:g}, {sp.hi:g}] {sp.unit}: sensor fault"
        )
    if kind == "frozen":
        return f"{sp.tag} frozen at {_fmt(sp, x)} for {_duration(int(a))}"
    raise AssertionError(kind)  # pragma: no cover


def close_message(slot: Slot, sp: SensorPlan, x: float) -> str:
    """The sentence of a closing alert."""
    rule = slot.rule
    kind = rule.kind
    if kind == "threshold":
        limit = format_value(rule.release, rule.unit)
        return f"{sp.tag} back to {format_value(x, rule.unit)} ({_op_not(rule.op)} {limit})"
    if kind in ("jump", "swing"):
        return f"{sp.tag} steady again at {_fmt(sp, x)}"
    if kind == "baseline":
        return f"{sp.tag} back within its baseline at {_fmt(sp, x)}"
    if kind == "trend":
        tags = " and ".join(VARIABLES_BY_COLUMN[c].tag for c in rule.sensors)
        return f"{tags} no longer trend that way"
    if kind == "out_of_range":
        return f"{sp.tag} back in its physical range ({x:.6g} {sp.unit})"
    if kind == "frozen":
        return f"{sp.tag} moving again ({_fmt(sp, x)})"
    raise AssertionError(kind)  # pragma: no cover


def gap_message(rule: Rule, last_ms: int, t: int, status: str) -> str:
    """The sentence of a data-gap alert (open and closed)."""
    span = f"from {format_ts(from_millis(last_ms))} to {format_ts(from_millis(t))}"
    if status == "open":
        return (
            f"no reading for {_duration(t - last_ms)} ({span}, limit {_duration(rule.window_ms)})"
        )
    return f"readings resumed after a {_duration(t - last_ms)} gap"


def _duration(ms: int) -> str:
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    return f"{seconds / 3600:.1f} h"


def make_alert(
    well: str,
    instance: str | None,
    slot: Slot,
    sensor: str | None,
    status: str,
    t: int,
    opened: int,
    value: float | None,
    message: str,
) -> Alert:
    """Build an `Alert` (shared by both detection paths)."""
    rule = slot.rule
    return Alert(
        alert_id=alert_id(well, rule.name, sensor, opened),
        well_id=well,
        instance_id=instance,
        rule=rule.name,
        category=rule.category,
        severity=rule.severity,
        status=status,
        ts=from_millis(t),
        opened_at=from_millis(opened),
        sensor=sensor,
        value=value,
        message=message,
    )


# -------------------------------------------------------------------------- stats


def median_sorted(values: list[float]) -> float:
    """Median of an already sorted, non-empty list (mean of the two middles when even)."""
    n = len(values)
    mid = n // 2
    if n % 2:
        return values[mid]
    return (values[mid - 1] + values[mid]) / 2


def robust_stats(window: list[float], floor: float) -> tuple[float, float]:
    """(median, scale) of a window: scale = max(1.4826 * MAD, floor)."""
    med = median_sorted(sorted(window))
    mad = median_sorted(sorted([abs(v - med) for v in window]))
    return med, max(MAD_TO_SIGMA * mad, floor)


# -------------------------------------------------------------------------- state


class _Episode:
    """One (rule, sensor) episode: open?, opened at, release held since, cooldown end."""

    __slots__ = ("cool", "off", "open", "opened")

    def __init__(self, raw: Sequence[Any] | None = None) -> None:
        if raw:
            self.open, self.opened, self.off, self.cool = bool(raw[0]), raw[1], raw[2], raw[3]
        else:
            self.open, self.opened, self.off, self.cool = False, 0, None, None

    def dump(self) -> list[Any]:
        return [int(self.open), self.opened, self.off, self.cool]


class _SensorState:
    """Per-sensor state: history samples, the open interval's range, frozen run, episodes."""

    __slots__ = ("eps", "ft", "fv", "hi", "hist", "hk", "k", "lo", "stats", "steps")

    def __init__(self, raw: Mapping[str, Any] | None = None) -> None:
        raw = raw or {}
        self.k: int | None = raw.get("k")  # current history interval (ts // sample_ms)
        pending = raw.get("p")  # [lowest, highest] valid value seen in interval k (v1: a value)
        if isinstance(pending, int | float):
            pending = [pending, pending]
        self.lo: float | None = None if pending is None else pending[0]
        self.hi: float | None = None if pending is None else pending[1]
        self.hist: list[float] = list(raw.get("h", ()))  # one sample per closed interval
        self.steps: str = raw.get("st", "")  # trends: +/-/0 per sample vs the one before
        self.hk: int | None = raw.get("hk")  # interval of the newest sample in hist
        self.fv: float | None = raw.get("fv")  # frozen check: value of the current run
        self.ft: int = raw.get("ft", 0)  # frozen check: when that run started
        self.eps: dict[str, _Episode] = {n: _Episode(e) for n, e in raw.get("e", {}).items()}
        self.stats: dict[str, tuple[float, float] | None] | None = None  # derived from hist

    def dump(self) -> dict[str, Any]:
        eps = self.eps  # most sensors have no episode yet: no sort, no comprehension
        out: dict[str, Any] = {
            "k": self.k, "p": None if self.lo is None else [self.lo, self.hi], "h": self.hist,
            "hk": self.hk, "fv": self.fv, "ft": self.ft,
            "e": {n: eps[n].dump() for n in sorted(eps)} if eps else {},
        }  # fmt: skip
        if self.steps:
            out["st"] = self.steps
        return out

    def episode(self, name: str) -> _Episode:
        ep = self.eps.get(name)
        if ep is None:
            ep = self.eps[name] = _Episode()
        return ep


class _WellState:
    __slots__ = ("incident", "sensors", "t")

    def __init__(self, raw: Mapping[str, Any] | None = None) -> None:
        raw = raw or {}
        self.t: int | None = raw.get("t")  # last processed reading time (epoch ms)
        self.sensors = {c: _SensorState(s) for c, s in raw.get("s", {}).items()}
        self.incident: Incident | None = Incident.load(raw["i"]) if raw.get("i") else None

    def dump(self) -> dict[str, Any]:
        sensors = self.sensors
        out = {"t": self.t, "s": {c: sensors[c].dump() for c in sorted(sensors)}}
        if self.incident is not None:
            out["i"] = self.incident.dump()
        return out

    def history(self) -> dict[str, list[float]]:
        """The history samples of the sensors the diagnosis reads."""
        return {c: self.sensors[c].hist for c in HISTORY_COLUMNS if c in self.sensors}

    def sensor(self, column: str) -> _SensorState:
        ss = self.sensors.get(column)
        if ss is None:
            ss = self.sensors[column] = _SensorState()
        return ss


class DetectionState:
    """What detection remembers between batches, per well; explicit and serializable.

    Holds, per well, the last processed time and, per sensor, the history samples of
    the windowed detectors, the frozen-run start and each (rule, sensor) episode.
    Derived statistics are recomputed from the samples, so a state written by one
    process and read by another yields the same alerts as one uninterrupted pass.
    """

    def __init__(self, wells: dict[str, _WellState] | None = None) -> None:
        self.wells: dict[str, _WellState] = wells if wells is not None else {}

    def well(self, well_id: str) -> _WellState:
        """The state of one well (created empty on first use)."""
        ws = self.wells.get(well_id)
        if ws is None:
            ws = self.wells[well_id] = _WellState()
        return ws

    def to_bytes(self) -> bytes:
        """Compact versioned JSON (``{"v": 2, "wells": {...}}``).

        orjson writes it where it imports (13 vs 1 µs for a well's state of 575 bytes,
        measured: the stdlib's encoder costs more per call than per byte), the stdlib
        otherwise; both read the other's output back to the same state. Values are
        finite (`petrostream.record.validate` rejects NaN and infinities before
        detection), so orjson's ``null`` for NaN never stands in for the stdlib's error.
        """
        wells = self.wells
        doc = {"v": STATE_VERSION, "wells": {w: wells[w].dump() for w in sorted(wells)}}
        if orjson is not None:
            try:
                return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
            except TypeError:  # a type orjson does not write: the stdlib decides
                pass
        return _ENCODER.encode(doc).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> DetectionState:
        """Read a state written by `to_bytes`; empty bytes give an empty state.

        Raises:
            ValueError: not a detection state, or a version this code does not read.
        """
        if not data:
            return cls()
        doc = orjson.loads(data) if orjson is not None else json.loads(data)
        if not isinstance(doc, dict) or doc.get("v") not in _READABLE_VERSIONS:
            raise ValueError(f"not a detection state of version {STATE_VERSION}")
        return cls({w: _WellState(s) for w, s in doc["wells"].items()})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DetectionState) and self.to_bytes() == other.to_bytes()

    __hash__ = None  # type: ignore[assignment]


# ----------------------------------------------------------------------- detector


_PRESENT_CACHE: Final = 64  # distinct key sets of readings remembered (one or a few in practice)


class Detector:
    """Runs a `RuleSet` over readings, one record at a time (the handler's path)."""

    def __init__(self, rules: RuleSet | None = None, *, diagnose: bool = True) -> None:
        self.rules = rules if rules is not None else default_rules()
        self.plan = Plan(self.rules)
        self.diagnose = diagnose  # False: no incident, diagnosis or update (benchmarks)
        # The plan's sensors a reading has, by the reading's keys (in order): the plan
        # watches 28 columns, a 3W reading has at most 8; a live batch brings one reading
        # of a well per call, so this skips 20 lookups a reading, not once a batch.
        self._present: dict[tuple[str, ...], tuple[SensorPlan, ...]] = {}

    def _sensors_of(self, reading: Mapping[str, Any]) -> tuple[SensorPlan, ...]:
        keys = tuple(reading)
        found = self._present.get(keys)
        if found is None:
            if len(self._present) >= _PRESENT_CACHE:
                self._present.clear()
            found = tuple(sp for sp in self.plan.sensors if sp.column in reading)
            self._present[keys] = found
        return found

    def detect(
        self, state: DetectionState, readings: Sequence[Mapping[str, Any]]
    ) -> tuple[DetectionState, list[Alert]]:
        """Process ``readings`` in order; returns the (mutated) state and the alerts raised.

        ``readings`` are decoded stream records (`petrostream.record.decode`): ``well_id``,
        ``ts`` and sensor values in SI units; absent or None sensors are skipped. Pure:
        the same state and readings always give the same alerts, with the same ids.

        Raises:
            InvalidRecord: a reading's ``ts`` is malformed (decode already rejects those).
        """
        alerts: list[Alert] = []
        plan = self.plan
        gaps = plan.gaps
        sample_ms = plan.sample_ms
        present = self._present
        for reading in readings:
            well = reading["well_id"]
            t = ts_millis(reading["ts"])
            ws = state.wells.get(well)
            if ws is None:
                ws = state.wells[well] = _WellState()
            last = ws.t
            start = len(alerts)
            tick = False
            if last is not None:
                if t <= last:
                    continue  # duplicate or late reading: already past it
                tick = t // sample_ms != last // sample_ms
                for slot in gaps:
                    if t - last > slot.rule.window_ms:
                        instance = reading.get("instance_id")
                        for status in ("open", "closed"):
                            message = gap_message(slot.rule, last, t, status)
                            moment = last if status == "open" else t
                            alerts.append(
                                make_alert(
                                    well, instance, slot, None, status, moment, last, None, message
                                )  # fmt: skip
                            )
            ws.t = t
            sensors = present.get(tuple(reading)) or self._sensors_of(reading)
            for sp in sensors:
                x = reading[sp.column]
                if x is None:
                    continue
                ss = ws.sensors.get(sp.column)
                if ss is None:
                    ss = ws.sensors[sp.column] = _SensorState()
                if sp.ranges:
                    bad = x < sp.lo or x > sp.hi
                    for slot in sp.ranges:
                        if bad or ss.eps:  # else _step has nothing to do
                            self._step(alerts, reading, ss, sp, slot, t, x, bad, not bad, 0.0, 0.0)
                    if bad:
                        continue
                if sp.frozen:
                    if x != ss.fv:
                        ss.fv, ss.ft = x, t
                    held = t - ss.ft
                    for slot in sp.frozen:
                        on = held >= slot.rule.window_ms
                        if on or ss.eps:  # else _step has nothing to do
                            self._step(alerts, reading, ss, sp, slot, t, x, on, not on, held, 0.0)
                for slot in sp.thresholds:
                    rule = slot.rule
                    on = _compare(x, rule.op, rule.threshold)
                    off = not _compare(x, rule.op, rule.release)
                    if on or ss.eps:  # else _step has nothing to do
                        self._step(alerts, reading, ss, sp, slot, t, x, on, off, 0.0, 0.0)
                if sp.hist_len:
                    k = t // sample_ms
                    if k != ss.k:
                        if ss.lo is not None and ss.hi is not None and ss.k is not None:
                            _push(ss, sp, ss.k, (ss.lo + ss.hi) / 2)
                        ss.k, ss.lo, ss.hi = k, None, None
                    stats = ss.stats
                    if stats is None:
                        stats = ss.stats = _stats(ss, sp)
                    for slot in sp.jumps:
                        st = stats[slot.rule.name]
                        if st is None:
                            on, off, lo, hi = False, True, 0.0, 0.0
                        else:
                            lo, hi = st
                            way = slot.rule.directions
                            change = (
                                max(x - lo, hi - x)
                                if not way
                                else (x - lo if way[0] > 0 else hi - x)
                            )
                            on = change >= slot.amount
                            off = change < slot.amount * slot.rule.z_close
                        if on or ss.eps:  # else _step has nothing to do
                            self._step(alerts, reading, ss, sp, slot, t, x, on, off, lo, hi)
                    for slot in sp.swings:
                        st = stats[slot.rule.name]
                        if st is None:
                            on, off, lo, hi = False, True, 0.0, 0.0
                        else:
                            lo, hi = st
                            on = hi - lo >= slot.amount
                            off = hi - lo < slot.amount * slot.rule.z_close
                        if on or ss.eps:  # else _step has nothing to do
                            self._step(alerts, reading, ss, sp, slot, t, x, on, off, lo, hi)
                    for slot in sp.baselines:
                        st = stats[slot.rule.name]
                        if st is None:
                            on, off, med, scale = False, True, 0.0, 1.0
                        else:
                            med, scale = st
                            z = abs((x - med) / scale)
                            on = z >= slot.rule.z_open
                            off = z < slot.rule.z_close
                        if on or ss.eps:  # else _step has nothing to do
                            self._step(alerts, reading, ss, sp, slot, t, x, on, off, med, scale)
                    if ss.lo is None or x < ss.lo:
                        ss.lo = x
                    if ss.hi is None or x > ss.hi:
                        ss.hi = x
            if tick and plan.trends:
                self._trends(alerts, reading, ws, t)
            if self.diagnose and (len(alerts) > start or (tick and ws.incident is not None)):
                ws.incident, alerts[start:] = follow(
                    ws.incident, well, reading.get("instance_id"), t, tick, alerts[start:],
                    ws.history,
                )  # fmt: skip
        return state, alerts

    def _trends(
        self, alerts: list[Alert], reading: Mapping[str, Any], ws: _WellState, t: int
    ) -> None:
        for slot in self.plan.trends:
            rule = slot.rule
            first = ws.sensors.get(rule.sensors[0])
            if first is None:
                continue  # never seen: nothing trends, nothing is open
            ways: list[float] = []  # each sensor's steadiness in its direction
            for direction, column in zip(rule.directions, rule.sensors, strict=True):
                ss = ws.sensors.get(column)
                score = None if ss is None else trend_score(ss.steps, slot.n, rule.min_moves)
                if score is None:
                    break
                ways.append(direction * score)
            ready = len(ways) == len(rule.sensors)
            on = ready and all(w >= rule.z_open for w in ways)
            off = not ready or any(w < rule.z_open * rule.z_close for w in ways)
            a, b = (ways + [0.0, 0.0])[:2] if on else (0.0, 0.0)
            x = first.hist[-1] if first.hist else math.nan
            sp = self.plan.by_column[rule.sensors[0]]
            self._step(alerts, reading, first, sp, slot, t, x, on, off, a, b)

    @staticmethod
    def _step(
        alerts: list[Alert],
        reading: Mapping[str, Any],
        ss: _SensorState,
        sp: SensorPlan,
        slot: Slot,
        t: int,
        x: float,
        on: bool,
        off: bool,
        a: float,
        b: float,
    ) -> None:
        ep = ss.eps.get(slot.rule.name)
        if ep is None:
            if not on:
                return
            ep = ss.episode(slot.rule.name)
        if ep.open:
            if not off:
                ep.off = None
                return
            if ep.off is None:
                ep.off = t
            if t - ep.off >= slot.rule.clear_ms:
                ep.open, ep.off, ep.cool = False, None, t + slot.rule.cooldown_ms
                alerts.append(
                    make_alert(
                        reading["well_id"],
                        reading.get("instance_id"),
                        slot,
                        sp.column,
                        "closed",
                        t,
                        ep.opened,
                        x,
                        close_message(slot, sp, x),
                    )  # fmt: skip
                )
        elif on and (ep.cool is None or t >= ep.cool):
            ep.open, ep.opened, ep.off = True, t, None
            alerts.append(
                make_alert(
                    reading["well_id"],
                    reading.get("instance_id"),
                    slot,
                    sp.column,
                    "open",
                    t,
                    t,
                    x,
                    open_message(slot, sp, x, a, b),
                )  # fmt: skip
            )


def _compare(x: float, op: str, limit: float) -> bool:
    if op == ">":
        return x > limit
    if op == ">=":
        return x >= limit
    if op == "<":
        return x < limit
    return x <= limit


def _push(ss: _SensorState, sp: SensorPlan, k: int, value: float) -> None:
    """Close interval ``k`` with its sample: the midrange of its valid values."""
    if ss.hk is not None and k - ss.hk > sp.reset_len:
        ss.hist.clear()  # the history is older than the longest window: start again
        ss.steps = ""
    if sp.steps_len and ss.hist:
        prev = ss.hist[-1]
        step = "+" if value > prev else "-" if value < prev else "0"
        ss.steps = (ss.steps + step)[-sp.steps_len :]
    ss.hist.append(value)
    if len(ss.hist) > sp.hist_len:
        del ss.hist[: len(ss.hist) - sp.hist_len]
    ss.hk = k
    ss.stats = None


def trend_score(steps: str, n: int, min_moves: float) -> float | None:
    """Steadiness of the last ``n`` steps: (steps up - steps down) / steps that move.

    ``steps`` holds one ``+``, ``-`` or ``0`` per history sample against the one before.
    The denominator is at least ``min_moves`` of the ``n`` steps, so one step of a coarse
    gauge is not a trend. Counts, not sums: both paths get exactly the same number.
    None while fewer than ``n`` steps are held.
    """
    if len(steps) < n:
        return None
    window = steps[-n:]
    ups, downs = window.count("+"), window.count("-")
    return (ups - downs) / max(ups + downs, min_moves * n)


def _stats(ss: _SensorState, sp: SensorPlan) -> dict[str, tuple[float, float] | None]:
    """Per windowed rule: jump, swing -> (lowest, highest); baseline -> (median, scale); or None."""
    hist = ss.hist
    out: dict[str, tuple[float, float] | None] = {}
    for slot in (*sp.jumps, *sp.swings):
        if len(hist) < slot.need:
            out[slot.rule.name] = None
        else:
            window = hist[-slot.n :]
            out[slot.rule.name] = (min(window), max(window))
    for slot in sp.baselines:
        if len(hist) < slot.need:
            out[slot.rule.name] = None
        else:
            out[slot.rule.name] = robust_stats(hist[-slot.n :], slot.amount)
    return out
