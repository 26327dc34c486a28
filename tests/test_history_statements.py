"""Every statement the store runs, collected by tracing each public operation of the store modules
on 100,000 finished jobs (one API key's), then checked: EXPLAIN QUERY PLAN shows no full scan of a
table, and running it takes a bounded number of SQLite VM steps (a pass over the history would
take more than one step per row). A new store operation fails this test until it is exercised here."""

from __future__ import annotations

import inspect
import shutil
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from bench.history import fill_pg
from tests.history_db import HISTORY, OWNER, Traced, plan
from tests.store_backends import job
from transcriber.clock import utc_after
from transcriber.domain.job import JobStatus, Outcome, SummaryStatus
from transcriber.store import outbox, webhook_rows
from transcriber.store.postgres import PgStore
from transcriber.store.sqlite import Store

STEPS = HISTORY // 2  # VM steps a statement may take; a scan of the history takes several per row
# Operations outside any request path or periodic pass, and why they may read more.
EXEMPT = {
    "count_by_status": "tests and operators only: no request or pass calls it",
    "forget_finished_uploads": "start-up with keep_audio = false, where jobs_by_upload holds only active jobs",
    "probe_space": "writes a scratch table and rolls it back (a full disk's probe): reads no job",
}
INFRASTRUCTURE = {"transaction", "write", "rows", "close", "jobs_by"}


def exercises(store: Store) -> dict[str, Callable[[], Awaitable[object]]]:
    """One call of every store operation, as the service makes it, on jobs of its own."""
    done = Outcome(JobStatus.COMPLETED, text="hi")
    return {
        "ping": store.ping,
        "insert_job": lambda: store.insert_job(replace(job("p1", duration=5), owner=OWNER, callback_url="http://h/")),
        "get_job": lambda: store.get_job("hist-0050000"),
        "claim_job": lambda: store.claim_job("p1"),
        "set_progress": lambda: store.set_progress("p1", 0.5, "en"),
        "request_cancel": lambda: store.request_cancel("p1"),
        "finish_job": lambda: store.finish_job("p1", done),
        "requeue_job": lambda: store.requeue_job("p1", refund_attempt=True),
        "cancel_queued": lambda: store.cancel_queued("hist-q0000001"),
        "delete_job": lambda: store.delete_job("p1"),
        "set_speakers": lambda: store.set_speakers("hist-0000005", "[]", "hi", None),
        "recover": lambda: store.recover(3),
        "known_uploads": lambda: store.known_uploads(["uploads/hist-0000001.0000abcd", "uploads/x"]),
        "known_jobs": lambda: store.known_jobs(["hist-0000001", "x"]),
        "forget_upload": lambda: store.forget_upload("hist-0000002"),
        "queued_page": lambda: store.queued_page(("2000-01-01T00:00:00.000Z", ""), 10),
        "queue_depth": store.queue_depth,
        "list_jobs": lambda: store.list_jobs(None, 50, None),
        "list_jobs(status)": lambda: store.list_jobs("completed", 50, ("2100-01-01T00:00:00.000Z", "")),
        "list_jobs(owner)": lambda: store.list_jobs(None, 50, None, OWNER),
        "list_jobs(owner, status)": lambda: store.list_jobs("failed", 50, None, OWNER),
        "delete_finished_before": lambda: store.delete_finished_before(utc_after(-400 * 86400), 250),
        "count_queued": lambda: store.count_queued(OWNER),
        "due_outbox": lambda: store.due_outbox("pending", 50, ""),
        "outbox.request": lambda: outbox.request(store, "hist-0000003"),
        "outbox.due": lambda: outbox.due(store, "pending"),
        "outbox.backlog": lambda: outbox.backlog(store),
        "outbox.mark": lambda: outbox.mark(store, "hist-0000003", "enqueued", SummaryStatus.QUEUED),
        "outbox.show": lambda: outbox.show(store, "hist-0000003", SummaryStatus.RUNNING),
        "outbox.retry_later": lambda: outbox.retry_later(store, "hist-0000003", 5.0, "busy"),
        "outbox.settle": lambda: outbox.settle(store, "hist-0000003", "a summary", None, _nothing),
        "webhook_rows.unreported": lambda: webhook_rows.unreported(store, ""),
        "webhook_rows.add": lambda: webhook_rows.add(store, "hist-0000004", "job.completed", "http://h/", "{}"),
        "webhook_rows.due": lambda: webhook_rows.due(store, 16),
        "webhook_rows.claim": lambda: webhook_rows.claim(store, "msg_x", utc_after(0), utc_after(60)),
        "webhook_rows.record": lambda: webhook_rows.record(
            store, "msg_x", state="delivered", status=200, error=None, next_attempt_at=utc_after(0)
        ),
    }


async def _nothing() -> None:
    return None


