"""Summaries end to end: the real server, real SQLite, a real redis-server and arq worker process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import MakeClient
from tests.redis_server import RedisServer
from tests.support import CLIPS, Client, free_port, submit, wait_status
from transcriber.speech.engine import FasterWhisperEngine

REPO = Path(__file__).resolve().parent.parent


class Worker:
    """`python -m summarizer` as a subprocess with its own config file and log."""

    def __init__(self, directory: Path, redis_url: str, config: str = "[summarizer]\nmax_sentences = 2\n"):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.toml").write_text(config, encoding="utf-8")
        self.log = directory / "worker.log"
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "TRANSCRIBER_CONFIG": str(directory / "config.toml"),
            "PYTHONPATH": str(REPO),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.argv = [sys.executable, "-m", "summarizer"]

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


async def wait_summary(client: Client, job_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = await (await client.get(f"/status/{job_id}")).json()
        if body["summary"]["status"] in ("completed", "failed"):
            return body
        assert time.monotonic() < deadline, f"summary of {job_id} still {body['summary']}"
        await asyncio.sleep(0.1)


async def test_in_process_summary_without_redis(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client = await make_client(tiny_engine, summarizer={"enabled": True, "max_sentences": 2})
    job_id = (await submit(client, CLIPS / "speech.ogg"))["job_id"]
    done = await wait_summary(client, job_id)
    summary = done["summary"]["text"]
    assert done["summary"]["status"] == "completed" and summary
    assert summary in done["text"] or all(s.strip(" .") in done["text"] for s in summary.split(". "))
    assert (tmp_path / "data" / "results" / job_id / "summary.txt").read_text(encoding="utf-8").strip() == summary
    health = await (await client.get("/health")).json()
    assert health["summaries"] == {
        "enabled": True,
        "backend": "extractive",
        "mode": "in-process",
        "backlog": 0,
        "redis_reachable": None,
    }
    again = await client.post(f"/jobs/{job_id}/summarize")
    assert again.status == 202 and (await again.json())["summary"]["status"] == "pending"
    assert (await wait_summary(client, job_id))["summary"]["text"] == summary


async def test_disabled_summaries(client: Client) -> None:
    job_id = (await submit(client, CLIPS / "hello.wav"))["job_id"]
    done = await wait_status(client, job_id)
    assert done["summary"] == {"status": "disabled", "text": None, "error": None}
    resp = await client.post(f"/jobs/{job_id}/summarize")
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "summaries_disabled"


async def test_summary_through_redis_and_worker(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, redis: RedisServer, tmp_path: Path
) -> None:
    worker = Worker(tmp_path / "worker", redis.url)
    worker.start()
    try:
        client = await make_client(tiny_engine, summarizer={"enabled": True, "redis_url": redis.url})
        job_id = (await submit(client, CLIPS / "speech.mp3"))["job_id"]
        done = await wait_summary(client, job_id)
        assert done["summary"]["status"] == "completed" and done["summary"]["text"]
        assert (tmp_path / "data" / "results" / job_id / "summary.txt").exists()
        health = await (await client.get("/health")).json()
        assert health["summaries"]["mode"] == "redis" and health["summaries"]["redis_reachable"] is True
    finally:
        worker.stop()
    assert f"summarized job {job_id}" in worker.text()
    assert done["text"][:30] not in worker.text()  # transcripts stay out of the worker's logs


async def test_redis_restart_loses_no_summary_and_runs_none_twice(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, redis: RedisServer, tmp_path: Path
) -> None:
    worker = Worker(tmp_path / "worker", redis.url)
    worker.start()
    try:
        client = await make_client(tiny_engine, summarizer={"enabled": True, "redis_url": redis.url})
        first = (await submit(client, CLIPS / "hello.wav", job_id="before"))["job_id"]
        await wait_summary(client, first)
        redis.stop()
        ids = [
            (await submit(client, CLIPS / name, job_id=f"during-{i}"))["job_id"]
            for i, name in enumerate(["speech.ogg", "speech.mp3", "numbers.flac"])
        ]
        for job_id in ids:
            done = await wait_status(client, job_id)
            assert done["status"] == "completed"  # transcription goes on without Redis
            assert done["summary"]["status"] == "pending"
        health = await client.get("/health")
        assert health.status == 200
        assert (await health.json())["summaries"]["redis_reachable"] is False
        redis.start()
        for job_id in ids:
            assert (await wait_summary(client, job_id, timeout=120))["summary"]["status"] == "completed"
    finally:
        worker.stop()
    log = worker.text()
    for job_id in [first, *ids]:
        assert log.count(f"summarized job {job_id}:") == 1, log


@pytest.mark.long
async def test_worker_killed_mid_summary_still_delivers(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, redis: RedisServer, tmp_path: Path
) -> None:
    calls: list[float] = []
    slow_first = asyncio.Event()

    async def chat(request: web.Request) -> web.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            slow_first.set()
            await asyncio.sleep(30)  # the worker is killed while it waits for this answer
        return web.json_response({"choices": [{"message": {"role": "assistant", "content": "A short summary."}}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    config = (
        '[summarizer]\nbackend = "openai"\njob_timeout_seconds = 2\n'
        f'[summarizer.openai]\nbase_url = "http://127.0.0.1:{port}/v1"\nmodel = "m"\ntimeout_seconds = 60\n'
    )
    worker = Worker(tmp_path / "worker", redis.url, config)
    worker.start()
    try:
        client = await make_client(tiny_engine, summarizer={"enabled": True, "redis_url": redis.url})
        job_id = (await submit(client, CLIPS / "speech.ogg"))["job_id"]
        await asyncio.wait_for(slow_first.wait(), 60)
        assert (await (await client.get(f"/status/{job_id}")).json())["summary"]["status"] in ("queued", "running")
        worker.kill9()
        worker.start()  # arq hands the job to a worker again once the dead one's claim expires
        done = await wait_summary(client, job_id, timeout=90)
        assert done["summary"] == {"status": "completed", "text": "A short summary.", "error": None}
        assert len(calls) == 2
    finally:
        worker.stop()
        await runner.cleanup()
