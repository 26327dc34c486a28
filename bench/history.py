"""A big job history made fast: one INSERT ... SELECT per table (recursive CTE or generate_series).

Rows look like the upload path writes them (an upload path, a digest, a transcript), finished over
the last `days` days in order; `queued` more wait in the queue, newest last. Used by the history
tests (EXPLAIN QUERY PLAN on a large table) and by the history bench.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

TEXT = "And so, my fellow Americans: ask not what your country can do for you."
_STATUS = "CASE i % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'cancelled' ELSE 'completed' END"

_SQLITE = f"""
INSERT INTO jobs (job_id, status, created_at, started_at, finished_at, updated_at, attempts, progress,
                  duration, options, upload_path, upload_bytes, upload_digest, upload_filename, text, owner)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :finished),
t(i, at) AS (SELECT i, strftime('%Y-%m-%dT%H:%M:%fZ', julianday('now') - :days * (:finished - i + 1.0) / :finished)
               FROM n)
SELECT printf('%s%07d', :prefix, i), {_STATUS}, at, at, at, at, 1, 1.0, 11.0, '{{}}',
       printf('uploads/%s%07d.0000abcd', :prefix, i), 176444, 'blake3:' || hex(randomblob(32)), 'jfk.wav', :text, :owner
  FROM t
"""
_SQLITE_QUEUED = """
INSERT INTO jobs (job_id, status, created_at, updated_at, duration, options, upload_path, upload_bytes,
                  upload_digest, upload_filename, owner)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :queued),
t(i, at) AS (SELECT i, strftime('%Y-%m-%dT%H:%M:%fZ', julianday('now') - (:queued - i + 1.0) / 86400000.0) FROM n)
SELECT printf('%sq%07d', :prefix, i), 'queued', at, at, 11.0, '{}', printf('uploads/%sq%07d.0000abcd', :prefix, i),
       176444, 'blake3:' || hex(randomblob(32)), 'jfk.wav', :owner
  FROM t
"""


def fill_sqlite(
    db: Path, finished: int, queued: int = 0, *, days: float = 365.0, prefix: str = "hist-", owner: str | None = None
) -> None:
    """Add `finished` finished and `queued` queued jobs (of one API key's owner id) to a migrated jobs.db."""
    with sqlite3.connect(db) as conn:
        params = {"finished": finished, "queued": queued, "days": days, "prefix": prefix, "text": TEXT, "owner": owner}
        if finished:
            conn.execute(_SQLITE, params)
        if queued:
            conn.execute(_SQLITE_QUEUED, params)


_ISO = (
    "to_char((now() - $3 * ({n} - i + 1.0) / {n} * interval '1 day') AT TIME ZONE 'UTC',"
    ' \'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\')'
)
_PG = f"""
INSERT INTO jobs (job_id, status, created_at, started_at, finished_at, updated_at, attempts, progress,
                  duration, options, upload_path, upload_bytes, upload_digest, upload_filename, text)
SELECT $2 || lpad(i::text, 7, '0'), {_STATUS}, at, at, at, at, 1, 1.0, 11.0, '{{}}',
       'uploads/' || $2 || lpad(i::text, 7, '0') || '.0000abcd', 176444, 'blake3:' || md5(i::text) || md5(i::text),
       'jfk.wav', $4
  FROM (SELECT i, {_ISO.format(n="$1")} AS at FROM generate_series(1, $1::int) AS i) AS t
"""
_PG_QUEUED = f"""
INSERT INTO jobs (job_id, status, created_at, updated_at, duration, options, upload_path, upload_bytes,
                  upload_digest, upload_filename)
SELECT $2 || 'q' || lpad(i::text, 7, '0'), 'queued', at, at, 11.0, '{{}}',
       'uploads/' || $2 || 'q' || lpad(i::text, 7, '0') || '.0000abcd', 176444, 'blake3:' || md5(i::text), 'jfk.wav'
  FROM (SELECT i, {_ISO.format(n="$1")} AS at FROM generate_series(1, $1::int) AS i) AS t
"""


async def fill_pg(url: str, finished: int, queued: int = 0, *, days: float = 365.0, prefix: str = "hist-") -> None:
    """The same history in a migrated PostgreSQL database."""
    conn = await asyncpg.connect(url)
    try:
        if finished:
            await conn.execute(_PG, finished, prefix, days, TEXT)
        if queued:
            await conn.execute(_PG_QUEUED, queued, prefix, queued / 86400000.0)
    finally:
        await conn.close()
