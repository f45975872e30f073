"""Which 3W event is happening: a diagnosis from the physics of each event.

While a well has a process alert open (an *incident*), detection asks `diagnose`
once per history interval which 3W event the sensors' recent samples look like.
Each event type has a signature from its physics (3W's documentation, Vargas et
al. 2019): which gauges move, in which direction, together or against each other,
steadily or back and forth. Nothing is learned, so the same rules hold on every
well; scores are plain arithmetic on the history samples both detection paths
keep, so `Detector` and `VectorizedDetector` name the same event at the same reading.

Inputs are SI values as on the stream (Pa, °C); signatures are written in bar and °C.
Standard library only: the Lambda zip imports this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from petrostream.schema import VARIABLES_BY_COLUMN, EventClass

_BAR: Final = 1.0e5
UNITS: Final[dict[str, float]] = {  # column -> SI per display unit (bar, °C)
    "p_pdg": _BAR,
    "p_tpt": _BAR,
    "p_mon_ckp": _BAR,
    "t_tpt": 1.0,
    "t_jus_ckp": 1.0,
    "p_jus_ckgl": _BAR,
}
"""The sensors signatures read (others are ignored)."""


@dataclass(frozen=True)
class Diagnosis:
    """The most likely 3W event and how sure the signatures are.

    Attributes:
        event_class: the 3W class (1-9).
        event_type: its name, e.g. ``SPURIOUS_CLOSURE_OF_DHSV``.
        confidence: the winning signature's share of all evidence, 0-1, two decimals.
        evidence: the moves behind it, for humans (``T-TPT -12.3 °C, P-PDG +5.9 bar``).
    """

    event_class: int
    event_type: str
    confidence: float
    evidence: str

    def differs(self, other: Diagnosis | None) -> bool:
        """True if notifying this after ``other`` tells something new (event or ±0.1)."""
        return (
            other is None
            or other.event_class != self.event_class
            or abs(other.confidence - self.confidence) >= 0.1
        )


@dataclass(frozen=True)
class Moves:
    """One sensor's moves, in bar or °C: since the incident opened, and over the window."""

    since: float  # last sample - the level when the incident opened
    span: float  # highest - lowest sample of the window
    change: float  # last sample - first sample of the window
    zigzag: float  # the smaller of the largest rise and the largest fall in the window
    steady: float = 0.0  # (steps up - steps down) / steps that move (at least a fifth): -1..1


def _moves(history: Sequence[float], reference: float | None, scale: float) -> Moves | None:
    if len(history) < 3:
        return None
    low = high = prev = first = history[0]
    rise = fall = 0.0
    ups = downs = 0
    for v in history:  # one pass, no function calls: this runs at every interval of an incident
        if v < low:
            low = v
        elif v > high:
            high = v
        if v - low > rise:
            rise = v - low
        if high - v > fall:
            fall = high - v
        if v > prev:
            ups += 1
        elif v < prev:
            downs += 1
        prev = v
    last = history[-1]
    since = 0.0 if reference is None else (last - reference) / scale
    steady = (ups - downs) / max(ups + downs, 0.2 * (len(history) - 1))
    return Moves(
        since, (high - low) / scale, (last - first) / scale, min(rise, fall) / scale, steady
    )


def _at_least(x: float, full: float) -> float:
    """0 at or below 0, rising linearly to 1 at ``full``."""
    r = x / full  # no min/max calls: this runs ~40 times per diagnosis
    if r > 0.0:
        return r if r < 1.0 else 1.0
    return 0.0


_NONE: Final = Moves(0.0, 0.0, 0.0, 0.0)


