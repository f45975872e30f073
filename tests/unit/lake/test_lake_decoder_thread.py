"""Pages decoded in the writer's decoder thread (inside `run`) land exactly what pages
decoded at once (polling and flushing by hand) land: same snapshots, rows, rejects, checkpoint."""

from __future__ import annotations

from petrostream.lake.tables import open_catalog
from petrostream.lake.writer import LakeWriter
from petrostream.testing.lake import put_all, put_readings, read_table, reading


def snapshot_rows(catalog) -> list[str]:
    """Rows added by each sensors snapshot, oldest first."""
    table = catalog.load_table("petrostream_db.sensors")
    return [s.summary.additional_properties["added-records"] for s in table.snapshots()]


def test_run_with_the_decoder_thread_lands_what_sequential_flushes_land(stream, catalog, tmp_path):
    # given: readings of 3 wells with a new sensor column, and bad records among them
    put_readings(stream, [reading(i, well_id=f"WELL-0000{i % 3}") for i in range(600)])
    put_all(
        stream,
        [
            ("WELL-00001", b"not json"),
            ("WELL-00002", b'{"well_id": "WELL-00002"}'),
            (
                "WELL-00001",
                b'{"well_id": "WELL-00001", "ts": "2024-05-01 00:00:00.000", "p_pdg": "12"}',
            ),  # fmt: skip
        ],
    )
    put_readings(stream, [reading(i, well_id="WELL-00004", p_new=1.5) for i in range(600, 900)])
    other = open_catalog(tmp_path / "sequential-lake", str(tmp_path / "sequential-lake" / "lake"))
    # when: one writer runs (decoder thread, background flushes); the other polls and
    # flushes by hand, decoding each page at once
    threaded = LakeWriter(stream, catalog, buffer_bytes=40_000, page_limit=100)
    threaded.run(drain=True)
    sequential = LakeWriter(stream, other, buffer_bytes=40_000, page_limit=100)
    sequential.recover()
    while sequential.poll():
        pass
    sequential.flush()
    # then: the same snapshots (flushes fall on the same pages), rows, rejects
    assert threaded.checkpoint == sequential.checkpoint
    assert snapshot_rows(catalog) == snapshot_rows(other)
    a, b = read_table(catalog), read_table(other)
    assert a.num_rows == b.num_rows == 900
    assert "p_new" in a.column_names
    key = [("well_id", "ascending"), ("instance_id", "ascending"), ("source_ts", "ascending")]
    assert (
        a.sort_by(key)
        .select(sorted(a.column_names))
        .equals(b.sort_by(key).select(sorted(b.column_names)))
    )
    rejects_a = read_table(catalog, "rejects").sort_by("sequence_number")
    rejects_b = read_table(other, "rejects").sort_by("sequence_number")
    assert sorted(rejects_a.column("reason").to_pylist()) == [
        "bad_json",
        "missing_field",
        "wrong_type",
    ]
    assert rejects_a.drop_columns(["arrival"]).equals(rejects_b.drop_columns(["arrival"]))
