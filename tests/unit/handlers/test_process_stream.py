"""The Lambda handler on canned real-shape Kinesis events (tests/events/)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from handler_fakes import MemoryMetrics, ThresholdEngine

from petrostream.alerts.dispatch import OutboxNotifier
from petrostream.alerts.store import AlertStore
from petrostream.errors import TransientError
from petrostream.handlers.base import DeadLetter, StateConflict
from petrostream.handlers.local_backends import SqliteDeadLetters, SqliteStateStore
from petrostream.handlers.process_stream import Backends, handle_event, make_handler
from petrostream.metrics import base as metric
from petrostream.testing.notifier import FailingNotifier, RecordingNotifier

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def seqs(event: dict[str, Any], *indexes: int) -> list[str]:
    return [event["Records"][i]["kinesis"]["sequenceNumber"] for i in indexes]


@pytest.fixture
def backends(tmp_path: Path) -> Backends:
    return Backends(
        state=SqliteStateStore(tmp_path / "realtime.db"),
        notifier=RecordingNotifier(),
        dead_letters=SqliteDeadLetters(tmp_path / "realtime.db"),
        metrics=MemoryMetrics(),
        engine=ThresholdEngine(),
        clock=lambda: 1717063300.0,
    )


def test_a_batch_raises_one_alert_and_reports_no_failure(backends: Backends) -> None:
    # given a batch whose third reading crosses the threshold
    event = load_event("kinesis_batch.json")
    # when
    response = make_handler(backends)(event, None)
    # then
    assert response == {"batchItemFailures": []}
    notifier = backends.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert notifier.keys == ["WELL-00011:high:2024-05-30 10:00:02.000:open"]
    stored = backends.state.load("WELL-00011")
    assert stored.version == 1
    assert stored.positions == {"shardId-000000000000": seqs(event, 2)[0]}
    [point] = backends.metrics.points  # type: ignore[attr-defined]
    assert point.values[metric.RECORDS_PROCESSED] == 3
    assert point.values[metric.ALERTS_RAISED] == 1
    assert point.values[metric.ITERATOR_AGE] == pytest.approx(97_877, abs=1)  # clock - last arrival
    assert point.dimensions == {"StreamName": "petrostream"}


def test_a_redelivered_batch_neither_redetects_nor_realerts(backends: Backends) -> None:
    # given a batch already processed (e.g. the checkpoint was lost in a crash)
    event = load_event("kinesis_batch.json")
    handle_event(event, backends)
    # when it is delivered again
    report = handle_event(event, backends)
    # then nothing is processed twice and no alert is sent twice
    assert (report.processed, report.duplicates, report.failures) == (0, 3, [])
    assert len(backends.notifier.calls) == 1  # type: ignore[attr-defined]
    assert backends.engine.load_state(backends.state.load("WELL-00011").data)["seen"] == 3


def test_bad_records_go_to_dead_letters_and_never_block_the_shard(backends: Backends) -> None:
    # given a batch with invalid JSON and a record without well_id between good ones
    event = load_event("kinesis_bad_record.json")
    # when
    report = handle_event(event, backends)
    # then the good records are processed, the bad ones dead-lettered with reasons
    assert report.failures == []
    assert report.processed == 2
    dead = backends.dead_letters
    assert isinstance(dead, SqliteDeadLetters)
    assert dead.count_by_reason() == {"bad_json": 1, "missing_field": 1}
    letter = next(d for d in dead.list() if d.reason == "missing_field")
    assert letter.sequence_number == seqs(event, 2)[0]
    assert letter.data.startswith(b'{"ts"')
    assert backends.metrics.points[0].values[metric.DEAD_LETTER_RECORDS] == 2  # type: ignore[attr-defined]


def test_broken_base64_is_a_dead_letter(backends: Backends) -> None:
    event = load_event("kinesis_batch.json")
    event["Records"][1]["kinesis"]["data"] = "!!not base64!!"
    report = handle_event(event, backends)
    assert [d.reason for d in report.dead_letters] == ["bad_base64"]
    assert report.failures == []


def test_partial_failure_reports_first_failed_record_and_all_after_in_its_shard(
    backends: Backends,
) -> None:
    # given two wells interleaved on shard 0 (11 at even, 16 at odd positions), one on shard 1,
    # and a notifier that cannot deliver WELL-00016's alert
    event = load_event("kinesis_partial_failure.json")
    failing = FailingNotifier(fail_for=frozenset({"WELL-00016:high:2024-05-30 10:00:03.000"}))
    backends.notifier = failing
    # when
    report = handle_event(event, backends)
    # then shard 0 is retried from WELL-00016's first record (index 1) to its end; shard 1 is done
    assert report.response()["batchItemFailures"] == [
        {"itemIdentifier": s} for s in seqs(event, 1, 2, 3, 4, 5)
    ]
    assert [a.well_id for a in failing.delivered] == ["WELL-00011"]

    # when Lambda retries from the lowest reported sequence number and delivery now works
    retry = copy.deepcopy(event)
    retry["Records"] = event["Records"][1:6]
    failing.fail_for = frozenset()
    second = handle_event(retry, backends)
    # then WELL-00011's records are skipped, WELL-00016 alerts once, nothing is repeated
    assert second.failures == []
    assert second.duplicates == 2
    assert [a.well_id for a in failing.delivered] == ["WELL-00011", "WELL-00016"]
    assert backends.engine.load_state(backends.state.load("WELL-00011").data)["seen"] == 3


class FlakyAlertStore(AlertStore):
    """An alert store whose first ``down`` batch writes fail as a whole."""

    def __init__(self, path: Path, down: int) -> None:
        super().__init__(path)
        self.down = down
        self.batches: list[list[str]] = []

    def record_all(self, alerts: Any, **kwargs: Any) -> int:
        self.batches.append([a.well_id for a in alerts])
        if self.down:
            self.down -= 1
            raise TransientError("alert store unreachable")
        return super().record_all(alerts, **kwargs)


def test_the_outbox_gets_each_wells_new_alerts_in_one_call_and_a_failure_retries_them(
    tmp_path: Path, backends: Backends
) -> None:
    # given the local outbox over a recording notifier, its store down for one write
    store = FlakyAlertStore(tmp_path / "alerts.db", down=1)
    rec = RecordingNotifier()
    backends.notifier = OutboxNotifier(store, [rec], sleep=lambda s: None)
    event = load_event("kinesis_partial_failure.json")
    # when the batch is handled: the first well's write fails, the others' succeed
    report = handle_event(event, backends)
    # then one store write per well with alerts; the failed well's records are retried
    assert store.batches == [["WELL-00011"], ["WELL-00016"]]
    assert report.failures == seqs(event, 0, 1, 2, 3, 4, 5)
    assert [key.split(":")[0] for key in rec.keys] == ["WELL-00016"]
    # when Lambda retries shard 0 and the store is back
    retry = copy.deepcopy(event)
    retry["Records"] = event["Records"][:6]
    second = handle_event(retry, backends)
    # then WELL-00011 alerts once, WELL-00016's alert (notified already) is not sent again
    assert second.failures == []
    assert [key.split(":")[0] for key in rec.keys] == ["WELL-00016", "WELL-00011"]
    assert [d.state for d in store.deliveries()] == ["sent", "sent"]


class ConflictingState(SqliteStateStore):
    def save(self, *args: Any, **kwargs: Any) -> int:
        raise StateConflict("newer state exists")


def test_a_state_conflict_fails_the_wells_records(tmp_path: Path, backends: Backends) -> None:
    backends.state = ConflictingState(tmp_path / "other.db")
    event = load_event("kinesis_batch.json")
    report = handle_event(event, backends)
    assert report.failures == seqs(event, 0, 1, 2)
    assert "newer state exists" in report.errors[0]


class DownDeadLetters:
    def put(self, letters: list[DeadLetter]) -> None:
        raise TransientError("queue unreachable")


def test_dead_letters_that_cannot_be_stored_are_retried(backends: Backends) -> None:
    # given the dead-letter sink is down
    backends.dead_letters = DownDeadLetters()
    event = load_event("kinesis_bad_record.json")
    # when
    report = handle_event(event, backends)
    # then the first bad record and everything after it on the shard are retried
    assert report.failures == seqs(event, 1, 2, 3)


def test_a_bug_in_detection_fails_only_that_wells_records(backends: Backends) -> None:
    class Buggy(ThresholdEngine):
        def detect(self, state: Any, readings: Any) -> Any:
            if readings[0]["well_id"] == "WELL-00014":
                raise ZeroDivisionError("bug")
            return super().detect(state, readings)

    backends.engine = Buggy()
    event = load_event("kinesis_partial_failure.json")
    report = handle_event(event, backends)
    assert report.failures == seqs(event, 6, 7, 8)  # shard 1 only


def test_importing_the_handler_imports_neither_duckdb_nor_pyarrow() -> None:
    code = (
        "import petrostream.handlers.process_stream, sys; "
        "assert 'pyarrow' not in sys.modules and 'duckdb' not in sys.modules; "
        "assert 'pydantic' not in sys.modules and 'numpy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_stale_cached_state_cannot_clobber_newer_state(tmp_path: Path) -> None:
    # given two warm containers sharing one state table, each with its own state cache
    def container() -> Backends:
        return Backends(
            state=SqliteStateStore(tmp_path / "shared.db"),
            notifier=RecordingNotifier(),
            dead_letters=SqliteDeadLetters(tmp_path / "shared.db"),
            metrics=MemoryMetrics(),
            engine=ThresholdEngine(),
        )

    a, b = container(), container()
    event = load_event("kinesis_batch.json")
    first, second, third = (dict(event, Records=[r]) for r in event["Records"])
    handle_event(first, a)  # a caches version 1
    handle_event(second, b)  # b moves the well to version 2
    # when a processes the next record from its stale cache
    stale = handle_event(third, a)
    # then its conditional write is refused and the record is reported for retry
    assert stale.failures == seqs(event, 2)
    assert a.state.load("WELL-00011").version == 2
    # and the retry reads the newer state and completes it
    retried = handle_event(third, a)
    assert retried.failures == []
    assert a.engine.load_state(a.state.load("WELL-00011").data)["seen"] == 3


class _BatchRecorder(RecordingNotifier):
    """A `BatchNotifier`: counts its ``notify_all`` calls."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0

    def notify_all(self, alerts: Any) -> None:
        self.batches += 1
        for alert in alerts:
            self.notify(alert)


def test_a_notifier_replaced_between_batches_is_called_as_what_it_is(tmp_path: Path) -> None:
    # the handler checks once per notifier whether it takes a well's alerts together
    event = load_event("kinesis_batch.json")
    backends = Backends(
        state=SqliteStateStore(tmp_path / "realtime.db"),
        notifier=_BatchRecorder(),
        dead_letters=SqliteDeadLetters(tmp_path / "realtime.db"),
        metrics=MemoryMetrics(),
        engine=ThresholdEngine(),
    )
    first = backends.notifier
    assert isinstance(first, _BatchRecorder)
    handle_event(event, backends)
    assert (first.batches, len(first.keys)) == (1, 1)
    # when the notifier is replaced by a plain one (and the state forgotten: alert again)
    plain = RecordingNotifier()
    backends.notifier = plain
    backends.state = SqliteStateStore(tmp_path / "other.db")
    backends.cache.clear()
    handle_event(event, backends)
    # then the plain one gets its alert through notify, the first one nothing more
    assert len(plain.keys) == 1
    assert first.batches == 1
