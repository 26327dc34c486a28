"""The store interface both job databases implement (SQLite, PostgreSQL) and the factory choosing one.

SQL outside the stores (the summary outbox, completion hooks) is written once, in the subset both
dialects share, with `?` placeholders; it runs through `Tx` (inside a store transaction) or
`JobStore.rows`, and each store adapts placeholders and rows to its driver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from transcriber.errors import Unavailable

if TYPE_CHECKING:
    from transcriber.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled")
Row = dict[str, Any]
Params = Sequence[Any] | Mapping[str, Any]


class DuplicateJob(Exception):
    """insert_job: a job with this id already exists (either backend)."""


class StoreUnavailable(Unavailable):
    """The shared database cannot be reached (restarting, network): a 503, retried by clients."""

    def __init__(self, cause: BaseException):
        super().__init__(
            f"The job database is unreachable ({type(cause).__name__}); try again shortly.",
            code="database_unavailable",
            retry_after=5,
        )


def utcnow() -> str:
    """ISO 8601 UTC with milliseconds: sorts as text, reads well in the sqlite3 and psql shells."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Tx(Protocol):
    """One open transaction; `?` placeholders, rows as dicts."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; the number of rows it changed."""

    async def fetch(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one query; its rows."""


Hook = Callable[[Tx], Awaitable[None]]


class JobStore(Protocol):
    """What the service needs from a job database; nothing above a store writes SQL of its own,
    except the dialect-neutral statements run through transaction() and rows()."""

    shared: bool  # True when several servers may use this database at once

    def transaction(self) -> AbstractAsyncContextManager[Tx]: ...
    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def insert_job(self, job: Row) -> None: ...
    async def get_job(self, job_id: str) -> Row | None: ...
    async def claim_job(self, job_id: str) -> Row | None: ...
    async def set_progress(self, job_id: str, progress: float, language: str | None) -> None: ...
    async def finish_job(
        self, job_id: str, status: str, fields: Row, hooks: Sequence[Hook] = (), owner: str | None = None
    ) -> bool: ...
    async def requeue_job(self, job_id: str, *, refund_attempt: bool, owner: str | None = None) -> None: ...
    async def cancel_queued(self, job_id: str) -> bool: ...
    async def request_cancel(self, job_id: str) -> bool: ...
    async def delete_job(self, job_id: str) -> bool: ...
    async def recover(self, max_attempts: int) -> tuple[list[str], list[Row]]: ...
    async def active_uploads(self) -> list[Row]: ...
    async def queued_jobs(self) -> list[Row]: ...
    async def list_jobs(self, status: str | None, limit: int, before: Row | None) -> list[Row]: ...
    async def count_by_status(self) -> dict[str, int]: ...
    async def due_outbox(self, state: str, limit: int, owner: str) -> list[Row]: ...


def migration_files(folder: Path) -> list[tuple[int, str, str]]:
    """(version, file name, text) of the forward-only NNNN_name.sql files in folder, in order."""
    files = sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    return [(int(f.name[:4]), f.name, f.read_text(encoding="utf-8")) for f in files]


async def open_store(settings: Settings) -> JobStore:
    """PostgreSQL when `[database] url` names one, else SQLite at <data_dir>/jobs.db."""
    url = settings.database.url
    if url:
        from transcriber.store_pg import open_pg_store

        return await open_pg_store(url)
    from transcriber.store import open_sqlite_store

    return await open_sqlite_store(settings.data_dir / "jobs.db")
