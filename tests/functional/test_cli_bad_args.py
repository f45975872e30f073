"""Every verb with bad arguments or bad surroundings: a sentence and an exit code, no traceback.

`test_query_serve_bad_args.py` covers `query` and `serve` in depth; this matrix covers the
other verbs, and the surroundings a user gets wrong (a home that is a file, an output
folder that does not exist, a full disk).
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from petrostream.cli import environment_error, main


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder holding a binary file named .csv, an empty folder and a plain file."""
    (tmp_path / "binary.csv").write_bytes(b"garbage\x00\x01\xff\r\n\x02")
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("not a folder")
    return tmp_path


CASES = [
    (["replay", "nowhere.csv"], 2, "does not exist"),
    (["replay", "{work}/binary.csv"], 2, "binary.csv"),
    (["replay", "{work}/empty"], 2, "no 3W instance"),
    (["replay", "--speed", "-1", "{work}/empty"], 2, "--speed"),
    (["evaluate", "nowhere"], 2, "no such file or folder"),
    (["evaluate", "{work}/binary.csv"], 2, "binary.csv"),
    (["evaluate", "--cv", "nope", "{work}/empty"], 2, "--cv"),
    (["evaluate", "--rules", "{work}/nope.toml", "{work}/empty"], 2, "nope.toml"),
    (["dataset", "inspect", "{work}/binary.csv"], 2, "cannot be read"),
    (["dataset", "inspect", "nowhere"], 2, "no such file or folder"),
    (["dataset", "synth", "--wells", "-1", "{work}/out"], 2, "--wells"),
    (["dataset", "synth", "--wells", "1", "--hours", "nan", "{work}/out"], 2, "hours"),
    (["alerts", "list"], 2, "no alerts yet"),
    (["alerts", "pending"], 2, "no alerts yet"),
    (["alerts", "retry"], 2, "no alerts yet"),
    (["aws", "cost", "--wells", "0"], 2, "--wells"),
    (["aws", "cost", "--wells", "1e9"], 2, "--wells"),
    (["aws", "package", "--out", "{work}/file/x.zip"], 1, "a file is in the way"),
    (["run", "--drain", "--only", "nope"], 2, "--only"),
    (["--home", "{work}/file", "crawl"], 2, "is a file"),
    (["--home", "{work}/file/home", "crawl"], 1, "is a file, not a folder"),
    (["--log-level", "LOUD", "crawl"], 2, "--log-level"),
    (["nosuchverb"], 2, "No such command"),
]


@pytest.mark.parametrize(("args", "code", "says"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_arguments_get_a_sentence(
    work: Path, tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    argv = [a.replace("{work}", str(work)) for a in args]
    if argv[0] != "--home":
        argv = ["--home", str(tmp_path / "home"), *argv]
    result = CliRunner().invoke(main, argv)
    assert isinstance(result.exception, SystemExit), result.exception  # not an uncaught error
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert says in result.output


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/h/stream.db"), "the disk is full"),
        (OSError(errno.EACCES, "Permission denied", "/h"), "permission denied"),
        (OSError(errno.EROFS, "Read-only file system", "/h"), "read-only"),
        (sqlite3.OperationalError("database or disk is full"), "free some disk space"),
        (sqlite3.OperationalError("database is locked"), "another petrostream process"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "writable folder"),
    ],
)
def test_environment_errors_say_how_to_fix(exc: OSError, says: str) -> None:
    assert says in environment_error(exc)


def test_a_full_disk_mid_verb_is_a_sentence(tmp_path: Path) -> None:
    """The disk fills while a verb writes: one sentence, exit 1, no traceback."""
    target = tmp_path / "catalog.json"

    @click.command(name="write")
    def write() -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    group = click.Group(name="petrostream", commands=[write])
    group.__class__ = type(main)  # the root's error handling, around a verb that fills the disk
    result = CliRunner().invoke(group, ["write"])
    assert isinstance(result.exception, SystemExit)
    assert result.exit_code == 1
    assert f"{target}: the disk is full" in result.output
    assert "Traceback" not in result.output


def test_a_bug_keeps_its_traceback() -> None:
    """Anything that is not the user's surroundings is a bug: it is not disguised."""

    @click.command(name="bug")
    def bug() -> None:
        raise ZeroDivisionError("a bug")

    group = click.Group(name="petrostream", commands=[bug])
    group.__class__ = type(main)
    result = CliRunner().invoke(group, ["bug"])
    assert isinstance(result.exception, ZeroDivisionError)
