"""The replay producer: 3W instances in, one JSON record per reading out to a stream.

One module per reason to change:

- `clock`: which event time (``ts``) each reading gets and when it is due;
- `merge`: the time-ordered merge of every instance's rows, in chunks;
- `encoding`: DESIGN's JSON records, built column-wise;
- `delivery`: ``PutRecords`` batches with retries of the refused records only;
- `forked`: the reader process that reads and encodes while the parent puts;
- `summary`: progress, the summary and the rejected rows' file;
- `ledger`: what earlier replays put, so that a rerun does not duplicate and a
  killed one resumes;
- `replayer`: `replay`, which drives them.

Pure of CLI concerns: the caller opens the stream, chooses the clock and renders
progress; the CLI verb lives in `petrostream.cli.replay`.
"""

from __future__ import annotations

from petrostream.producer.clock import (
    ALIGN,
    INSTANCE_GAP,
    Clock,
    ClockMode,
    Schedule,
    SystemClock,
    check_speed,
)
from petrostream.producer.delivery import DeliveryError, RetryPolicy
from petrostream.producer.encoding import encode_records, encode_tail, format_ms, record_head
from petrostream.producer.replayer import replay, well_id_problem
from petrostream.producer.summary import (
    Progress,
    ReplayInterrupted,
    ReplaySummary,
    rejects_file_for,
)

__all__ = [
    "ALIGN",
    "INSTANCE_GAP",
    "Clock",
    "ClockMode",
    "DeliveryError",
    "Progress",
    "ReplayInterrupted",
    "ReplaySummary",
    "RetryPolicy",
    "Schedule",
    "SystemClock",
    "check_speed",
    "encode_records",
    "encode_tail",
    "format_ms",
    "record_head",
    "rejects_file_for",
    "replay",
    "well_id_problem",
]
