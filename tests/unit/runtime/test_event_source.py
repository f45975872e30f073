"""The local event source: AWS-shaped events, batchItemFailures, bisect, retries, crash safety."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from petrostream import record
from petrostream.handlers.process_stream import make_handler
from petrostream.runtime.detector import build_local_backends
from petrostream.runtime.event_source import LocalEventSource, OnFailureFile, local_stream_arn
from petrostream.settings import Settings
from petrostream.stream.base import PutRecord, RecordPage
from petrostream.stream.local import LocalStream
from petrostream.testing.notifier import RecordingNotifier

EVENTS = Path(__file__).resolve().parents[2] / "events"
T0 = datetime(2024, 5, 30, 10, tzinfo=UTC)


def readings(well: str, n: int, *, step_at: int | None = None) -> list[dict[str, Any]]:
    return [
        {
            "well_id": well,
            "ts": record.format_ts(T0 + timedelta(seconds=i)),
            "p_pdg": 2.0e7
            + (i % 3) * 1000
            + (2.0e6 if step_at is not None and i >= step_at else 0),
        }
        for i in range(n)
    ]


def put(
    stream: LocalStream, rows: list[dict[str, Any]], raw: dict[int, bytes] | None = None
) -> None:
    raw = raw or {}
    batch = [PutRecord(r["well_id"], raw.get(i, record.encode(r))) for i, r in enumerate(rows)]
    for start in range(0, len(batch), 500):
        assert all(res.ok for res in stream.put_records(batch[start : start + 500]))


class Recorder:
    """A handler that records each event's sequence numbers and answers from a script."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[list[str]] = []
        self.events: list[Mapping[str, Any]] = []
        self.answer = answer

    def __call__(self, event: Mapping[str, Any], context: Any) -> Any:
        self.events.append(event)
        seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
        self.calls.append(seqs)
        if callable(self.answer):
            return self.answer(event, seqs)
        return {"batchItemFailures": []}


@pytest.fixture
def stream(tmp_path: Path) -> LocalStream:
    return LocalStream(tmp_path / "stream.db", shard_count=1)


def source(stream: LocalStream, handler: Any, tmp_path: Path, **kw: Any) -> LocalEventSource:
    return LocalEventSource(
        stream,
        stream,
        handler,
        on_failure=OnFailureFile(tmp_path / "failures.jsonl"),
        sleep=lambda s: None,
        **kw,
    )


def all_seqs(stream: LocalStream) -> list[str]:
    shard = stream.list_shards()[0].shard_id
    it = stream.get_shard_iterator(shard, "TRIM_HORIZON")  # type: ignore[arg-type]
    return [r.sequence_number for r in stream.get_records(it, limit=10_000).records]


def test_events_have_exactly_the_aws_shape_and_the_batch_size(
    stream: LocalStream, tmp_path: Path
) -> None:
    # given 250 readings and a batch size of 100
    put(stream, readings("WELL-00001", 250))
    handler = Recorder()
    # when the source drains the stream
    source(stream, handler, tmp_path, batch_size=100).run(drain=True)
    # then batches of 100, 100, 50, in order, each record shaped like the canned AWS event
    assert [len(c) for c in handler.calls] == [100, 100, 50]
    assert sum(handler.calls, []) == all_seqs(stream)
    canned = json.loads((EVENTS / "kinesis_batch.json").read_text())["Records"][0]
    got = handler.events[0]["Records"][0]
    assert got.keys() == canned.keys()
    assert got["kinesis"].keys() == canned["kinesis"].keys()
    assert got["eventName"] == "aws:kinesis:record"
    assert got["eventSourceARN"] == local_stream_arn(stream.name)
    assert isinstance(got["kinesis"]["approximateArrivalTimestamp"], float)
    assert got["eventID"] == f"shardId-000000000000:{got['kinesis']['sequenceNumber']}"
    decoded = record.decode(base64.b64decode(got["kinesis"]["data"]))
    assert decoded["well_id"] == "WELL-00001"
    # and the checkpoint is at the last record
    assert stream.get_checkpoint("detector", "shardId-000000000000") == all_seqs(stream)[-1]


def test_batch_item_failures_resume_from_the_lowest_failed_sequence(
    stream: LocalStream, tmp_path: Path
) -> None:
    # given a handler that, on its first call, reports records 7 and 5 as failed
    put(stream, readings("WELL-00001", 10))
    seqs = all_seqs(stream)

    def answer(event: Any, got: list[str]) -> Any:
        if len(handler.calls) == 1:
            return {"batchItemFailures": [{"itemIdentifier": seqs[7]}, {"itemIdentifier": seqs[5]}]}
        return {"batchItemFailures": []}

    handler = Recorder(answer)
    # when
    src = source(stream, handler, tmp_path)
    src.run(drain=True)
    # then the retry starts at record 5; records 0-4 are never delivered again
    assert handler.calls == [seqs, seqs[5:]]
    assert src.stats.retries == 1


