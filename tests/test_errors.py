"""Every bad input gets a precise 4xx in the JSON error shape, leaves nothing behind, and the
server stays healthy afterwards."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse

from tests.conftest import MakeClient
from tests.support import CLIPS, Client, FakeEngine, form, form_with, make_settings, submit, wait_status
from transcriber.settings import Settings
from transcriber.speech.engine import Engine, FasterWhisperEngine
from transcriber.speech.loader import EngineLoader
from transcriber.web.app import create_app


async def expect_error(resp: ClientResponse, status: int, code: str) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    assert resp.status == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert len(body["error"]["message"]) > 10, body
    return body


async def assert_clean_and_healthy(client: Client, data_dir: Path) -> None:
    deadline = time.monotonic() + 10
    incoming = data_dir / "uploads" / ".incoming"
    while incoming.exists() and any(incoming.iterdir()):
        assert time.monotonic() < deadline, f"partial uploads left: {list(incoming.iterdir())}"
        await asyncio.sleep(0.05)
    uploads = {f"uploads/{p.name}" for p in (data_dir / "uploads").glob("*") if p.is_file()}
    kept = set()  # the uploads of accepted jobs stay ([retention] keep_audio); nothing else may
    if uploads:
        with sqlite3.connect(data_dir / "jobs.db") as db:
            kept = {r[0] for r in db.execute("SELECT upload_path FROM jobs")}
    assert uploads <= kept, uploads - kept
    health = await client.get("/health")
    assert health.status == 200, await health.text()


BAD_FORMS = [
    ({"job_id": "../etc/passwd"}, "invalid_job_id"),
    ({"job_id": "-leading-dash"}, "invalid_job_id"),
    ({"job_id": "x" * 129}, "invalid_job_id"),
    ({"job_id": "has space"}, "invalid_job_id"),
    ({"language": "xx"}, "invalid_language"),
    ({"language": "english"}, "invalid_language"),
    ({"task": "summarize"}, "invalid_task"),
    ({"word_timestamps": "maybe"}, "invalid_word_timestamps"),
    ({"initial_prompt": "p" * 5000}, "invalid_initial_prompt"),
    ({"colour": "blue"}, "unknown_field"),
]


@pytest.mark.parametrize(("fields", "code"), BAD_FORMS)
async def test_bad_fields(client: Client, tmp_path: Path, fields: dict[str, str], code: str) -> None:
    resp = await client.post("/transcribe", data=form_with(CLIPS / "hello.wav", fields))
    await expect_error(resp, 400, code)
    await assert_clean_and_healthy(client, tmp_path / "data")


async def test_bad_multipart(client: Client, tmp_path: Path) -> None:
    await expect_error(await client.post("/transcribe", json={"file": "x"}), 400, "invalid_multipart")
    await expect_error(await client.post("/transcribe", data=form(language="en")), 400, "missing_file")
    await expect_error(await client.post("/transcribe", data=form(data=b"", filename="a.wav")), 400, "empty_file")
    broken = b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc'
    resp = await client.post("/transcribe", data=broken, headers={"Content-Type": "multipart/form-data; boundary=XYZ"})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] in ("invalid_multipart", "not_audio")
    doubled = form(CLIPS / "hello.wav")
    doubled.add_field("file", b"more", filename="b.wav")
    await expect_error(await client.post("/transcribe", data=doubled), 400, "multiple_files")
    await assert_clean_and_healthy(client, tmp_path / "data")


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(os.urandom(50_000), id="random-bytes"),
        pytest.param(b"just some text, not audio\n" * 100, id="text"),
        pytest.param((CLIPS / "hello.wav").read_bytes()[:60], id="truncated-header"),
        pytest.param(b"RIFF\x00\x00\x00\x00WAVEfmt " + os.urandom(2000), id="corrupt-wav"),
        pytest.param(b"\x1aE\xdf\xa3" + os.urandom(3000), id="fake-mkv"),
    ],
)
async def test_not_audio_is_415(client: Client, tmp_path: Path, payload: bytes) -> None:
    resp = await client.post("/transcribe", data=form(data=payload, filename="x.mp3"))
    await expect_error(resp, 415, "not_audio")
    await assert_clean_and_healthy(client, tmp_path / "data")


async def test_truncated_audio_is_transcribed_as_far_as_it_goes(
    client: Client,
) -> None:
    data = (CLIPS / "speech.mp3").read_bytes()
    resp = await client.post("/transcribe", data=form(data=data[: len(data) // 2], filename="half.mp3"))
    assert resp.status == 202
    done = await wait_status(client, (await resp.json())["job_id"])
    assert done["status"] == "completed" and done["text"]


async def test_client_filename_never_becomes_a_path(client: Client, tmp_path: Path) -> None:
    resp = await client.post(
        "/transcribe", data=form(data=(CLIPS / "hello.wav").read_bytes(), filename="../../../../tmp/evil.wav")
    )
    assert resp.status == 202
    await wait_status(client, (await resp.json())["job_id"])
    assert not Path("/tmp/evil.wav").exists()
    assert all(p.resolve().is_relative_to(tmp_path) for p in (tmp_path / "data").rglob("*"))


async def test_upload_over_byte_limit_is_413(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client = await make_client(tiny_engine, limits={"max_upload_mb": 1})
    resp = await client.post("/transcribe", data=form(data=os.urandom(3 * 1024 * 1024), filename="big.wav"))
    await expect_error(resp, 413, "upload_too_large")
    await assert_clean_and_healthy(client, tmp_path / "data")


async def test_audio_over_duration_limit_is_413(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    client = await make_client(tiny_engine, limits={"max_audio_seconds": 5})
    await expect_error(await client.post("/transcribe", data=form(CLIPS / "speech.ogg")), 413, "audio_too_long")
    await assert_clean_and_healthy(client, tmp_path / "data")


async def test_upload_cut_off_midway_leaves_nothing(client: Client, tmp_path: Path) -> None:
    head = (
        "POST /transcribe HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        'Content-Length: 5000000\r\n\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    )
    assert client.port is not None
    _reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(head.encode() + (CLIPS / "hello.wav").read_bytes()[:100_000])
    await writer.drain()
    await asyncio.sleep(0.2)  # let the server start streaming the part to disk
    writer.close()
    await writer.wait_closed()
    await assert_clean_and_healthy(client, tmp_path / "data")


async def test_api_keys(make_client: MakeClient, tiny_engine: FasterWhisperEngine) -> None:
    client = await make_client(tiny_engine, server={"api_keys": ["s3cret", "other"]})
    await expect_error(await client.post("/transcribe", data=form(CLIPS / "hello.wav")), 401, "unauthorized")
    await expect_error(await client.get("/status/x", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    await expect_error(await client.get("/jobs", headers={"Authorization": "Basic s3cret"}), 401, "unauthorized")
    assert (await client.get("/health")).status == 200
    assert (await client.get("/metrics")).status == 200
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav"), headers={"Authorization": "Bearer other"})
    assert resp.status == 202


async def test_unknown_things_are_404_and_405(client: Client) -> None:
    await expect_error(await client.get("/status/nope"), 404, "job_not_found")
    await expect_error(await client.get("/jobs/nope/transcript.txt"), 404, "job_not_found")
    await expect_error(await client.post("/jobs/nope/cancel"), 404, "job_not_found")
    await expect_error(await client.delete("/jobs/nope"), 404, "job_not_found")
    await expect_error(await client.get("/no/such/route"), 404, "not_found")
    await expect_error(await client.get("/transcribe"), 405, "method_not_allowed")
    await expect_error(await client.get("/jobs?limit=0"), 400, "invalid_limit")
    await expect_error(await client.get("/jobs?status=done"), 400, "invalid_status")
    await expect_error(await client.get("/jobs?before=not-a-job"), 400, "invalid_before")


async def test_finished_job_conflicts(client: Client) -> None:
    job_id = (await submit(client, CLIPS / "hello.wav"))["job_id"]
    await wait_status(client, job_id)
    await expect_error(await client.post(f"/jobs/{job_id}/cancel"), 409, "job_not_active")
    await expect_error(await client.get(f"/jobs/{job_id}/transcript.pdf"), 404, "result_not_found")


async def test_queue_full_is_503_with_retry_after(make_client: MakeClient, tmp_path: Path) -> None:
    engine = FakeEngine(auto=False)
    client = await make_client(engine, queue={"capacity": 1})
    running = await submit(client, CLIPS / "hello.wav", job_id="running")
    await wait_status(client, running["job_id"], ("running",))
    await submit(client, CLIPS / "hello.wav", job_id="queued")
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="rejected"))
    await expect_error(resp, 503, "queue_full")
    assert int(resp.headers["Retry-After"]) >= 1
    await expect_error(await client.delete("/jobs/queued"), 409, "job_active")
    for gate in engine.gates.values():
        gate.set()
    engine.auto = True
    await wait_status(client, "queued")
    assert (await client.get("/status/rejected")).status == 404
    await assert_clean_and_healthy(client, tmp_path / "data")


async def test_loading_model_is_503(aiohttp_client: Any, tmp_path: Path) -> None:
    release = threading.Event()

    def slow_loader(settings: Settings) -> Engine:
        release.wait(30)
        return FakeEngine()

    settings = make_settings(tmp_path / "data")
    client = await aiohttp_client(create_app(settings, loader=EngineLoader(settings, slow_loader)))
    health = await client.get("/health")
    assert health.status == 503 and (await health.json())["status"] == "loading"
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav"))
    await expect_error(resp, 503, "model_loading")
    assert "Retry-After" in resp.headers
    release.set()
    deadline = time.monotonic() + 10
    while (await client.get("/health")).status != 200:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_model_that_cannot_load_degrades_health(aiohttp_client: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", whisper={"model": str(tmp_path / "no-such-model")})
    loader = EngineLoader(settings)
    client = await aiohttp_client(create_app(settings, loader=loader))
    assert await asyncio.wait_for(loader.wait(), 10) is None
    body = await (await client.get("/health")).json()
    assert body["status"] == "degraded" and "no-such-model" in body["problems"][0]
