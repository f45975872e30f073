"""The lake's committed files per table, for the crawler: each commit file is read once.

A table the lake writer or compaction manage (named by a commit or by a pending
intent of their logs under ``<lake>/_petrostream/``) is cataloged from its
committed snapshot (`petrostream.lake.commitlog.fold`), not from its folders:
a folder can briefly hold an interrupted flush's files or both a merged file
and its inputs. Commits never change once put, so a `CommittedFiles` kept
between crawls (the dashboard re-crawls every 2 s) lists each log and reads
only the commits it has not seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from petrostream.lake.commitlog import ACTORS, Commit, CommitLog, fold

if TYPE_CHECKING:
    from petrostream.lake.base import LakeStore
    from petrostream.lake.commitlog import FileEntry


class CommittedFiles:
    """The committed view of the tables a commit log manages, read incrementally.

    Args:
        store: the lake, as the lake writer opened it.
    """

    def __init__(self, store: LakeStore) -> None:
        self.store = store
        self._commits: dict[str, dict[int, Commit]] = {actor: {} for actor in ACTORS}

    def tables(self) -> dict[str, dict[str, FileEntry]]:
        """``{table: {lake-relative path: entry}}`` for every table a commit log manages.

        A table absent from the answer has no commit log (another writer fills it,
        e.g. the detector's ``alerts/`` or Firehose): list its folders instead. Reads
        the writer's log before compaction's, as `snapshot` does, so a merged file
        and its inputs are never both in the answer.

        Raises:
            OSError: the logs cannot be listed or read.
        """
        commits: list[Commit] = []
        for actor in ACTORS:
            commits.extend(self._read(CommitLog(self.store, actor)))
        managed: dict[str, dict[str, FileEntry]] = {}
        for path, entry in fold(commits).items():
            managed.setdefault(entry.table, {})[path] = entry
        for actor in ACTORS:
            # Files of a flush that has no commit yet (or never will): their table
            # is managed even before its first commit, so they are never listed.
            for path in CommitLog(self.store, actor).intent_paths():
                managed.setdefault(path.split("/", 1)[0], {})
        return managed

    def _read(self, log: CommitLog) -> list[Commit]:
        cache = self._commits[log.actor]
        numbers = log.numbers()
        if not set(cache) <= set(numbers):  # the log was rewritten (a lake made anew)
            cache.clear()
        for number in numbers:
            if number not in cache:
                cache[number] = log.read(number)
        return [cache[n] for n in numbers]
