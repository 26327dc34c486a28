"""Summaries through Redis under faults: kill -9 Redis (append-only, fsync always, as compose runs
it) before a job's handoff, while its summary runs and after it, and the worker mid-job, Redis
losing a queued job, and stopping both at once. Every summary arrives exactly once, nothing is
decoded or summarized twice, /health answers throughout, and the worker exits within its grace
period."""

from __future__ import annotations

import asyncio
import collections
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
from tests.support import CLIPS, Client, FakeEngine, free_port, submit, tone_wav, wait_status
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


@dataclass
class HealthWatch:
    """Asks /health every 50 ms for as long as it runs: each answer must come within 2 s, and be
    200 `ok` or 503 `degraded`."""

    client: Client
    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    redis_reachable: bool | None = None

    async def run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(2.0):
                    resp = await self.client.get("/health")
                    body = await resp.json()
                self.answers[f"{resp.status} {body['status']}"] += 1
                self.redis_reachable = body["summaries"]["redis_reachable"]
            except Exception as exc:  # no answer, a timeout, a body that is not the document
                self.failures.append(repr(exc))
            await asyncio.sleep(0.05)

    async def until_redis(self, reachable: bool, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.redis_reachable is not reachable:
            assert time.monotonic() < deadline, f"/health never said redis_reachable {reachable}"
            await asyncio.sleep(0.05)


async def assert_invariant(client: Client, engine: FakeEngine, ids: list[str]) -> None:
    """Every job is queued, running on the one live worker, or finished; none was decoded twice."""
    states = [(await (await client.get(f"/status/{job_id}")).json())["status"] for job_id in ids]
    assert set(states) <= {"queued", "running", "completed"}, states
    assert states.count("running") <= 1, states  # one worker: another running row would be stranded
    assert max(collections.Counter(engine.order).values(), default=0) <= 1, engine.order


async def until_logged(worker: Worker, lines: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(line in worker.text() for line in lines):
        assert time.monotonic() < deadline, f"the worker never logged {lines}:\n{worker.text()}"
        await asyncio.sleep(0.05)


@dataclass
class Scene:
    """One server with the arq handoff, its Redis, the summarizer worker and the chat model behind it."""

    client: Client
    engine: FakeEngine
    redis: RedisServer
    worker: Worker
    chat: ChatServer
    watch: HealthWatch


async def kill_redis_at(moment: str, scene: Scene, ids: list[str]) -> None:
    """kill -9 Redis at the moment; returns with Redis down and the jobs as far as they get without it."""
    client, engine, watch = scene.client, scene.engine, scene.watch
    if moment == "before-handoff":  # the jobs still transcribe: their summaries wait in the outbox
        await wait_status(client, ids[0], ("running",))
        scene.redis.kill9()
        await watch.until_redis(False)
        await assert_invariant(client, engine, ids)
        engine.auto = True
        for gate in engine.gates.values():
            gate.set()
        for job_id in ids:  # transcription goes on without Redis
            done = await wait_status(client, job_id)
            assert done["status"] == "completed" and done["summary"]["status"] == "pending", done
    elif moment == "summarizing":  # the worker holds every summary; its answers come while Redis is down
        await scene.chat.until_waiting(len(ids))
        scene.redis.kill9()
        await watch.until_redis(False)
        await assert_invariant(client, engine, ids)
        scene.chat.hold.set()
        await until_logged(scene.worker, [f"summarized job {job_id}:" for job_id in ids])
    else:  # every summary stored
        scene.chat.hold.set()
        for job_id in ids:
            assert (await wait_summary(client, job_id))["summary"]["status"] == "completed"
        scene.redis.kill9()
        await watch.until_redis(False)
    await assert_invariant(client, engine, ids)


@pytest.mark.parametrize("moment", ["before-handoff", "summarizing", "after"])
async def test_redis_killed_at_each_moment_of_a_jobs_life(
    moment: str, make_client: MakeClient, chat: ChatServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """kill -9 Redis while jobs still transcribe, while the worker summarizes them, or once all is
    done; then restart it. Throughout: the invariant holds and /health answers. At the end each job
    was decoded once and summarized once (the worker's own log), and each summary stored once."""
    caplog.set_level(logging.INFO, logger="transcriber")
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    # longer than the kill and restart take, so an answer held meanwhile is not an arq timeout
    config = chat.config().replace("job_timeout_seconds = 2", "job_timeout_seconds = 60")
    worker = Worker(tmp_path / "worker", redis.url, config)
    worker.start()
    engine = FakeEngine(auto=moment != "before-handoff")
    client = await summary_client(make_client, redis, engine)
    scene = Scene(client, engine, redis, worker, chat, HealthWatch(client))
    watching = asyncio.create_task(scene.watch.run())
    try:
        await scene.watch.until_redis(True)
        ids = [
            (await submit(client, tone_wav(tmp_path / f"{s}.wav", s), job_id=f"{moment}-{s}"))["job_id"]
            for s in (1, 2, 3)  # one duration each: engine.order tells the decodes apart
        ]
        await kill_redis_at(moment, scene, ids)
        redis.start()  # same directory: the append-only file has every acknowledged write
        chat.hold.set()
        await scene.watch.until_redis(True)
        if moment == "after":  # one more round trip through the restarted Redis, then count
            ids.append((await submit(client, tone_wav(tmp_path / "4.wav", 4), job_id=f"{moment}-4"))["job_id"])
        for job_id in ids:
            done = await wait_summary(client, job_id, timeout=120)
            assert done["status"] == "completed", done
            assert done["summary"] == {"status": "completed", "text": SUMMARY, "error": None}, done
        await assert_invariant(client, engine, ids)
        assert sorted(engine.order) == [float(s) for s in range(1, len(ids) + 1)]  # each decoded once
        runs = {job_id: worker.text().count(f"summarizing job {job_id}: try") for job_id in ids}
        assert runs == dict.fromkeys(ids, 1), runs  # each summarized once
        assert stored_once(caplog, ids) == {}
    finally:
        watching.cancel()
        worker.stop()
        redis.stop()
    assert scene.watch.failures == [], scene.watch.failures[:5]
    answers = scene.watch.answers
    assert set(answers) <= {"200 ok", "503 degraded"} and sum(answers.values()) > 20, answers
