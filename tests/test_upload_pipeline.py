"""The upload pipeline (receive, hash and write overlapped): exact bytes and digest, bounded memory,
a free event loop while a big upload streams, and no partial file after a client walks away."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import struct
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import numpy as np
import psutil
import pytest
from blake3 import blake3

from tests.conftest import MakeClient, serve
from tests.server_process import ServerProcess
from tests.support import CLIPS, FakeEngine, wait_status
from tests.test_errors import assert_clean_and_healthy
from transcriber.jobs import upload_files
from transcriber.speech import audio

MIB = 1024 * 1024
RATE = 16000


def wav_header(data_bytes: int) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, RATE, RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def noise(data_bytes: int, seed: int = 1) -> bytes:
    return np.random.default_rng(seed).integers(-3000, 3000, data_bytes // 2, dtype="<i2").tobytes()


def wav_bytes(data_bytes: int) -> bytes:
    """A mono 16 kHz WAV of noise: no two blocks alike, so their order shows in the hash."""
    return wav_header(data_bytes) + noise(data_bytes)


def multipart() -> tuple[bytes, bytes, str]:
    """(head, tail, boundary) of a one-file multipart body: the file's bytes go in between."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode(), boundary


def request_head(port: int, boundary: str, length: int) -> bytes:
    return (
        f"POST /transcribe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def odd_pieces(data: bytes, piece: int = 100_003) -> AsyncIterator[bytes]:
    """The body in pieces that never line up with the server's blocks."""
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def test_a_large_upload_is_stored_byte_exact_with_its_digest(make_client: MakeClient, tmp_path: Path) -> None:
    payload = wav_bytes(24 * MIB + 12_346)  # many blocks and a ragged tail
    assert len(payload) > (upload_files.DEPTH + 2) * upload_files.BLOCK
    client = await make_client(FakeEngine())
    head, tail, boundary = multipart()
    resp = await client.post(
        "/transcribe",
        data=odd_pieces(head + payload + tail),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    body = await resp.json()
    assert resp.status == 202, body
    with sqlite3.connect(tmp_path / "data" / "jobs.db") as db:
        path, size, digest = db.execute(
            "SELECT upload_path, upload_bytes, upload_digest FROM jobs WHERE job_id = ?", (body["job_id"],)
        ).fetchone()
    assert (size, digest) == (len(payload), "blake3:" + blake3(payload).hexdigest())
    stored = (tmp_path / "data" / path).read_bytes()
    assert stored == payload
    served = await client.get(f"/jobs/{body['job_id']}/audio")
    assert await served.read() == payload
    await wait_status(client, body["job_id"])


async def test_a_client_that_disconnects_mid_upload_leaves_no_partial_file(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client(FakeEngine())
    payload = wav_bytes(32 * MIB)
    head, tail, boundary = multipart()
    incoming = tmp_path / "data" / "uploads" / ".incoming"
    sent = 8 * MIB  # several blocks: the writer thread is busy when the client goes
    assert client.port is not None
    with socket.create_connection(("127.0.0.1", client.port)) as sock:
        await asyncio.to_thread(
            sock.sendall, request_head(client.port, boundary, len(head + payload + tail)) + head + payload[:sent]
        )
        deadline = time.monotonic() + 10
        while sum(p.stat().st_size for p in incoming.glob("*.part")) < 2 * upload_files.BLOCK:
            assert time.monotonic() < deadline, "the partial upload never reached the disk"
            await asyncio.sleep(0.02)
    await assert_clean_and_healthy(client, tmp_path / "data")
    jobs = await client.get("/jobs")
    assert (await jobs.json())["jobs"] == []


@pytest.fixture(scope="module")
def upload_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from serve(tmp_path_factory.mktemp("uploads") / "data")


def send_big(port: int, size: int, result: list[bytes]) -> None:
    """Stream a `size`-byte WAV from a 1 MiB noise block, as fast as the socket takes it."""
    block = noise(MIB, seed=7)
    head, tail, boundary = multipart()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request_head(port, boundary, len(head) + size + len(tail)) + head + wav_header(size - 44))
        left = size - 44
        while left > 0:
            n = min(left, len(block))
            sock.sendall(block[:n])
            left -= n
        sock.sendall(tail)
        parts = []
        while data := sock.recv(65536):
            parts.append(data)
    result.append(b"".join(parts))


async def test_health_answers_fast_and_memory_stays_flat_during_a_big_upload(upload_server: ServerProcess) -> None:
    proc = psutil.Process(upload_server.proc.pid if upload_server.proc else 0)
    before = proc.memory_info().rss
    answer: list[bytes] = []
    sender = threading.Thread(target=send_big, args=(upload_server.port, 384 * MIB, answer))
    sender.start()
    latencies, peak = [], before
    async with aiohttp.ClientSession(upload_server.url) as http:
        while sender.is_alive():
            started = time.perf_counter()
            async with http.get("/health") as resp:
                assert resp.status == 200
            latencies.append(time.perf_counter() - started)
            peak = max(peak, proc.memory_info().rss)
            await asyncio.sleep(0.01)
    await asyncio.to_thread(sender.join)
    assert answer and answer[0].startswith(b"HTTP/1.1 202"), answer[0][:300] if answer else "no answer"
    assert len(latencies) >= 5, latencies
    latencies.sort()
    # /health is a few hundred microseconds of work: anything near the upload's length would mean
    # the event loop hashed or wrote the file itself
    assert latencies[len(latencies) // 2] < 0.05 and latencies[-1] < 0.5, latencies
    assert (peak - before) / MIB < 64, f"RSS grew by {(peak - before) / MIB:.0f} MiB"


@pytest.mark.parametrize("clip", sorted(p.name for p in CLIPS.iterdir() if p.suffix != ".json"))
def test_the_quick_probe_finds_what_the_full_one_does(clip: str) -> None:
    """The accept path opens with a 32 KiB look at the stream parameters; for every format we
    test, that gives exactly what FFmpeg's default 5 MB look gives, length included."""
    quick = audio.probe(CLIPS / clip, 14400)
    full = audio._probe(CLIPS / clip, 14400, {})
    assert quick == full
    assert quick.sample_rate > 0 and quick.channels > 0 and quick.duration > 0.5
