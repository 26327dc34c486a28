"""A big job history for the tests that check query plans: built once, read through EXPLAIN."""

from __future__ import annotations

import asyncio
import functools
import shutil
import sqlite3
from pathlib import Path

from bench.history import fill_sqlite
from transcriber.store.backend import open_store

HISTORY = 100_000
OWNER = "key-0123456789ab"


def build(db: Path) -> Path:
    """A migrated jobs.db with 100k finished jobs of one key (none with a callback_url), 50 queued."""

    async def migrate() -> None:
        await (await open_store(db)).close()

    asyncio.run(migrate())
    fill_sqlite(db, HISTORY, queued=50, owner=OWNER)
    return db


@functools.cache
def _analyzed(db: Path) -> Path:
    """A copy of db with planner statistics (ANALYZE), made once per database."""
    copy = db.with_suffix(".analyzed.db")
    shutil.copy(db, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("ANALYZE")
    return copy


def plan(db: Path, sql: str, *, analyzed: bool = False) -> list[str]:
    """EXPLAIN QUERY PLAN details, with planner statistics or without any (as a fresh database)."""
    with sqlite3.connect(_analyzed(db) if analyzed else db) as conn:
        if not analyzed:
            conn.execute("DROP TABLE IF EXISTS sqlite_stat1")
            conn.execute("DROP TABLE IF EXISTS sqlite_stat4")
            conn.execute("ANALYZE sqlite_schema")  # the planner forgets what it knew
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    return [str(r[3]) for r in rows]


def full_scans(details: list[str]) -> list[str]:
    """Plan steps that read every row of a table, or every entry of an index."""
    return [d for d in details if d.startswith("SCAN ") and not d.startswith("SCAN CONSTANT")]


class Traced:
    """Every statement a store ran, parameters filled in (sqlite3's trace callback)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def matching(self, word: str) -> list[str]:
        return [s for s in self.sql if word in s]
