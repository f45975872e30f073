"""Pick the lake backend from the lake URI; backends are imported lazily."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from petrostream.lake.base import LakeStore
    from petrostream.settings import Settings


def open_lake(settings: Settings) -> LakeStore:
    """The store of ``settings.lake_uri``: `S3LakeStore` for ``s3://…``, else `LocalLakeStore`.

    It writes doubles with ``settings.parquet_float_encoding``, so the writer,
    compaction and the alerts table encode alike.
    """
    store = open_lake_uri(settings.lake_uri)
    store.float_encoding = settings.parquet_float_encoding
    return store


def open_lake_uri(uri: str) -> LakeStore:
    """The store of a lake URI (a folder path or ``s3://bucket/prefix``)."""
    if uri.startswith("s3://"):
        from petrostream.lake.s3 import S3LakeStore

        return S3LakeStore(uri)
    from petrostream.lake.local import LocalLakeStore

    return LocalLakeStore(uri.removeprefix("file://"))
