"""Pick a stream backend from settings; backends are imported lazily.

The local runtime and the tools call these two functions and code only against
`Stream` / `CheckpointStore`, so boto3 is imported only when Kinesis is chosen.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from petrostream.errors import ConfigError
from petrostream.settings import Settings
from petrostream.stream.base import CheckpointStore, Stream

BACKENDS: Final = ("local", "kinesis")
CHECKPOINT_FILE: Final = "checkpoints.db"  # under settings.home, for the kinesis backend


def _check(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"unknown stream backend {backend!r}: use one of {', '.join(BACKENDS)}")


def open_stream(settings: Settings, backend: str = "local") -> Stream:
    """Open the configured stream.

    ``local``: the SQLite stream at ``settings.stream_path`` (created on first use
    with ``stream_shards`` shards and ``retention_hours``; ``fault_rate`` applies).
    ``kinesis``: the Kinesis stream ``settings.stream_name`` (boto3 reads AWS_* itself).

    Raises:
        ConfigError: unknown backend, or a file that is not a stream.
    """
    _check(backend)
    if backend == "kinesis":
        from petrostream.stream.kinesis import KinesisStream

        return KinesisStream(settings.stream_name)
    from petrostream.stream.local import LocalStream

    return LocalStream(
        settings.stream_path,
        name=settings.stream_name,
        shard_count=settings.stream_shards,
        retention=timedelta(hours=settings.retention_hours),
        fault_rate=settings.fault_rate,
    )


def open_checkpoints(settings: Settings, backend: str = "local") -> CheckpointStore:
    """Open the consumers' checkpoint store for the stream `open_stream` opens.

    ``local``: the local stream itself (checkpoints live in its file, so `describe`
    shows lag). ``kinesis``: ``<home>/checkpoints.db``, keyed by the stream name.
    """
    _check(backend)
    if backend == "kinesis":
        from petrostream.stream.checkpoints import SQLiteCheckpointStore

        return SQLiteCheckpointStore(settings.home / CHECKPOINT_FILE, stream=settings.stream_name)
    from petrostream.stream.local import LocalStream

    return LocalStream(
        settings.stream_path,
        name=settings.stream_name,
        shard_count=settings.stream_shards,
        retention=timedelta(hours=settings.retention_hours),
    )
