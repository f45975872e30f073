"""End-to-end fixtures: one `petrostream demo --no-serve` run per session, in a fresh home."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


def petrostream_command() -> list[str]:
    """The installed console script beside this interpreter (as a user runs it)."""
    script = Path(sys.executable).with_name("petrostream")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from petrostream.cli import main; main()"]


def clean_env() -> dict[str, str]:
    """The environment without PETROSTREAM_* settings a developer may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETROSTREAM_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def petrostream_cli() -> list[str]:
    """The command that runs `petrostream` (for tests that start a server)."""
    return petrostream_command()


@pytest.fixture(scope="session")
def cli_env() -> dict[str, str]:
    """A clean environment for `petrostream` subprocesses."""
    return clean_env()


@dataclass(frozen=True)
class DemoResult:
    """A finished demo run: its home and what it printed."""

    home: Path
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """`petrostream --home <empty> demo --no-serve --speed 0`, run once for the e2e tests."""
    home = tmp_path_factory.mktemp("e2e") / "home"
    done = subprocess.run(
        [*petrostream_command(), "--home", str(home), "demo", "--no-serve", "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
        check=False,
    )
    return DemoResult(home, done.returncode, done.stdout, done.stderr)
