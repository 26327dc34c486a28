"""The baseline: faster-whisper called directly in a plain loop, in its own process.

Run as `python -m bench.direct --model PATH --threads N --mode plain|recipe`, it loads the model,
answers {"ready": ...}, then reads one JSON request per line ({"files": [...]}) and answers each
with {"seconds", "texts", "languages"}. A separate process means its memory and CPU are measured
the same way as the server's, and nothing is shared between cases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.procs import RssMonitor, rss_mib

# The decoding options the server uses (transcriber/speech/engine.py), spelled out as a user would.
PLAIN_OPTIONS: dict[str, Any] = {
    "beam_size": 5,
    "language": None,
    "task": "transcribe",
    "vad_filter": False,
    "condition_on_previous_text": True,
}
# faster-whisper's batched pipeline the way speaches serves it: Silero VAD, batches of 8, beam 5,
# without timestamps (the pipeline's default), the language detected once.
RECIPE_OPTIONS: dict[str, Any] = {"batch_size": 8, "beam_size": 5, "vad_filter": True, "without_timestamps": True}


@dataclass
class DirectResult:
    seconds: float
    texts: list[str]
    languages: list[str]
    per_file: list[float]


class DirectLoop:
    """Parent side: a `python -m bench.direct` child kept warm between runs."""

    def __init__(
        self, model_path: Path, threads: int, mode: str, workers: int = 1, log: Path | None = None, load: str = "thread"
    ):
        command = [
            sys.executable,
            "-m",
            "bench.direct",
            "--model",
            str(model_path),
            "--threads",
            str(threads),
            "--workers",
            str(workers),
            "--parallel",
            str(workers),
            "--mode",
            mode,
            "--load",
            load,
        ]
        stderr = log.open("ab") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        if log and not isinstance(stderr, int):
            stderr.close()
        self.monitor = RssMonitor(self.proc.pid).start()
        self.ready: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"direct loop exited with {self.proc.wait()}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"direct loop failed: {answer['error']}")
        return answer

    def run(self, paths: list[Path]) -> DirectResult:
        """Transcribe the files one after another; seconds as seen from this process."""
        assert self.proc.stdin is not None
        started = time.perf_counter()
        self.proc.stdin.write((json.dumps({"files": [str(p) for p in paths]}) + "\n").encode())
        self.proc.stdin.flush()
        answer = self._read()
        return DirectResult(time.perf_counter() - started, answer["texts"], answer["languages"], answer["per_file"])

    def stop(self) -> None:
        self.monitor.stop()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> DirectLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(args: argparse.Namespace, out: IO[str]) -> None:
    from faster_whisper import BatchedInferencePipeline

    before = rss_mib_self()
    started = time.perf_counter()
    model = _load(args)
    batched = BatchedInferencePipeline(model) if args.mode == "recipe" else None
    ready = {
        "ready": True,
        "load_seconds": time.perf_counter() - started,
        "rss_before_load_mib": before,
        "rss_after_load_mib": rss_mib_self(),
    }
    _answer(out, ready)

    def one(path: str) -> tuple[str, str, float]:
        started = time.perf_counter()
        if batched is not None:
            segments, info = batched.transcribe(path, **RECIPE_OPTIONS)
        else:
            segments, info = model.transcribe(path, **PLAIN_OPTIONS)
        text = " ".join(s.text.strip() for s in segments)
        return text, info.language, time.perf_counter() - started

    # --parallel N runs N files at a time, as a server with N workers does; 1 is the plain loop.
    with ThreadPoolExecutor(args.parallel) as pool:
        for line in sys.stdin:
            done = list(pool.map(one, json.loads(line)["files"]))
            _answer(
                out,
                {"texts": [d[0] for d in done], "languages": [d[1] for d in done], "per_file": [d[2] for d in done]},
            )


def _load(args: argparse.Namespace) -> Any:
    """Load the model; by default in a helper thread that then exits.

    CTranslate2's OpenMP runtime (libgomp) gives the loading thread a thread team of its own. While
    that thread lives (the main thread of a plain script), the process has more OpenMP threads than
    cores, libgomp shortens its spin-wait, and on 2 cores every inference runs about 1.5x slower.
    The server loads in a thread too, so `thread` compares like with like; `main` is the naive script.
    """
    from faster_whisper import WhisperModel

    def load() -> Any:
        return WhisperModel(
            args.model,
            device="cpu",
            compute_type=args.compute_type,
            cpu_threads=args.threads,
            num_workers=args.workers,
            local_files_only=True,
        )

    if args.load == "main":
        return load()
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(load).result()


def rss_mib_self() -> float:
    return rss_mib(os.getpid())


def _answer(out: IO[str], body: dict[str, Any]) -> None:
    out.write(json.dumps(body) + "\n")
    out.flush()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.direct", description=__doc__)
    parser.add_argument("--model", required=True, help="CTranslate2 model directory")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1, help="CTranslate2 replicas (num_workers)")
    parser.add_argument("--parallel", type=int, default=1, help="files transcribed at once (1: a plain loop)")
    parser.add_argument("--mode", choices=["plain", "recipe"], default="plain")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--load", choices=["thread", "main"], default="thread", help="where the model is loaded")
    out = sys.stdout  # the JSON protocol; faster-whisper's own chatter goes to stderr
    try:
        _serve(parser.parse_args(), out)
    except Exception as exc:  # the parent shows the reason instead of a broken pipe
        _answer(out, {"error": f"{type(exc).__name__}: {exc}"})
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
