"""The files of resumable uploads: created empty, appended to and fsynced, hashed when finished, swept."""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

from blake3 import blake3

from transcriber.jobs.upload_files import DIGEST_PREFIX

BLOCK = 1024 * 1024  # bytes gathered before one write in a thread
HASH_BLOCK = 8 * 1024 * 1024  # read back at the end to hash: one buffer, reused


def tus_dir(data_dir: Path) -> Path:
    return data_dir / "uploads" / ".tus"


def create_empty(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=False)


def open_at(path: Path, offset: int) -> BinaryIO:
    handle = path.open("r+b")
    handle.truncate(offset)
    handle.seek(offset)
    return handle


class Appender:
    """Appends blocks to an open upload file; knows how many bytes are in it, and fsyncs them."""

    def __init__(self, handle: BinaryIO, offset: int):
        self._handle = handle
        self._held: list[bytes] = []
        self._held_bytes = 0
        self.on_disk = offset  # written, and at sync() durable
        self._durable = offset

    @property
    def unsaved(self) -> int:
        return self.on_disk + self._held_bytes - self._durable

    async def add(self, chunk: bytes) -> None:
        self._held.append(chunk)
        self._held_bytes += len(chunk)
        if self._held_bytes >= BLOCK:
            await asyncio.to_thread(self._flush)

    def _flush(self) -> None:
        blocks, self._held, self._held_bytes = self._held, [], 0
        for block in blocks:
            self._handle.write(block)
            self._handle.flush()
            self.on_disk += len(block)

    def sync(self, close: bool) -> int:
        """Write what is held, fsync; returns the offset now durable. Bytes past it (a write that
        failed part-way) are cut off, as the next PATCH would."""
        try:
            with suppress(OSError):
                self._flush()
            self._handle.truncate(self.on_disk)
            os.fsync(self._handle.fileno())
            self._durable = self.on_disk
            return self.on_disk
        finally:
            if close:
                self._handle.close()


def link_and_hash(path: Path, link: Path) -> str:
    """A second name for the finished file in the incoming folder, which the job service places
    (or removes); the tus file stays until the job is committed, for a retry after a 503."""
    link.parent.mkdir(parents=True, exist_ok=True)
    os.link(path, link)
    # Read in blocks rather than mmap: mapped pages would count as the server's memory (RSS).
    digest = blake3(max_threads=blake3.AUTO)
    with link.open("rb", buffering=0) as fh:
        buffer = bytearray(HASH_BLOCK)
        while taken := fh.readinto(buffer):
            digest.update(memoryview(buffer)[:taken])
    return DIGEST_PREFIX + digest.hexdigest()


def sweep(folder: Path, known: set[str], min_age: float) -> int:
    """Files with no row, untouched for min_age (a crash between the file and the row)."""
    cutoff, removed = time.time() - min_age, 0
    for path in folder.glob("*") if folder.is_dir() else ():
        with suppress(FileNotFoundError):
            if path.name not in known and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed
