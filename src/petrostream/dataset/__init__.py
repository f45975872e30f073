"""3W datasets: find instances, stream their readings, synthesize new ones.

``discover`` turns files, class folders or whole 3W trees into
:class:`Instance` descriptions; ``read_instance`` streams one as
:class:`ReadingBatch` objects in bounded memory (CSV 1.x or Parquet 2.x);
``synthesize`` writes a synthetic 3W tree (see ``petrostream.dataset.synth``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from petrostream.dataset.base import Instance, ReadingBatch, Reject, instance_of
from petrostream.dataset.discover import discover
from petrostream.errors import DatasetError

if TYPE_CHECKING:
    from petrostream.dataset.synth import synthesize as synthesize

__all__ = [
    "DatasetError",
    "Instance",
    "ReadingBatch",
    "Reject",
    "discover",
    "instance_of",
    "read_instance",
    "synthesize",
]


def read_instance(instance: Instance, *, batch_rows: int = 65_536) -> Iterator[ReadingBatch]:
    """Stream an instance's readings in file order, at most ``batch_rows`` rows per batch.

    Bad rows never stop the file: they come back as ``ReadingBatch.rejects``.

    Raises:
        DatasetError: the file cannot be read at all (missing, bad header, not Parquet).
    """
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if instance.format == "csv":
        from petrostream.dataset.csv_reader import read_csv_instance

        return read_csv_instance(instance, batch_rows=batch_rows)
    if instance.format == "parquet":
        from petrostream.dataset.parquet_reader import read_parquet_instance

        return read_parquet_instance(instance, batch_rows=batch_rows)
    raise DatasetError(f"{instance.path}: unknown 3W format {instance.format!r}")


def __getattr__(name: str) -> object:
    # The generator pulls numpy and pandas: load it only when asked for.
    if name == "synthesize":
        from petrostream.dataset.synth import synthesize

        return synthesize
    raise AttributeError(name)
