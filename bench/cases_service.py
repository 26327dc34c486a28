"""Service costs: memory on one hour in fast mode (target 6), cold start (target 7); uploads: cases_uploads."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from bench.client import session, submit, wait_job
from bench.context import Context, log
from bench.procs import MIB
from bench.report import Figure, Throughput, check, median
from bench.server import Server, ServerConfig

SERVICE_MODEL = "tiny.en"


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
        ("transcriber.web.app", "import transcriber.web.app"),
        ("faster_whisper", "import faster_whisper"),
    ):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        out[label] = time.perf_counter() - started
    log.info("  import times: %s", out)
    return out
