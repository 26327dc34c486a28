"""Durability with a real server process: kill -9 at awkward moments, SIGTERM, restart."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.server_process import ServerProcess
from tests.support import CLIPS, speech_wav

pytestmark = pytest.mark.slow


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def upload(session: aiohttp.ClientSession, server: ServerProcess, path: Path, job_id: str) -> None:
    form = aiohttp.FormData()
    form.add_field("job_id", job_id)
    form.add_field("file", io.BytesIO(path.read_bytes()), filename=path.name)
    async with session.post(f"{server.url}/transcribe", data=form) as resp:
        assert resp.status == 202, await resp.text()


async def status(session: aiohttp.ClientSession, server: ServerProcess, job_id: str) -> dict[str, Any]:
    async with session.get(f"{server.url}/status/{job_id}") as resp:
        body: dict[str, Any] = await resp.json()
        return body


async def wait_for(
    session: aiohttp.ClientSession, server: ServerProcess, job_id: str, want: tuple[str, ...], timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (body := await status(session, server, job_id))["status"] not in want:
        assert time.monotonic() < deadline, f"{job_id} is {body['status']}:\n{server.output()}"
        await asyncio.sleep(0.02)
    return body


def rows(data_dir: Path) -> dict[str, sqlite3.Row]:
    with sqlite3.connect(data_dir / "jobs.db") as db:
        db.row_factory = sqlite3.Row
        return {r["job_id"]: r for r in db.execute("SELECT * FROM jobs")}


async def test_kill_9_twice_finishes_every_accepted_job_once(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    long_audio = speech_wav(tmp_path / "long.wav", ["speech.ogg", "speech.mp3"] * 4)
    server = ServerProcess(tmp_path / "data", TRANSCRIBER_WORKERS="1", TRANSCRIBER_KEEP_AUDIO="false")
    server.start()
    try:
        await server.wait_ready()
        await upload(session, server, long_audio, "long")
        await wait_for(session, server, "long", ("running",))
        for i, name in enumerate(["hello.wav", "numbers.flac", "speech.mp3"]):
            await upload(session, server, CLIPS / name, f"short-{i}")
        server.kill9()  # "long" is mid-transcription, the short ones are queued

        server.start()
        await server.wait_ready()
        second = await wait_for(session, server, "long", ("running",))
        assert second["attempts"] == 2
        server.kill9()  # the same job is running during a second crash

        server.start()
        await server.wait_ready()
        deadline = time.monotonic() + 60
        for i in range(3):
            done = await wait_for(session, server, f"short-{i}", ("completed", "failed"))
            assert done["status"] == "completed" and done["attempts"] == 1, done
            while done["summary"]["status"] != "completed":  # summaries (in-process) survive too
                assert time.monotonic() < deadline, done["summary"]
                await asyncio.sleep(0.05)
                done = await status(session, server, f"short-{i}")
        failed = await status(session, server, "long")
        assert failed["status"] == "failed" and failed["error"]["code"] == "worker_crashed"
        assert failed["attempts"] == 2
    finally:
        server.stop()
    db = rows(tmp_path / "data")
    assert sorted(db) == ["long", "short-0", "short-1", "short-2"]
    results = tmp_path / "data" / "results"
    assert sorted(p.name for p in results.iterdir()) == ["short-0", "short-1", "short-2"]
    for job_dir in results.iterdir():
        expected = ["summary.txt", *(f"transcript.{f}" for f in ("json", "srt", "txt", "vtt"))]
        assert sorted(p.name for p in job_dir.iterdir()) == expected
    assert not [p for p in (tmp_path / "data" / "uploads").glob("*") if p.is_file()]  # nothing left behind


async def test_kill_9_right_after_202_keeps_the_job(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        await server.wait_ready()
        await upload(session, server, CLIPS / "speech.ogg", "accepted")
        server.kill9()
        server.start()
        await server.wait_ready()
        done = await wait_for(session, server, "accepted", ("completed", "failed"))
        assert done["status"] == "completed" and "river" in done["text"].lower()
    finally:
        server.stop()


@pytest.mark.long
async def test_sigterm_requeues_running_job_without_counting_a_crash(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    long_audio = speech_wav(tmp_path / "long.wav", ["speech.ogg", "speech.mp3"] * 4)
    (tmp_path / "term.toml").write_text("[server]\nshutdown_timeout = 0.5\n")
    server = ServerProcess(tmp_path / "data", config=tmp_path / "term.toml")
    server.start()
    try:
        await server.wait_ready()
        await upload(session, server, long_audio, "long")
        await wait_for(session, server, "long", ("running",))
        started = time.monotonic()
        assert server.terminate(timeout=30) == 0
        assert time.monotonic() - started < 20
        assert rows(tmp_path / "data")["long"]["status"] == "queued"
        server.start()
        await server.wait_ready()
        done = await wait_for(session, server, "long", ("completed", "failed"))
        assert done["status"] == "completed" and done["attempts"] == 1
    finally:
        server.stop()
    assert "back in the queue" in server.log.read_text()  # interrupted, or abandoned past the budget
