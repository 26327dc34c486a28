"""Target 5, uploads: our POST /transcribe against a bare aiohttp handler in the same run, RSS, clip rate."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np

from bench.client import JobTiming, session, submit
from bench.context import Context
from bench.fixtures import SAMPLE_RATE, decode
from bench.machine import disk_speed
from bench.procs import MIB, RssMonitor
from bench.report import Figure, check, median, spread
from bench.server import REPO, ServerConfig, free_port

SERVICE_MODEL = "tiny.en"
GIB = 1024 * MIB
BIG_RATE, BIG_CHANNELS = 48000, 2  # 192 kB/s: 1 GiB is 93 minutes, within the 4-hour limit
SEND_BLOCK = MIB


@dataclass
class Side:
    """One server's per-repeat samples for the big upload: seconds to the answer, RSS growth."""

    seconds: list[float] = field(default_factory=list)
    rss_growth: list[float] = field(default_factory=list)


async def uploads(ctx: Context) -> None:
    """Target 5: a big upload to us and to a bare handler, alternating, on each disk given; then
    bursts of 100 kB clips."""
    for place in [ctx.work_dir, *ctx.upload_dirs]:
        await _big_upload(ctx, 32 * MIB if ctx.quick else GIB, max(ctx.repeats, 3), place)
    await _clip_bursts(ctx, count=40 if ctx.quick else 300, parallel=16, repeats=ctx.repeats)


async def _big_upload(ctx: Context, size: int, repeats: int, place: Path) -> None:
    block = _pcm_block(ctx)
    ours, bare = Side(), Side()
    work = Path(tempfile.mkdtemp(prefix="bench-upload-", dir=place))
    try:
        disk = await asyncio.to_thread(disk_speed, work)
        with _bare_server(work / "bare") as (port, folder, monitor):
            for repeat in range(repeats):
                for ours_turn in (True, False) if repeat % 2 == 0 else (False, True):
                    if ours_turn:
                        await _ours(ctx, size, block, ours, work)
                    else:
                        await _bare(port, folder, monitor, size, block, bare)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, ignore_errors=True)
    _report_big(ctx, size, ours, bare, f"{_filesystem(place)} at {disk['write_fsync_mb_s']:.0f} MB/s")


def _filesystem(place: Path) -> str:
    """The mount's type (tmpfs, ext4, ...) and point, from /proc/mounts, to name the disk measured."""
    best = ("", "disk")
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            _dev, point, kind, *_ = line.split()
            if str(place.resolve()).startswith(point) and len(point) >= len(best[0]):
                best = (point, kind)
    return f"{best[1]} {best[0]}".strip()


async def _ours(ctx: Context, size: int, block: bytes, side: Side, place: Path) -> None:
    """One upload to POST /transcribe on a fresh server, killed after the 202 so that the worker's
    transcription of this upload never overlaps the next measurement."""
    srv = ctx.server(ServerConfig(SERVICE_MODEL), place)
    async with srv:
        assert srv.monitor is not None
        srv.monitor.reset()
        before = srv.monitor.current()
        seconds, status, body = await asyncio.to_thread(_raw_upload, srv.port, "/transcribe", size, block)
        peak = srv.monitor.peak()
    await asyncio.to_thread(shutil.rmtree, srv.dir, ignore_errors=True)
    if status != 202:
        raise RuntimeError(f"big upload answered {status}: {body[:300]!r}\n{srv.log_tail()}")
    side.seconds.append(seconds)
    side.rss_growth.append(peak - before)


async def _bare(port: int, folder: Path, monitor: RssMonitor, size: int, block: bytes, side: Side) -> None:
    monitor.reset()
    before = monitor.current()
    seconds, status, body = await asyncio.to_thread(_raw_upload, port, "/upload", size, block)
    peak = monitor.peak()
    if status != 201:
        raise RuntimeError(f"bare handler answered {status}: {body[:300]!r}")
    side.seconds.append(seconds)
    side.rss_growth.append(peak - before)
    await asyncio.to_thread(_empty, folder)


def _empty(folder: Path) -> None:
    for path in folder.iterdir():
        path.unlink()


@contextlib.contextmanager
def _bare_server(folder: Path) -> Iterator[tuple[int, Path, RssMonitor]]:
    port = free_port()
    command = [sys.executable, "-m", "bench.bare_upload", str(port), str(folder)]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    monitor = RssMonitor(proc.pid).start()
    try:
        _wait_listening(port, proc)
        yield port, folder, monitor
    finally:
        monitor.stop()
        proc.kill()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the bare upload handler exited at start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError("the bare upload handler did not listen in 30 s")


