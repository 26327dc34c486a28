"""The Engine protocol and the faster-whisper engine: load once, transcribe in bounded chunks."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

from transcriber import audio, channels
from transcriber.cleanup import Cleaner
from transcriber.decoded import convert, main_language, remember, scores
from transcriber.decoding import Decoding
from transcriber.decoding import choose as choose_decoding
from transcriber.models import resolve_model
from transcriber.options import JobOptions
from transcriber.settings import Settings, WhisperSettings
from transcriber.speakers import labels
from transcriber.speech import Run, Window, language_runs, single_run, speech_windows
from transcriber.transcript import Segment, Transcript

log = logging.getLogger(__name__)

# Called from the worker thread after each segment with (segment, detected language).
# It may raise to stop the job (cancellation, shutdown).
SegmentCallback = Callable[[Segment, str | None], None]

# Sequential decoding computes features for the whole input at once (about 2.5 GB per hour), so
# long audio goes through in chunks cut at quiet points; batched mode already works per window.
SEQUENTIAL_CHUNK_SECONDS = 600.0
BATCHED_CHUNK_SECONDS = 600.0  # measured: 1200 s chunks took 1.17 GiB above idle on an hour of audio
PROMPT_CARRY_CHARS = 400
# (raw faster-whisper segment, seconds to add to its times, language, language probability)
Decoded = tuple[Any, float, str | None, float | None]


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Engine(Protocol):
    """What the scheduler needs from a speech engine; a fake one serves scheduler tests."""

    @property
    def info(self) -> EngineInfo: ...

    def transcribe(
        self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback
    ) -> Transcript: ...


def derive_parallelism(whisper: WhisperSettings, device: str, cores: int | None = None) -> tuple[int, int]:
    """(workers, cpu_threads): jobs at once and threads per job, unless configured."""
    cores = cores or os.cpu_count() or 1
    if device == "cuda":
        workers = whisper.workers or 2
    else:
        # Measured (bench/, 2 cores): 2 jobs x 1 thread gave 16% more throughput than 1 x 2,
        # because decoding, feature extraction and the Python loop around the model are serial.
        # Two threads per job keep single-job latency reasonable on bigger machines.
        # Fast mode is for the latency of long files: its batches keep more threads busy per job.
        per_job = whisper.cpu_threads or (min(cores, 4) if whisper.fast_mode else 1 if cores <= 2 else 2)
        workers = whisper.workers or max(1, cores // per_job)
    threads = whisper.cpu_threads or max(1, cores // workers)
    return workers, threads


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
        str(resolved.path), device=device, compute_type=whisper.compute_type,
        cpu_threads=threads, num_workers=workers, local_files_only=True,
    )  # fmt: skip
    info = EngineInfo(
        name=resolved.name, path=str(resolved.path), source=resolved.source, device=device,
        compute_type=whisper.compute_type, workers=workers, cpu_threads=threads,
        fast_mode=whisper.fast_mode, multilingual=model.model.is_multilingual,
        load_seconds=round(time.perf_counter() - started, 3),
        versions={"faster_whisper": version("faster-whisper"), "ctranslate2": ctranslate2.__version__},
    )  # fmt: skip
    batched = BatchedInferencePipeline(model) if whisper.fast_mode else None
    return FasterWhisperEngine(model, batched, info, whisper)


class FasterWhisperEngine:
    """A loaded WhisperModel; transcribe() is called from executor threads, one job per thread."""

    def __init__(self, model: Any, batched: Any, info: EngineInfo, whisper: WhisperSettings):
        self._model = model
        self._batched = batched
        self._info = info
        self._whisper = whisper
        self._decoding: Decoding | None = None

    @property
    def info(self) -> EngineInfo:
        return self._info

    @property
    def _beam_size(self) -> int:
        return self._whisper.fast_beam_size if self._batched is not None else self._whisper.beam_size

    @property
    def decoding(self) -> Decoding:
        """The guards this engine decodes with; bench/quality.py swaps them to measure each."""
        if self._decoding is None:
            self._decoding = choose_decoding(
                self._info.name, batched=self._batched is not None, multilingual=self._info.multilingual
            )
        return self._decoding

    @decoding.setter
    def decoding(self, value: Decoding) -> None:
        self._decoding = value

    def settings_for(self, options: JobOptions) -> dict[str, Any]:
        """The decoding settings a job runs with, recorded in its JSON result."""
        batched = self._batched is not None
        base: dict[str, Any] = {**options.to_dict(), "beam_size": self._beam_size, **self.decoding.describe(batched)}
        if batched:
            return {**base, "mode": "batched", "batch_size": self._whisper.batch_size, "vad_filter": True}
        return {**base, "mode": "sequential", "vad_filter": self.decoding.vad}

    def transcribe(self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback) -> Transcript:
        probabilities: dict[str, float] = {}
        if options.channels == "split":
            segments = self._split_channels(path, duration, options, on_segment, probabilities)
        else:
            segments = self._transcribe_stream(audio.decode(path), options, on_segment, probabilities)
        language, probability = main_language(segments, options.language, probabilities)
        return Transcript(
            language=language, language_probability=probability, duration=duration,
            segments=tuple(segments), settings=self.settings_for(options),
            provenance={"model": self._info.name, "device": self._info.device,
                        "compute_type": self._info.compute_type, **self._info.versions},
        )  # fmt: skip

    def _split_channels(
        self, path: Path, duration: float, options: JobOptions, on_segment: SegmentCallback, probs: dict[str, float]
    ) -> list[Segment]:
        """Each channel on its own, merged by time; progress runs over both passes."""
        names = labels(options.speakers)
        found: list[list[Segment]] = []
        for index, name in enumerate(names):

            def report(seg: Segment, language: str | None, index: int = index, name: str = name) -> None:
                # Progress is end / duration: the second pass continues where the first ended.
                at = (index * duration + seg.end) / len(names)
                on_segment(replace(seg, speaker=name, end=max(seg.start, at)), language)

            found.append(self._transcribe_stream(channels.decode_channel(path, index), options, report, probs))
        return channels.merge(found, names)

    def _transcribe_stream(
        self, blocks: Iterator[audio.Samples], options: JobOptions, on_segment: SegmentCallback, probs: dict[str, float]
    ) -> list[Segment]:
        """Chunk by chunk: decode, clean, report each kept segment; probs gets each language's probability."""
        chunk = self._whisper.chunk_seconds or (
            BATCHED_CHUNK_SECONDS if self._batched is not None else SEQUENTIAL_CHUNK_SECONDS
        )
        cleaner = Cleaner(self.decoding.cleanup)
        segments: list[Segment] = []
        for offset, samples in audio.chunks(blocks, chunk):
            for raw, shift, language, probability in self._run(samples, options, segments):
                seg = cleaner.accept(convert(raw, offset + shift, language, options.word_timestamps), scores(raw))
                if seg is not None:
                    on_segment(seg, language)
                    segments.append(seg)
                    remember(probs, language, probability)
        return segments

    def _run(self, samples: audio.Samples, options: JobOptions, before: list[Segment]) -> Iterator[Decoded]:
        """(raw segment, its time shift, language, probability) for one chunk, run by run of one language."""
        for run in self._runs(samples, options):
            same = bool(before) and before[-1].language == run.language
            prompt = _carry_prompt(options.initial_prompt, before if same else [])
            found, info, shift = self._decode(samples, run, options, prompt)
            language = run.language or info.language
            probability = run.probability if run.language else info.language_probability
            for raw in found:
                yield raw, shift, language, probability

    def _runs(self, samples: audio.Samples, options: JobOptions) -> list[Run]:
        """The chunk as stretches of one language (detected per VAD window when the job gave none)."""
        d = self.decoding
        language = options.language if self._info.multilingual else "en"
        probability = None if language is None else 1.0
        detect = language is None and d.per_window_language
        sequential_vad = self._batched is None and d.vad
        if not detect and not sequential_vad:
            return single_run(language, probability, [Window(0.0, len(samples) / audio.SAMPLE_RATE)])
        windows = speech_windows(samples, d.vad_options(), d.window_seconds, d.merge_gap)
        if not detect:
            return single_run(language, probability, windows)
        return language_runs(samples, windows, self._detect)

    def _detect(self, samples: audio.Samples) -> tuple[str, float]:
        language, probability, _ = self._model.detect_language(audio=samples)
        return str(language), float(probability)

    def _decode(
        self, samples: audio.Samples, run: Run, options: JobOptions, prompt: str | None
    ) -> tuple[Iterable[Any], Any, float]:
        """Decode only the run's stretch of the chunk; segment times then start at run.start."""
        common: dict[str, Any] = {
            "language": run.language, "task": options.task, "beam_size": self._beam_size,
            "initial_prompt": prompt, "hotwords": options.hotwords,
        }  # fmt: skip
        piece = samples[int(run.start * audio.SAMPLE_RATE) : int(run.end * audio.SAMPLE_RATE)]
        if self._batched is not None:
            # The pipeline's own VAD packs speech (not pauses) into its windows: measured, that
            # drops fewer words than handing it our windows (bench/QUALITY.md).
            kwargs = self.decoding.batched_kwargs(options.word_timestamps)
            found, info = self._batched.transcribe(piece, batch_size=self._whisper.batch_size, **kwargs, **common)
            return found, info, run.start
        clips: str | list[float] = "0"
        if self.decoding.vad:
            clips = [t - run.start for w in run.windows for t in (w.start, w.end)]
        kwargs = self.decoding.sequential_kwargs(options.word_timestamps)
        found, info = self._model.transcribe(piece, clip_timestamps=clips, **kwargs, **common)
        return found, info, run.start


def _carry_prompt(initial: str | None, segments: list[Segment]) -> str | None:
    """Context for the next chunk, as condition_on_previous_text gives within one chunk."""
    if not segments:
        return initial
    tail = " ".join(s.text.strip() for s in segments[-8:])[-PROMPT_CARRY_CHARS:]
    return f"{initial} {tail}" if initial else tail
