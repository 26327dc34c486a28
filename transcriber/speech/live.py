"""Live decoding: a replica of the loaded model for live sessions, and LocalAgreement on its hypotheses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from transcriber.speech import short_window
from transcriber.speech.audio import Samples

PROMPT_CHARS = 200  # of the session's earlier text, carried into each turn's decoding
REPEAT_WINDOW = 12  # words: a hypothesis made only of these is the model repeating itself
_WORD = re.compile(r"\s*\S+")
_NORMAL = re.compile(r"[^\w']+")


def load_live_model(path: str, device: str, compute_type: str, workers: int, threads: int) -> Any:
    """A WhisperModel on the same weights as the file engine, loaded in the calling thread, so its
    CTranslate2 threads keep that thread's CPU priority (the file workers' threads are lowered)."""
    from faster_whisper import WhisperModel

    return WhisperModel(
        path, device=device, compute_type=compute_type, cpu_threads=threads, num_workers=workers, local_files_only=True
    )


@dataclass(frozen=True)
class LiveDecoder:
    """Decodes one turn's audio so far; `prefix` forces the words already sent, so each hypothesis extends them."""

    model: Any
    language: str | None
    beam_size: int = 1

    def partial(self, samples: Samples, prompt: str, prefix: str) -> str:
        """As continuation(), over a window just longer than the speech: several times faster."""
        text = short_window.decode(self.model, samples, self.language, prompt, prefix, self.beam_size)
        return strip_prefix(text, prefix)

    def continuation(self, samples: Samples, prompt: str, prefix: str) -> str:
        """The text after `prefix` that the model hears in `samples` (blocking; call it in a thread)."""
        found, _ = self.model.transcribe(
            samples,
            language=self.language,
            beam_size=self.beam_size,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            initial_prompt=prompt or None,
            prefix=prefix or None,
        )
        text = "".join(seg.text for seg in found)
        return strip_prefix(text, prefix)


def strip_prefix(text: str, prefix: str) -> str:
    """The decoded text minus the forced prefix it starts with (by words when spacing differs)."""
    head, body = prefix.strip(), text.lstrip()
    if not head:
        return text
    if body.startswith(head):
        return body[len(head) :]
    return "".join(words(body)[len(words(head)) :])


def words(text: str) -> list[str]:
    """Whisper's words with their leading space, so joining them gives the text back."""
    return _WORD.findall(text)


def normal(word: str) -> str:
    return _NORMAL.sub("", word.lower())


@dataclass
class Agreement:
    """LocalAgreement-2 over one turn: a word is sent once two successive hypotheses agree on it,
    and never taken back; the turn's transcript is exactly the concatenation of what was sent."""

    sent: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.sent)

    def update(self, continuation: str) -> str:
        """The new delta (maybe empty) after a partial hypothesis."""
        new = self._fresh(continuation)
        agreed = 0
        # The newest hypothesis' last word may be cut off by the end of the audio so far (twice the
        # same cut-off word would be sent wrong), so it waits for a hypothesis that goes past it.
        while agreed < min(len(new) - 1, len(self.pending)) and normal(new[agreed]) == normal(self.pending[agreed]):
            agreed += 1
        self.pending = new[agreed:]
        return self._send(new[:agreed])

    def finish(self, continuation: str) -> str:
        """The last delta: the final hypothesis, whole."""
        self.pending = []
        return self._send(self._fresh(continuation))

    def _fresh(self, continuation: str) -> list[str]:
        """The hypothesis' words, or none when they only repeat what was sent: forced to continue
        past the end of the speech, the model says the last words again."""
        new = words(continuation)
        recent = {normal(w) for w in self.sent_words[-REPEAT_WINDOW:]}
        said = [normal(w) for w in new if normal(w)]
        if said and all(w in recent for w in said):
            return []
        return new

    @property
    def sent_words(self) -> list[str]:
        return words(self.text)

    def _send(self, chosen: list[str]) -> str:
        delta = "".join(chosen)
        if not self.sent:
            delta = delta.lstrip()
        if delta:
            self.sent.append(delta)
        return delta


def carry_prompt(session_prompt: str, earlier: list[str]) -> str:
    """The session's prompt and the tail of its earlier turns: the context for the next turn."""
    tail = " ".join(t for t in earlier if t)[-PROMPT_CHARS:]
    return " ".join(p for p in (session_prompt.strip(), tail.strip()) if p)
