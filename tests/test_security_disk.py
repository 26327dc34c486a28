"""Disk space: the free-space floor before an upload, a disk that fills mid-upload, and a disk that
fills while results are written. Small tmpfs mounts stand in for a full disk (root only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import MakeClient, Mount, needs_root
from tests.support import CLIPS, FakeEngine, form, tone_wav, wait_status
from tests.test_errors import assert_clean_and_healthy, expect_error


async def test_upload_refused_below_the_free_space_floor(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(FakeEngine(), limits={"min_free_disk_mb": 1024 * 1024 * 1024})
    await expect_error(await client.post("/transcribe", data=form(CLIPS / "hello.wav")), 507, "insufficient_storage")
    assert not (tmp_path / "data" / "uploads").exists() or not any((tmp_path / "data" / "uploads").rglob("*.*"))


async def _chunked(path: Path) -> AsyncIterator[bytes]:
    """No Content-Length, so the server cannot refuse up front: it must notice the disk filling."""
    data = path.read_bytes()
    yield b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    for at in range(0, len(data), 256 * 1024):
        yield data[at : at + 256 * 1024]
    yield b"\r\n--b0undary--\r\n"


@needs_root
async def test_disk_full_mid_upload_is_507_and_leaves_nothing(
    make_client: MakeClient,
    tmp_path: Path,
    small_disk: Mount,
) -> None:
    data_dir = tmp_path / "data"
    small_disk(data_dir / "uploads", 2048)
    client = await make_client(FakeEngine(), limits={"min_free_disk_mb": 0})
    big = tone_wav(tmp_path / "big.wav", 120.0)  # 3.8 MB: more than the 2 MB disk
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary"}
    resp = await client.post("/transcribe", data=_chunked(big), headers=headers)
    await expect_error(resp, 507, "insufficient_storage")
    await assert_clean_and_healthy(client, data_dir)
    small = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="fits"))
    assert small.status == 202, await small.text()
    assert (await wait_status(client, "fits"))["status"] == "completed"


@needs_root
async def test_disk_full_while_writing_results_requeues_the_job_and_recovers(
    make_client: MakeClient,
    tmp_path: Path,
    small_disk: Mount,
) -> None:
    data_dir = tmp_path / "data"
    results = small_disk(data_dir / "results", 256)
    filler = results / "filler"
    with filler.open("wb", buffering=0) as fh, pytest.raises(OSError):
        while True:
            fh.write(b"\0" * 4096)
    client = await make_client(FakeEngine(), limits={"min_free_disk_mb": 0})
    assert (await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="full"))).status == 202
    health = await client.get("/health")
    while health.status != 503:  # the results could not be written: an outage, not a failed job
        await asyncio.sleep(0.05)
        health = await client.get("/health")
    assert any(p.startswith("disk_full") for p in (await health.json())["problems"])
    waiting = await wait_status(client, "full", ("queued",))
    assert waiting["status"] == "queued" and waiting["attempts"] == 0, waiting
    assert not [p for p in results.iterdir() if p.name != "filler"]  # no half-written result set
    filler.unlink()  # space returns: the job runs again by itself
    assert (await wait_status(client, "full"))["status"] == "completed"
    assert (await client.post("/transcribe", data=form(CLIPS / "speech.mp3", job_id="later"))).status == 202
    assert (await wait_status(client, "later"))["status"] == "completed"
    assert (await client.get("/jobs/later/transcript.txt")).status == 200
    assert (await client.get("/health")).status == 200