def test_a_raising_handler_is_bisected_and_the_poison_record_goes_to_on_failure(
    stream: LocalStream, tmp_path: Path
) -> None:
    # given a handler that raises whenever its batch holds the poison record (index 5 of 8)
    put(stream, readings("WELL-00001", 8), raw={5: b"poison"})
    seqs = all_seqs(stream)
    ok: list[str] = []

    def answer(event: Any, got: list[str]) -> Any:
        if seqs[5] in got:
            raise RuntimeError("boom")
        ok.extend(got)
        return None  # a handler without ReportBatchItemFailures: all succeeded

    handler = Recorder(answer)
    # when
    src = source(stream, handler, tmp_path, max_retries=2)
    src.run(drain=True)
    # then every other record succeeded exactly once, in order
    assert ok == [s for i, s in enumerate(seqs) if i != 5]
    # and the poison record alone was retried, then abandoned with its metadata and data
    [failure] = OnFailureFile(tmp_path / "failures.jsonl").read()
    info = failure["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (seqs[5], seqs[5])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert base64.b64decode(failure["records"][0]["data"]) == b"poison"
    assert "RuntimeError: boom" in failure["responseContext"]["functionError"]
    assert src.stats.bisections >= 3
    assert stream.get_checkpoint("detector", "shardId-000000000000") == seqs[-1]


def test_retries_stop_at_the_maximum(stream: LocalStream, tmp_path: Path) -> None:
    # given a handler that always reports record 3 as failed
    put(stream, readings("WELL-00001", 6))
    seqs = all_seqs(stream)
    handler = Recorder(lambda event, got: {"batchItemFailures": [{"itemIdentifier": seqs[3]}]})
    # when the maximum is 2 retries
    src = source(stream, handler, tmp_path, max_retries=2)
    src.run(drain=True)
    # then 1 call + 2 retries, then records 3..5 go to the on-failure destination
    assert handler.calls == [seqs, seqs[3:], seqs[3:]]
    [failure] = OnFailureFile(tmp_path / "failures.jsonl").read()
    assert [r["sequenceNumber"] for r in failure["records"]] == seqs[3:]
    assert (src.stats.failed_batches, src.stats.failed_records) == (1, 3)


class PageRecorder:
    """A local handler (``handle_records``): records what it is handed, fails one record."""

    def __init__(self, failing: str) -> None:
        self.failing = failing
        self.handed: list[Any] = []

    def __call__(self, event: Mapping[str, Any], context: Any) -> Any:
        raise AssertionError("the local event source hands a local handler its records")

    def handle_records(self, records: Any, stream_arn: str) -> Any:
        self.handed.append(records)
        seqs = [r.sequence_number for r in records]
        failures = [{"itemIdentifier": self.failing}] if self.failing in seqs else []
        return {"batchItemFailures": failures}


def test_a_local_handler_gets_pages_and_their_failures_keep_the_mapping_semantics(
    stream: LocalStream, tmp_path: Path
) -> None:
    # given two wells' records (two partition keys) and a local handler failing record 6
    one, two = readings("W-1", 5), readings("W-2", 5)
    put(stream, [r for pair in zip(one, two, strict=True) for r in pair])
    seqs = all_seqs(stream)
    handler = PageRecorder(seqs[6])
    # when the source drains the stream with one retry
    src = source(stream, handler, tmp_path, max_retries=1)
    src.run(drain=True)
    # then the handler got the stream's pages (columns, no record objects), the retry
    # resumed at record 6, and records 6-9 went to the on-failure destination with their keys
    assert all(isinstance(page, RecordPage) for page in handler.handed)
    assert [p.sequence_numbers for p in handler.handed] == [
        list(map(int, seqs)),
        list(map(int, seqs[6:])),
    ]
    [failure] = OnFailureFile(tmp_path / "failures.jsonl").read()
    assert [(r["sequenceNumber"], r["partitionKey"]) for r in failure["records"]] == [
        (seqs[i], ("W-1", "W-2")[i % 2]) for i in range(6, 10)
    ]
    assert stream.get_checkpoint("detector", "shardId-000000000000") == seqs[-1]
    assert (src.stats.failed_records, src.stats.records_delivered) == (4, 10)


class Crash(BaseException):
    """Stands for the process dying (kill -9) right after the handler returned."""


class CrashingCheckpoints:
    def __init__(self, inner: LocalStream) -> None:
        self.inner = inner

    def get_checkpoint(self, consumer: str, shard_id: str) -> str | None:
        return self.inner.get_checkpoint(consumer, shard_id)

    def set_checkpoint(self, consumer: str, shard_id: str, sequence_number: str) -> None:
        raise Crash

    def checkpoints(self) -> dict[str, dict[str, str]]:
        return self.inner.checkpoints()


def test_a_crash_between_handler_and_checkpoint_redelivers_without_double_alerts(
    settings: Settings, tmp_path: Path
) -> None:
    # given a well whose pressure steps up (one pressure_jump alert), the real handler
    stream = LocalStream(settings.stream_path, shard_count=1)
    put(stream, readings("WELL-00001", 100, step_at=60))
    rec = RecordingNotifier()
    backends, _ = build_local_backends(settings, notifiers=[rec])
    calls: list[list[str]] = []
    real = make_handler(backends)

    def handler(event: Mapping[str, Any], context: Any) -> Any:
        calls.append([r["kinesis"]["sequenceNumber"] for r in event["Records"]])
        return real(event, context)

    # when the process dies after the handler ran but before the checkpoint
    crashing = LocalEventSource(
        stream, CrashingCheckpoints(stream), handler, on_failure=OnFailureFile(tmp_path / "f")
    )
    with pytest.raises(Crash):
        crashing.poll_once()
    alerts_before = list(rec.keys)
    # and a new process starts from the durable checkpoint
    source(stream, handler, tmp_path).run(drain=True)
    # then the records were re-delivered (none skipped) and no alert was sent twice
    assert calls[0] == calls[1] == all_seqs(stream)
    assert alerts_before and [k for k in alerts_before if "open" in k]
    assert rec.keys == alerts_before
    assert stream.get_checkpoint("detector", "shardId-000000000000") == all_seqs(stream)[-1]
