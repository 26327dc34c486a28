"""One job's pass over its audio: runs of one language, decoded sequentially or in batches, then cleaned."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from transcriber.domain.options import JobOptions
from transcriber.outputs.transcript import Segment
from transcriber.speech import audio, parts
from transcriber.speech.batching import LanguagePipeline
from transcriber.speech.cleanup import Cleaner
from transcriber.speech.profiles import Decoding
from transcriber.speech.regions import MIXED_BELOW, Run, Window, language_runs, single_run, speech_windows
from transcriber.speech.segments import convert, remember, scores

PROMPT_CARRY_CHARS = 400
# Subtitle cues are cut at word boundaries by time, and speakers are given per word, so every job
# decodes word timings whether or not its JSON shows them (the cost: bench/word_timings.py).
WORD_TIMINGS = True
PLACEHOLDER_LANGUAGE = "en"
# (raw faster-whisper segment, seconds to add to its times, language, language probability)
Decoded = tuple[Any, float, str | None, float | None]
# Called after each kept segment with (segment, its language); it may raise to stop the job.
Report = Callable[[Segment, str | None], None]


@dataclass(frozen=True)
class Decoder:
    """The loaded model with the settings one job decodes with (batched: fast mode)."""

    model: Any
    batched: bool
    decoding: Decoding
    multilingual: bool
    beam_size: int
    batch_size: int
    chunk_seconds: float
    parts: int = 1  # fast mode: a chunk is cut into this many parts, decoded at once (parts.py)

    def stream(
        self, blocks: Iterator[audio.Samples], options: JobOptions, report: Report, probs: dict[str, float]
    ) -> list[Segment]:
        """Chunk by chunk: decode, clean, report each kept segment; probs gets each language's probability."""
        cleaner = Cleaner(self.decoding.cleanup)
        segments: list[Segment] = []
        for offset, samples in audio.chunks(blocks, self.chunk_seconds):
            for raw, shift, language, probability in self._run(samples, options, segments):
                seg = cleaner.accept(convert(raw, offset + shift, language), scores(raw))
                if seg is not None:
                    report(seg, language)
                    segments.append(seg)
                    remember(probs, language, probability)
        return segments

    def _run(self, samples: audio.Samples, options: JobOptions, before: list[Segment]) -> Iterator[Decoded]:
        """(raw segment, its time shift, language, probability) for one chunk, run by run of one language."""
        for run in self._runs(samples, options):
            same = bool(before) and before[-1].language == run.language
            prompt = carry_prompt(options.initial_prompt, before if same else [])
            yield from self._decode(samples, run, options, prompt)

    def _runs(self, samples: audio.Samples, options: JobOptions) -> list[Run]:
        """The chunk as stretches of one language (detected per VAD window when the job gave none)."""
        d = self.decoding
        language = options.language if self.multilingual else "en"
        probability = None if language is None else 1.0
        # Batched mode detects each window's language in its own pass (batching.py).
        detect = language is None and d.per_window_language and not self.batched
        if not detect and not d.own_windows:
            return single_run(language, probability, [Window(0.0, len(samples) / audio.SAMPLE_RATE)])
        windows = speech_windows(samples, d.vad_options(), d.window_seconds, d.merge_gap)
        if not detect:
            return single_run(language, probability, windows)
        return language_runs(samples, windows, self._detect)

    def _detect(self, samples: audio.Samples) -> tuple[str, float]:
        language, probability, _ = self.model.detect_language(audio=samples)
        return str(language), float(probability)

    def _decode(self, samples: audio.Samples, run: Run, options: JobOptions, prompt: str | None) -> Iterator[Decoded]:
        """Decode only the run's stretch of the chunk; segment times then start at run.start."""
        common: dict[str, Any] = {
            "language": run.language,
            "task": options.task,
            "beam_size": self.beam_size,
            "initial_prompt": prompt,
            "hotwords": options.hotwords,
        }
        piece = samples[int(run.start * audio.SAMPLE_RATE) : int(run.end * audio.SAMPLE_RATE)]
        if self.batched:
            yield from self._decode_batched(piece, run, options, common)
            return
        clips: str | list[float] = "0"
        if self.decoding.own_windows:
            clips = [t - run.start for w in run.windows for t in (w.start, w.end)]
        kwargs = self.decoding.sequential_kwargs(WORD_TIMINGS)
        found, info = self.model.transcribe(piece, clip_timestamps=clips, **kwargs, **common)
        language = run.language or info.language
        probability = run.probability if run.language else info.language_probability
        for raw in found:
            yield raw, run.start, language, probability

    def _decode_batched(
        self, piece: audio.Samples, run: Run, options: JobOptions, common: dict[str, Any]
    ) -> Iterator[Decoded]:
        # The pipeline's own VAD packs speech (not pauses) into its windows: measured, that
        # drops fewer words than handing it our windows (bench/QUALITY.md).
        kwargs = self.decoding.batched_kwargs(WORD_TIMINGS)
        bounds = [(0, len(piece))]
        if self.decoding.own_windows:
            kwargs["clip_timestamps"] = [{"start": w.start - run.start, "end": w.end - run.start} for w in run.windows]
        else:
            bounds = parts.split(piece, self.parts)
        detect = run.language is None and self.decoding.per_window_language and self.multilingual
        if detect:
            common = {**common, "language": PLACEHOLDER_LANGUAGE}  # each window's token is set from its detection

        def part(index: int, stop: threading.Event) -> Iterator[Decoded]:
            start, end = bounds[index]
            shift = run.start + start / audio.SAMPLE_RATE
            pipeline = LanguagePipeline(self.model, detect=detect)
            found, info = pipeline.transcribe(piece[start:end], batch_size=self.batch_size, **kwargs, **common)
            if not detect:
                language = run.language or info.language
                probability = run.probability if run.language else info.language_probability
                yield from ((raw, shift, language, probability) for raw in found)
                return
            for seek, raws in by_window(found):
                window = pipeline.languages[seek]
                # Our own windows (split calls) are already cut at pauses: nothing finer to try.
                if (window.probability or 0.0) >= MIXED_BELOW or self.decoding.own_windows:
                    yield from ((raw, shift, window.language, window.probability) for raw in raws)
                else:  # speech in two languages may share this window: decode it again, split at pauses
                    span = piece[start:end][int(window.start * audio.SAMPLE_RATE) : int(window.end * audio.SAMPLE_RATE)]
                    yield from self._refine(span, shift + window.start, kwargs, common)

        return parts.in_order(len(bounds), part)

    def _refine(
        self, span: audio.Samples, shift: float, kwargs: dict[str, Any], common: dict[str, Any]
    ) -> Iterator[Decoded]:
        """A window whose language was unsure: our VAD windows, each detected, runs decoded apart."""
        d = self.decoding
        windows = speech_windows(span, d.vad_options(), d.window_seconds, d.merge_gap)
        for run in language_runs(span, windows, self._detect):
            piece = span[int(run.start * audio.SAMPLE_RATE) : int(run.end * audio.SAMPLE_RATE)]
            pipeline = LanguagePipeline(self.model, detect=False)
            found, _ = pipeline.transcribe(
                piece, batch_size=self.batch_size, **kwargs, **{**common, "language": run.language}
            )
            yield from ((raw, shift + run.start, run.language, run.probability) for raw in found)


def by_window(found: Iterable[Any]) -> Iterator[tuple[int, list[Any]]]:
    """The pipeline's segments grouped by the window they came from (its seek), in order."""
    group: list[Any] = []
    for raw in found:
        if group and raw.seek != group[0].seek:
            yield group[0].seek, group
            group = []
        group.append(raw)
    if group:
        yield group[0].seek, group


def carry_prompt(initial: str | None, segments: list[Segment]) -> str | None:
    """Context for the next chunk, as condition_on_previous_text gives within one chunk."""
    if not segments:
        return initial
    tail = " ".join(s.text.strip() for s in segments[-8:])[-PROMPT_CARRY_CHARS:]
    return f"{initial} {tail}" if initial else tail
