"""`maintain`: small files of a partition rewritten in one commit, a conflicting commit
retried, old snapshots expired, orphan files deleted, the writer's checkpoint kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq

from petrostream.lake import maintain as maintain_module
from petrostream.lake import tables
from petrostream.lake.maintain import maintain
from petrostream.lake.writer import CONSUMER, LakeWriter
from petrostream.testing.lake import duckdb_count, put_readings, read_table, reading, table_files

LATER = datetime.now(UTC) + timedelta(days=2)  # every snapshot and file is old by then


def many_small_flushes(stream, catalog, flushes: int = 6) -> None:
    for k in range(flushes):
        put_readings(
            stream, [reading(i, well_id=f"WELL-0000{i % 2}") for i in range(k * 40, k * 40 + 40)]
        )
        LakeWriter(stream, catalog).run(drain=True)


def test_small_files_of_each_partition_become_one_and_the_rows_stay(stream, catalog):
    # given: six flushes of two wells on one day: six small files per well's bucket
    many_small_flushes(stream, catalog)
    sensors = catalog.load_table("petrostream_db.sensors")
    checkpoint = tables.writer_checkpoint(sensors, CONSUMER)
    before = sorted(read_table(catalog).column("p_pdg").to_pylist())
    files_before = len(table_files(catalog))
    # when
    report = maintain(catalog, "sensors", expire_older_than=timedelta(days=10))
    # then: one file per partition, the same rows, the checkpoint still found
    partitions = {
        tuple(t.file.partition)
        for t in catalog.load_table("petrostream_db.sensors").scan().plan_files()
    }
    assert files_before >= 6
    assert len(table_files(catalog)) == len(partitions) == report.files_after
    assert report.rewritten_partitions == len(partitions)
    assert sorted(read_table(catalog).column("p_pdg").to_pylist()) == before
    assert duckdb_count(table_files(catalog)) == 240
    for path in table_files(catalog):  # rewritten with the writer's encodings
        parquet = pq.ParquetFile(path)
        p_pdg = parquet.metadata.row_group(0).column(parquet.schema_arrow.names.index("p_pdg"))
        assert "BYTE_STREAM_SPLIT" in p_pdg.encodings
    sensors = catalog.load_table("petrostream_db.sensors")
    assert tables.writer_checkpoint(sensors, CONSUMER) == checkpoint
    # and a writer restarting after it resumes there: nothing read twice
    put_readings(stream, [reading(i) for i in range(240, 250)])
    assert LakeWriter(stream, catalog).run(drain=True).records == 10
    assert read_table(catalog).num_rows == 250


def test_a_writer_commit_between_read_and_overwrite_makes_maintain_start_again(
    stream, catalog, monkeypatch
):
    # given: small files, and a writer that commits just before maintain's first overwrite
    many_small_flushes(stream, catalog, flushes=3)
    put_readings(stream, [reading(i, well_id="WELL-00000") for i in range(1000, 1040)])
    real_rows_of = maintain_module._rows_of
    raced = []

    def rows_then_a_writer_commit(*args, **kwargs):
        rows = real_rows_of(*args, **kwargs)
        if not raced:
            raced.append(LakeWriter(stream, catalog).run(drain=True).readings)
        return rows

    monkeypatch.setattr(maintain_module, "_rows_of", rows_then_a_writer_commit)
    # when
    report = maintain(catalog, "sensors")
    # then: the overwrite lost the race, was read and written again from the writer's
    # snapshot, and every reading is there once, the writer's new ones too
    assert raced == [40]
    assert report.retries == 1
    assert report.rewritten_partitions == 2
    rows = read_table(catalog)
    assert rows.num_rows == 160
    assert sorted(set(rows.column("well_id").to_pylist())) == ["WELL-00000", "WELL-00001"]
    assert duckdb_count(table_files(catalog), "count(DISTINCT (instance_id, source_ts))") == 160


def test_old_snapshots_expire_and_orphans_are_deleted(stream, catalog, home):
    # given: flushes, and a file no snapshot references (a flush killed before its commit)
    many_small_flushes(stream, catalog, flushes=3)
    folder = home / "lake" / "petrostream_db" / "sensors" / "data" / "ts_day=2024-05-01"
    orphan = folder / "killed-flush.parquet"
    orphan.write_bytes(b"PAR1 not committed")
    # when: maintained as if two days later
    report = maintain(catalog, "sensors", now=lambda: LATER)
    # then
    table = catalog.load_table("petrostream_db.sensors")
    assert report.expired_snapshots >= 3
    assert len(table.snapshots()) == 1
    assert report.orphans_deleted >= 1 and not orphan.exists()
    on_disk = {p.as_posix() for p in (home / "lake").rglob("sensors/data/**/*.parquet")}
    assert on_disk == set(table_files(catalog))
    assert read_table(catalog).num_rows == 120
    assert tables.writer_checkpoint(table, CONSUMER)  # carried by the surviving snapshot
