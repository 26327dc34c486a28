"""SQL of the summary outbox and of the summary columns of a job, one function per statement.

Written in the SQL that SQLite and PostgreSQL share (`?` placeholders, ON CONFLICT, RETURNING); it
runs through the store's Transaction and rows(), which the PostgreSQL store adapts to its driver."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from transcriber.clock import utc_after, utcnow
from transcriber.domain.job import SummaryStatus
from transcriber.store.sqlite import Store
from transcriber.store.types import Row, Transaction


async def add_pending(tx: Transaction, job_id: str) -> None:
    """Inside the caller's transaction: the job's summary is wanted (again)."""
    now = utcnow()
    await tx.execute(
        "UPDATE jobs SET summary_status = 'pending', summary_text = NULL, summary_error = NULL,"
        " summary_updated_at = ?, summary_round = summary_round + 1 WHERE job_id = ?",
        (now, job_id),
    )
    await tx.execute(
        "INSERT INTO summary_outbox (job_id, state, attempts, next_attempt_at, created_at)"
        " VALUES (?, 'pending', 0, ?, ?) ON CONFLICT (job_id) DO UPDATE SET state = 'pending',"
        " attempts = 0, next_attempt_at = excluded.next_attempt_at, last_error = NULL",
        (job_id, now, now),
    )


async def request(store: Store, job_id: str) -> bool:
    """Ask for a new summary of a completed job; False if the job is not completed."""
    async with store.transaction() as tx:
        if not await tx.rows("SELECT 1 FROM jobs WHERE job_id = ? AND status = 'completed'", (job_id,)):
            return False
        await add_pending(tx, job_id)
    return True


async def due(store: Store, state: str, limit: int = 50, owner: str = "") -> list[Row]:
    """Outbox rows in a state whose next attempt is due, with the transcript to summarize; a shared
    store claims them for owner, so that exactly one server relays each summary."""
    return await store.due_outbox(state, limit, owner)


async def backlog(store: Store) -> int:
    rows = await store.rows("SELECT count(*) AS n FROM summary_outbox")
    return int(rows[0]["n"])


async def mark(store: Store, job_id: str, state: str, summary_status: SummaryStatus) -> bool:
    """Move an outbox row to state and show summary_status on the job; True if the job changed."""
    async with store.transaction() as tx:
        await tx.execute("UPDATE summary_outbox SET state = ? WHERE job_id = ?", (state, job_id))
        return await _set_status(tx, job_id, summary_status)


async def show(store: Store, job_id: str, summary_status: SummaryStatus) -> bool:
    async with store.transaction() as tx:
        return await _set_status(tx, job_id, summary_status)


async def _set_status(tx: Transaction, job_id: str, summary_status: SummaryStatus) -> bool:
    return (
        await tx.execute(
            "UPDATE jobs SET summary_status = ?, summary_updated_at = ? WHERE job_id = ? AND summary_status != ?",
            (str(summary_status), utcnow(), job_id, str(summary_status)),
        )
        > 0
    )


async def retry_later(store: Store, job_id: str, delay: float, error: str) -> None:
    async with store.transaction() as tx:
        await tx.execute(
            "UPDATE summary_outbox SET state = 'pending', attempts = attempts + 1,"
            " next_attempt_at = ?, last_error = ? WHERE job_id = ?",
            (utc_after(delay), error[:500], job_id),
        )


async def settle(
    store: Store, job_id: str, summary: str | None, error: str | None, write: Callable[[], Awaitable[None]]
) -> bool:
    """Store the outcome and drop the outbox row, in one transaction; False if the job is gone.

    `write` (the summary file) runs inside it, after the job is found: a job deleted meanwhile
    is not given a results folder again, since DELETE waits for this transaction.
    """
    status = SummaryStatus.COMPLETED if error is None else SummaryStatus.FAILED
    async with store.transaction() as tx:
        if not await tx.rows("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)):
            return False
        await write()
        await tx.execute(
            "UPDATE jobs SET summary_status = ?, summary_text = ?, summary_error = ?,"
            " summary_updated_at = ? WHERE job_id = ?",
            (str(status), summary, error, utcnow(), job_id),
        )
        await tx.execute("DELETE FROM summary_outbox WHERE job_id = ?", (job_id,))
    return True
