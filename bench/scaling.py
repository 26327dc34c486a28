"""`python -m bench.scaling`: throughput with 1, 2 and 3 servers on one PostgreSQL, and what the
claim path itself costs. Prints a table and writes docs/scaling.png.

The servers are real transcriber servers whose engine only sleeps for a job's audio length divided
by a fixed speed (bench/sleep_server.py, A STAND-IN FOR A GPU NODE), so the ratio measures
coordination, not inference: with perfect scaling, N servers drain N times as fast. Jobs are put
in the shared queue directly (the upload path is per-server work and scales with servers anyway);
the drain is timed from the first job's start to the last one's finish, from the jobs table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from tests.pg_server import PgServer, find_bindir
from tests.support import free_port, tone_wav
from transcriber.clock import epoch, utcnow
from transcriber.domain.job import JobStatus, NewJob, Outcome
from transcriber.store.postgres import NEW_JOB_CHANNEL, PgStore, open_pg_store

ROOT = Path(__file__).resolve().parent.parent
AUDIO_SECONDS = 60.0  # a minute of audio per job; per-job overheads are then under 2%
SPEED = 20.0  # audio seconds per wall second of one stand-in worker
WORKERS = 2  # per server


def new_job(job_id: str) -> NewJob:
    return NewJob(job_id, AUDIO_SECONDS, {}, f"uploads/{job_id}", 1, "00" * 32, "bench.wav", "wav/pcm_s16le")


def fresh_database(pg: PgServer) -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    pg.psql("postgres", f"CREATE DATABASE {name}")
    return pg.url(name)


def start_servers(count: int, url: str, data_dir: Path, logs: Path) -> list[tuple[subprocess.Popen[bytes], int]]:
    servers = []
    for i in range(count):
        port = free_port()
        env = {
            **os.environ,
            "TRANSCRIBER_DATA_DIR": str(data_dir),
            "TRANSCRIBE_SERVER_HOST": "127.0.0.1",
            "TRANSCRIBE_SERVER_PORT": str(port),
            "DATABASE_URL": url,
            "TRANSCRIBER_WORKERS": str(WORKERS),
            "BENCH_SLEEP_SPEED": str(SPEED),
            "TRANSCRIBER_QUEUE_CAPACITY": "100000",
            "TRANSCRIBER_LOG_LEVEL": "WARNING",
        }
        env.pop("TRANSCRIBER_CONFIG", None)
        with (logs / f"server-{count}-{i}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.sleep_server"], env=env, stdout=log, stderr=log, cwd=ROOT
            )
        servers.append((proc, port))
    return servers


async def wait_ready(ports: list[int]) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        for port in ports:
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server on port {port} not ready")
                await asyncio.sleep(0.1)


async def drain(store: PgStore, jobs: int, data_dir: Path, audio: Path) -> float:
    """Queue the jobs (each with its upload on the shared disk), wait until all completed;
    audio seconds per wall second between the first start and the last finish."""
    (data_dir / "uploads").mkdir(parents=True, exist_ok=True)
    ids = [f"j{i:05d}" for i in range(jobs)]
    for job_id in ids:
        shutil.copyfile(audio, data_dir / "uploads" / job_id)
    await queue_at_once(store, ids)
    while (await store.count_by_status()).get("completed", 0) < jobs:  # noqa: ASYNC110 (another process)
        await asyncio.sleep(0.1)
    rows = await store.rows("SELECT min(started_at) AS first, max(finished_at) AS last FROM jobs")
    return jobs * AUDIO_SECONDS / (epoch(rows[0]["last"]) - epoch(rows[0]["first"]))


async def queue_at_once(store: PgStore, ids: list[str]) -> None:
    """All jobs in one transaction, so every server sees the whole queue at the same moment."""
    now = utcnow()
    async with store.transaction() as tx:
        for job_id in ids:
            await tx.execute(
                "INSERT INTO jobs (job_id, status, created_at, updated_at, duration, upload_path, upload_bytes,"
                " upload_digest) VALUES (?, 'queued', ?, ?, ?, ?, 1, ?)",
                (job_id, now, now, AUDIO_SECONDS, f"uploads/{job_id}", "00" * 32),
            )
        await tx.execute("SELECT pg_notify(?, '')", (NEW_JOB_CHANNEL,))


async def scaling_run(pg: PgServer, count: int, jobs: int, work: Path, audio: Path) -> float:
    url = fresh_database(pg)
    store = await open_pg_store(url)
    data_dir = work / f"data-{count}"
    servers = start_servers(count, url, data_dir, work)
    try:
        await wait_ready([port for _, port in servers])
        return await drain(store, jobs, data_dir, audio)
    finally:
        for proc, _ in servers:
            proc.terminate()
        for proc, _ in servers:
            proc.wait(60)
        await store.close()


async def claim_path(pg: PgServer, jobs: int, claimers: int) -> tuple[float, float, float]:
    """Claims per second one PostgreSQL sustains (claim + finish, as a worker does), p50 and p99
    claim latency in ms, with claimers spread over three connection pools (three servers)."""
    url = fresh_database(pg)
    stores = [await open_pg_store(url) for _ in range(3)]
    for i in range(jobs):
        await stores[0].insert_job(new_job(f"c{i:05d}"))
    latencies: list[float] = []

    async def claimer(store: PgStore, owner: str) -> None:
        while True:
            started = time.perf_counter()
            job = await store.claim_next(owner, 30)
            latencies.append(time.perf_counter() - started)
            if job is None:
                return
            await store.finish_job(job.job_id, Outcome(JobStatus.COMPLETED, text="x"), owner=owner)

    started = time.perf_counter()
    await asyncio.gather(*(claimer(stores[i % 3], f"claimer-{i}") for i in range(claimers)))
    elapsed = time.perf_counter() - started
    for store in stores:
        await store.close()
    cuts = statistics.quantiles(latencies, n=100)
    return jobs / elapsed, cuts[49] * 1000, cuts[98] * 1000


def write_plot(path: Path, rates: dict[int, float], claims: tuple[float, float, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted(rates)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(counts, [rates[1] * n for n in counts], "--", color="grey", label="perfect scaling")
    ax.plot(counts, [rates[n] for n in counts], "o-", label="measured")
    for n in counts:
        ax.annotate(f"{rates[n]:.0f}x", (n, rates[n]), textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.set_xticks(counts)
    ax.set_xlabel("servers on one PostgreSQL")
    ax.set_ylabel("audio seconds per wall second")
    ax.set_title(
        f"Stand-in GPU nodes (sleep engine, {WORKERS} workers x {SPEED:.0f}x each)\n"
        f"claim path: {claims[0]:.0f} claims/s, p99 {claims[2]:.1f} ms",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def main(jobs_per_server: int, claim_jobs: int, claimers: int, plot: Path) -> None:
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed (initdb not found)")
    work = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    pg = PgServer(bindir)
    try:
        pg.init()
        pg.start()
        audio = tone_wav(work / "bench.wav", AUDIO_SECONDS)
        rates = {n: await scaling_run(pg, n, jobs_per_server * n, work, audio) for n in (1, 2, 3)}
        claims = await claim_path(pg, claim_jobs, claimers)
    finally:
        pg.close()
    print_table(rates, claims, jobs_per_server)
    write_plot(plot, rates, claims)
    print(f"\nplot: {plot}")
    shutil.rmtree(work, ignore_errors=True)


def print_table(rates: dict[int, float], claims: tuple[float, float, float], jobs_per_server: int) -> None:
    print(
        f"\nsleep engine (stand-in for a GPU node): {AUDIO_SECONDS:.0f} s jobs, {SPEED:.0f}x, {WORKERS} workers/server"
    )
    print(f"{jobs_per_server} jobs per server; efficiency = throughput / (servers x one server's throughput)\n")
    print("| servers | audio s per wall s | efficiency | per added server | of the stand-in's ideal |")
    print("|---|---|---|---|---|")
    for n, rate in rates.items():
        added = "" if n == 1 else f"{(rate - rates[n - 1]) / rates[1]:.2f}"
        ideal = rate / (n * WORKERS * SPEED)  # what N servers would do with zero overhead
        print(f"| {n} | {rate:.1f} | {rate / (n * rates[1]):.2f} | {added} | {ideal:.2f} |")
    print(f"\nclaim path: {claims[0]:.0f} claims/s (claim + finish), p50 {claims[1]:.2f} ms, p99 {claims[2]:.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs-per-server", type=int, default=12)
    parser.add_argument("--claim-jobs", type=int, default=3000)
    parser.add_argument("--claimers", type=int, default=12)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "scaling.png")
    args = parser.parse_args()
    asyncio.run(main(args.jobs_per_server, args.claim_jobs, args.claimers, args.plot))
