"""The lake's ``alerts`` table: new alerts from the `AlertStore`, exported exactly once.

Layout: ``<lake>/alerts/dt=YYYY-MM-DD/part-<batch>.parquet`` (``dt`` of the
alert's ``ts``). Columns are those of ``Alert.to_dict()``, with ``ts`` and
``opened_at`` as timestamp(ms, UTC): one row per notification (open, each diagnosis
``update`` with its ``revision``, closed). Runs in the local runtime (it imports
pyarrow), never in the Lambda handler.

Exactly once: `AlertStore.claim_export` assigns the not-yet-exported alerts to a
numbered batch in one transaction; each file of batch N is named ``part-N`` and
put atomically (write a temporary file, then rename; on S3 a PUT is atomic);
only then is the batch marked exported. After a crash the same batch is written
again under the same names, replacing any file already there: no row twice, no
row lost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from petrostream.alerts.base import ts_millis
from petrostream.alerts.store import AlertStore

if TYPE_CHECKING:
    import pyarrow as pa

    from petrostream.lake.base import LakeStore

TABLE: Final = "alerts"
_STRINGS: Final = (
    "alert_id",
    "well_id",
    "instance_id",
    "rule",
    "category",
    "severity",
    "status",
)
_TIMESTAMPS: Final = ("ts", "opened_at")


def alerts_schema() -> pa.Schema:
    """The ``alerts`` table's Arrow schema (Glue/Athena friendly names and types)."""
    import pyarrow as pa

    ts = pa.timestamp("ms", tz="UTC")
    return pa.schema(
        [
            *(pa.field(name, pa.string()) for name in _STRINGS),
            pa.field("ts", ts),
            pa.field("opened_at", ts),
            pa.field("sensor", pa.string()),
            pa.field("value", pa.float64()),
            pa.field("message", pa.string()),
            pa.field("incident_id", pa.string()),
            pa.field("diagnosis", pa.string()),
            pa.field("confidence", pa.float64()),
            pa.field("revision", pa.int32()),
        ]
    )


def alerts_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Build the Arrow table of alert dicts (``Alert.to_dict`` / `alert_payload` output)."""
    import pyarrow as pa

    schema = alerts_schema()
    columns: dict[str, list[Any]] = {f.name: [] for f in schema}
    for row in rows:
        for name in columns:
            value = row.get(name)
            if name in _TIMESTAMPS:
                value = ts_millis(value)
            elif name in ("value", "confidence") and value is not None:
                value = float(value)
            elif name == "revision":
                value = int(value or 0)  # alerts recorded before diagnoses have none
            elif value is not None:
                value = str(value)
            columns[name].append(value)
    arrays = []
    for f in schema:
        if f.name in _TIMESTAMPS:
            arrays.append(pa.array(columns[f.name], pa.int64()).cast(f.type))
        else:
            arrays.append(pa.array(columns[f.name], f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def warm_up() -> None:
    """Import pyarrow and build the schema once, so the first export is not slow."""
    import pyarrow.parquet  # noqa: F401

    alerts_table([])


def _dt(row: Mapping[str, Any]) -> str:
    ms = ts_millis(row.get("ts")) or 0
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def export_alerts(store: AlertStore, lake: LakeStore, *, codec: str = "zstd") -> int:
    """Write every alert not exported yet to the lake; return how many rows were written."""
    written = 0
    while (claim := store.claim_export()) is not None:
        batch, rows = claim
        by_day: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for row in rows:
            by_day[_dt(row)].append(row)
        for day, day_rows in sorted(by_day.items()):
            path = f"{TABLE}/dt={day}/part-{batch:08d}.parquet"
            lake.write_parquet(path, alerts_table(day_rows), codec=codec)
        store.mark_exported(batch)
        written += len(rows)
    return written
