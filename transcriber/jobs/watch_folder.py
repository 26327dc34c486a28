"""The watch folder: complete files in the inbox become jobs; results go to the outbox, sources to done/ or failed/."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from blake3 import blake3
from watchfiles import Change, awatch

from transcriber.domain.job import Job, JobStatus, SummaryStatus
from transcriber.errors import InsufficientStorage, ServiceError, TooManyRequests, Unavailable
from transcriber.jobs.owners import OPEN
from transcriber.jobs.service import JobService
from transcriber.jobs.upload_files import DIGEST_PREFIX, Upload, incoming_dir
from transcriber.outputs.formats import FORMATS
from transcriber.outputs.results import fsync_dir, result_path, results_dir
from transcriber.settings import Settings

log = logging.getLogger(__name__)
# Names copy tools and editors give a file while it is still being written.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download", ".swp", "~")
BUSY = (Unavailable, TooManyRequests, InsufficientStorage)  # the server is full: try the file again later
RETRY_SECONDS = 5.0
POLL_SECONDS = 0.25
SUMMARY_WAITS = (SummaryStatus.PENDING, SummaryStatus.QUEUED, SummaryStatus.RUNNING)


class WatchFolder:
    """Each complete inbox file runs once: its job id comes from its bytes, and it leaves the inbox
    only after its results are written, so a restart at any point finds it again and picks up
    the same job (a new one only if the job never committed)."""

    def __init__(self, settings: Settings, service: JobService):
        self._settings = settings
        self._service = service
        self.inbox = Path(settings.watch.inbox)
        self.outbox = Path(settings.watch.outbox) if settings.watch.outbox else self.inbox / "out"
        self._tasks: dict[Path, asyncio.Task[None]] = {}
        self._hashing = asyncio.Semaphore(2)  # big files are read at most two at a time

    async def run(self, stop: asyncio.Event) -> None:
        for folder in (self.inbox, self.outbox, self.inbox / "done", self.inbox / "failed"):
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        log.info("watching %s for recordings; results go to %s", self.inbox, self.outbox)
        try:
            for path in await asyncio.to_thread(lambda: sorted(self.inbox.iterdir())):  # there before we started
                self._consider(path)
            async for changes in awatch(self.inbox, stop_event=stop, recursive=False, rust_timeout=1000):
                for change, name in changes:
                    if change != Change.deleted:
                        self._consider(Path(name))
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _consider(self, path: Path) -> None:
        if path.parent != self.inbox or path in self._tasks or not wanted(path.name):
            return
        task = asyncio.create_task(self._handle(path))
        self._tasks[path] = task
        task.add_done_callback(lambda _: self._tasks.pop(path, None))

    async def _handle(self, path: Path) -> None:
        try:
            while await self._settled(path):
                if await self._ingest(path):
                    return
                await asyncio.sleep(RETRY_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad file must not stop the folder
            log.exception("watch folder: %s could not be handled", path.name)

    async def _settled(self, path: Path) -> bool:
        """True once the file is unchanged for settle_seconds (not still being copied); False if gone."""
        before = await asyncio.to_thread(_signature, path)
        while before is not None:
            await asyncio.sleep(self._settings.watch.settle_seconds)
            now = await asyncio.to_thread(_signature, path)
            if now == before:
                return True
            before = now
        return False

    async def _ingest(self, path: Path) -> bool:
        """Submit (or find) the file's job and see it through; False to try again later."""
        if (await asyncio.to_thread(_signature, path) or (0, 0))[0] == 0:
            await self._fail(path, "empty_file", "The file is empty.", None)
            return True
        try:
            async with self._hashing:
                digest = await asyncio.to_thread(_digest, path)
        except OSError as exc:
            await self._fail(path, "unreadable", f"The file could not be read: {exc.strerror or exc}.", None)
            return True
        job_id = "watch-" + digest.removeprefix(DIGEST_PREFIX)[:32]
        try:
            job = await self._job(path, job_id, digest)
        except ServiceError as exc:
            if isinstance(exc, BUSY):
                log.info("watch folder: %s waits, the server is busy (%s)", path.name, exc.code)
                return False
            await self._fail(path, exc.code, exc.message, None)
            return True
        job = await self._until(job, lambda j: not j.status.active)
        if job.status == JobStatus.COMPLETED:
            # The transcripts at once; the summary (another service, maybe slower) when it is ready.
            await asyncio.to_thread(self._deliver, path, job.job_id, False)
            await self._until(job, lambda j: j.summary_status not in SUMMARY_WAITS)
            await asyncio.to_thread(self._deliver, path, job.job_id, True)
            log.info("watch folder: %s done as job %s", path.name, job.job_id, extra={"job_id": job.job_id})
        else:
            code, message = job.error_code or str(job.status), job.error_message or f"The job was {job.status}."
            await self._fail(path, code, message, job.job_id)
        return True

    async def _job(self, path: Path, job_id: str, digest: str) -> Job:
        known = await self._service.find(job_id)
        if known is not None and known.upload_digest == digest:
            return known  # a restart, or the same bytes dropped again: that job, not a new one
        part = incoming_dir(self._settings.data_dir) / f"{uuid.uuid4().hex}.part"
        size = await asyncio.to_thread(_copy, path, part)
        upload = Upload(part, size, digest, path.name[:255], {"job_id": job_id})
        _, job = await self._service.submit(upload, OPEN)  # removes the copy unless it placed it
        return job

    async def _until(self, job: Job, done: Callable[[Job], bool]) -> Job:
        while not done(job):
            await asyncio.sleep(POLL_SECONDS)
            job = await self._service.get(job.job_id)
        return job

    def _deliver(self, path: Path, job_id: str, final: bool) -> None:
        """<outbox>/<stem>.<fmt>, each written whole; finally the summary and the source to done/."""
        stem = path.stem
        if not final:
            for fmt in FORMATS:
                _place_copy(result_path(self._settings.data_dir, job_id, fmt), self.outbox / f"{stem}.{fmt}")
        else:
            summary = results_dir(self._settings.data_dir, job_id) / "summary.txt"
            if summary.is_file():
                _place_copy(summary, self.outbox / f"{stem}.summary.txt")
        fsync_dir(self.outbox)
        if final:
            _move(path, self.inbox / "done")

    async def _fail(self, path: Path, code: str, message: str, job_id: str | None) -> None:
        log.warning("watch folder: %s failed: %s (%s)", path.name, message, code)
        body: dict[str, object] = {"file": path.name, "job_id": job_id, "error": {"code": code, "message": message}}
        await asyncio.to_thread(_fail_files, path, self.inbox / "failed", body)


