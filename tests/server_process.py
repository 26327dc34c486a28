"""Run `python -m transcriber serve` as a real subprocess on a free port, for crash and CLI tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import free_port


class ServerProcess:
    """One data directory; start() may be called again after a kill to restart on it."""

    def __init__(self, data_dir: Path, config: Path | None = None, **env: str):
        self.data_dir = data_dir
        self.config = str(config) if config else os.devnull
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "TRANSCRIBER_DATA_DIR": str(data_dir),
            "TRANSCRIBE_SERVER_HOST": "127.0.0.1",
            "TRANSCRIBE_SERVER_PORT": str(self.port),
            "WHISPER_MODEL": "tiny.en",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.env.pop("TRANSCRIBER_CONFIG", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}-server.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "transcriber", "--config", self.config, "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir.parent,
            )

    async def wait_ready(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                assert self.proc is not None and self.proc.poll() is None, self.output()
                try:
                    async with session.get(f"{self.url}/health") as resp:
                        if resp.status == 200:
                            body: dict[str, Any] = await resp.json()
                            return body
                except aiohttp.ClientConnectionError:
                    pass
                assert time.monotonic() < deadline, f"server not ready in {timeout} s:\n{self.output()}"
                await asyncio.sleep(0.05)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:] if self.log.exists() else ""
