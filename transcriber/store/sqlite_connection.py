"""The SQLite connection the job statements run on: one writer lock, transactions, reads, index hints.

The PostgreSQL store (postgres.py) overrides these few methods with its pool; every statement
above them (job_queries.py, sqlite.py) is shared by both backends."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite

from transcriber.domain.job import Job
from transcriber.store import bulk
from transcriber.store.types import Params, Row, Transaction


class _RolledBack(Exception):
    """Ends a transaction that only measured something, so that it is rolled back."""


class SqliteConnection:
    """One aiosqlite connection, serialised by a lock (one writer)."""

    def __init__(self, conn: aiosqlite.Connection):
        self._conn = conn
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn)
                await self._conn.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a deferred constraint, a full or read-only disk) leaves the
                # transaction open; without this rollback every later BEGIN would fail.
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise

    async def write(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, params)

    async def rows(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            return await bulk.each(list(await cur.fetchall()), dict)

    async def close(self) -> None:
        await self._conn.close()

    async def ping(self) -> None:
        await self.rows("SELECT 1")

    def jobs_by(self, index: str, alias: str = "jobs") -> str:
        """The jobs table, read through this index: SQLite must use it (or fail the statement),
        whatever its statistics say, so a pass over a big history cannot regress to a scan."""
        return f"jobs AS {alias} INDEXED BY {index}"

    async def probe_space(self, nbytes: int) -> None:
        """Raise the database's disk-full error unless nbytes more could be written now; keeps nothing."""
        try:
            async with self.transaction() as tx:
                await tx.execute("CREATE TABLE space_probe (filler TEXT)")
                await tx.execute("INSERT INTO space_probe VALUES (?)", (os.urandom(nbytes // 2).hex(),))
                raise _RolledBack
        except _RolledBack:
            pass

    async def _jobs(self, sql: str, params: Params = ()) -> list[Job]:
        return await bulk.each(await self.rows(sql, params), Job.from_row)
