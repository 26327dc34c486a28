"""`transcriber submit`: upload files with a progress bar each, follow the jobs, save or print results."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from transcriber.cli.client import ApiClient, ClientError
from transcriber.cli.sources import RemoteFile, Source


@dataclass(frozen=True)
class SubmitRequest:
    files: tuple[Source, ...]
    fields: dict[str, str]
    fmt: str
    output: Path | None
    wait: bool


@dataclass
class Outcome:
    path: Source
    job_id: str | None = None
    result: bytes | None = None
    error: str | None = None


class StateColumn(ProgressColumn):
    """The job's state; a server ETA counts down between status updates instead of standing still."""

    def render(self, task: Task) -> Text:
        return Text(state_text(task.fields))


def state_text(fields: dict[str, Any]) -> str:
    state = str(fields.get("state", ""))
    until = fields.get("eta_until")
    if until is None:
        return state
    return f"{state}, about {max(0.0, until - time.monotonic()):.0f} s left"


class Submission:
    """The files of one `submit`: uploads one at a time (queue order = argument order), then follows
    every job at once."""

    def __init__(self, api: ApiClient, request: SubmitRequest, console: Console):
        self._api = api
        self._request = request
        self._console = console
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TaskProgressColumn(),
            StateColumn(),
            TimeElapsedColumn(),
            console=console,
        )

    async def run(self) -> list[Outcome]:
        await self._api.request("GET", "/jobs", params={"limit": "1"})  # wrong key or no server: say so first
        outcomes = [Outcome(path) for path in self._request.files]
        with self._progress:
            bars = [self._bar(o.path) for o in outcomes]
            following = []
            for outcome, bar in zip(outcomes, bars, strict=True):
                await self._upload(outcome, bar)
                if outcome.job_id and self._request.wait:
                    following.append(self._finish(outcome, bar))
            await asyncio.gather(*following)
        return outcomes

    def _bar(self, path: Source) -> TaskID:
        size = None if isinstance(path, RemoteFile) else path.stat().st_size
        return self._progress.add_task(path.name, total=size, state="waiting", eta_until=None)

    def state_text(self, index: int) -> str | None:
        """What the state column of the index-th file shows now."""
        tasks = self._progress.tasks
        return state_text(tasks[index].fields) if index < len(tasks) else None

    def say(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False, soft_wrap=True)

    async def _upload(self, outcome: Outcome, bar: TaskID) -> None:
        if isinstance(outcome.path, RemoteFile):
            self._progress.update(bar, state="the server is fetching it")
            await self._send(outcome, bar, self._api.submit_url(outcome.path.url, self._request.fields))
            return
        size = outcome.path.stat().st_size

        def sent(done: int) -> None:
            self._progress.update(bar, completed=done, state=f"uploading {decimal(done)} / {decimal(size)}")

        await self._send(outcome, bar, self._api.submit(outcome.path, self._request.fields, sent))

    async def _send(self, outcome: Outcome, bar: TaskID, sending: Coroutine[Any, Any, dict[str, Any]]) -> None:
        try:
            job = await sending
        except ClientError as exc:
            self._progress.update(bar, completed=0)  # refused: what was sent is not an upload done
            self._fail(outcome, bar, str(exc))
            return
        outcome.job_id = job["job_id"]
        self._progress.reset(bar, total=1.0, completed=0, state=job["status"])
        self.say(f"job {outcome.job_id}: {outcome.path.name}: {job['status']}")

    async def _finish(self, outcome: Outcome, bar: TaskID) -> None:
        assert outcome.job_id is not None
        try:
            final = await self._api.follow(outcome.job_id, lambda status: self._show(bar, status))
            if final["status"] != "completed":
                reason = (final.get("error") or {}).get("message") or "no reason given"
                raise ClientError(f"job {outcome.job_id} {final['status']}: {reason}")
            outcome.result = await self._api.result(outcome.job_id, self._request.fmt)
        except ClientError as exc:
            self._fail(outcome, bar, str(exc))
            return
        self.say(f"job {outcome.job_id}: {outcome.path.name}: completed")

    def _show(self, bar: TaskID, status: dict[str, Any]) -> None:
        state, eta = status["status"], status.get("eta_seconds")
        if state == "queued" and status.get("queue_position") is not None:
            state = f"queued (#{status['queue_position']})"
        until = time.monotonic() + float(eta) if eta is not None and state != "completed" else None
        self._progress.update(bar, completed=float(status.get("progress") or 0), state=state, eta_until=until)

    def _fail(self, outcome: Outcome, bar: TaskID, message: str) -> None:
        outcome.error = message
        self._progress.update(bar, state="failed", eta_until=None)
        self.say(f"transcriber: error: {outcome.path.name}: {message}")


def deliver(outcomes: list[Outcome], request: SubmitRequest) -> int:
    """Save (--output) or print what completed, or the job ids (--no-wait); the exit status."""
    done = [o for o in outcomes if o.error is None]
    if not request.wait:
        sys.stdout.write("".join(f"{o.job_id}\n" for o in done))
    elif request.output is not None:
        request.output.mkdir(parents=True, exist_ok=True)
        for outcome in done:
            assert outcome.result is not None
            (request.output / f"{outcome.path.stem}.{request.fmt}").write_bytes(outcome.result)
    else:
        for outcome in done:
            header = f"==> {outcome.path.name} <==\n" if len(outcomes) > 1 else ""
            sys.stdout.write(header + (outcome.result or b"").decode("utf-8", "replace"))
        sys.stdout.flush()
    return 0 if len(done) == len(outcomes) else 1
