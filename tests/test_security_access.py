"""Closed by default: loopback unless configured, a warning when open, keys never logged, per-key
isolation across every route, and /health without a key that says only how it is."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import MakeClient
from tests.server_process import ServerProcess
from tests.sse_client import SSEReader
from tests.support import CLIPS, FakeEngine, form, tone_wav, wait_status
from transcriber.jobs.owners import key_id_of
from transcriber.setting_sections import ServerSettings
from transcriber.settings import settings_from
from transcriber.web.exposure import is_loopback, warn_if_exposed

ALICE, BOB, ADMIN = "alice-secret-0123", "bob-secret-4567", "root-secret-89ab"
KEYS = {"api_keys": [f"alice:{ALICE}", BOB], "admin_keys": [ADMIN], "isolate_keys": True}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_default_host_is_loopback() -> None:
    assert settings_from({}, {}, base_dir=Path.cwd()).server.host == "127.0.0.1"
    assert settings_from({}, {"TRANSCRIBE_SERVER_HOST": "0.0.0.0"}, base_dir=Path.cwd()).server.host == "0.0.0.0"


def test_open_listener_without_keys_warns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    assert warn_if_exposed("0.0.0.0", ServerSettings(host="0.0.0.0"))
    assert "without API keys" in caplog.text
    assert not warn_if_exposed("0.0.0.0", ServerSettings(api_keys=("k",)))
    assert not warn_if_exposed("127.0.0.1", ServerSettings())
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("") and not is_loopback("10.0.0.1")


async def test_serve_binds_loopback_cuts_slow_headers_and_never_logs_keys(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[server]\nheader_timeout = 1.0\n")
    server = ServerProcess(tmp_path / "data", config, TRANSCRIBER_API_KEYS=f"alice:{ALICE},{BOB}")
    del server.env["TRANSCRIBE_SERVER_HOST"]  # the default must be loopback
    server.start()
    try:
        await server.wait_ready(timeout=120)
        assert server.proc is not None
        listening = {
            c.laddr.ip for c in psutil.Process(server.proc.pid).net_connections() if c.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.1"}, listening
        held = await asyncio.to_thread(_trickle_headers, server.port, 6.0)
        assert held < 3.0, f"a client sending headers slowly held the connection {held:.1f} s"
        await _requests_with_keys(server.url)
    finally:
        server.stop()
    log = server.output()
    assert "GET /jobs" in log or "/jobs" in log, log[-2000:]
    for secret in (ALICE, BOB, "wrong-key-secret"):
        assert secret not in log, f"{secret} appeared in the log"
    assert "without API keys" not in log


def _trickle_headers(port: int, give_up: float) -> float:
    """Send a header line every 0.3 s and never finish; seconds until the server hangs up."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=give_up) as sock:
        sock.sendall(b"POST /transcribe HTTP/1.1\r\nHost: x\r\n")
        try:
            while time.monotonic() - started < give_up:
                sock.sendall(b"X-Slow: 1\r\n")
                sock.settimeout(0.3)
                try:
                    if sock.recv(1024) == b"":
                        break
                except TimeoutError:
                    continue
        except OSError:
            pass  # reset by the server: cut off
    return time.monotonic() - started


async def _requests_with_keys(url: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{url}/jobs", headers=bearer("wrong-key-secret")) as resp:
            assert resp.status == 401
        async with session.get(f"{url}/jobs", headers=bearer(ALICE)) as resp:
            assert resp.status == 200


async def test_health_without_a_key_says_only_its_state(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(FakeEngine(), server=KEYS)
    anonymous = await client.get("/health")
    assert anonymous.status == 200 and await anonymous.json() == {"status": "ok"}
    keyed = await (await client.get("/health", headers=bearer(BOB))).json()
    assert keyed["status"] == "ok" and "queue" in keyed and "model" in keyed
    opted_in = await make_client(FakeEngine(), data_dir=tmp_path / "d2", server={**KEYS, "public_health": True})
    assert "queue" in await (await opted_in.get("/health")).json()


async def test_each_key_sees_and_acts_only_on_its_own_jobs(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(FakeEngine(), server=KEYS)
    jobs = {}
    for key, job_id in ((ALICE, "a-1"), (BOB, "b-1")):
        resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id=job_id), headers=bearer(key))
        assert resp.status == 202, await resp.text()
        jobs[key] = job_id
        await wait_status(client, job_id, headers=bearer(key))
    for me, other in ((ALICE, BOB), (BOB, ALICE)):
        mine, theirs, h = jobs[me], jobs[other], bearer(me)
        listed = await (await client.get("/jobs", headers=h)).json()
        assert [j["job_id"] for j in listed["jobs"]] == [mine]
        assert (await client.get(f"/jobs?before={theirs}", headers=h)).status == 400  # not a cursor for me
        for method, path in (
            ("GET", f"/status/{theirs}"),
            ("GET", f"/jobs/{theirs}/transcript.txt"),
            ("GET", f"/jobs/{theirs}/transcript.json"),
            ("POST", f"/jobs/{theirs}/cancel"),
            ("POST", f"/jobs/{theirs}/summarize"),
            ("DELETE", f"/jobs/{theirs}"),
            ("GET", f"/jobs/{theirs}/audio"),
            ("GET", f"/jobs/{theirs}/events"),
            ("GET", f"/jobs/{theirs}/audio?access_token={me}"),
        ):
            resp = await client.request(method, path, headers=h)
            body = await resp.json()
            assert resp.status == 404 and body["error"]["code"] == "job_not_found", (me, method, path, body)
        assert (await client.get(f"/jobs/{mine}/transcript.txt", headers=h)).status == 200
        # the same id with the same bytes is not a "safe retry" into another key's job
        again = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id=theirs), headers=h)
        assert again.status == 409 and "status" not in await again.json()
    admin = await (await client.get("/jobs", headers=bearer(ADMIN))).json()
    assert {j["job_id"] for j in admin["jobs"]} == {"a-1", "b-1"}
    assert (await client.delete("/jobs/b-1", headers=bearer(ALICE))).status == 404
    assert (await client.delete("/jobs/b-1", headers=bearer(ADMIN))).status == 200
    with sqlite3.connect(tmp_path / "data" / "jobs.db") as db:
        owners = dict(db.execute("SELECT job_id, owner FROM jobs").fetchall())
    assert owners == {"a-1": "alice"}
    raw = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("jobs.db*"))
    assert ALICE.encode() not in raw and BOB.encode() not in raw
    assert key_id_of(BOB).startswith("key-") and len(key_id_of(BOB)) == 16


