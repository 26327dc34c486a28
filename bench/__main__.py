"""`python -m bench`: run the cases, print the markdown table, write results.json and throughput.png."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import cases_fast, cases_ingest, cases_load, cases_service, cases_short, cases_speed, cases_uploads
from bench.context import Context, default_shape, log
from bench.fixtures import DEFAULT_AUDIO_DIR, Fixtures
from bench.machine import CpuTimes, describe, disk_speed
from bench.report import markdown, write_chart, write_json

Case = Callable[[Context], Awaitable[None]]
CASES: dict[str, Case] = {
    "startup": cases_service.startup,
    "overhead": cases_speed.overhead,
    "short": cases_short.short_jobs,
    "fast": cases_fast.fast_mode,
    "concurrency": cases_load.concurrency,
    "latency": cases_load.latency,
    "uploads": cases_uploads.uploads,
    "ingest": cases_ingest.ingest,
    "memory": cases_service.memory,
}
OUT = Path(__file__).resolve().parent / "out"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny inputs, tiny.en only, one repeat (smoke test)")
    parser.add_argument("--only", type=_cases, default=list(CASES), help=f"comma-separated: {','.join(CASES)}")
    parser.add_argument("--out", type=Path, default=OUT, help="where results.{md,json} and throughput.png go")
    parser.add_argument("--repeats", type=int, help="repeats of short cases (default 5, quick 1)")
    parser.add_argument("--long-repeats", type=int, help="repeats of the 5-minute fast-mode runs (default 3, quick 1)")
    parser.add_argument("--sweep-repeats", type=int, default=1, help="runs per concurrency configuration (default 1)")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        type=_env_pair,
        metavar="NAME=VALUE",
        help="extra environment for every server (sweep points keep their own shape), to try a tuning",
    )
    parser.add_argument(
        "--server-toml",
        default="",
        metavar="TOML",
        help=r"appended to every server's config file (\n for newlines), e.g. '[whisper]\nchunk_seconds = 300'",
    )
    parser.add_argument(
        "--upload-dir",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="also compare the big upload with the data directory on DIR (another disk, or /dev/shm)",
    )
    parser.add_argument("--audio-dir", type=Path, default=DEFAULT_AUDIO_DIR, help="jfk.flac and multilingual.mp3")
    parser.add_argument("--models-dir", type=Path, help="model cache (default: OUT/models; base is joined there once)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs, audio)")
    return parser


def _toml(text: str) -> str:
    """--server-toml text with `\\n` written for newlines, as a block to append to the config."""
    return "\n" + text.replace("\\n", "\n") + "\n" if text else ""


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _cases(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    return names


async def _run(ctx: Context, names: list[str]) -> tuple[dict[str, float], dict[str, str]]:
    seconds, errors = {}, {}
    for name in names:
        log.info("case %s", name)
        started = time.perf_counter()
        try:
            await CASES[name](ctx)
        except Exception as exc:  # one broken case must not hide the others' figures
            errors[name] = f"{type(exc).__name__}: {exc}"
            log.error("case %s failed:\n%s", name, traceback.format_exc())
        seconds[name] = round(time.perf_counter() - started, 1)
        log.info("case %s: %.1f s", name, seconds[name])
    return seconds, errors


def _meta(args: argparse.Namespace, ctx: Context, seconds: dict[str, float], total: float) -> dict[str, Any]:
    workers, threads = default_shape(ctx.server_env)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "quick": args.quick,
        "cases": args.only,
        "repeats": ctx.repeats,
        "long_repeats": ctx.long_repeats,
        "sweep_repeats": ctx.sweep_repeats,
        "server_env": ctx.server_env,
        "server_toml": ctx.server_toml,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "default_workers": workers,
        "default_cpu_threads": threads,
        "versions": {p: version(p) for p in ("faster-whisper", "ctranslate2", "aiohttp", "transcriber")},
        "case_seconds": seconds,
        "total_seconds": round(total, 1),
        **_git(),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    fixtures = Fixtures(args.audio_dir, work / "audio")
    fixtures.check()
    cpu_times, disk = CpuTimes.now(), disk_speed(work)
    ctx = Context(
        fixtures,
        work,
        args.models_dir or args.out / "models",
        args.quick,
        repeats=args.repeats or (1 if args.quick else 5),
        long_repeats=args.long_repeats or (1 if args.quick else 3),
        sweep_repeats=args.sweep_repeats,
        server_env=dict(args.server_env),
        server_toml=_toml(args.server_toml),
        upload_dirs=args.upload_dir,
    )
    seconds, errors = asyncio.run(_run(ctx, args.only))
    meta = _meta(args, ctx, seconds, time.perf_counter() - started)
    machine = describe(cpu_times, disk)
    meta["machine_measured"] = machine.as_dict()
    table = machine.header() + "\n" + markdown(ctx.figures)
    (args.out / "results.md").write_text(table)
    write_json(args.out / "results.json", meta, ctx.figures, ctx.rates, errors)
    if ctx.rates:
        write_chart(args.out / "throughput.png", ctx.rates, f"Throughput on {os.cpu_count()} cores ({meta['date']})")
    sys.stdout.write(table)
    sys.stdout.write(f"\n{len(ctx.figures)} figures in {meta['total_seconds']} s; written to {args.out}\n")
    if args.keep:
        log.info("work directory kept: %s", work)
    else:
        _remove(work)
    return 1 if errors else 0


def _git() -> dict[str, Any]:
    """The commit measured, and whether transcriber/ had uncommitted changes (read-only git calls)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short", "HEAD")
    if head.returncode != 0:
        return {}
    dirty = git("status", "--porcelain", "--", "transcriber", "summarizer", "migrations").stdout.strip()
    return {"git_commit": head.stdout.strip(), "service_code_modified": bool(dirty)}


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