def _report_big(ctx: Context, size: int, ours: Side, bare: Side, disk: str) -> None:
    ratios = [b / o for o, b in zip(ours.seconds, bare.seconds, strict=True)]  # speed ours / speed bare
    ratio = median(ratios)
    rate_ours, rate_bare = size / median(ours.seconds) / 1e6, size / median(bare.seconds) / 1e6
    label = f"{size / GIB:.0f} GiB" if size >= GIB else f"{size // MIB} MiB"
    growth = max(ours.rss_growth)
    ctx.add(
        Figure(
            5,
            f"{label} upload to {disk} (written with fsync), request start to answer: our 202 / bare "
            "aiohttp handler (speed ratio)",
            ratio,
            "x",
            ">= 0.85x",
            check(ratio, at_least=0.85),
            f"per-pair ratio {spread(ratios, 2)}, alternating which goes first; ours "
            f"{rate_ours:.0f} MB/s ({median(ours.seconds):.2f} s), bare {rate_bare:.0f} MB/s "
            f"({median(bare.seconds):.2f} s); same raw-socket client, both fsync file and directory",
            {"bytes": size, "ours_seconds": ours.seconds, "bare_seconds": bare.seconds, "ratios": ratios},
        ),
        Figure(
            5,
            f"server RSS growth during the {label} upload to {disk} (worst repeat)",
            growth,
            "MiB",
            "< 64 MiB",
            check(growth, at_most=64.0),
            f"per repeat {', '.join(f'{g:.0f}' for g in ours.rss_growth)} MiB; bare handler "
            f"{', '.join(f'{g:.0f}' for g in bare.rss_growth)} MiB",
            {"ours_mib": ours.rss_growth, "bare_mib": bare.rss_growth},
        ),
    )


async def _clip_bursts(ctx: Context, count: int, parallel: int, repeats: int) -> None:
    clip = ctx.fixtures.slice("clip-100k", 3.2)
    rates: list[float] = []
    accept: list[float] = []
    for _ in range(repeats):
        rate, seconds = await _clip_burst(ctx, clip.path, count, parallel)
        rates.append(rate)
        accept += seconds
    accept.sort()
    value = median(rates)
    ctx.add(
        Figure(
            5,
            f"100 kB clips accepted per second while jobs run ({parallel} connections, durable 202s)",
            value,
            "/s",
            ">= 100/s",
            check(value, at_least=100.0),
            f"per burst of {count}: {spread(rates, 1)}/s; "
            f"{clip.path.stat().st_size / 1000:.0f} kB each, fresh server per burst; request time p50 "
            f"{median(accept) * 1000:.0f} ms, p99 {accept[int(len(accept) * 0.99) - 1] * 1000:.0f} ms; the "
            "workers transcribe the accepted clips meanwhile",
            {"rates": rates, "accept_seconds": accept},
        )
    )


async def _clip_burst(ctx: Context, path: Path, count: int, parallel: int) -> tuple[float, list[float]]:
    slots = asyncio.Semaphore(parallel)

    async def one(http: aiohttp.ClientSession) -> JobTiming:
        async with slots:  # per-upload times then exclude waiting for a free connection
            return await submit(http, path)

    async with ctx.server(ServerConfig(SERVICE_MODEL)) as srv, session(srv.url, parallel) as http:
        started = time.perf_counter()
        timings = await asyncio.gather(*(one(http) for _ in range(count)))
        wall = time.perf_counter() - started
    return count / wall, [t.accepted - t.sent for t in timings]


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


def _raw_upload(port: int, route: str, size: int, block: bytes) -> tuple[float, int, bytes]:
    """POST a `size`-byte WAV as multipart over a plain socket, so the client costs next to nothing.
    Returns (seconds from the first byte sent until the whole answer, HTTP status, body)."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + _wav_header(size - 44)
    tail = f"\r\n--{boundary}--\r\n".encode()
    request = (
        f"POST {route} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
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
        answer = _read_all(sock)
        seconds = time.perf_counter() - started
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    return seconds, int(head_bytes.split(b" ", 2)[1]), body


def _read_all(sock: socket.socket) -> bytes:
    parts = []
    while data := sock.recv(65536):  # Connection: close, so the server ends the answer
        parts.append(data)
    return b"".join(parts)
