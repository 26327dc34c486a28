"""Two servers (two apps in this process, each with its own engine) on one real PostgreSQL and
one data directory, through real HTTP: any server answers for any job."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeClient
from tests.pg_server import PgServer
from tests.sse_client import SSEReader
from tests.support import Client, FakeEngine, form, submit, tone_wav, wait_status

ENGINES: dict[int, FakeEngine] = {}  # id(client) -> the engine its app runs


async def server(make_client: MakeClient, shared: Path, engine: FakeEngine, **sections: Any) -> Client:
    client = await make_client(engine, data_dir=shared, **sections)
    ENGINES[id(client)] = engine
    return client


async def pair(make_client: MakeClient, tmp_path: Path, pg_url: str, auto: bool = True) -> tuple[Client, Client]:
    shared = tmp_path / "shared"
    a = await server(make_client, shared, FakeEngine(auto=auto), database={"url": pg_url})
    b = await server(make_client, shared, FakeEngine(auto=auto), database={"url": pg_url})
    return a, b


def engine_of(client: Client) -> FakeEngine:
    return ENGINES[id(client)]


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_any_server_answers_for_any_job(pg_url: str, make_client: MakeClient, tmp_path: Path) -> None:
    a, b = await pair(make_client, tmp_path, pg_url)
    ids = []
    for i in range(6):
        accepting = (a, b)[i % 2]
        ids.append((await submit(accepting, tone_wav(tmp_path / f"t{i}.wav", 1 + i % 3)))["job_id"])
    for i, job_id in enumerate(ids):
        other = (b, a)[i % 2]
        done = await wait_status(other, job_id, timeout=30)
        assert done["status"] == "completed" and done["attempts"] == 1
        resp = await other.get(f"/jobs/{job_id}/transcript.txt")
        assert resp.status == 200 and "word0" in await resp.text()
    ran = engine_of(a).order + engine_of(b).order
    assert len(ran) == 6  # each job ran exactly once, on one of the two
    for client in (a, b):
        listed = await (await client.get("/jobs?limit=50")).json()
        assert sorted(j["job_id"] for j in listed["jobs"]) == sorted(ids)


async def test_job_ids_are_idempotent_across_servers(pg_url: str, make_client: MakeClient, tmp_path: Path) -> None:
    a, b = await pair(make_client, tmp_path, pg_url)
    clip = tone_wav(tmp_path / "same.wav", 1)
    await submit(a, clip, job_id="shared-id")
    again = await b.post("/transcribe", data=form(clip, job_id="shared-id"))
    assert again.status == 200 and (await again.json())["job_id"] == "shared-id"
    other = await b.post("/transcribe", data=form(tone_wav(tmp_path / "other.wav", 2), job_id="shared-id"))
    assert other.status == 409 and (await other.json())["error"]["code"] == "job_id_conflict"


async def test_cancel_sent_to_one_server_stops_the_job_on_the_other(
    pg_url: str, make_client: MakeClient, tmp_path: Path
) -> None:
    a, b = await pair(make_client, tmp_path, pg_url, auto=False)
    job_id = (await submit(a, tone_wav(tmp_path / "long.wav", 5)))["job_id"]
    await wait_status(b, job_id, ("running",), timeout=30)
    runner, other = (a, b) if 5.0 in engine_of(a).order else (b, a)
    assert 5.0 in engine_of(runner).order and 5.0 not in engine_of(other).order
    resp = await other.post(f"/jobs/{job_id}/cancel")
    assert resp.status == 202, await resp.text()
    await asyncio.sleep(0.5)  # NOTIFY (or the next lease renewal) carries it to the runner
    engine_of(runner).gates[5.0].set()
    done = await wait_status(other, job_id, timeout=30)
    assert done["status"] == "cancelled" and done["error"]["code"] == "cancelled"


async def test_queue_capacity_is_shared(pg_url: str, make_client: MakeClient, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    config = {"database": {"url": pg_url}, "queue": {"capacity": 1}}
    a = await server(make_client, shared, FakeEngine(auto=False), **config)
    b = await server(make_client, shared, FakeEngine(auto=False), **config)
    for i, srv in enumerate((a, b)):  # one running on each server
        # Each must be claimed before the next upload: with capacity 1, a
        # job still waiting in the shared queue makes the queue full.
        job_id = (await submit(srv, tone_wav(tmp_path / f"c{i}.wav", 2 + i)))["job_id"]
        await wait_status(a, job_id, ("running",), timeout=30)

        async def none_queued() -> bool:  # each server counts the shared queue at its own tick
            counts = [(await (await c.get("/health")).json())["queue"]["queued"] for c in (a, b)]
            return counts == [0, 0]

        await wait_until(none_queued)
    await submit(a, tone_wav(tmp_path / "c2.wav", 4))  # waits in the shared queue

    async def b_sees_one_queued() -> bool:
        health = await (await b.get("/health")).json()
        return bool(health["queue"]["queued"] == 1)

    await wait_until(b_sees_one_queued)  # a's job counted at b's next tick
    full = await b.post("/transcribe", data=form(tone_wav(tmp_path / "c9.wav", 1)))
    assert full.status == 503 and (await full.json())["error"]["code"] == "queue_full"
    assert int(full.headers["Retry-After"]) >= 1
    for engine in (engine_of(a), engine_of(b)):
        for gate in (2.0, 3.0, 4.0):
            engine.gates.setdefault(gate, threading.Event()).set()


@pytest.mark.slow
async def test_database_restart_degrades_health_then_recovers(
    pg_url: str, make_client: MakeClient, tmp_path: Path, pg_server: PgServer
) -> None:
    a, b = await pair(make_client, tmp_path, pg_url)
    before = (await submit(a, tone_wav(tmp_path / "before.wav", 1)))["job_id"]
    await wait_status(b, before, timeout=30)
    pg_server.stop()
    try:
        resp = await a.get("/health")
        body = await resp.json()
        assert resp.status == 503 and body["status"] == "degraded"
        assert any(p.startswith("database") for p in body["problems"])
        refused = await b.post("/transcribe", data=form(tone_wav(tmp_path / "during.wav", 1)))
        assert refused.status == 503 and (await refused.json())["error"]["code"] == "database_unavailable"
        assert int(refused.headers["Retry-After"]) >= 1
    finally:
        pg_server.start()

    async def healthy() -> bool:
        return (await a.get("/health")).status == 200 and (await b.get("/health")).status == 200

    await wait_until(healthy)
    after = (await submit(b, tone_wav(tmp_path / "after.wav", 2)))["job_id"]
    assert (await wait_status(a, after, timeout=30))["status"] == "completed"
    assert (await wait_status(a, before, timeout=5))["status"] == "completed"


async def test_change_feeds_hear_about_jobs_on_other_servers(
    pg_url: str, make_client: MakeClient, tmp_path: Path
) -> None:
    from transcriber.web import keys

    a, b = await pair(make_client, tmp_path, pg_url)
    heard_by_b: list[str] = []
    b.app[keys.CHANGES].subscribe(heard_by_b.append)
    job_id = (await submit(a, tone_wav(tmp_path / "feed.wav", 1), job_id="fed"))["job_id"]
    await wait_status(a, job_id, timeout=30)

    async def b_heard_it() -> bool:
        return job_id in heard_by_b

    await wait_until(b_heard_it, timeout=10)  # B accepted nothing: it heard A (or ran it itself)
    heard_by_a: list[str] = []
    a.app[keys.CHANGES].subscribe(heard_by_a.append)
    resp = await b.delete(f"/jobs/{job_id}")
    assert resp.status in (200, 204), await resp.text()

    async def a_heard_the_delete() -> bool:
        return job_id in heard_by_a

    await wait_until(a_heard_the_delete)


async def test_live_events_on_one_server_follow_a_job_run_by_another(
    pg_url: str, make_client: MakeClient, tmp_path: Path
) -> None:
    a, b = await pair(make_client, tmp_path, pg_url, auto=False)
    job_id = (await submit(a, tone_wav(tmp_path / "live.wav", 3), job_id="live"))["job_id"]
    await wait_status(a, job_id, ("running",), timeout=30)
    runner, watcher = (a, b) if 3.0 in engine_of(a).order else (b, a)
    resp = await watcher.get(f"/jobs/{job_id}/events")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    stream = SSEReader(resp)
    first = await stream.next(10)
    assert first is not None and first.body["status"] == "running"
    engine_of(runner).gates[3.0].set()  # the runner finishes; only the bridge tells the watcher
    seen = [first]
    while (message := await stream.next(20)) is not None:
        seen.append(message)
    assert seen[-1].body["status"] == "completed" and seen[-1].body["text"]


async def test_every_server_shows_the_shared_queue_and_the_text_so_far(
    pg_url: str, make_client: MakeClient, tmp_path: Path
) -> None:
    """Both servers busy, three jobs wait in the shared queue: either server gives each its place in
    the order jobs are claimed and an ETA, and shows the text so far of a job the other one runs."""
    a, b = await pair(make_client, tmp_path, pg_url, auto=False)
    for engine in (engine_of(a), engine_of(b)):
        engine.free_segments = 2  # "word0 word1", then the job waits on its gate
    running = [(await submit(a, tone_wav(tmp_path / f"long{i}.wav", 10 + i)))["job_id"] for i in range(2)]
    for job_id in running:  # one on each server (one worker each)
        await wait_status(a, job_id, ("running",), timeout=30)
    # created in this order with growing durations: their virtual deadlines are in this order too
    queued = [(await submit(b, tone_wav(tmp_path / f"q{i}.wav", 2 + i)))["job_id"] for i in range(3)]

    async def bodies(client: Client, ids: list[str]) -> list[dict[str, Any]]:
        return [await (await client.get(f"/status/{job_id}")).json() for job_id in ids]

    for client in (a, b):

        async def shows_the_line(client: Client = client) -> bool:
            return [body["queue_position"] for body in await bodies(client, queued)] == [1, 2, 3]

        await wait_until(shows_the_line)  # the other server's claims and accepts, at its next tick
        etas = [body["eta_seconds"] for body in await bodies(client, queued)]
        assert all(eta is not None for eta in etas) and etas == sorted(etas) and etas[0] > 0, etas
        for body in await bodies(client, running):
            assert body["status"] == "running" and body["queue_position"] is None and body["eta_seconds"] is not None

    on_a = next(job_id for job_id, d in zip(running, (10.0, 11.0), strict=True) if d in engine_of(a).order)
    local = (await bodies(a, [on_a]))[0]
    assert local["text"] == "word0 word1" and local["progress"] > 0, local

    async def b_shows_the_text_so_far() -> bool:
        body = (await bodies(b, [on_a]))[0]
        return body["status"] == "running" and bool(body["text"]) and body["progress"] > 0

    await wait_until(b_shows_the_text_so_far)
    remote = (await bodies(b, [on_a]))[0]
    assert remote["text"].startswith("word0") and local["text"].startswith(remote["text"]), remote
    assert remote["language"] == "en", remote

    for engine in (engine_of(a), engine_of(b)):
        engine.auto = True
        for gate in engine.gates.values():
            gate.set()
    for job_id in running + queued:
        done = await wait_status(b, job_id, timeout=30)
        assert done["status"] == "completed" and done["queue_position"] is None, done
    assert len(engine_of(a).order + engine_of(b).order) == 5  # each ran once
