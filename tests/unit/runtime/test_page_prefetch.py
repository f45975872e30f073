"""Reading ahead: a prefetched page is only a cache; delivery, retries and crashes are unchanged."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from petrostream import record
from petrostream.handlers.columnar import AheadDecoder, decode_batch
from petrostream.record import ColumnBudget
from petrostream.runtime.event_source import LocalEventSource, OnFailureFile, PagePrefetcher
from petrostream.stream.base import IteratorType, PutRecord
from petrostream.stream.local import LocalStream

T0 = datetime(2024, 5, 30, 10, tzinfo=UTC)
SHARD = "shardId-000000000000"


def put(stream: LocalStream, wells: int, n: int) -> None:
    """``n`` readings of each of ``wells`` wells (spread over the stream's shards)."""
    rows: list[dict[str, Any]] = [
        {
            "well_id": f"W-{w}",
            "ts": record.format_ts(T0 + timedelta(seconds=i)),
            "p_pdg": 2.0e7 + i,
        }
        for i in range(n)
        for w in range(wells)
    ]
    batch = [PutRecord(r["well_id"], record.encode(r)) for r in rows]
    for start in range(0, len(batch), 500):
        assert all(res.ok for res in stream.put_records(batch[start : start + 500]))


class ScriptedHandler:
    """A local handler: reports ``fail_once`` as failed, raises on ``raise_once``, once each.

    ``acked`` holds the records of every call that returned (done unless reported).
    """

    def __init__(self, fail_once: set[int] = frozenset(), raise_once: set[int] = frozenset()):  # type: ignore[assignment]
        self.fail_once = set(fail_once)
        self.raise_once = set(raise_once)
        self.handed: list[tuple[str, list[int]]] = []
        self.acked: list[tuple[str, int]] = []  # (shard, sequence number)
        self.crash_at: int | None = None

    def __call__(self, event: Mapping[str, Any], context: Any) -> Any:
        raise AssertionError("the local event source hands a local handler its records")

    def handle_records(self, records: Any, stream_arn: str) -> Any:
        seqs = list(records.sequence_numbers)
        self.handed.append((records.shard_id, seqs))
        if self.crash_at is not None and len(self.handed) == self.crash_at:
            raise Crash
        boom = self.raise_once.intersection(seqs)
        if boom:
            self.raise_once -= boom
            raise RuntimeError(f"bug on {sorted(boom)}")
        failed = sorted(self.fail_once.intersection(seqs))
        self.fail_once -= set(failed)
        done = [s for s in seqs if not failed or s < failed[0]]
        self.acked.extend((records.shard_id, s) for s in done)
        return {"batchItemFailures": [{"itemIdentifier": str(failed[0])}] if failed else []}


class Crash(BaseException):
    """Stands for the process dying in the middle of a batch."""


def all_seqs(stream: LocalStream) -> dict[str, list[int]]:
    out = {}
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, IteratorType.TRIM_HORIZON)
        out[shard.shard_id] = [
            int(r.sequence_number) for r in stream.get_records(it, limit=10_000).records
        ]
    return out


def event_source(
    stream: LocalStream, handler: Any, tmp_path: Path, consumer: str, *, ahead: bool
) -> LocalEventSource:
    prefetch = PagePrefetcher(LocalStream(stream.path), batch_size=10) if ahead else None
    return LocalEventSource(
        stream,
        stream,
        handler,
        on_failure=OnFailureFile(tmp_path / f"{consumer}-failures.jsonl"),
        consumer=consumer,
        batch_size=10,
        max_retries=1,
        sleep=lambda s: None,
        prefetch=prefetch,
    )


def test_reading_ahead_delivers_exactly_what_reading_in_turn_does(tmp_path: Path) -> None:
    # given two shards' backlog, one record reported failed once, one raising once,
    # and one failing for good (its retries run out: on-failure destination)
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    put(stream, wells=5, n=30)
    seqs = all_seqs(stream)
    big = max(seqs.values(), key=len)
    script = {"fail_once": {big[13], big[41]}, "raise_once": {big[25]}}
    forever = big[57]

    def run(consumer: str, *, ahead: bool) -> tuple[ScriptedHandler, LocalEventSource]:
        handler = ScriptedHandler(**script)
        handler.fail_once.add(forever)
        original = handler.handle_records

        def failing_forever(records: Any, arn: str) -> Any:
            answer = original(records, arn)
            if forever in records.sequence_numbers:
                handler.fail_once.add(forever)
            return answer

        handler.handle_records = failing_forever  # type: ignore[method-assign,assignment]
        src = event_source(stream, handler, tmp_path, consumer, ahead=ahead)
        src.run(drain=True)
        return handler, src

    # when one consumer reads in turn and another reads ahead
    plain, plain_src = run("plain", ahead=False)
    ahead, ahead_src = run("ahead", ahead=True)
    # then the handler was handed the same pages in the same order, the same records
    # were acknowledged, abandoned and checkpointed
    assert ahead_src.prefetch is not None and ahead_src.prefetch.hits > 0
    assert ahead.handed == plain.handed
    assert ahead.acked == plain.acked
    assert ahead_src.stats == plain_src.stats
    failures = [OnFailureFile(tmp_path / f"{c}-failures.jsonl").read() for c in ("plain", "ahead")]
    assert [[r["sequenceNumber"] for r in f["records"]] for f in failures[0]] == [
        [r["sequenceNumber"] for r in f["records"]] for f in failures[1]
    ]
    assert stream.checkpoints()["ahead"] == stream.checkpoints()["plain"]
    assert stream.checkpoints()["ahead"] == {s: str(v[-1]) for s, v in seqs.items()}


def test_a_crash_with_a_page_read_ahead_loses_nothing_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    # given a backlog, and a process that dies in the handler of its 5th batch (by then
    # the next pages were read ahead)
    stream = LocalStream(tmp_path / "stream.db", shard_count=2)
    put(stream, wells=4, n=30)
    handler = ScriptedHandler()
    handler.crash_at = 5
    src = event_source(stream, handler, tmp_path, "detector", ahead=True)
    with pytest.raises(Crash):
        src.run(drain=True)
    # then the reader thread is gone with it
    assert not [t for t in threading.enumerate() if t.name.startswith("page-prefetch")]
    # when a new process drains from the durable checkpoints
    handler.crash_at = None
    event_source(stream, handler, tmp_path, "detector", ahead=True).run(drain=True)
    # then every record was acknowledged exactly once, the crashed batch's included
    every = sorted((shard, s) for shard, v in all_seqs(stream).items() for s in v)
    assert sorted(handler.acked) == every
    assert len(set(handler.acked)) == len(handler.acked)


def test_a_prefetched_page_is_used_only_full_and_only_at_the_position_it_was_read_for(
    tmp_path: Path,
) -> None:
    stream = LocalStream(tmp_path / "stream.db", shard_count=1)
    put(stream, wells=1, n=15)
    [seqs] = all_seqs(stream).values()
    prefetch = PagePrefetcher(LocalStream(stream.path), batch_size=10)
    try:
        # a full page read for the trim horizon is given for the trim horizon only
        prefetch.schedule(SHARD, None)
        assert prefetch.take(SHARD, str(seqs[0])) is None  # another position: dropped
        prefetch.schedule(SHARD, None)
        page = prefetch.take(SHARD, None)
        assert page is not None and page.sequence_numbers == seqs[:10]
        assert prefetch.take(SHARD, None) is None  # taken once
        # a short page (the tip of the shard) is never given: it is read again then,
        # with whatever arrived since
        prefetch.schedule(SHARD, str(seqs[9]))
        put(stream, wells=1, n=1)
        assert prefetch.take(SHARD, str(seqs[9])) is None
        assert prefetch.hits == 1
    finally:
        prefetch.close()
        prefetch.reader.close()


def test_pages_parsed_ahead_admit_their_new_columns_in_stream_order() -> None:
    # given two pages, each with a new column, a budget of one new column, and the
    # second page parsed ahead before the first is handled
    def page(column: str) -> list[bytes]:
        return [
            record.encode(
                {"well_id": "W-1", "ts": record.format_ts(T0 + timedelta(seconds=i)), column: 1.0}
            )
            for i in range(200)
        ]

    first, second = page("x_first"), page("x_second")
    decoder = AheadDecoder()
    decoder.prepare(second)
    decoder.prepare(first)
    budget, plain_budget = ColumnBudget(1), ColumnBudget(1)
    # when the handler decodes them in stream order
    got = [decoder(first, budget), decoder(second, budget)]
    want = [decode_batch(first, plain_budget), decode_batch(second, plain_budget)]
    # then the first page's column is admitted and the second page is in doubt, as
    # when neither was parsed ahead; both came from the pages parsed ahead
    assert got[0] is not None and want[0] is not None
    assert got[0]["W-1"].batch.table.column("x_first").to_pylist() == [1.0] * 200
    assert len(got[0]["W-1"]) == len(want[0]["W-1"]) == 200
    assert got[1] is None and want[1] is None
    assert (decoder.hits, decoder.misses) == (2, 0)
    # and data not prepared (a slice after a failure) is decoded then
    assert decoder(first[:150], ColumnBudget(1)) is not None
    assert decoder.misses == 1
