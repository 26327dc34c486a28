"""A small HTTP client for the CLI's `submit`: upload (streamed), poll status, print the result."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp

POLL_SECONDS = 1.0


async def submit_and_wait(
    base_url: str, path: Path, fields: dict[str, str], *, wait: bool, fmt: str, api_key: str | None
) -> int:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with aiohttp.ClientSession(base_url, headers=headers) as session:
        body = await _upload(session, path, fields)
        if "error" in body:
            sys.stderr.write(f"error: {body['error']['code']}: {body['error']['message']}\n")
            return 1
        job_id = body["job_id"]
        sys.stderr.write(f"job {job_id}: {body['status']}\n")
        if not wait:
            sys.stdout.write(f"{job_id}\n")
            return 0
        status = await _poll(session, job_id)
        if status["status"] != "completed":
            error = status.get("error") or {}
            sys.stderr.write(f"job {job_id}: {status['status']}: {error.get('message', '')}\n")
            return 1
        async with session.get(f"/jobs/{job_id}/transcript.{fmt}") as resp:
            sys.stdout.write(await resp.text())
    return 0


async def _upload(session: aiohttp.ClientSession, path: Path, fields: dict[str, str]) -> dict[str, Any]:
    # The client picks the id so a retry is safe and a load balancer can route on X-Job-Id.
    fields = {"job_id": uuid.uuid4().hex, **fields}
    with path.open("rb") as fh:
        form = aiohttp.FormData()
        for key, value in fields.items():
            form.add_field(key, value)
        form.add_field("file", fh, filename=path.name)
        async with session.post("/transcribe", data=form, headers={"X-Job-Id": fields["job_id"]}) as resp:
            result: dict[str, Any] = await resp.json()
            return result


async def _poll(session: aiohttp.ClientSession, job_id: str) -> dict[str, Any]:
    last = -1.0
    while True:
        async with session.get(f"/status/{job_id}") as resp:
            status: dict[str, Any] = await resp.json()
        if status["status"] in ("completed", "failed", "cancelled"):
            return status
        if status["progress"] != last:
            last = status["progress"]
            sys.stderr.write(f"job {job_id}: {status['status']} {last:.0%}\n")
        await asyncio.sleep(POLL_SECONDS)
