"""`python -m bench.history_scale`: what a big job history costs a running server (issue 26).

For each store (SQLite, and PostgreSQL with --pg) and each history size, a fresh data directory
gets that many finished jobs (over a year) and `--queued` queued ones, made in one INSERT ...
SELECT (bench/history.py). The real server (`transcriber serve`, tiny.en) starts on it with
retention on (keep_days 300: about a sixth of the history goes while it is measured), the webhook
relay running and one /events client open (--stores sqlite,postgres for both). Measured: start
to ready (spawn to /health 200) against an empty database, /events' first byte and the time until
its first snapshot is complete (with how many events it held), then for --seconds the p99 and
max of /health and /status (every 20 ms each) and of POST /transcribe (a 1 s clip every 200 ms),
while another /events client opens once a second (the worst first byte and snapshot of those);
then the rate of `transcriber prune --older-than 182` run from the command line on what is left
(its process start included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.history import fill_pg, fill_sqlite
from bench.server import REPO, Server, ServerConfig
from transcriber.store.backend import open_store
from transcriber.store.postgres import open_pg_store

CLIP = REPO / "tests" / "clips" / "hello.wav"
TOML = "[retention]\nkeep_days = 300\nprune_interval_seconds = 5\n"


@dataclass
class Row:
    store: str
    finished: int
    queued: int
    ready: float = 0.0
    empty_ready: float = 0.0
    events_first_byte: float = 0.0
    events_snapshot: float = 0.0  # until the first snapshot's last event
    snapshot_events: int = 0
    reopened: list[tuple[float, float]] = field(default_factory=list)  # more /events clients meanwhile
    latencies: dict[str, list[float]] = field(default_factory=dict)
    refused: int = 0
    prune_rate: float = 0.0
    pruned: int = 0


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _probe(
    http: aiohttp.ClientSession, method: str, url: str, every: float, until: float, **kw: object
) -> list[float]:
    out: list[float] = []
    while every > 0 and time.perf_counter() < until:  # every 0: this load is off
        started = time.perf_counter()
        data = None
        if method == "POST":
            form = aiohttp.FormData()
            form.add_field("file", CLIP.read_bytes(), filename="hello.wav")
            data = form
        async with http.request(method, url, data=data) as resp:
            await resp.read()
            if method == "POST" and resp.status != 202:
                out.append(-1.0)  # refused: counted apart
                continue
        out.append(time.perf_counter() - started)
        await asyncio.sleep(max(0.0, every - (time.perf_counter() - started)))
    return out


async def _open_events(http: aiohttp.ClientSession, url: str) -> tuple[float, float, int, asyncio.Task[None]]:
    """/events' first byte, the time until its first snapshot is complete (the snapshot's last
    event is the first one with an `id:` line), and how many events that snapshot held."""
    started = time.perf_counter()
    resp = await http.get(f"{url}/events")
    first = snapshot = 0.0
    events = 0
    seen = b"\n"
    # Whole chunks, not line by line: ~3,000 readline() calls per snapshot of 501 events held this
    # client's own event loop, which also times the /health and /status probes.
    while chunk := await resp.content.readany():
        if not first:
            first = time.perf_counter() - started
        seen = seen[-1:] + chunk
        end = seen.find(b"\nid:")  # the snapshot's last event, the first with an id (before its event: line)
        events += seen[: None if end < 0 else end].count(b"\nevent:")
        if end >= 0:
            snapshot, events = time.perf_counter() - started, events + 1
            break

    async def keep_reading() -> None:
        try:
            with contextlib.suppress(Exception):
                while await resp.content.readany():
                    pass
        finally:
            resp.close()  # also when cancelled: a dropped stream left 'Unclosed connection' warnings

    return first, snapshot, events, asyncio.create_task(keep_reading())


async def _reopen_events(
    http: aiohttp.ClientSession, url: str, every: float, until: float
) -> list[tuple[float, float]]:
    """A new /events client every `every` seconds while the others are probed (the page being
    reloaded): each one's first byte and snapshot time, and /health meanwhile shows what it costs."""
    out: list[tuple[float, float]] = []
    while every > 0 and time.perf_counter() < until:  # every 0: no new clients
        started = time.perf_counter()
        first, snapshot, _, reader = await _open_events(http, url)
        reader.cancel()
        out.append((first, snapshot))
        await asyncio.sleep(max(0.0, every - (time.perf_counter() - started)))
    return out


