"""One job's pass over its audio: runs of one language, decoded sequentially or in batches, then cleaned."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from transcriber import audio
from transcriber.cleanup import Cleaner
from transcriber.decoded import convert, remember, scores
from transcriber.decoding import Decoding
from transcriber.options import JobOptions
from transcriber.speech import Run, Window, language_runs, single_run, speech_windows
from transcriber.transcript import Segment

PROMPT_CARRY_CHARS = 400
# (raw faster-whisper segment, seconds to add to its times, language, language probability)
Decoded = tuple[Any, float, str | None, float | None]
# Called after each kept segment with (segment, its language); it may raise to stop the job.
Report = Callable[[Segment, str | None], None]


@dataclass(frozen=True)
class Decoder:
    """The loaded model (and batched pipeline, in fast mode) with the settings one job decodes with."""

    model: Any
    batched: Any
    decoding: Decoding
    multilingual: bool
    beam_size: int
    batch_size: int
    chunk_seconds: float

    def stream(
        self, blocks: Iterator[audio.Samples], options: JobOptions, report: Report, probs: dict[str, float]
    ) -> list[Segment]:
        """Chunk by chunk: decode, clean, report each kept segment; probs gets each language's probability."""
        cleaner = Cleaner(self.decoding.cleanup)
        segments: list[Segment] = []
        for offset, samples in audio.chunks(blocks, self.chunk_seconds):
            for raw, shift, language, probability in self._run(samples, options, segments):
                seg = cleaner.accept(convert(raw, offset + shift, language, options.word_timestamps), scores(raw))
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
            found, info, shift = self._decode(samples, run, options, prompt)
            language = run.language or info.language
            probability = run.probability if run.language else info.language_probability
            for raw in found:
                yield raw, shift, language, probability

    def _runs(self, samples: audio.Samples, options: JobOptions) -> list[Run]:
        """The chunk as stretches of one language (detected per VAD window when the job gave none)."""
        d = self.decoding
        language = options.language if self.multilingual else "en"
        probability = None if language is None else 1.0
        detect = language is None and d.per_window_language
        if not detect and not d.own_windows:
            return single_run(language, probability, [Window(0.0, len(samples) / audio.SAMPLE_RATE)])
        windows = speech_windows(samples, d.vad_options(), d.window_seconds, d.merge_gap)
        if not detect:
            return single_run(language, probability, windows)
        return language_runs(samples, windows, self._detect)

    def _detect(self, samples: audio.Samples) -> tuple[str, float]:
        language, probability, _ = self.model.detect_language(audio=samples)
        return str(language), float(probability)

    def _decode(
        self, samples: audio.Samples, run: Run, options: JobOptions, prompt: str | None
    ) -> tuple[Iterable[Any], Any, float]:
        """Decode only the run's stretch of the chunk; segment times then start at run.start."""
        common: dict[str, Any] = {
            "language": run.language,
            "task": options.task,
            "beam_size": self.beam_size,
            "initial_prompt": prompt,
            "hotwords": options.hotwords,
        }
        piece = samples[int(run.start * audio.SAMPLE_RATE) : int(run.end * audio.SAMPLE_RATE)]
        if self.batched is not None:
            # The pipeline's own VAD packs speech (not pauses) into its windows: measured, that
            # drops fewer words than handing it our windows (bench/QUALITY.md).
            kwargs = self.decoding.batched_kwargs(options.word_timestamps)
            if self.decoding.own_windows:
                kwargs["clip_timestamps"] = [
                    {"start": w.start - run.start, "end": w.end - run.start} for w in run.windows
                ]
            found, info = self.batched.transcribe(piece, batch_size=self.batch_size, **kwargs, **common)
            return found, info, run.start
        clips: str | list[float] = "0"
        if self.decoding.own_windows:
            clips = [t - run.start for w in run.windows for t in (w.start, w.end)]
        kwargs = self.decoding.sequential_kwargs(options.word_timestamps)
        found, info = self.model.transcribe(piece, clip_timestamps=clips, **kwargs, **common)
        return found, info, run.start


def carry_prompt(initial: str | None, segments: list[Segment]) -> str | None:
    """Context for the next chunk, as condition_on_previous_text gives within one chunk."""
    if not segments:
        return initial
    tail = " ".join(s.text.strip() for s in segments[-8:])[-PROMPT_CARRY_CHARS:]
    return f"{initial} {tail}" if initial else tail
