"""The small error hierarchy every boundary translates into.

Backends catch their library's exceptions (botocore, sqlite3, duckdb, pyarrow)
and raise one of these, so detection, the CLI and the dashboard never see a
third-party exception type.
"""

from __future__ import annotations


class PetroStreamError(Exception):
    """Base class of every error PetroStream raises on purpose."""


class ConfigError(PetroStreamError):
    """A setting, flag or file the user gave is wrong; the message says how to fix it.

    The CLI prints the message and exits with code 2, without a traceback.
    """


class TransientError(PetroStreamError):
    """A call failed for a reason that may pass (throttling, a lock, a network blip); retry it."""


class InvalidRecord(PetroStreamError):  # noqa: N818 - the name says what it is, as in DESIGN
    """One record cannot be processed; it goes to the dead-letter table with this reason.

    Attributes:
        reason: a short machine-friendly reason (``bad_json``, ``missing_field``…).
        detail: a human sentence saying what and where.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class DatasetError(PetroStreamError):
    """A 3W file cannot be read at all (unknown format, unreadable, wrong header)."""
