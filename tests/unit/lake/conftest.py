"""Fixtures of the lake tests: a real local stream and a local lake in the test's home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from petrostream.lake.local import LocalLakeStore
from petrostream.stream.local import LocalStream


@pytest.fixture
def stream(home: Path) -> Iterator[LocalStream]:
    s = LocalStream(home / "stream.db", name="test", shard_count=2)
    yield s
    s.close()


@pytest.fixture
def lake(home: Path) -> LocalLakeStore:
    return LocalLakeStore(home / "lake")
