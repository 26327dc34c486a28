"""Both job stores for parametrized tests: a job row as uploads insert it, and a reader that looks
at the database through a separate connection, as an operator's sqlite3 or psql shell would."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from transcriber.domain.job import NewJob
from transcriber.store.pg_sql import numbered

Peek = Callable[..., Awaitable[list[dict[str, Any]]]]
BACKENDS = ("sqlite", "postgres")


def job(job_id: str, duration: float = 3.0) -> NewJob:
    """A job as the upload path inserts it."""
    return NewJob(
        job_id=job_id,
        duration=duration,
        options={"language": None, "task": "transcribe"},
        upload_path=f"uploads/{job_id}",
        upload_bytes=1234,
        upload_digest="ab" * 32,
        upload_filename="clip.wav",
        upload_format="wav/pcm_s16le",
    )


def sqlite_peek(db: Path) -> Peek:
    async def peek(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with sqlite3.connect(db) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, params).fetchall()]

    return peek


def pg_peek(url: str) -> Peek:
    async def peek(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(url)
        try:
            return [dict(r) for r in await conn.fetch(numbered(sql, False)[0], *params)]
        finally:
            await conn.close()

    return peek
