"""Fast mode's batched pass: one encoder pass per speech window serves language detection and decoding.

faster-whisper's BatchedInferencePipeline either detects one language for the whole call (an extra
encoder pass over the first 30 s) or, with multilingual=True, swaps each window's language token
without saying which it chose. Mixed-language recordings need the choice per window, and encoding
every window a second time just to detect it cost 12 extra encoder passes on 5 minutes of speech
(bench/RESULTS.md). This pipeline detects from the encoder output the decoding then uses, and keeps
each window's language, keyed by the `seek` its segments carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from faster_whisper import BatchedInferencePipeline

from transcriber.speech.regions import MIN_DETECT_PROBABILITY, MIN_DETECT_SECONDS

# (language code, detection probability); the probability is None where the job named the language.
Choice = tuple[str, float | None]


@dataclass(frozen=True)
class WindowLanguage:
    """The language a window was decoded in, and the stretch of the input its speech came from."""

    language: str
    probability: float | None
    start: float
    end: float


class LanguagePipeline(BatchedInferencePipeline):  # type: ignore[misc]
    """One job's batched pass (not shared between threads: it records the windows' languages)."""

    def __init__(self, model: Any, *, detect: bool):
        super().__init__(model)
        self._detect = detect
        self._durations: list[float] = []
        self._chosen: list[Choice] = []
        self._last_sure: Choice | None = None
        self.languages: dict[int, WindowLanguage] = {}  # a window's seek -> its language

    def forward(self, features: Any, tokenizer: Any, chunks_metadata: Any, options: Any) -> Any:
        self._durations = [float(chunk["duration"]) for chunk in chunks_metadata]
        found = super().forward(features, tokenizer, chunks_metadata, options)
        fps = self.model.frames_per_second
        rate = self.model.feature_extractor.sampling_rate
        for chunk, (language, probability) in zip(chunks_metadata, self._chosen, strict=True):
            clips = chunk["segments"]
            start, end = (clips[0]["start"] / rate, clips[-1]["end"] / rate) if clips else (0.0, 0.0)
            self.languages[int(chunk["offset"] * fps)] = WindowLanguage(language, probability, start, end)
        return found

    def generate_segment_batched(self, features: np.ndarray, tokenizer: Any, options: Any) -> tuple[Any, list[Any]]:
        previous = tokenizer.encode(options.initial_prompt) if options.initial_prompt is not None else []
        prompt = self.model.get_prompt(
            tokenizer, previous, without_timestamps=options.without_timestamps, hotwords=options.hotwords
        )
        encoder_output = self.model.encode(features)
        prompts = [list(prompt) for _ in range(features.shape[0])]
        self._chosen = [(tokenizer.language_code, None)] * len(prompts)
        if self._detect:
            self._chosen = self._choose(self.model.model.detect_language(encoder_output))
            at = prompt.index(tokenizer.language)
            for tokens, (code, _) in zip(prompts, self._chosen, strict=True):
                tokens[at] = tokenizer.tokenizer.token_to_id(f"<|{code}|>")
        results = self.model.model.generate(
            encoder_output,
            prompts,
            beam_size=options.beam_size,
            patience=options.patience,
            length_penalty=options.length_penalty,
            max_length=self.model.max_length,
            suppress_blank=options.suppress_blank,
            suppress_tokens=options.suppress_tokens,
            return_scores=True,
            return_no_speech_prob=True,
            sampling_temperature=options.temperatures[0],
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
        )
        return encoder_output, [_output(result, options.length_penalty) for result in results]

    def _choose(self, detected: Sequence[Sequence[tuple[str, float]]]) -> list[Choice]:
        """Each window's most likely language; a short or unsure window takes its neighbour's."""
        found = [(token.strip("<|>"), float(prob)) for token, prob in (ranked[0] for ranked in detected)]
        sure = [
            f if f[1] >= MIN_DETECT_PROBABILITY and seconds >= MIN_DETECT_SECONDS else None
            for f, seconds in zip(found, self._durations, strict=True)
        ]
        chosen: list[Choice] = []
        for own, confident in zip(found, sure, strict=True):
            if confident is not None:
                self._last_sure = confident
            fallback = self._last_sure or next((s for s in sure if s is not None), None) or own
            chosen.append(confident or fallback)
        return chosen


def _output(result: Any, length_penalty: float) -> dict[str, Any]:
    """The figures faster-whisper's own pass reports for one window (scores are length-normalised)."""
    tokens = result.sequences_ids[0]
    total_logprob = result.scores[0] * (len(tokens) ** length_penalty)
    return {"avg_logprob": total_logprob / (len(tokens) + 1), "no_speech_prob": result.no_speech_prob, "tokens": tokens}
