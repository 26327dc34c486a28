"""Talking to the server through its published loopback port: submit clips, read their jobs."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .podman import CheckFailed

# Share of the clip's words the transcript must contain: base on short clips gets nearly all of
# them; below this the text is not the clip's.
MIN_WORDS = 0.7


@dataclass(frozen=True)
class Clip:
    path: Path
    words: frozenset[str]


def words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.lower()))


def clips(folder: Path) -> list[Clip]:
    """The test clips with their known texts (tests/clips/texts.json), Ogg ones first."""
    texts: dict[str, str] = json.loads((folder / "texts.json").read_text())
    ordered = sorted(texts, key=lambda name: (not name.endswith(".ogg"), name))
    return [Clip(folder / name, words(texts[name])) for name in ordered]


@dataclass(frozen=True)
class Server:
    """The transcriber at http://127.0.0.1:PORT; never any other address."""

    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def submit(self, job_id: str, clip: Clip) -> None:
        """POST /transcribe; anything but a 202 fails the check."""
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="job_id"\r\n\r\n{job_id}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{clip.path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        body = head.encode() + clip.path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.url("/transcribe"), data=body, method="POST")
        request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        with urllib.request.urlopen(request, timeout=60) as answer:
            if answer.status != 202:
                raise CheckFailed(f"POST /transcribe {job_id}: {answer.status}, expected 202")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=10) as answer:
                return int(answer.status), bytes(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def status(self, job_id: str) -> dict[str, Any] | None:
        """The /status body, or None while the server is unreachable (restarting)."""
        try:
            code, body = self.get(f"/status/{job_id}")
        except (OSError, urllib.error.URLError):
            return None
        if code != 200:
            raise CheckFailed(f"GET /status/{job_id}: {code} {body[:200]!r}")
        result: dict[str, Any] = json.loads(body)
        return result

    def wait_done(self, jobs: dict[str, Clip], timeout: float) -> dict[str, dict[str, Any]]:
        """Poll until every job is completed with its summary settled; their last status bodies."""
        deadline = time.monotonic() + timeout
        done: dict[str, dict[str, Any]] = {}
        while len(done) < len(jobs):
            if time.monotonic() > deadline:
                waiting = sorted(set(jobs) - set(done))
                raise CheckFailed(f"{len(waiting)} jobs not done after {timeout:.0f} s: {waiting[:5]}")
            for job_id in sorted(set(jobs) - set(done)):
                body = self.status(job_id)
                if body is not None and finished(body):
                    done[job_id] = body
            time.sleep(1)
        return done

    def any_running(self) -> bool:
        try:
            code, body = self.get("/jobs?status=running")
        except (OSError, urllib.error.URLError):
            return False
        return code == 200 and bool(json.loads(body).get("jobs"))


def finished(body: dict[str, Any]) -> bool:
    summary = body.get("summary") or {}
    return body["status"] in ("completed", "failed", "cancelled") and summary.get("status") not in (
        "pending",
        "queued",
        "running",
    )


def check_job(server: Server, body: dict[str, Any], clip: Clip) -> str | None:
    """Why this finished job is wrong, or None: completed, its text and summary right, files served."""
    job_id = body["job_id"]
    if body["status"] != "completed":
        return f"{job_id}: {body['status']} ({body.get('error')})"
    found = words(body["text"] or "")
    if len(found & clip.words) < MIN_WORDS * len(clip.words):
        return f"{job_id}: text {body['text']!r} does not match {clip.path.name}"
    summary = body["summary"]
    if summary["status"] != "completed" or not summary["text"]:
        return f"{job_id}: summary {summary}"
    code, text = server.get(f"/jobs/{job_id}/transcript.txt")
    if code != 200 or words(text.decode()) != found:
        return f"{job_id}: GET transcript.txt gave {code}"
    return None
