"""Several models in one server: resident memory with one and with two models loaded, the time a
job waits for a model loaded on first use, and what a job pays when it arrives after the idle
model was unloaded (WHISPER_MODEL_TTL). One real server process, real jobs over HTTP.

    python -m bench.models [--default tiny.en] [--further base] [--repeats 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.client import JobTiming, session, submit, wait_job
from bench.server import Server, ServerConfig

CLIP = Path(__file__).resolve().parent.parent / "tests" / "clips" / "hello.wav"
TTL = 2.0
LOADED = re.compile(r"model '([^']+)' loaded in ([0-9.]+) s")


async def _loaded(http: aiohttp.ClientSession) -> dict[str, bool]:
    async with http.get("/health") as resp:
        body = await resp.json()
    return {m["name"]: m["loaded"] for m in body["models"]}


async def _until_unloaded(http: aiohttp.ClientSession, name: str, timeout: float = 60) -> float:
    started = time.perf_counter()
    while (await _loaded(http))[name]:
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{name} still loaded after {timeout:.0f} s")
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


async def _job(http: aiohttp.ClientSession, model: str | None) -> float:
    fields = {"language": "en", **({"model": model} if model else {})}
    timing: JobTiming = await submit(http, CLIP, **fields)
    await wait_job(http, timing, 0.02)
    return timing.latency


async def measure(default: str, further: str, repeats: int, work: Path) -> list[tuple[str, str]]:
    config = ServerConfig(
        model=default, env={"WHISPER_MODELS": further, "WHISPER_MODEL_TTL": str(TTL), "WHISPER_MAX_LOADED_MODELS": "2"}
    )
    rows: list[tuple[str, str]] = []
    async with Server(config, work, work / "models") as server, session(server.url) as http:
        assert server.monitor is not None
        one = server.idle_rss
        plain = [await _job(http, None) for _ in range(repeats)]
        cold: list[float] = []
        warm: list[float] = []
        after: list[float] = []
        two: list[float] = []
        unloaded: list[float] = []
        for round_ in range(repeats + 1):  # the first round loads it for the first time
            if round_ > 0:
                await _until_unloaded(http, further)
                unloaded.append(server.monitor.current())
            (after if round_ > 0 else cold).append(await _job(http, further))
            two.append(server.monitor.current())
            warm.append(await _job(http, further))
        loads = [float(s) for n, s in LOADED.findall(server.log_tail(200_000)) if n == further]
    rows += [
        (f"resident memory, {default} only (idle after start)", f"{one:.0f} MiB"),
        (f"resident memory, {default} + {further} loaded", _spread(two, "MiB", 0)),
        (f"resident memory after {further} was unloaded (TTL {TTL:g} s)", _spread(unloaded, "MiB", 0)),
        (f"loading {further} on first use (the server's log)", _spread(loads, "s", 2)),
        (f"job on {default} (3.5 s clip)", _spread(plain, "s", 2)),
        (f"job on {further}, first use (includes the load)", _spread(cold, "s", 2)),
        (f"job on {further}, already loaded", _spread(warm, "s", 2)),
        (f"job on {further}, arriving after the TTL unloaded it", _spread(after, "s", 2)),
    ]
    return rows


def _spread(values: list[float], unit: str, digits: int) -> str:
    if not values:
        return "-"
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f} {unit}"
    return f"{middle:.{digits}f} {unit} ({min(values):.{digits}f}-{max(values):.{digits}f}, n={len(values)})"


def table(rows: list[tuple[str, str]]) -> str:
    lines = ["| what | measured |", "|---|---|"]
    return "\n".join(lines + [f"| {what} | {value} |" for what, value in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--default", default="tiny.en")
    parser.add_argument("--further", default="base")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        rows = asyncio.run(measure(args.default, args.further, max(1, args.repeats), Path(tmp)))
    text = table(rows)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "models.md").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
