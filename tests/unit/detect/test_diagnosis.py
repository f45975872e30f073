"""The diagnosis signatures' logic on synthetic sample histories (not a performance claim).

Each case builds 10 minutes of 20 s samples (30 per sensor) the way an event moves the
gauges according to its physics, and checks which 3W event the signatures name. Classes
7, 8 and 9 have no instance in the developers' set: these tests are all that checks them.
"""

from __future__ import annotations

import random

import pytest

from petrostream.detect.diagnosis import decide, score
from petrostream.schema import EventClass

BAR = 1.0e5
LEVELS = {"p_pdg": 250 * BAR, "p_tpt": 100 * BAR, "t_tpt": 70.0, "p_mon_ckp": 20 * BAR,
          "t_jus_ckp": 50.0, "p_jus_ckgl": 180 * BAR}  # fmt: skip
NOISE = {"p_pdg": 0.01 * BAR, "p_tpt": 0.1 * BAR, "t_tpt": 0.02, "p_mon_ckp": 0.05 * BAR,
         "t_jus_ckp": 0.02, "p_jus_ckgl": 0.05 * BAR}  # fmt: skip


def history(moves: dict[str, float], *, seed: int = 1, n: int = 30, scale: float = 1.0) -> dict:
    """Per sensor: n samples from its level, moving linearly by ``moves[sensor]`` (SI)."""
    rng = random.Random(seed)
    return {
        column: [
            scale * (level + moves.get(column, 0.0) * i / (n - 1) + rng.gauss(0, NOISE[column]))
            for i in range(n)
        ]
        for column, level in LEVELS.items()
    }


def diagnose(samples: dict, reference: dict | None = None) -> EventClass:
    reference = reference or {c: v[0] for c, v in samples.items()}
    lowest = {c: min(v) for c, v in samples.items()}
    scores, _ = score(samples, reference, lowest)
    return EventClass(decide(scores).event_class)


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        # a heavier column (more water): P-PDG up, P-TPT down, the fluid keeps its heat
        ({"p_pdg": 2 * BAR, "p_tpt": -3 * BAR, "t_tpt": 0.3}, EventClass.ABRUPT_INCREASE_OF_BSW),
        # a DHSV closes: T-TPT falls 10 °C, P-TPT collapses, P-PDG builds up
        (
            {"t_tpt": -10.0, "p_tpt": -20 * BAR, "p_pdg": 8 * BAR},
            EventClass.SPURIOUS_CLOSURE_OF_DHSV,
        ),
        # the reservoir delivers less: T-TPT falls fast, P-TPT and P-PDG rise a little
        ({"t_tpt": -10.0, "p_tpt": 2 * BAR, "p_pdg": 4 * BAR}, EventClass.RAPID_PRODUCTIVITY_LOSS),
        # a quick restriction at the choke: P-MON-CKP +20 bar within minutes
        ({"p_mon_ckp": 20 * BAR, "p_tpt": 2 * BAR}, EventClass.QUICK_RESTRICTION_IN_PCK),
        # scale in the choke: P-MON-CKP creeps up 0.9 bar in 10 minutes, steadily
        ({"p_mon_ckp": 0.9 * BAR, "p_tpt": 0.3 * BAR}, EventClass.SCALING_IN_PCK),
        # hydrate in the production line: P-TPT builds up, P-MON-CKP sinks, T-JUS-CKP cools
        (
            {"p_tpt": 6 * BAR, "p_mon_ckp": -4 * BAR, "t_jus_ckp": -2.0},
            EventClass.HYDRATE_IN_PRODUCTION_LINE,
        ),
        # hydrate in the gas-lift line: P-JUS-CKGL builds up, the column gets heavier
        (
            {"p_jus_ckgl": 8 * BAR, "p_pdg": 1 * BAR, "p_tpt": -2 * BAR},
            EventClass.HYDRATE_IN_SERVICE_LINE,
        ),
    ],
)
def test_each_signature_names_its_event(moves: dict[str, float], expected: EventClass) -> None:
    assert diagnose(history(moves)) == expected


def test_the_heavier_column_is_seen_on_any_scale() -> None:
    # hand-drawn 3W instances read ~1e-3 bar: only the steadiness of the moves is left
    samples = history({"p_pdg": 2 * BAR, "p_tpt": -3 * BAR}, scale=1e-5)
    assert diagnose(samples) == EventClass.ABRUPT_INCREASE_OF_BSW


def test_a_gas_lift_line_building_up_is_not_more_water() -> None:
    heavier = {"p_pdg": 1 * BAR, "p_tpt": -2 * BAR}
    assert diagnose(history(heavier)) == EventClass.ABRUPT_INCREASE_OF_BSW
    plugged = diagnose(history({**heavier, "p_jus_ckgl": 8 * BAR}))
    assert plugged == EventClass.HYDRATE_IN_SERVICE_LINE


def test_a_choke_climbing_back_and_forth_is_instability_not_scaling() -> None:
    samples = history({})
    samples["p_mon_ckp"] = [
        LEVELS["p_mon_ckp"] + (1.5 * BAR if i % 6 < 3 else -1.5 * BAR) for i in range(30)
    ]
    assert diagnose(samples) == EventClass.FLOW_INSTABILITY


def test_a_restriction_when_pressures_build_both_sides_is_not_a_line_hydrate() -> None:
    # a plug in the line sinks P-MON-CKP; a choke restriction raises it with P-TPT
    restriction = diagnose(history({"p_mon_ckp": 20 * BAR, "p_tpt": 6 * BAR}))
    hydrate = diagnose(history({"p_mon_ckp": -4 * BAR, "p_tpt": 6 * BAR}))
    assert (restriction, hydrate) == (
        EventClass.QUICK_RESTRICTION_IN_PCK, EventClass.HYDRATE_IN_PRODUCTION_LINE
    )  # fmt: skip


def test_decide_names_the_largest_total_and_of_equal_ones_the_lowest_class() -> None:
    rng = random.Random(7)
    for _ in range(500):
        # given totals with ties (a few distinct values), in any order of classes
        classes = rng.sample(range(1, 10), rng.randint(1, 9))
        totals = {c: rng.choice([0.0, 0.25, 0.5, 1.5]) for c in classes}
        # when
        dx = decide(totals)
        # then it is what max over (total, -class) picks, with its share as confidence
        best = max(totals, key=lambda c: (totals[c], -c))
        total = sum(totals.values())
        assert dx.event_class == best and dx.event_type == EventClass(best).name
        assert dx.confidence == round(totals[best] / total if total > 0 else 0.0, 2)
