"""200 idle /events listeners on a real `transcriber serve` process cost no measurable CPU."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.server_process import ServerProcess

LISTENERS = 200
WINDOW = 3.0


async def cpu_seconds(process: psutil.Process, window: float) -> float:
    """CPU time (user + system, every thread) the server used during window seconds."""
    before = process.cpu_times()
    await asyncio.sleep(window)
    after = process.cpu_times()
    return float((after.user - before.user) + (after.system - before.system))


@pytest.mark.slow
async def test_idle_listeners_do_not_raise_cpu_use(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        await server.wait_ready()
        assert server.proc is not None
        process = psutil.Process(server.proc.pid)
        await asyncio.sleep(1.0)  # let start-up work (imports, warm-up) finish
        idle = await cpu_seconds(process, WINDOW)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            streams = [await session.get(f"{server.url}/events") for _ in range(LISTENERS)]
            assert all(s.status == 200 for s in streams)
            for stream in streams:  # each has had its first bytes: it is subscribed
                assert (await stream.content.readline()).startswith(b"retry:")
            await asyncio.sleep(0.5)
            listening = await cpu_seconds(process, WINDOW)
            print(f"server CPU over {WINDOW} s: {idle:.3f} s idle, {listening:.3f} s with {LISTENERS} listeners")
            assert listening - idle < 0.05 * WINDOW, (idle, listening)
            started = time.monotonic()
            assert server.terminate(timeout=20) == 0  # open streams do not hold up a graceful stop
            assert time.monotonic() - started < 10
            for stream in streams:
                stream.close()
    finally:
        server.stop()
