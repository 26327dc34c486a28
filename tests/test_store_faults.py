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
from pathlib import Path

import pytest

from tests.conftest import MakeClient, Mount, needs_root
from tests.support import FakeEngine, form, tone_wav, wait_status
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
