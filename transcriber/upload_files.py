"""Uploaded files on disk: the received file, its durable placement under uploads/, and the sweep."""

from __future__ import annotations

import os
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiofiles.os

from transcriber.results import fsync_dir


@dataclass
class Upload:
    """A received file in the incoming folder; remove() it unless it is placed."""

    path: Path
    size: int = 0
    sha256: str = ""
    filename: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)  # fields a route lets come repeatedly
    placed: bool = False

    async def remove(self) -> None:
        if self.placed:
            return
        with suppress(FileNotFoundError):
            await aiofiles.os.remove(self.path)


def incoming_dir(data_dir: Path) -> Path:
    return data_dir / "uploads" / ".incoming"


def place(upload: Upload, data_dir: Path, job_id: str) -> str:
    """fsync the file and move it under uploads/; returns its path relative to data_dir.

    Blocking (fsync), so callers run it in a thread. A per-attempt suffix means a concurrent
    upload with the same job_id can never overwrite this one's file.
    """
    name = f"{job_id}.{uuid.uuid4().hex[:8]}"
    target = data_dir / "uploads" / name
    with upload.path.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(upload.path, target)
    fsync_dir(target.parent)
    upload.path, upload.placed = target, True
    return f"uploads/{name}"


def sweep(data_dir: Path, known: set[str], min_age: float = 0.0) -> int:
    """At start-up: drop partial uploads and files no job row refers to (a crash mid-accept),
    if untouched for min_age seconds (other servers may be writing to a shared directory)."""
    removed = 0
    folder = data_dir / "uploads"
    cutoff = time.time() - min_age
    for path in [*incoming_dir(data_dir).glob("*.part"), *folder.glob("*")]:
        if path.is_file() and f"uploads/{path.name}" not in known and _older(path, min_age, cutoff):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _older(path: Path, min_age: float, cutoff: float) -> bool:
    try:
        return not min_age or path.stat().st_mtime <= cutoff
    except FileNotFoundError:  # another server placed or removed it meanwhile
        return False
