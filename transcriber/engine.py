"""The Engine protocol and the faster-whisper engine: load once, transcribe in bounded chunks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

from transcriber import audio
from transcriber.models import ModelNotFound, resolve_model, tokenizer_languages
from transcriber.options import JobOptions
from transcriber.parallelism import derive_parallelism
from transcriber.settings import Settings, WhisperSettings
from transcriber.transcript import Decoding, Segment, Transcript, Word

log = logging.getLogger(__name__)

# Called from the worker thread after each segment with (segment, detected language).
# It may raise to stop the job (cancellation, shutdown).
SegmentCallback = Callable[[Segment, str | None], None]

# Sequential decoding computes features for the whole input at once (about 2.5 GB per hour), so
# long audio goes through in chunks cut at quiet points; batched mode already works per window.
SEQUENTIAL_CHUNK_SECONDS = 600.0
BATCHED_CHUNK_SECONDS = 600.0  # measured: 1200 s chunks took 1.17 GiB above idle on an hour of audio
PROMPT_CARRY_CHARS = 400


@dataclass(frozen=True)
class EngineInfo:
    name: str
    path: str
    source: str
    device: str
    compute_type: str
    workers: int
    cpu_threads: int
    fast_mode: bool
    multilingual: bool
    load_seconds: float
    versions: dict[str, str] = field(default_factory=dict)
    languages: tuple[str, ...] = ()  # the codes the model's tokenizer knows, multilingual or not

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Engine(Protocol):
    """What the scheduler needs from a speech engine; a fake one serves scheduler tests."""

    @property
    def info(self) -> EngineInfo: ...

    def transcribe(
        self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback
    ) -> Transcript: ...


def load_engine(settings: Settings) -> FasterWhisperEngine:
    """Resolve and load the configured model; blocking, so it runs in a thread at start-up."""
    import ctranslate2
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    whisper = settings.whisper
    started = time.perf_counter()
    resolved = resolve_model(whisper.model, settings.models_dir)
    device = whisper.device
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    workers, threads = derive_parallelism(whisper, device)
    model = WhisperModel(
        str(resolved.path),
        device=device,
        compute_type=whisper.compute_type,
        cpu_threads=threads,
        num_workers=workers,
        local_files_only=True,
    )
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
    )
    batched = BatchedInferencePipeline(model) if whisper.fast_mode else None
    return FasterWhisperEngine(model, batched, info, whisper)


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
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-load")
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


class FasterWhisperEngine:
    """A loaded WhisperModel; transcribe() is called from executor threads, one job per thread."""

    def __init__(self, model: Any, batched: Any, info: EngineInfo, whisper: WhisperSettings):
        self._model = model
        self._batched = batched
        self._info = info
        self._whisper = whisper

    @property
    def info(self) -> EngineInfo:
        return self._info

    @property
    def _beam_size(self) -> int:
        return self._whisper.fast_beam_size if self._batched is not None else self._whisper.beam_size

    def settings_for(self, options: JobOptions) -> dict[str, Any]:
        """The decoding settings a job runs with, recorded in its JSON result."""
        base: dict[str, Any] = {**options.to_dict(), "beam_size": self._beam_size}
        if self._batched is not None:
            return {**base, "mode": "batched", "batch_size": self._whisper.batch_size, "vad_filter": True}
        return {**base, "mode": "sequential", "vad_filter": False, "condition_on_previous_text": True}

    def transcribe(self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback) -> Transcript:
        chunk = self._whisper.chunk_seconds or (
            BATCHED_CHUNK_SECONDS if self._batched is not None else SEQUENTIAL_CHUNK_SECONDS
        )
        language, probability = options.language, None if options.language is None else 1.0
        segments: list[Segment] = []
        for offset, samples in audio.chunks(audio.decode(path, audio.decode_cap(duration)), chunk):
            prompt = _carry_prompt(options.initial_prompt, segments)
            found, info = self._run(samples, options, language, prompt)
            if language is None or probability is None:
                language, probability = info.language, info.language_probability
            for raw in found:
                seg = _convert(raw, offset)
                on_segment(seg, language)
                segments.append(seg)
        provenance = {"model": self._info.name, "device": self._info.device, "compute_type": self._info.compute_type}
        return Transcript(
            language=language,
            language_probability=probability,
            duration=duration,
            segments=tuple(segments),
            settings=self.settings_for(options),
            provenance={**provenance, **self._info.versions},
        )

    def _run(
        self, samples: audio.Samples, options: JobOptions, language: str | None, prompt: str | None
    ) -> tuple[Iterable[Any], Any]:
        common: dict[str, Any] = {
            "language": language,
            "task": options.task,
            "beam_size": self._beam_size,
            "word_timestamps": options.word_timestamps,
            "initial_prompt": prompt,
            "hotwords": options.hotwords,
        }
        if self._batched is not None:
            return self._batched.transcribe(samples, batch_size=self._whisper.batch_size, vad_filter=True, **common)  # type: ignore[no-any-return]
        return self._model.transcribe(samples, **common)  # type: ignore[no-any-return]


def _carry_prompt(initial: str | None, segments: list[Segment]) -> str | None:
    """Context for the next chunk, as condition_on_previous_text gives within one chunk."""
    if not segments:
        return initial
    tail = " ".join(s.text.strip() for s in segments[-8:])[-PROMPT_CARRY_CHARS:]
    return f"{initial} {tail}" if initial else tail


def _convert(raw: Any, offset: float) -> Segment:
    words = None
    if raw.words is not None:
        words = tuple(Word(w.start + offset, w.end + offset, w.word, w.probability) for w in raw.words)
    decoding = Decoding(
        seek=raw.seek + round(offset * 100),
        tokens=tuple(raw.tokens),
        temperature=raw.temperature or 0.0,
        avg_logprob=raw.avg_logprob,
        compression_ratio=raw.compression_ratio,
        no_speech_prob=raw.no_speech_prob,
    )  # seek counts 10 ms frames from the start of the file, as Whisper's does within one chunk
    return Segment(start=raw.start + offset, end=raw.end + offset, text=raw.text, words=words, decoding=decoding)
