"""The job database on real SQLite files and a real PostgreSQL: migrations, job transitions, listing.

Every job-level test runs on both backends (the `store` fixture of conftest.py); the SQLite file,
pragmas and statement splitting are tested on SQLite alone, PostgreSQL's own parts in test_store_pg.py."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.store_backends import Peek, job
from transcriber.clock import utcnow
from transcriber.domain.job import Job, JobStatus, Outcome
from transcriber.store.backend import open_store
from transcriber.store.migrate import MIGRATIONS as MIGRATIONS_DIR
from transcriber.store.migrate import migrate
from transcriber.store.migrate import split_sql as _split_sql
from transcriber.store.sqlite import Store
from transcriber.store.types import DuplicateJob, Recovered, Transaction

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DEADLINE = 10.0  # seconds any single store call may take before the test calls it a hang


class Hook:
    """A finish hook that runs a function inside the completing transaction."""

    def __init__(self, run: Callable[[Transaction], Awaitable[None]]):
        self._run = run

    async def on_completed(self, tx: Transaction, job_id: str) -> None:
        await self._run(tx)


def done(text: str) -> Outcome:
    return Outcome(JobStatus.COMPLETED, text=text)


def read(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Query the file with a separate plain sqlite3 connection, as an operator would."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, params).fetchall()


def tables(db: Path) -> set[str]:
    return {r["name"] for r in read(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "jobs.db"


@pytest.fixture
async def sqlite_store(db_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(db_path)
    yield opened
    await opened.close()


async def running(store: Store, job_id: str) -> Job:
    await store.insert_job(job(job_id))
    row = await store.claim_job(job_id)
    assert row is not None
    return row


async def set_created(store: Store, job_id: str, created_at: str) -> None:
    async with store.transaction() as tx:
        await tx.execute("UPDATE jobs SET created_at = ? WHERE job_id = ?", (created_at, job_id))


# --- migrations and pragmas ------------------------------------------------------------------


async def test_migrations_create_the_tables(sqlite_store: Store, db_path: Path) -> None:
    assert {"jobs", "summary_outbox", "schema_migrations"} <= tables(db_path)
    applied = read(db_path, "SELECT version, name, applied_at FROM schema_migrations ORDER BY 1")
    files = sorted(p.name for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    assert [r["name"] for r in applied] == files
    assert [r["version"] for r in applied] == [int(name[:4]) for name in files]
    assert all(ISO_Z.match(r["applied_at"]) for r in applied)
    columns = {r["name"] for r in read(db_path, "PRAGMA table_info(jobs)")}
    wanted = {"job_id", "status", "attempts", "error_code", "error_message", "summary_status"}
    assert wanted <= columns


async def test_reopening_applies_nothing_twice(sqlite_store: Store, db_path: Path) -> None:
    before = read(db_path, "SELECT version, name, applied_at FROM schema_migrations ORDER BY 1")
    await sqlite_store.insert_job(job("kept"))
    assert await migrate(sqlite_store, MIGRATIONS_DIR) == []
    await sqlite_store.close()
    again = await open_store(db_path)
    try:
        assert await migrate(again, MIGRATIONS_DIR) == []
        assert (await again.get_job("kept")) is not None
    finally:
        await again.close()
    after = read(db_path, "SELECT version, name, applied_at FROM schema_migrations ORDER BY 1")
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


async def test_wal_and_full_synchronous(sqlite_store: Store, db_path: Path) -> None:
    assert read(db_path, "PRAGMA journal_mode")[0][0] == "wal"  # persistent in the file
    async with sqlite_store.transaction() as tx:  # per connection: ask the store's own
        synchronous = (await tx.rows("PRAGMA synchronous"))[0]["synchronous"]
        foreign_keys = (await tx.rows("PRAGMA foreign_keys"))[0]["foreign_keys"]
    assert synchronous == 2  # FULL
    assert foreign_keys == 1


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


async def test_failing_migration_leaves_no_partial_schema(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    good = "CREATE TABLE first (x INTEGER);\n"
    broken = "CREATE TABLE second (y INTEGER);\nCREATE TABLEE third (z INTEGER);\n"
    folder = write_migrations(tmp_path / "m", {"0001_first.sql": good, "0002_second.sql": broken})
    with pytest.raises(sqlite3.OperationalError):
        await open_store(db, folder)
    assert tables(db) == {"schema_migrations", "first"}
    assert [r[0] for r in read(db, "SELECT version FROM schema_migrations")] == [1]

    fixed = "CREATE TABLE second (y INTEGER);\nCREATE TABLE third (z INTEGER);\n"
    write_migrations(folder, {"0002_second.sql": fixed})
    store = await open_store(db, folder)
    await store.close()
    assert tables(db) == {"schema_migrations", "first", "second", "third"}
    assert [r[0] for r in read(db, "SELECT version FROM schema_migrations ORDER BY 1")] == [1, 2]


async def test_migrations_apply_in_file_order_and_ignore_other_files(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {
            "0002_b.sql": "ALTER TABLE a ADD COLUMN y INTEGER;\n",
            "0001_a.sql": "CREATE TABLE a (x INTEGER);\n",
            "notes.sql": "this is not SQL;\n",
            "0003_draft.sql.bak": "neither is this;\n",
        },
    )
    store = await open_store(tmp_path / "jobs.db", folder)
    await store.close()
    assert [r["name"] for r in read(tmp_path / "jobs.db", "PRAGMA table_info(a)")] == ["x", "y"]


def test_split_sql_respects_quotes_comments_and_triggers() -> None:
    script = (
        "INSERT INTO t VALUES ('a;b'); -- trailing; comment\n"
        "-- a comment; with a semicolon\n"
        'CREATE TABLE "we;ird" (x);\n'
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  UPDATE t SET v = 'x;y';\n"
        "  DELETE FROM t WHERE 0;\n"
        "END;\n"
        "/* block; comment */ SELECT 1;\n"
        "-- a comment at the very end\n"
    )
    statements = _split_sql(script)
    assert len(statements) == 4
    assert "".join(statements) + "-- a comment at the very end\n" == script
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE t (v TEXT)")
        for statement in statements:
            conn.execute(statement)  # raises if a piece held more or less than one statement
        assert conn.execute("SELECT v FROM t").fetchall() == [("a;b",)]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert {"we;ird", "tr"} <= names
    finally:
        conn.close()


def test_split_sql_rejects_an_unfinished_statement() -> None:
    with pytest.raises(ValueError, match="incomplete"):
        _split_sql("CREATE TABLE a (x);\nCREATE TABLE b (y)\n")


def test_split_sql_two_statements_on_one_line() -> None:
    assert _split_sql("CREATE TABLE a (x); CREATE TABLE b (y);\n") == [
        "CREATE TABLE a (x);",
        " CREATE TABLE b (y);\n",
    ]


def test_split_sql_trailing_block_comment() -> None:
    assert _split_sql("CREATE TABLE a (x);\n/* the end */\n") == ["CREATE TABLE a (x);\n"]


# --- jobs ------------------------------------------------------------------------------------


def test_utcnow_is_iso_utc_with_z() -> None:
    stamp = utcnow()
    assert ISO_Z.match(stamp), stamp
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - parsed) < timedelta(seconds=5)


async def test_insert_and_get(store: Store, peek: Peek) -> None:
    await store.insert_job(job("j1", duration=12.5))
    row = await store.get_job("j1")
    assert row is not None
    assert row.status == "queued"
    assert row.attempts == 0
    assert row.duration == 12.5
    assert row.started_at is None and row.finished_at is None
    assert ISO_Z.match(row.created_at) and row.updated_at == row.created_at
    assert row.summary_status == "disabled"
    assert row.options == {"language": None, "task": "transcribe"}
    assert await store.get_job("missing") is None
    # committed: visible to another connection at once
    assert await peek("SELECT status FROM jobs WHERE job_id = 'j1'") == [{"status": "queued"}]


async def test_insert_existing_id_raises(store: Store) -> None:
    await store.insert_job(job("dup"))
    with pytest.raises(DuplicateJob):
        await store.insert_job(job("dup"))
    with pytest.raises(DuplicateJob):  # concurrent inserts of one id: one wins, one learns it
        await asyncio.gather(store.insert_job(job("race")), store.insert_job(job("race")))
    assert await store.count_by_status() == {"queued": 2}


async def test_claim_only_from_queued(store: Store) -> None:
    await store.insert_job(job("c1"))
    claimed = await store.claim_job("c1")
    assert claimed is not None
    assert claimed.status == "running"
    assert claimed.attempts == 1
    assert claimed.progress == 0
    assert ISO_Z.match(claimed.started_at or "")
    assert claimed.created_at <= (claimed.started_at or "")
    assert await store.claim_job("c1") is None  # already running
    assert await store.claim_job("nope") is None
    assert (await store.get_job("c1")).attempts == 1  # type: ignore[union-attr]


async def test_requeue_then_claim_counts_attempts(store: Store) -> None:
    await running(store, "r1")
    await store.requeue_job("r1", refund_attempt=False)
    row = await store.get_job("r1")
    assert row is not None and row.status == "queued" and row.started_at is None
    assert (await store.claim_job("r1")).attempts == 2  # type: ignore[union-attr]
    await store.requeue_job("r1", refund_attempt=True)
    assert (await store.get_job("r1")).attempts == 1  # type: ignore[union-attr]


async def test_finish_only_from_running(store: Store) -> None:
    await store.insert_job(job("f1"))
    assert await store.finish_job("f1", done("early")) is False
    assert (await store.get_job("f1")).status == "queued"  # type: ignore[union-attr]
    await store.claim_job("f1")
    assert await store.finish_job("f1", done("hello")) is True
    row = await store.get_job("f1")
    assert row is not None
    assert row.status == "completed" and row.text == "hello" and row.progress == 1.0
    assert ISO_Z.match(row.finished_at or "") and (row.started_at or "") <= (row.finished_at or "")
    assert await store.finish_job("f1", Outcome(JobStatus.FAILED, error_code="late")) is False
    assert (await store.get_job("f1")).status == "completed"  # type: ignore[union-attr]


async def add_outbox(tx: Transaction, job_id: str) -> None:
    await tx.execute(
        "INSERT INTO summary_outbox (job_id, next_attempt_at, created_at) VALUES (?, ?, ?)",
        (job_id, utcnow(), utcnow()),
    )


async def test_finish_hooks_run_in_the_same_transaction(store: Store, peek: Peek) -> None:
    await running(store, "h1")

    async def hook(tx: Transaction) -> None:
        await add_outbox(tx, "h1")
        await tx.execute("UPDATE jobs SET summary_status = 'pending' WHERE job_id = 'h1'")

    assert await store.finish_job("h1", done("t"), hooks=[Hook(hook)])
    rows = await peek("SELECT status, summary_status FROM jobs WHERE job_id = 'h1'")
    assert rows == [{"status": "completed", "summary_status": "pending"}]
    assert len(await peek("SELECT * FROM summary_outbox WHERE job_id = 'h1'")) == 1


async def test_failing_hook_rolls_the_status_back(store: Store, peek: Peek) -> None:
    await running(store, "h2")

    async def bad_hook(tx: Transaction) -> None:
        await add_outbox(tx, "h2")
        raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        await store.finish_job("h2", done("t"), hooks=[Hook(bad_hook)])
    row = await asyncio.wait_for(store.get_job("h2"), DEADLINE)  # the lock was released
    assert row is not None
    assert row.status == "running" and row.text is None and row.finished_at is None
    assert await peek("SELECT * FROM summary_outbox") == []
    # and the store still takes writes
    assert await asyncio.wait_for(store.finish_job("h2", done("ok")), DEADLINE)


async def test_cancel_queued(store: Store) -> None:
    await store.insert_job(job("q1"))
    await running(store, "r1")
    assert await store.cancel_queued("q1") is True
    row = await store.get_job("q1")
    assert row is not None
    assert row.status == "cancelled" and row.error_code == "cancelled"
    assert row.error_message and ISO_Z.match(row.finished_at or "")
    assert await store.cancel_queued("q1") is False
    assert await store.cancel_queued("r1") is False
    assert (await store.get_job("r1")).status == "running"  # type: ignore[union-attr]
    assert await store.cancel_queued("missing") is False


async def test_request_cancel_only_marks_running_jobs(store: Store) -> None:
    await store.insert_job(job("q1"))
    await running(store, "r1")
    assert await store.request_cancel("q1") is False
    assert (await store.get_job("q1")).cancel_requested == 0  # type: ignore[union-attr]
    assert await store.request_cancel("r1") is True
    row = await store.get_job("r1")
    assert row is not None and row.status == "running" and row.cancel_requested == 1


async def test_recover_requeues_or_fails_running_jobs(store: Store) -> None:
    await running(store, "once")  # attempts 1
    await running(store, "twice")
    await store.requeue_job("twice", refund_attempt=False)
    await store.claim_job("twice")  # attempts 2
    await store.insert_job(job("waiting"))
    await running(store, "done")
    await store.finish_job("done", done("x"))

    recovered = await store.recover(max_attempts=2)

    assert recovered.requeued == ["once"] and recovered.cancelled == []
    assert [(j.job_id, j.upload_path) for j in recovered.failed] == [("twice", "uploads/twice")]
    once = await store.get_job("once")
    assert once is not None
    assert (once.status, once.attempts, once.progress) == ("queued", 1, 0)
    twice = await store.get_job("twice")
    assert twice is not None
    assert twice.status == "failed" and twice.error_code == "worker_crashed"
    assert twice.attempts == 2 and ISO_Z.match(twice.finished_at or "")
    assert "2 times" in (twice.error_message or "")
    assert (await store.get_job("waiting")).status == "queued"  # type: ignore[union-attr]
    assert (await store.get_job("done")).status == "completed"  # type: ignore[union-attr]
    assert await store.recover(max_attempts=2) == Recovered([], [], [])


async def test_list_jobs_newest_first_with_cursor(store: Store) -> None:
    stamps = {
        "a": "2026-01-01T00:00:01.000Z",
        "b": "2026-01-01T00:00:02.000Z",
        "c": "2026-01-01T00:00:02.000Z",  # same time as b: job_id breaks the tie
        "d": "2026-01-01T00:00:02.000Z",
        "e": "2026-01-01T00:00:03.000Z",
    }
    for job_id, stamp in stamps.items():
        await store.insert_job(job(job_id))
        await set_created(store, job_id, stamp)
    await running(store, "z")
    await set_created(store, "z", "2026-01-01T00:00:00.000Z")
    everything = [r.job_id for r in await store.list_jobs(None, 100, None)]
    assert everything == ["e", "d", "c", "b", "a", "z"]

    pages: list[list[str]] = []
    cursor: tuple[str, str] | None = None
    while True:
        page = await store.list_jobs(None, 2, cursor)
        if not page:
            break
        pages.append([r.job_id for r in page])
        cursor = (page[-1].created_at, page[-1].job_id)
    assert pages == [["e", "d"], ["c", "b"], ["a", "z"]]

    assert [r.job_id for r in await store.list_jobs("running", 10, None)] == ["z"]
    after_c = (stamps["c"], "c")
    assert [r.job_id for r in await store.list_jobs("queued", 2, after_c)] == ["b", "a"]
    assert await store.list_jobs("failed", 10, None) == []


async def test_delete_job_refuses_active_jobs(store: Store) -> None:
    await store.insert_job(job("q"))
    await running(store, "r")
    await running(store, "f")
    await store.finish_job("f", Outcome(JobStatus.FAILED, "boom", "Boom."))
    assert await store.delete_job("q") is False
    assert await store.delete_job("r") is False
    assert await store.get_job("q") is not None and await store.get_job("r") is not None
    assert await store.delete_job("f") is True
    assert await store.get_job("f") is None
    assert await store.delete_job("f") is False
    assert await store.count_by_status() == {"queued": 1, "running": 1}


async def test_delete_cascades_to_the_outbox(store: Store, peek: Peek) -> None:
    await running(store, "o")

    async def hook(tx: Transaction) -> None:
        await add_outbox(tx, "o")

    await store.finish_job("o", done("t"), hooks=[Hook(hook)])
    assert await store.delete_job("o") is True
    assert await peek("SELECT * FROM summary_outbox") == []


async def test_queued_jobs_oldest_first(store: Store) -> None:
    stamps = {"late": "2026-01-02T00:00:00.000Z", "early": "2026-01-01T00:00:00.000Z"}
    for job_id, stamp in stamps.items():
        await store.insert_job(job(job_id, duration=7))
        await set_created(store, job_id, stamp)
    await running(store, "busy")
    rows = await store.queued_page(None, 10)
    assert [(r["job_id"], r["duration"]) for r in rows] == [("early", 7), ("late", 7)]
    assert [r["job_id"] for r in await store.queued_page(None, 1)] == ["early"]
    assert [r["job_id"] for r in await store.queued_page((rows[0]["created_at"], "early"), 5)] == ["late"]
    assert await store.queue_depth() == (2, 14.0)
