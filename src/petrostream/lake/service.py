"""The lake side of ``petrostream run``: open the stream and the lake, lock, recover, consume.

`run_lake_writer` has the same shape as the detector's ``run_detector`` so the
CLI runs both the same way, each in its own thread.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from petrostream.lake import compaction
from petrostream.lake.commitlog import COMPACTION, WRITER
from petrostream.lake.factory import open_lake
from petrostream.lake.locks import ActorLock
from petrostream.lake.writer import LakeWriter, ProgressFn, WriterStats

if TYPE_CHECKING:
    from petrostream.settings import Settings

log = logging.getLogger(__name__)


def run_lake_writer(
    settings: Settings,
    *,
    drain: bool,
    stop: threading.Event | None = None,
    progress: ProgressFn | None = None,
    backend: str = "local",
) -> WriterStats:
    """Run the lake writer until ``stop`` is set or, with ``drain``, the stream is caught up.

    Takes the writer's lock in the home (one writer per home), deletes what a killed
    flush left uncommitted (and an interrupted compaction's orphans when no
    compaction is running), then consumes from the committed checkpoint.

    Raises:
        ConfigError: another lake writer holds the lock, or a setting is wrong.
        OSError: the lake cannot be written after retries.
    """
    from petrostream.lake.local import LocalLakeStore
    from petrostream.stream.factory import open_stream

    store = open_lake(settings)
    with ActorLock(settings.home, WRITER):
        compaction_lock = ActorLock(settings.home, COMPACTION)
        if compaction_lock.try_acquire():
            try:
                compaction.recover(store)
            finally:
                compaction_lock.release()
        if isinstance(store, LocalLakeStore):
            store.clean_temp()
        stream = open_stream(settings, backend=backend)
        try:
            writer = LakeWriter.from_settings(stream, store, settings)
            return writer.run(drain=drain, stop=stop, progress=progress)
        finally:
            stream.close()
