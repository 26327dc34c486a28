"""How well diarization tells speakers apart, and what it costs: DER, words right, count right, time share.

Run as `python -m bench.diarization [--audio DIR] [--model tiny.en] [--out DIR]`. It builds
conversations of two to four voices with exact truth from ../shared/bench-audio (two real readers)
and espeak-ng voices (pitch and speed varied with sox), transcribes each with diarize=true through
the server's engine, and prints a table (and writes diarization.png beside it when matplotlib is
installed). DER is frame-based (10 ms, no collar, no overlapping speech in these mixes), with the
best one-to-one mapping of found speakers to true ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.support import make_settings, write_wav
from transcriber.domain.options import JobOptions
from transcriber.outputs.formats import to_json
from transcriber.speech import audio, voice_encoder
from transcriber.speech.loader import load_engine

GAP = 0.6
FRAME = 0.01
ESPEAK_TEXTS = (
    "The quarterly numbers look better than we expected, and the launch went well.",
    "I am not sure we can hire two more people before the summer starts.",
    "Let us move the review to Thursday and ask finance for the final figures.",
    "We should also check what the customers said about the new pricing.",
)


@dataclass(frozen=True)
class Voice:
    name: str
    pieces: list[np.ndarray]  # turns this voice can take, in order


def _decoded(path: Path) -> np.ndarray:
    return np.concatenate(list(audio.decode(path)))


def _cut(samples: np.ndarray, bounds: list[tuple[float, float]]) -> list[np.ndarray]:
    return [samples[int(a * audio.SAMPLE_RATE) : int(b * audio.SAMPLE_RATE)] for a, b in bounds]


def real_voices(folder: Path) -> list[Voice]:
    jfk, ml = _decoded(folder / "jfk.flac"), _decoded(folder / "multilingual.mp3")
    return [
        Voice("jfk", _cut(jfk, [(0.0, 4.8), (4.8, 11.0)])),
        Voice("reader", _cut(ml, [(0.0, 11.3), (11.3, 21.1), (21.1, 30.0)])),
    ]


def espeak_voice(name: str, voice: str, pitch: int, tempo: float, tmp: Path) -> Voice:
    """espeak-ng speaking the texts, then pitch- and tempo-shifted by sox, at 16 kHz."""
    pieces = []
    for i, text in enumerate(ESPEAK_TEXTS):
        raw, out = tmp / f"{name}-{i}.wav", tmp / f"{name}-{i}-x.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", "16000", str(out), "pitch", str(pitch), "tempo", str(tempo)], check=True)
        pieces.append(_decoded(out))
    return Voice(name, pieces)


def mix(voices: list[Voice], turns: int) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """Voices taking turns round-robin (each turn the voice's next piece) with the truth."""
    parts, truth, at, used = [], [], 0.0, dict.fromkeys((v.name for v in voices), 0)
    for turn in range(turns):
        voice = voices[turn % len(voices)]
        piece = voice.pieces[used[voice.name] % len(voice.pieces)]
        used[voice.name] += 1
        truth.append((voice.name, at, at + len(piece) / audio.SAMPLE_RATE))
        parts += [piece, np.zeros(int(GAP * audio.SAMPLE_RATE), dtype=np.float32)]
        at += len(piece) / audio.SAMPLE_RATE + GAP
    return np.concatenate(parts), truth


def _frames(spans: list[tuple[str, float, float]], total: float) -> list[str | None]:
    labels: list[str | None] = [None] * (int(total / FRAME) + 1)
    for name, start, end in spans:
        for i in range(int(start / FRAME), min(len(labels), int(end / FRAME))):
            labels[i] = name
    return labels


def _best_mapping(truth: list[str | None], found: list[str | None]) -> dict[str, str]:
    true_names = sorted({t for t in truth if t})
    found_names = sorted({f for f in found if f})
    best: dict[str, str] = {}
    best_hits = -1
    for perm in itertools.permutations(true_names, min(len(true_names), len(found_names))):
        mapping = dict(zip(found_names, perm, strict=False))
        hits = sum(1 for t, f in zip(truth, found, strict=True) if t and f and mapping.get(f) == t)
        if hits > best_hits:
            best, best_hits = mapping, hits
    return best


def score(document: dict[str, Any], truth: list[tuple[str, float, float]], total: float) -> dict[str, float]:
    segments = document["segments"]
    hyp = _frames([(s["speaker"], s["start"], s["end"]) for s in segments], total)
    ref = _frames(truth, total)
    mapping = _best_mapping(ref, hyp)
    speech = sum(1 for r in ref if r)
    missed = sum(1 for r, h in zip(ref, hyp, strict=True) if r and not h)
    false_alarm = sum(1 for r, h in zip(ref, hyp, strict=True) if h and not r)
    confused = sum(1 for r, h in zip(ref, hyp, strict=True) if r and h and mapping.get(h) != r)
    words = [w for s in segments for w in s.get("words", [])]

    def truth_at(t: float) -> str | None:
        return next((n for n, a, b in truth if a - 0.3 <= t <= b + 0.3), None)

    judged = [(mapping.get(w["speaker"]), truth_at((w["start"] + w["end"]) / 2)) for w in words]
    judged = [(got, want) for got, want in judged if want is not None]
    return {
        "judged": len(judged),
        "der": (missed + false_alarm + confused) / max(speech, 1),
        "confusion": confused / max(speech, 1),
        "words_right": sum(got == want for got, want in judged) / max(len(judged), 1),
        "found": len({s["speaker"] for s in segments}),
        "true": len({n for n, _, _ in truth}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--audio", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "bench-audio")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        engine = load_engine(make_settings(tmp / "data", whisper={"model": args.model}))
        jfk, reader = real_voices(args.audio)
        robot_a = espeak_voice("espeak-m", "en-us", -300, 1.1, tmp)
        robot_b = espeak_voice("espeak-f", "en+f4", 300, 0.9, tmp)
        robot_c = espeak_voice("espeak-gb", "en-gb+m3", 0, 1.0, tmp)
        mixes = {
            "2 real readers": ([jfk, reader], 4),
            "2 real, reader first": ([reader, jfk], 4),
            "3: 2 real + espeak": ([jfk, reader, robot_a], 6),
            "4: 2 real + 2 espeak": ([jfk, reader, robot_a, robot_b], 8),
            "2 espeak voices": ([robot_a, robot_b], 4),
            "3 espeak voices": ([robot_a, robot_b, robot_c], 6),
        }
        rows = []
        voice_encoder.embed_frames(np.zeros((1, 160, 40), dtype=np.float32))  # load the weights once, untimed
        for label, (voices, turns) in mixes.items():
            samples, truth = mix(voices, turns)
            path = write_wav(tmp / "mix.wav", samples)
            total = len(samples) / audio.SAMPLE_RATE
            started = time.perf_counter()
            transcript = engine.transcribe(path, total, JobOptions(diarize=True), lambda _s, _l: None)
            seconds = time.perf_counter() - started
            figures = score(json.loads(to_json(transcript)), truth, total)
            diarize_seconds = float(transcript.provenance["diarization_seconds"])
            figures["share"] = diarize_seconds / max(seconds - diarize_seconds, 1e-9)
            figures["diarize_s"], figures["transcribe_s"] = diarize_seconds, seconds - diarize_seconds
            rows.append((label, total, figures))
    print(f"model {args.model}, one run per mix, DER without collar")
    print("| mix | audio s | speakers (found/true) | DER | words right (of) | diarization / transcription s |")
    print("|---|---|---|---|---|---|")
    for label, total, f in rows:
        print(
            f"| {label} | {total:.0f} | {f['found']}/{f['true']} | {f['der']:.1%} | {f['words_right']:.1%} "
            f"({f['judged']}) | {f['diarize_s']:.2f} / {f['transcribe_s']:.2f} = {f['share']:.1%} |"
        )
    spent = sum(f["diarize_s"] for _, _, f in rows) / sum(f["transcribe_s"] for _, _, f in rows)
    print(f"all mixes: diarization took {spent:.1%} of transcription time")
    _plot(rows, args.out / "diarization.png")


def _plot(rows: list[tuple[str, float, dict[str, float]]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    labels = [r[0] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r[2]["words_right"] * 100 for r in rows], 0.4, label="words with the right speaker (%)")
    ax.bar(x + 0.2, [r[2]["der"] * 100 for r in rows], 0.4, label="DER (%)")
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"chart: {path}")


if __name__ == "__main__":
    main()
