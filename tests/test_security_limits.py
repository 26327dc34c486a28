"""Limits a hostile client cannot slip past: measured (not declared) audio length, decoding capped,
malformed multipart and compressed bodies refused, upload slots, per-key queue caps, idle cut-off."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import av
import pytest

from tests.conftest import MakeClient
from tests.lying_audio import chained_ogg, mp3_with_short_xing, mp4_with_short_stts
from tests.support import CLIPS, FakeEngine, form, tone_wav, wait_status
from tests.test_errors import assert_clean_and_healthy, expect_error
from transcriber.domain.options import JobOptions
from transcriber.jobs.failures import known_failure
from transcriber.speech import audio
from transcriber.speech.engine import FasterWhisperEngine

KEY = {"Authorization": "Bearer k1"}


def test_a_short_xing_count_fools_the_header_but_not_the_probe(tmp_path: Path) -> None:
    lying = mp3_with_short_xing(tmp_path / "lying.mp3")
    with av.open(str(lying)) as container:
        stream = container.streams.audio[0]
        assert stream.duration is not None and stream.time_base is not None
        declared = float(stream.duration * stream.time_base)
    measured = audio.probe(lying, 14400).duration
    assert declared < 0.5 and measured > 11, (declared, measured)


@pytest.mark.parametrize(
    ("make", "limit"),
    [(mp3_with_short_xing, 5), (chained_ogg, 20)],
    ids=["mp3-short-xing-count", "chained-ogg"],
)
async def test_audio_that_understates_its_length_gets_413(
    make_client: MakeClient, tmp_path: Path, make: Callable[[Path], Path], limit: float
) -> None:
    """The header claims 0.3 s (MP3) or 14.7 s (Ogg, the first link) for 11.6 s and 44 s."""
    client = await make_client(FakeEngine(), limits={"max_audio_seconds": limit})
    lying = make(tmp_path / "lying")
    await expect_error(await client.post("/transcribe", data=form(lying)), 413, "audio_too_long")
    await assert_clean_and_healthy(client, tmp_path / "data")


async def test_decoding_stops_at_the_measured_length(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    lying = mp4_with_short_stts(tmp_path / "lying.mp4")
    measured = audio.probe(lying, 14400).duration
    decodes = sum(len(b) for b in audio.decode(lying)) / audio.SAMPLE_RATE
    assert measured < 1.0 and decodes > 3.0, (measured, decodes)  # demuxing believes the stts table
    with pytest.raises(audio.AudioTooLong):
        tiny_engine.transcribe(lying, measured, JobOptions(), lambda *_: None)
    client = await make_client(tiny_engine)
    resp = await client.post("/transcribe", data=form(lying, job_id="stts"))
    assert resp.status == 202, await resp.text()
    done = await wait_status(client, "stts")
    assert done["status"] == "failed" and done["error"]["code"] == "audio_too_long", done


def test_known_failures_have_codes() -> None:
    outcome = known_failure(audio.AudioTooLong("x"))
    assert outcome is not None and outcome.error_code == "audio_too_long"
    # a full disk is not the job's failure: the scheduler puts the job back (tests/test_disk_full.py)
    assert known_failure(OSError(28, "No space left on device")) is None
    assert known_failure(RuntimeError("boom")) is None


def _multipart(head: bytes, boundary: bytes = b"b0undary") -> bytes:
    return b"--" + boundary + b"\r\n" + head + b"\r\n\r\ndata\r\n--" + boundary + b"--\r\n"


@pytest.mark.parametrize(
    "head",
    [
        b'Content-Disposition: form-data; name="file"; filename="' + b"a" * 70000 + b'"',
        b'Content-Disposition: form-data; name="file"\r\n' + b"".join(b"X-H%d: v\r\n" % i for i in range(300)),
        b"Content-Disposition form-data no colon",
    ],
    ids=["long-line", "many-headers", "bad-header"],
)
async def test_malformed_part_headers_are_400(make_client: MakeClient, tmp_path: Path, head: bytes) -> None:
    client = await make_client(FakeEngine())
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary"}
    resp = await client.post("/transcribe", data=_multipart(head), headers=headers)
    assert resp.status == 400, await resp.text()
    await assert_clean_and_healthy(client, tmp_path / "data")


async def test_compressed_bodies_are_refused(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(FakeEngine(), limits={"max_upload_mb": 1})
    body = _multipart(b'Content-Disposition: form-data; name="file"; filename="z.wav"').replace(
        b"data", b"\0" * (8 * 1024 * 1024)
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary", "Content-Encoding": "gzip"}
    resp = await client.post("/transcribe", data=gzip.compress(body), headers=headers)
    await expect_error(resp, 415, "unsupported_encoding")
    await assert_clean_and_healthy(client, tmp_path / "data")


async def _slow_body(path: Path, release: asyncio.Event) -> AsyncIterator[bytes]:
    data = path.read_bytes()
    yield b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    yield data[: len(data) // 2]
    await release.wait()
    yield data[len(data) // 2 :] + b"\r\n--b0undary--\r\n"


async def _part_files(data_dir: Path) -> list[Path]:
    incoming = data_dir / "uploads" / ".incoming"
    return list(incoming.glob("*.part")) if incoming.is_dir() else []


async def test_concurrent_uploads_are_capped(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(FakeEngine(), limits={"max_concurrent_uploads": 1})
    release = asyncio.Event()
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary"}
    first = asyncio.create_task(
        client.post("/transcribe", data=_slow_body(CLIPS / "hello.wav", release), headers=headers)
    )
    deadline = time.monotonic() + 10
    while not await _part_files(tmp_path / "data"):
        assert time.monotonic() < deadline and not first.done()
        await asyncio.sleep(0.02)
    second = await client.post("/transcribe", data=form(CLIPS / "hello.wav"))
    await expect_error(second, 503, "too_many_uploads")
    assert int(second.headers["Retry-After"]) >= 1
    release.set()
    assert (await first).status == 202
    assert (await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="after"))).status == 202


async def test_a_stalled_upload_is_cut_off_and_removed(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(FakeEngine(), limits={"upload_idle_seconds": 0.5})
    release = asyncio.Event()
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary"}
    post = asyncio.create_task(
        client.post("/transcribe", data=_slow_body(CLIPS / "hello.wav", release), headers=headers)
    )
    deadline = time.monotonic() + 10
    while not await _part_files(tmp_path / "data"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    while await _part_files(tmp_path / "data"):  # gone while the client is still stalled
        assert time.monotonic() < deadline, "the stalled upload's partial file was kept"
        await asyncio.sleep(0.05)
    assert not release.is_set()
    release.set()
    try:
        resp = await post
        await expect_error(resp, 408, "upload_timeout")
    except Exception as exc:  # the server may close the connection before the client reads the 408
        assert "Connection" in type(exc).__name__ or "Payload" in type(exc).__name__, exc
    await assert_clean_and_healthy(client, tmp_path / "data")


async def test_each_key_has_a_cap_on_queued_jobs(make_client: MakeClient, tmp_path: Path) -> None:
    engine = FakeEngine(auto=False)
    client = await make_client(engine, server={"api_keys": ["k1", "k2"]}, limits={"max_queued_per_key": 1})
    clip = tone_wav(tmp_path / "tone.wav", 1.0)
    assert (await client.post("/transcribe", data=form(clip, job_id="run"), headers=KEY)).status == 202
    await wait_status(client, "run", ("running",), headers=KEY)
    assert (await client.post("/transcribe", data=form(clip, job_id="q1"), headers=KEY)).status == 202
    third = await client.post("/transcribe", data=form(clip, job_id="q2"), headers=KEY)
    await expect_error(third, 429, "too_many_queued")
    assert int(third.headers["Retry-After"]) >= 1
    other = await client.post("/transcribe", data=form(clip, job_id="k2-1"), headers={"Authorization": "Bearer k2"})
    assert other.status == 202  # the cap is per key
    for gate in engine.gates.values():
        gate.set()
    await wait_status(client, "q1", headers=KEY)
