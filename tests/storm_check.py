"""The kill storm's verdict: every accepted job ended exactly once as asked, nothing leaked."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.wer import word_error_rate
from tests.server_process import ServerProcess

WER_BOUND = 0.3  # tiny.en on the test clips; a crash must not change the words
RESULT_FILES = sorted(["summary.txt", *(f"transcript.{f}" for f in ("json", "srt", "txt", "vtt"))])


@dataclass
class Plan:
    """One job of the storm and what the client asked of it."""

    job_id: str
    clip: Path
    words: str
    cancel: bool = False
    resend: bool = False
    accepted: bool = False
    cancel_answer: int | None = None
    want: str = "completed"


async def settled(server: ServerProcess, plans: list[Plan], timeout: float = 600) -> None:
    """Until every job has ended and every completed job's summary has too."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        for plan in plans:
            while True:
                async with session.get(f"{server.url}/status/{plan.job_id}") as resp:
                    body = await resp.json()
                done = body.get("status") in ("failed", "cancelled") or (
                    body.get("status") == "completed" and body["summary"]["status"] in ("completed", "failed")
                )
                if done:
                    break
                assert time.monotonic() < deadline, f"{plan.job_id} never settled: {body}\n{server.output()}"
                await asyncio.sleep(0.1)


def _rows(data_dir: Path) -> dict[str, sqlite3.Row]:
    with sqlite3.connect(data_dir / "jobs.db") as db:
        db.row_factory = sqlite3.Row
        rows = {r["job_id"]: r for r in db.execute("SELECT * FROM jobs")}
        assert db.execute("SELECT count(*) FROM summary_outbox").fetchone()[0] == 0, "outbox not drained"
        return rows


def _leaks(data_dir: Path, rows: dict[str, sqlite3.Row]) -> list[str]:
    leaks = [str(p) for p in (data_dir / "uploads").rglob("*") if p.is_file()]
    leaks += [f"row {job_id} still points at {r['upload_path']}" for job_id, r in rows.items() if r["upload_path"]]
    results = data_dir / "results"
    for entry in results.iterdir() if results.exists() else []:
        row = rows.get(entry.name)
        if row is None or row["status"] != "completed":
            leaks.append(str(entry))
        elif sorted(p.name for p in entry.iterdir()) != RESULT_FILES:
            leaks.append(f"{entry}: {sorted(p.name for p in entry.iterdir())}")
    return leaks


def _judge(plan: Plan, row: sqlite3.Row | None, data_dir: Path, log: str) -> list[str]:
    if row is None:
        return [f"lost: {plan.job_id}"]
    problems = []
    if row["status"] != plan.want:
        problems.append(f"wrong state: {plan.job_id} is {row['status']}, the client asked for {plan.want}")
    if log.count(f"job {plan.job_id}: completed in ") > 1:
        problems.append(f"duplicated: {plan.job_id} completed more than once")
    if log.count(f"job {plan.job_id}: summary stored") > 1:
        problems.append(f"summary duplicated: {plan.job_id}")
    if row["status"] == "completed":
        wer = word_error_rate(plan.words, row["text"] or "")
        if wer > WER_BOUND:
            problems.append(f"bad text: {plan.job_id} WER {wer:.2f}: {row['text']!r}")
        summary = data_dir / "results" / plan.job_id / "summary.txt"
        if row["summary_status"] != "completed" or not summary.exists():
            problems.append(f"summary missing: {plan.job_id} ({row['summary_status']})")
        elif summary.read_text(encoding="utf-8").strip() != (row["summary_text"] or "").strip():
            problems.append(f"summary differs from the database: {plan.job_id}")
    return problems


async def check_seed(seed: int, server: ServerProcess, plans: list[Plan]) -> dict[str, Any]:
    await settled(server, plans)
    code = await asyncio.to_thread(server.terminate, 60)
    rows = _rows(server.data_dir)
    log = server.log.read_text(errors="replace")
    problems = [] if code == 0 else [f"exit status {code} on SIGTERM"]
    for plan in plans:
        problems += _judge(plan, rows.get(plan.job_id), server.data_dir, log)
    extra = sorted(set(rows) - {p.job_id for p in plans})
    problems += [f"unexpected job {job_id}" for job_id in extra]
    leaks = _leaks(server.data_dir, rows)
    problems += [f"leaked: {leak}" for leak in leaks]
    kinds = [re.sub(r":.*", "", p) for p in problems]
    return {
        "seed": seed,
        "jobs": len(plans),
        "accepted": sum(p.accepted for p in plans),
        "completed": sum(r["status"] == "completed" for r in rows.values()),
        "cancelled": sum(r["status"] == "cancelled" for r in rows.values()),
        "resent": sum(p.resend for p in plans),
        "lost": kinds.count("lost"),
        "duplicated": kinds.count("duplicated") + kinds.count("summary duplicated") + len(extra),
        "wrong_state": kinds.count("wrong state"),
        "bad_text": kinds.count("bad text"),
        "summaries_missing": kinds.count("summary missing"),
        "leaked_files": len(leaks),
        "problems": problems,
    }
