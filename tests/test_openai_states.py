"""/v1 answers for the job states a real model rarely shows on demand: loading, cancelled, failed.

A fake engine (behind the Engine protocol) holds or breaks jobs; the HTTP, uploads, SQLite and
queue are real. The real-model answers are in test_openai_api.py.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import FormData
from openai import AsyncOpenAI

from tests.conftest import MakeClient
from tests.support import Client, FakeEngine, make_settings, tone_wav, wait_status
from transcriber.domain.options import JobOptions
from transcriber.events.waiters import SAFETY_POLL_SECONDS
from transcriber.outputs.transcript import Transcript
from transcriber.settings import Settings
from transcriber.speech.engine import Engine, SegmentCallback
from transcriber.speech.loader import EngineLoader
from transcriber.web.app import create_app

V1 = "/v1/audio/transcriptions"


def v1_form(path: Path, **fields: str) -> FormData:
    body = FormData({"model": "whisper-1", **fields})
    body.add_field("file", io.BytesIO(path.read_bytes()), filename=path.name)
    return body


async def openai_error(resp: Any, status: int, code: str | None) -> dict[str, Any]:
    error: dict[str, Any] = (await resp.json())["error"]
    assert resp.status == status, error
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code and error["message"]
    return error


class BrokenEngine(FakeEngine):
    def transcribe(
        self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback, *, wide: bool = False
    ) -> Transcript:
        raise RuntimeError("decoder exploded")


async def test_loading_model_is_503_with_retry_after(aiohttp_client: Any, tmp_path: Path) -> None:
    release = threading.Event()

    def slow_loader(settings: Settings) -> Engine:
        release.wait(30)
        return FakeEngine()

    settings = make_settings(tmp_path / "data")
    client = await aiohttp_client(create_app(settings, loader=EngineLoader(settings, slow_loader)))
    try:
        resp = await client.post(V1, data=v1_form(tone_wav(tmp_path / "a.wav", 2)))
        error = await openai_error(resp, 503, "model_loading")
        assert error["type"] == "server_error" and int(resp.headers["Retry-After"]) >= 1
        models = await (await client.get("/v1/models")).json()
        assert [m["id"] for m in models["data"]] == ["whisper-1", "tiny.en"]  # the configured name while loading
    finally:
        release.set()


async def test_job_cancelled_while_waiting_is_409(make_client: MakeClient, tmp_path: Path) -> None:
    engine = FakeEngine(auto=False)
    client = await make_client(engine)
    answer = asyncio.create_task(
        client.post(V1, data=v1_form(tone_wav(tmp_path / "a.wav", 3)), headers={"X-Job-Id": "c1"})
    )
    await wait_status(client, "c1", ("running",))
    assert (await client.post("/jobs/c1/cancel")).status == 202
    engine.gates[3.0].set()
    resp = await answer
    await openai_error(resp, 409, "job_cancelled")
    assert resp.headers["x-job-id"] == "c1"


async def test_failed_job_is_500_server_error(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(BrokenEngine())
    resp = await client.post(V1, data=v1_form(tone_wav(tmp_path / "a.wav", 2)))
    error = await openai_error(resp, 500, "job_failed")
    assert error["type"] == "server_error" and "decoder exploded" in error["message"]
    assert resp.headers["x-should-retry"] == "false"
    status = await (await client.get(f"/status/{resp.headers['x-job-id']}")).json()
    assert status["status"] == "failed"  # the failure is data in /jobs too


async def test_sdk_does_not_resubmit_a_failed_job(make_client: MakeClient, tmp_path: Path) -> None:
    """The openai SDK retries 5xx twice by default; a failed job must not become three jobs."""
    client = await make_client(BrokenEngine())
    async with AsyncOpenAI(base_url=str(client.make_url("/v1")), api_key="unused", max_retries=2) as sdk:
        with pytest.raises(openai.InternalServerError):
            await sdk.audio.transcriptions.create(model="whisper-1", file=tone_wav(tmp_path / "a.wav", 2))
    jobs = (await (await client.get("/jobs")).json())["jobs"]
    assert [j["status"] for j in jobs] == ["failed"]


async def test_fake_engine_answers_every_format(make_client: MakeClient, tmp_path: Path) -> None:
    """Without keys configured the /v1 routes are open, like the rest; segment fields come from the file."""
    client: Client = await make_client(FakeEngine())
    clip = tone_wav(tmp_path / "a.wav", 2)
    verbose = await (await client.post(V1, data=v1_form(clip, response_format="verbose_json"))).json()
    assert verbose["language"] == "english" and [s["text"] for s in verbose["segments"]] == [" word0", " word1"]
    segment = verbose["segments"][0]
    assert segment["tokens"] == [] and segment["seek"] == 0 and segment["compression_ratio"] > 0
    started = time.monotonic()
    text = await (await client.post(V1, data=v1_form(clip, response_format="text"))).text()
    assert text == "word0 word1\n" and time.monotonic() - started < 10


async def test_shutdown_answers_waiting_requests_at_once(make_client: MakeClient, tmp_path: Path) -> None:
    """Shutdown must not wait for the jobs behind waiting /v1 requests: they get a 503 at once."""
    engine = FakeEngine(auto=False)
    client = await make_client(engine)
    headers = {"X-Job-Id": "at-shutdown"}
    answer = asyncio.create_task(client.post(V1, data=v1_form(tone_wav(tmp_path / "a.wav", 3)), headers=headers))
    await wait_status(client, "at-shutdown", ("running",))
    await client.app.shutdown()  # what run_app does first on SIGTERM
    resp = await asyncio.wait_for(answer, 5)
    error = await openai_error(resp, 503, "shutting_down")
    assert "at-shutdown" in error["message"] and int(resp.headers["Retry-After"]) >= 1
    assert resp.headers["x-job-id"] == "at-shutdown" and resp.headers["x-should-retry"] == "false"
    assert (await (await client.get("/status/at-shutdown")).json())["status"] == "running"  # not cancelled
    engine.gates[3.0].set()


async def test_answer_follows_completion_through_the_change_feed(make_client: MakeClient, tmp_path: Path) -> None:
    """The waiting request wakes on the job's change, not on its slow safety poll."""
    engine = FakeEngine(auto=False)
    client = await make_client(engine)
    answer = asyncio.create_task(
        client.post(V1, data=v1_form(tone_wav(tmp_path / "a.wav", 2)), headers={"X-Job-Id": "fed"})
    )
    await wait_status(client, "fed", ("running",))
    await asyncio.sleep(SAFETY_POLL_SECONDS / 2)  # the waiter is now in the middle of a safety-poll wait
    released = time.monotonic()
    engine.gates[2.0].set()
    resp = await asyncio.wait_for(answer, SAFETY_POLL_SECONDS)
    assert resp.status == 200 and (await resp.json())["text"] == "word0 word1"
    assert time.monotonic() - released < SAFETY_POLL_SECONDS / 2
