"""One greedy decode of a few seconds of audio over a short encoder window, for live partials.

faster-whisper pads every window to 30 s, so the encoder costs the same for 1 s of speech as for
30 s: 0.5-0.6 s with base on 2 cores, nearly all of a partial decode. The encoder takes shorter
inputs; with the speech plus a few seconds of silence it hears the same words (on tests/clips,
prefixes of 1-9 s, 5 s of padding: 21 of 27 hypotheses word for word the 30 s window's, the others
differing in punctuation or the last, unfinished word) at 0.02-0.06 s. Without that padding the
decoder tends to repeat itself. Finals keep the 30 s window.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transcriber.speech.audio import SAMPLE_RATE, Samples

PAD_SECONDS = 5.0  # of silence after the speech in the encoder's window
FRAMES_PER_SECOND = 100  # Whisper's mel frames
MAX_FRAMES = 3000  # its 30 s window
TOKENS_PER_SECOND = 12  # room for fast speech in any language; more is the decoder looping


def decode(model: Any, samples: Samples, language: str | None, prompt: str, prefix: str, beam_size: int) -> str:
    """The text the model hears in `samples` after the forced `prefix` (blocking)."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    seconds = len(samples) / SAMPLE_RATE
    frames = min(MAX_FRAMES, int((seconds + PAD_SECONDS) * FRAMES_PER_SECOND))
    features = model.feature_extractor(samples)[:, :frames]
    if features.shape[1] < frames:
        features = np.pad(features, ((0, 0), (0, frames - features.shape[1])))
    encoded = model.encode(np.ascontiguousarray(features, dtype=np.float32))
    multilingual = model.model.is_multilingual
    if multilingual and language is None:
        language = model.model.detect_language(encoded)[0][0][0][2:-2]  # "<|ru|>" -> "ru"
    tokenizer = Tokenizer(model.hf_tokenizer, multilingual, task="transcribe", language=language or "en")
    previous = tokenizer.encode(" " + prompt.strip()) if prompt.strip() else []
    tokens = model.get_prompt(tokenizer, previous, without_timestamps=True, prefix=prefix or None)
    budget = min(model.max_length, len(tokens) + int(seconds * TOKENS_PER_SECOND) + 8)
    result = model.model.generate(
        encoded,
        [tokens],
        beam_size=beam_size,
        max_length=budget,
        suppress_blank=True,
        suppress_tokens=list(get_suppressed_tokens(tokenizer, (-1,))),  # faster-whisper's default
    )[0]
    said = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    text: str = tokenizer.decode(said)
    return text
