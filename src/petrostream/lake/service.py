"""The lake side of ``petrostream run``: open the stream and the lake, lock, recover, consume.

`run_lake_writer` has the same shape as the detector's ``run_detector`` so the
CLI runs both the same way, each in its own thread.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from petrostream.lake.locks import ActorLock
from petrostream.lake.tables import open_catalog
from petrostream.lake.writer import CONSUMER, LakeWriter, ProgressFn, WriterStats

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

    Takes the writer's lock in the home (one writer per home), then consumes from the
    checkpoint of the writer's newest snapshot (what a killed flush wrote is in no
    snapshot: no reader sees it).

    Raises:
        ConfigError: another lake writer holds the lock, or a setting is wrong.
        OSError: the lake cannot be written after retries.
    """
    from petrostream.arrow_startup import skip_pandas_probe
    from petrostream.stream.factory import open_stream

    # Before pyiceberg's pyarrow IO loads: pyarrow.dataset's first conversion would
    # import pandas (~32 MB of the writer's peak RSS); nothing here hands it pandas.
    skip_pandas_probe()
    with ActorLock(settings.home, CONSUMER):
        catalog = open_catalog(settings.home, settings.lake_uri, settings.lake_catalog)
        stream = open_stream(settings, backend=backend)
        try:
            writer = LakeWriter.from_settings(stream, catalog, settings)
            return writer.run(drain=drain, stop=stop, progress=progress)
        finally:
            stream.close()
