"""Recovery after a restart respects the queue's capacity: the queued jobs beyond it stay queued in
the database (the backlog) and enter the queue oldest first as room frees, before any new upload."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from bench.history import fill_sqlite
from tests.conftest import MakeClient
from tests.support import CLIPS, FakeEngine, form, wait_status
from transcriber.store.backend import open_store

QUEUED = 40
CAPACITY = 10


async def test_a_restart_with_more_queued_than_capacity_keeps_the_rest_in_the_database(
    make_client: MakeClient, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    await (await open_store(data / "jobs.db")).close()
    fill_sqlite(data / "jobs.db", 1000, queued=QUEUED)
    engine = FakeEngine(auto=False)
    client = await make_client(engine, data_dir=data, queue={"capacity": CAPACITY})
    first, last = "hist-q0000001", f"hist-q{QUEUED:07d}"
    await wait_status(client, first, ("running", "failed"))
    health = await (await client.get("/health")).json()
    assert health["queue"] == {"queued": QUEUED - 1, "running": 1, "capacity": CAPACITY}
    second = await (await client.get("/status/hist-q0000002")).json()
    assert second["status"] == "queued" and second["queue_position"] == 1 and second["eta_seconds"] is not None
    waiting = await (await client.get(f"/status/{last}")).json()  # in the backlog: queued, not yet in line
    assert waiting["status"] == "queued" and waiting["queue_position"] is None
    refused = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="new"))
    assert refused.status == 503 and (await refused.json())["error"]["code"] == "queue_full"
    engine.gates.setdefault(11.0, threading.Event()).set()
    await wait_status(client, last)
    with sqlite3.connect(data / "jobs.db") as db:
        started = [r[0] for r in db.execute("SELECT job_id FROM jobs WHERE job_id LIKE 'hist-q%' ORDER BY started_at")]
        left = db.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()[0]
    assert started == sorted(started) and len(started) == QUEUED and left == 0  # oldest first, each once
    engine.auto = True
    accepted = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="new"))
    assert accepted.status == 202
    assert (await wait_status(client, "new"))["status"] == "completed"
