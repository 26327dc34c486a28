"""The live lane: its own model replica and threads at normal CPU priority, and the session limits.

File jobs decode in threads lowered to nice 10 (speech/priority.py); live decoding runs in this
lane's threads at the event loop's priority, on a replica of the same weights, so a live session
never waits behind a queued file job and wins the cores from running ones about 9 to 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from transcriber.setting_sections import LiveSettings
from transcriber.speech.engine import EngineInfo
from transcriber.speech.live import load_live_model

log = logging.getLogger(__name__)
T = TypeVar("T")


class SessionRefused(Exception):
    """No slot for a new session; `code` names why (the error event's code)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class LiveLane:
    """Counts sessions (in all and per key), loads the live replica once, runs its decoding."""

    def __init__(self, settings: LiveSettings, load: Callable[..., Any] = load_live_model):
        self._settings = settings
        self._load = load
        self._sessions: Counter[str] = Counter()
        self._model: asyncio.Future[Any] | None = None
        self._ending: set[asyncio.Task[None]] = set()
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.workers) * 2, thread_name_prefix="live")

    @property
    def settings(self) -> LiveSettings:
        return self._settings

    @property
    def active(self) -> int:
        return sum(self._sessions.values())

    @contextlib.contextmanager
    def session(self, key: str | None) -> Iterator[None]:
        """Hold a session slot for `key` (the caller's key id; None without keys: no per-key cap), or refuse it."""
        s = self._settings
        if not s.enabled or s.max_sessions <= 0:
            raise SessionRefused("live_disabled", "Live transcription is turned off on this server.")
        if self.active >= s.max_sessions:
            message = f"{s.max_sessions} live sessions are running; the server takes no more now."
            raise SessionRefused("too_many_sessions", message)
        if key is not None and s.max_sessions_per_key and self._sessions[key] >= s.max_sessions_per_key:
            message = f"This key already has {s.max_sessions_per_key} live sessions open."
            raise SessionRefused("too_many_sessions_for_key", message)
        slot = key or ""
        self._sessions[slot] += 1
        try:
            yield
        finally:
            self._sessions[slot] -= 1

    async def model(self, info: EngineInfo) -> Any:
        """The live replica of the loaded model, loaded on first use (in a lane thread: normal priority)."""
        if self._model is None:
            threads = self._settings.cpu_threads or os.cpu_count() or 1
            loop = asyncio.get_running_loop()
            workers = max(1, self._settings.workers)
            load = functools.partial(self._load, info.path, info.device, info.compute_type, workers, threads)
            self._model = loop.run_in_executor(self._pool, load)
            log.info("loading the live replica of %s (%d x %d threads)", info.name, workers, threads)
        return await asyncio.shield(self._model)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A session's last work (its final turns, saving it), held here until done or the app stops."""
        task = asyncio.create_task(work)
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)
        return task

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def drain(self, timeout: float) -> None:
        """Let ending sessions finish (their last turns, their jobs saved) within `timeout`."""
        if self._ending:
            await asyncio.wait(self._ending, timeout=timeout)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
