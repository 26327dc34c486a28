"""Retention: finished jobs older than keep_days go (row, upload, results), on a schedule or on demand.

Order makes an interrupted prune harmless: a job's row is deleted (committed) first and its files
after, so a crash in between leaves only files no row refers to, which the start-up sweep (sweeps.py)
removes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import suppress
from pathlib import Path
from typing import TextIO

from transcriber.clock import utc_after
from transcriber.domain.job import Job
from transcriber.outputs.results import remove_many_results
from transcriber.settings import Settings
from transcriber.store.sqlite import Store
from transcriber.store.types import Row

log = logging.getLogger(__name__)
DAY = 86400.0
BATCH = 250  # rows per DELETE: about 5-10 ms of holding the store (2 shared cores)


async def prune(store: Store, data_dir: Path, older_than_days: float) -> list[str]:
    """Remove finished jobs that finished more than older_than_days ago; returns their ids.

    Each batch is one DELETE on the finished_at index; its files go in a thread while the next
    batch is deleted, and the event loop serves requests between batches."""
    cutoff = utc_after(-older_than_days * DAY)
    removed: list[str] = []
    removing: asyncio.Future[None] | None = None
    try:
        while True:
            batch = await store.delete_finished_before(cutoff, BATCH)  # the rows first: files without one are swept
            if removing is not None:
                await removing
                removing = None
            if batch:
                removing = asyncio.ensure_future(asyncio.to_thread(remove_files, data_dir, batch))
                removed += [r["job_id"] for r in batch]
                log.debug("retention removed %d jobs, %s first", len(batch), batch[0]["job_id"])
            if len(batch) < BATCH:
                break
            await asyncio.sleep(0)
    finally:
        if removing is not None:
            await asyncio.shield(removing)
    return removed


def remove_files(data_dir: Path, rows: list[Row]) -> None:
    """Blocking: the results folder and upload file of each removed job."""
    remove_many_results(data_dir, [r["job_id"] for r in rows])
    root = os.fspath(data_dir)
    for row in rows:
        if row["upload_path"]:
            with suppress(FileNotFoundError):
                os.unlink(os.path.join(root, row["upload_path"]))


def discard_upload(settings: Settings, job: Job) -> None:
    """keep_audio = false: the upload goes once its job has ended."""
    if not settings.retention.keep_audio and job.upload_path and not job.status.active:
        (settings.data_dir / job.upload_path).unlink(missing_ok=True)


async def run(store: Store, settings: Settings) -> None:
    """The schedule: prune every prune_interval_seconds while keep_days > 0."""
    keep_days = settings.retention.keep_days
    while keep_days > 0:
        try:
            removed = await prune(store, settings.data_dir, keep_days)
        except Exception:  # a failed pass (database busy, disk error) must not end retention
            log.exception("retention pass failed; trying again at the next interval")
        else:
            if removed:
                log.info("retention removed %d jobs older than %g days", len(removed), keep_days)
        await asyncio.sleep(settings.retention.prune_interval_seconds)


async def prune_command(settings: Settings, older_than: float | None, out: TextIO) -> int:
    """`transcriber prune`: prune now and print each removed job id; 2 when no age is known."""
    days = settings.retention.keep_days if older_than is None else older_than
    if days <= 0 and older_than is None:
        out.write("transcriber prune: give --older-than DAYS or set [retention] keep_days\n")
        return 2
    from transcriber.store.backend import open_job_store  # SQLite or the shared PostgreSQL, as serve does

    store = await open_job_store(settings)
    try:
        removed = await prune(store, settings.data_dir, days)
    finally:
        await store.close()
    for job_id in removed:
        out.write(f"removed {job_id}\n")
    out.write(f"removed {len(removed)} finished jobs older than {days:g} days\n")
    return 0
