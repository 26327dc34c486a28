"""The embedded job database (SQLite): migrations and one small function per SQL statement."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from transcriber.storage import (
    ACTIVE,
    FINISHED,
    MIGRATIONS_DIR,
    DuplicateJob,
    Hook,
    JobStore,
    Params,
    Row,
    Tx,
    migration_files,
    utcnow,
)

__all__ = ["ACTIVE", "FINISHED", "MIGRATIONS_DIR", "Row", "SqliteStore", "Store", "open_sqlite_store", "utcnow"]
Store = JobStore  # what the layers above annotate with; either backend


class SqliteTx:
    """A transaction on the one aiosqlite connection, as the dialect-neutral Tx."""

    def __init__(self, conn: aiosqlite.Connection):
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self.conn.execute(sql, params)
        return cur.rowcount

    async def fetch(self, sql: str, params: Params = ()) -> list[Row]:
        cur = await self.conn.execute(sql, params)
        return [dict(r) for r in await cur.fetchall()]


class SqliteStore:
    """All reads and writes of jobs.db; one connection, serialised by a lock (one writer)."""

    shared = False  # one server per jobs.db
    # recover() takes back running jobs matching this too: all of them here (no other server).
    STALE = ""

    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTx(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def _write(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

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
        """Insert a new queued job; raises DuplicateJob if the id exists."""
        now = utcnow()
        job = {**job, "options": json.dumps(job["options"]), "created_at": now, "updated_at": now}
        cols = ", ".join(job)
        marks = ", ".join(f":{k}" for k in job)
        try:
            await self._write(f"INSERT INTO jobs ({cols}) VALUES ({marks})", job)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" not in str(exc):
                raise
            raise DuplicateJob(job["job_id"]) from None

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

    async def finish_job(
        self, job_id: str, status: str, fields: Row, hooks: Sequence[Hook] = (), owner: str | None = None
    ) -> bool:
        """Record a terminal status with its fields; hooks run in the same transaction.
        With owner, only while that owner holds the job's lease."""
        now = utcnow()
        values = {**fields, "status": status, "finished_at": now, "updated_at": now}
        sets = ", ".join(f"{k} = :{k}" for k in values)
        async with self.transaction() as tx:
            changed = await tx.execute(
                f"UPDATE jobs SET {sets} WHERE job_id = :job_id AND status = 'running'"
                " AND coalesce(lease_owner, '') = coalesce(:owner, lease_owner, '')",
                {**values, "job_id": job_id, "owner": owner},
            )
            if changed == 0:
                return False
            for hook in hooks:
                await hook(tx)
        return True

    async def requeue_job(self, job_id: str, *, refund_attempt: bool, owner: str | None = None) -> None:
        """Put a running job back in the queue (shutdown interrupted it); with owner, only its own."""
        await self._write(
            "UPDATE jobs SET status = 'queued', progress = 0, started_at = NULL, lease_owner = NULL,"
            " lease_expires_at = NULL, attempts = attempts - ?, updated_at = ?"
            " WHERE job_id = ? AND status = 'running' AND coalesce(lease_owner, '') = coalesce(?, lease_owner, '')",
            (1 if refund_attempt else 0, utcnow(), job_id, owner),
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
        """After a restart: running jobs go back to queued, unless they crashed us too often.
        With PostgreSQL: only those whose server's lease ran out (STALE)."""
        now = utcnow()
        message = f"The job was running when the server stopped {max_attempts} times; not retrying."
        async with self.transaction() as tx:
            failed = await tx.fetch(
                "UPDATE jobs SET status = 'failed', finished_at = ?, updated_at = ?,"
                " error_code = 'worker_crashed', error_message = ?"
                f" WHERE status = 'running' AND attempts >= ?{self.STALE} RETURNING job_id, upload_path",
                (now, now, message, max_attempts),
            )
            rows = await tx.fetch(
                "UPDATE jobs SET status = 'queued', progress = 0, started_at = NULL, updated_at = ?,"
                f" lease_owner = NULL, lease_expires_at = NULL WHERE status = 'running'{self.STALE} RETURNING job_id",
                (now,),
            )
        return [r["job_id"] for r in rows], failed

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

    async def due_outbox(self, state: str, limit: int, owner: str) -> list[Row]:
        """Summary outbox rows in state whose next attempt is due (one server: no claim needed)."""
        return await self.rows(
            "SELECT o.job_id, o.attempts, j.text, j.language FROM summary_outbox o"
            " JOIN jobs j USING (job_id) WHERE o.state = ? AND o.next_attempt_at <= ?"
            " ORDER BY o.next_attempt_at LIMIT ?",
            (state, utcnow(), limit),
        )

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.rows("SELECT status, count(*) AS n FROM jobs GROUP BY status")
        return {r["status"]: r["n"] for r in rows}


async def open_sqlite_store(path: Path, migrations_dir: Path = MIGRATIONS_DIR) -> SqliteStore:
    """Open (creating if needed) the database in WAL mode and apply pending migrations."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON", "busy_timeout = 5000"):
        await conn.execute(f"PRAGMA {pragma}")
    store = SqliteStore(conn)
    try:
        await migrate(store, migrations_dir)
    except BaseException:
        await conn.close()
        raise
    return store


async def migrate(store: SqliteStore, migrations_dir: Path) -> list[str]:
    """Apply forward-only NNNN_name.sql files not yet recorded, each in its own transaction."""
    async with store.transaction() as tx:
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {r["version"] for r in await tx.fetch("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, script in await asyncio.to_thread(migration_files, migrations_dir):
        if version not in done:
            await _apply(store, version, name, script)
            applied.append(name)
    return applied


async def _apply(store: SqliteStore, version: int, name: str, script: str) -> None:
    statements = [s for s in _split_sql(script) if s.strip()]
    async with store.transaction() as tx:
        for statement in statements:
            await tx.execute(statement)
        await tx.execute(
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
