"""Compaction: fewer files, same rows, atomic through the commit log, recoverable."""

from __future__ import annotations

import pytest

from petrostream.lake.commitlog import COMPACTION, CommitLog, FileEntry, committed_files, snapshot
from petrostream.lake.compaction import compact, plan, recover
from petrostream.lake.local import LocalLakeStore
from petrostream.lake.writer import LakeWriter
from petrostream.testing.lake import duckdb_count, put_readings, reading

MB = 1024 * 1024
QUERY = "count(*), count(DISTINCT (instance_id, source_ts)), sum(p_pdg), count(p_anular)"


def small_files(stream, lake, batches: int = 6) -> None:
    for b in range(batches):
        version = 2 if b % 2 else 1  # files of one partition with different columns
        put_readings(stream, [reading(i, version=version) for i in range(b * 50, b * 50 + 50)])
        LakeWriter(stream, lake).run(drain=True)


def entry(path: str, size: int) -> FileEntry:
    return FileEntry(path, "sensors", 1, size)


def test_plan_groups_small_files_up_to_the_target():
    # given
    files = [entry(f"p/{c}", s) for c, s in zip("abcdef", [40, 40, 40, 90, 10, 10], strict=True)]
    # when
    groups = plan(files, target_bytes=100)
    # then: f (90) is over half the target and stays; a lone leftover is not merged
    assert [[f.path for f in g] for g in groups] == [["p/a", "p/b"], ["p/c", "p/e", "p/f"]]


def test_compaction_reduces_files_and_keeps_query_results(stream, lake):
    # given
    small_files(stream, lake)
    before_files = committed_files(lake, "sensors")
    before = duckdb_count(before_files, QUERY)
    # when
    report = compact(lake, target_bytes=128 * MB)
    # then
    after_files = committed_files(lake, "sensors")
    assert (report.files_before, report.files_after) == (6, 1)
    assert len(before_files) == 6 and len(after_files) == 1
    assert duckdb_count(after_files, QUERY) == before
    assert before[0] == 300
    on_disk = list((lake.root / "sensors").rglob("*.parquet"))
    assert len(on_disk) == 1  # the inputs are gone


def test_crash_before_the_commit_leaves_no_visible_change(stream, lake, home):
    # given: a compaction that dies while putting its commit
    small_files(stream, lake, batches=3)
    before = duckdb_count(committed_files(lake, "sensors"), QUERY)

    class Dies(LocalLakeStore):
        def _put_bytes(self, path, data):
            if "/compaction/commits/" in path:
                raise RuntimeError("killed")
            super()._put_bytes(path, data)

    with pytest.raises(RuntimeError):
        compact(Dies(home / "lake"), target_bytes=128 * MB)
    assert duckdb_count(committed_files(lake, "sensors"), QUERY) == before
    # when: the next compaction recovers
    deleted = recover(lake)
    # then: the orphan merged file is gone; the committed view never changed
    assert deleted == 1
    assert len(list((lake.root / "sensors").rglob("*.parquet"))) == 3
    assert duckdb_count(committed_files(lake, "sensors"), QUERY) == before


def test_crash_after_the_commit_deletes_retired_inputs_on_recovery(stream, lake, home):
    # given: a compaction that dies right after its commit, before deleting inputs
    small_files(stream, lake, batches=3)
    before = duckdb_count(committed_files(lake, "sensors"), QUERY)

    class Dies(LocalLakeStore):
        def delete(self, path):
            if path.startswith("sensors/"):
                raise RuntimeError("killed")
            super().delete(path)

    with pytest.raises(RuntimeError):
        compact(Dies(home / "lake"), target_bytes=128 * MB)
    assert len(snapshot(lake, "sensors")) == 1
    assert duckdb_count(committed_files(lake, "sensors"), QUERY) == before
    # when
    deleted = recover(lake)
    # then
    assert deleted == 3
    assert len(list((lake.root / "sensors").rglob("*.parquet"))) == 1
    assert CommitLog(lake, COMPACTION).latest().removed


def test_compaction_rejects_an_unknown_table(lake):
    with pytest.raises(ValueError, match="unknown table"):
        compact(lake, table="nope")
