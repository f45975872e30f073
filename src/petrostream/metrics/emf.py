"""CloudWatch embedded metric format (EMF): one JSON line per point on stdout.

Lambda ships stdout to CloudWatch Logs, which extracts the metrics without any
API call: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from petrostream.metrics.base import NAMESPACE, UNITS, MetricPoint


def emf_document(point: MetricPoint, *, namespace: str = NAMESPACE) -> dict[str, Any]:
    """The EMF object for one point (dimension values become top-level members)."""
    metrics = [{"Name": name, "Unit": UNITS.get(name, "None")} for name in point.values]
    return {
        "_aws": {
            "Timestamp": int(point.ts.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(point.dimensions)],
                    "Metrics": metrics,
                }
            ],
        },
        **point.dimensions,
        **point.values,
    }


class EmfMetrics:
    """Writes each point as one EMF JSON line to ``out`` (stdout by default)."""

    def __init__(self, out: TextIO | None = None, *, namespace: str = NAMESPACE) -> None:
        self._out = out
        self.namespace = namespace

    def emit(self, point: MetricPoint) -> None:
        """Print the point; an I/O error is swallowed (metrics never fail a batch)."""
        out = self._out if self._out is not None else sys.stdout
        try:
            out.write(json.dumps(emf_document(point, namespace=self.namespace)) + "\n")
            out.flush()
        except (OSError, ValueError):  # closed or full stdout
            return
