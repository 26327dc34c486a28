"""Summaries through Redis under faults: kill -9 Redis (append-only, fsync always, as compose runs
it) and the worker mid-job, Redis losing a queued job, and stopping both at once. Every summary
arrives exactly once, and the worker exits within its grace period."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import MakeClient
from tests.redis_server import RedisServer
from tests.support import CLIPS, Client, FakeEngine, free_port, submit, wait_status
from tests.test_summaries import Worker, wait_summary

pytestmark = pytest.mark.slow
WORKER_GRACE = 10.0  # compose's default stop_grace_period for the summarizer service
SUMMARY = "A short summary."


@dataclass
class ChatServer:
    """An OpenAI-compatible endpoint whose answers wait while `hold` is clear."""

    port: int = field(default_factory=free_port)
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0
    calls: int = 0

    async def chat(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.waiting += 1
        try:
            await self.hold.wait()
        finally:
            self.waiting -= 1
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": SUMMARY}}]})

    def config(self) -> str:
        return (
            '[summarizer]\nbackend = "openai"\njob_timeout_seconds = 2\n'
            f'[summarizer.openai]\nbase_url = "http://127.0.0.1:{self.port}/v1"\nmodel = "m"\n'
        )

    async def until_waiting(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.waiting < count:
            assert time.monotonic() < deadline, f"{self.waiting} summaries running, wanted {count}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def chat() -> AsyncIterator[ChatServer]:
    server = ChatServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", server.port).start()
    yield server
    server.hold.set()
    await runner.cleanup()


def stored_once(caplog: pytest.LogCaptureFixture, job_ids: list[str]) -> dict[str, int]:
    counts = {job_id: len(re.findall(rf"job {re.escape(job_id)}: summary stored", caplog.text)) for job_id in job_ids}
    return {job_id: n for job_id, n in counts.items() if n != 1}


async def summary_client(make_client: MakeClient, redis: RedisServer, fake: FakeEngine) -> Client:
    return await make_client(fake, summarizer={"enabled": True, "redis_url": redis.url})


@pytest.mark.long
async def test_kill_9_redis_and_the_worker_with_summaries_queued_and_running(
    make_client: MakeClient, chat: ChatServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="transcriber")
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    worker = Worker(tmp_path / "worker", redis.url, chat.config())
    worker.start()
    try:
        client = await summary_client(make_client, redis, FakeEngine())
        ids = [(await submit(client, CLIPS / "hello.wav", job_id=f"job-{i}"))["job_id"] for i in range(6)]
        await chat.until_waiting(4)  # the worker runs 4 at once: 4 running, 2 queued in Redis
        redis.kill9()
        redis.start()  # same directory: the append-only file has every acknowledged write
        await asyncio.sleep(0.5)
        worker.kill9()  # mid-job: arq hands those jobs out again once their locks expire
        worker.start()
        chat.hold.set()
        for job_id in ids:
            done = await wait_summary(client, job_id, timeout=120)
            assert done["summary"] == {"status": "completed", "text": SUMMARY, "error": None}, done
            assert (tmp_path / "data" / "results" / job_id / "summary.txt").read_text().strip() == SUMMARY
        assert stored_once(caplog, ids) == {}
        assert (await (await client.get("/health")).json())["summaries"]["backlog"] == 0
    finally:
        worker.stop()
        redis.stop()


async def test_a_summary_job_redis_lost_is_enqueued_again(
    make_client: MakeClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="transcriber")
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    worker = Worker(tmp_path / "worker", redis.url)
    try:
        client = await summary_client(make_client, redis, FakeEngine())
        job_id = (await submit(client, CLIPS / "speech.ogg", job_id="lost"))["job_id"]
        await wait_status(client, job_id)
        deadline = time.monotonic() + 30
        while (await (await client.get(f"/status/{job_id}")).json())["summary"]["status"] != "queued":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)  # in Redis, no worker yet
        redis.kill9()
        redis = RedisServer(tmp_path / "redis-empty", port=redis.port)  # its data is gone
        redis.start()
        worker.start()
        done = await wait_summary(client, job_id, timeout=60)
        assert done["summary"]["status"] == "completed" and done["summary"]["text"]
    finally:
        worker.stop()
        redis.stop()
    assert "job lost: summary job vanished from Redis; enqueueing again" in caplog.text
    assert worker.text().count("summarized job lost:") == 1
    assert stored_once(caplog, [job_id]) == {}


@pytest.mark.long
@pytest.mark.parametrize(
    ("command", "redis_first"),
    [
        ("python -m summarizer", False),  # `docker compose down`: both at once
        ("python -m summarizer", True),  # Redis already gone when the worker is told to stop
        ("arq summarizer.worker.WorkerSettings", True),
    ],
)
async def test_the_worker_stops_within_its_grace_period_when_redis_stops_too(
    command: str,
    redis_first: bool,
    make_client: MakeClient,
    chat: ChatServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="transcriber")
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    worker = Worker(tmp_path / "worker", redis.url, chat.config())
    if command.startswith("arq"):
        worker.argv = [str(Path(sys.executable).with_name("arq")), "summarizer.worker.WorkerSettings"]
    worker.start()
    try:
        client = await summary_client(make_client, redis, FakeEngine())
        job_id = (await submit(client, CLIPS / "hello.wav", job_id="both"))["job_id"]
        await chat.until_waiting(1)  # a summary is running in the worker
        assert worker.proc is not None and redis.process is not None
        redis.process.send_signal(signal.SIGTERM)
        if redis_first:
            await asyncio.to_thread(redis.process.wait, 30)
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(redis.process.wait, 30)
        try:
            code = await asyncio.to_thread(worker.proc.wait, 40)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - started
        assert code is not None and took < WORKER_GRACE, f"worker still running after {took:.0f} s:\n{worker.text()}"
        if command.startswith("python"):
            assert code == 0, worker.text()
        redis.process = None
        redis.start()
        worker.start()
        chat.hold.set()
        done = await wait_summary(client, job_id, timeout=90)
        assert done["summary"]["text"] == SUMMARY
        assert stored_once(caplog, [job_id]) == {}
    finally:
        worker.stop()
        redis.stop()
