"""The relay on its own, on both real databases (SQLite, PostgreSQL): events that happened while
it was not running, more of them than one pass takes, are each delivered exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from tests.webhook_receiver import Receiver
from transcriber.notify.webhooks import WebhookRelay
from transcriber.setting_sections import WebhookSettings
from transcriber.store import webhook_rows
from transcriber.store.sqlite import Store
from transcriber.whsec import new_secret

OLD = "2020-01-01T00:00:00.000Z"  # long before the relay's watermark


async def test_a_backlog_larger_than_a_batch_is_delivered_once_each(store: Store, tmp_path: Path) -> None:
    receiver = Receiver(204)
    await receiver.start()
    count = webhook_rows.BATCH + 30
    try:
        async with store.transaction() as tx:
            for n in range(count):
                await tx.execute(
                    "INSERT INTO jobs (job_id, status, created_at, updated_at, duration, upload_bytes,"
                    " upload_digest, callback_url) VALUES (?, 'failed', ?, ?, 1.0, 1, 'x', ?)",
                    (f"job-{n}", OLD, OLD, receiver.url()),
                )

        async def document(job_id: str) -> dict[str, Any]:
            return {"job_id": job_id, "status": "failed"}

        secret = new_secret()
        settings = WebhookSettings(secret=secret, allow_private=True)
        async with WebhookRelay(settings, store, document, tmp_path).running():
            await receiver.wait_for(count, timeout=120)
            deadline = time.monotonic() + 30
            while await store.rows("SELECT 1 FROM webhook_deliveries WHERE state != 'delivered'"):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        events = [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]
        assert Counter(e["data"]["job_id"] for e in events) == Counter({f"job-{n}": 1 for n in range(count)})
        assert {e["type"] for e in events} == {"job.failed"}
        rows = await store.rows("SELECT count(*) AS n, max(attempts) AS most FROM webhook_deliveries")
        assert rows == [{"n": count, "most": 1}]
    finally:
        await receiver.stop()


async def test_the_target_is_checked_again_at_delivery(store: Store, tmp_path: Path) -> None:
    """A URL accepted earlier (say, under allow_private) is refused when it is sent, and nothing connects."""
    receiver = Receiver(204)
    await receiver.start()
    try:
        await store.write(
            "INSERT INTO jobs (job_id, status, created_at, updated_at, duration, upload_bytes, upload_digest,"
            " callback_url) VALUES ('inside', 'completed', ?, ?, 1.0, 1, 'x', ?)",
            (OLD, OLD, receiver.url()),
        )

        async def document(job_id: str) -> dict[str, Any]:
            return {"job_id": job_id, "status": "completed"}

        settings = WebhookSettings(secret=new_secret(), allow_private=False, max_attempts=1)
        async with WebhookRelay(settings, store, document, tmp_path).running():
            deadline = time.monotonic() + 30
            while not (rows := await store.rows("SELECT * FROM webhook_deliveries WHERE state = 'failed'")):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        assert rows[0]["last_error"].startswith("refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address")
        assert rows[0]["last_status"] is None and receiver.received == []
    finally:
        await receiver.stop()
