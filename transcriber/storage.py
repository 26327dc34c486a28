"""Which job store a server opens: PostgreSQL when `[database] url` names one, else SQLite."""

from __future__ import annotations

from transcriber.settings import Settings
from transcriber.store import Store, open_store


async def open_job_store(settings: Settings) -> Store:
    """PostgreSQL (shared by every server that points at it) or SQLite at <data_dir>/jobs.db."""
    if settings.database.url:
        from transcriber.store_pg import open_pg_store  # asyncpg only where it is used

        return await open_pg_store(settings.database.url)
    return await open_store(settings.data_dir / "jobs.db")
