"""GET /events with thousands of jobs queued: the stream opens before the current state is read, and
that first snapshot is bounded (the newest queued jobs, not the whole queue), each job's place in
line taken from the queue's maintained order."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from bench.history import fill_sqlite
from tests.conftest import MakeClient
from tests.sse_client import Message, SSEReader
from tests.support import FakeEngine, wait_status
from transcriber.jobs.service import JobService
from transcriber.store.backend import open_store
from transcriber.web.sse import SNAPSHOT_QUEUED

QUEUED = 3000


async def test_with_thousands_queued_events_answers_before_its_snapshot_and_bounds_it(
    make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    await (await open_store(data / "jobs.db")).close()
    fill_sqlite(data / "jobs.db", 200, queued=QUEUED)  # the queued ones are the newest jobs
    engine = FakeEngine(auto=False)
    client = await make_client(engine, data_dir=data, queue={"capacity": 2 * QUEUED})
    await wait_status(client, "hist-q0000001", ("running",))  # held there: the rest wait in line

    # The snapshot's reads wait for a gate: the first byte must not wait for them.
    gate, reads = asyncio.Event(), []
    history = JobService.history

    async def gated(self: JobService, *args: Any, **kwargs: Any) -> Any:
        reads.append(args[0])
        await gate.wait()
        return await history(self, *args, **kwargs)

    monkeypatch.setattr(JobService, "history", gated)
    async with asyncio.timeout(10):  # a stream that waits for its snapshot never answers here
        resp = await client.get("/events")
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        assert await resp.content.readline() == b"retry: 2000\n"
    assert not gate.is_set() and reads, "the stream opened while the snapshot was still being read"
    gate.set()

    stream = SSEReader(resp)
    snapshot: list[Message] = []
    while not snapshot or snapshot[-1].id is None:  # the snapshot's last event is the first with an id
        message = await stream.next(30)
        assert message is not None
        snapshot.append(message)
    bodies = [m.body for m in snapshot]
    assert [m.event for m in snapshot] == ["status"] * len(snapshot)
    # Every active job up to the bound: the running one and the newest SNAPSHOT_QUEUED queued, oldest first.
    newest = range(QUEUED - SNAPSHOT_QUEUED + 1, QUEUED + 1)
    assert [b["job_id"] for b in bodies] == ["hist-q0000001", *(f"hist-q{i:07d}" for i in newest)]
    assert bodies[0]["status"] == "running"
    assert {b["status"] for b in bodies[1:]} == {"queued"}
    assert [b["queue_position"] for b in bodies[1:]] == [i - 1 for i in newest]  # hist-q0000002 is next
    assert all(b["eta_seconds"] is not None for b in bodies[1:])
    resp.close()
    engine.gates.setdefault(11.0, threading.Event()).set()  # the running job ends: the server stops at once
