"""The canonical PetroStream schema: 3W variables, units, event classes, record columns.

Everything that names a column or an event class comes from here, so the
producer, the detector, the lake writer, the catalog and the Terraform Glue
table agree. Pure Python: the Lambda handler imports this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Final


@dataclass(frozen=True)
class Variable:
    """One 3W process variable.

    Attributes:
        tag: the 3W name as written in file headers (``P-PDG``).
        column: the canonical lake column (``p_pdg``).
        unit: the SI unit 3W stores the value in.
        description: what the sensor measures.
        versions: the 3W dataset major versions whose files carry it.
    """

    tag: str
    column: str
    unit: str
    description: str
    versions: tuple[int, ...]


def to_column(tag: str) -> str:
    """Map a 3W tag to its canonical column: ``P-MON-CKP`` -> ``p_mon_ckp``.

    Athena and Glue accept only lower case, digits and underscores in names.
    """
    column = re.sub(r"[^0-9a-z]+", "_", tag.strip().lower()).strip("_")
    if not column:
        raise ValueError(f"cannot make a column name out of {tag!r}")
    if column[0].isdigit():
        column = f"c_{column}"
    return column


def _v(tag: str, unit: str, description: str, versions: tuple[int, ...] = (2,)) -> Variable:
    return Variable(tag, to_column(tag), unit, description, versions)


# Every variable of 3W 1.x (8) and 2.x (27). T-JUS-CKGL exists only in 1.x.
VARIABLES: Final[tuple[Variable, ...]] = (
    _v("ABER-CKGL", "%", "opening of the gas-lift choke (GLCK)"),
    _v("ABER-CKP", "%", "opening of the production choke (PCK)"),
    _v("ESTADO-DHSV", "-", "state of the downhole safety valve (DHSV)"),
    _v("ESTADO-M1", "-", "state of the production master valve (M1)"),
    _v("ESTADO-M2", "-", "state of the annulus master valve (M2)"),
    _v("ESTADO-PXO", "-", "state of the pig-crossover valve (PXO)"),
    _v("ESTADO-SDV-GL", "-", "state of the gas-lift shutdown valve (SDV-GL)"),
    _v("ESTADO-SDV-P", "-", "state of the production shutdown valve (SDV-P)"),
    _v("ESTADO-W1", "-", "state of the production wing valve (W1)"),
    _v("ESTADO-W2", "-", "state of the annulus wing valve (W2)"),
    _v("ESTADO-XO", "-", "state of the crossover valve (XO)"),
    _v("P-ANULAR", "Pa", "pressure in the well annulus"),
    _v("P-JUS-BS", "Pa", "pressure downstream of the service pump (BS)"),
    _v("P-JUS-CKGL", "Pa", "pressure downstream of the gas-lift choke", (1, 2)),
    _v("P-JUS-CKP", "Pa", "pressure downstream of the production choke"),
    _v("P-MON-CKGL", "Pa", "pressure upstream of the gas-lift choke"),
    _v("P-MON-CKP", "Pa", "pressure upstream of the production choke", (1, 2)),
    _v("P-MON-SDV-P", "Pa", "pressure upstream of the production shutdown valve"),
    _v("P-PDG", "Pa", "pressure at the permanent downhole gauge (PDG)", (1, 2)),
    _v("PT-P", "Pa", "pressure downstream of the production wing valve in the production tube"),
    _v("P-TPT", "Pa", "pressure at the temperature/pressure transducer (TPT)", (1, 2)),
    _v("QBS", "m3/s", "flow rate of the service pump (BS)"),
    _v("QGL", "m3/s", "gas-lift flow rate (standard conditions)", (1, 2)),
    _v("T-JUS-CKGL", "degC", "temperature downstream of the gas-lift choke", (1,)),
    _v("T-JUS-CKP", "degC", "temperature downstream of the production choke", (1, 2)),
    _v("T-MON-CKP", "degC", "temperature upstream of the production choke"),
    _v("T-PDG", "degC", "temperature at the permanent downhole gauge (PDG)"),
    _v("T-TPT", "degC", "temperature at the temperature/pressure transducer (TPT)", (1, 2)),
)

VARIABLES_BY_TAG: Final[dict[str, Variable]] = {v.tag: v for v in VARIABLES}
VARIABLES_BY_COLUMN: Final[dict[str, Variable]] = {v.column: v for v in VARIABLES}
SENSOR_COLUMNS: Final[tuple[str, ...]] = tuple(v.column for v in VARIABLES)
V1_TAGS: Final[tuple[str, ...]] = (
    "P-PDG", "P-TPT", "T-TPT", "P-MON-CKP", "T-JUS-CKP", "P-JUS-CKGL", "T-JUS-CKGL", "QGL",
)  # fmt: skip
V2_TAGS: Final[tuple[str, ...]] = tuple(v.tag for v in VARIABLES if 2 in v.versions)


class EventClass(IntEnum):
    """The 3W event classes; a transient label is ``100 + class``."""

    NORMAL = 0
    ABRUPT_INCREASE_OF_BSW = 1
    SPURIOUS_CLOSURE_OF_DHSV = 2
    SEVERE_SLUGGING = 3
    FLOW_INSTABILITY = 4
    RAPID_PRODUCTIVITY_LOSS = 5
    QUICK_RESTRICTION_IN_PCK = 6
    SCALING_IN_PCK = 7
    HYDRATE_IN_PRODUCTION_LINE = 8
    HYDRATE_IN_SERVICE_LINE = 9


TRANSIENT_OFFSET: Final = 100
# Labels 101..109: the transient before the steady state of event N (3W labels
# no transient for NORMAL, so 100 is not a label).
TRANSIENT_LABELS: Final[frozenset[int]] = frozenset(range(101, 110))
VALID_LABELS: Final[frozenset[int]] = frozenset(int(c) for c in EventClass) | TRANSIENT_LABELS


def event_type(label: int | None) -> str | None:
    """Name of the event a 3W label belongs to: ``106`` -> ``QUICK_RESTRICTION_IN_PCK``.

    Returns None for an unlabelled reading. Raises ValueError for a label 3W does not define.
    """
    if label is None:
        return None
    if label not in VALID_LABELS:
        raise ValueError(f"{label} is not a 3W label (0-9 or 101-109)")
    return EventClass(label % TRANSIENT_OFFSET).name


def is_transient(label: int | None) -> bool:
    """True for the transient labels 101..109."""
    return label is not None and label in TRANSIENT_LABELS


# The columns of the `sensors` table, in lake order. Sensor columns follow
# `instance_id`/`ts`/`source_ts`; new columns seen later are appended (schema
# evolution), never dropped.
KEY_COLUMNS: Final[tuple[str, ...]] = ("well_id", "instance_id", "ts", "source_ts")
LABEL_COLUMNS: Final[tuple[str, ...]] = ("event_class", "event_type", "state")
PARTITION_COLUMNS: Final[tuple[str, ...]] = ("dt", "well_id")
RECORD_COLUMNS: Final[tuple[str, ...]] = KEY_COLUMNS + SENSOR_COLUMNS + LABEL_COLUMNS

# Logical types, shared by the lake writer (Arrow), the catalog and Glue.
COLUMN_TYPES: Final[dict[str, str]] = {
    "well_id": "string",
    "instance_id": "string",
    "ts": "timestamp",
    "source_ts": "timestamp",
    **{c: "double" for c in SENSOR_COLUMNS},
    "event_class": "int",
    "event_type": "string",
    "state": "int",
    "dt": "string",
}

# Physical range of a healthy gauge per unit; a value outside is a sensor fault.
PHYSICAL_RANGES: Final[dict[str, tuple[float, float]]] = {
    "Pa": (-1.0e5, 1.5e8),
    "degC": (-50.0, 250.0),
    "m3/s": (0.0, 1.0e3),
    "%": (0.0, 100.0),
    "-": (0.0, 1.0),
}

WELL_ID_PATTERN: Final = re.compile(r"^(WELL-\d{5}|SIMULATED|DRAWN)$")

SYNTHETIC_FIRST_WELL: Final = 90_001
"""Wells numbered from here on (WELL-90001 to WELL-99999) are synthetic by convention: no 3W
well has such a number; the demo's fleet starts there (`dataset synth --first-well 90001`)."""


def is_synthetic_well(well_id: str) -> bool:
    """True for ``WELL-90001`` and up, the numbers kept for synthetic wells."""
    if len(well_id) != 10 or not well_id.startswith("WELL-") or not well_id[5:].isdigit():
        return False
    return int(well_id[5:]) >= SYNTHETIC_FIRST_WELL
