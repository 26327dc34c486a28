"""Renaming a diarized job's speakers: the row, the status text and every result file follow."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from transcriber.domain.job import Job, JobStatus
from transcriber.domain.speakers import check_name
from transcriber.errors import BadRequest, Code, Conflict
from transcriber.outputs.cues import CueLayout
from transcriber.outputs.reload import transcript_from_json
from transcriber.outputs.results import result_path, write_results, write_summary
from transcriber.store.sqlite import Store

BODY_SHAPE = 'The body must be a JSON object of speaker ids to names: {"S1": "Anna"}.'


def parse_names(body: Any, known: set[str]) -> dict[str, str]:
    """{"S1": "Anna"} checked against the job's speaker ids: anything else is a 400."""
    if not isinstance(body, dict) or not body or not all(isinstance(v, str) for v in body.values()):
        raise BadRequest(
            'The body must be a JSON object of speaker ids to names: {"S1": "Anna"}.', code=Code.INVALID_SPEAKERS
        )
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadRequest(f"unknown speaker id(s): {', '.join(unknown)}.", code=Code.UNKNOWN_SPEAKER)
    return {k: check_name(v) for k, v in body.items()}


async def rename(store: Store, data_dir: Path, layout: CueLayout, job: Job, body: Any) -> None:
    """Apply new names to a completed diarized job and render its files again."""
    if job.status != JobStatus.COMPLETED:
        raise Conflict(
            f"Job {job.job_id!r} is {job.status}; speakers can be renamed once it completes.",
            code=Code.JOB_NOT_COMPLETED,
        )
    rows = json.loads(job.speakers or "[]")
    names = parse_names(body, {s["id"] for s in rows})
    path = result_path(data_dir, job.job_id, "json")
    transcript = transcript_from_json(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    transcript = replace(transcript, speaker_names={**transcript.speaker_names, **names})
    await asyncio.to_thread(write_results, data_dir, job.job_id, transcript, layout)
    renamed = [{**row, "name": names.get(row["id"], row["name"])} for row in rows]  # voices kept
    old = {row["name"]: names[row["id"]] for row in rows if row["id"] in names}
    summary = renamed_lines(job.summary_text, old) if job.summary_text else None
    await store.set_speakers(job.job_id, json.dumps(renamed), transcript.text, summary)
    if summary is not None:
        await asyncio.to_thread(write_summary, data_dir, job.job_id, summary)


def renamed_lines(text: str, names: dict[str, str]) -> str:
    """A dialogue summary's "Name: sentence" lines under the new names (other lines as they are)."""
    lines = []
    for line in text.split("\n"):
        speaker, colon, rest = line.partition(": ")
        lines.append(f"{names[speaker]}: {rest}" if colon and speaker in names else line)
    return "\n".join(lines)
