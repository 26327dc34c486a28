"""Webhooks through real HTTP: a real app with the real model posts to a real local receiver."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import MakeClient
from tests.support import CLIPS, Client, FakeEngine, form, submit, tone_wav, wait_status
from tests.webhook_receiver import HANG, Receiver
from transcriber.speech.engine import FasterWhisperEngine
from transcriber.whsec import new_secret

SECRET = new_secret()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    await hook.start()
    yield hook
    await hook.stop()


def deliveries(data_dir: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(data_dir / "jobs.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM webhook_deliveries ORDER BY created_at")]


async def settled(data_dir: Path, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    """The deliveries once `count` of them exist and none is pending any more."""
    deadline = time.monotonic() + timeout
    while True:
        rows = deliveries(data_dir)
        if len(rows) >= count and all(r["state"] != "pending" for r in rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


async def app_with_hooks(make_client: MakeClient, engine: FasterWhisperEngine, data: Path, **hooks: Any) -> Client:
    webhooks = {"allow_private": True, "secret": SECRET, "retry_seconds": 0.2, **hooks}
    return await make_client(engine, data_dir=data, webhooks=webhooks)


def own_signature(secret: str, headers: dict[str, str], body: bytes) -> str:
    """The spec's algorithm, written out: base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


async def test_job_and_summary_events_are_signed_and_verify(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, receiver: Receiver, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    client = await app_with_hooks(make_client, tiny_engine, data)
    job_id = (await submit(client, CLIPS / "hello.wav", callback_url=receiver.url()))["job_id"]
    done = await wait_status(client, job_id)
    got = await receiver.wait_for(1)
    first = got[0]
    event = Webhook(SECRET).verify(first.body, first.headers)  # the maintained implementation agrees
    assert first.headers["webhook-signature"] == own_signature(SECRET, first.headers, first.body)
    assert abs(int(first.headers["webhook-timestamp"]) - time.time()) < 60
    assert first.headers["content-type"] == "application/json"
    assert event["type"] == "job.completed"
    assert event["data"]["job_id"] == job_id and event["data"]["status"] == "completed"
    assert event["data"]["text"] == done["text"]
    assert event["timestamp"].endswith("Z")
    rows = await settled(data, 1)
    assert [(r["type"], r["state"], r["attempts"], r["last_status"]) for r in rows] == [
        ("job.completed", "delivered", 1, 200)
    ]
    assert rows[0]["webhook_id"] == first.headers["webhook-id"]
    with sqlite3.connect(data / "jobs.db") as db:
        assert db.execute("SELECT callback_url FROM jobs").fetchall() == [(receiver.url(),)]


async def test_summary_event_follows_the_job_event(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, receiver: Receiver, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    webhooks = {"allow_private": True, "secret": SECRET}
    client = await make_client(tiny_engine, data_dir=data, webhooks=webhooks, summarizer={"enabled": True})
    job_id = (await submit(client, CLIPS / "speech.ogg", callback_url=receiver.url()))["job_id"]
    got = await receiver.wait_for(2)
    events = [Webhook(SECRET).verify(r.body, r.headers) for r in got]
    assert [e["type"] for e in events] == ["job.completed", "summary.completed"]
    assert events[1]["data"]["summary"]["status"] == "completed" and events[1]["data"]["summary"]["text"]
    assert all(e["data"]["job_id"] == job_id for e in events)
    assert len({r.headers["webhook-id"] for r in got}) == 2
    await settled(data, 2)


async def test_summarize_again_sends_its_own_summary_event(
    make_client: MakeClient, receiver: Receiver, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    webhooks = {"allow_private": True, "secret": SECRET}
    client = await make_client(FakeEngine(), data_dir=data, webhooks=webhooks, summarizer={"enabled": True})
    job_id = (await submit(client, tone_wav(tmp_path / "a.wav", 3), callback_url=receiver.url()))["job_id"]
    await receiver.wait_for(2)
    await settled(data, 2)
    assert (await client.post(f"/jobs/{job_id}/summarize")).status == 202
    got = await receiver.wait_for(3)
    events = [Webhook(SECRET).verify(r.body, r.headers) for r in got]
    assert [e["type"] for e in events] == ["job.completed", "summary.completed", "summary.completed"]
    assert len({r.headers["webhook-id"] for r in got}) == 3  # a new event, not a retry of the old one
    await settled(data, 3)


async def test_a_500_is_retried_with_the_same_id_then_acknowledged(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    receiver = Receiver(500, 503)
    await receiver.start()
    try:
        data = tmp_path / "data"
        client = await app_with_hooks(make_client, tiny_engine, data)
        await submit(client, CLIPS / "hello.wav", callback_url=receiver.url())
        rows = await settled(data, 1)
        got = receiver.received
        assert len(got) == 3
        assert len({r.headers["webhook-id"] for r in got}) == 1 and len({r.body for r in got}) == 1
        assert got[1].at - got[0].at >= 0.1  # backed off, not hammered
        assert (rows[0]["state"], rows[0]["attempts"], rows[0]["last_status"]) == ("delivered", 3, 200)
        assert rows[0]["delivered_at"] and rows[0]["last_error"] is None
    finally:
        await receiver.stop()


async def test_a_hanging_receiver_costs_a_retry_and_blocks_nothing(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    receiver = Receiver(HANG)
    await receiver.start()
    try:
        data = tmp_path / "data"
        client = await app_with_hooks(make_client, tiny_engine, data, timeout_seconds=1.5)
        await submit(client, CLIPS / "hello.wav", callback_url=receiver.url())
        await receiver.wait_for(1)
        started = time.monotonic()  # the receiver is hanging now: the server must not be
        health = await client.get("/health")
        assert health.status == 200 and time.monotonic() - started < 0.5
        other = await submit(client, CLIPS / "speech.ogg")
        assert (await wait_status(client, other["job_id"]))["status"] == "completed"
        rows = await settled(data, 1)
        first, second = receiver.received
        assert second.at - first.at >= 1.5  # the first attempt ran into its timeout
        assert (rows[0]["state"], rows[0]["attempts"]) == ("delivered", 2)
    finally:
        await receiver.stop()


async def test_a_redirect_is_not_followed_and_attempts_are_capped(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path
) -> None:
    receiver = Receiver(default=("redirect", "/elsewhere"))
    await receiver.start()
    try:
        data = tmp_path / "data"
        client = await app_with_hooks(make_client, tiny_engine, data, max_attempts=2)
        await submit(client, CLIPS / "hello.wav", callback_url=receiver.url())
        rows = await settled(data, 1)
        assert [r.path for r in receiver.received] == ["/hook", "/hook"]
        row = rows[0]
        assert (row["state"], row["attempts"], row["last_status"]) == ("failed", 2, 302)
        assert "302" in row["last_error"] and row["delivered_at"] is None
    finally:
        await receiver.stop()


async def test_cancelled_job_is_reported(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, receiver: Receiver, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    client = await app_with_hooks(make_client, tiny_engine, data, secret=SECRET)
    ids = [
        (await submit(client, CLIPS / n, callback_url=receiver.url()))["job_id"] for n in ("speech.ogg", "hello.wav")
    ]
    resp = await client.post(f"/jobs/{ids[1]}/cancel")
    assert resp.status in (200, 202)
    done = await wait_status(client, ids[1])
    got = await receiver.wait_for(2)
    types = {Webhook(SECRET).verify(r.body, r.headers)["type"] for r in got}
    assert f"job.{done['status']}" in types


PRIVATE = [
    "http://127.0.0.1:9/x",
    "http://10.0.0.5/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://localhost:9/hook",
    "http://224.0.0.1/hook",
]
MALFORMED = [
    "ftp://example.com/x",
    "example.com/hook",
    "http://",
    "http:///path",
    "https://x:99999/",
    "http://a/" + "x" * 2100,
]


@pytest.mark.parametrize("url", PRIVATE + MALFORMED)
async def test_private_or_malformed_callback_is_a_400(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, url: str
) -> None:
    client = await make_client(tiny_engine, webhooks={"secret": SECRET})
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav", callback_url=url))
    body = await resp.json()
    assert resp.status == 400, body
    assert body["error"]["code"] == "invalid_callback_url", body
    assert "callback_url" in body["error"]["message"]
    listed = await (await client.get("/jobs")).json()
    assert listed["jobs"] == []


async def test_callback_url_is_optional_and_needs_no_receiver(client: Client, tmp_path: Path) -> None:
    job_id = (await submit(client, CLIPS / "hello.wav"))["job_id"]
    assert (await wait_status(client, job_id))["status"] == "completed"


async def test_generated_secret_is_private_and_never_logged(
    make_client: MakeClient, tiny_engine: FasterWhisperEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    caplog.set_level("INFO")
    client = await make_client(tiny_engine, data_dir=data)
    assert (await client.get("/health")).status == 200
    deadline = time.monotonic() + 30  # the relay makes the secret in its own task, soon after start-up
    while "generated a webhook signing secret" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        await asyncio.sleep(0.05)
    path = data / "webhook_secret"
    secret = path.read_text().strip()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert "generated a webhook signing secret" in caplog.text
    assert secret[6:] not in caplog.text
    assert json.dumps(secret)  # a plain string, usable as-is by receivers
