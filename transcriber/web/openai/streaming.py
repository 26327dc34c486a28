"""stream=true on /v1/audio/transcriptions: the job's text as SSE `transcript.text.delta` events, then `.done`."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from transcriber.domain.job import JobStatus
from transcriber.events.waiters import wake_or_timeout
from transcriber.web import keys

POLL_SECONDS = 0.25  # between two looks at the running job's text (its progress events come as often)
MAX_SECONDS = 6 * 3600.0
JOB_ID_HEADER = "X-Job-Id"


def _data(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


async def stream(request: web.Request, job_id: str) -> web.StreamResponse:
    """Answer with the job's text as segments are decoded; the job goes on if the client leaves."""
    app = request.app
    headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", JOB_ID_HEADER: job_id}
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    sent = ""  # the text the deltas carried so far
    deadline = time.monotonic() + MAX_SECONDS
    with app[keys.WAITERS].watch(job_id) as changed:
        while time.monotonic() < deadline:
            changed.clear()
            job = await app[keys.JOBS].get(job_id)
            live = app[keys.SCHEDULER].live(job_id)
            text = job.text or "" if job.status == JobStatus.COMPLETED else live.text if live else ""
            if text.startswith(sent) and len(text) > len(sent):  # the running text only grows
                await response.write(_data({"type": "transcript.text.delta", "delta": text[len(sent) :]}))
                sent = text
            if not job.status.active:
                if job.status == JobStatus.COMPLETED:
                    await response.write(_data({"type": "transcript.text.done", "text": job.text or ""}))
                else:
                    error = {"message": job.error_message or f"The job was {job.status}.", "code": job.error_code}
                    await response.write(_data({"type": "error", "error": error}))
                break
            await wake_or_timeout(changed, POLL_SECONDS)
    await response.write_eof()
    return response
