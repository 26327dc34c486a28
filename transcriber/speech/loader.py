"""Loading the faster-whisper engine: the model, its device and threads, once, in a thread of its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.metadata import version
from typing import Any

from transcriber.settings import Settings
from transcriber.speech.engine import Engine, EngineInfo, FasterWhisperEngine
from transcriber.speech.models import ModelNotFound, resolve_model, tokenizer_languages
from transcriber.speech.parallelism import derive_parallelism, wide_threads
from transcriber.speech.priority import lower_this_thread

log = logging.getLogger(__name__)

# The lone-job copy (parallelism.wide_threads) costs its weights again in memory, measured idle:
# tiny.en +48 MiB, base +107 MiB. Up to small (484 MB) it is kept; medium and larger go without.
WIDE_MAX_WEIGHTS_BYTES = 600 * 1000 * 1000


def load_engine(settings: Settings, *, allow_download: bool = True) -> FasterWhisperEngine:
    """Resolve and load the configured model; blocking, so it runs in a thread."""
    import ctranslate2
    from faster_whisper import WhisperModel

    whisper = settings.whisper
    started = time.perf_counter()
    resolved = resolve_model(whisper.model, settings.models_dir, allow_download=allow_download)
    device = whisper.device
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    workers, threads = derive_parallelism(whisper, device)
    wide = wide_threads(whisper, device, workers=workers, threads=threads)
    if wide and (resolved.path / "model.bin").stat().st_size > WIDE_MAX_WEIGHTS_BYTES:
        wide = 0  # a second copy of a large model's weights would cost more memory than it is worth

    def load(threads: int, replicas: int) -> Any:
        return WhisperModel(
            str(resolved.path),
            device=device,
            compute_type=whisper.compute_type,
            cpu_threads=threads,
            num_workers=replicas,
            local_files_only=True,
        )

    model = load(threads, workers)
    info = EngineInfo(
        name=resolved.name,
        path=str(resolved.path),
        source=resolved.source,
        device=device,
        compute_type=whisper.compute_type,
        workers=workers,
        cpu_threads=threads,
        fast_mode=whisper.fast_mode,
        multilingual=model.model.is_multilingual,
        load_seconds=round(time.perf_counter() - started, 3),
        versions={"faster_whisper": version("faster-whisper"), "ctranslate2": ctranslate2.__version__},
        languages=tokenizer_languages(resolved.path),
        wide_threads=wide,
    )
    return FasterWhisperEngine(model, info, whisper, load(wide, 1) if wide else None)


class EngineLoader:
    """Loads the engine once in its own thread, started early so it overlaps the web stack's imports.

    The app waits on it before starting workers; /health and the CLI ask it for the outcome.
    """

    def __init__(self, settings: Settings, load: Callable[[Settings], Engine] = load_engine):
        self._settings = settings
        self._load = load
        self._future: Future[Engine] | None = None

    @classmethod
    def loaded(cls, engine: Engine, settings: Settings) -> EngineLoader:
        loader = cls(settings, lambda _settings: engine)
        loader.start()
        return loader

    def start(self) -> None:
        if self._future is not None:
            return
        whisper = self._settings.whisper
        log.info("loading model %r on %s (%s)", whisper.model, whisper.device, whisper.compute_type)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load", initializer=lower_this_thread)
        self._future = pool.submit(self._load, self._settings)
        pool.shutdown(wait=False)

    async def wait(self) -> Engine | None:
        """The engine once loaded; None if loading failed (error() says why)."""
        self.start()
        assert self._future is not None
        with contextlib.suppress(Exception):
            await asyncio.wrap_future(self._future)
        return self.engine()

    def engine(self) -> Engine | None:
        if self._future is None or not self._future.done() or self._future.exception() is not None:
            return None
        return self._future.result()

    def info(self) -> EngineInfo | None:
        engine = self.engine()
        return engine.info if engine is not None else None

    def error(self) -> str | None:
        """One clear line when loading failed: a missing model says what to do."""
        if self._future is None or not self._future.done():
            return None
        exc = self._future.exception()
        if exc is None or isinstance(exc, ModelNotFound):
            return None if exc is None else str(exc)
        return f"loading model {self._settings.whisper.model!r} failed: {type(exc).__name__}: {exc}"
