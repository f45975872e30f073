"""Fixtures shared by every test folder: a state home, the real 3W files, a moto server."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from petrostream.lake.local import LocalLakeStore
from petrostream.settings import Settings
from petrostream.stream.local import LocalStream

REPO = Path(__file__).resolve().parents[1]
BUNDLED_3W = REPO / "src" / "petrostream" / "data" / "3w"


def _real_3w_dir() -> Path:
    """The shared real 3W instances: $PETROSTREAM_3W_DIR, else ../shared/data/3w, else bundled."""
    candidates = [os.environ.get("PETROSTREAM_3W_DIR"), REPO.parent / "shared" / "data" / "3w"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return BUNDLED_3W


@pytest.fixture(scope="session")
def real_3w_dir() -> Path:
    """Folder of real 3W instances laid out as ``<class>/<instance>.csv``."""
    return _real_3w_dir()


@pytest.fixture(scope="session")
def real_3w_files(real_3w_dir: Path) -> list[Path]:
    """Every real 3W CSV file under `real_3w_dir` (at least the two shared ones)."""
    files = sorted(real_3w_dir.rglob("*.csv"))
    assert files, f"no 3W CSV files under {real_3w_dir}"
    return files


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty PetroStream home for one test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings pointing at the test's empty home, everything else default."""
    return Settings(home=home)


@pytest.fixture
def stream(home: Path) -> Iterator[LocalStream]:
    """A real 2-shard local stream in the test's home (folders may override it)."""
    s = LocalStream(home / "stream.db", name="test", shard_count=2)
    yield s
    s.close()


@pytest.fixture
def lake(home: Path) -> LocalLakeStore:
    """A local lake store in the test's home."""
    return LocalLakeStore(home / "lake")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server in this process, on loopback; yields its endpoint URL.

    It speaks the real AWS wire protocol, so boto3 clients pointed at it through
    ``AWS_ENDPOINT_URL`` exercise the same requests as against AWS.
    """
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the moto server with dummy credentials; returns the endpoint URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_server