def operations() -> set[str]:
    """Every public operation of the store and of the modules that hold SQL."""
    names = {n for n, f in inspect.getmembers(Store, inspect.iscoroutinefunction) if not n.startswith("_")}
    for module in (outbox, webhook_rows):
        for name, func in inspect.getmembers(module, inspect.iscoroutinefunction):
            if not name.startswith("_") and func.__module__ == module.__name__ and name != "add_pending":
                names.add(f"{module.__name__.rsplit('.', 1)[1]}.{name}")
    return names - INFRASTRUCTURE


@pytest.fixture
async def traced_copy(big_db: Path, tmp_path: Path) -> AsyncIterator[tuple[Store, Traced, Path]]:
    """A traced store on a copy of the big table, and a second untouched copy to replay on."""
    work, replay = tmp_path / "work.db", tmp_path / "replay.db"
    shutil.copy(big_db, work)
    shutil.copy(big_db, replay)
    conn = await aiosqlite.connect(work, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA foreign_keys = ON")
    seen = Traced()
    await conn.set_trace_callback(seen.sql.append)
    yield Store(conn), seen, replay
    await conn.close()


def steps(db: Path, sql: str) -> int:
    """SQLite VM steps the statement takes (in a transaction rolled back afterwards)."""
    count = [0]

    def tick() -> int:
        count[0] += 100
        return 0

    with sqlite3.connect(db, isolation_level=None) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("BEGIN")
        conn.set_progress_handler(tick, 100)
        try:
            conn.execute(sql).fetchall()
        except sqlite3.IntegrityError:
            pass  # a row the replay copy already has: its lookups ran before the conflict
        finally:
            conn.set_progress_handler(None, 0)
            conn.execute("ROLLBACK")
    return count[0]


async def test_no_statement_of_a_request_or_a_pass_reads_the_whole_history(
    traced_copy: tuple[Store, Traced, Path],
) -> None:
    store, seen, replay = traced_copy
    calls = exercises(store)
    assert {name.split("(")[0] for name in calls} | set(EXEMPT) == operations()
    statements: dict[str, str] = {}
    for name, call in calls.items():
        seen.sql.clear()
        await call()
        for sql in seen.sql:
            if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
                statements.setdefault(" ".join(sql.split()), name)
    assert len(statements) >= len(calls)
    problems = []
    for sql, name in statements.items():
        for analyzed in (False, True):
            details = plan(replay, sql, analyzed=analyzed)
            scans = [d for d in details if d.startswith("SCAN ") and " USING " not in d and "CONSTANT" not in d]
            if scans:
                problems.append((name, "analyzed" if analyzed else "no statistics", scans, sql))
        if (taken := steps(replay, sql)) > STEPS:
            problems.append((name, f"{taken} VM steps", [], sql))
    assert not problems, "\n".join(map(str, problems))


async def test_on_postgresql_no_statement_reads_the_whole_history(pg_url: str) -> None:
    """The same operations on PostgreSQL (and its own: claims, leases): EXPLAIN shows no sequential
    scan of the history, before the first ANALYZE and after it."""
    await fill_pg(pg_url, HISTORY, queued=50)
    logged: list[tuple[str, tuple[object, ...]]] = []

    def keep(query: asyncpg.connection.LoggedQuery) -> None:
        logged.append((query.query, tuple(query.args)))

    async def setup(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(keep)

    pool = await asyncpg.create_pool(pg_url, min_size=1, max_size=2, init=setup)
    store = PgStore(pool)
    try:
        calls = exercises(store)
        calls["claim_next"] = lambda: store.claim_next("bench", 30.0)
        calls["renew"] = lambda: store.renew("bench", ["hist-q0000002"], 30.0)
        calls["queue_snapshot"] = lambda: store.queue_snapshot(10_000)
        for call in calls.values():
            await call()
    finally:
        await pool.close()
    # (the pool's own reset on release is several commands, none of them ours)
    ours = [(q, args) for q, args in logged if q.split()[0].upper() in _PLANNED and "pg_advisory_unlock_all" not in q]
    statements = {" ".join(q.split()): args for q, args in ours}
    assert len(statements) >= len(calls)
    conn = await asyncpg.connect(pg_url)
    try:
        problems = []
        for when in ("no statistics", "analyzed"):
            for sql, args in statements.items():
                details = [r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args)]
                # jobs holds the history here; the other tables are near empty, where a seq scan is
                # PostgreSQL's right choice (SQLite's plans above show their indexes are usable)
                scans = [d.strip() for d in details if "Seq Scan on jobs" in d]
                if scans:
                    problems.append((when, scans, sql))
            await conn.execute("ANALYZE")
    finally:
        await conn.close()
    assert not problems, "\n".join(map(str, problems))


_PLANNED = {"SELECT", "UPDATE", "DELETE", "INSERT", "WITH"}