async def test_without_isolation_every_key_sees_every_job(make_client: MakeClient) -> None:
    client = await make_client(FakeEngine(), server={"api_keys": [ALICE, BOB], "isolate_keys": False})
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="shared"), headers=bearer(ALICE))
    assert resp.status == 202
    assert (await client.get("/status/shared", headers=bearer(BOB))).status == 200


async def test_keys_are_isolated_by_default_and_admin_wins_over_a_plain_listing(make_client: MakeClient) -> None:
    """isolate_keys defaults to true; a key in both api_keys and admin_keys is an admin."""
    assert settings_from({}, {}, base_dir=Path.cwd()).server.isolate_keys is True
    client = await make_client(FakeEngine(), server={"api_keys": [ALICE, BOB, ADMIN], "admin_keys": [ADMIN]})
    resp = await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id="alices"), headers=bearer(ALICE))
    assert resp.status == 202
    await wait_status(client, "alices", headers=bearer(ALICE))
    assert (await client.get("/status/alices", headers=bearer(BOB))).status == 404
    assert (await client.get("/status/alices", headers=bearer(ADMIN))).status == 200
    listed = await (await client.get("/jobs", headers=bearer(ADMIN))).json()
    assert [j["job_id"] for j in listed["jobs"]] == ["alices"]


async def test_health_names_only_the_callers_stalled_jobs(make_client: MakeClient, tmp_path: Path) -> None:
    engine = FakeEngine(auto=False)
    client = await make_client(engine, server=KEYS, queue={"stall_seconds": 0.3})
    resp = await client.post(
        "/transcribe", data=form(tone_wav(tmp_path / "a.wav", 1), job_id="bobs-stuck-job"), headers=bearer(BOB)
    )
    assert resp.status == 202
    await wait_status(client, "bobs-stuck-job", ("running",), headers=bearer(BOB))
    deadline = time.monotonic() + 10
    while (resp := await client.get("/health", headers=bearer(BOB))).status != 503:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert any("bobs-stuck-job" in p for p in (await resp.json())["problems"])
    for key in (ADMIN, BOB):
        assert any(
            "bobs-stuck-job" in p for p in (await (await client.get("/health", headers=bearer(key))).json())["problems"]
        )
    alices = await client.get("/health", headers=bearer(ALICE))
    body = await alices.json()
    assert alices.status == 503 and body["status"] == "degraded" and body["problems"], body
    assert "bobs-stuck-job" not in json.dumps(body), body
    engine.gates[1.0].set()
    await wait_status(client, "bobs-stuck-job", headers=bearer(BOB))


async def test_the_event_stream_carries_only_the_callers_jobs(make_client: MakeClient) -> None:
    client = await make_client(FakeEngine(), server=KEYS)
    for key, job_id in ((ALICE, "a-old"), (BOB, "b-old")):
        assert (
            await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id=job_id), headers=bearer(key))
        ).status == 202
        await wait_status(client, job_id, headers=bearer(key))
    response = await client.get(f"/events?access_token={ALICE}")
    assert response.status == 200
    reader = SSEReader(response)
    for key, job_id in ((BOB, "b-new"), (ALICE, "a-new")):  # Bob's first: Alice's stream must skip it
        assert (
            await client.post("/transcribe", data=form(CLIPS / "hello.wav", job_id=job_id), headers=bearer(key))
        ).status == 202
    seen: list[str] = []
    while True:
        message = await reader.next(timeout=30)
        assert message is not None
        body = message.body
        seen.append(body["job_id"])
        if body["job_id"] == "a-new" and body.get("status") == "completed":
            break
    assert "a-old" in seen and not [j for j in seen if j.startswith("b-")], seen
    response.close()
    admin = SSEReader(await client.get("/events", headers=bearer(ADMIN)))
    first = {(await admin.next(timeout=30)).body["job_id"] for _ in range(4)}  # type: ignore[union-attr]
    assert first == {"a-old", "b-old", "a-new", "b-new"}
    admin.response.close()