async def measure(row: Row, server: Server, seconds: float, load: Load) -> None:
    row.ready = await server.start(timeout=600)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        row.events_first_byte, row.events_snapshot, row.snapshot_events, reader = await _open_events(http, server.url)
        until = time.perf_counter() + seconds
        health, status, post, row.reopened = await asyncio.gather(
            _probe(http, "GET", f"{server.url}/health", 0.02, until),
            _probe(http, "GET", f"{server.url}/status/hist-0000500", 0.02, until),
            _probe(http, "POST", f"{server.url}/transcribe", load.post_every, until),
            _reopen_events(http, server.url, load.reopen_every, until),
        )
        reader.cancel()
    row.refused = sum(1 for v in post if v < 0)
    row.latencies = {"health": health, "status": status, "post": [v for v in post if v >= 0]}
    server.stop()


def prune(server: Server, env: dict[str, str]) -> tuple[int, float]:
    config = server.dir / "bench.toml"
    command = [sys.executable, "-m", "transcriber", "--config", str(config), "prune", "--older-than", "182"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd=server.dir)
    elapsed = time.perf_counter() - started
    last = done.stdout.strip().rsplit("\n", 1)[-1]  # "removed N finished jobs older than ..."
    removed = int(last.split()[1])
    return removed, removed / elapsed if elapsed else 0.0


def link_uploads(data_dir: Path, queued: int, prefix: str = "hist-") -> None:
    """The queued jobs' uploads: one real clip, hard-linked under each path, so they run as real
    jobs (one at a time) instead of failing at once for a missing file."""
    folder = data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / ".clip.wav"
    shutil.copy(CLIP, source)
    for i in range(1, queued + 1):
        os.link(source, folder / f"{prefix}q{i:07d}.0000abcd")


async def prepare(server: Server, finished: int, queued: int, pg_url: str | None) -> None:
    server.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(link_uploads, server.data_dir, queued)
    if pg_url:
        await (await open_pg_store(pg_url)).close()
        await fill_pg(pg_url, finished, queued)
    else:
        db = server.data_dir / "jobs.db"
        await (await open_store(db)).close()
        await asyncio.to_thread(fill_sqlite, db, finished, queued)


@contextlib.asynccontextmanager
async def postgres(enabled: bool) -> AsyncIterator[object | None]:
    if not enabled:
        yield None
        return
    from tests.pg_server import PgServer, find_bindir  # the tests' throwaway cluster

    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL on PATH (initdb)")
    pg = PgServer(bindir)
    pg.init()
    pg.start()
    try:
        yield pg
    finally:
        pg.close()


@dataclass(frozen=True)
class Load:
    """What runs beside the /health and /status probes: seconds between POSTs and between new
    /events clients (0: none), to tell which of them the latencies come from."""

    post_every: float = 0.2
    reopen_every: float = 1.0


