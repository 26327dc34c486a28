"""SQL of the summary outbox and of the summary columns of a job, one function per statement.

Written in the SQL that SQLite and PostgreSQL share (`?` placeholders, ON CONFLICT, RETURNING), run
through the store's dialect-neutral Tx and rows(), so one module serves both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from transcriber.storage import Tx
from transcriber.store import Row, Store, utcnow


def later(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def add_pending(conn: Tx, job_id: str) -> None:
    """Inside the caller's transaction: the job's summary is wanted (again)."""
    now = utcnow()
    await conn.execute(
        "UPDATE jobs SET summary_status = 'pending', summary_text = NULL, summary_error = NULL,"
        " summary_updated_at = ? WHERE job_id = ?",
        (now, job_id),
    )
    await conn.execute(
        "INSERT INTO summary_outbox (job_id, state, attempts, next_attempt_at, created_at)"
        " VALUES (?, 'pending', 0, ?, ?) ON CONFLICT (job_id) DO UPDATE SET state = 'pending',"
        " attempts = 0, next_attempt_at = excluded.next_attempt_at, last_error = NULL",
        (job_id, now, now),
    )


async def request(store: Store, job_id: str) -> bool:
    """Ask for a new summary of a completed job; False if the job is not completed."""
    async with store.transaction() as conn:
        if not await conn.fetch("SELECT 1 FROM jobs WHERE job_id = ? AND status = 'completed'", (job_id,)):
            return False
        await add_pending(conn, job_id)
    return True


async def due(store: Store, state: str, limit: int = 50, owner: str = "") -> list[Row]:
    """Outbox rows in a state whose next attempt is due, with the transcript to summarize; on a
    shared store they are claimed for owner, so that exactly one server relays each summary."""
    return await store.due_outbox(state, limit, owner)


async def backlog(store: Store) -> int:
    rows = await store.rows("SELECT count(*) AS n FROM summary_outbox")
    return int(rows[0]["n"])


async def mark(store: Store, job_id: str, state: str, summary_status: str) -> None:
    """Move an outbox row to state and show summary_status on the job."""
    async with store.transaction() as conn:
        await conn.execute("UPDATE summary_outbox SET state = ? WHERE job_id = ?", (state, job_id))
        await _set_status(conn, job_id, summary_status)


async def show(store: Store, job_id: str, summary_status: str) -> None:
    async with store.transaction() as conn:
        await _set_status(conn, job_id, summary_status)


async def _set_status(conn: Tx, job_id: str, summary_status: str) -> None:
    await conn.execute(
        "UPDATE jobs SET summary_status = ?, summary_updated_at = ? WHERE job_id = ? AND summary_status != ?",
        (summary_status, utcnow(), job_id, summary_status),
    )


async def retry_later(store: Store, job_id: str, delay: float, error: str) -> None:
    async with store.transaction() as conn:
        await conn.execute(
            "UPDATE summary_outbox SET state = 'pending', attempts = attempts + 1,"
            " next_attempt_at = ?, last_error = ? WHERE job_id = ?",
            (later(delay), error[:500], job_id),
        )


async def settle(store: Store, job_id: str, summary: str | None, error: str | None) -> None:
    """Store the outcome and drop the outbox row, in one transaction."""
    async with store.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET summary_status = ?, summary_text = ?, summary_error = ?,"
            " summary_updated_at = ? WHERE job_id = ?",
            ("completed" if error is None else "failed", summary, error, utcnow(), job_id),
        )
        await conn.execute("DELETE FROM summary_outbox WHERE job_id = ?", (job_id,))
