"""SQL of webhook deliveries: find events to report, queue them once, record each attempt."""

from __future__ import annotations

import uuid

from transcriber.clock import utcnow
from transcriber.store.sqlite import Store
from transcriber.store.types import Row

BATCH = 100
_TERMINAL_JOB = "('completed', 'failed', 'cancelled')"
_TERMINAL_SUMMARY = "('completed', 'failed')"
# Jobs that reached a state worth reporting since `since` and whose event has no delivery yet;
# the partial indexes on jobs(updated_at|summary_updated_at) WHERE callback_url IS NOT NULL keep
# this cheap however many jobs the table holds. SQLite is made to use them (Store.jobs_by): without
# statistics its planner prefers jobs_by_status and reads every finished job, about once a second.
# PostgreSQL, before its first ANALYZE, ANDs the partial index with jobs_by_status (as costly):
# `status || ''` is no column any index holds, so neither planner can pick that path.
_UNREPORTED = """
SELECT j.job_id, j.callback_url, 'job.' || j.status AS type, 0 AS round FROM {by_updated}
 WHERE j.callback_url IS NOT NULL AND j.updated_at >= :since AND (j.status || '') IN {job_states}
   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.job_id = j.job_id AND d.type = 'job.' || j.status)
UNION ALL
SELECT j.job_id, j.callback_url, 'summary.' || j.summary_status AS type, j.summary_round AS round FROM {by_summary}
 WHERE j.callback_url IS NOT NULL AND j.summary_updated_at >= :since AND (j.summary_status || '') IN {summary_states}
   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.job_id = j.job_id
                    AND d.type = 'summary.' || j.summary_status AND d.round = j.summary_round)
LIMIT :limit
"""


def unreported_sql(store: Store) -> str:
    return _UNREPORTED.format(
        by_updated=store.jobs_by("jobs_callback_updated", "j"),
        by_summary=store.jobs_by("jobs_callback_summary", "j"),
        job_states=_TERMINAL_JOB,
        summary_states=_TERMINAL_SUMMARY,
    )


async def unreported(store: Store, since: str) -> list[Row]:
    """(job_id, callback_url, type) of events that happened since `since` and have no delivery."""
    return await store.rows(unreported_sql(store), {"since": since, "limit": BATCH})


async def add(store: Store, job_id: str, event_type: str, url: str, payload: str, round_: int = 0) -> bool:
    """Queue one delivery; False if this job already has one of this type and summary round (exactly once)."""
    now = utcnow()
    async with store.transaction() as tx:
        added = await tx.execute(
            "INSERT INTO webhook_deliveries (webhook_id, job_id, type, round, url, payload, next_attempt_at,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (job_id, type, round) DO NOTHING",
            (f"msg_{uuid.uuid4().hex}", job_id, event_type, round_, url, payload, now, now, now),
        )
        return added > 0


async def due(store: Store, limit: int) -> list[Row]:
    """Pending deliveries whose next attempt is due, oldest first."""
    return await store.rows(
        "SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ?"
        " ORDER BY next_attempt_at, created_at LIMIT ?",
        (utcnow(), limit),
    )


async def claim(store: Store, webhook_id: str, due_at: str, hold_until: str) -> bool:
    """Take a due delivery for one attempt: False if another pass (or server) took it first.

    Pushing next_attempt_at past the attempt's deadline also makes a delivery whose sender died
    mid-attempt due again later, without any other bookkeeping.
    """
    taken = await store.write(
        "UPDATE webhook_deliveries SET next_attempt_at = ?, updated_at = ?"
        " WHERE webhook_id = ? AND state = 'pending' AND next_attempt_at = ?",
        (hold_until, utcnow(), webhook_id, due_at),
    )
    return taken > 0


async def record(
    store: Store, webhook_id: str, *, state: str, status: int | None, error: str | None, next_attempt_at: str
) -> None:
    """The outcome of one attempt: delivered, failed for good, or pending until next_attempt_at."""
    now = utcnow()
    await store.write(
        "UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?,"
        " next_attempt_at = ?, updated_at = ?, delivered_at = ? WHERE webhook_id = ? AND state = 'pending'",
        (
            state,
            status,
            None if error is None else error[:500],
            next_attempt_at,
            now,
            now if state == "delivered" else None,
            webhook_id,
        ),
    )
