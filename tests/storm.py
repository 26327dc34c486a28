"""Kill storm: a stream of jobs while `transcriber serve` is SIGKILLed at random moments.

Each seed plans 30 jobs (mixed clips, some cancelled, some sent twice with the same job_id) and
sends them from three client lanes that retry through the crashes, while a killer SIGKILLs the
server during uploads, around the commit of an upload, during transcription, while results are
written and during the summary handoff, and restarts it. Then tests/storm_check.py checks that
every accepted job ended exactly once as the client asked, and that nothing leaked.

    python -m tests.storm --seeds 10
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.server_process import ServerProcess
from tests.storm_check import Plan, check_seed
from tests.support import CLIPS, TEXTS, speech_wav

PHASES = ("upload", "commit", "transcription", "results", "summary")
# Log lines that show a phase is under way (the killer then waits a random moment).
TRIGGERS = {
    "transcription": re.compile(r": started \("),
    "results": re.compile(r": (9\d|100)% \("),
    "summary": re.compile(r": completed in "),
}
CLIENT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


@dataclass
class Storm:
    """Shared state of one seed's run: the server, the plans, what the killer did."""

    server: ServerProcess
    rng: random.Random
    plans: list[Plan]
    kills: Counter[str] = field(default_factory=Counter)
    starts: int = 1
    uploading: asyncio.Event = field(default_factory=asyncio.Event)
    up: asyncio.Event = field(default_factory=asyncio.Event)
    log_offset: int = 0


def make_plans(rng: random.Random, seed: int, count: int, long_clip: Path) -> list[Plan]:
    clips = [CLIPS / n for n in ("hello.wav", "numbers.flac", "speech.mp3", "speech.ogg", "clip.mp4")]
    plans = []
    for i in range(count):
        clip = long_clip if rng.random() < 0.2 else rng.choice(clips)
        words = TEXTS.get(clip.name) or " ".join(TEXTS[n] for n in ("speech.ogg", "speech.mp3", "numbers.flac"))
        plans.append(Plan(f"s{seed}-{i:02d}", clip, words, cancel=rng.random() < 0.2, resend=rng.random() < 0.2))
    return plans


async def post(
    storm: Storm, session: aiohttp.ClientSession, path: str, kw: Callable[[], dict[str, Any]]
) -> tuple[int, dict[str, Any]]:
    """POST until the server answers (it may be dead or restarting): (status, JSON body)."""
    while True:
        await storm.up.wait()
        try:
            async with session.post(f"{storm.server.url}{path}", **kw()) as resp:
                body: dict[str, Any] = await resp.json()
                if resp.status != 503:
                    return resp.status, body
        except CLIENT_ERRORS:
            pass
        await asyncio.sleep(0.1)


async def send_job(storm: Storm, session: aiohttp.ClientSession, plan: Plan) -> None:
    def form() -> dict[str, Any]:
        data = aiohttp.FormData()
        data.add_field("job_id", plan.job_id)
        data.add_field("file", io.BytesIO(plan.clip.read_bytes()), filename=plan.clip.name)
        storm.uploading.set()
        return {"data": data}

    status, _ = await post(storm, session, "/transcribe", kw=form)
    assert status in (200, 202), (plan.job_id, status)
    plan.accepted = True
    if plan.resend:
        again, body = await post(storm, session, "/transcribe", kw=form)
        assert again == 200 and body["job_id"] == plan.job_id, (plan.job_id, again, body)
    if plan.cancel:
        await asyncio.sleep(storm.rng.uniform(0, 2.0))
        answer, body = await post(storm, session, f"/jobs/{plan.job_id}/cancel", kw=dict)
        plan.cancel_answer = answer
        if answer in (200, 202):
            plan.want = "cancelled"
        elif answer == 409:  # finished first (or cancelled by an earlier, unanswered try)
            plan.want = await final_status(storm, session, plan.job_id)


async def final_status(storm: Storm, session: aiohttp.ClientSession, job_id: str) -> str:
    while True:
        await storm.up.wait()
        try:
            async with session.get(f"{storm.server.url}/status/{job_id}") as resp:
                status: str = (await resp.json())["status"]
                if status not in ("queued", "running"):
                    return status
        except CLIENT_ERRORS:
            pass
        await asyncio.sleep(0.2)


