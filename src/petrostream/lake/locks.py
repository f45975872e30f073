"""One process per lake actor: an advisory file lock in the PetroStream home.

The lock is `fcntl.flock` on ``<home>/locks/<actor>.lock``: the kernel drops it
when the process dies, even by SIGKILL, so a restart never waits on a stale lock.
It guards the processes of one machine sharing a home; two machines writing one
S3 lake are not guarded (run one writer per lake).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from petrostream.errors import ConfigError


class ActorLock:
    """An exclusive, non-blocking lock; use as a context manager.

    Raises:
        ConfigError: another process holds the lock (the message names it).
    """

    def __init__(self, home: Path, actor: str, *, wait: float = 0.0) -> None:
        self.path = Path(home) / "locks" / f"{actor}.lock"
        self.actor = actor
        self.wait = wait
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait`` seconds, or raise ConfigError."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                os.close(fd)
                raise ConfigError(
                    f"another {self.actor} is running on this home (lock {self.path}); "
                    "stop it first or wait for it to finish"
                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def try_acquire(self) -> bool:
        """Take the lock if free (no waiting); False if another process holds it."""
        self.wait = 0.0
        try:
            self.acquire()
        except ConfigError:
            return False
        return True

    def __enter__(self) -> ActorLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
