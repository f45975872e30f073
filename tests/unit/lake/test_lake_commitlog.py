"""The commit log: ordered commits, intents, orphan recovery, the committed snapshot."""

from __future__ import annotations

from petrostream.lake.commitlog import (
    COMPACTION,
    WRITER,
    Commit,
    CommitLog,
    FileEntry,
    snapshot,
)


def put_file(lake, path: str) -> FileEntry:
    lake.write_json(path, {})  # any bytes will do for the log
    return FileEntry(path, path.split("/")[0], 1, 2)


def test_commits_round_trip_in_order(lake):
    # given
    log = CommitLog(lake, WRITER)
    a = put_file(lake, "sensors/dt=2024-05-01/well_id=W/a.parquet")
    # when
    for n in (1, 2, 10):
        log.append(Commit(n, WRITER, added=(a,), checkpoint={"s0": str(n)}))
    # then
    assert log.numbers() == [1, 2, 10]
    assert log.latest().checkpoint == {"s0": "10"}
    assert log.read(2).added == (a,)


def test_recover_deletes_files_of_an_intent_without_commit(lake):
    # given: commit 1 done; intent 2 written and one of its files put, then a crash
    log = CommitLog(lake, WRITER)
    done = put_file(lake, "sensors/dt=2024-05-01/well_id=W/done.parquet")
    log.write_intent(1, [done.path])
    log.append(Commit(1, WRITER, added=(done,)))
    orphan = put_file(lake, "sensors/dt=2024-05-01/well_id=W/orphan.parquet")
    log.write_intent(2, [orphan.path, "sensors/dt=2024-05-01/well_id=W/never-put.parquet"])
    # when
    recovery = CommitLog(lake, WRITER).recover()
    # then
    assert recovery.last.number == 1
    assert orphan.path in recovery.orphans_deleted
    assert not lake.exists(orphan.path)
    assert lake.exists(done.path)
    assert lake.list_files("_petrostream/lake-writer/intents") == []


def test_snapshot_applies_compaction_replacements(lake):
    # given: the writer committed a, b, c; compaction replaced a and b by m
    a, b, c, m = (put_file(lake, f"sensors/p/{n}.parquet") for n in "abcm")
    rejected = put_file(lake, "rejects/dt=2024-05-01/r.parquet")
    CommitLog(lake, WRITER).append(Commit(1, WRITER, added=(a, b, rejected)))
    CommitLog(lake, WRITER).append(Commit(2, WRITER, added=(c,)))
    CommitLog(lake, COMPACTION).append(Commit(1, COMPACTION, added=(m,), removed=(a.path, b.path)))
    # when
    live = snapshot(lake, "sensors")
    # then
    assert sorted(live) == [c.path, m.path]
    assert sorted(snapshot(lake)) == sorted([c.path, m.path, rejected.path])
