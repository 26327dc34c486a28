"""Hostile clients, third round: absurd declared lengths, clients that leave mid-upload, trickling
uploads and one address holding every upload slot."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MakeClient
from tests.support import CLIPS, FakeEngine
from tests.test_errors import assert_clean_and_healthy

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
    await asyncio.sleep(0.2)  # the server is streaming the part to disk
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
