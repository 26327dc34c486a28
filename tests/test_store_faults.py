"""Fault injection at the store: a real full file system (a small tmpfs) fills and empties at
random moments under a stream of jobs, so that every store call (insert, claim, progress, finish,
requeue, the summary outbox) meets SQLITE_FULL somewhere. After each storm: every accepted job is
queued, running on a live worker or finished while the disk is full; every one completes once the
space is back; none is lost and none is finished twice."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import MakeClient, Mount, needs_root
from tests.support import FakeEngine, form, submit, tone_wav, wait_status
from tests.test_disk_full import fill
from tests.test_observability import scrape, value


async def storm(
    make_client: MakeClient, tmp_path: Path, small_disk: Mount, caplog: pytest.LogCaptureFixture, seed: int, jobs: int
) -> None:
    rng = random.Random(seed)
    data_dir = small_disk(tmp_path / "data", 16 * 1024)
    engine = FakeEngine()
    engine.segment_delay = 0.02
    client = await make_client(engine, data_dir=data_dir, limits={"min_free_disk_mb": 0}, summarizer={})
    caplog.set_level(logging.INFO, logger="transcriber")
    clips = [tone_wav(tmp_path / f"{s}.wav", s) for s in (1, 2, 3)]
    accepted: list[str] = []
    filler = data_dir / "filler"
    for index in range(jobs):
        job_id = f"s{seed}-{index}"
        resp = await client.post("/transcribe", data=form(rng.choice(clips), job_id=job_id))
        assert resp.status in (202, 507), await resp.text()  # 507: the disk was full, nothing kept
        if resp.status == 202:
            accepted.append(job_id)
        if rng.random() < 0.6:
            await asyncio.sleep(rng.uniform(0.0, 0.15))  # somewhere in a claim, a run or a finish
            fill(filler)
            await asyncio.sleep(rng.uniform(0.05, 0.6))
            await assert_nothing_lost(client, accepted)
            filler.unlink()
    for job_id in accepted:
        assert (await wait_status(client, job_id, timeout=60))["status"] == "completed", job_id
    with sqlite3.connect(data_dir / "jobs.db") as db:
        rows = dict(db.execute("SELECT job_id, attempts FROM jobs").fetchall())
    assert set(rows) == set(accepted) and all(a == 1 for a in rows.values()), rows  # no attempt used up
    completed = [r.getMessage().split(":")[0] for r in caplog.records if ": completed in " in r.getMessage()]
    assert sorted(completed) == sorted(f"job {j}" for j in accepted), completed  # each finished once
    metrics = await scrape(client)
    assert value(metrics, "transcriber_jobs_total", outcome="completed") == len(accepted)
    assert accepted, "the storm refused every upload: nothing was tested"


async def assert_nothing_lost(client: object, accepted: list[str]) -> None:
    """While the disk is full: every accepted job is queued, running (on the live worker) or done."""
    running = 0
    for job_id in accepted:
        body = await (await client.get(f"/status/{job_id}")).json()  # type: ignore[attr-defined]
        assert body["status"] in ("queued", "running", "completed"), body
        running += body["status"] == "running"
    assert running <= 1  # one worker: a second running row would be a job nobody runs


@needs_root
async def test_store_faults_two_seeds(
    make_client: MakeClient, tmp_path: Path, small_disk: Mount, caplog: pytest.LogCaptureFixture
) -> None:
    for seed in (1, 2):
        await storm(make_client, tmp_path / str(seed), small_disk, caplog, seed, jobs=6)
        caplog.clear()


@pytest.mark.storm
@needs_root
@pytest.mark.parametrize("seed", range(3, 13))
async def test_store_faults_storm(
    make_client: MakeClient, tmp_path: Path, small_disk: Mount, caplog: pytest.LogCaptureFixture, seed: int
) -> None:
    await storm(make_client, tmp_path, small_disk, caplog, seed, jobs=20)


async def terminate_backends(pg_url: str, spare: int = 0) -> int:
    """Drop every other connection to the test database, mid-transaction or not (a database restart
    or a network cut looks the same to the server)."""
    conn = await asyncpg.connect(pg_url)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1",
            spare,
        )
    finally:
        await conn.close()
    return int(killed)


async def drop_while_recording(pg_url: str, engine: FakeEngine) -> None:
    """Hold the job's row locked, let the job finish so that its result transaction waits on the
    lock, then drop the server's connections: the drop lands inside that transaction."""
    lock = await asyncpg.connect(pg_url)
    try:
        async with lock.transaction():
            await lock.execute("SELECT 1 FROM jobs WHERE job_id = 'held' FOR UPDATE")
            engine.gates[2.0].set()
            deadline = time.monotonic() + 10
            while not await lock.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ):
                assert time.monotonic() < deadline, "the result was never written"
                await asyncio.sleep(0.02)
            assert await terminate_backends(pg_url, spare=lock.get_server_pid()) > 0
    finally:
        await lock.close()


@pytest.mark.parametrize("moment", ["running", "finishing"])
async def test_postgres_connections_dropped_under_a_job(
    pg_url: str, make_client: MakeClient, tmp_path: Path, moment: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every connection of the server dropped while a job runs (or as it records its result): the
    job and the one queued behind it complete, each once; none is stranded running."""
    engine = FakeEngine(auto=False)
    database = {"url": pg_url, "lease_seconds": 2.0}
    client = await make_client(engine, database=database, limits={"min_free_disk_mb": 0})
    held = tone_wav(tmp_path / "held.wav", 2)
    await submit(client, held, job_id="held")
    await wait_status(client, "held", ("running",))
    await submit(client, tone_wav(tmp_path / "next.wav", 1), job_id="next")
    if moment == "running":
        assert await terminate_backends(pg_url) > 0
        engine.gates[2.0].set()
    else:
        await drop_while_recording(pg_url, engine)
    engine.auto = True
    for job_id in ("held", "next"):
        assert (await wait_status(client, job_id, timeout=30))["status"] == "completed", job_id
    metrics = await scrape(client)
    assert value(metrics, "transcriber_jobs_total", outcome="completed") == 2  # each finished once
    assert (await client.get("/health")).status == 200
    # a result lost with its connection costs that run (the lease takes the job back), never the job
    assert (await wait_status(client, "held"))["attempts"] <= 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
