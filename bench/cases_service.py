"""Service costs: uploads (target 5), memory on one hour in fast mode (target 6), cold start (target 7)."""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import sys
import time
import uuid

import aiohttp
import numpy as np

from bench.client import JobTiming, session, submit, wait_job
from bench.context import Context, log
from bench.fixtures import SAMPLE_RATE, decode
from bench.procs import MIB
from bench.report import Figure, Throughput, check, median
from bench.server import Server, ServerConfig

SERVICE_MODEL = "tiny.en"
GIB = 1024 * MIB
BIG_RATE, BIG_CHANNELS = 48000, 2  # 192 kB/s: 1 GiB is 93 minutes, within the 4-hour limit
SEND_BLOCK = MIB


async def uploads(ctx: Context) -> None:
    """Target 5: many 100 KB clips at once, then one 1 GiB upload on a fresh server."""
    await _clip_burst(ctx, count=20 if ctx.quick else 300, parallel=16)
    await _big_upload(ctx, 32 * MIB if ctx.quick else GIB)


async def _clip_burst(ctx: Context, count: int, parallel: int) -> None:
    clip = ctx.fixtures.slice("clip-100k", 3.2)
    slots = asyncio.Semaphore(parallel)

    async def one(http: aiohttp.ClientSession) -> JobTiming:
        async with slots:  # per-upload times then exclude waiting for a free connection
            return await submit(http, clip.path)

    async with ctx.server(ServerConfig(SERVICE_MODEL)) as srv, session(srv.url, parallel) as http:
        started = time.perf_counter()
        timings = await asyncio.gather(*(one(http) for _ in range(count)))
        wall = time.perf_counter() - started
    rate = count / wall
    accept = sorted(t.accepted - t.sent for t in timings)
    ctx.add(
        Figure(
            5,
            f"100 KB clips accepted per second ({parallel} connections, durable 202s)",
            rate,
            "/s",
            ">= 100/s",
            check(rate, at_least=100.0),
            f"{count} uploads of {clip.path.stat().st_size / 1000:.0f} kB in {wall:.2f} s; request time p50 "
            f"{median(accept) * 1000:.0f} ms, p99 {accept[int(len(accept) * 0.99) - 1] * 1000:.0f} ms; the worker "
            "transcribes the accepted clips meanwhile",
            {"wall": wall, "accept_seconds": accept},
        )
    )


async def _big_upload(ctx: Context, size: int) -> None:
    block = _pcm_block(ctx)
    async with ctx.server(ServerConfig(SERVICE_MODEL)) as srv:
        assert srv.monitor is not None
        srv.monitor.reset()
        before = srv.monitor.current()
        sent, done, status = await asyncio.to_thread(_raw_upload, srv.port, size, block)
        peak = srv.monitor.peak()
    if status != 202:
        raise RuntimeError(f"big upload answered {status}:\n{srv.log_tail()}")
    stream, accept = size / sent / 1e6, size / done / 1e6
    label = f"{size / GIB:.0f} GiB" if size >= GIB else f"{size // MIB} MiB"
    ctx.add(
        Figure(
            5,
            f"{label} upload streaming rate (loopback, raw socket client)",
            stream,
            "MB/s",
            ">= 200 MB/s",
            check(stream, at_least=200.0),
            f"body sent in {sent:.2f} s; 202 after {done:.2f} s ({accept:.0f} MB/s with fsync, probe, commit)",
            {"bytes": size, "sent_seconds": sent, "accepted_seconds": done},
        ),
        Figure(
            5,
            f"server RSS growth during the {label} upload",
            peak - before,
            "MiB",
            "< 64 MiB",
            check(peak - before, at_most=64.0),
            f"{before:.0f} MiB before, peak {peak:.0f} MiB",
        ),
    )


