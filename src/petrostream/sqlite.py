"""The one way PetroStream opens its small local SQLite stores (alerts, state, metrics).

Pure standard library: the Lambda handler's local backends import it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_wal(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating folder and tables) a SQLite file shared by threads and processes.

    WAL lets readers (the dashboard, the CLI) run beside one writer; NORMAL
    synchronous survives a process crash (not a power loss) at a fraction of
    FULL's cost; autocommit mode (``isolation_level=None``) leaves transactions
    to explicit ``BEGIN``. The connection may be used from several threads: callers
    serialize access with their own lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(schema)
    return conn