def score(
    history: Mapping[str, Sequence[float]],
    reference: Mapping[str, float],
    lowest: Mapping[str, float],
) -> tuple[dict[int, float], Mapping[str, Moves]]:
    """Score every signature (0-1) on the sensors' recent samples; also each sensor's moves.

    Args:
        history: per column, the history samples (oldest first, SI units) of the
            windowed detectors at this reading.
        reference: per column, the level (SI) when the incident opened.
        lowest: per column, the lowest sample (SI) seen at a diagnosis since then.
    """
    moves = {
        column: m
        for column, scale in UNITS.items()
        if (m := _moves(history.get(column, ()), reference.get(column), scale)) is not None
    }
    pdg = moves.get("p_pdg", _NONE)
    tpt = moves.get("p_tpt", _NONE)
    temp = moves.get("t_tpt", _NONE)
    choke = moves.get("p_mon_ckp", _NONE)
    choke_t = moves.get("t_jus_ckp", _NONE)
    lift = moves.get("p_jus_ckgl", _NONE)  # the gas-lift (service) line, downstream of its choke
    cooled = -temp.since  # °C the fluid at the wet christmas tree lost since the incident opened
    # Downhole and wellhead pressures swing together in a slug cycle; beyond its noise.
    column = max(_at_least(pdg.span - 0.3, 0.7), 0.8 * _at_least(temp.span - 1.5, 2.0))
    in_phase = 1.0 if pdg.change * tpt.change > 0 else 0.4
    choke_swing = max(
        _at_least(choke.zigzag, 1.5),
        _at_least(choke_t.zigzag, 0.8),
        _at_least(choke.span - 1, 2) * (1 - _at_least(choke.steady - 0.2, 0.4)),
    )
    # A fluid that cools and warms again (within the window, or since its lowest point in
    # this incident) is cycling, not cut off.
    warmed = 0.0
    if "t_tpt" in lowest and history.get("t_tpt"):
        warmed = history["t_tpt"][-1] - lowest["t_tpt"]
    # ...and one that cools slowly (a slug's cooling phase takes half an hour) is not cut off
    # either: a closed DHSV or a dying reservoir cools the wellhead by 10 °C in minutes.
    fast = _at_least(-temp.change - 4, 6)
    steady_cooling = (
        _at_least(cooled, 5)
        * fast
        * (1 - _at_least(temp.zigzag - 1, 2))
        * (1 - _at_least(warmed - 1, 2))
    )
    restricted = _at_least(choke.since - 10, 20)  # upstream of the choke rose for good
    # A column getting heavier, on any scale: P-PDG steadily up while P-TPT steadily down
    # (counts of samples, like the trend rule), no cooling.
    heavier = min(_at_least(pdg.steady - 0.2, 0.4), _at_least(-tpt.steady - 0.2, 0.4))
    # The choke's upstream pressure climbing steadily (not back and forth).
    choke_climbs = _at_least(choke.steady - 0.2, 0.4)
    fast_choke = _at_least(choke.span - 1, 2)  # P-MON-CKP moved 1-3 bar or more in 10 minutes
    # A plug in the line between the wet christmas tree and the platform: upstream of it
    # (P-TPT) the pressure builds, downstream (P-MON-CKP) it sinks, for good.
    plugged_line = 0.0
    if tpt.since > 1 and choke.since < -0.5:
        plugged_line = (
            _at_least(tpt.since - 1, 3)
            * _at_least(-choke.since - 0.5, 2)
            * max(_at_least(tpt.steady - 0.2, 0.4), _at_least(-choke.steady - 0.2, 0.4), 0.5)
        )
    # A plug in the gas-lift line: the platform side of it (P-JUS-CKGL) builds up toward
    # the gas header's pressure, by far more than the few bar a slug cycle moves it, and
    # the well, short of lift gas, gets a heavier column.
    plugged_lift = 0.0
    if lift.since > 3:
        plugged_lift = _at_least(lift.since - 3, 5) * _at_least(lift.steady - 0.2, 0.4)
    scores = {
        # DHSV closes: no more hot fluid from below (T-TPT falls), the wellhead pressure
        # collapses after a short spike (or spikes hard), the downhole pressure builds up.
        # A P-PDG build-up speaks for the DHSV only while P-TPT does not rise with it (a
        # closed valve cuts the wellhead off from the reservoir; a weaker inflow does not).
        EventClass.SPURIOUS_CLOSURE_OF_DHSV: steady_cooling
        * max(
            _at_least(-tpt.since, 5),
            _at_least(pdg.since, 2) * (1 - _at_least(tpt.since - 1, 2)),
            _at_least(tpt.since, 10),
        ),
        # Less flow from the reservoir: the fluid cools on its way up while the pressures
        # at the wellhead and downhole stay near their level (rise a little).
        EventClass.RAPID_PRODUCTIVITY_LOSS: steady_cooling
        * _at_least(tpt.since, 1)
        * (1 - _at_least(tpt.since - 3, 7)),
        # A restriction at the production choke: the pressure upstream of it rises fast
        # while the fluid keeps its temperature.
        # A steady climb of a couple of bar is a restriction too; a swing is not.
        EventClass.QUICK_RESTRICTION_IN_PCK: max(
            _at_least(choke.since, 5), _at_least(choke.since - 1, 2) * choke_climbs
        )
        * (1 - _at_least(cooled, 5))
        * max(fast_choke, 0.3)
        * (1 - plugged_line),
        # Scale builds up in the production choke over hours: P-MON-CKP creeps up,
        # steadily and slowly (well under the quick restriction's bar a minute), the
        # fluid keeps its temperature. (No 3W instance in the developers' set: untested.)
        EventClass.SCALING_IN_PCK: choke_climbs
        * _at_least(choke.since - 0.2, 0.8)
        * (1 - fast_choke)
        * (1 - _at_least(cooled, 5))
        * (1 - plugged_line),
        # Hydrate in the production line: P-TPT up, P-MON-CKP down, and the fluid reaching
        # the platform (T-JUS-CKP) cools as the flow chokes. (Untested on real data.)
        EventClass.HYDRATE_IN_PRODUCTION_LINE: plugged_line
        * (1 - column)
        * (0.7 + 0.3 * _at_least(-choke_t.since, 1)),
        # Hydrate in the service (gas-lift) line: P-JUS-CKGL builds up, steadily, and the
        # column gets heavier (P-PDG up, P-TPT down). (Untested on real data.)
        EventClass.HYDRATE_IN_SERVICE_LINE: plugged_lift
        * (0.6 + 0.4 * max(heavier, _at_least(pdg.since, 0.5) * _at_least(-tpt.since, 0.5))),
        # Heavier fluid (more water): the downhole pressure rises, the wellhead falls, and
        # the fluid does not cool (water carries more heat). In bar, or steadily on any scale.
        EventClass.ABRUPT_INCREASE_OF_BSW: max(
            _at_least(pdg.since, 1) * _at_least(-tpt.since, 1), heavier
        )
        * (1 - _at_least(cooled, 3))
        * (1 - steady_cooling)
        * (1 - plugged_lift),
        # Severe slugging: the whole column swings, downhole and wellhead in phase.
        # A gas-lift line that builds up for good explains a moving column better.
        EventClass.SEVERE_SLUGGING: column
        * in_phase
        * (1 - steady_cooling)
        * (1 - restricted)
        * (1 - plugged_lift),
        # Flow instability: swings at the choke, or of the wellhead pressure alone,
        # with tolerable amplitude and no swing downhole.
        EventClass.FLOW_INSTABILITY: 0.9
        * max(choke_swing, _at_least(tpt.span - 0.5, 2))
        * (1 - column)
        * (1 - steady_cooling)
        * (1 - restricted)
        * (1 - plugged_line),
    }
    return {int(c): v for c, v in scores.items()}, moves


