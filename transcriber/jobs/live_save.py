"""A finished live session kept as a job: its audio as a WAV under uploads/, its turns as the transcript."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from blake3 import blake3

from transcriber.domain.job import JobStatus, NewJob, Outcome
from transcriber.domain.options import JobOptions
from transcriber.events.changes import ChangeFeed
from transcriber.jobs import upload_files
from transcriber.jobs.live_session import LiveSession
from transcriber.outputs.results import write_results
from transcriber.outputs.transcript import Segment, Transcript
from transcriber.speech.audio import SAMPLE_RATE
from transcriber.store.sqlite import Store
from transcriber.store.types import FinishHook

log = logging.getLogger(__name__)
FLUSH_BYTES = 256 * 1024  # 8 s of 16 kHz PCM16: what the recorder holds before writing
MIN_SECONDS = 0.1
WAV_HEADER = 44


@dataclass(frozen=True)
class SaveDeps:
    store: Store
    data_dir: Path
    changes: ChangeFeed
    hooks: Sequence[FinishHook]  # the summary relay, as for file jobs


def _header(data_bytes: int) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class LiveRecorder:
    """Writes the session's 16 kHz audio to a partial file as it comes (bounded memory), then saves it."""

    def __init__(self, deps: SaveDeps, owner: str | None):
        self._deps = deps
        self._owner = owner
        self._path = upload_files.incoming_dir(deps.data_dir) / f"live-{uuid.uuid4().hex}.part"
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._written = 0

    async def take(self, session: LiveSession) -> None:
        """Move the session's new audio here; write it out once enough is held."""
        blocks, session.recorded[:] = list(session.recorded), []
        self._held += blocks
        self._held_bytes += sum(map(len, blocks))
        if self._held_bytes >= FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        data, self._held, self._held_bytes = b"".join(self._held), [], 0
        if data:
            await asyncio.to_thread(self._append, data)

    def _append(self, data: bytes) -> None:
        if self._written == 0:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._path.write_bytes(_header(0))
        with self._path.open("ab") as fh:
            fh.write(data)
        self._written += len(data)

    async def finish(self, session: LiveSession, model: str, *, saved: bool) -> str | None:
        """The new job's id, or None when there was nothing worth keeping (the partial file goes)."""
        await self.take(session)
        await self._flush()
        try:
            if not saved or self._written < MIN_SECONDS * SAMPLE_RATE * 2 or not session.finals:
                return None
            return await self._save(session, model)
        finally:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(self._path.unlink)

    def _seal(self) -> str:
        """Write the real sizes into the header; the file's digest."""
        with self._path.open("r+b") as fh:
            fh.write(_header(self._written))
        digest = blake3()
        with self._path.open("rb") as fh:
            while block := fh.read(upload_files.BLOCK):
                digest.update(block)
        return upload_files.DIGEST_PREFIX + digest.hexdigest()

    async def _save(self, session: LiveSession, model: str) -> str:
        deps, job_id = self._deps, uuid.uuid4().hex
        upload = upload_files.Upload(self._path, self._written + WAV_HEADER, await asyncio.to_thread(self._seal))
        upload.filename = f"live-{job_id[:8]}.wav"
        path = await asyncio.to_thread(upload_files.place, upload, deps.data_dir, job_id)
        duration = round(self._written / 2 / SAMPLE_RATE, 3)
        options = JobOptions(language=session.config.language, initial_prompt=session.config.prompt or None)
        job = NewJob(
            job_id,
            duration,
            options.to_dict(),
            path,
            upload.size,
            upload.digest,
            upload.filename,
            "wav/pcm_s16le",
            owner=self._owner,
        )
        await deps.store.insert_job(job)
        if await deps.store.claim_job(job_id) is None:  # a shared store's worker took it: it transcribes the WAV
            return job_id
        transcript = self._transcript(session, duration, model)
        await asyncio.to_thread(write_results, deps.data_dir, job_id, transcript)
        outcome = Outcome(JobStatus.COMPLETED, text=transcript.text, language=transcript.language, model=model)
        await deps.store.finish_job(job_id, outcome, deps.hooks)
        deps.changes.job_changed(job_id)
        log.info("job %s: saved from a live session (%.1f s)", job_id, duration, extra={"job_id": job_id})
        return job_id

    @staticmethod
    def _transcript(session: LiveSession, duration: float, model: str) -> Transcript:
        segments = tuple(Segment(round(t.start, 3), round(t.end, 3), " " + t.text) for t in session.finals if t.text)
        language = session.config.language
        settings = {"mode": "live", "language": session.config.language, "initial_prompt": session.config.prompt}
        return Transcript(language, None, duration, segments, settings, {"model": model, "source": "live"})
