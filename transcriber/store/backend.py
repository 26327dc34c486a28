"""Which job store a server opens: PostgreSQL when `[database] url` names one, else SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite

from transcriber.settings import Settings
from transcriber.store.migrate import MIGRATIONS, migrate
from transcriber.store.sqlite import Store


async def open_job_store(settings: Settings) -> Store:
    """PostgreSQL (shared by every server that points at it) or SQLite at <data_dir>/jobs.db."""
    if settings.database.url:
        from transcriber.store.postgres import open_pg_store  # asyncpg only where it is used

        return await open_pg_store(settings.database.url)
    return await open_store(settings.data_dir / "jobs.db")


async def open_store(path: Path, migrations: Path = MIGRATIONS) -> Store:
    """Open (creating if needed) the database in WAL mode and apply pending migrations."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "busy_timeout = 5000"):
        await conn.execute(f"PRAGMA {pragma}")
    store = Store(conn)
    try:
        await migrate(store, migrations)
    except BaseException:
        await conn.close()
        raise
    return store
