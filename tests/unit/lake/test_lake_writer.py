"""The lake writer: Iceberg appends, buffering, checkpoint in the snapshot, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from petrostream.lake import tables
from petrostream.lake.tables import open_catalog
from petrostream.lake.writer import CONSUMER, LakeWriter
from petrostream.record import encode
from petrostream.testing.lake import (
    START,
    duckdb_count,
    put_all,
    put_readings,
    read_table,
    reading,
    table_files,
)


class Crash(Exception):
    """Stands for the process dying (not an OSError, so the writer does not retry)."""


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


def test_readings_land_in_day_and_well_bucket_partitions_by_their_ts(stream, catalog):
    # given: readings of two wells on two days, one arriving late for the first day
    readings = [
        reading(0, ts=datetime(2024, 5, 1, 23, 59, 59, tzinfo=UTC)),
        reading(1, ts=datetime(2024, 5, 2, 0, 0, 1, tzinfo=UTC)),
        reading(2, well_id="WELL-00002", ts=datetime(2024, 5, 2, 0, 0, 2, tzinfo=UTC)),
        reading(3, ts=datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)),  # late, out of order
    ]
    put_readings(stream, readings)
    # when
    LakeWriter(stream, catalog).run(drain=True)
    # then: one file per (day, bucket of the well), sorted by well and ts inside
    table = catalog.load_table("petrostream_db.sensors")
    tasks = list(table.scan().plan_files())
    days = sorted({t.file.partition[0] for t in tasks})
    assert [str(datetime(1970, 1, 1, tzinfo=UTC).date() + timedelta(days=d)) for d in days] == [
        "2024-05-01",
        "2024-05-02",
    ]
    rows = read_table(catalog)
    assert rows.num_rows == 4
    assert rows.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert rows.schema.field("source_ts").type == pa.timestamp("us", tz="UTC")
    assert rows.schema.field("p_pdg").type == pa.float64()
    first_day = [r for r in rows.to_pylist() if r["ts"].date().isoformat() == "2024-05-01"]
    assert [r["ts"].hour for r in first_day] == [8, 23]  # the table's sort order
    # one well-day is pruned to the files of its day and bucket
    pruned = table.scan(
        row_filter="well_id == 'WELL-00002' and ts >= '2024-05-02T00:00:00+00:00'"
    ).plan_files()
    assert len(list(pruned)) == 1


@pytest.mark.parametrize(
    ("float_encoding", "double_encoding"),
    [("byte_stream_split", "BYTE_STREAM_SPLIT"), ("plain", "PLAIN")],
)
def test_files_carry_the_lake_encodings_field_ids_and_their_rows_partition_values(
    stream, catalog, float_encoding, double_encoding
):
    # given: readings of 5 wells over two days
    wells = [f"WELL-0000{i}" for i in range(1, 6)]
    put_readings(
        stream,
        [
            reading(i, well_id=wells[i % 5], ts=START + timedelta(hours=i))
            for i in range(60)  # 60 hours: two or three days
        ],
    )
    # when
    LakeWriter(stream, catalog, float_encoding=float_encoding).run(drain=True)
    # then: each file holds one (day, bucket) partition, the one its entry names
    from pyiceberg.transforms import BucketTransform
    from pyiceberg.types import StringType

    bucket = BucketTransform(tables.BUCKETS).transform(StringType())
    table = catalog.load_table("petrostream_db.sensors")
    tasks = list(table.scan().plan_files())
    seen = set()
    for task in tasks:
        day, well_bucket = task.file.partition[0], task.file.partition[1]
        assert (day, well_bucket) not in seen  # one file per partition and flush
        seen.add((day, well_bucket))
        parquet = pq.ParquetFile(task.file.file_path.removeprefix("file://"))
        rows = parquet.read()
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        assert {(t - epoch).days for t in rows.column("ts").to_pylist()} == {day}
        assert {bucket(w) for w in rows.column("well_id").to_pylist()} == {well_bucket}
        assert task.file.record_count == rows.num_rows
        # the encodings of the Hive-layout lake, and Iceberg field ids
        columns = parquet.metadata.row_group(0)
        names = parquet.schema_arrow.names
        p_pdg = columns.column(names.index("p_pdg"))
        assert double_encoding in p_pdg.encodings
        assert "DELTA_BINARY_PACKED" in columns.column(names.index("ts")).encodings
        assert p_pdg.compression == "ZSTD"
        field_id = parquet.schema_arrow.field("p_pdg").metadata[b"PARQUET:field_id"]
        assert int(field_id) == table.schema().find_field("p_pdg").field_id
    assert sum(t.file.record_count for t in tasks) == 60
    assert len({d for d, _ in seen}) >= 2


def test_size_flushes_commit_rows_and_checkpoint_in_one_snapshot(stream, catalog):
    # given: ~300 KB of records in 9 partitions (~33 KB each) and a 5 KB partition buffer
    put_readings(stream, fleet(1500))
    writer = LakeWriter(stream, catalog, buffer_bytes=5_000, page_limit=50)
    # when
    stats = writer.run(drain=True)
    # then
    table = catalog.load_table("petrostream_db.sensors")
    snapshots = list(tables.writer_snapshots(table, CONSUMER))
    assert len(snapshots) > 5
    assert stats.commits == len(snapshots)
    assert duckdb_count(table_files(catalog)) == 1500
    last_seq = {s.shard_id: stream.latest_sequence(s.shard_id) for s in stream.list_shards()}
    assert tables.writer_checkpoint(table, CONSUMER) == last_seq
    assert stream.checkpoints()[CONSUMER] == last_seq  # mirrored for lag display
    added = sum(int(s.summary.additional_properties["added-records"]) for s in snapshots)
    assert added == 1500


def test_one_full_partition_or_all_partitions_together_trigger_a_flush(stream, home, catalog):
    # given: 50 readings of each of 5 wells (~14 KB a partition), then 300 of a hot well
    put_readings(stream, [reading(i, well_id=f"WELL-0000{i % 5}") for i in range(250)])
    put_readings(stream, [reading(i, well_id="WELL-00009") for i in range(250, 550)])
    # when: partitions may hold 30 KB each, all of them 1 MB; read until a flush
    writer = LakeWriter(
        stream, catalog, buffer_bytes=30_000, buffer_total_bytes=1 << 20, page_limit=50
    )
    writer.recover()
    while not writer.stats.commits:
        assert writer.poll()
    # then: the hot partition filled its buffer (~110 readings) before the rest was
    # read, and the flush wrote every well the buffer held
    rows = read_table(catalog).group_by("well_id").aggregate([("ts", "count")]).to_pylist()
    counts = {r["well_id"]: r["ts_count"] for r in rows}
    assert set(counts) == {*(f"WELL-0000{i}" for i in (0, 1, 2, 3, 4, 9))}
    assert max(counts, key=counts.__getitem__) == "WELL-00009"
    assert 100 < counts["WELL-00009"] < 300
    # when: no partition is full, but all of them together reach the total
    other_catalog = open_catalog(home / "other", str(home / "other" / "lake"))
    other = LakeWriter(stream, other_catalog, buffer_bytes=1 << 20)
    other.recover()
    other.poll()
    # then
    assert other._buffer.size < other.buffer_total_bytes and not other._due()
    other.buffer_total_bytes = other._buffer.size
    assert other._due()


def test_time_flush_after_buffer_seconds(stream, catalog):
    # given: a big size budget, a fake clock
    now = [0.0]
    writer = LakeWriter(stream, catalog, buffer_seconds=5, clock=lambda: now[0])
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
    assert duckdb_count(table_files(catalog)) == 10


def test_restart_resumes_after_the_committed_checkpoint(stream, catalog):
    # given: a first run that committed everything
    put_readings(stream, [reading(i) for i in range(100)])
    LakeWriter(stream, catalog).run(drain=True)
    # when: more data, a new writer
    put_readings(stream, [reading(i) for i in range(100, 150)])
    stats = LakeWriter(stream, catalog).run(drain=True)
    # then
    assert stats.records == 50
    assert duckdb_count(table_files(catalog)) == 150


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_a_crash_at_any_commit_loses_and_duplicates_nothing(stream, home, crash_at, monkeypatch):
    # given: flushes with rejects (two commits each: rejects, then sensors), the
    # process dying at its crash_at-th catalog commit, after the files were written
    readings = fleet(600)
    payloads = [(r["well_id"], encode(r)) for r in readings]
    for i in range(0, 600, 50):
        payloads.insert(i, ("WELL-00001", b"{not json %d" % i))
    put_all(stream, payloads)
    real_commit = SqlCatalog.commit_table
    calls = [0]

    def crashing(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == crash_at:
            raise Crash(calls[0])
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(SqlCatalog, "commit_table", crashing)
    lake = str(home / "lake")
    with pytest.raises(Crash):
        LakeWriter(stream, open_catalog(home, lake), buffer_bytes=15_000, page_limit=100).run(
            drain=True
        )
    monkeypatch.setattr(SqlCatalog, "commit_table", real_commit)
    # when: a new process starts on the same lake
    catalog = open_catalog(home, lake)
    LakeWriter(stream, catalog, buffer_bytes=15_000, page_limit=100).run(drain=True)
    # then: every reading and every reject once, through pyiceberg and DuckDB
    files = table_files(catalog)
    assert duckdb_count(files) == 600
    assert duckdb_count(files, "count(DISTINCT (instance_id, source_ts))") == 600
    assert read_table(catalog).num_rows == 600
    rejects = read_table(catalog, "rejects").column("sequence_number").to_pylist()
    assert len(rejects) == len(set(rejects)) == 12
    # the killed flush's files are on disk but in no snapshot
    committed = set(files) | set(table_files(catalog, "rejects"))
    on_disk = {p.as_posix() for p in (home / "lake").rglob("data/**/*.parquet")}
    assert committed < on_disk


def test_rejects_go_to_their_table_and_the_writer_keeps_going(stream, catalog):
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
    stats = LakeWriter(stream, catalog).run(drain=True)
    # then
    assert (stats.readings, stats.rejects) == (20, 3)
    assert duckdb_count(table_files(catalog)) == 20
    rows = sorted(
        read_table(catalog, "rejects").to_pylist(), key=lambda r: int(r["sequence_number"])
    )
    assert [(r["reason"], r["payload"], r["consumer"]) for r in rows] == [
        ("bad_json", "{not json", "lake-writer"),
        ("missing_field", '{"ts": "2024-05-01 12:00:00.000"}', "lake-writer"),
        ("wrong_type", bad[2].decode(), "lake-writer"),
    ]
    assert all(r["shard_id"] and r["arrival"] and r["detail"] for r in rows)


def test_schema_evolution_1x_then_2x_adds_columns_in_the_commit_of_their_rows(stream, catalog):
    # given: 3W 1.x readings, then 2.x readings with a sensor the lake has not seen
    put_readings(stream, [reading(i, version=1) for i in range(30)])
    LakeWriter(stream, catalog).run(drain=True)
    before = catalog.load_table("petrostream_db.sensors")
    put_readings(stream, [reading(i, version=2, p_brand_new=7.5) for i in range(30, 60)])
    LakeWriter(stream, catalog).run(drain=True)
    # when
    table = catalog.load_table("petrostream_db.sensors")
    # then: the new column joined with the snapshot of its rows; old rows read NULL
    assert "p_brand_new" not in before.schema().column_names
    snapshot = table.current_snapshot()
    assert table.schemas()[snapshot.schema_id].find_field("p_brand_new")
    assert before.schemas()[before.current_snapshot().schema_id].find_field("p_pdg")
    row = duckdb_count(
        table_files(catalog),
        "count(*), count(p_pdg), count(p_anular), count(t_pdg), count(aber_ckp), "
        "count(state), count(p_brand_new), count(DISTINCT well_id)",
    )
    assert row == (60, 60, 30, 30, 30, 30, 30, 1)


def test_the_new_column_limit_counts_across_pages_and_the_columns_the_table_has(stream, catalog):
    # given: a lake that admits 2 new columns, one page a new column each (one record a page)
    put_readings(stream, [reading(0, x_first=1.0)])
    LakeWriter(stream, catalog, max_new_columns=2, page_limit=1).run(drain=True)
    put_readings(stream, [reading(1, x_second=2.0), reading(2, x_third=3.0)])
    # when: a restarted writer reads the next two pages
    stats = LakeWriter(stream, catalog, max_new_columns=2, page_limit=1).run(drain=True)
    # then: the table's own new column counts, so the third new column is refused
    columns = catalog.load_table("petrostream_db.sensors").schema().column_names
    assert {"x_first", "x_second"} <= set(columns)
    assert "x_third" not in columns
    assert stats.rejects == 1
    rejected = read_table(catalog, "rejects").to_pylist()
    assert [r["reason"] for r in rejected] == ["too_many_columns"]
    assert "x_third" in rejected[0]["detail"]


def test_run_moves_arrow_from_mimalloc_to_jemalloc_and_keeps_any_other_pool(stream, catalog):
    # given: Arrow's default pool, mimalloc, in a pyarrow that has jemalloc too
    try:
        jemalloc, mimalloc = pa.jemalloc_memory_pool(), pa.mimalloc_memory_pool()
    except NotImplementedError as exc:
        pytest.fail(f"the Linux pyarrow wheels ship both allocators: {exc}")
    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(mimalloc)
        # when
        LakeWriter(stream, catalog).run(drain=True)
        # then
        assert pa.default_memory_pool().backend_name == jemalloc.backend_name
        # given: a pool the user chose (ARROW_DEFAULT_MEMORY_POOL=system)
        pa.set_memory_pool(pa.system_memory_pool())
        # when
        LakeWriter(stream, catalog).run(drain=True)
        # then
        assert pa.default_memory_pool().backend_name == "system"
    finally:
        pa.set_memory_pool(before)


def test_pages_admit_new_columns_in_stream_order_whichever_thread_is_first():
    from concurrent.futures import ThreadPoolExecutor

    from petrostream.errors import InvalidRecord
    from petrostream.lake.writer import _SharedBudget

    # given: a budget of one new column and two pages in stream order
    budget = _SharedBudget(1)
    first, second = budget.page(), budget.page()
    with ThreadPoolExecutor(1) as pool:
        # when: the later page tries to admit its new column first (another thread) ...
        later = pool.submit(second.admit, {"x_later": 1.0})
        # ... and the earlier page admits its own, then finishes
        first.admit({"x_earlier": 1.0})
        first.finish()
        # then: the earlier page's column is the one admitted, the later one refused
        with pytest.raises(InvalidRecord, match="too_many_columns|limit"):
            later.result(timeout=30)
    second.finish()
