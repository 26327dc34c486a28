"""A full disk or database as an outage: noticed once, probed until space is back, shown on /health."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from transcriber.store.full import is_disk_full
from transcriber.store.sqlite import Store

__all__ = ["DiskOutage", "free_bytes", "is_disk_full"]

log = logging.getLogger(__name__)
MIB = 1024 * 1024
PROBE_BYTES = 64 * 1024  # what a probe writes: a results set or a progress row needs about this much
PROBE_SECONDS = 1.0  # how often a full disk is looked at again


def free_bytes(data_dir: Path) -> int:
    """Free space on the file system that holds data_dir (or its nearest existing parent)."""
    folder = data_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _probe_file(folder: Path) -> None:
    """Write, fsync and remove a small file: raises ENOSPC while the file system is full."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".space-probe-{os.getpid()}"
    try:
        with path.open("wb") as fh:
            fh.write(os.urandom(PROBE_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        path.unlink(missing_ok=True)


class DiskOutage:
    """Whether the server is out of space; one WARNING when an outage starts, one INFO when it ends."""

    def __init__(self, data_dir: Path, store: Store, min_free_mb: int):
        self._data_dir = data_dir
        self._store = store
        self._min_free = min_free_mb * MIB
        self._since: float | None = None

    @property
    def active(self) -> bool:
        return self._since is not None

    def begin(self, what: str, exc: BaseException) -> None:
        if self._since is None:
            self._since = time.monotonic()
            log.warning("out of disk space (%s: %s); jobs wait until space is back", what, _describe(exc))

    def end(self) -> None:
        if self._since is not None:
            log.info("disk space is back after %.0f s; jobs run again", time.monotonic() - self._since)
            self._since = None

    def problem(self) -> str | None:
        """The /health problem while the disk is full or free space is under the minimum."""
        free = free_bytes(self._data_dir)
        if self.active:
            return f"disk_full: writes fail for lack of space ({free // MIB} MB free); jobs wait"
        if free < self._min_free:
            return f"disk_full: {free // MIB} MB free, under the {self._min_free // MIB} MB minimum"
        return None

    async def probe(self) -> bool:
        """True when a small write to the data folder, the results folder and the database works."""
        if await asyncio.to_thread(free_bytes, self._data_dir) < self._min_free:  # statvfs can hang on NFS
            return False
        try:
            for folder in (self._data_dir, self._data_dir / "results"):
                await asyncio.to_thread(_probe_file, folder)
            await self._store.probe_space(PROBE_BYTES)
        except Exception as exc:
            if is_disk_full(exc):
                return False
            raise
        return True

    async def wait(self, stopping: Callable[[], bool]) -> None:
        """Return at once without an outage; else once a probe succeeds (or the server stops)."""
        while self.active and not stopping():
            await asyncio.sleep(PROBE_SECONDS)
            try:
                if await self.probe():
                    self.end()
            except Exception:  # a probe that breaks otherwise must not stop the worker waiting
                log.exception("disk space probe failed")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip()[:200]}"
