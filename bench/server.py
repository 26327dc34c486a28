"""The real server as a subprocess: start on a free port with chosen settings, time start-up, stop."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.procs import RssMonitor
from transcriber.settings import ENV_OVERRIDES

CONFIG = "[summarizer]\nenabled = false\n"  # summaries are another service's cost, not measured here
REPO = Path(__file__).resolve().parent.parent
_serial = itertools.count(1)


@dataclass(frozen=True)
class ServerConfig:
    model: str = "tiny.en"
    fast_mode: bool = False
    workers: int = 0  # 0: the server's own default
    cpu_threads: int = 0
    env: dict[str, str] = field(default_factory=dict)
    toml: str = ""  # appended to the config file, for settings that have no environment variable

    @property
    def label(self) -> str:
        mode = "fast" if self.fast_mode else "default"
        shape = f"{self.workers or 'auto'}x{self.cpu_threads or 'auto'}"
        return f"{self.model} {mode} {shape}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One server process on its own data directory; the model cache is shared between runs."""

    def __init__(self, config: ServerConfig, work_dir: Path, models_dir: Path):
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = work_dir / f"server-{next(_serial)}"
        self.data_dir = self.dir / "data"
        self.models_dir = models_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.monitor: RssMonitor | None = None
        self.health: dict[str, Any] = {}
        self.listening_seconds: float | None = None
        self.ready_seconds = 0.0
        self.idle_rss = 0.0

    def env(self) -> dict[str, str]:
        """The environment the server runs with (for a command-line run on the same data)."""
        return self._env()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
        for name in ("TRANSCRIBER_CONFIG", "REDIS_URL", "TRANSCRIBER_DATA_DIR", "TRANSCRIBER_MODELS_DIR"):
            env.pop(name, None)
        env.update(
            TRANSCRIBER_DATA_DIR=str(self.data_dir),
            TRANSCRIBER_MODELS_DIR=str(self.models_dir),
            TRANSCRIBE_SERVER_HOST="127.0.0.1",
            TRANSCRIBE_SERVER_PORT=str(self.port),
            WHISPER_MODEL=self.config.model,
            WHISPER_FAST_MODE=str(self.config.fast_mode).lower(),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(REPO),
        )
        env.update(self.config.env)
        if self.config.workers:
            env["TRANSCRIBER_WORKERS"] = str(self.config.workers)
        if self.config.cpu_threads:
            env["TRANSCRIBER_CPU_THREADS"] = str(self.config.cpu_threads)
        return env

    async def start(self, timeout: float = 120.0) -> float:
        """Spawn the process and wait for /health 200; returns seconds from spawn to ready."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        started = self._spawn()
        await self._wait_ready(started, timeout)
        self.ready_seconds = time.perf_counter() - started
        await asyncio.sleep(0.3)  # let start-up garbage settle before the idle figure
        assert self.monitor is not None
        self.idle_rss = self.monitor.current()
        return self.ready_seconds

    def _spawn(self) -> float:
        """Start the process (a quick call, no waiting); returns the perf_counter at spawn."""
        config = self.dir / "bench.toml"
        config.write_text(CONFIG + self.config.toml)
        command = [sys.executable, "-m", "transcriber", "--config", str(config), "serve"]
        with (self.dir / "server.log").open("wb") as log:
            started = time.perf_counter()
            self.proc = subprocess.Popen(command, env=self._env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)
        self.monitor = RssMonitor(self.proc.pid).start()
        return started

    async def _wait_ready(self, started: float, timeout: float) -> None:
        timeouts = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeouts) as session:
            while True:
                self._check_alive()
                try:
                    async with session.get(f"{self.url}/health") as resp:
                        if self.listening_seconds is None:
                            self.listening_seconds = time.perf_counter() - started
                        if resp.status == 200:
                            self.health = await resp.json()
                            return
                except (aiohttp.ClientConnectionError, TimeoutError):
                    pass
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"server not ready in {timeout:.0f} s:\n{self.log_tail()}")
                await asyncio.sleep(0.01)

    def _check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"server exited during start-up:\n{self.log_tail()}")

    @property
    def workers(self) -> int:
        return int(self.health.get("model", {}).get("workers", 1))

    @property
    def cpu_threads(self) -> int:
        return int(self.health.get("model", {}).get("cpu_threads", 1))

    @property
    def peak_rss(self) -> float:
        """MiB: the most the process has held since it started (or the monitor was reset)."""
        assert self.monitor is not None
        return self.monitor.peak()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        """Kill without the graceful drain: the benchmark is done with whatever still runs."""
        if self.monitor is not None:
            self.monitor.stop()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def log_tail(self, chars: int = 3000) -> str:
        path = self.dir / "server.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    async def __aenter__(self) -> Server:
        try:
            await self.start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