async def lane(storm: Storm, todo: asyncio.Queue[Plan]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        while not todo.empty():
            plan = todo.get_nowait()
            await send_job(storm, session, plan)
            await asyncio.sleep(storm.rng.uniform(0.5, 2.5))


def new_log_lines(storm: Storm) -> list[str]:
    with storm.server.log.open("rb") as fh:
        fh.seek(storm.log_offset)
        data = fh.read()
    storm.log_offset += len(data)
    return data.decode(errors="replace").splitlines()


async def wait_for_phase(storm: Storm, phase: str, timeout: float) -> bool:
    """Until the phase is under way: True, or False after timeout (then kill anyway)."""
    deadline = time.monotonic() + timeout
    if phase in ("upload", "commit"):
        storm.uploading.clear()
        await asyncio.wait_for(storm.uploading.wait(), timeout)
        return True
    new_log_lines(storm)
    while time.monotonic() < deadline:
        if any(TRIGGERS[phase].search(line) for line in new_log_lines(storm)):
            return True
        await asyncio.sleep(0.005)
    return False


async def killer(storm: Storm, kills: int, sent: asyncio.Event) -> None:
    """Kill, restart, repeat. Once every job is sent, only phases that still happen (the queue
    drains: transcription, results, summaries) are aimed at, until none comes any more."""
    for _ in range(kills):
        await asyncio.sleep(storm.rng.uniform(0.2, 1.0))
        phase = storm.rng.choice(PHASES[2:] if sent.is_set() else PHASES)
        try:
            hit = await wait_for_phase(storm, phase, timeout=15)
        except TimeoutError:
            hit = False
        if not hit and sent.is_set():
            return  # nothing left to interrupt
        delay = {"upload": (0, 0.03), "commit": (0.03, 0.4)}.get(phase, (0, 0.05))
        await asyncio.sleep(storm.rng.uniform(*delay))
        storm.up.clear()
        storm.server.kill9()
        storm.kills[phase if hit else "random"] += 1
        storm.server.start()
        storm.starts += 1
        await storm.server.wait_ready(timeout=120)
        storm.up.set()


async def run_seed(seed: int, workdir: Path, jobs: int = 30, kills: int = 8) -> dict[str, Any]:
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    long_clip = workdir / "long.wav"
    if not long_clip.exists():
        speech_wav(long_clip, ["speech.ogg", "speech.mp3", "numbers.flac"])
    config = workdir / "storm.toml"
    # Random kills may hit one long job many times: retry it rather than fail it as worker_crashed.
    # keep_audio = false: every upload must be gone once its job has ended, crash or not.
    config.write_text("[queue]\nmax_attempts = 1000\n[retention]\nkeep_audio = false\n[summarizer]\nenabled = true\n")
    server = ServerProcess(workdir / f"data-{seed}", config=config, TRANSCRIBER_WORKERS="2")
    storm = Storm(server, rng, make_plans(rng, seed, jobs, long_clip))
    todo: asyncio.Queue[Plan] = asyncio.Queue()
    for plan in storm.plans:
        todo.put_nowait(plan)
    server.start()
    try:
        await server.wait_ready(timeout=120)
        storm.up.set()
        sent = asyncio.Event()
        killing = asyncio.create_task(killer(storm, kills, sent))
        await asyncio.gather(*(lane(storm, todo) for _ in range(3)))
        sent.set()
        await killing
        return await check_seed(seed, server, storm.plans) | {"runs": storm.starts, "kills": dict(storm.kills)}
    finally:
        server.stop()


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.storm", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="storm-"))
    totals: Counter[str] = Counter()
    failed = False
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        result = await run_seed(seed, workdir, args.jobs, args.kills)
        print(json.dumps(result), flush=True)
        totals.update({k: v for k, v in result.items() if isinstance(v, int) and k != "seed"})
        totals.update({f"kills_{k}": v for k, v in result["kills"].items()})
        failed = failed or bool(result["problems"])
    print(json.dumps({"seeds": args.seeds, **dict(sorted(totals.items())), "workdir": str(workdir)}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
