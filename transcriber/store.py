"""The job database: migrations and one small function per SQL statement, on one connection."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled")
Row = dict[str, Any]
Params = Sequence[Any] | Mapping[str, Any]
Hook = Callable[[aiosqlite.Connection], Awaitable[None]]


def utcnow() -> str:
    """ISO 8601 UTC with milliseconds: sorts as text, reads well in the sqlite3 shell."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Store:
    """All reads and writes of jobs.db; one connection, serialised by a lock (one writer)."""

    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _write(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    async def rows(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            return [dict(r) for r in await cur.fetchall()]

    async def row(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.rows(sql, params)
        return rows[0] if rows else None

    async def close(self) -> None:
        await self._conn.close()

    async def ping(self) -> None:
        await self.rows("SELECT 1")

    # --- jobs -------------------------------------------------------------------------------

    async def insert_job(self, job: Row) -> None:
        """Insert a new queued job; raises sqlite3.IntegrityError if the id exists."""
        now = utcnow()
        job = {**job, "options": json.dumps(job["options"]), "created_at": now, "updated_at": now}
        cols = ", ".join(job)
        marks = ", ".join(f":{k}" for k in job)
        await self._write(f"INSERT INTO jobs ({cols}) VALUES ({marks})", job)

    async def get_job(self, job_id: str) -> Row | None:
        return await self.row("SELECT * FROM jobs WHERE job_id = ?", (job_id,))

    async def claim_job(self, job_id: str) -> Row | None:
        """Move a queued job to running and count the attempt; None if it is no longer queued."""
        now = utcnow()
        changed = await self._write(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?,"
            " updated_at = ?, progress = 0 WHERE job_id = ? AND status = 'queued'",
            (now, now, job_id),
        )
        return await self.get_job(job_id) if changed else None

    async def set_progress(self, job_id: str, progress: float, language: str | None) -> None:
        await self._write(
            "UPDATE jobs SET progress = ?, language = coalesce(?, language), updated_at = ?"
            " WHERE job_id = ? AND status = 'running'",
            (progress, language, utcnow(), job_id),
        )

    async def finish_job(self, job_id: str, status: str, fields: Row, hooks: Sequence[Hook] = ()) -> bool:
        """Record a terminal status with its fields; hooks run in the same transaction."""
        now = utcnow()
        values = {**fields, "status": status, "finished_at": now, "updated_at": now}
        sets = ", ".join(f"{k} = :{k}" for k in values)
        async with self.transaction() as conn:
            cur = await conn.execute(
                f"UPDATE jobs SET {sets} WHERE job_id = :job_id AND status = 'running'",
                {**values, "job_id": job_id},
            )
            if cur.rowcount == 0:
                return False
            for hook in hooks:
                await hook(conn)
        return True

    async def requeue_job(self, job_id: str, *, refund_attempt: bool) -> None:
        """Put a running job back in the queue (shutdown interrupted it)."""
        await self._write(
            "UPDATE jobs SET status = 'queued', progress = 0, started_at = NULL,"
            " attempts = attempts - ?, updated_at = ? WHERE job_id = ? AND status = 'running'",
            (1 if refund_attempt else 0, utcnow(), job_id),
        )

    async def cancel_queued(self, job_id: str) -> bool:
        now = utcnow()
        changed = await self._write(
            "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = ?,"
            " updated_at = ?, error_code = 'cancelled', error_message = 'Cancelled by request.'"
            " WHERE job_id = ? AND status = 'queued'",
            (now, now, job_id),
        )
        return changed > 0

    async def request_cancel(self, job_id: str) -> bool:
        changed = await self._write(
            "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE job_id = ? AND status = 'running'",
            (utcnow(), job_id),
        )
        return changed > 0

    async def delete_job(self, job_id: str) -> bool:
        placeholders = ", ".join("?" for _ in FINISHED)
        changed = await self._write(
            f"DELETE FROM jobs WHERE job_id = ? AND status IN ({placeholders})", (job_id, *FINISHED)
        )
        return changed > 0

    async def recover(self, max_attempts: int) -> tuple[list[str], list[Row]]:
        """After a restart: running jobs go back to queued, unless they crashed us too often."""
        now = utcnow()
        message = f"The job was running when the server stopped {max_attempts} times; not retrying."
        async with self.transaction() as conn:
            cur = await conn.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?, updated_at = ?,"
                " error_code = 'worker_crashed', error_message = ?"
                " WHERE status = 'running' AND attempts >= ? RETURNING job_id, upload_path",
                (now, now, message, max_attempts),
            )
            failed = [dict(r) for r in await cur.fetchall()]
            cur = await conn.execute(
                "UPDATE jobs SET status = 'queued', progress = 0, started_at = NULL, updated_at = ?"
                " WHERE status = 'running' RETURNING job_id",
                (now,),
            )
            requeued = [r[0] for r in await cur.fetchall()]
        return requeued, failed

    async def active_uploads(self) -> list[Row]:
        return await self.rows("SELECT upload_path FROM jobs WHERE upload_path IS NOT NULL")

    async def queued_jobs(self) -> list[Row]:
        return await self.rows(
            "SELECT job_id, duration, created_at FROM jobs WHERE status = 'queued' ORDER BY created_at"
        )

    async def list_jobs(self, status: str | None, limit: int, before: Row | None) -> list[Row]:
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if before:
            where.append("(created_at, job_id) < (?, ?)")
            params += [before["created_at"], before["job_id"]]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return await self.rows(
            f"SELECT * FROM jobs {clause} ORDER BY created_at DESC, job_id DESC LIMIT ?",
            (*params, limit),
        )

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.rows("SELECT status, count(*) AS n FROM jobs GROUP BY status")
        return {r["status"]: r["n"] for r in rows}


async def open_store(path: Path, migrations_dir: Path = MIGRATIONS_DIR) -> Store:
    """Open (creating if needed) the database in WAL mode and apply pending migrations."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "busy_timeout = 5000"):
        await conn.execute(f"PRAGMA {pragma}")
    store = Store(conn)
    try:
        await migrate(store, migrations_dir)
    except BaseException:
        await conn.close()
        raise
    return store


async def migrate(store: Store, migrations_dir: Path) -> list[str]:
    """Apply forward-only NNNN_name.sql files not yet recorded, each in its own transaction."""
    async with store.transaction() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        cur = await conn.execute("SELECT version FROM schema_migrations")
        done = {r[0] for r in await cur.fetchall()}
    applied = []
    for version, name, script in await asyncio.to_thread(_migration_files, migrations_dir):
        if version not in done:
            await _apply(store, version, name, script)
            applied.append(name)
    return applied


def _migration_files(migrations_dir: Path) -> list[tuple[int, str, str]]:
    files = sorted(migrations_dir.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    return [(int(f.name[:4]), f.name, f.read_text(encoding="utf-8")) for f in files]


async def _apply(store: Store, version: int, name: str, script: str) -> None:
    statements = [s for s in _split_sql(script) if s.strip()]
    async with store.transaction() as conn:
        for statement in statements:
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, utcnow()),
        )


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements at each ';' that ends one (complete_statement knows quotes
    and comments); a statement keeps the rest of its line when that is only whitespace."""
    statements: list[str] = []
    current = ""
    pieces = script.split(";")
    for i, raw in enumerate(pieces):
        piece = raw
        if not current and statements and (eol := _LINE_END.match(raw)):
            statements[-1] += eol.group()
            piece = raw[eol.end() :]
        current += piece if i == len(pieces) - 1 else piece + ";"
        if i < len(pieces) - 1 and sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    if _COMMENTS.sub("", current).strip():
        raise ValueError("migration ends with an incomplete SQL statement")
    return [s for s in statements if _COMMENTS.sub("", s).strip(" \n\t;")]


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_LINE_END = re.compile(r"[ \t]*\n")
