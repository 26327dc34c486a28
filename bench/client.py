"""HTTP client side of the benchmark: submit files, wait for jobs, poll with timing."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

FINISHED = ("completed", "failed", "cancelled")


@dataclass
class JobTiming:
    """One job seen from the client: when it was sent, accepted and seen finished (perf_counter)."""

    job_id: str
    sent: float
    accepted: float = 0.0
    done: float = 0.0
    status: str = "queued"
    text: str = ""
    language: str | None = None

    @property
    def latency(self) -> float:
        return self.done - self.sent


def session(base_url: str, connections: int = 100) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=3600, sock_connect=10)
    return aiohttp.ClientSession(base_url, timeout=timeout, connector=aiohttp.TCPConnector(limit=connections))


async def submit(http: aiohttp.ClientSession, path: Path, **fields: str) -> JobTiming:
    """Upload one file (streamed from disk) and return its timing with the accepted job id."""
    job_id = fields.pop("job_id", uuid.uuid4().hex)
    timing = JobTiming(job_id, time.perf_counter())
    form = aiohttp.FormData()
    form.add_field("job_id", job_id)
    for key, value in fields.items():
        form.add_field(key, value)
    with path.open("rb") as fh:
        form.add_field("file", fh, filename=path.name)
        async with http.post("/transcribe", data=form) as resp:
            body = await resp.json()
            if resp.status not in (200, 202):
                raise RuntimeError(f"upload of {path.name} answered {resp.status}: {body}")
    timing.accepted = time.perf_counter()
    return timing


async def status(http: aiohttp.ClientSession, job_id: str) -> dict[str, Any]:
    async with http.get(f"/status/{job_id}") as resp:
        body: dict[str, Any] = await resp.json()
        return body


async def wait_job(http: aiohttp.ClientSession, timing: JobTiming, interval: float, timeout: float = 3600) -> None:
    """Poll one job until it finishes; records when the client saw it finish and its text."""
    deadline = time.perf_counter() + timeout
    while True:
        body = await status(http, timing.job_id)
        if body["status"] in FINISHED:
            _finish(timing, body)
            return
        if time.perf_counter() > deadline:
            raise TimeoutError(f"job {timing.job_id} still {body['status']} after {timeout:.0f} s")
        await asyncio.sleep(interval)


async def wait_all(http: aiohttp.ClientSession, timings: list[JobTiming], interval: float) -> None:
    """Wait for every job with one poller: it asks about the first unfinished job only, so the
    polling load stays at one request per interval however many jobs there are."""
    for timing in timings:
        await wait_job(http, timing, interval)


def _finish(timing: JobTiming, body: dict[str, Any]) -> None:
    timing.done = time.perf_counter()
    timing.status = body["status"]
    timing.text = body.get("text") or ""
    timing.language = body.get("language")
    if timing.status != "completed":
        raise RuntimeError(f"job {timing.job_id} {timing.status}: {body.get('error')}")


async def run_batch(
    http: aiohttp.ClientSession, paths: list[Path], interval: float = 0.05, **fields: str
) -> tuple[float, list[JobTiming]]:
    """Submit all files at once, wait for all; (wall seconds, timings)."""
    started = time.perf_counter()
    timings = list(await asyncio.gather(*(submit(http, p, **fields) for p in paths)))
    await wait_all(http, timings, interval)
    return time.perf_counter() - started, timings


async def run_clients(http: aiohttp.ClientSession, paths: list[Path], interval: float) -> tuple[float, list[JobTiming]]:
    """One independent client per file: each uploads, then polls its own job every `interval` s."""

    async def client(path: Path) -> JobTiming:
        timing = await submit(http, path)
        await wait_job(http, timing, interval)
        return timing

    started = time.perf_counter()
    timings = list(await asyncio.gather(*(client(p) for p in paths)))
    return time.perf_counter() - started, timings
