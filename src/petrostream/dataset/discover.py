"""Find 3W instances under the paths a user gives."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from petrostream.dataset.base import SUFFIXES, Instance, instance_of
from petrostream.errors import DatasetError


def discover(paths: Sequence[Path]) -> list[Instance]:
    """Every 3W instance under ``paths``, sorted by path and without duplicates.

    Each path is a file, a class folder (``.../2/``) or a whole 3W tree; folders are
    searched recursively for ``.csv`` and ``.parquet`` files (hidden ones skipped).

    Raises:
        DatasetError: a path does not exist, a file is not CSV or Parquet, or a folder
            holds no instance.
    """
    found: dict[Path, Instance] = {}
    for given in paths:
        path = Path(given)
        if path.is_file():
            instance = instance_of(path)
            found.setdefault(path.resolve(), instance)
        elif path.is_dir():
            files = [
                f
                for f in path.rglob("*")
                if f.suffix.lower() in SUFFIXES
                and f.is_file()
                and not any(p.startswith(".") for p in f.relative_to(path).parts)
            ]
            if not files:
                raise DatasetError(f"{path}: no 3W instance (.csv or .parquet file) in this folder")
            for file in files:
                found.setdefault(file.resolve(), instance_of(file))
        else:
            raise DatasetError(f"{path}: no such file or folder")
    return sorted(found.values(), key=lambda i: str(i.path))
