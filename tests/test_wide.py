"""A short job that runs alone decodes on every core; jobs that run together get one each.

With one-thread workers, a lone job would leave the other cores idle: the server keeps a second
copy of the model with one replica on all threads for it (bench/RESULTS.md, short jobs).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import MakeClient
from tests.support import CLIPS, Client, make_settings, submit, wait_status
from transcriber.jobs.width import WidthGate
from transcriber.setting_sections import WhisperSettings
from transcriber.speech.loader import load_engine
from transcriber.speech.parallelism import wide_threads

WHISPER = {"model": "tiny.en", "workers": 2, "cpu_threads": 1, "wide_max_seconds": 8.0}


async def _threads(client: Client, job_id: str) -> int:
    resp = await client.get(f"/jobs/{job_id}/transcript.json")
    assert resp.status == 200
    document: dict[str, Any] = json.loads(await resp.text())
    threads: int = document["provenance"]["cpu_threads"]
    return threads


def _at(body: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(body[key])


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load_engine(make_settings(tmp_path_factory.mktemp("wide"), whisper=WHISPER))


async def test_lone_short_job_uses_every_thread_and_others_wait_for_it(make_client: MakeClient, engine: Any) -> None:
    client = await make_client(engine, whisper=WHISPER)
    lone = await wait_status(client, (await submit(client, CLIPS / "hello.wav"))["job_id"])
    assert lone["status"] == "completed" and "welcome" in lone["text"].lower()
    assert await _threads(client, lone["job_id"]) == 2

    # A second short job sent while the first runs: the first started alone and went wide (its
    # width is chosen when its worker takes it, which "running" shows has happened); the second
    # waits for it.
    first = (await submit(client, CLIPS / "hello.wav"))["job_id"]
    await wait_status(client, first, ("running", "completed"))
    second = (await submit(client, CLIPS / "hello.wav"))["job_id"]
    done = [await wait_status(client, job_id) for job_id in (first, second)]
    assert all(d["status"] == "completed" for d in done)
    assert await _threads(client, first) == 2


async def test_a_job_taken_while_a_wide_one_runs_waits_for_it() -> None:
    gate = WidthGate(wide_threads=2, max_seconds=10)
    order: list[str] = []
    wide_done = asyncio.Event()

    async def job(name: str, duration: float, release: asyncio.Event | None = None) -> bool:
        async with gate.hold(duration, lambda: True) as wide:
            order.append(f"{name} starts")
            if release is not None:
                await release.wait()
            order.append(f"{name} ends")
            return wide

    first = asyncio.create_task(job("a", 5.0, wide_done))
    await asyncio.sleep(0)
    second = asyncio.create_task(job("b", 5.0))
    await asyncio.sleep(0.05)
    assert order == ["a starts"]  # b waits while a runs wide
    wide_done.set()
    assert await first is True
    assert await second is True  # alone once a has ended: wide in turn
    assert order == ["a starts", "a ends", "b starts", "b ends"]
    assert not await job("long", 20.0)  # past max_seconds
    narrow = asyncio.Event()
    held = asyncio.create_task(job("n", 20.0, narrow))
    await asyncio.sleep(0)
    assert not await job("short beside a narrow one", 1.0)
    narrow.set()
    await held


async def test_jobs_that_run_together_get_one_thread_each(make_client: MakeClient, engine: Any) -> None:
    client = await make_client(engine, whisper=WHISPER)
    long_id = (await submit(client, CLIPS / "speech.ogg"))["job_id"]  # 14.7 s: past wide_max_seconds
    await wait_status(client, long_id, ("running",))
    short_id = (await submit(client, CLIPS / "hello.wav"))["job_id"]  # short, but not alone
    long_job, short_job = await asyncio.gather(wait_status(client, long_id), wait_status(client, short_id))
    assert long_job["status"] == short_job["status"] == "completed"
    assert _at(short_job, "started_at") < _at(long_job, "finished_at")  # they did run together
    assert [await _threads(client, j) for j in (long_id, short_id)] == [1, 1]


def test_a_wide_copy_only_where_it_adds_no_thread_contention() -> None:
    def threads(**whisper: Any) -> int:
        settings = WhisperSettings(**whisper)
        return wide_threads(settings, "cpu", workers=settings.workers, threads=settings.cpu_threads)

    assert threads(workers=2, cpu_threads=1) == 2
    assert threads(workers=4, cpu_threads=1) == 4
    assert threads(workers=2, cpu_threads=2) == 0  # two-thread replicas beside it would oversubscribe
    assert threads(workers=1, cpu_threads=2) == 0  # a lone job has every thread already
    assert threads(workers=2, cpu_threads=1, fast_mode=True) == 0  # fast mode splits a job over replicas
    assert threads(workers=2, cpu_threads=1, wide_max_seconds=0) == 0  # turned off
    assert wide_threads(WhisperSettings(), "cuda", workers=2, threads=1) == 0
