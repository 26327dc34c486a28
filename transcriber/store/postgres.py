"""The shared job database (PostgreSQL via asyncpg): connections, migrations, claims and leases.

The job statements themselves are the SQLite store's: they are written in the SQL both dialects
share, and PgTx rewrites their `?` / `:name` placeholders to asyncpg's `$n`. What only a shared
database needs lives here: claims with FOR UPDATE SKIP LOCKED, leases, NOTIFY on new work, and
migrations under an advisory lock so several servers may start at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path

import asyncpg

from transcriber.clock import utcnow
from transcriber.domain.job import Job, NewJob
from transcriber.errors import Code, Unavailable
from transcriber.store import bulk
from transcriber.store.migrate import MIGRATIONS, migration_files
from transcriber.store.pg_sql import Raw, pg_args, rowcount
from transcriber.store.sqlite import Store
from transcriber.store.types import DuplicateJob, Params, Row, Transaction

NEW_JOB_CHANNEL = "transcriber_new_job"
CANCEL_CHANNEL = "transcriber_cancel"
MIGRATION_LOCK = 0x7472616E73  # pg_advisory_lock key: one migrating server at a time
CONNECT_TIMEOUT = 5.0
POOL_SIZE = 10
OUTBOX_LEASE_SECONDS = 300.0  # a summary held by a dead server is relayed by another after this
CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    # a connection killed under the pool's setup ping can be left mid-operation: as dead as the rest
    asyncpg.InternalClientError,
)

# Earliest virtual deadline first (created_at + duration), as the in-process JobQueue orders.
DEADLINE_ORDER = "virtual_deadline(created_at, duration), created_at, job_id"  # indexed (migration 0005)


class StoreUnavailable(Unavailable):
    """The shared database cannot be reached (restarting, network): a 503 that clients retry."""

    def __init__(self, cause: BaseException):
        message = f"The job database is unreachable ({type(cause).__name__}); try again shortly."
        super().__init__(message, code=Code.DATABASE_UNAVAILABLE, retry_after=5)


class PgTx(Transaction):
    """One transaction on a pooled connection, as the hooks and the outbox see a Transaction."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        text, args = pg_args(sql, params)
        return rowcount(await self.conn.execute(text, *args))

    async def rows(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = pg_args(sql, params)
        return await bulk.each(await self.conn.fetch(text, *args), dict)


class PgStore(Store):
    """The same operations as the embedded store, on a connection pool shared by many servers."""

    shared = True
    STALE = " AND (lease_expires_at IS NULL OR lease_expires_at < utc_iso(0))"

    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection known to be alive: after a database restart the pool still holds
        dead ones; the pool's setup ping finds each, drops it, and we take the next (nothing of
        ours ran on it yet, so this retry is always safe). An unreachable database is a 503."""
        for attempt in range(POOL_SIZE + 1):
            try:
                conn = await self._pool.acquire(timeout=CONNECT_TIMEOUT)
            except CONNECTION_ERRORS as exc:
                if attempt == POOL_SIZE:
                    raise StoreUnavailable(exc) from exc
                continue
            try:
                yield conn
            except CONNECTION_ERRORS as exc:
                raise StoreUnavailable(exc) from exc
            finally:
                await self._pool.release(conn)
            return

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._connection() as conn, conn.transaction():
            yield PgTx(conn)

    async def rows(self, sql: str, params: Params = ()) -> list[Row]:
        text, args = pg_args(sql, params)
        async with self._connection() as conn:
            return await bulk.each(await conn.fetch(text, *args), dict)

    async def close(self) -> None:
        await self._pool.close()

    def jobs_by(self, index: str, alias: str = "jobs") -> str:
        """PostgreSQL has no index hints; its statistics (autovacuum) find the partial indexes."""
        return f"jobs AS {alias}"

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT)

    async def insert_job(self, job: NewJob) -> None:
        """Insert a new queued job and wake idle servers (NOTIFY is delivered at commit)."""
        now = utcnow()
        row = {**asdict(job), "options": json.dumps(job.options), "created_at": now, "updated_at": now}
        marks = ", ".join(f":{k}" for k in row)
        try:
            async with self.transaction() as tx:
                await tx.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({marks})", row)
                await tx.execute("SELECT pg_notify(?, ?)", (NEW_JOB_CHANNEL, job.job_id))
        except asyncpg.UniqueViolationError:
            raise DuplicateJob(job.job_id) from None

    async def claim_next(self, owner: str, lease_seconds: float) -> Job | None:
        """Take the queued job with the earliest virtual deadline; other servers skip it meanwhile."""
        now = utcnow()
        rows = await self.rows(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = $1, updated_at = $1,"
            " progress = 0, partial_text = NULL, lease_owner = $2, lease_expires_at = utc_iso($3) WHERE job_id = ("
            f" SELECT job_id FROM jobs WHERE status = 'queued' ORDER BY {DEADLINE_ORDER}"
            " LIMIT 1 FOR UPDATE SKIP LOCKED) AND status = 'queued' RETURNING *",
            Raw((now, owner, lease_seconds)),
        )
        return Job.from_row(rows[0]) if rows else None

    async def queue_snapshot(self, limit: int) -> tuple[list[Row], list[Row]]:
        """The shared queue in claim order (job_id, created_at, duration, deadline; the first limit,
        read along jobs_queued_by_deadline) and the running jobs (job_id, duration, progress)."""
        async with self._connection() as conn, conn.transaction(isolation="repeatable_read"):
            queued = await conn.fetch(
                "SELECT job_id, created_at, duration, virtual_deadline(created_at, duration) AS deadline"
                f" FROM jobs WHERE status = 'queued' ORDER BY {DEADLINE_ORDER} LIMIT $1",
                limit,
            )
            running = await conn.fetch("SELECT job_id, duration, progress FROM jobs WHERE status = 'running'")
        return [dict(r) for r in queued], [dict(r) for r in running]

    async def renew(self, owner: str, job_ids: Sequence[str], lease_seconds: float) -> dict[str, bool]:
        """Extend this server's leases; {job_id: cancel_requested} for the jobs it still holds."""
        if not job_ids:
            return {}
        rows = await self.rows(
            "UPDATE jobs SET lease_expires_at = utc_iso($3) WHERE job_id = ANY($2::text[])"
            " AND status = 'running' AND lease_owner = $1 RETURNING job_id, cancel_requested",
            Raw((owner, list(job_ids), lease_seconds)),
        )
        return {r["job_id"]: bool(r["cancel_requested"]) for r in rows}

    async def due_outbox(self, state: str, limit: int, owner: str) -> list[Row]:
        """Claim due summary outbox rows for owner; rows another server holds are skipped until its
        lease runs out (a dead server's summaries are relayed by another one)."""
        return await self.rows(
            "WITH claimed AS (UPDATE summary_outbox SET lease_owner = $2, lease_expires_at = utc_iso($4)"
            " WHERE job_id IN (SELECT job_id FROM summary_outbox WHERE state = $1 AND next_attempt_at <= $3"
            " AND (lease_owner = $2 OR lease_expires_at IS NULL OR lease_expires_at < utc_iso(0))"
            " ORDER BY next_attempt_at LIMIT $5 FOR UPDATE SKIP LOCKED)"
            " RETURNING job_id, attempts, next_attempt_at)"
            " SELECT c.job_id, c.attempts, j.text, j.language FROM claimed c JOIN jobs j USING (job_id)"
            " ORDER BY c.next_attempt_at",
            Raw((state, owner, utcnow(), OUTBOX_LEASE_SECONDS, limit)),
        )

    async def request_cancel(self, job_id: str) -> bool:
        """Mark a running job; the server running it hears at once (NOTIFY) or at its next renewal."""
        async with self.transaction() as tx:
            changed = await tx.execute(
                "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE job_id = ? AND status = 'running'",
                (utcnow(), job_id),
            )
            if changed:
                await tx.execute("SELECT pg_notify(?, ?)", (CANCEL_CHANNEL, job_id))
        return changed > 0


async def _alive(conn: asyncpg.Connection) -> None:
    """Run by the pool on every acquire: one round trip that fails on a connection the server closed."""
    await conn.execute("SELECT 1", timeout=CONNECT_TIMEOUT)


async def open_pg_store(url: str, migrations_dir: Path = MIGRATIONS / "postgres") -> PgStore:
    """Connect a pool and apply pending migrations (one server at a time, under an advisory lock)."""
    pool = await asyncpg.create_pool(
        url, min_size=1, max_size=POOL_SIZE, timeout=CONNECT_TIMEOUT, setup=_alive, command_timeout=60
    )
    try:
        await migrate_pg(pool, migrations_dir)
    except BaseException:
        await pool.close()
        raise
    return PgStore(pool)


async def migrate_pg(pool: asyncpg.Pool, migrations_dir: Path) -> list[str]:
    """Apply forward-only NNNN_name.sql files not yet recorded, each in its own transaction."""
    files = await asyncio.to_thread(migration_files, migrations_dir)
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, name, script in files:
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(script)  # no arguments: the simple protocol runs many statements
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                        version,
                        name,
                        utcnow(),
                    )
                applied.append(name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied
