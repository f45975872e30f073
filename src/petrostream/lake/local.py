"""The lake in a local folder: atomic puts by temp file + rename on the same filesystem."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from petrostream.lake.base import META_DIR, LakeStore

TMP_DIR = f"{META_DIR}/tmp"  # noqa: S108 - inside the lake root, not /tmp


class LocalLakeStore(LakeStore):
    """A lake rooted at a local folder (created if missing).

    A put writes ``<root>/_petrostream/tmp/<uuid>``, fsyncs it and renames it over
    the final path: rename is atomic on one filesystem, and the temp folder is
    outside every table folder, so no reader ever lists a partial file.
    """

    def __init__(self, root: Path | str) -> None:
        import pyarrow.fs as pafs

        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        super().__init__(pafs.LocalFileSystem(), self.root.as_posix(), self.root.as_posix())

    def _put_bytes(self, path: str, data: bytes) -> None:
        final = self.root / path
        tmp = self.root / TMP_DIR / uuid.uuid4().hex
        tmp.parent.mkdir(parents=True, exist_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def clean_temp(self) -> int:
        """Delete temp files a killed process left behind; returns how many.

        Call only while no other writer of this lake is putting (the lake writer
        does it at start-up under its lock; compaction puts into the same folder,
        so it skips files younger than a minute).
        """
        import time

        folder = self.root / TMP_DIR
        if not folder.is_dir():
            return 0
        removed = 0
        cutoff = time.time() - 60
        for entry in folder.iterdir():
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink(missing_ok=True)
                removed += 1
        return removed
