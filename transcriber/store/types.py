"""The store's vocabulary, shared by both backends and by the code that joins their transactions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiosqlite

from transcriber.domain.job import Job

Row = dict[str, Any]
Params = Sequence[Any] | Mapping[str, Any]


class DuplicateJob(Exception):
    """A job with this id exists already (a concurrent request committed it first)."""


class Transaction:
    """A write transaction as the hooks that join it see it: statements, no commit or rollback."""

    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._conn.execute(sql, params)
        return cur.rowcount

    async def rows(self, sql: str, params: Params = ()) -> list[Row]:
        cur = await self._conn.execute(sql, params)
        return [dict(r) for r in await cur.fetchall()]


@dataclass(frozen=True)
class Recovered:
    """What start-up recovery did with the jobs a previous process left running."""

    requeued: list[str]
    failed: list[Job]
    cancelled: list[Job]


class FinishHook(Protocol):
    """Work that must commit together with a job's completion (the summary outbox)."""

    async def on_completed(self, tx: Transaction, job_id: str) -> None: ...
