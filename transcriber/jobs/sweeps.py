"""Start-up clean-up of files no job row needs (a crash mid-accept, mid-prune, mid-write).

Driven by what is on disk, never by the history: the folders are listed in a thread, and the
names found are checked against the store in indexed chunks (jobs_by_upload, the primary key),
so the store is held a few milliseconds at a time. It runs in the background after the server
is listening; only files older than the sweep's start can go, so uploads accepted meanwhile are
never touched (on a shared data directory, only those older than the upload timeout).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from contextlib import suppress
from pathlib import Path

from transcriber.jobs.upload_files import incoming_dir
from transcriber.settings import Settings
from transcriber.store.sqlite import Store

log = logging.getLogger(__name__)


async def drop_finished_uploads(store: Store, data_dir: Path) -> int:
    """keep_audio = false: uploads of jobs that finished just before a crash, found by the index."""
    paths = await store.forget_finished_uploads()
    await asyncio.to_thread(_unlink_all, data_dir, paths)
    return len(paths)


async def run(store: Store, settings: Settings) -> None:
    """Both sweeps, once; a failure is logged (the files stay until the next start)."""
    min_age = settings.server.upload_timeout if store.shared else 0.0
    cutoff = time.time() - min_age
    try:
        uploads = await sweep_uploads(store, settings.data_dir, cutoff)
        results = await sweep_results(store, settings.data_dir, cutoff)
    except Exception:  # the service works without this; it only frees disk space
        log.exception("start-up sweep failed")
        return
    if uploads:
        log.info("removed %d partial or orphaned upload files", uploads)
    if results:
        log.info("removed %d result folders without a job", results)


async def sweep_uploads(store: Store, data_dir: Path, cutoff: float) -> int:
    """Partial uploads and placed files no row holds, last written before cutoff."""
    found = await asyncio.to_thread(_old_files, data_dir / "uploads", cutoff)
    partial = await asyncio.to_thread(_old_files, incoming_dir(data_dir), cutoff)
    known = await store.known_uploads([f"uploads/{name}" for name in found])
    gone = [f"uploads/{n}" for n in found if f"uploads/{n}" not in known]
    gone += [f"uploads/.incoming/{n}" for n in partial if n.endswith(".part")]
    await asyncio.to_thread(_unlink_all, data_dir, gone)
    return len(gone)


async def sweep_results(store: Store, data_dir: Path, cutoff: float) -> int:
    """Result folders (and half-written .tmp/.old ones) whose job row is gone."""
    folders = await asyncio.to_thread(_old_folders, data_dir / "results", cutoff)
    owners = {name: _job_of(name) for name in folders}
    known = await store.known_jobs(sorted(set(owners.values())))
    gone = [name for name, job_id in owners.items() if job_id not in known]
    await asyncio.to_thread(_rmtree_all, data_dir / "results", gone)
    return len(gone)


def _job_of(name: str) -> str:
    if name.startswith(".") and (name.endswith(".tmp") or name.endswith(".old")):
        return name[1:-4]
    return name


def _old_files(folder: Path, cutoff: float) -> list[str]:
    return [e.name for e in _entries(folder) if _is(e, file=True) and _before(e, cutoff)]


def _old_folders(folder: Path, cutoff: float) -> list[str]:
    return [e.name for e in _entries(folder) if _is(e, file=False) and _before(e, cutoff)]


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as listing:
            return list(listing)
    except FileNotFoundError:
        return []


def _is(entry: os.DirEntry[str], *, file: bool) -> bool:
    try:
        return entry.is_file(follow_symlinks=False) if file else entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _before(entry: os.DirEntry[str], cutoff: float) -> bool:
    try:
        return entry.stat(follow_symlinks=False).st_mtime <= cutoff
    except FileNotFoundError:  # placed or removed meanwhile (another server, a request)
        return False


def _unlink_all(data_dir: Path, paths: list[str]) -> None:
    for path in paths:
        with suppress(FileNotFoundError):
            os.unlink(os.path.join(data_dir, path))


def _rmtree_all(folder: Path, names: list[str]) -> None:
    for name in names:
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
