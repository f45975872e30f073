"""Issue 16.1: the detector's state is one object per shard, written once per batch."""

from __future__ import annotations

import copy
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from handler_fakes import MemoryMetrics, ThresholdEngine

from petrostream.errors import TransientError
from petrostream.handlers.base import StateConflict
from petrostream.handlers.local_backends import SqliteDeadLetters, SqliteStateStore
from petrostream.handlers.process_stream import Backends, handle_event
from petrostream.handlers.shard_state import decode_shard, encode_shard, shard_key
from petrostream.testing.notifier import RecordingNotifier

EVENTS = Path(__file__).resolve().parents[2] / "events"
SHARD0, SHARD1 = "shardId-000000000000", "shardId-000000000001"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


class CountingState(SqliteStateStore):
    """The local store, counting the shard objects it writes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.puts: list[str] = []
        put = self.blobs.put

        def counted(key: str, data: bytes, *, if_match: str | None) -> str:
            self.puts.append(key)
            return put(key, data, if_match=if_match)

        self.blobs.put = counted  # type: ignore[method-assign]


def _backends(path: Path, state: SqliteStateStore | None = None) -> Backends:
    return Backends(
        state=state or SqliteStateStore(path),
        notifier=RecordingNotifier(),
        dead_letters=SqliteDeadLetters(path),
        metrics=MemoryMetrics(),
        engine=ThresholdEngine(),
    )


def _on_shard(event: dict[str, Any], shard_id: str) -> dict[str, Any]:
    moved = copy.deepcopy(event)
    for r in moved["Records"]:
        r["eventID"] = f"{shard_id}:{r['kinesis']['sequenceNumber']}"
    return moved


def test_a_batch_of_many_wells_writes_its_shard_object_once(tmp_path: Path) -> None:
    # given a batch with two shards' records (wells 11, 14 on one; 16, 17 on the other)
    state = CountingState(tmp_path / "realtime.db")
    backends = _backends(tmp_path / "realtime.db", state)
    event = load_event("kinesis_partial_failure.json")
    # when it is processed
    report = handle_event(event, backends)
    # then each shard's object is written once, holding each of its wells
    assert report.failures == []
    assert sorted(state.puts) == [shard_key(SHARD0), shard_key(SHARD1)]
    wells = {r["kinesis"]["partitionKey"] for r in event["Records"]}
    assert {w for w in wells if state.load(w).version == 1} == wells


def test_the_shard_object_reads_back_what_was_written() -> None:
    from petrostream.handlers.shard_state import _Well

    wells = {"W1": _Well(3, {SHARD0: "17"}, b"\x78abc"), "W2": _Well(1, {}, b"")}
    assert decode_shard(encode_shard(wells)) == wells
    with pytest.raises(ValueError, match="magic"):
        decode_shard(b"{}")
    with pytest.raises(ValueError, match="past its end"):
        decode_shard(encode_shard(wells) + b"x")
    with pytest.raises(ValueError, match="cut short"):
        decode_shard(encode_shard(wells)[:-3])


def test_a_shard_object_of_the_release_before_loads_and_is_rewritten_in_the_new_layout(
    tmp_path: Path,
) -> None:
    import zlib

    from petrostream.handlers.base import PureDetectionEngine

    # given a shard row as the release before wrote it: a plain JSON index line, then
    # each well's state zlib'd on its own
    engine = PureDetectionEngine()
    readings = [
        {"well_id": "W1", "ts": f"2026-01-01 00:{m:02d}:00.000", "p_pdg": 2.0e7} for m in range(5)
    ]
    state, _ = engine.detect(engine.load_state(None), readings)
    old_data = zlib.compress(state.to_bytes(), 6)
    index = json.dumps([["W1", 4, {SHARD0: "17"}, len(old_data)]], separators=(",", ":"))
    old_blob = b"PSSHARD1\n" + index.encode() + b"\n" + old_data
    store = SqliteStateStore(tmp_path / "realtime.db")
    store.blobs.put(shard_key(SHARD0), old_blob, if_match=None)
    # when a new process loads the well, then it finds the same state, version, positions
    loaded = SqliteStateStore(tmp_path / "realtime.db").load("W1", SHARD0)
    assert (loaded.version, dict(loaded.positions)) == (4, {SHARD0: "17"})
    assert loaded.data is not None
    assert engine.load_state(loaded.data) == state
    # and when it saves the well, the row is written in the new layout, readable again
    store = SqliteStateStore(tmp_path / "realtime.db")
    store.load("W1", SHARD0)
    with store.transaction():
        store.save("W1", engine.dump_state(state), {SHARD0: "18"}, expected_version=4,
                   shard_id=SHARD0)  # fmt: skip
        store.flush()
    got = store.blobs.get(shard_key(SHARD0))
    assert got is not None
    assert got[0].startswith(b"PSSHARD3\n")
    again = decode_shard(got[0])["W1"]
    assert (again.version, again.positions) == (5, {SHARD0: "18"})
    assert engine.load_state(again.data) == state


class ConflictOnWrite(SqliteStateStore):
    def flush(self) -> None:
        self.forget()
        raise StateConflict("another invocation wrote shardId-000000000000 first")


def test_a_conflicting_shard_write_retries_every_well_but_resends_no_alert(
    tmp_path: Path,
) -> None:
    # given a store whose shard write is refused once
    backends = _backends(tmp_path / "realtime.db", ConflictOnWrite(tmp_path / "realtime.db"))
    event = load_event("kinesis_batch.json")
    # when the batch is processed
    report = handle_event(event, backends)
    # then every record is reported, nothing counts as processed, the alert went out once
    assert report.failures == [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    assert report.processed == 0
    assert "another invocation wrote" in report.errors[-1]
    notifier = backends.notifier
    assert isinstance(notifier, RecordingNotifier)
    assert len(notifier.keys) == 1
    # and the retry, with the write accepted, detects it all again without resending
    backends.state = SqliteStateStore(tmp_path / "realtime.db")
    retried = handle_event(event, backends)
    assert retried.failures == []
    assert retried.processed == 3
    assert len(notifier.keys) == 1
    assert backends.state.load("WELL-00011").version == 1


class DownOnWrite(SqliteStateStore):
    def flush(self) -> None:
        self.forget()
        raise TransientError("state store unreachable")


def test_an_unreachable_state_store_retries_the_batch(tmp_path: Path) -> None:
    backends = _backends(tmp_path / "realtime.db", DownOnWrite(tmp_path / "realtime.db"))
    event = load_event("kinesis_batch.json")
    report = handle_event(event, backends)
    assert report.failures == [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    assert SqliteStateStore(tmp_path / "realtime.db").load("WELL-00011").version == 0


def test_after_a_reshard_a_well_keeps_its_state_from_its_parent_shard(tmp_path: Path) -> None:
    # given a well detected on shard 0 (its third reading opened an alert)
    backends = _backends(tmp_path / "realtime.db")
    event = load_event("kinesis_batch.json")
    handle_event(dict(event, Records=event["Records"][:2]), backends)
    # when, after a split, its next reading arrives on a child shard in a fresh process
    child = _backends(tmp_path / "realtime.db")
    child.notifier = backends.notifier
    later = _on_shard(dict(event, Records=event["Records"][2:]), SHARD1)
    report = handle_event(later, child)
    # then the child found its state under the parent shard and continued it
    assert report.failures == []
    stored = child.state.load("WELL-00011", SHARD1)
    assert stored.version == 2
    assert child.engine.load_state(stored.data)["seen"] == 3
    assert set(stored.positions) == {SHARD0, SHARD1}
    # and its parent's object is left as it was
    parent = SqliteStateStore(tmp_path / "realtime.db").load("WELL-00011", SHARD0)
    assert parent.version == 1


def test_a_wells_row_stored_by_an_earlier_release_still_loads(tmp_path: Path) -> None:
    # given the per-well row an earlier release wrote for WELL-00011 (2 readings seen)
    path = tmp_path / "realtime.db"
    SqliteStateStore(path)  # creates the schema
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO detection_state VALUES (?, ?, ?, ?, ?)",
            ("WELL-00011", b'{"seen": 2, "open": null}', 4, json.dumps({SHARD0: "1"}), 0.0),
        )
    backends = _backends(path)
    event = load_event("kinesis_batch.json")
    # when the third reading arrives
    report = handle_event(dict(event, Records=event["Records"][2:]), backends)
    # then it continues from the old row, and the shard's object holds it now
    assert report.failures == []
    stored = backends.state.load("WELL-00011", SHARD0)
    assert stored.version == 5
    assert backends.engine.load_state(stored.data)["seen"] == 3


# Issue 12.2b: a write compresses only the wells its batch changed (layout 3, deltas).


def _save(store: SqliteStateStore, well: str, data: bytes, seq: str) -> None:
    have = store.load(well, SHARD0)
    with store.transaction():
        store.save(well, data, {SHARD0: seq}, expected_version=have.version, shard_id=SHARD0)
        store.flush()


def _object(path: Path) -> bytes:
    got = SqliteStateStore(path).blobs.get(shard_key(SHARD0))
    assert got is not None
    return got[0]


def test_a_write_after_the_first_adds_only_the_changed_wells_and_reads_back_whole(
    tmp_path: Path,
) -> None:
    import zlib

    path = tmp_path / "realtime.db"
    store = SqliteStateStore(path)
    # given a shard object of 50 wells written by this process
    with store.transaction():
        for i in range(50):
            store.save(f"W{i}", b"state %d " % i * 40, {SHARD0: "1"}, expected_version=0,
                       shard_id=SHARD0)  # fmt: skip
        store.flush()
    base = _object(path)
    # when a later batch changes one well
    _save(store, "W7", b"new state of W7", "2")
    blob = _object(path)
    # then the object is the base as written, plus a section holding that well alone
    assert blob.startswith(base)
    delta = zlib.decompress(blob[len(base) :])
    assert delta.startswith(b'[["W7",2,')
    assert b"W8" not in delta
    # and a new process reads every well back, the changed one at its new version
    wells = decode_shard(blob)
    assert len(wells) == 50
    assert (wells["W7"].version, wells["W7"].data, wells["W7"].positions) == (
        2, b"new state of W7", {SHARD0: "2"})  # fmt: skip
    assert wells["W8"].data == b"state 8 " * 40
    fresh = SqliteStateStore(path).load("W7", SHARD0)
    assert (fresh.version, fresh.data) == (2, b"new state of W7")


def test_once_the_deltas_outweigh_the_base_a_write_compresses_every_well_again(
    tmp_path: Path,
) -> None:
    import os

    path = tmp_path / "realtime.db"
    store = SqliteStateStore(path)
    _save(store, "W1", b"small", "1")
    sizes = []
    for k in range(2, 40):  # incompressible states: each delta is as big as the base
        _save(store, f"W{k % 3}", os.urandom(200), str(k))
        sizes.append(len(_object(path)))
    # the object never grows past a base (3 wells, ~700 bytes) and a base's worth of
    # deltas, and shrinks whenever a write starts a new base
    assert max(sizes) <= 2 * 750
    assert sum(b < a for a, b in zip(sizes, sizes[1:], strict=False)) >= 5
    wells = decode_shard(_object(path))
    assert set(wells) == {"W0", "W1", "W2"}
    assert wells["W0"].positions == {SHARD0: "39"}


def test_with_no_delta_budget_every_write_holds_one_section(tmp_path: Path) -> None:
    from petrostream.handlers.local_backends import SqliteBlobStore, SqliteMarkers, _Db
    from petrostream.handlers.shard_state import ShardStateStore

    db = _Db(tmp_path / "realtime.db")
    store = ShardStateStore(SqliteBlobStore(db), SqliteMarkers(db), delta_budget=0.0)
    for k in range(1, 5):
        have = store.load("W1", SHARD0)
        with store.transaction():
            store.save("W1", b"x" * 100, {SHARD0: str(k)}, expected_version=have.version,
                       shard_id=SHARD0)  # fmt: skip
            store.flush()
    got = store.blobs.get(shard_key(SHARD0))
    assert got is not None
    assert got[0] == encode_shard(decode_shard(got[0]))


def test_a_failed_write_forgets_the_sections_and_the_next_one_writes_a_whole_object(
    tmp_path: Path,
) -> None:
    path = tmp_path / "realtime.db"
    store = SqliteStateStore(path)
    _save(store, "W1", b"one", "1")
    _save(store, "W2", b"two", "2")
    # given another invocation that wrote the shard meanwhile (a version this one lacks)
    other = SqliteStateStore(path)
    _save(other, "W3", b"three", "3")
    # when this one writes, it is refused and staged nothing
    with pytest.raises(StateConflict), store.transaction():
        store.save("W1", b"one'", {SHARD0: "4"}, expected_version=1, shard_id=SHARD0)
        store.flush()
    # then it reads the store again, and its next write keeps the other's well
    _save(store, "W1", b"one'", "4")
    wells = decode_shard(_object(path))
    assert {w: e.data for w, e in wells.items()} == {"W1": b"one'", "W2": b"two", "W3": b"three"}


def test_a_shard_object_of_layout_2_still_loads() -> None:
    import zlib

    body = json.dumps([["W1", 3, {SHARD0: "9"}, 5]], separators=(",", ":")).encode()
    blob = b"PSSHARD2\n" + zlib.compress(body + b"\nhello", 1)
    assert decode_shard(blob)["W1"].data == b"hello"
    with pytest.raises(ValueError, match="past its end"):
        decode_shard(blob + zlib.compress(body + b"\nhello", 1))
