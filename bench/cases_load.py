"""Load: 8 clients at once with a workers x threads sweep (target 3), a short clip behind a long
one (target 3), and /health and /status latency while every worker transcribes (target 4)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.client import JobTiming, run_batch, run_clients, session, submit, wait_job
from bench.context import Context, default_shape, log
from bench.report import Figure, Throughput, check, median
from bench.server import Server, ServerConfig

LOAD_MODEL = "tiny.en"
CLIENT_POLL = 0.25  # each of the 8 clients asks about its own job four times a second


def sweep_shapes(cores: int) -> list[tuple[int, int]]:
    """Powers of two for workers and threads, keeping workers x threads within [cores/2, 2 cores]."""
    powers = [p for p in (1, 2, 4, 8, 16, 32) if p <= max(cores, 2)]
    return [(w, t) for w in powers for t in powers if cores / 2 <= w * t <= 2 * cores]


async def concurrency(ctx: Context) -> None:
    """Target 3: aggregate throughput of 8 clients vs a serial loop, default vs a sweep."""
    # English speech: German (the second half of multilingual.mp3) sends tiny.en into random
    # temperature fallbacks, which made run-to-run differences larger than the effects measured.
    clip = ctx.fixtures.jfk if ctx.quick else ctx.fixtures.english_minute()
    clients = 2 if ctx.quick else 8
    paths, audio = [clip.path] * clients, clip.seconds * clients
    default = default_shape(ctx.server_env)
    serial = await asyncio.to_thread(_serial_loop, ctx, paths, default[0] * default[1])  # all the cores
    group = f"{clients} clients x {clip.seconds:.0f} s"
    ctx.rates.append(Throughput(group, "serial direct loop", audio, serial))
    shapes = [default] + [s for s in sweep_shapes(os.cpu_count() or 1) if s != default]
    if ctx.quick:
        shapes = shapes[:2]
    rates: dict[tuple[int, int], float] = {}
    for workers, threads in shapes:
        config = (
            ServerConfig(LOAD_MODEL)
            if (workers, threads) == default
            else ServerConfig(LOAD_MODEL, workers=workers, cpu_threads=threads)
        )
        walls, latencies, peak = await _clients_run(ctx, config, paths)
        rates[(workers, threads)] = audio / median(walls)
        ctx.add(
            Figure(
                3,
                f"sweep {workers} workers x {threads} threads{' (default)' if (workers, threads) == default else ''}",
                rates[(workers, threads)],
                "audio s/s",
                detail=f"{clients} clients: wall {median(walls):.1f} s, job latency {min(latencies):.1f}-"
                f"{max(latencies):.1f} s, peak RSS {peak:.0f} MiB",
                data={"walls": walls, "latencies": latencies, "peak_rss_mib": peak},
            )
        )
        ctx.rates.append(Throughput(group, f"server {workers}x{threads}", audio, median(walls)))
    _concurrency_figures(ctx, rates, default, audio / serial, clients)


def _serial_loop(ctx: Context, paths: list[Path], threads: int) -> float:
    with ctx.direct(LOAD_MODEL, threads) as loop:
        loop.run(paths[:1])
        return median([loop.run(paths).seconds for _ in range(ctx.sweep_repeats)])


async def _clients_run(ctx: Context, config: ServerConfig, paths: list[Path]) -> tuple[list[float], list[float], float]:
    async with ctx.server(config) as srv, session(srv.url) as http:
        await run_batch(http, [ctx.fixtures.jfk.path])
        walls, latencies = [], []
        for _ in range(ctx.sweep_repeats):
            wall, timings = await run_clients(http, paths, CLIENT_POLL)
            walls.append(wall)
            latencies += [t.latency for t in timings]
        return walls, latencies, srv.monitor.peak() if srv.monitor else 0.0


def _concurrency_figures(
    ctx: Context, rates: dict[tuple[int, int], float], default: tuple[int, int], serial_rate: float, clients: int
) -> None:
    best = max(rates, key=lambda s: rates[s])
    vs_serial = rates[default] / serial_rate
    vs_best = rates[default] / rates[best]
    ctx.add(
        Figure(
            3,
            f"{clients} clients at once: default ({default[0]}x{default[1]}) throughput / serial loop",
            vs_serial,
            "x",
            ">= 1.1x",
            check(vs_serial, at_least=1.1),
            f"default {rates[default]:.1f} vs serial loop {serial_rate:.1f} audio s/s",
        ),
        Figure(
            3,
            "default throughput / best of the sweep",
            vs_best,
            "x",
            ">= 0.9x",
            check(vs_best, at_least=0.9),
            f"best is {best[0]} workers x {best[1]} threads at {rates[best]:.1f} audio s/s",
        ),
    )


@dataclass
class Poll:
    """Latencies of one endpoint, split by whether every worker was busy at the time."""

    busy: list[float] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)


async def latency(ctx: Context) -> None:
    """Target 3 (short behind long) and target 4 (/health and /status latency under load)."""
    long_clip = ctx.fixtures.english_long(40 if ctx.quick else 300)
    requests = 100 if ctx.quick else 1000
    async with ctx.server(ServerConfig(LOAD_MODEL)) as srv, session(srv.url) as http:
        await run_batch(http, [ctx.fixtures.jfk.path])
        long_job = await submit(http, long_clip.path)
        short_job = await submit(http, ctx.fixtures.jfk.path)
        # With more than one worker, keep the others busy too (these queue behind the short clip).
        for _ in range(2 * (srv.workers - 1)):
            await submit(http, ctx.fixtures.english_minute().path)
        polls, *_ = await asyncio.gather(
            _poll_while_busy(srv, long_job.job_id, requests),
            wait_job(http, long_job, 0.1),
            wait_job(http, short_job, 0.1),
        )
    _latency_figures(ctx, long_job, short_job, long_clip.seconds, srv)
    for name, poll in polls.items():
        _poll_figure(ctx, name, poll, requests)


async def _poll_while_busy(srv: Server, job_id: str, requests: int) -> dict[str, Poll]:
    """Wait until every worker runs a job, then alternate /health and /status, one at a time.
    A sample counts as busy when the last /health answer had every worker running."""
    polls = {"/health": Poll(), "/status": Poll()}
    busy = True
    async with aiohttp.ClientSession(srv.url) as http:
        await _wait_busy(http, srv.workers)
        for i in range(2 * requests):
            path = "/health" if i % 2 == 0 else f"/status/{job_id}"
            started = time.perf_counter()
            async with http.get(path) as resp:
                body = await resp.json()
            elapsed = (time.perf_counter() - started) * 1000
            if i % 2 == 0:
                busy = body["queue"]["running"] >= srv.workers
            poll = polls["/health" if i % 2 == 0 else "/status"]
            (poll.busy if busy else poll.idle).append(elapsed)
    return polls


async def _wait_busy(http: aiohttp.ClientSession, workers: int, timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        async with http.get("/health") as resp:
            body = await resp.json()
        if body["queue"]["running"] >= workers:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"the server never had {workers} jobs running")


def _latency_figures(ctx: Context, long_job: JobTiming, short_job: JobTiming, long_seconds: float, srv: Server) -> None:
    ratio = short_job.latency / long_job.latency
    order = "before" if short_job.done < long_job.done else "after"
    ctx.add(
        Figure(
            3,
            f"11 s clip sent just behind a {long_seconds:.0f} s file: clip latency / long-file latency "
            f"({LOAD_MODEL}, {srv.workers}x{srv.cpu_threads})",
            ratio,
            "x",
            "<= 0.5x (long before)",
            check(ratio, at_most=0.5) if order == "before" else False,
            f"clip done after {short_job.latency:.1f} s, long file after {long_job.latency:.1f} s"
            f" (clip finished {order})",
            {"clip_latency": short_job.latency, "long_latency": long_job.latency},
        )
    )


def _poll_figure(ctx: Context, name: str, poll: Poll, requests: int) -> None:
    samples = sorted(poll.busy)
    if not samples:
        ctx.add(Figure(4, f"{name} p99 while every worker transcribes", None, "ms", "< 20 ms", None, "no busy samples"))
        return
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    ctx.add(
        Figure(
            4,
            f"{name} p99 latency while every worker transcribes",
            p99,
            "ms",
            "< 20 ms",
            check(p99, at_most=20.0),
            f"{len(samples)} of {requests} requests while busy: p50 {median(samples):.1f} ms, max {samples[-1]:.1f} ms",
            {"busy_ms": poll.busy, "idle_ms": poll.idle},
        )
    )
    log.info("  %s: %d busy, %d idle samples", name, len(poll.busy), len(poll.idle))
