"""The data-directory lock: one server per data directory, unless the job store is shared.

With SQLite every server that opens <data_dir>/jobs.db recovers and runs its jobs, so two of
them on one directory would run every job twice: the second one must refuse to start. The lock
is an advisory fcntl.flock on <data_dir>/.lock held for the life of the process; the kernel
drops it when the process dies, even by SIGKILL, so a crash never leaves a stale lock behind.

With a shared database (PostgreSQL, where claims are row locks and several servers may point
at one data directory on shared storage) each server takes a shared lock instead: shared
holders coexist, and an exclusive (SQLite) server still cannot start next to them.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_NAME = ".lock"


class DataDirBusy(Exception):
    """Another process holds the data directory; the message says which directory and what to do."""


class DataDirLock:
    """flock(<data_dir>/.lock): exclusive by default, shared when the job store is shared."""

    def __init__(self, data_dir: Path, *, shared: bool = False):
        self.path = data_dir / LOCK_NAME
        self.shared = shared
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting; raise DataDirBusy if another server holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusy(
                f"another transcriber server is using the data directory {self.path.parent}; stop it or"
                " give this one its own TRANSCRIBER_DATA_DIR"
            ) from None
        if not self.shared:  # for people: who holds it (a shared lock has many holders)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
