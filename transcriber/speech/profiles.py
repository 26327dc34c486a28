"""How a job is decoded: the guards against loops and invented text, per model and mode."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from faster_whisper.vad import VadOptions

WHISPER_WINDOW_SECONDS = 30.0


@dataclass(frozen=True)
class Decoding:
    """Decoder settings beyond the job's options; bench/quality.py measures each field."""

    # Sequential mode: faster-whisper's VAD filter, which decodes the speech with the silence cut out.
    vad: bool = False
    condition_on_previous_text: bool = True
    # Skip silence before a segment that looks invented (needs word timestamps: costs time).
    hallucination_silence: float | None = None
    compression_ratio_threshold: float | None = 2.4
    log_prob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    no_repeat_ngram_size: int = 0
    repetition_penalty: float = 1.0
    # Our own post-check (transcriber/speech/cleanup.py): loops collapsed, invented segments dropped.
    cleanup: bool = True
    # Without a requested language, detect it per speech window (mixed-language recordings).
    per_window_language: bool = True
    # Speech windows: VAD regions merged up to window_seconds across pauses up to merge_gap (batched
    # mode: the pipeline packs speech into windows of window_seconds itself).
    window_seconds: float = WHISPER_WINDOW_SECONDS
    merge_gap: float = 1.0
    vad_min_silence_ms: int = 160
    vad_speech_pad_ms: int = 400
    # Batched mode: ask for timestamps, so a window with two utterances is not cut after the first.
    batched_timestamps: bool = False
    # Decode our VAD windows (never merged across a pause over merge_gap) one by one instead of
    # packed speech. A split call needs it: one channel's turns are apart by the other's.
    own_windows: bool = False

    def vad_options(self) -> VadOptions:
        return VadOptions(
            min_silence_duration_ms=self.vad_min_silence_ms,
            speech_pad_ms=self.vad_speech_pad_ms,
            max_speech_duration_s=self.window_seconds,
        )

    def guards(self) -> dict[str, Any]:
        """faster-whisper keyword arguments shared by both modes."""
        return {"no_repeat_ngram_size": self.no_repeat_ngram_size, "repetition_penalty": self.repetition_penalty}

    def sequential_kwargs(self, word_timestamps: bool) -> dict[str, Any]:
        return {
            **self.guards(),
            "condition_on_previous_text": self.condition_on_previous_text,
            "compression_ratio_threshold": self.compression_ratio_threshold,
            "log_prob_threshold": self.log_prob_threshold,
            "no_speech_threshold": self.no_speech_threshold,
            "hallucination_silence_threshold": self.hallucination_silence,
            "word_timestamps": word_timestamps or self.hallucination_silence is not None,
            "vad_filter": self.vad and not self.own_windows,
        }

    def batched_kwargs(self, word_timestamps: bool) -> dict[str, Any]:
        vad = {"min_silence_duration_ms": self.vad_min_silence_ms, "speech_pad_ms": self.vad_speech_pad_ms}
        return {
            **self.guards(),
            "vad_filter": True,
            "vad_parameters": vad,
            "chunk_length": int(self.window_seconds),
            "without_timestamps": not self.batched_timestamps,
            "word_timestamps": word_timestamps,
        }

    def describe(self, batched: bool) -> dict[str, Any]:
        """The settings recorded in a job's JSON result."""
        skip = ("hallucination_silence", "condition_on_previous_text", "vad") if batched else ("batched_timestamps",)
        return {k: v for k, v in asdict(self).items() if k not in skip}


# Chosen by measurement (bench/QUALITY.md, `python -m bench.quality`). Sequential: per-window
# language, faster-whisper's VAD filter (base invented a sentence over silence without it) and the
# post-check; decoding our VAD windows one by one instead cost tiny.en 239 of 856 words on real
# speech (37 without) and base 61 (0). Batched: the pipeline's own packing, which keeps every word
# with base. Split calls decode our windows in both modes (engine.py), so turns stay apart.
SEQUENTIAL = Decoding(vad=True)
BATCHED = Decoding()
# tiny.en decodes a 30 s window without timestamps only up to its first pause (252 of 856 words
# lost); with timestamps in 20 s windows it drops fewer words than sequential mode does.
BATCHED_BY_MODEL = {"tiny.en": replace(BATCHED, batched_timestamps=True, window_seconds=20.0)}


def choose(model: str, *, batched: bool, multilingual: bool) -> Decoding:
    """The default decoding for a model in a mode."""
    chosen = BATCHED_BY_MODEL.get(model, BATCHED) if batched else SEQUENTIAL
    if not multilingual:
        chosen = replace(chosen, per_window_language=False)
    return chosen