def wanted(name: str) -> bool:
    """Hidden files and the names of files still being written are left alone."""
    return not name.startswith(".") and not name.lower().endswith(PARTIAL_SUFFIXES)


def _signature(path: Path) -> tuple[int, int] | None:
    """(size, mtime) of a regular file; None if it is gone or anything else. Symbolic links are
    left alone too: whoever may write to the inbox must not make the server read other files
    (or /dev/zero)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_size, st.st_mtime_ns


def _digest(path: Path) -> str:
    digest = blake3(max_threads=blake3.AUTO)
    with path.open("rb") as fh:
        while block := fh.read(4 * 1024 * 1024):
            digest.update(block)
    return DIGEST_PREFIX + digest.hexdigest()


def _copy(source: Path, part: Path) -> int:
    """The job's own copy (a hard link where the file systems allow), so the source stays put."""
    part.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, part)
    except OSError:
        shutil.copyfile(source, part)
    return part.stat().st_size


def _place_copy(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    shutil.copyfile(source, tmp)
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def _move(path: Path, folder: Path) -> Path:
    target = folder / path.name
    if target.exists():  # the same name came again: keep both
        target = folder / f"{path.stem}.{uuid.uuid4().hex[:8]}{path.suffix}"
    os.replace(path, target)
    fsync_dir(folder)
    return target


def _fail_files(path: Path, folder: Path, body: dict[str, object]) -> None:
    with suppress(FileNotFoundError):
        moved = _move(path, folder)
        _write_json(folder / f"{moved.name}.error.json", body)


def _write_json(path: Path, body: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
