"""A delivery pending when the server is killed (-9) arrives after the restart, exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from standardwebhooks import Webhook

from tests.server_process import ServerProcess
from tests.support import CLIPS
from tests.test_webhooks import deliveries
from tests.webhook_receiver import Receiver
from transcriber.whsec import new_secret

pytestmark = pytest.mark.slow
CONFIG = "[webhooks]\nallow_private = true\nretry_seconds = 1.0\n"


async def attempted(data_dir: Path, count: int, timeout: float = 120) -> None:
    """Wait until `count` deliveries exist and each has failed at least once."""
    deadline = time.monotonic() + timeout
    while True:
        rows = deliveries(data_dir) if (data_dir / "jobs.db").exists() else []
        if len(rows) >= count and all(r["attempts"] >= 1 and r["state"] == "pending" for r in rows):
            return
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.1)


async def test_pending_delivery_survives_kill_9(tmp_path: Path) -> None:
    secret = new_secret()
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    receiver = Receiver()  # its port is chosen but nothing listens yet: every attempt fails
    server = ServerProcess(tmp_path / "data", config, TRANSCRIBER_WEBHOOK_SECRET=secret)
    server.start()
    try:
        await server.wait_ready(timeout=120)
        async with aiohttp.ClientSession() as session:
            form = aiohttp.FormData({"callback_url": receiver.url()})
            form.add_field("file", (CLIPS / "hello.wav").read_bytes(), filename="hello.wav")
            async with session.post(f"{server.url}/transcribe", data=form) as resp:
                assert resp.status == 202, await resp.text()
                job_id = (await resp.json())["job_id"]
        await attempted(server.data_dir, 2)  # job.completed and summary.completed, both refused
        server.kill9()
        await receiver.start()
        server.start()
        await server.wait_ready(timeout=120)
        await receiver.wait_for(2, timeout=120)  # a claim cut short by the kill holds a delivery <= 45 s
        deadline = time.monotonic() + 60
        while any(r["state"] != "delivered" for r in deliveries(server.data_dir)):
            assert time.monotonic() < deadline, deliveries(server.data_dir)
            await asyncio.sleep(0.1)
        rows = deliveries(server.data_dir)
        arrived = Counter(r.headers["webhook-id"] for r in receiver.received)
        assert arrived == Counter({r["webhook_id"]: 1 for r in rows}), (arrived, rows)
        events = [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]
        assert sorted(e["type"] for e in events) == ["job.completed", "summary.completed"]
        assert {e["data"]["job_id"] for e in events} == {job_id}
        assert all(r["attempts"] >= 2 for r in rows)
        assert server.terminate() == 0, server.output()
    finally:
        server.stop()
        await receiver.stop()
