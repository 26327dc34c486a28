"""Stopping a real `transcriber serve` process: the stop time is bounded by one setting, and one data
directory belongs to one server (the lock file)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.server_process import ServerProcess
from tests.support import speech_wav
from tests.test_crash import rows, upload, wait_for
from transcriber.store.datalock import DataDirBusy, DataDirLock

pytestmark = pytest.mark.slow
SHUTDOWN_TIMEOUT = 4.0
# Process teardown after the budget: closing the database, interpreter exit.
EXIT_SLACK = 1.5


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def stalled_upload(port: int) -> socket.socket:
    """An upload whose client stops sending halfway: an in-flight request the server must not wait
    out past its budget."""
    sock = socket.create_connection(("127.0.0.1", port))
    boundary = "stall"
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
    sock.sendall(
        (
            f"POST /transcribe HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {10_000_000}\r\n\r\n{head}"
        ).encode()
        + b"\0" * 300_000
    )
    return sock


async def test_sigterm_with_a_long_job_and_a_stalled_upload_exits_within_shutdown_timeout(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    long_audio = speech_wav(tmp_path / "long.wav", ["speech.ogg", "speech.mp3"] * 6)
    (tmp_path / "stop.toml").write_text(f"[server]\nshutdown_timeout = {SHUTDOWN_TIMEOUT}\n")
    server = ServerProcess(tmp_path / "data", config=tmp_path / "stop.toml", TRANSCRIBER_WORKERS="1")
    server.start()
    try:
        await server.wait_ready()
        await upload(session, server, long_audio, "long")
        await wait_for(session, server, "long", ("running",))
        sock = stalled_upload(server.port)
        await asyncio.sleep(0.3)  # the request is being read
        started = time.monotonic()
        code = await asyncio.to_thread(server.terminate, 60)
        took = time.monotonic() - started
        sock.close()
    finally:
        server.stop()
    assert code == 0, server.output()
    assert took <= SHUTDOWN_TIMEOUT + EXIT_SLACK, f"stopping took {took:.1f} s:\n{server.output()}"
    row = rows(tmp_path / "data")["long"]
    assert (row["status"], row["attempts"]) == ("queued", 0)  # a requested stop is not a crash
    assert not list((tmp_path / "data" / "uploads" / ".incoming").glob("*.part"))


async def test_a_second_server_on_the_same_data_directory_refuses_to_start(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    first = ServerProcess(tmp_path / "data")
    first.start()
    try:
        await first.wait_ready()
        second = ServerProcess(tmp_path / "data")
        started = time.monotonic()
        refused = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "transcriber", "--config", second.config, "serve"],
            env=second.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode == 2, refused.stderr
        assert time.monotonic() - started < 20
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "another transcriber server is using the data directory" in lines[0], lines
        assert "Traceback" not in refused.stderr
        await first.wait_ready(timeout=5)  # the first one is untouched
        first.kill9()  # the kernel drops a dead process's lock: no stale lock after a crash
        second.start()
        await second.wait_ready()
        second.stop()
    finally:
        first.stop()


def test_shared_locks_coexist_and_exclude_an_exclusive_one(tmp_path: Path) -> None:
    with (
        DataDirLock(tmp_path, shared=True),
        DataDirLock(tmp_path, shared=True),
        pytest.raises(DataDirBusy, match=str(tmp_path)),
    ):
        DataDirLock(tmp_path).acquire()
    with DataDirLock(tmp_path):
        with pytest.raises(DataDirBusy):
            DataDirLock(tmp_path, shared=True).acquire()
        with pytest.raises(DataDirBusy):
            DataDirLock(tmp_path).acquire()
    with DataDirLock(tmp_path):  # released on exit
        pass
