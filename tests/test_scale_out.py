"""Three `transcriber serve` processes on one real PostgreSQL and one shared data directory, with
the real tiny.en model: any server answers for any job, a killed server's jobs run elsewhere
exactly once, a running job's text so far shows on another server, a cancel crosses servers, and a
database restart loses nothing accepted."""

from __future__ import annotations

import asyncio
import collections
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.wer import word_error_rate
from tests.pg_server import PgServer
from tests.server_process import ServerProcess
from tests.store_backends import pg_peek
from tests.support import CLIPS, TEXTS, form, speech_wav

pytestmark = pytest.mark.slow
CLIP_CYCLE = ("hello.wav", "numbers.flac", "hello.wav", "clip.mp4", "hello.wav")
JOBS = 30
LEASE = "3"  # seconds: a killed server's jobs run again after this
WER_BOUND = 0.35  # tiny.en on these clips; the exact text is not the point here


@pytest.fixture
async def cluster(pg_url: str, tmp_path: Path) -> AsyncIterator[list[ServerProcess]]:
    shared = tmp_path / "shared"
    servers = []
    for i in range(3):
        server = ServerProcess(
            shared,
            DATABASE_URL=pg_url,
            TRANSCRIBER_LEASE_SECONDS=LEASE,
            TRANSCRIBER_WORKERS="1",
            TRANSCRIBER_CPU_THREADS="1",
        )
        server.log = tmp_path / f"server-{i}.log"
        servers.append(server)
    try:
        for server in servers:
            server.start()
        await asyncio.gather(*(s.wait_ready(120) for s in servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


async def post_job(session: aiohttp.ClientSession, url: str, path: Path, job_id: str) -> int:
    """Submit until the server gives an answer that is not 'try again' (503 or no connection)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            async with session.post(f"{url}/transcribe", data=form(path, job_id=job_id)) as resp:
                if resp.status != 503:
                    return resp.status
        except aiohttp.ClientConnectionError:
            pass
        assert time.monotonic() < deadline, f"{job_id} never accepted"
        await asyncio.sleep(0.2)


async def status(session: aiohttp.ClientSession, url: str, job_id: str) -> dict[str, Any]:
    async with session.get(f"{url}/status/{job_id}") as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def wait_done(session: aiohttp.ClientSession, url: str, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (body := await status(session, url, job_id))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"{job_id} still {body['status']}"
        await asyncio.sleep(0.2)
    return body


async def wait_running_on(pg_url: str, server: ServerProcess, timeout: float = 60) -> None:
    assert server.proc is not None
    deadline = time.monotonic() + timeout
    peek = pg_peek(pg_url)
    while not await peek(
        "SELECT 1 FROM jobs WHERE status = 'running' AND lease_owner LIKE ?", (f"%:{server.proc.pid}:%",)
    ):
        assert time.monotonic() < deadline, "the server never took a job"
        await asyncio.sleep(0.05)


def completions(servers: list[ServerProcess]) -> collections.Counter[str]:
    pattern = re.compile(r"job (\S+): completed in")
    counts: collections.Counter[str] = collections.Counter()
    for server in servers:
        counts.update(pattern.findall(server.log.read_text(errors="replace")))
    return counts


@pytest.mark.long
async def test_three_servers_one_database(
    pg_server: PgServer, pg_url: str, cluster: list[ServerProcess], tmp_path: Path
) -> None:
    victim = cluster[2]
    accepted_by: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        for i in range(JOBS):
            job_id, at = f"job-{i:02d}", i % 3
            if at == 2 and victim.proc is not None and victim.proc.poll() is not None:
                at = i % 2  # the victim is dead: clients go to the others
            if i == 12:
                await wait_running_on(pg_url, victim)
                victim.kill9()  # while it runs a job: its lease runs out, another server takes it
            if i == 20:
                pg_server.restart()  # mid-stream: what was accepted stays accepted
            clip = CLIPS / CLIP_CYCLE[i % len(CLIP_CYCLE)]
            assert await post_job(session, cluster[at].url, clip, job_id) == 202
            accepted_by[job_id] = at
        live = cluster[:2]
        for i, (job_id, at) in enumerate(accepted_by.items()):
            reader = live[(at + 1) % 2]  # never the server that accepted it
            done = await wait_done(session, reader.url, job_id)
            assert done["status"] == "completed", done
            name = CLIP_CYCLE[i % len(CLIP_CYCLE)]
            assert word_error_rate(TEXTS[name], done["text"]) < WER_BOUND, (name, done["text"])
            async with session.get(f"{reader.url}/jobs/{job_id}/transcript.txt") as resp:
                assert resp.status == 200 and (await resp.text()).strip() == done["text"].strip()
        for server in live:
            async with session.get(f"{server.url}/jobs?limit=100") as resp:
                listed = {j["job_id"] for j in (await resp.json())["jobs"]}
            assert listed == set(accepted_by)
        counts = completions(cluster)
        assert {job_id: counts[job_id] for job_id in accepted_by} == dict.fromkeys(accepted_by, 1)
        attempts = await pg_peek(pg_url)("SELECT max(attempts) AS n FROM jobs")
        assert attempts[0]["n"] == 2  # the victim's job ran a second time, elsewhere

        long_audio = speech_wav(tmp_path / "long.wav", ["speech.ogg", "speech.mp3", "numbers.flac"] * 3)
        assert await post_job(session, live[0].url, long_audio, "to-cancel") == 202
        runner = await _runner(pg_url, live)
        other = live[1] if runner is live[0] else live[0]
        so_far = await text_so_far(session, other.url, "to-cancel")  # the runner's words, read from the other
        assert so_far["progress"] > 0 and so_far["eta_seconds"] is not None, so_far
        async with session.post(f"{other.url}/jobs/to-cancel/cancel") as resp:
            assert resp.status in (200, 202), await resp.text()
        done = await wait_done(session, runner.url, "to-cancel", timeout=60)
        assert done["status"] == "cancelled" and done["error"]["code"] == "cancelled"


async def text_so_far(session: aiohttp.ClientSession, url: str, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """The job's status once it shows text while still running."""
    deadline = time.monotonic() + timeout
    while not ((body := await status(session, url, job_id))["status"] == "running" and body["text"]):
        assert body["status"] == "running" and time.monotonic() < deadline, body
        await asyncio.sleep(0.1)
    return body


async def _runner(pg_url: str, servers: list[ServerProcess]) -> ServerProcess:
    """The server holding the lease of the job to cancel, once it runs."""
    peek = pg_peek(pg_url)
    deadline = time.monotonic() + 60
    while not (rows := await peek("SELECT lease_owner FROM jobs WHERE job_id = 'to-cancel' AND status = 'running'")):
        assert time.monotonic() < deadline, "the long job never started"
        await asyncio.sleep(0.05)
    pid = int(rows[0]["lease_owner"].split(":")[1])
    return next(s for s in servers if s.proc is not None and s.proc.pid == pid)
