"""One LISTEN/NOTIFY connection to the shared store, opened again after a database restart.

The claims loop and the change bridge hear other servers through it; they see channels and
payloads, never a driver connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from transcriber.store.postgres import CONNECTION_ERRORS, StoreUnavailable

Handler = Callable[[str, str], None]  # (channel, payload)
DATABASE_ERRORS = (StoreUnavailable, asyncpg.PostgresError, *CONNECTION_ERRORS)
CONNECT_TIMEOUT = 5.0


class PgListener:
    """Listens on the given channels; `ensure()` (re)connects, `notify()` sends."""

    def __init__(self, url: str, handlers: Mapping[str, Handler]):
        self._url = url
        self._handlers = dict(handlers)
        self._conn: asyncpg.Connection | None = None

    async def ensure(self) -> bool:
        """Connect when there is no live connection; True when this call (re)connected."""
        if self._conn is not None and not self._conn.is_closed():
            return False
        self._conn = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
        for channel in self._handlers:
            await self._conn.add_listener(channel, self._deliver)
        return True

    async def notify(self, channel: str, payload: str) -> None:
        await self.ensure()
        assert self._conn is not None
        await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a connection the server already dropped
                await self._conn.close()
            self._conn = None

    def _deliver(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self._handlers[channel](channel, payload)
