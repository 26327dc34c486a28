"""SQL of resumable (tus) uploads: create, read, move the offset, remove, find the expired."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from transcriber.clock import utcnow
from transcriber.store.sqlite import Store
from transcriber.store.types import Row


@dataclass(frozen=True)
class TusRow:
    """One unfinished upload as stored."""

    upload_id: str
    owner: str | None
    upload_length: int
    upload_offset: int
    job_id: str
    filename: str | None
    fields: dict[str, str]
    metadata: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Row) -> TusRow:
        values: dict[str, Any] = {k: row[k] for k in cls.__dataclass_fields__}
        values["fields"] = json.loads(row["fields"])
        return cls(**values)


async def add(store: Store, row: TusRow) -> None:
    now = utcnow()
    await store.write(
        "INSERT INTO tus_uploads (upload_id, owner, upload_length, upload_offset, job_id, filename, fields,"
        " metadata, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
        (row.upload_id, row.owner, row.upload_length, row.job_id, row.filename, json.dumps(row.fields),
         row.metadata, now, now),
    )  # fmt: skip


async def get(store: Store, upload_id: str) -> TusRow | None:
    found = await store.rows("SELECT * FROM tus_uploads WHERE upload_id = ?", (upload_id,))
    return TusRow.from_row(found[0]) if found else None


async def set_offset(store: Store, upload_id: str, offset: int) -> None:
    await store.write(
        "UPDATE tus_uploads SET upload_offset = ?, updated_at = ? WHERE upload_id = ?", (offset, utcnow(), upload_id)
    )


async def remove(store: Store, upload_id: str) -> bool:
    return await store.write("DELETE FROM tus_uploads WHERE upload_id = ?", (upload_id,)) > 0


async def untouched_since(store: Store, before: str) -> list[str]:
    """Ids of uploads with no PATCH since `before` (abandoned)."""
    rows = await store.rows("SELECT upload_id FROM tus_uploads WHERE updated_at < ?", (before,))
    return [r["upload_id"] for r in rows]


async def all_ids(store: Store) -> set[str]:
    return {r["upload_id"] for r in await store.rows("SELECT upload_id FROM tus_uploads")}


async def outstanding(store: Store, owner: str | None) -> tuple[int, int]:
    """(unfinished uploads of this owner, bytes every unfinished upload has yet to receive)."""
    mine = await store.rows("SELECT COUNT(*) AS n FROM tus_uploads WHERE owner IS NOT DISTINCT FROM ?", (owner,))
    rest = await store.rows("SELECT COALESCE(SUM(upload_length - upload_offset), 0) AS b FROM tus_uploads")
    return int(mine[0]["n"]), int(rest[0]["b"])
