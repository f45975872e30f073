"""Fixtures shared by every test folder: a state home, the real 3W files, a moto server."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_3w import named_3w_files

from petrostream.lake.local import LocalLakeStore
from petrostream.settings import Settings
from petrostream.stream.local import LocalStream

REPO = Path(__file__).resolve().parents[1]
BUNDLED_3W = REPO / "src" / "petrostream" / "data" / "3w"

SHARED_PICKS: tuple[str, ...] = (
    "4/WELL-00001_20170316120203.csv",  # CRLF, labelled 4 from the first row, a column empty
    "2/WELL-00010_20171218200131.csv",  # CRLF, unlabelled rows around the transient
    "1/DRAWN_00005.csv",  # hand-drawn, other scales
    "3/SIMULATED_00045.csv",  # simulated, LF
)
"""Named files of the developers' 3W set that cover the quirks its README lists."""


def shared_3w_location() -> Path | None:
    """The developers' 3W set: $PETROSTREAM_3W_DIR, else ../shared/data/3w (None if absent)."""
    for candidate in (os.environ.get("PETROSTREAM_3W_DIR"), REPO.parent / "shared" / "data" / "3w"):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def bundled_3w_dir() -> Path:
    """The package's bundled sample, ``<class>/<instance>.csv``: what unit tests read."""
    return BUNDLED_3W


@pytest.fixture(scope="session")
def bundled_3w_files(bundled_3w_dir: Path) -> list[Path]:
    """Every CSV file of the bundled sample."""
    files = sorted(bundled_3w_dir.rglob("*.csv"))
    assert files, f"no 3W CSV files under {bundled_3w_dir}"
    return files


@pytest.fixture(scope="session")
def shared_3w_dir() -> Path:
    """The developers' 3W set, whatever it holds today (skips, with the reason, if absent).

    Tests that read it compute their expectations from what they find there.
    """
    folder = shared_3w_location()
    if folder is None:
        pytest.skip(
            "the developers' 3W set is absent: set PETROSTREAM_3W_DIR to a 3W tree "
            "(../shared/data/3w in the project's workspace)"
        )
    return folder


@pytest.fixture(scope="session")
def shared_3w_picks(shared_3w_dir: Path) -> list[Path]:
    """`SHARED_PICKS` in the developers' 3W set (skips, naming them, if one is missing)."""
    return named_3w_files(shared_3w_dir, SHARED_PICKS)


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
def catalog(home: Path) -> Any:
    """The Iceberg catalog of a local lake in the test's home (``<home>/lake``)."""
    from petrostream.lake.tables import open_catalog

    return open_catalog(home, str(home / "lake"))


@pytest.fixture
def lake(home: Path) -> LocalLakeStore:
    """A local lake store in the test's home."""
    return LocalLakeStore(home / "lake")


_MARKER_FIXTURES = {"moto_server": "aws", "terraform": "infra", "tf_plugin_dir": "infra"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by what it needs, so `make test-fast` can leave those parts out.

    A test that uses the moto server (directly or through another fixture) is ``aws``;
    one that runs terraform is ``infra``. Browser tests carry ``browser`` themselves.
    """
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            marker = _MARKER_FIXTURES.get(fixture)
            if marker and not item.get_closest_marker(marker):
                item.add_marker(marker)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    return _free_port()


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield int(sock.getsockname()[1])


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


@pytest.fixture
def athena_env(aws_env: str) -> str:
    """`aws_env`, after checking that this moto routes Athena (one clear sentence if not)."""
    from moto_routes import require_routes

    require_routes(aws_env, "athena")
    return aws_env
