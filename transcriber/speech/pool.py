"""Several models at once: the default one for the server's life, further ones loaded on first use
in a background thread and unloaded after a while idle, at most a bounded number in memory."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from transcriber.settings import Settings
from transcriber.speech.engine import Engine, EngineInfo
from transcriber.speech.loader import load_engine
from transcriber.speech.priority import lower_this_thread

log = logging.getLogger(__name__)
REAP_INTERVAL_MAX = 30.0


class ModelUnavailable(Exception):
    """A job's model is not configured here or failed to load; the message says which and why."""


@runtime_checkable
class Closable(Protocol):
    def close(self) -> None: ...


def public_name(entry: str) -> str:
    """The name requests use for a configured model: a directory's own name, else the entry."""
    return Path(entry).name if os.sep in entry or Path(entry).expanduser().is_dir() else entry


@dataclass
class _Slot:
    """One further model: what to load, and its state (touched on the event loop only)."""

    entry: str
    engine: Engine | None = None
    loading: asyncio.Future[Engine] | None = None
    users: int = 0
    last_used: float = 0.0
    error: str | None = None


class ModelPool:
    """Hands jobs the engine of the model they need; the event loop owns every slot's state."""

    def __init__(
        self,
        default: Callable[[], Engine | None],
        default_name: str,
        load: Callable[[str], Engine],
        entries: tuple[str, ...] = (),
        ttl: float = 0.0,
        bound: int = 2,
    ):
        self._default = default
        self._configured = public_name(default_name)
        self._load = load
        self._slots = {public_name(e): _Slot(e) for e in entries if public_name(e) != self._configured}
        self._ttl = ttl
        self._bound = bound
        self._waiting: list[asyncio.Future[None]] = []  # jobs waiting for a loaded model to be released
        self._threads: ThreadPoolExecutor | None = None
        self._reaper: asyncio.Task[None] | None = None

    @classmethod
    def configured(
        cls, settings: Settings, default: Callable[[], Engine | None], load: Callable[..., Engine] = load_engine
    ) -> ModelPool:
        """The pool [whisper] describes; further models are never downloaded by a request."""
        whisper = settings.whisper

        def load_entry(entry: str) -> Engine:
            return load(replace(settings, whisper=replace(whisper, model=entry)), allow_download=False)

        return cls(default, whisper.model, load_entry, whisper.models, whisper.model_ttl, whisper.max_loaded_models)

    @property
    def default_name(self) -> str:
        """The loaded default model's name (the configured one while it loads)."""
        engine = self._default()
        return engine.info.name if engine is not None else self._configured

    def names(self) -> tuple[str, ...]:
        return (self.default_name, *self._slots)

    def listing(self) -> list[dict[str, Any]]:
        """/health's `models`: each model, whether it is in memory now, and a failed load's reason."""
        default = [{"name": self.default_name, "loaded": self._default() is not None, "default": True}]
        others = [
            {"name": name, "loaded": slot.engine is not None, "default": False}
            | ({"error": slot.error} if slot.error else {})
            for name, slot in self._slots.items()
        ]
        return default + others

    def info(self, name: str | None) -> EngineInfo | None:
        """The loaded model's info (None while it is not in memory)."""
        engine = self._default() if self._is_default(name) else self._slots[str(name)].engine
        return engine.info if engine is not None else None

    def multilingual(self, name: str | None) -> bool:
        """Known once loaded; before that, Whisper's naming says it (`.en` models are English-only)."""
        info = self.info(name)
        return info.multilingual if info is not None else not str(name).endswith(".en")

    def _is_default(self, name: str | None) -> bool:
        return not name or name in (self._configured, self.default_name)

    def prefetch(self, name: str | None) -> None:
        """Start loading a job's model as it is queued, so the load overlaps its wait in the queue."""
        if self._is_default(name) or name not in self._slots:
            return
        slot = self._slots[name]
        if slot.engine is None and slot.loading is None and (self._room() or self._evict()):
            self._start_load(name, slot)

    @contextlib.asynccontextmanager
    async def use(self, name: str | None) -> AsyncIterator[Engine]:
        """The engine for one job, loading it first if need be; it is not unloaded while in use."""
        if self._is_default(name):
            engine = self._default()
            if engine is None:
                raise ModelUnavailable("the default model is not loaded")
            yield engine
            return
        slot = self._slots.get(str(name))
        if slot is None:
            raise ModelUnavailable(f"model {name!r} is not configured on this server ([whisper] models)")
        engine = await self._acquire(str(name), slot)
        try:
            yield engine
        finally:
            slot.users -= 1
            slot.last_used = time.monotonic()
            self._notify()

    async def _acquire(self, name: str, slot: _Slot) -> Engine:
        while True:
            if slot.engine is not None:
                slot.users += 1
                return slot.engine
            if slot.loading is not None:
                try:
                    await asyncio.shield(slot.loading)
                except Exception as exc:  # every job waiting on this load learns why it failed
                    raise ModelUnavailable(_load_error(name, exc)) from exc
                continue
            if self._room() or self._evict():
                self._start_load(name, slot)
                continue
            waiting = asyncio.get_running_loop().create_future()  # every loaded model is busy
            self._waiting.append(waiting)
            await waiting

    def _room(self) -> bool:
        busy = sum(1 for s in self._slots.values() if s.engine is not None or s.loading is not None)
        return 1 + busy < self._bound

    def _evict(self) -> bool:
        """Unload the least recently used idle model to make room; False if every one is in use."""
        idle = [(s.last_used, n) for n, s in self._slots.items() if s.engine is not None and s.users == 0]
        if not idle:
            return False
        self._unload(min(idle)[1], "to make room")
        return True

    def _start_load(self, name: str, slot: _Slot) -> None:
        log.info("loading model %r on first use", name)
        started = time.perf_counter()
        if self._threads is None:
            self._threads = ThreadPoolExecutor(1, thread_name_prefix="model-load", initializer=lower_this_thread)
        loading = asyncio.get_running_loop().run_in_executor(self._threads, self._load, slot.entry)
        slot.loading = asyncio.ensure_future(loading)

        def done(future: asyncio.Future[Engine]) -> None:
            slot.loading = None
            if future.cancelled():
                return
            if (exc := future.exception()) is not None:
                slot.error = _load_error(name, exc)
                log.error("%s", slot.error)
            else:
                slot.engine, slot.error, slot.last_used = future.result(), None, time.monotonic()
                log.info("model %r loaded in %.2f s", name, time.perf_counter() - started)
            self._notify()

        slot.loading.add_done_callback(done)

    def _unload(self, name: str, why: str) -> None:
        slot = self._slots[name]
        engine, slot.engine = slot.engine, None
        if isinstance(engine, Closable):
            engine.close()
        del engine
        trim_heap()
        log.info("model %r unloaded (%s)", name, why)

    def _notify(self) -> None:
        """Wake every waiting job to look again (a model was released, or a load ended)."""
        waiting, self._waiting = self._waiting, []
        for future in waiting:
            if not future.done():
                future.set_result(None)

    def start(self) -> None:
        """Start unloading idle models (when a TTL is set and there is anything to unload)."""
        if self._ttl > 0 and self._slots and self._reaper is None:
            self._reaper = asyncio.create_task(self._reap(), name="model-reaper")

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(max(self._ttl / 4, 0.1), REAP_INTERVAL_MAX))
            now = time.monotonic()
            for name, slot in self._slots.items():
                if slot.engine is not None and slot.users == 0 and now - slot.last_used >= self._ttl:
                    self._unload(name, f"idle for {self._ttl:g} s")

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        for name, slot in self._slots.items():
            if slot.engine is not None and slot.users == 0:
                self._unload(name, "shutting down")
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)


def trim_heap() -> None:
    """Give freed memory back to the system: glibc keeps a model's freed weights in its heap (a
    base model measured 281 MiB resident after unloading, 168 MiB after this), so RSS would not
    drop otherwise. A no-op where the C library has no malloc_trim."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _load_error(name: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return f"model {name!r} failed to load: {type(exc).__name__}: {text}"
