"""What a replay reports: progress snapshots, the summary, and the rejected rows' file."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from petrostream.dataset.base import Reject


@dataclass(frozen=True)
class Progress:
    """A progress snapshot, handed to the ``progress`` callback about once a second."""

    files: int
    files_done: int
    rows_read: int
    records_put: int
    rejects: int
    retries: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Records put per second so far."""
        return self.records_put / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class ReplaySummary:
    """What a replay did (also what an interrupted or failed one got done).

    Attributes:
        files: instances given.
        files_done: instances fully read and delivered.
        rows_read: data rows read (rejected rows not included).
        records_put: records the stream accepted.
        rejects: rejected rows by reason code (``bad_number``...).
        rejects_path: the JSON-lines file holding every rejected row, if any.
        retries: records sent again after the stream refused them.
        put_calls: ``put_records`` calls.
        aggregates: stream records that carried the readings when aggregating, else None.
        reordered: records the stream accepted ahead of an earlier, refused record
            of the same well in the same call (Kinesis does not promise per-key
            order inside a failed ``PutRecords``); 0 on the local stream.
        elapsed: seconds, by the replay clock.
        per_instance: records put per instance id, in input order.
        per_well: records put per well id.
        undelivered: records given up on (retries exhausted), per instance id.
        interrupted: the replay was stopped by Ctrl-C or SIGTERM.
        error: why the replay stopped early, if it did.
        failed_files: files given up on (unreadable, or a well id the lake refuses),
            path -> why; the other files went on.
        odd_timestamps: per instance id, (repeated, backward) source timestamps, where any.
        skipped: instances not replayed because a replay already put them (ledger).
        resumed: records not put again because a killed replay had put them, per instance.
        clock: which time ``ts`` carries (``now`` or ``source``).
        ts_first: the earliest ``ts`` put, if any (``YYYY-MM-DD HH:MM:SS.mmm``).
        ts_last: the latest ``ts`` put, if any.
    """

    files: int = 0
    files_done: int = 0
    rows_read: int = 0
    records_put: int = 0
    rejects: dict[str, int] = field(default_factory=dict)
    rejects_path: Path | None = None
    retries: int = 0
    put_calls: int = 0
    aggregates: int | None = None
    reordered: int = 0
    elapsed: float = 0.0
    per_instance: dict[str, int] = field(default_factory=dict)
    per_well: dict[str, int] = field(default_factory=dict)
    undelivered: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    error: str | None = None
    failed_files: dict[str, str] = field(default_factory=dict)
    odd_timestamps: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    resumed: dict[str, int] = field(default_factory=dict)
    clock: str = "now"
    ts_first: str | None = None
    ts_last: str | None = None

    @property
    def rate(self) -> float:
        """Records put per second."""
        return self.records_put / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def reject_count(self) -> int:
        """Rejected rows in all."""
        return sum(self.rejects.values())

    def lines(self) -> list[str]:
        """The summary as short human lines."""
        rejects = ", ".join(f"{k} {v:,}" for k, v in sorted(self.rejects.items())) or "none"
        out = [
            f"files      {self.files_done}/{self.files} done",
            f"rows read  {self.rows_read:,}",
            f"records    {self.records_put:,} put in {self.put_calls:,} calls"
            + (
                f" ({self.aggregates:,} aggregated stream records)"
                if self.aggregates is not None
                else ""
            ),
            f"rejects    {self.reject_count:,} ({rejects})"
            + (f" -> {self.rejects_path}" if self.rejects_path else ""),
            f"retries    {self.retries:,}"
            + (f", {self.reordered:,} reordered" * bool(self.reordered)),
            f"elapsed    {self.elapsed:.1f} s ({self.rate:,.0f} records/s)",
        ]
        if self.ts_first and self.ts_last:
            out.append(f"ts         {self.ts_first} .. {self.ts_last} (clock {self.clock})")
        if self.skipped:
            out.append(
                f"skipped    {len(self.skipped):,} instances already replayed "
                "(--force replays them again)"
            )
        if self.resumed:
            out.append(
                f"resumed    {sum(self.resumed.values()):,} records already put, not sent again"
            )
        if self.odd_timestamps:
            repeated = sum(r for r, _ in self.odd_timestamps.values())
            backward = sum(b for _, b in self.odd_timestamps.values())
            out.append(
                f"timestamps {repeated:,} repeated, {backward:,} going back "
                f"in {len(self.odd_timestamps):,} instances (put in file order)"
            )
        for path, why in self.failed_files.items():
            out.append(f"SKIPPED FILE {path}: {why}")
        if self.undelivered:
            lost = ", ".join(f"{k} {v:,}" for k, v in self.undelivered.items())
            out.append(f"NOT DELIVERED {sum(self.undelivered.values()):,} records: {lost}")
        return out


class ReplayInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped the replay between two puts; ``summary`` says how far it got."""

    def __init__(self, summary: ReplaySummary) -> None:
        super().__init__("replay interrupted")
        self.summary = summary


class RejectLog:
    """Counts rejected rows by reason and writes each as a JSON line (file created on the first).

    A row whose bytes are not UTF-8 keeps them losslessly: ``raw`` is the text with
    undecodable bytes replaced (for reading), ``raw_base64`` the original bytes.
    """

    def __init__(self, target: Path | None) -> None:
        """Write to ``target`` (None: count only)."""
        self.target = target
        self.counts: Counter[str] = Counter()
        self.path: Path | None = None
        self._file: IO[str] | None = None

    def add(self, rejects: Iterable[Reject]) -> None:
        """Count and write ``rejects``."""
        for reject in rejects:
            self.counts[reject.code] += 1
            if self.target is None:
                continue
            if self._file is None:
                self.target.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.target.open("a", encoding="utf-8")
                self.path = self.target
            row: dict[str, object] = {
                "file": reject.file,
                "line": reject.line,
                "reason": reject.reason,
                "raw": reject.raw,
            }
            if reject.raw_bytes is not None:
                row["raw_base64"] = base64.b64encode(reject.raw_bytes).decode("ascii")
            self._file.write(json.dumps(row) + "\n")

    @property
    def total(self) -> int:
        """Rejected rows so far."""
        return sum(self.counts.values())

    def close(self) -> None:
        """Close the file, if one was opened."""
        if self._file is not None:
            self._file.close()
            self._file = None


def rejects_file_for(home: Path, moment: datetime) -> Path:
    """``<home>/rejects/replay-<UTC timestamp>.jsonl``, the replay's dead-letter file."""
    return home / "rejects" / f"replay-{moment.astimezone(UTC):%Y%m%dT%H%M%S}Z.jsonl"
