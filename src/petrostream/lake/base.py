"""The lake storage contract: an ABC whose base serializes, while backends only move bytes.

`LakeStore` owns everything the local folder and S3 share (Parquet and JSON
serialization, listing, reading, deleting through a `pyarrow.fs.FileSystem`);
a backend implements one thing, `_put_bytes`: make a whole object appear at its
final path atomically, so a reader never sees a partial file. On a local disk
that is a write to a temp file outside the table folders and a rename; on S3 a
single PUT of the whole object is atomic by itself.

Paths handed to a store are relative to the lake root, with ``/`` separators
(``sensors/dt=2024-05-01/well_id=WELL-00001/part-ab12.parquet``).
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

SENSORS: Final = "sensors"
REJECTS: Final = "rejects"
TABLES: Final[tuple[str, ...]] = (SENSORS, REJECTS)
META_DIR: Final = "_petrostream"  # commit logs, intents, temp files: never inside a table folder
# Doubles as BYTE_STREAM_SPLIT: readers (pyarrow, DuckDB, Trino >= 389, hence Athena
# engine 3) decode it; zstd then compresses a sensor column 20-40 % better (docs/lake.md).
FLOAT_ENCODING: Final = "byte_stream_split"
FLOAT_ENCODINGS: Final = ("byte_stream_split", "plain")


def parquet_encodings(schema: pa.Schema, float_encoding: str = FLOAT_ENCODING) -> dict[str, Any]:
    """`pyarrow.parquet.write_table` keywords: the encoding of each column by its type.

    * doubles and floats: BYTE_STREAM_SPLIT (or dictionary, falling back to PLAIN, with
      ``float_encoding="plain"``): sensor values are nearly all distinct, a dictionary
      only costs, and the split byte planes compress well;
    * timestamps: DELTA_BINARY_PACKED (readings come about one per second: small deltas);
    * strings, integers and the rest: dictionary (few distinct values: instance ids,
      event types, labels).
    """
    import pyarrow as pa

    if float_encoding not in FLOAT_ENCODINGS:
        raise ValueError(f"float encoding must be one of {FLOAT_ENCODINGS}, got {float_encoding!r}")
    encodings: dict[str, str] = {}
    for field in schema:
        if pa.types.is_floating(field.type) and float_encoding == "byte_stream_split":
            encodings[field.name] = "BYTE_STREAM_SPLIT"
        elif pa.types.is_timestamp(field.type):
            encodings[field.name] = "DELTA_BINARY_PACKED"
    dictionary = [f.name for f in schema if f.name not in encodings]
    return {"use_dictionary": dictionary, "column_encoding": encodings or None}


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file found by `LakeStore.list_files`: its lake-relative path and size in bytes."""

    path: str
    size: int


class LakeStore(ABC):
    """A lake root (local folder or S3 prefix) seen through `pyarrow.fs`.

    Template method: `write_parquet` and `write_json` serialize once in memory,
    then call the backend's `_put_bytes`, which is the only step that differs.
    Every method may raise `OSError` (pyarrow's I/O errors are OSError subclasses).
    """

    float_encoding: str = FLOAT_ENCODING  # "byte_stream_split" or "plain"

    def __init__(self, fs: pafs.FileSystem, base: str, uri: str) -> None:
        self.fs = fs
        self._base = base.rstrip("/")
        self.uri = uri.rstrip("/")

    # -- what a backend implements ------------------------------------------------

    @abstractmethod
    def _put_bytes(self, path: str, data: bytes) -> None:
        """Make ``data`` appear at ``path`` whole, or not at all; overwrite what is there.

        Called by the write methods after serialization. Must be atomic for readers:
        at no moment may a reader list ``path`` and read a partial object.
        """

    # -- template methods ---------------------------------------------------------

    def write_parquet(
        self, path: str, table: pa.Table, *, codec: str = "zstd", row_group_size: int | None = None
    ) -> int:
        """Serialize ``table`` as one Parquet file and put it at ``path`` atomically.

        Encodings follow `parquet_encodings` (``self.float_encoding`` for doubles).
        Returns the file's size in bytes.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(
            table,
            sink,
            compression=None if codec == "none" else codec,
            row_group_size=row_group_size,
            **parquet_encodings(table.schema, self.float_encoding),
        )
        data = sink.getvalue().to_pybytes()
        self._put_bytes(path, data)
        return len(data)

    def write_json(self, path: str, obj: Any) -> None:
        """Put a small JSON document at ``path`` atomically."""
        self._put_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode())

    # -- shared operations --------------------------------------------------------

    def full_path(self, path: str) -> str:
        """The filesystem path of a lake-relative path."""
        return posixpath.join(self._base, path) if path else self._base

    def uri_of(self, path: str) -> str:
        """The URI a reader (DuckDB, pyarrow) opens for a lake-relative path."""
        return f"{self.uri}/{path}" if path else self.uri

    def read_bytes(self, path: str) -> bytes:
        """Return the whole object at ``path``; FileNotFoundError if absent."""
        with self.fs.open_input_stream(self.full_path(path)) as stream:
            return bytes(stream.read())

    def read_json(self, path: str) -> Any:
        """Parse the JSON document at ``path``."""
        return json.loads(self.read_bytes(path))

    def read_parquet(self, path: str) -> pa.Table:
        """Read the whole Parquet file at ``path``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        return pq.read_table(pa.BufferReader(self.read_bytes(path)))

    def list_files(self, prefix: str, *, suffix: str = "") -> list[StoredFile]:
        """Every file under ``prefix`` (recursively) whose name ends with ``suffix``, sorted.

        A missing prefix lists nothing.
        """
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.full_path(prefix), recursive=True, allow_not_found=True)
        found = []
        cut = len(self._base) + 1
        for info in self.fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.path.endswith(suffix):
                found.append(StoredFile(info.path[cut:], int(info.size or 0)))
        return sorted(found, key=lambda f: f.path)

    def exists(self, path: str) -> bool:
        """True when a file is at ``path``."""
        import pyarrow.fs as pafs

        return bool(self.fs.get_file_info(self.full_path(path)).type == pafs.FileType.File)

    def delete(self, path: str) -> None:
        """Delete the file at ``path``; a missing file is not an error (deletes are retried)."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self.full_path(path))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"
