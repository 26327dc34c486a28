"""Hostile clients, third round: absurd declared lengths, clients that leave mid-upload, trickling
uploads and one address holding every upload slot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeClient
from tests.support import CLIPS, Client, FakeEngine, form
from tests.test_errors import assert_clean_and_healthy, expect_error
from transcriber.web import keys

HUNDRED_GB = 100 * 1024**3
ROUTES = ("/transcribe", "/v1/audio/transcriptions")


async def raw_request(port: int, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send a request head (and maybe part of a body) over a raw socket; read the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    payload = await reader.readexactly(length)
    writer.close()
    return int(status_line.split()[1]), json.loads(payload)


@pytest.mark.parametrize("path", ROUTES)
async def test_declared_length_over_the_limit_is_413_whatever_the_disk(make_client: MakeClient, path: str) -> None:
    """100 GB declared is more than the 2 GB limit and more than this disk holds: the size wins."""
    client = await make_client(FakeEngine())
    assert client.port is not None
    headers = {"Content-Type": "multipart/form-data; boundary=B", "Content-Length": str(HUNDRED_GB)}
    status, body = await raw_request(client.port, path, headers)
    assert status == 413, body
    assert body["error"]["code"] == "upload_too_large", body


@pytest.mark.parametrize("path", ROUTES)
async def test_a_client_that_leaves_mid_upload_is_one_info_line_and_a_499(
    make_client: MakeClient, tmp_path: Path, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    client = await make_client(FakeEngine())
    assert client.port is not None
    caplog.set_level(logging.INFO)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
        'Content-Length: 5000000\r\n\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    )
    _reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(head.encode() + (CLIPS / "hello.wav").read_bytes()[:100_000])
    await writer.drain()
    incoming, deadline = tmp_path / "data" / "uploads" / ".incoming", time.monotonic() + 10
    while not (incoming.is_dir() and any(incoming.iterdir())):  # the part's file is open: mid-upload
        assert time.monotonic() < deadline, "the server never started the part's file"
        await asyncio.sleep(0.02)
    writer.close()
    await writer.wait_closed()
    await assert_clean_and_healthy(client, tmp_path / "data")
    deadline = time.monotonic() + 10
    while f'route="{path}",status="499"' not in (metrics := await (await client.get("/metrics")).text()):
        assert time.monotonic() < deadline, [m for m in metrics.splitlines() if "http_requests_total" in m]
        await asyncio.sleep(0.05)
    assert f'route="{path}",status="500"' not in metrics
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    left = [r for r in caplog.records if "left" in r.getMessage() and "upload" in r.getMessage()]
    assert len(left) == 1 and left[0].levelno == logging.INFO and not left[0].exc_info, caplog.text
    assert "\n" not in left[0].getMessage()


HEAD = (
    "POST /transcribe HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: multipart/form-data; boundary=B\r\n"
    'Content-Length: 5000000\r\n\r\n--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
)


async def trickle(port: int, every: float, size: int, extra: str = "") -> tuple[int, dict[str, Any]]:
    """An upload that sends `size` bytes every `every` seconds until the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEAD.format(extra=extra).encode())

    async def send() -> None:
        with contextlib.suppress(OSError):
            while True:
                writer.write(b"\x01" * size)
                await writer.drain()
                await asyncio.sleep(every)

    sending = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), 15)
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            length = int(value) if name.strip().lower() == "content-length" else length
        return int(status_line.split()[1]), json.loads(await reader.readexactly(length))
    finally:
        sending.cancel()
        writer.close()


@pytest.mark.parametrize(("every", "size"), [(0.1, 2048), (0.5, 0)])
async def test_a_trickling_upload_is_408_upload_too_slow(
    make_client: MakeClient, tmp_path: Path, every: float, size: int
) -> None:
    """20 KB/s (or nothing at all) under a 64 KB/s floor over 1 s: cut off, its file removed."""
    limits = {"min_upload_kb_per_second": 64, "upload_rate_window_seconds": 1.0}
    client = await make_client(FakeEngine(), limits=limits)
    assert client.port is not None
    started = time.monotonic()
    status, body = await trickle(client.port, every, size)
    assert status == 408 and body["error"]["code"] == "upload_too_slow", body
    assert time.monotonic() - started < 5
    await assert_clean_and_healthy(client, tmp_path / "data")
    fast = await client.post("/transcribe", data=form(CLIPS / "hello.wav"))
    assert fast.status == 202, await fast.text()


async def hold_upload(port: int, extra: str = "") -> asyncio.StreamWriter:
    """An upload that has started and stays open (sent slowly enough to hold its slot)."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEAD.format(extra=extra).encode() + b"\x01" * 1024)
    await writer.drain()
    return writer


async def wait_uploading(client: Client, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(list((client.app[keys.SETTINGS].data_dir / "uploads" / ".incoming").glob("*.part"))) < count:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_one_address_holds_at_most_its_share_of_upload_slots(make_client: MakeClient, tmp_path: Path) -> None:
    limits = {"max_uploads_per_client": 1, "min_upload_kb_per_second": 0}
    client = await make_client(FakeEngine(), limits=limits)
    assert client.port is not None
    held = await hold_upload(client.port)
    await wait_uploading(client, 1)
    spoofed = {"X-Forwarded-For": "10.9.9.9"}  # not from a trusted proxy: ignored
    refused = await client.post("/transcribe", data=form(CLIPS / "hello.wav"), headers=spoofed)
    await expect_error(refused, 429, "too_many_uploads")
    assert int(refused.headers["Retry-After"]) >= 1
    held.close()
    await assert_clean_and_healthy(client, tmp_path / "data")
    assert (await client.post("/transcribe", data=form(CLIPS / "hello.wav"))).status == 202


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
    make_client: MakeClient, tmp_path: Path
) -> None:
    limits = {"max_uploads_per_client": 1, "min_upload_kb_per_second": 0}
    client = await make_client(FakeEngine(), limits=limits, server={"trusted_proxies": ["127.0.0.0/8"]})
    assert client.port is not None
    held = await hold_upload(client.port, "X-Forwarded-For: 203.0.113.7\r\n")
    await wait_uploading(client, 1)
    other = {"X-Forwarded-For": "198.51.100.2, 127.0.0.1"}
    assert (await client.post("/transcribe", data=form(CLIPS / "hello.wav"), headers=other)).status == 202
    same = {"X-Forwarded-For": "203.0.113.7"}
    again = await client.post("/transcribe", data=form(CLIPS / "hello.wav"), headers=same)
    await expect_error(again, 429, "too_many_uploads")
    held.close()
    await assert_clean_and_healthy(client, tmp_path / "data")
