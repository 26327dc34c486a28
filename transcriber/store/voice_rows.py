"""SQL of enrolled voices: add, list and delete a key's voices, and read their vectors for matching."""

from __future__ import annotations

import json
import uuid
from typing import Any

from transcriber.clock import utcnow
from transcriber.store.sqlite import Store

# "Same owner", NULL included: without API keys every voice has no owner.
_OWNED = "coalesce(owner, '') = coalesce(?, '')"


async def add(store: Store, owner: str | None, name: str, vector: list[float], source: str) -> dict[str, Any]:
    row = {
        "voice_id": uuid.uuid4().hex,
        "owner": owner,
        "name": name,
        "vector": json.dumps([round(x, 5) for x in vector]),
        "source": source,
        "created_at": utcnow(),
    }
    cols, marks = ", ".join(row), ", ".join(f":{k}" for k in row)
    await store.write(f"INSERT INTO voices ({cols}) VALUES ({marks})", row)
    return public(row)


def public(row: dict[str, Any]) -> dict[str, Any]:
    """What a client sees of a voice (never the vector)."""
    return {k: row[k] for k in ("voice_id", "name", "source", "created_at")}


async def listed(store: Store, scope: str | None) -> list[dict[str, Any]]:
    """The voices a caller may see: its own, or every one for a caller that sees all (scope None)."""
    if scope is None:
        rows = await store.rows("SELECT * FROM voices ORDER BY created_at, voice_id")
    else:
        rows = await store.rows(f"SELECT * FROM voices WHERE {_OWNED} ORDER BY created_at, voice_id", (scope,))
    return [public(dict(r)) for r in rows]


async def delete(store: Store, voice_id: str, scope: str | None) -> bool:
    if scope is None:
        return await store.write("DELETE FROM voices WHERE voice_id = ?", (voice_id,)) > 0
    return await store.write(f"DELETE FROM voices WHERE voice_id = ? AND {_OWNED}", (voice_id, scope)) > 0


async def vectors(store: Store, owner: str | None) -> list[tuple[str, list[float]]]:
    """(name, vector) of every voice of one owner, oldest first: what a job of theirs is matched with."""
    rows = await store.rows(f"SELECT name, vector FROM voices WHERE {_OWNED} ORDER BY created_at", (owner,))
    return [(str(r["name"]), [float(x) for x in json.loads(r["vector"])]) for r in rows]
