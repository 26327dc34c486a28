"""History at scale: on a table of 100,000 finished jobs, the statements of the request paths and the
periodic passes read an index, never the whole table, whatever the planner's statistics say."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from bench.history import fill_pg
from tests.conftest import MakeClient
from tests.history_db import HISTORY, Traced, full_scans, plan
from tests.support import FakeEngine, make_settings
from transcriber.jobs import retention, sweeps
from transcriber.store import webhook_rows
from transcriber.store.pg_sql import pg_args
from transcriber.store.postgres import open_pg_store
from transcriber.store.sqlite import Store


@pytest.fixture
async def traced(big_db: Path) -> AsyncIterator[tuple[Store, Traced]]:
    conn = await aiosqlite.connect(big_db, isolation_level=None)
    conn.row_factory = sqlite3.Row
    seen = Traced()
    await conn.set_trace_callback(seen.sql.append)
    yield Store(conn), seen
    await conn.close()


@pytest.mark.parametrize("analyzed", [False, True], ids=["no-statistics", "analyzed"])
async def test_the_webhook_relay_reads_only_jobs_with_a_callback(
    big_db: Path, traced: tuple[Store, Traced], analyzed: bool
) -> None:
    store, seen = traced
    assert await webhook_rows.unreported(store, "") == []  # the relay's first pass looks at everything
    [sql] = seen.matching("callback_url")
    details = plan(big_db, sql, analyzed=analyzed)
    assert not full_scans(details), details
    assert any("jobs_callback_updated" in d for d in details), details
    assert any("jobs_callback_summary" in d for d in details), details


async def test_on_postgresql_the_relay_reads_the_partial_index_too(pg_url: str) -> None:
    await fill_pg(pg_url, HISTORY)
    store = await open_pg_store(pg_url)
    try:
        text, args = pg_args(webhook_rows.unreported_sql(store), {"since": "", "limit": webhook_rows.BATCH})
        conn = await asyncpg.connect(pg_url)
        try:
            for _ in ("before ANALYZE", "after ANALYZE"):
                details = [r[0] for r in await conn.fetch(f"EXPLAIN {text}", *args)]
                assert not [d for d in details if "Seq Scan on jobs" in d or "jobs_by_status" in d], details
                assert any("jobs_callback_updated" in d for d in details), details
                await conn.execute("ANALYZE jobs")
        finally:
            await conn.close()
    finally:
        await store.close()


@pytest.mark.parametrize("analyzed", [False, True], ids=["no-statistics", "analyzed"])
async def test_retention_deletes_through_the_finished_at_index(
    big_db: Path, traced: tuple[Store, Traced], analyzed: bool, tmp_path: Path
) -> None:
    store, seen = traced
    assert await retention.prune(store, tmp_path, 400) == []  # older than the whole history: nothing goes
    [sql] = seen.matching("finished_at <")
    assert sql.startswith("DELETE"), sql  # one set-based statement per batch, not a read then a delete per job
    details = plan(big_db, sql, analyzed=analyzed)
    assert not full_scans(details), details
    assert any("jobs_finished" in d for d in details), details
    assert not any("TEMP B-TREE" in d for d in details), details  # read in finished_at order, not sorted


async def test_start_up_sweeps_ask_the_store_only_about_the_files_on_disk(
    big_db: Path, traced: tuple[Store, Traced], tmp_path: Path
) -> None:
    store, seen = traced
    data = tmp_path / "data"
    for folder in ("uploads/.incoming", "results/hist-0000007", "results/.hist-0000008.tmp", "results/gone"):
        (data / folder).mkdir(parents=True)
    for name in ("uploads/hist-0000007.0000abcd", "uploads/gone.1234", "uploads/.incoming/x.part"):
        (data / name).write_bytes(b"RIFF")
    settings = make_settings(data)
    await sweeps.run(store, settings)
    left = sorted(str(p.relative_to(data)) for p in data.rglob("*"))
    assert left == [
        "results",
        "results/.hist-0000008.tmp",
        "results/hist-0000007",
        "uploads",
        "uploads/.incoming",
        "uploads/hist-0000007.0000abcd",
    ]
    statements = seen.matching("jobs")
    assert len(statements) == 2, statements  # one indexed question per folder
    for sql in statements:
        for analyzed in (False, True):
            details = plan(big_db, sql, analyzed=analyzed)
            assert not full_scans(details), (sql, details)


async def test_a_server_on_a_big_history_is_healthy_at_once(
    big_db: Path, make_client: MakeClient, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(big_db, data / "jobs.db")
    client = await make_client(FakeEngine(), data_dir=data)
    health = await client.get("/health")
    assert health.status == 200 and (await health.json())["status"] == "ok"