async def run(args: argparse.Namespace) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="history-bench-"))
    rows: list[Row] = []
    try:
        for store in args.stores:
            async with postgres(store == "postgres") as pg:
                for n, size in enumerate(args.sizes):
                    rows.append(await one(args, work, store, pg, n, size))
                    print(table(rows[-1:]), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


async def one(args: argparse.Namespace, work: Path, store: str, pg: object | None, n: int, size: int) -> Row:
    """One size on one store: the empty baseline, then the filled server, then the CLI prune."""
    # One worker on one thread: the accepted clips are transcribed meanwhile, and the other core
    # is left to the event loop, so the figures show what the history costs, not the model.
    env = {
        "TRANSCRIBER_QUEUE_CAPACITY": str(args.queued * 2 + 1000),
        "TRANSCRIBER_WORKERS": "1",
        "TRANSCRIBER_CPU_THREADS": "1",
    }
    empty_env, url = dict(env), None
    if pg is not None:
        for name in (f"h{n}", f"e{n}"):
            pg.psql("postgres", f"CREATE DATABASE {name}")  # type: ignore[attr-defined]
        url = pg.url(f"h{n}")  # type: ignore[attr-defined]
        env["DATABASE_URL"] = url
        empty_env["DATABASE_URL"] = pg.url(f"e{n}")  # type: ignore[attr-defined]
    row = Row(store, size, args.queued)
    empty = Server(ServerConfig(env=empty_env, toml=TOML), work, work / "models")
    try:
        row.empty_ready = await empty.start(timeout=600)
    finally:
        empty.stop()
    server = Server(ServerConfig(env=env, toml=TOML), work, work / "models")
    print(f"{store} {size:,} finished: filling", file=sys.stderr, flush=True)
    await prepare(server, size, args.queued, url)
    print(f"{store} {size:,} finished: measuring", file=sys.stderr, flush=True)
    try:
        await measure(row, server, args.seconds, Load(args.post_every, args.reopen_every))
    finally:
        server.stop()
    row.pruned, row.prune_rate = prune(server, server.env())
    shutil.rmtree(server.dir, ignore_errors=True)
    shutil.rmtree(empty.dir, ignore_errors=True)
    return row


def table(rows: list[Row]) -> str:
    lines = [
        "| store | finished | queued | ready (empty) s | /events 1st byte (snapshot) ms, events"
        " | reopened 1st byte max (snapshot max) ms | /health p99 (max) ms"
        " | /status p99 (max) ms | POST p99 (max) ms | prune jobs/s (removed) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cells = []
        for name in ("health", "status", "post"):
            values = r.latencies.get(name, [])
            cells.append(f"{p99(values) * 1000:.1f} ({max(values, default=float('nan')) * 1000:.0f}), n={len(values)}")
        refused = f", {r.refused} refused" if r.refused else ""
        events = f"{r.events_first_byte * 1000:.0f} ({r.events_snapshot * 1000:.0f}), {r.snapshot_events}"
        firsts, snapshots = [f for f, _ in r.reopened] or [0.0], [s for _, s in r.reopened] or [0.0]
        reopened = f"{max(firsts) * 1000:.0f} ({max(snapshots) * 1000:.0f}), n={len(r.reopened)}"
        lines.append(
            f"| {r.store} | {r.finished:,} | {r.queued:,} | {r.ready:.2f} ({r.empty_ready:.2f}) |"
            f" {events} | {reopened} | {cells[0]} | {cells[1]} | {cells[2]}{refused} |"
            f" {r.prune_rate:,.0f} ({r.pruned:,}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history_scale", description=__doc__)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 100_000, 1_000_000])
    parser.add_argument("--queued", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each size is probed")
    parser.add_argument(
        "--stores",
        type=lambda s: s.split(","),
        default=["sqlite"],
        help="sqlite,postgres (PostgreSQL: a throwaway cluster from PATH)",
    )
    parser.add_argument("--post-every", type=float, default=0.2, help="seconds between POSTs (0: none)")
    parser.add_argument("--reopen-every", type=float, default=1.0, help="seconds between new /events clients (0: none)")
    args = parser.parse_args()
    rows = asyncio.run(run(args))
    print(table(rows))
    print(f"\n{statistics.mean(r.ready - r.empty_ready for r in rows):+.2f} s ready over empty, on average")


if __name__ == "__main__":
    main()
