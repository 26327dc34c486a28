"""What `transcriber submit` draws: a refused upload is no full bar, and an ETA counts down."""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.conftest import MakeClient
from tests.support import FakeEngine, tone_wav, wait_status
from transcriber.cli.client import ApiClient
from transcriber.cli.submit import Submission, SubmitRequest


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=160, color_system=None), out


# The CLI streams the file chunked, so the server reads it: aiohttp's multipart reader sometimes
# calls its own deprecated unread_data() at a chunk boundary, which filterwarnings=error makes a 500.
@pytest.mark.filterwarnings("ignore:unread_data:DeprecationWarning")
async def test_a_refused_upload_draws_no_full_bar(make_client: MakeClient, tmp_path: Path) -> None:
    client = await make_client(FakeEngine(), limits={"max_upload_mb": 1})
    big = tmp_path / "big.wav"
    big.write_bytes(os.urandom(3 * 1024 * 1024 // 2))
    shown, out = console()
    request = SubmitRequest((big,), {}, "txt", None, wait=True)
    async with ApiClient(str(client.make_url("")).rstrip("/"), None) as api:
        outcomes = await Submission(api, request, shown).run()
    assert outcomes[0].error is not None and "1 MB" in outcomes[0].error, outcomes
    last = [line for line in out.getvalue().splitlines() if "big.wav" in line and "failed" in line]
    assert last and "100%" not in last[-1] and "━" not in last[-1], out.getvalue()[-2000:]


async def test_the_eta_counts_down_between_updates(make_client: MakeClient, tmp_path: Path) -> None:
    """A running job held before its first segment sends one status: the ETA shown still falls."""
    engine = FakeEngine(auto=False)
    gate = engine.gates.setdefault(30.0, threading.Event())
    client = await make_client(engine)
    shown, _ = console()
    request = SubmitRequest((tone_wav(tmp_path / "a.wav", 30),), {}, "txt", None, wait=True)
    async with ApiClient(str(client.make_url("")).rstrip("/"), None) as api:
        submission = Submission(api, request, shown)
        running = asyncio.create_task(submission.run())
        await wait_status(client, await _first_job(client), ("running",))
        first = await _eta_shown(submission)
        await asyncio.sleep(2.2)
        later = await _eta_shown(submission)
        assert later <= first - 2, (first, later)
        gate.set()
        outcomes = await running
    assert outcomes[0].error is None, outcomes


async def _first_job(client: object) -> str:
    deadline = time.monotonic() + 10
    while True:
        jobs = await (await client.get("/jobs")).json()  # type: ignore[attr-defined]
        if jobs["jobs"]:
            return str(jobs["jobs"][0]["job_id"])
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


async def _eta_shown(submission: Submission) -> int:
    """The seconds left that the bar's state column shows now."""
    deadline = time.monotonic() + 10
    while (text := submission.state_text(0)) is None or "s left" not in text:
        assert time.monotonic() < deadline, text
        await asyncio.sleep(0.05)
    return int(text.rsplit("about ", 1)[1].split(" s", 1)[0])
