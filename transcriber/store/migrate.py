"""Forward-only schema migrations: NNNN_name.sql files applied once each, tracked in the database."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from transcriber.clock import utcnow

if TYPE_CHECKING:
    from transcriber.store.sqlite import Store


def _migrations_dir() -> Path:
    """The SQL lives in the repository's top-level migrations/ folder; an installed wheel carries it
    as transcriber/migrations/ (pyproject maps it there), so no top-level package is installed."""
    package = Path(__file__).resolve().parent.parent
    shipped = package / "migrations"
    return shipped if shipped.is_dir() else package.parent / "migrations"


MIGRATIONS = _migrations_dir()
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_LINE_END = re.compile(r"[ \t]*\n")


async def migrate(store: Store, migrations_dir: Path = MIGRATIONS) -> list[str]:
    """Apply the files not yet recorded, each in its own transaction; returns their names."""
    async with store.transaction() as tx:
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {r["version"] for r in await tx.rows("SELECT version FROM schema_migrations")}
    applied = []
    for version, name, script in await asyncio.to_thread(migration_files, migrations_dir):
        if version not in done:
            await _apply(store, version, name, script)
            applied.append(name)
    return applied


def migration_files(migrations_dir: Path) -> list[tuple[int, str, str]]:
    found = sorted(migrations_dir.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    return [(int(f.name[:4]), f.name, f.read_text(encoding="utf-8")) for f in found]


async def _apply(store: Store, version: int, name: str, script: str) -> None:
    statements = [s for s in split_sql(script) if s.strip()]
    async with store.transaction() as tx:
        for statement in statements:
            await tx.execute(statement)
        await tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (version, name, utcnow()),
        )


def split_sql(script: str) -> list[str]:
    """Split a migration into statements at each ';' that ends one (complete_statement knows quotes
    and comments); a statement keeps the rest of its line when that is only whitespace."""
    statements: list[str] = []
    current = ""
    pieces = script.split(";")
    for i, raw in enumerate(pieces):
        piece = raw
        if not current and statements and (eol := _LINE_END.match(raw)):
            statements[-1] += eol.group()
            piece = raw[eol.end() :]
        current += piece if i == len(pieces) - 1 else piece + ";"
        if i < len(pieces) - 1 and sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    if _COMMENTS.sub("", current).strip():
        raise ValueError("migration ends with an incomplete SQL statement")
    return [s for s in statements if _COMMENTS.sub("", s).strip(" \n\t;")]
