"""The lake writer: layout, buffering, commit with checkpoint, exactly once across crashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from petrostream.lake.commitlog import WRITER, CommitLog, committed_files, snapshot
from petrostream.lake.local import LocalLakeStore
from petrostream.lake.writer import LakeWriter
from petrostream.record import encode
from petrostream.testing.lake import (
    START,
    duckdb_count,
    put_all,
    put_readings,
    read_committed,
    reading,
)


class Crash(Exception):
    """Stands for the process dying (not an OSError, so the writer does not retry)."""


class CrashingLake(LocalLakeStore):
    """A local lake that dies on its n-th put."""

    def __init__(self, root, crash_at: int) -> None:
        super().__init__(root)
        self.puts = 0
        self.crash_at = crash_at

    def _put_bytes(self, path: str, data: bytes) -> None:
        self.puts += 1
        if self.puts == self.crash_at:
            raise Crash(path)
        super()._put_bytes(path, data)


def fleet(n: int) -> list[dict]:
    """n readings of 3 wells, over two days."""
    wells = ["WELL-00001", "WELL-00002", "WELL-00003"]
    out = []
    for i in range(n):
        well = wells[i % 3]
        out.append(
            reading(i, well_id=well, instance_id=f"{well}_x", ts=START + timedelta(hours=i // 20))
        )
    return out


def test_readings_land_in_hive_partitions_by_their_ts(stream, lake):
    # given: readings of two wells on two days, one arriving late for the first day
    readings = [
        reading(0, ts=datetime(2024, 5, 1, 23, 59, 59, tzinfo=UTC)),
        reading(1, ts=datetime(2024, 5, 2, 0, 0, 1, tzinfo=UTC)),
        reading(2, well_id="WELL-00002", ts=datetime(2024, 5, 2, 0, 0, 2, tzinfo=UTC)),
        reading(3, ts=datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)),  # late, out of order
    ]
    put_readings(stream, readings)
    # when
    LakeWriter(stream, lake).run(drain=True)
    # then
    files = snapshot(lake, "sensors")
    folders = sorted({f.rsplit("/", 1)[0] for f in files})
    assert folders == [
        "sensors/dt=2024-05-01/well_id=WELL-00001",
        "sensors/dt=2024-05-02/well_id=WELL-00001",
        "sensors/dt=2024-05-02/well_id=WELL-00002",
    ]
    [first_file] = [path for path in files if path.startswith(folders[0])]
    first_day = pq.read_table(lake.root / first_file)
    assert first_day.num_rows == 2
    assert "dt" not in first_day.column_names and "well_id" not in first_day.column_names
    assert first_day.schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    assert first_day.schema.field("source_ts").type == pa.timestamp("ms", tz="UTC")
    assert first_day.schema.field("p_pdg").type == pa.float64()
    # all-null sensors of this buffer are not columns of the file
    assert "p_anular" not in first_day.column_names


def test_size_flushes_commit_files_and_checkpoint_together(stream, lake):
    # given: ~300 KB of records in 9 partitions (~33 KB each) and a 5 KB partition buffer
    readings = fleet(1500)
    put_readings(stream, readings)
    writer = LakeWriter(stream, lake, buffer_bytes=5_000, page_limit=50)
    # when
    stats = writer.run(drain=True)
    # then
    commits = CommitLog(lake, WRITER).commits()
    assert len(commits) > 5
    assert stats.commits == len(commits)
    assert duckdb_count(committed_files(lake, "sensors")) == 1500
    last_seq = {s.shard_id: stream.latest_sequence(s.shard_id) for s in stream.list_shards()}
    assert commits[-1].checkpoint == last_seq
    assert stream.checkpoints()[WRITER] == last_seq  # mirrored for lag display
    assert sum(c.stats["readings"] for c in commits) == 1500


def test_one_full_partition_or_all_partitions_together_trigger_a_flush(stream, lake, tmp_path):
    # given: 50 readings of each of 5 wells (~14 KB a partition), then 300 of a hot well
    put_readings(stream, [reading(i, well_id=f"WELL-0000{i % 5}") for i in range(250)])
    put_readings(stream, [reading(i, well_id="WELL-00009") for i in range(250, 550)])
    # when: partitions may hold 30 KB each, all of them 1 MB; read until a flush
    writer = LakeWriter(
        stream, lake, buffer_bytes=30_000, buffer_total_bytes=1 << 20, page_limit=50
    )
    writer.recover()
    while not writer.stats.commits:
        assert writer.poll()
    # then: the hot partition filled its buffer (~110 readings) before the rest was
    # read, and the flush wrote every partition the buffer held
    rows = {f.path.split("/")[2]: f.rows for f in CommitLog(lake, WRITER).commits()[0].added}
    assert set(rows) == {*(f"well_id=WELL-0000{i}" for i in (0, 1, 2, 3, 4, 9))}
    assert max(rows, key=rows.__getitem__) == "well_id=WELL-00009"
    assert 100 < rows["well_id=WELL-00009"] < 300
    # when: no partition is full, but all of them together reach the total
    other = LakeWriter(stream, LocalLakeStore(tmp_path / "other"), buffer_bytes=1 << 20)
    other.recover()
    other.poll()
    # then
    assert other._buffer.size < other.buffer_total_bytes and not other._due()
    other.buffer_total_bytes = other._buffer.size
    assert other._due()


def test_time_flush_after_buffer_seconds(stream, lake):
    # given: a big size budget, a fake clock
    now = [0.0]
    writer = LakeWriter(stream, lake, buffer_seconds=5, clock=lambda: now[0])
    writer.recover()
    put_readings(stream, [reading(i) for i in range(10)])
    # when: polled before and after the buffer's age reaches 5 s
    writer.poll()
    now[0] = 4.9
    early = writer._due()
    now[0] = 5.0
    late = writer._due()
    # then
    assert (early, late) == (False, True)
    assert writer.flush() is not None
    assert duckdb_count(committed_files(lake, "sensors")) == 10


def test_restart_resumes_after_the_committed_checkpoint(stream, lake):
    # given: a first run that committed everything
    put_readings(stream, [reading(i) for i in range(100)])
    LakeWriter(stream, lake).run(drain=True)
    # when: more data, a new writer
    put_readings(stream, [reading(i) for i in range(100, 150)])
    stats = LakeWriter(stream, lake).run(drain=True)
    # then
    assert stats.records == 50
    assert duckdb_count(committed_files(lake, "sensors")) == 150


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4, 5, 7, 9, 12])
def test_a_crash_at_any_put_loses_and_duplicates_nothing(stream, home, crash_at):
    # given: a flush sequence interrupted at its crash_at-th put (intent, file, commit...)
    readings = fleet(600)
    put_readings(stream, readings)
    crashing = CrashingLake(home / "lake", crash_at)
    with pytest.raises(Crash):
        LakeWriter(stream, crashing, buffer_bytes=30_000, page_limit=100).run(drain=True)
    # when: a new process starts on the same lake
    lake = LocalLakeStore(home / "lake")
    LakeWriter(stream, lake, buffer_bytes=30_000, page_limit=100).run(drain=True)
    # then: every reading once, and no uncommitted file left in the table folders
    files = committed_files(lake, "sensors")
    assert duckdb_count(files) == 600
    assert duckdb_count(files, "count(DISTINCT (instance_id, source_ts))") == 600
    on_disk = sorted(p.as_posix() for p in (home / "lake" / "sensors").rglob("*.parquet"))
    assert on_disk == sorted(files)
    assert duckdb_count([str(home / "lake" / "sensors" / "**" / "*.parquet")]) == 600


def test_rejects_go_to_their_table_and_the_writer_keeps_going(stream, lake):
    # given
    good = [reading(i) for i in range(20)]
    bad = [
        b"{not json",
        b'{"ts": "2024-05-01 12:00:00.000"}',
        encode(reading(99, p_pdg="high")),
    ]
    payloads = [(r["well_id"], encode(r)) for r in good[:10]]
    payloads += [("WELL-00001", b) for b in bad]
    payloads += [(r["well_id"], encode(r)) for r in good[10:]]
    put_all(stream, payloads)
    # when
    stats = LakeWriter(stream, lake).run(drain=True)
    # then
    assert (stats.readings, stats.rejects) == (20, 3)
    assert duckdb_count(committed_files(lake, "sensors")) == 20
    rows = sorted(
        read_committed(lake, "rejects").to_pylist(), key=lambda r: int(r["sequence_number"])
    )
    assert [(r["reason"], r["payload"], r["consumer"]) for r in rows] == [
        ("bad_json", "{not json", "lake-writer"),
        ("missing_field", '{"ts": "2024-05-01 12:00:00.000"}', "lake-writer"),
        ("wrong_type", bad[2].decode(), "lake-writer"),
    ]
    assert all(r["shard_id"] and r["arrival"] and r["detail"] for r in rows)


def test_schema_evolution_1x_then_2x_reads_back_every_column(stream, lake, home):
    # given: 3W 1.x readings, then 2.x readings with sensors the lake has not seen
    put_readings(stream, [reading(i, version=1) for i in range(30)])
    LakeWriter(stream, lake).run(drain=True)
    put_readings(stream, [reading(i, version=2, p_brand_new=7.5) for i in range(30, 60)])
    LakeWriter(stream, lake).run(drain=True)
    # when: read as DuckDB does, straight from the folders
    glob = [str(home / "lake" / "sensors" / "**" / "*.parquet")]
    row = duckdb_count(
        glob,
        "count(*), count(p_pdg), count(p_anular), count(t_pdg), count(aber_ckp), "
        "count(state), count(p_brand_new), count(DISTINCT well_id), min(dt)",
    )
    # then
    assert row[:8] == (60, 60, 30, 30, 30, 30, 30, 1)
    assert str(row[8]) == "2024-05-01"


def test_run_moves_arrow_from_mimalloc_to_jemalloc_and_keeps_any_other_pool(stream, lake):
    # given: Arrow's default pool, mimalloc, in a pyarrow that has jemalloc too
    try:
        jemalloc, mimalloc = pa.jemalloc_memory_pool(), pa.mimalloc_memory_pool()
    except NotImplementedError as exc:
        pytest.fail(f"the Linux pyarrow wheels ship both allocators: {exc}")
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(mimalloc)
        # when
        LakeWriter(stream, lake).run(drain=True)
        # then
        assert pa.default_memory_pool().backend_name == jemalloc.backend_name
        # given: a pool the user chose (ARROW_DEFAULT_MEMORY_POOL=system)
        pa.set_memory_pool(pa.system_memory_pool())
        # when
        LakeWriter(stream, lake).run(drain=True)
        # then
        assert pa.default_memory_pool().backend_name == "system"
    finally:
        pa.set_memory_pool(before)
