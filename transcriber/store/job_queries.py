"""Statements over many jobs at once: pages and counts, the sweeps' lookups, retention's deletes, the due outbox.

Written in the SQL both dialects share, on whichever connection the store below provides."""

from __future__ import annotations

from collections.abc import Sequence

from transcriber.clock import utcnow
from transcriber.domain.job import Job
from transcriber.store.sqlite_connection import SqliteConnection
from transcriber.store.types import Row

# The literal form the partial index jobs_finished (migration 0008) is defined with: a query must
# repeat it for the planner to know the index covers it.
_FINISHED_SQL = "('completed', 'failed', 'cancelled')"
CHUNK = 500  # values per IN (...) lookup: well under both databases' parameter limits


class JobQueries(SqliteConnection):
    """The store's reads and sweeps across the jobs table (and the summary outbox)."""

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
