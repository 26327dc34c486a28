"""The job database: one small method per SQL statement, on one connection, returning Jobs.

This is the embedded SQLite store, and the base of the PostgreSQL one (postgres.py): the SQL here
keeps to what both dialects share, so the shared store inherits every statement and only swaps
the connection handling (sqlite_connection.py) and adds claims and leases. This module holds one
job's lifecycle, from insert to delete; statements over many jobs are job_queries.py's."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict

from transcriber.clock import utcnow
from transcriber.domain.job import FINISHED, Job, JobStatus, NewJob, Outcome
from transcriber.store.job_queries import JobQueries
from transcriber.store.types import DuplicateJob, FinishHook, Recovered


class Store(JobQueries):
    """All reads and writes of jobs.db; one connection, serialised by a lock (one writer)."""

    shared = False  # one server per jobs.db; True for a database many servers use at once
    # recover() takes back the running jobs that also match this: here all (no other server runs any)
    STALE = ""

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

    async def forget_upload(self, job_id: str) -> None:
        """A finished job's upload file is gone (or going): its row no longer points at it."""
        marks = ", ".join("?" for _ in FINISHED)
        await self.write(
            f"UPDATE jobs SET upload_path = NULL WHERE job_id = ? AND upload_path IS NOT NULL AND status IN ({marks})",
            (job_id, *FINISHED),
        )
