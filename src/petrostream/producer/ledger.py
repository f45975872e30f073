"""The replay ledger: which instances earlier replays put, so reruns never duplicate.

A small SQLite file under the home (`Settings.replay_ledger_path`). Before its first
put a replay writes a *run* (its clock: timeline start, ``ts`` origin, speed, mode,
each instance's lead) and every instance as ``partial``; a run that ends cleanly
marks its instances ``done``.

Exactly once through ``kill -9``: the ledger never has to be written together with
a put. The stream itself is the record of what was put: `Ledger.put_counts` reads
each shard from the run's start (``AT_TIMESTAMP``) and counts, per instance, the
records the run put (one record per reading, each instance's readings in file
order). ``--resume`` skips that many readings of each instance and continues the
run's own timeline, so the resumed readings get the very ``ts`` the run would have
given them. This holds while one replay of an instance runs at a time (the ledger
refuses a second one) and the stream keeps the run's records (retention).

An instance is known by its resolved path, size and modification time: an edited
file is a new instance.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np

from petrostream.aggregate import deaggregate, is_aggregated
from petrostream.dataset.base import Instance
from petrostream.errors import ConfigError, InvalidRecord
from petrostream.producer.clock import ClockMode, Schedule
from petrostream.sqlite import open_wal
from petrostream.stream.base import IteratorType, Stream

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    clock TEXT NOT NULL,            -- JSON: start_ms, ts0_ms, speed, mode
    stream TEXT NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS instances (
    fingerprint TEXT PRIMARY KEY,   -- resolved path, size, mtime
    instance_id TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    lead_ms INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('partial', 'done'))
);
"""
_INSTANCE_ID: Final = re.compile(rb'"instance_id":"((?:[^"\\]|\\.)*)"')
_MARGIN: Final = timedelta(seconds=1)  # the iterator starts a little early; arrival decides


def fingerprint(instance: Instance) -> str:
    """Who an instance is to the ledger: resolved path, size, mtime (an edit is a new one)."""
    path = instance.path.resolve()
    try:
        stat = path.stat()
    except OSError:
        return f"{path}|?|?"
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


@dataclass(frozen=True)
class UnfinishedRun:
    """A run that did not end cleanly: what `--resume` continues.

    Attributes:
        run_id: the run.
        started: when it started (its first put came after).
        schedule_args: start_ms, ts0_ms, speed, mode of its timeline.
        leads: lead (ms) per ledger key.
        instance_ids: instance id per ledger key.
    """

    run_id: int
    started: datetime
    schedule_args: dict[str, object]
    leads: dict[str, int]
    instance_ids: dict[str, str]

    @property
    def speed(self) -> float:
        """The run's ``--speed``."""
        return float(self.schedule_args["speed"])  # type: ignore[arg-type]

    def schedule(self, keys: Sequence[str]) -> Schedule:
        """The run's timeline for the instances of ``keys`` (ledger keys, all in the run)."""
        leads = np.array([self.leads[k] for k in keys], dtype=np.int64)
        args = self.schedule_args
        return Schedule(
            leads=leads,
            ends=leads.copy(),
            ts0_ms=int(args["ts0_ms"]),  # type: ignore[call-overload]
            start_ms=int(args["start_ms"]),  # type: ignore[call-overload]
            speed=float(args["speed"]),  # type: ignore[arg-type]
            mode=ClockMode(str(args["mode"])),
        )


class Ledger:
    """What earlier replays into this home put (see the module docstring)."""

    def __init__(self, path: Path, scope: str) -> None:
        """Open (creating) the ledger at ``path``, for replays into ``scope`` (target:stream)."""
        self.path, self.scope = path, scope
        self.conn = open_wal(path, _SCHEMA)

    def key(self, instance: Instance) -> str:
        """The instance's row key: its fingerprint within this ledger's scope."""
        return f"{self.scope}|{fingerprint(instance)}"

    def close(self) -> None:
        """Close the file."""
        self.conn.close()

    def states(self, instances: Sequence[Instance]) -> dict[str, tuple[str, int]]:
        """Per fingerprint of ``instances`` the ledger knows: (state, run id)."""
        out: dict[str, tuple[str, int]] = {}
        for inst in instances:
            row = self.conn.execute(
                "SELECT state, run_id FROM instances WHERE fingerprint = ?", (self.key(inst),)
            ).fetchone()
            if row is not None:
                out[self.key(inst)] = (row[0], row[1])
        return out

    def unfinished(self, run_id: int) -> UnfinishedRun:
        """The unfinished run ``run_id``."""
        started_ms, clock = self.conn.execute(
            "SELECT started_ms, clock FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        rows = self.conn.execute(
            "SELECT fingerprint, instance_id, lead_ms FROM instances WHERE run_id = ?", (run_id,)
        ).fetchall()
        return UnfinishedRun(
            run_id,
            datetime.fromtimestamp(started_ms / 1000, UTC),
            json.loads(clock),
            {f: lead for f, _, lead in rows},
            {f: iid for f, iid, _ in rows},
        )

    def begin(
        self, instances: Sequence[Instance], schedule: Schedule, stream: Stream, started: datetime
    ) -> int:
        """Record a new run and its instances as ``partial``, before its first put."""
        clock = json.dumps(
            {
                "start_ms": schedule.start_ms,
                "ts0_ms": schedule.ts0_ms,
                "speed": schedule.speed,
                "mode": str(schedule.mode),
            }
        )
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            cur = self.conn.execute(
                "INSERT INTO runs (started_ms, clock, stream) VALUES (?, ?, ?)",
                (int(started.timestamp() * 1000), clock, stream.name),
            )
            run_id = int(cur.lastrowid or 0)
            self.conn.executemany(
                "INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?, 'partial')",
                [
                    (self.key(inst), inst.instance_id, run_id, int(schedule.leads[n]))
                    for n, inst in enumerate(instances)
                ],
            )
        return run_id

    def finish(
        self, run_id: int, done: Sequence[Instance], dropped: Sequence[Instance] = ()
    ) -> None:
        """Mark ``done`` instances of the run as fully put, forget ``dropped`` (never put)."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                "DELETE FROM instances WHERE fingerprint = ? AND run_id = ?",
                [(self.key(i), run_id) for i in dropped],
            )
            self.conn.executemany(
                "UPDATE instances SET state = 'done' WHERE fingerprint = ? AND run_id = ?",
                [(self.key(i), run_id) for i in done],
            )
            self.conn.execute("UPDATE runs SET finished = 1 WHERE run_id = ?", (run_id,))

    @staticmethod
    def put_counts(stream: Stream, since: datetime, instance_ids: set[str]) -> Counter[str]:
        """Records of ``instance_ids`` the stream holds from ``since`` on, per instance id."""
        counts: Counter[str] = Counter()
        for shard in stream.list_shards():
            iterator: str | None = stream.get_shard_iterator(
                shard.shard_id, IteratorType.AT_TIMESTAMP, timestamp=since - _MARGIN
            )
            while iterator:
                page = stream.get_records(iterator, limit=10_000)
                for record in page.records:
                    if record.arrival < since:
                        continue  # put before the run started
                    for data in _readings_of(record.data):
                        found = _INSTANCE_ID.search(data, 0, 400)
                        if found is None:
                            continue
                        iid = json.loads(b'"' + found.group(1) + b'"')
                        if iid in instance_ids:
                            counts[iid] += 1
                if not page.records:
                    break
                iterator = page.next_iterator
        return counts


def _readings_of(data: bytes) -> list[bytes]:
    """The readings a stream record holds: itself, or a KPL aggregate's (none if broken)."""
    if not is_aggregated(data):
        return [data]
    try:
        return deaggregate(data)
    except InvalidRecord:
        return []


@dataclass
class Plan:
    """What a replay into this home should do with the instances it was given.

    Attributes:
        instances: the instances to replay (in the run's order when resuming).
        skipped: instance ids already put by a finished replay.
        run: the unfinished run to continue (``--resume``), else None.
        skip: per instance of ``instances``, readings already put (resume).
    """

    instances: list[Instance]
    skipped: list[str]
    run: UnfinishedRun | None = None
    skip: list[int] | None = None


def plan(
    ledger: Ledger,
    instances: Sequence[Instance],
    stream: Stream,
    *,
    resume: bool = False,
    force: bool = False,
) -> Plan:
    """Decide what to replay: new instances; not those already put; the rest of a killed run.

    Raises:
        ConfigError: instances were partly put by a replay that did not finish and
            neither ``resume`` nor ``force`` says what to do; or ``resume`` has nothing
            to continue.
    """
    if force:
        return Plan(list(instances), [])
    states = ledger.states(instances)
    partial = [i for i in instances if states.get(ledger.key(i), ("",))[0] == "partial"]
    done = [i.instance_id for i in instances if states.get(ledger.key(i), ("",))[0] == "done"]
    if resume:
        if not partial:
            raise ConfigError(
                "--resume: no replay of these files was left unfinished"
                + (f" ({len(done)} already put; --force replays them again)" if done else "")
            )
        run = ledger.unfinished(max(states[ledger.key(i)][1] for i in partial))
        members = [i for i in instances if ledger.key(i) in run.leads]
        strangers = [i.instance_id for i in instances if ledger.key(i) not in run.leads]
        if strangers and any(s not in done for s in strangers):
            raise ConfigError(
                f"--resume continues the unfinished replay of {len(run.leads)} files; "
                f"{', '.join(strangers[:3])}{' ...' if len(strangers) > 3 else ''} were not "
                "part of it: replay them separately"
            )
        counts = ledger.put_counts(stream, run.started, {i.instance_id for i in members})
        return Plan(members, [], run, [counts[i.instance_id] for i in members])
    if partial:
        names = ", ".join(i.instance_id for i in partial[:3]) + (" ..." if len(partial) > 3 else "")
        raise ConfigError(
            f"{len(partial)} of these files were partly put by a replay that did not finish "
            f"({names}): add --resume to continue it without duplicates, or --force to "
            "replay them again (duplicating what was put)"
        )
    fresh = [i for i in instances if ledger.key(i) not in states]
    return Plan(fresh, done)
