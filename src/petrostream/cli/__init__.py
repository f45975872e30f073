"""The ``petrostream`` command line: one verb per stage of the pipeline (see DESIGN)."""

from __future__ import annotations

import errno
import logging
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from petrostream.errors import PetroStreamError
from petrostream.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


class _Group(click.Group):
    """A group that turns PetroStream errors into a one-line message and exit code 2.

    A failing file system or database (a full disk, a path that is not a folder, a
    locked or read-only file) is the user's surroundings, not a bug: it gets a
    sentence saying what and how to fix it, exit code 1, and the traceback only at
    ``--log-level DEBUG``. Anything else is a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PetroStreamError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(2)
        except (OSError, sqlite3.OperationalError) as exc:
            logging.getLogger(__name__).debug("environment error", exc_info=True)
            click.secho(f"error: {environment_error(exc)}", fg="red", err=True)
            sys.exit(1)


_OS_HINTS: dict[int, str] = {
    errno.ENOSPC: "the disk is full: free some space and run the command again "
    "(what was committed before is kept)",
    errno.EDQUOT: "the disk quota is exhausted: free some space and run the command again",
    errno.EACCES: "permission denied: choose a path you can write (--home, --out)",
    errno.EPERM: "operation not permitted: choose a path you can write (--home, --out)",
    errno.EROFS: "the file system is read-only: choose a writable --home or output path",
    errno.ENOENT: "no such file or folder: check the path (its parent folder must exist)",
    errno.ENOTDIR: "a part of the path is a file, not a folder: check --home and the paths",
    errno.EEXIST: "a file is in the way where a folder is needed: move it or choose another path",
    errno.EISDIR: "the path is a folder where a file is needed: give a file name",
}


def environment_error(exc: OSError | sqlite3.OperationalError) -> str:
    """One sentence for an OS or SQLite failure: where, what, and how to fix it."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        if "disk is full" in text or "disk I/O" in text:
            return f"{text}: free some disk space under the home and run the command again"
        if "locked" in text or "busy" in text:
            return f"{text}: another petrostream process is using this home; wait or stop it"
        if "readonly" in text or "unable to open" in text:
            return f"{text}: the home (--home / PETROSTREAM_HOME) must be a writable folder"
        return f"database error: {text}"
    where = exc.filename if exc.filename is not None else "?"
    hint = _OS_HINTS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return f"{where}: {hint}"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(path_type=Path, file_okay=False),
    envvar="PETROSTREAM_HOME",
    default=None,
    help="State folder (stream, lake, catalog). [env PETROSTREAM_HOME; default ./.petrostream]",
)
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default=None,
    help="Log verbosity on stderr. [env PETROSTREAM_LOG_LEVEL; default INFO]",
)
@click.version_option(package_name="petrostream")
@click.pass_context
def main(ctx: click.Context, home: Path | None, log_level: str | None) -> None:
    """PetroStream: an event-driven data lake for offshore oil-well sensor data.

    Replay Petrobras 3W instances into a stream, detect dangerous conditions in
    real time, land every reading in a Parquet lake, catalog it and query it
    with Athena SQL, locally or on AWS. State lives under --home.
    """
    overrides: dict[str, Any] = {}
    if home is not None:
        overrides["home"] = home
    if log_level is not None:
        overrides["log_level"] = log_level.upper()
    settings = Settings(**overrides)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # pyiceberg logs every FileIO it loads at INFO: one line per table opened.
    logging.getLogger("pyiceberg.io").setLevel(max(logging.WARNING, logging.getLogger().level))
    ctx.obj = settings


def output_format(*choices: str) -> Callable[[F], F]:
    """The ``--format`` option every reporting verb shares (first choice is the default)."""
    formats = choices or ("table", "json")
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(formats)),
        default=formats[0],
        show_default=True,
        help="table for people; json (an array or object) for machines"
        + ("; csv for spreadsheets." if "csv" in formats else "."),
    )


def settings_of(ctx: click.Context) -> Settings:
    """The settings the root command built."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)  # noqa: S101 - set by `main`
    return settings


def _register() -> None:
    # Command modules import only click at module level; heavy imports stay in
    # the command bodies so `petrostream --help` is fast.
    from petrostream.cli import commands

    for command in commands.ALL:
        main.add_command(command)


_register()
