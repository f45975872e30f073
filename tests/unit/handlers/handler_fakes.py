"""Small fakes for handler tests (a threshold engine, in-memory metrics)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from petrostream.metrics.base import MetricPoint

THRESHOLD_PA = 3.0e7


@dataclass(frozen=True)
class FakeAlert:
    alert_id: str
    well_id: str
    rule: str
    severity: str
    status: str
    message: str
    ts: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ThresholdEngine:
    """Opens one alert per well when p_pdg crosses 300 bar, closes it below; state is JSON."""

    def load_state(self, data: bytes | None) -> dict[str, Any]:
        return json.loads(data) if data else {"seen": 0, "open": None}

    def dump_state(self, state: Any) -> bytes:
        return json.dumps(state).encode()

    def detect(
        self, state: Any, readings: Sequence[Mapping[str, Any]]
    ) -> tuple[Any, list[FakeAlert]]:
        state = dict(state)
        alerts = []
        for r in readings:
            state["seen"] += 1
            high = r.get("p_pdg", 0) > THRESHOLD_PA
            if high and state["open"] is None:
                state["open"] = f"{r['well_id']}:high:{r['ts']}"
                status = "open"
            elif not high and state["open"] is not None:
                status = "closed"
            else:
                continue
            alerts.append(
                FakeAlert(
                    state["open"], r["well_id"], "p_pdg_high", "critical", status, "hi", r["ts"]
                )
            )
            if status == "closed":
                state["open"] = None
        return state, alerts


class MemoryMetrics:
    def __init__(self) -> None:
        self.points: list[MetricPoint] = []

    def emit(self, point: MetricPoint) -> None:
        self.points.append(point)
