"""Resumable uploads (tus 1.0 at /uploads/): a real client, raw HTTP, dropped connections, expiry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.conftest import MakeClient
from tests.support import CLIPS, TEXTS, Client, FakeEngine, free_port, make_settings, submit, tone_wav, wait_status
from tests.tus_support import TUS, in_thread, metadata, tus_leftovers
from transcriber.speech.engine import FasterWhisperEngine
from transcriber.store import tus_rows
from transcriber.store.sqlite import Store
from transcriber.store.tus_rows import TusRow
from transcriber.web.app import create_app

OCTETS = {**TUS, "Content-Type": "application/offset+octet-stream"}


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """The app on a real loopback port (tuspy runs in a thread and needs a real socket)."""
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def create(client: Client, length: int, meta: str = "", **headers: str) -> str:
    resp = await client.post(
        "/uploads/", headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": meta, **headers}
    )
    assert resp.status == 201, await resp.text()
    assert resp.headers["Tus-Resumable"] == "1.0.0" and "Upload-Expires" in resp.headers
    return resp.headers["Location"]


async def test_tuspy_uploads_a_clip_in_chunks_and_it_becomes_a_job(
    tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    runner, url = await serve(create_app(make_settings(data), engine=tiny_engine))
    try:
        clip = CLIPS / "hello.wav"
        answer = await in_thread(url, clip, chunk_size=40_000, filename="hello.wav", job_id="tus-1", language="en")
        assert answer["x-job-id"] == "tus-1" and int(answer["upload-offset"]) == clip.stat().st_size
        async with aiohttp.ClientSession(url) as session:
            for _ in range(1200):
                async with session.get("/status/tus-1") as resp:
                    job = await resp.json()
                if job["status"] in ("completed", "failed"):
                    break
                await asyncio.sleep(0.1)
            assert job["status"] == "completed", job
            assert job["text"].strip().lower()[:10] == TEXTS["hello.wav"].strip().lower()[:10]
            async with session.get("/jobs/tus-1/audio") as resp:
                assert await resp.read() == clip.read_bytes()
            async with session.head(answer["url"], headers=TUS) as resp:
                assert resp.status == 404  # the upload is a job now
        assert tus_leftovers(data) == []
    finally:
        await runner.cleanup()


async def test_the_protocol_over_raw_http(make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path) -> None:
    client = await make_client(fake_engine)
    resp = await client.options("/uploads/")
    assert resp.status == 204
    assert resp.headers["Tus-Version"] == "1.0.0"
    assert set(resp.headers["Tus-Extension"].split(",")) == {"creation", "termination", "expiration"}
    clip = (CLIPS / "hello.wav").read_bytes()
    location = await create(client, len(clip), metadata(filename="hello.wav", job_id="raw-1"))
    head = await client.head(location, headers=TUS)
    assert (head.status, head.headers["Upload-Offset"], head.headers["Upload-Length"]) == (200, "0", str(len(clip)))
    assert head.headers["Cache-Control"] == "no-store"
    first = await client.patch(location, data=clip[:10_000], headers={**OCTETS, "Upload-Offset": "0"})
    assert (first.status, first.headers["Upload-Offset"]) == (204, "10000")
    assert "X-Job-Id" not in first.headers
    stale = await client.patch(location, data=clip[:10_000], headers={**OCTETS, "Upload-Offset": "0"})
    assert (stale.status, (await stale.json())["error"]["code"]) == (409, "upload_offset_mismatch")
    last = await client.patch(location, data=clip[10_000:], headers={**OCTETS, "Upload-Offset": "10000"})
    assert last.status == 204, await last.text()
    assert last.headers["X-Job-Id"] == "raw-1" and last.headers["Upload-Offset"] == str(len(clip))
    job = await wait_status(client, "raw-1")
    assert job["status"] == "completed"
    assert tus_leftovers(tmp_path / "data") == []


async def test_termination_removes_the_upload(make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path) -> None:
    client = await make_client(fake_engine)
    location = await create(client, 1000)
    await client.patch(location, data=b"x" * 100, headers={**OCTETS, "Upload-Offset": "0"})
    resp = await client.delete(location, headers=TUS)
    assert resp.status == 204
    assert (await client.head(location, headers=TUS)).status == 404
    gone = await client.patch(location, data=b"x", headers={**OCTETS, "Upload-Offset": "100"})
    assert (gone.status, (await gone.json())["error"]["code"]) == (404, "upload_not_found")
    assert tus_leftovers(tmp_path / "data") == []


CREATION_REFUSALS: list[tuple[dict[str, str], int, str]] = [
    ({"Tus-Resumable": "0.2.2", "Upload-Length": "10"}, 412, "unsupported_tus_version"),
    ({"Upload-Length": "10"}, 412, "unsupported_tus_version"),
    ({**TUS}, 400, "invalid_upload_length"),
    ({**TUS, "Upload-Length": "-5"}, 400, "invalid_upload_length"),
    ({**TUS, "Upload-Length": "1e9"}, 400, "invalid_upload_length"),
    ({**TUS, "Upload-Defer-Length": "1"}, 400, "invalid_upload_length"),
    ({**TUS, "Upload-Length": "0"}, 400, "empty_file"),
    ({**TUS, "Upload-Length": str(2 * 1024 * 1024)}, 413, "upload_too_large"),
    ({**TUS, "Upload-Length": "10", "Upload-Metadata": "filename !!!"}, 400, "invalid_upload_metadata"),
    ({**TUS, "Upload-Length": "10", "Upload-Metadata": "filename " + "/w=="}, 400, "invalid_upload_metadata"),
    ({**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(colour="red")}, 400, "unknown_field"),
    ({**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(language="xx")}, 400, "invalid_language"),
    ({**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(task="dance")}, 400, "invalid_task"),
    ({**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(job_id="no spaces")}, 400, "invalid_job_id"),
    (
        {**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(callback_url="http://127.0.0.1/")},
        400,
        "invalid_callback_url",
    ),
    (
        {**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(job_id="a") + "," + metadata(job_id="b")},
        400,
        "duplicate_field",
    ),
]


async def test_creation_refuses_what_the_form_would(
    make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, limits={"max_upload_mb": 1})
    for headers, status, code in CREATION_REFUSALS:
        resp = await client.post("/uploads/", headers=headers)
        body = await resp.json()
        assert (resp.status, body["error"]["code"]) == (status, code), (headers, body)
        assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert tus_leftovers(tmp_path / "data") == []


async def test_bad_patches_are_refused_and_change_nothing(make_client: MakeClient, fake_engine: FakeEngine) -> None:
    client = await make_client(fake_engine)
    location = await create(client, 100)
    cases = [
        ({**TUS, "Content-Type": "application/octet-stream", "Upload-Offset": "0"}, b"x", 415, "invalid_content_type"),
        ({**OCTETS, "Upload-Offset": "5"}, b"x", 409, "upload_offset_mismatch"),
        ({**OCTETS, "Upload-Offset": "-1"}, b"x", 400, "upload_offset_mismatch"),
        ({**OCTETS}, b"x", 400, "upload_offset_mismatch"),
        ({**OCTETS, "Upload-Offset": "0"}, b"x" * 101, 413, "upload_too_large"),
        ({**OCTETS, "Upload-Offset": "0", "Content-Encoding": "gzip"}, b"x", 415, "unsupported_encoding"),
        ({"Content-Type": OCTETS["Content-Type"], "Upload-Offset": "0"}, b"x", 412, "unsupported_tus_version"),
    ]
    for headers, body, status, code in cases:
        resp = await client.patch(location, data=body, headers=headers)
        assert (resp.status, (await resp.json())["error"]["code"]) == (status, code), headers
    endless = await client.patch(location, data=_endless(), headers={**OCTETS, "Upload-Offset": "0"})
    assert (endless.status, (await endless.json())["error"]["code"]) == (413, "upload_too_large")
    head = await client.head(location, headers=TUS)
    assert int(head.headers["Upload-Offset"]) <= 100  # never more than Upload-Length is kept
    assert (await client.head("/uploads/not-an-id", headers=TUS)).status == 404


async def _endless() -> AsyncIterator[bytes]:
    """A chunked body with no declared length that never ends."""
    while True:
        yield b"x" * 64
        await asyncio.sleep(0)


async def test_unfinished_uploads_count_against_the_key(make_client: MakeClient, fake_engine: FakeEngine) -> None:
    client = await make_client(fake_engine, server={"api_keys": ["a:one"]}, limits={"max_queued_per_key": 2})
    key = {"Authorization": "Bearer one"}
    await create(client, 100, **key)
    await create(client, 100, **key)
    resp = await client.post("/uploads/", headers={**TUS, **key, "Upload-Length": "100"})
    assert (resp.status, (await resp.json())["error"]["code"]) == (429, "too_many_queued")
    assert "Retry-After" in resp.headers


async def test_a_dropped_patch_keeps_what_arrived_and_resumes(
    make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    """A raw socket declares the whole file, sends part of it and hangs up: HEAD says how much
    the server kept, and a PATCH from there finishes the job."""
    client = await make_client(fake_engine)
    clip = (CLIPS / "speech.mp3").read_bytes()
    location = await create(client, len(clip), metadata(job_id="dropped"))
    _reader, writer = await asyncio.open_connection(client.host, client.port)
    request = (
        f"PATCH {location} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(clip)}\r\n\r\n"
    )
    writer.write(request.encode() + clip[: len(clip) // 2])
    await writer.drain()
    # nothing outside shows that the handler has read the half (it is written when the request
    # ends), and bytes still unread when the peer hangs up are lost: give it a moment first
    await asyncio.sleep(0.3)
    writer.close()
    deadline = time.monotonic() + 10
    while True:
        kept = int((await client.head(location, headers=TUS)).headers["Upload-Offset"])
        if kept == len(clip) // 2 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert kept == len(clip) // 2
    rest = await client.patch(location, data=clip[kept:], headers={**OCTETS, "Upload-Offset": str(kept)})
    assert (rest.status, rest.headers.get("X-Job-Id")) == (204, "dropped"), await rest.text()
    job = await wait_status(client, "dropped")
    assert job["status"] == "completed" and job["duration"] > 1
    audio = await client.get("/jobs/dropped/audio")
    assert await audio.read() == clip
    assert tus_leftovers(tmp_path / "data") == []


async def test_an_abandoned_upload_expires_and_is_removed(
    make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    client = await make_client(fake_engine, ingest={"tus_expiry_seconds": 0.5})
    location = await create(client, 1000)
    await client.patch(location, data=b"x" * 10, headers={**OCTETS, "Upload-Offset": "0"})
    assert tus_leftovers(tmp_path / "data")
    deadline = time.monotonic() + 10
    while tus_leftovers(tmp_path / "data"):
        assert time.monotonic() < deadline, tus_leftovers(tmp_path / "data")
        await asyncio.sleep(0.1)
    assert (await client.head(location, headers=TUS)).status == 404


async def test_a_finished_upload_that_is_not_audio_leaves_nothing(
    make_client: MakeClient, fake_engine: FakeEngine, tmp_path: Path
) -> None:
    client = await make_client(fake_engine)
    junk = b"this is not audio at all\n" * 100
    location = await create(client, len(junk))
    resp = await client.patch(location, data=junk, headers={**OCTETS, "Upload-Offset": "0"})
    assert (resp.status, (await resp.json())["error"]["code"]) == (415, "not_audio")
    assert (await client.head(location, headers=TUS)).status == 404
    assert tus_leftovers(tmp_path / "data") == []


async def test_uploads_belong_to_the_key_that_made_them(make_client: MakeClient, fake_engine: FakeEngine) -> None:
    client = await make_client(fake_engine, server={"api_keys": ["a:one", "b:two"], "isolate_keys": True})
    mine, theirs = {"Authorization": "Bearer one"}, {"Authorization": "Bearer two"}
    location = await create(client, 100, **mine)
    assert (await client.head(location, headers={**TUS, **mine})).status == 200
    assert (await client.head(location, headers={**TUS, **theirs})).status == 404
    assert (await client.delete(location, headers={**TUS, **theirs})).status == 404
    assert (await client.head(location, headers=TUS)).status == 401


async def test_the_rows_on_either_store(store: Store) -> None:
    """Migration 0011 and the tus SQL on SQLite and on PostgreSQL."""
    row = TusRow("a" * 32, "key-1", 3 * 2**40, 0, "job-1", "big.wav", {"language": "en"}, "filename Yg==", "")
    await tus_rows.add(store, row)
    await tus_rows.add(store, replace(row, upload_id="b" * 32, owner=None))
    await tus_rows.set_offset(store, row.upload_id, 2**40)
    got = await tus_rows.get(store, row.upload_id)
    assert got is not None and (got.upload_offset, got.fields, got.filename) == (2**40, {"language": "en"}, "big.wav")
    assert await tus_rows.outstanding(store, "key-1") == (1, 2 * 2**40 + 3 * 2**40)
    assert (await tus_rows.outstanding(store, None))[0] == 1
    assert set(await tus_rows.untouched_since(store, "9999")) == {"a" * 32, "b" * 32}
    assert await tus_rows.remove(store, row.upload_id) and not await tus_rows.remove(store, row.upload_id)
    assert await tus_rows.all_ids(store) == {"b" * 32}


async def test_a_full_queue_at_the_last_byte_keeps_the_upload_for_a_retry(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """The queue fills between creation and the last byte: 503, the bytes are kept, and an empty
    PATCH at the end (what a client's retry sends) makes the job once there is room."""
    engine = FakeEngine(auto=False)  # the first job holds the only worker
    client = await make_client(engine, queue={"capacity": 1}, whisper={"workers": 1})
    running = await submit(client, tone_wav(tmp_path / "a.wav", 2))
    await wait_status(client, running["job_id"], ("running",))
    clip = (CLIPS / "hello.wav").read_bytes()
    location = await create(client, len(clip), metadata(job_id="waited"))
    queued = await submit(client, tone_wav(tmp_path / "b.wav", 3))  # the queue is full now
    full = await client.patch(location, data=clip, headers={**OCTETS, "Upload-Offset": "0"})
    assert (full.status, (await full.json())["error"]["code"]) == (503, "queue_full")
    assert "Retry-After" in full.headers
    head = await client.head(location, headers=TUS)
    assert head.headers["Upload-Offset"] == str(len(clip))
    assert (await client.post(f"/jobs/{queued['job_id']}/cancel")).status == 200
    done = await client.patch(location, data=b"", headers={**OCTETS, "Upload-Offset": str(len(clip))})
    assert (done.status, done.headers.get("X-Job-Id")) == (204, "waited"), await done.text()
    for gate in engine.gates.values():
        gate.set()
    engine.auto = True
    job = await wait_status(client, "waited")
    assert job["status"] == "completed"
    assert tus_leftovers(tmp_path / "data") == []
