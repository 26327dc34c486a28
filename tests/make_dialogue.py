"""Hand-run generator of tests/clips/dialogue.ogg: two real voices taking turns, with the exact truth.

Usage, from the repository root (needs ffmpeg and ../shared/bench-audio, as bench/ does):
    .venv/bin/python -m tests.make_dialogue

Turns alternate between J. F. Kennedy (jfk.flac, public domain) and the reader of multilingual.mp3
(faster-whisper's test data, MIT), cut at pauses. tests/clips/dialogue.json records each turn's
speaker and time in the mixed file; voice_b.ogg is more of reader B, to enrol a voice from. The
tests only read the committed files.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tests.support import CLIPS, write_wav
from transcriber.speech import audio

AUDIO = Path(__file__).resolve().parents[2] / "shared" / "bench-audio"
# (speaker, source file, start, end seconds): each cut lies in a pause of its source.
PIECES = (
    ("A", "jfk.flac", 0.0, 4.8),
    ("B", "multilingual.mp3", 0.0, 11.3),
    ("A", "jfk.flac", 4.8, 11.0),
    ("B", "multilingual.mp3", 11.3, 21.1),
)
GAP_SECONDS = 0.7
# Another stretch of reader B, not in the dialogue: the clip a voice is enrolled from.
VOICE_B = ("B", "multilingual.mp3", 21.1, 30.0)
FFMPEG = ("ffmpeg", "-y", "-loglevel", "error")
OPUS = ("-ac", "1", "-ar", "16000", "-c:a", "libopus", "-b:a", "24k", "-map_metadata", "-1", "-fflags", "+bitexact")


def build(pieces: tuple[tuple[str, str, float, float], ...], gap: float) -> tuple[np.ndarray, list[dict[str, object]]]:
    """The mixed samples and the truth: one {speaker, start, end} per turn."""
    sources: dict[str, np.ndarray] = {}
    parts, truth, at = [], [], 0.0
    for speaker, name, start, end in pieces:
        if name not in sources:
            sources[name] = np.concatenate(list(audio.decode(AUDIO / name)))
        piece = sources[name][int(start * audio.SAMPLE_RATE) : int(end * audio.SAMPLE_RATE)]
        truth.append({"speaker": speaker, "start": round(at, 3), "end": round(at + len(piece) / audio.SAMPLE_RATE, 3)})
        parts += [piece, np.zeros(int(gap * audio.SAMPLE_RATE), dtype=np.float32)]
        at += (len(piece) + int(gap * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    return np.concatenate(parts), truth


def main() -> None:
    samples, truth = build(PIECES, GAP_SECONDS)
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_wav(Path(tmp) / "dialogue.wav", samples)
        subprocess.run(
            [*FFMPEG, "-i", str(wav), *OPUS, str(CLIPS / "dialogue.ogg")],
            check=True,
        )
        voice, _ = build((VOICE_B,), 0.0)
        wav = write_wav(Path(tmp) / "voice_b.wav", voice)
        subprocess.run([*FFMPEG, "-i", str(wav), *OPUS, str(CLIPS / "voice_b.ogg")], check=True)
    (CLIPS / "dialogue.json").write_text(json.dumps({"turns": truth}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {CLIPS / 'dialogue.ogg'} ({(CLIPS / 'dialogue.ogg').stat().st_size} bytes)")


if __name__ == "__main__":
    main()