def decide(totals: Mapping[int, float], evidence: str = "") -> Diagnosis:
    """The diagnosis of an incident from its scores summed over every diagnosis so far.

    Summing makes the diagnosis settle: one odd interval (a slug's long cooling phase
    looks like a DHSV closure for a while) does not flip it, while a signature that
    keeps matching (a DHSV closure minutes after its first pressure spike) takes over.
    """
    best: int | None = None  # the largest total; of equal ones, the lowest class
    top = 0.0
    for c, v in totals.items():  # (max with a key: a tuple and a call per class)
        if best is None or v > top or (v == top and c < best):
            best, top = c, v
    total = sum(totals.values())
    if best is None:
        raise ValueError("decide() needs the scores of at least one class")
    confidence = top / total if total > 0 else 0.0
    return Diagnosis(best, _NAMES[best], round(confidence, 2), evidence)


_NAMES: Final = {int(c): c.name for c in EventClass}


def evidence(moves: Mapping[str, Moves]) -> str:
    """The two largest moves since the incident opened, in words."""
    # one bar of pressure weighs like half a degree of temperature
    ranked = sorted(moves.items(), key=lambda kv: -abs(kv[1].since) * (1 if kv[0][0] == "p" else 2))
    parts = []
    for column, m in ranked[:2]:
        unit = "bar" if column.startswith("p") else "°C"
        parts.append(f"{VARIABLES_BY_COLUMN[column].tag} {m.since:+.1f} {unit}")
    return ", ".join(parts) + " since the alert opened" if parts else "no sensor history yet"
