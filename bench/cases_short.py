"""Short jobs (target 1b): a batch of 11 s clips and one clip end to end, against a plain loop.

The client is OpenAI's route (`POST /v1/audio/transcriptions`), which answers when the job has
completed: upload to completed with no polling interval in the figure. The plain loop is
faster-whisper called directly, one file at a time on all the server's threads, as a user would
write it; each repeat alternates which side goes first.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from bench.client import session
from bench.context import Context
from bench.direct import DirectLoop
from bench.report import Figure, Throughput, check, median, spread
from bench.server import Server, ServerConfig

SHORT_MODEL = "tiny.en"
BATCH = 4


async def transcribe(http: aiohttp.ClientSession, path: Path) -> str:
    """One clip through /v1: uploaded, queued, decoded, answered with its text."""
    form = aiohttp.FormData()
    form.add_field("model", "whisper-1")
    with path.open("rb") as fh:
        form.add_field("file", fh, filename=path.name)
        async with http.post("/v1/audio/transcriptions", data=form) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"/v1 answered {resp.status}: {body}")
    return str(body["text"])


async def _server_side(http: aiohttp.ClientSession, paths: list[Path]) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(transcribe(http, p) for p in paths))
    return time.perf_counter() - started


async def _pairs(srv: Server, loop: DirectLoop, paths: list[Path], repeats: int) -> tuple[list[float], list[float]]:
    """(server seconds, loop seconds) per repeat, alternating which goes first."""
    server_t: list[float] = []
    loop_t: list[float] = []
    async with session(srv.url) as http:
        await _server_side(http, paths[:1])  # first-call costs are not what is compared
        await asyncio.to_thread(loop.run, paths[:1])
        for r in range(repeats):
            for which in ("server", "loop") if r % 2 == 0 else ("loop", "server"):
                if which == "server":
                    server_t.append(await _server_side(http, paths))
                else:
                    loop_t.append((await asyncio.to_thread(loop.run, paths)).seconds)
    return server_t, loop_t


async def short_jobs(ctx: Context) -> None:
    """A batch of BATCH 11 s clips submitted at once, and one clip alone, each against the loop."""
    clip = ctx.fixtures.jfk
    repeats = max(3, ctx.repeats)
    async with ctx.server(ServerConfig(SHORT_MODEL)) as srv:
        threads = srv.workers * srv.cpu_threads
        with ctx.direct(SHORT_MODEL, threads) as loop:
            batch = await _pairs(srv, loop, [clip.path] * BATCH, repeats)
            single = await _pairs(srv, loop, [clip.path], repeats)
    shape = f"{srv.workers}x{srv.cpu_threads}"
    for label, (server_t, loop_t), goal in (
        (f"{BATCH} clips of {clip.seconds:.0f} s at once", batch, 0.9),
        (f"one {clip.seconds:.0f} s clip, upload to completed", single, 1.0),
    ):
        ratios = [s / d for s, d in zip(server_t, loop_t, strict=True)]
        ctx.add(
            Figure(
                1,
                f"short jobs: {label}, server ({shape}, /v1) / plain loop on all {threads} threads ({SHORT_MODEL})",
                median(ratios),
                "x",
                f"<= {goal}x",
                check(median(ratios), at_most=goal),
                f"{spread(ratios)}; medians server {median(server_t):.2f} s, loop {median(loop_t):.2f} s",
                {"server_seconds": server_t, "loop_seconds": loop_t, "ratios": ratios},
            )
        )
    audio = clip.seconds * BATCH
    ctx.rates += [
        Throughput("short", f"server {shape}, {BATCH} clips", audio, median(batch[0])),
        Throughput("short", f"plain loop 1x{threads}, {BATCH} clips", audio, median(batch[1])),
    ]
