"""What always decoding word timings (for readable subtitle cues) costs: decoding seconds with and without.

Run as `python -m bench.word_timings [--audio DIR] [--repeats 3]`. Each model (tiny.en, base)
decodes the English part of multilingual.mp3 with the server's sequential settings, alternating
off/on per repeat so machine noise hits both alike, and prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from faster_whisper import WhisperModel

from transcriber.speech.audio import SAMPLE_RATE, Samples, decode
from transcriber.speech.models import resolve_model
from transcriber.speech.profiles import SEQUENTIAL

CLIP_SECONDS = 35.0


def _clip(audio_dir: Path) -> Samples:
    import numpy as np

    blocks = list(decode(audio_dir / "multilingual.mp3", 3600.0))
    samples: Samples = np.concatenate(blocks)[: int(CLIP_SECONDS * SAMPLE_RATE)]
    return samples


def _seconds(model: WhisperModel, samples: Samples, words: bool) -> float:
    kwargs = SEQUENTIAL.sequential_kwargs(words)
    started = time.perf_counter()
    found, _ = model.transcribe(samples, language="en", beam_size=5, **kwargs)
    list(found)  # the generator decodes lazily
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--audio", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "bench-audio")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    samples = _clip(args.audio)
    rows = []
    with tempfile.TemporaryDirectory() as models_dir:
        for name in ("tiny.en", "base"):
            path = resolve_model(name, Path(models_dir), allow_download=False).path
            model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=args.threads)
            _seconds(model, samples, False)  # warm-up
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeats):
                for words in (False, True):
                    times[words].append(_seconds(model, samples, words))
            off, on = statistics.median(times[False]), statistics.median(times[True])
            rows.append((name, off, on, (on - off) / off * 100))
            print(name, "without:", [f"{t:.2f}" for t in times[False]], "with:", [f"{t:.2f}" for t in times[True]])
    print(f"{CLIP_SECONDS:.0f} s of English speech, {args.repeats} repeats alternating, median seconds")
    print("| model | without words | with words | cost |\n|---|---|---|---|")
    for name, off, on, cost in rows:
        print(f"| {name} | {off:.2f} | {on:.2f} | {cost:+.1f}% |")


if __name__ == "__main__":
    main()
