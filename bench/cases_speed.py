"""Speed against the plain loop: server overhead (target 1, with memory 6a)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.client import run_batch, session
from bench.context import Context
from bench.direct import DirectLoop
from bench.fixtures import Clip
from bench.report import Figure, Throughput, check, median, spread
from bench.server import Server, ServerConfig
from bench.wer import word_error_rate

OVERHEAD_MODEL = "tiny.en"
POLL = 0.05  # one request per 50 ms while waiting: under 1% of the shortest batch


async def pair(
    srv: Server, loop: DirectLoop, paths: list[Path], server_first: bool, poll: float = POLL
) -> tuple[float, float, list[str], list[str]]:
    """Run the same files through the server and the direct loop, one after the other."""
    async with session(srv.url) as http:
        results: dict[str, tuple[float, list[str]]] = {}
        for which in ("server", "direct") if server_first else ("direct", "server"):
            if which == "server":
                wall, timings = await run_batch(http, paths, poll)
                results[which] = (wall, [t.text for t in timings])
            else:
                res = await asyncio.to_thread(loop.run, paths)
                results[which] = (res.seconds, res.texts)
    return results["server"][0], results["direct"][0], results["server"][1], results["direct"][1]


async def warm(srv: Server, loop: DirectLoop, clip: Clip) -> None:
    """One short job on each side first: first-call costs are not what is compared."""
    await pair(srv, loop, [clip.path], server_first=True)


async def overhead(ctx: Context) -> None:
    """Target 1 (and 6): N files submitted at once over HTTP vs the same files transcribed directly.

    The direct side has the server's shape (N workers x T threads, N files at a time), so the ratio
    is what the service itself adds. A plain serial loop on all the same cores is measured once too:
    it is what a user would compare with, and the memory target's baseline.
    """
    fx = ctx.fixtures
    clips = [fx.jfk, fx.english()] * (1 if ctx.quick else 3)
    paths, audio = [c.path for c in clips], sum(c.seconds for c in clips)
    async with ctx.server(ServerConfig(OVERHEAD_MODEL)) as srv:
        with ctx.direct(OVERHEAD_MODEL, srv.cpu_threads, workers=srv.workers) as loop:
            await warm(srv, loop, fx.jfk)
            server_t, direct_t, agreement = [], [], []
            for r in range(ctx.repeats):
                s, d, s_texts, d_texts = await pair(srv, loop, paths, server_first=r % 2 == 0)
                server_t.append(s)
                direct_t.append(d)
                agreement += [word_error_rate(a, b) for a, b in zip(d_texts, s_texts, strict=True)]
            peaks = (srv.monitor.peak() if srv.monitor else 0.0, loop.monitor.peak())
            idle = (srv.idle_rss, loop.ready["rss_after_load_mib"])
    shape = (srv.workers, srv.cpu_threads)
    plain_t, plain_peak = (median(direct_t), peaks[1])
    if shape[0] > 1:
        plain_t, plain_peak = await asyncio.to_thread(_plain_loop, ctx, paths, shape[0] * shape[1])
    _overhead_figures(ctx, shape, len(clips), audio, server_t, direct_t, agreement)
    _memory_figure(ctx, shape, peaks, plain_peak, idle)
    if shape[0] > 1:
        await _against_plain_loop(ctx, paths, audio, median(server_t), (plain_t, plain_peak), shape[0] * shape[1])
    ctx.rates += [
        Throughput("overhead", f"direct, same shape {shape[0]}x{shape[1]}", audio, median(direct_t)),
        Throughput("overhead", f"server over HTTP {shape[0]}x{shape[1]}", audio, median(server_t)),
    ]


async def _against_plain_loop(
    ctx: Context, paths: list[Path], audio: float, server_t: float, plain: tuple[float, float], threads: int
) -> None:
    """What a user would compare with: one file at a time on all the threads, and WORKERS=1."""
    plain_t, plain_peak = plain
    await _one_worker(ctx, paths, plain_t, plain_peak, threads)
    ctx.add(
        Figure(
            1,
            f"HTTP submit+wait / plain serial loop on all {threads} threads (one run)",
            server_t / plain_t,
            "x",
            detail=f"plain loop {plain_t:.2f} s",
            data={"plain_seconds": plain_t},
        )
    )
    ctx.rates.append(Throughput("overhead", f"plain serial loop 1x{threads}", audio, plain_t))


def _overhead_figures(
    ctx: Context,
    shape: tuple[int, int],
    files: int,
    audio: float,
    server_t: list[float],
    direct_t: list[float],
    agreement: list[float],
) -> None:
    ratios = [s / d for s, d in zip(server_t, direct_t, strict=True)]
    ratio = median(ratios)
    ctx.add(
        Figure(
            1,
            f"HTTP submit+wait / direct transcription, {files} files ({audio:.0f} s audio, {OVERHEAD_MODEL}, "
            f"both {shape[0]}x{shape[1]})",
            ratio,
            "x",
            "<= 1.05x",
            check(ratio, at_most=1.05),
            f"server {median(server_t):.2f} s vs direct {median(direct_t):.2f} s (medians of {len(ratios)}; "
            f"ratios {', '.join(f'{x:.3f}' for x in ratios)}); texts differ by WER {median(agreement):.1%}",
            {"server_seconds": server_t, "direct_seconds": direct_t, "ratios": ratios, "text_wer": agreement},
        )
    )


def _memory_figure(
    ctx: Context, shape: tuple[int, int], peaks: tuple[float, float], plain_peak: float, idle: tuple[float, float]
) -> None:
    ratio = peaks[0] / plain_peak if plain_peak else None
    ctx.add(
        Figure(
            6,
            f"peak RSS server ({shape[0]}x{shape[1]}) / plain serial loop (default mode, same files, {OVERHEAD_MODEL})",
            ratio,
            "x",
            "<= 1.3x",
            check(ratio, at_most=1.3),
            f"peak {peaks[0]:.0f} vs {plain_peak:.0f} MiB (same-shape direct {peaks[1]:.0f}); idle {idle[0]:.0f} vs "
            f"{idle[1]:.0f} MiB",
            {
                "server_peak_mib": peaks[0],
                "plain_peak_mib": plain_peak,
                "same_shape_peak_mib": peaks[1],
                "server_idle_mib": idle[0],
                "direct_idle_mib": idle[1],
            },
        )
    )


def _plain_loop(ctx: Context, paths: list[Path], threads: int) -> tuple[float, float]:
    """One plain serial loop on all threads: (seconds, peak RSS MiB)."""
    with ctx.direct(OVERHEAD_MODEL, threads) as loop:
        loop.run(paths[:1])
        return loop.run(paths).seconds, loop.monitor.peak()


async def _one_worker(ctx: Context, paths: list[Path], plain_t: float, plain_peak: float, threads: int) -> None:
    """The setting that trades throughput for memory: one job at a time on every thread
    (TRANSCRIBER_WORKERS=1), against the same plain serial loop."""
    async with ctx.server(ServerConfig(OVERHEAD_MODEL, workers=1, cpu_threads=threads)) as srv:
        async with session(srv.url) as http:
            await run_batch(http, paths[:1], POLL)  # warm, as every other side is
            seconds = [(await run_batch(http, paths, POLL))[0] for _ in range(max(1, ctx.repeats // 2))]
        peak = srv.monitor.peak() if srv.monitor else 0.0
    ratio = peak / plain_peak if plain_peak else None
    ctx.add(
        Figure(
            6,
            f"peak RSS server with WORKERS=1 (1x{threads}) / plain serial loop (same files, {OVERHEAD_MODEL})",
            ratio,
            "x",
            "<= 1.3x",
            check(ratio, at_most=1.3),
            f"peak {peak:.0f} vs {plain_peak:.0f} MiB; its submit+wait {median(seconds):.2f} s vs plain loop "
            f"{plain_t:.2f} s ({spread([plain_t / s for s in seconds])} x the loop's speed)",
            {"server_peak_mib": peak, "plain_peak_mib": plain_peak, "seconds": seconds, "plain_seconds": plain_t},
        )
    )
