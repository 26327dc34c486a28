"""The job database: one small method per SQL statement, on one connection, returning Jobs.

This is the embedded SQLite store, and the base of the PostgreSQL one (postgres.py): the SQL here
keeps to what both dialects share, so the shared store inherits every statement and only swaps
the connection handling and adds claims and leases."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict

import aiosqlite

from transcriber.clock import utcnow
from transcriber.domain.job import FINISHED, Job, JobStatus, NewJob, Outcome
from transcriber.store import bulk
from transcriber.store.types import DuplicateJob, FinishHook, Params, Recovered, Row, Transaction

# The literal form the partial index jobs_finished (migration 0008) is defined with: a query must
# repeat it for the planner to know the index covers it.
_FINISHED_SQL = "('completed', 'failed', 'cancelled')"
CHUNK = 500  # values per IN (...) lookup: well under both databases' parameter limits


class _RolledBack(Exception):
    """Ends a transaction that only measured something, so that it is rolled back."""


class Store:
    """All reads and writes of jobs.db; one connection, serialised by a lock (one writer)."""

    shared = False  # one server per jobs.db; True for a database many servers use at once
    # recover() takes back the running jobs that also match this: here all (no other server runs any)
    STALE = ""

    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn)
                await self._conn.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a deferred constraint, a full or read-only disk) leaves the
                # transaction open; without this rollback every later BEGIN would fail.
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise

    async def write(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def rows(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            return await bulk.each(list(await cur.fetchall()), dict)

    async def close(self) -> None:
        await self._conn.close()

    async def ping(self) -> None:
        await self.rows("SELECT 1")

    def jobs_by(self, index: str, alias: str = "jobs") -> str:
        """The jobs table, read through this index: SQLite must use it (or fail the statement),
        whatever its statistics say, so a pass over a big history cannot regress to a scan."""
        return f"jobs AS {alias} INDEXED BY {index}"

    async def probe_space(self, nbytes: int) -> None:
        """Raise the database's disk-full error unless nbytes more could be written now; keeps nothing."""
        try:
            async with self.transaction() as tx:
                await tx.execute("CREATE TABLE space_probe (filler TEXT)")
                await tx.execute("INSERT INTO space_probe VALUES (?)", (os.urandom(nbytes // 2).hex(),))
                raise _RolledBack
        except _RolledBack:
            pass

    async def _jobs(self, sql: str, params: Params = ()) -> list[Job]:
        return await bulk.each(await self.rows(sql, params), Job.from_row)

    async def insert_job(self, job: NewJob) -> None:
        """Insert a new queued job; raises DuplicateJob if the id exists."""
        now = utcnow()
        row = {**asdict(job), "options": json.dumps(job.options), "created_at": now, "updated_at": now}
        cols, marks = ", ".join(row), ", ".join(f":{k}" for k in row)
        try:
            await self.write(f"INSERT INTO jobs ({cols}) VALUES ({marks})", row)
        except sqlite3.IntegrityError as exc:
            raise DuplicateJob(job.job_id) from exc

    async def get_job(self, job_id: str) -> Job | None:
        found = await self._jobs("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return found[0] if found else None

    async def claim_job(self, job_id: str) -> Job | None:
        """Move a queued job to running and count the attempt; None if it is no longer queued."""
        now = utcnow()
        changed = await self.write(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ?,"
            " updated_at = ?, progress = 0, partial_text = NULL WHERE job_id = ? AND status = 'queued'",
            (now, now, job_id),
        )
        return await self.get_job(job_id) if changed else None

    async def set_progress(self, job_id: str, progress: float, language: str | None, text: str | None = None) -> None:
        """A running job's progress; with text (a shared store), its text so far for the other servers."""
        await self.write(
            "UPDATE jobs SET progress = ?, language = coalesce(?, language), partial_text = coalesce(?, partial_text),"
            " updated_at = ? WHERE job_id = ? AND status = 'running'",
            (progress, language, text, utcnow(), job_id),
        )

    async def finish_job(
        self, job_id: str, outcome: Outcome, hooks: Sequence[FinishHook] = (), owner: str | None = None
    ) -> bool:
        """Record a terminal status; on completion the hooks run in the same transaction.
        With owner (shared store), only while that server still holds the job's lease."""
        now = utcnow()
        values = {**outcome.columns(), "partial_text": None, "finished_at": now, "updated_at": now}
        sets = ", ".join(f"{k} = :{k}" for k in values)
        async with self.transaction() as tx:
            sql = (
                f"UPDATE jobs SET {sets} WHERE job_id = :job_id AND status = 'running'"
                " AND coalesce(lease_owner, '') = coalesce(:owner, lease_owner, '')"
            )
            if outcome.status == JobStatus.COMPLETED:
                sql += " AND cancel_requested = 0"  # a cancel answered 202 wins over a late completion
            if await tx.execute(sql, {**values, "job_id": job_id, "owner": owner}) == 0:
                return False
            if outcome.status == JobStatus.COMPLETED:
                for hook in hooks:
                    await hook.on_completed(tx, job_id)
        return True

    async def set_speakers(self, job_id: str, speakers: str, text: str, summary: str | None) -> bool:
        """A completed diarized job's speakers (JSON), text and summary text, after a rename."""
        changed = await self.write(
            "UPDATE jobs SET speakers = ?, text = ?, summary_text = coalesce(?, summary_text), updated_at = ?"
            " WHERE job_id = ? AND status = 'completed'",
            (speakers, text, summary, utcnow(), job_id),
        )
        return changed > 0

    async def requeue_job(self, job_id: str, *, refund_attempt: bool, owner: str | None = None) -> None:
        """Put a running job back in the queue (shutdown interrupted it); with owner, only its own."""
        await self.write(
            "UPDATE jobs SET status = 'queued', progress = 0, started_at = NULL, lease_owner = NULL,"
            " lease_expires_at = NULL, attempts = attempts - ?, updated_at = ? WHERE job_id = ?"
            " AND status = 'running' AND coalesce(lease_owner, '') = coalesce(?, lease_owner, '')",
            (1 if refund_attempt else 0, utcnow(), job_id, owner),
        )

    async def cancel_queued(self, job_id: str) -> bool:
        now = utcnow()
        changed = await self.write(
            "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = ?,"
            " updated_at = ?, error_code = 'cancelled', error_message = 'Cancelled by request.'"
            " WHERE job_id = ? AND status = 'queued'",
            (now, now, job_id),
        )
        return changed > 0

    async def request_cancel(self, job_id: str) -> bool:
        changed = await self.write(
            "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE job_id = ? AND status = 'running'",
            (utcnow(), job_id),
        )
        return changed > 0

    async def delete_job(self, job_id: str) -> bool:
        marks = ", ".join("?" for _ in FINISHED)
        changed = await self.write(f"DELETE FROM jobs WHERE job_id = ? AND status IN ({marks})", (job_id, *FINISHED))
        return changed > 0

    async def recover(self, max_attempts: int) -> Recovered:
        """After a restart: running jobs go back to queued, unless they were cancelled (a cancel is
        as durable as an accept) or crashed us too often. On a shared store only those whose
        server's lease ran out (STALE)."""
        now = utcnow()
        message = f"The job was running when the server stopped {max_attempts} times; not retrying."
        async with self.transaction() as tx:
            cancelled = await tx.rows(
                "UPDATE jobs SET status = 'cancelled', finished_at = ?, updated_at = ?, lease_owner = NULL,"
                " lease_expires_at = NULL, error_code = 'cancelled', error_message = 'Cancelled by request.'"
                f" WHERE status = 'running' AND cancel_requested = 1{self.STALE} RETURNING *",
                (now, now),
            )
            failed = await tx.rows(
                "UPDATE jobs SET status = 'failed', finished_at = ?, updated_at = ?,"
                " error_code = 'worker_crashed', error_message = ?"
                f" WHERE status = 'running' AND attempts >= ?{self.STALE} RETURNING *",
                (now, now, message, max_attempts),
            )
            requeued = await tx.rows(
                "UPDATE jobs SET status = 'queued', progress = 0, started_at = NULL, updated_at = ?,"
                f" lease_owner = NULL, lease_expires_at = NULL WHERE status = 'running'{self.STALE} RETURNING job_id",
                (now,),
            )
        return Recovered(
            [r["job_id"] for r in requeued], [Job.from_row(r) for r in failed], [Job.from_row(r) for r in cancelled]
        )

    async def known_uploads(self, paths: Sequence[str]) -> set[str]:
        """Which of these upload paths some job row still holds (the start-up sweep's question),
        asked in chunks on the jobs_by_upload index, so the store is never held for long."""
        return await self._known("upload_path", self.jobs_by("jobs_by_upload"), paths)

    async def known_jobs(self, job_ids: Sequence[str]) -> set[str]:
        """Which of these job ids have a row, in chunks on the primary key."""
        return await self._known("job_id", "jobs", job_ids)

    async def _known(self, column: str, table: str, values: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT {column} AS v FROM {table} WHERE {column} IN ({marks})"
            found.update(r["v"] for r in await self.rows(sql, chunk))
        return found

    async def forget_upload(self, job_id: str) -> None:
        """A finished job's upload file is gone (or going): its row no longer points at it."""
        marks = ", ".join("?" for _ in FINISHED)
        await self.write(
            f"UPDATE jobs SET upload_path = NULL WHERE job_id = ? AND upload_path IS NOT NULL AND status IN ({marks})",
            (job_id, *FINISHED),
        )

    async def forget_finished_uploads(self) -> list[str]:
        """Uploads are not kept: the paths finished rows still hold (their server stopped before
        the unlink), which no row points at any more once this returns; the caller removes them."""
        async with self.transaction() as tx:
            rows = await tx.rows(
                f"SELECT job_id, upload_path FROM {self.jobs_by('jobs_by_upload')}"
                f" WHERE upload_path IS NOT NULL AND status IN {_FINISHED_SQL}"
            )
            for row in rows:
                await tx.execute("UPDATE jobs SET upload_path = NULL WHERE job_id = ?", (row["job_id"],))
        return [r["upload_path"] for r in rows]

    async def queued_page(self, after: tuple[str, str] | None, limit: int) -> list[Row]:
        """The next queued jobs oldest first after the (created_at, job_id) cursor, on jobs_queued:
        job_id, created_at and duration, not whole rows."""
        where, params = "", list[object]([limit])
        if after is not None:
            where, params = " AND (created_at, job_id) > (?, ?)", [after[0], after[1], limit]
        return await self.rows(
            f"SELECT job_id, created_at, duration FROM {self.jobs_by('jobs_queued')}"
            f" WHERE status = 'queued'{where} ORDER BY created_at, job_id LIMIT ?",
            params,
        )

    async def queue_depth(self) -> tuple[int, float]:
        """Jobs and audio seconds waiting in the queue (admission, Retry-After, /health)."""
        rows = await self.rows(
            "SELECT count(*) AS n, coalesce(sum(duration), 0) AS s FROM jobs WHERE status = 'queued'"
        )
        return int(rows[0]["n"]), float(rows[0]["s"])

    async def list_jobs(
        self, status: str | None, limit: int, before: tuple[str, str] | None, owner: str | None = None
    ) -> list[Job]:
        """Newest first; `before` is the (created_at, job_id) cursor of the previous page's last job."""
        where, params = [], []
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        if status:
            where.append("status = ?")
            params.append(status)
        if before:
            where.append("(created_at, job_id) < (?, ?)")
            params += list(before)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT * FROM jobs {clause} ORDER BY created_at DESC, job_id DESC LIMIT ?"
        return await self._jobs(sql, (*params, limit))

    async def delete_finished_before(self, cutoff: str, limit: int) -> list[Row]:
        """Delete up to limit finished jobs that ended before cutoff, oldest first, in one statement
        on the jobs_finished index; their job_id and upload_path, for the files to go after."""
        sql = (
            f"DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM {self.jobs_by('jobs_finished')}"
            f" WHERE status IN {_FINISHED_SQL} AND finished_at < ? ORDER BY finished_at LIMIT ?)"
            " RETURNING job_id, upload_path"
        )
        async with self.transaction() as tx:
            return await tx.rows(sql, (cutoff, limit))

    async def count_queued(self, owner: str) -> int:
        rows = await self.rows("SELECT count(*) AS n FROM jobs WHERE owner = ? AND status = 'queued'", (owner,))
        return int(rows[0]["n"])

    async def due_outbox(self, state: str, limit: int, owner: str) -> list[Row]:
        """Summary outbox rows in state whose next attempt is due, with the transcript to summarize;
        the shared store claims them for owner (one server: nothing to claim)."""
        return await self.rows(
            "SELECT o.job_id, o.attempts, j.text, j.language FROM summary_outbox o"
            " JOIN jobs j USING (job_id) WHERE o.state = ? AND o.next_attempt_at <= ?"
            " ORDER BY o.next_attempt_at LIMIT ?",
            (state, utcnow(), limit),
        )

    async def count_by_status(self) -> dict[str, int]:
        rows = await self.rows("SELECT status, count(*) AS n FROM jobs GROUP BY status")
        return {r["status"]: r["n"] for r in rows}
