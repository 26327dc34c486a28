"""Whether an error means the disk or the database is full: OS, SQLite and PostgreSQL spellings."""

from __future__ import annotations

import errno
import sqlite3

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
SQLITE_FULL = 13
PG_DISK_FULL = "53100"  # SQLSTATE disk_full (asyncpg errors carry it as .sqlstate)
MAX_CHAIN = 8


def is_disk_full(exc: BaseException | None) -> bool:
    """ENOSPC/EDQUOT, SQLite's SQLITE_FULL or PostgreSQL's disk_full, here or in the cause chain."""
    seen = 0
    while exc is not None and seen < MAX_CHAIN:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
            return True
        if getattr(exc, "sqlstate", None) == PG_DISK_FULL:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