def _pcm_block(ctx: Context) -> bytes:
    """About 5 s of JFK as 48 kHz stereo 16-bit PCM, repeated to make up the big upload."""
    speech = decode(ctx.fixtures.jfk.path)
    up = np.repeat(speech, BIG_RATE // SAMPLE_RATE)
    pcm = (np.clip(up, -1, 1) * 32767).astype("<i2")
    return np.repeat(pcm, BIG_CHANNELS).tobytes()[:SEND_BLOCK]


def _wav_header(data_bytes: int) -> bytes:
    align = BIG_CHANNELS * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, BIG_CHANNELS, BIG_RATE, BIG_RATE * align, align, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _raw_upload(port: int, size: int, block: bytes) -> tuple[float, float, int]:
    """POST a `size`-byte WAV as multipart over a plain socket, so the client costs next to nothing.
    Returns (seconds until the body was sent, seconds until the answer, HTTP status)."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + _wav_header(size - 44)
    tail = f"\r\n--{boundary}--\r\n".encode()
    request = (
        f"POST /transcribe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + size - 44 + len(tail)}\r\n\r\n"
    ).encode()
    view, left = memoryview(block), size - 44
    with socket.create_connection(("127.0.0.1", port)) as sock:
        started = time.perf_counter()
        sock.sendall(request + head)
        while left > 0:
            n = min(left, len(view))
            sock.sendall(view[:n])
            left -= n
        sock.sendall(tail)
        sent = time.perf_counter() - started
        answer = sock.recv(65536)
        done = time.perf_counter() - started
    return sent, done, int(answer.split(b" ", 2)[1])


async def memory(ctx: Context) -> None:
    """Target 6: peak RSS on one hour of speech in fast mode, against the idle server."""
    minutes = 2 if ctx.quick else 60
    clip = ctx.fixtures.english_long(minutes * 60.0)
    model_bin = ctx.model_path(SERVICE_MODEL) / "model.bin"
    async with ctx.server(ServerConfig(SERVICE_MODEL, fast_mode=True)) as srv, session(srv.url) as http:
        assert srv.monitor is not None
        idle = srv.idle_rss
        srv.monitor.reset()
        job = await submit(http, clip.path)
        await wait_job(http, job, 1.0)
        peak = srv.monitor.peak()
    growth = peak - idle
    ctx.add(
        Figure(
            6,
            f"{clip.seconds / 60:.0f} min of speech in fast mode ({SERVICE_MODEL}): peak RSS - idle RSS",
            growth,
            "MiB",
            "< 1024 MiB",
            check(growth, at_most=1024.0),
            f"idle {idle:.0f} MiB (model.bin {model_bin.stat().st_size / MIB:.0f} MiB), peak {peak:.0f} MiB; "
            f"job took {job.latency:.0f} s",
            {"idle_mib": idle, "peak_mib": peak, "seconds": job.latency},
        ),
    )
    ctx.rates.append(
        Throughput("long file", f"{clip.seconds / 60:.0f} min, fast mode {SERVICE_MODEL}", clip.seconds, job.latency)
    )


async def startup(ctx: Context) -> None:
    """Target 7: process start to /health 200 with tiny.en; idle RSS; where the time goes."""
    ready, listening, load, idle = [], [], [], []
    for _ in range(ctx.repeats):
        srv: Server = ctx.server(ServerConfig(SERVICE_MODEL))
        try:
            ready.append(await srv.start())
            listening.append(srv.listening_seconds or 0.0)
            load.append(float(srv.health["model"]["load_seconds"]))
            idle.append(srv.idle_rss)
        finally:
            srv.stop()
    imports = await asyncio.to_thread(_import_seconds)
    value = median(ready)
    ctx.add(
        Figure(
            7,
            f"cold start: process start to /health 200 ({SERVICE_MODEL})",
            value,
            "s",
            "<= 2.0 s",
            check(value, at_most=2.0),
            f"HTTP answers (503 loading) after {median(listening):.2f} s, model load {median(load):.2f} s; "
            f"bare imports: {', '.join(f'{k} {v:.2f} s' for k, v in imports.items())}",
            {"ready": ready, "listening": listening, "load": load, "imports": imports},
        ),
        Figure(
            6,
            f"idle RSS, {SERVICE_MODEL} server (default mode)",
            median(idle),
            "MiB",
            detail="after start-up, no job yet",
            data={"idle_mib": idle},
        ),
    )


def _import_seconds() -> dict[str, float]:
    """Wall time of a fresh interpreter importing what `serve` imports, and faster_whisper alone."""
    out = {}
    for label, code in (
        ("python", "pass"),
        ("transcriber.app", "import transcriber.app"),
        ("faster_whisper", "import faster_whisper"),
    ):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        out[label] = time.perf_counter() - started
    log.info("  import times: %s", out)
    return out
