"""What only the shared PostgreSQL store does, on a real server: migrations under an advisory lock,
dialect parity with SQLite, claims with SKIP LOCKED in deadline order, leases and their expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.pg_server import PgServer
from tests.store_backends import job, pg_peek, sqlite_peek
from transcriber.domain.job import JobStatus, Outcome
from transcriber.jobs.shared_line import SharedLine
from transcriber.store.backend import open_store
from transcriber.store.migrate import MIGRATIONS as MIGRATIONS_DIR
from transcriber.store.pg_sql import numbered
from transcriber.store.postgres import PgStore, migrate_pg, open_pg_store
from transcriber.store.sqlite import Store

OWNER_A, OWNER_B = "server-a", "server-b"


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[PgStore]:
    opened = await open_pg_store(pg_url)
    yield opened
    await opened.close()


async def lease_owner(url: str, job_id: str) -> str | None:
    rows = await pg_peek(url)("SELECT lease_owner FROM jobs WHERE job_id = ?", (job_id,))
    owner: str | None = rows[0]["lease_owner"]
    return owner


def sql_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def test_every_migration_has_a_postgres_dialect() -> None:
    assert sql_files(MIGRATIONS_DIR) == sql_files(MIGRATIONS_DIR / "postgres")


async def test_both_dialects_give_the_same_tables_and_columns(pg_empty_url: str, tmp_path: Path) -> None:
    sqlite = await open_store(tmp_path / "jobs.db")
    await sqlite.close()
    pg = await open_pg_store(pg_empty_url)
    await pg.close()
    read_sqlite, read_pg = sqlite_peek(tmp_path / "jobs.db"), pg_peek(pg_empty_url)
    for table in ("jobs", "summary_outbox", "schema_migrations"):
        lite = [r["name"] for r in await read_sqlite(f"PRAGMA table_info({table})")]
        post = await read_pg(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        assert lite == [r["column_name"] for r in post], table
    versions = "SELECT version, name FROM schema_migrations ORDER BY version"
    assert await read_sqlite(versions) == await read_pg(versions)


async def test_servers_starting_at_once_apply_each_migration_once(pg_empty_url: str) -> None:
    stores = await asyncio.gather(*(open_pg_store(pg_empty_url) for _ in range(5)))
    try:
        rows = await pg_peek(pg_empty_url)("SELECT version, count(*) AS n FROM schema_migrations GROUP BY version")
        assert len(rows) == len(sql_files(MIGRATIONS_DIR / "postgres")) and {r["n"] for r in rows} == {1}
        await stores[0].insert_job(job("after-start"))
        assert (await stores[4].get_job("after-start")) is not None
    finally:
        await asyncio.gather(*(s.close() for s in stores))


async def test_failing_migration_leaves_no_partial_schema_and_frees_the_lock(pg_empty_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_first.sql").write_text("CREATE TABLE first (x INTEGER);\n")
    (folder / "0002_second.sql").write_text("CREATE TABLE second (y INTEGER);\nCREATE TABLEE third (z INTEGER);\n")
    with pytest.raises(asyncpg.PostgresSyntaxError):
        await open_pg_store(pg_empty_url, folder)
    peek = pg_peek(pg_empty_url)
    tables = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    assert [r["tablename"] for r in await peek(tables)] == ["first", "schema_migrations"]
    (folder / "0002_second.sql").write_text("CREATE TABLE second (y INTEGER);\nCREATE TABLE third (z INTEGER);\n")
    store = await asyncio.wait_for(open_pg_store(pg_empty_url, folder), 10)  # the lock was released
    try:
        assert await migrate_pg(store._pool, folder) == []
    finally:
        await store.close()
    assert [r["tablename"] for r in await peek(tables)] == ["first", "schema_migrations", "second", "third"]


async def set_created(store: Store, job_id: str, created_at: str) -> None:
    async with store.transaction() as tx:
        await tx.execute("UPDATE jobs SET created_at = ? WHERE job_id = ?", (created_at, job_id))


async def test_claims_follow_the_earliest_virtual_deadline(pg: PgStore, pg_url: str) -> None:
    # arrival + duration: long at 0 s + 300 s; short at 10 s + 10 s; late at 400 s + 1 s
    for job_id, duration, created in [
        ("long", 300.0, "2026-01-01T00:00:00.000Z"),
        ("late", 1.0, "2026-01-01T00:06:40.000Z"),
        ("short", 10.0, "2026-01-01T00:00:10.000Z"),
    ]:
        await pg.insert_job(job(job_id, duration=duration))
        await set_created(pg, job_id, created)
    order = []
    while (claimed := await pg.claim_next(OWNER_A, 30)) is not None:
        order.append(claimed.job_id)
        assert claimed.status == JobStatus.RUNNING and claimed.attempts == 1
        assert await lease_owner(pg_url, claimed.job_id) == OWNER_A
    assert order == ["short", "long", "late"]


async def test_places_in_the_shared_line_follow_the_claim_order(pg: PgStore) -> None:
    """A tick's reading gives each queued job the place its claim will come in; a job accepted after
    the reading is placed the same way (the deadline computed here as the database computes it)."""
    jobs = [  # deadlines: 300, 401, 20, 20 (a tie: the earlier arrival first), 30 s
        ("long", 300.0, "2026-01-01T00:00:00.000Z"),
        ("late", 1.0, "2026-01-01T00:06:40.000Z"),
        ("short", 10.0, "2026-01-01T00:00:10.000Z"),
        ("tie", 5.0, "2026-01-01T00:00:15.000Z"),
        ("mid", 30.0, "2026-01-01T00:00:00.000Z"),
    ]
    for job_id, duration, created in jobs:
        await pg.insert_job(job(job_id, duration=duration))
        await set_created(pg, job_id, created)
    assert (await pg.claim_next(OWNER_A, 30)).job_id == "short"  # type: ignore[union-attr]
    await pg.set_progress("short", 0.5, "en", "so far")
    queued, running = await pg.queue_snapshot(100)
    line = SharedLine(queued, running)
    arrivals = {job_id: (created, duration) for job_id, duration, created in jobs}
    places = {}
    for row in queued:
        created, duration = arrivals[row["job_id"]]
        place = line.place(row["job_id"], created, duration, mine=())
        assert place is not None
        places[row["job_id"]] = place
        before = SharedLine([r for r in queued if r["job_id"] != row["job_id"]], running)
        assert before.place(row["job_id"], created, duration, mine=()) == place  # not yet read: bisected
    assert {p.elsewhere for p in places.values()} == {((10.0, 0.5),)}  # "short", run by another server
    assert line.place("tie", *arrivals["tie"], mine=("short",)).elsewhere == ()  # type: ignore[union-attr]
    by_place = sorted(places, key=lambda job_id: places[job_id].position)
    assert [places[j].position for j in by_place] == [1, 2, 3, 4]
    assert places["long"].seconds_ahead == 5.0 + 30.0  # "tie" and "mid" ahead of it
    claimed = []
    while (next_job := await pg.claim_next(OWNER_B, 30)) is not None:
        claimed.append(next_job.job_id)
    assert claimed == by_place == ["tie", "mid", "long", "late"]
    cut = SharedLine(queued[:2], running, complete=False)
    assert cut.place("late", *arrivals["late"], mine=()) is None  # past a reading cut at its limit


async def test_concurrent_claims_never_take_one_job_twice(pg_url: str) -> None:
    stores = [await open_pg_store(pg_url) for _ in range(3)]
    try:
        for i in range(40):
            await stores[0].insert_job(job(f"j{i:02d}"))
        claimed = await asyncio.gather(*(stores[i % 3].claim_next(f"s{i % 3}", 30) for i in range(60)))
        ids = [j.job_id for j in claimed if j is not None]
        assert sorted(ids) == [f"j{i:02d}" for i in range(40)]
        assert await stores[1].count_by_status() == {"running": 40}
    finally:
        for store in stores:
            await store.close()


async def test_leases_renew_report_cancels_and_guard_the_finish(pg: PgStore, pg_url: str) -> None:
    await pg.insert_job(job("a"))
    await pg.insert_job(job("b"))
    assert (await pg.claim_next(OWNER_A, 30)) is not None
    assert (await pg.claim_next(OWNER_B, 30)) is not None
    held_by_a = "a" if await lease_owner(pg_url, "a") == OWNER_A else "b"
    other = "b" if held_by_a == "a" else "a"
    assert await pg.renew(OWNER_A, ["a", "b"], 30) == {held_by_a: False}
    assert await pg.request_cancel(held_by_a)  # from any server
    assert await pg.renew(OWNER_A, [held_by_a], 30) == {held_by_a: True}
    assert await pg.finish_job(other, Outcome(JobStatus.COMPLETED, text="x"), owner=OWNER_A) is False
    cancelled = Outcome(JobStatus.CANCELLED, "cancelled", "Cancelled by request.")
    assert await pg.finish_job(held_by_a, cancelled, owner=OWNER_A) is True
    await pg.requeue_job(other, refund_attempt=True, owner=OWNER_A)  # not ours: untouched
    assert (await pg.get_job(other)).status == JobStatus.RUNNING  # type: ignore[union-attr]
    assert await pg.renew(OWNER_A, [held_by_a], 30) == {}


async def test_recover_takes_back_only_expired_leases(pg: PgStore, pg_url: str) -> None:
    for job_id in ("alive", "dead", "dead-twice"):
        await pg.insert_job(job(job_id))
        await set_created(pg, job_id, f"2026-01-01T00:00:0{len(job_id) % 10}.000Z")
    claims = {(await pg.claim_next(OWNER_A, 0.2)).job_id for _ in range(3)}  # type: ignore[union-attr]
    assert claims == {"alive", "dead", "dead-twice"}
    async with pg.transaction() as tx:
        await tx.execute("UPDATE jobs SET attempts = 2 WHERE job_id = 'dead-twice'")
    await pg.renew(OWNER_A, ["alive"], 60)
    await asyncio.sleep(0.3)
    recovered = await pg.recover(max_attempts=2)
    assert recovered.requeued == ["dead"] and recovered.cancelled == []
    assert [j.job_id for j in recovered.failed] == ["dead-twice"]
    alive, dead = await pg.get_job("alive"), await pg.get_job("dead")
    assert alive is not None and alive.status == JobStatus.RUNNING and await lease_owner(pg_url, "alive") == OWNER_A
    assert dead is not None and dead.status == JobStatus.QUEUED and await lease_owner(pg_url, "dead") is None
    again = await pg.claim_next(OWNER_B, 30)
    assert again is not None and again.job_id == "dead" and again.attempts == 2


def test_psql_answers_what_happened_to_a_job(pg_server: PgServer, pg_url: str) -> None:
    async def add() -> None:
        store = await open_pg_store(pg_url)
        try:
            await store.insert_job(job("asked"))
            await store.claim_job("asked")
            await store.finish_job("asked", Outcome(JobStatus.FAILED, "boom", "It broke."))
        finally:
            await store.close()

    asyncio.run(add())
    database = pg_url.rsplit("/", 1)[1]
    line = pg_server.psql(
        database,
        "SELECT status, attempts, error_code, error_message, created_at <= finished_at"
        " FROM jobs WHERE job_id = 'asked'",
    )
    assert line == "failed|1|boom|It broke.|t"


def test_placeholders_become_numbered_outside_quotes() -> None:
    assert numbered("SELECT ? , '?' , ?", False) == ("SELECT $1 , '?' , $2", ())
    sql, names = numbered("UPDATE t SET a = :a WHERE b = :b AND c = coalesce(:a, 'x:y')", True)
    assert sql == "UPDATE t SET a = $1 WHERE b = $2 AND c = coalesce($1, 'x:y')"
    assert names == ("a", "b")
