"""Admission before an upload is read: concurrent upload slots, per-key queued jobs, free disk space."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from transcriber.errors import Code, InsufficientStorage, TooManyRequests, Unavailable
from transcriber.jobs.outage import free_bytes
from transcriber.jobs.owners import Caller
from transcriber.setting_sections import LimitsSettings
from transcriber.store.sqlite import Store

MIB = 1024 * 1024
UPLOADS_RETRY_AFTER = 5.0
QUOTA_RETRY_AFTER = 30.0


def disk_full_error() -> InsufficientStorage:
    return InsufficientStorage("The server is out of disk space; nothing was kept.", code=Code.INSUFFICIENT_STORAGE)


class Admission:
    """Refuses work the server cannot hold: counts uploads in flight, asks the store and the disk."""

    def __init__(self, limits: LimitsSettings, store: Store, data_dir: Path):
        self._limits = limits
        self._store = store
        self._data_dir = data_dir
        self._uploading = 0
        self._by_client: dict[str, int] = {}

    async def check(self, caller: Caller, content_length: int | None) -> None:
        """429 when the caller's key has its maximum of queued jobs; 507 when the disk is short."""
        cap = self._limits.max_queued_per_key
        if caller.key_id is not None and cap and await self._store.count_queued(caller.key_id) >= cap:
            message = f"This API key already has {cap} queued jobs; wait for some to finish."
            raise TooManyRequests(message, code=Code.TOO_MANY_QUEUED, retry_after=QUOTA_RETRY_AFTER)
        need = self._limits.min_free_disk_mb * MIB + (content_length or 0)
        if free_bytes(self._data_dir) < need:
            raise disk_full_error()

    @contextmanager
    def upload_slot(self, client: str = "") -> Iterator[None]:
        """Hold one of max_concurrent_uploads while the body streams in; 503 when none is free,
        429 when this client address already holds max_uploads_per_client of them."""
        cap, per_client = self._limits.max_concurrent_uploads, self._limits.max_uploads_per_client
        if cap and self._uploading >= cap:
            message = f"{cap} uploads are in progress already; try again shortly."
            raise Unavailable(message, code=Code.TOO_MANY_UPLOADS, retry_after=UPLOADS_RETRY_AFTER)
        if per_client and self._by_client.get(client, 0) >= per_client:
            message = f"{per_client} uploads from your address are in progress already; wait for one to finish."
            raise TooManyRequests(message, code=Code.TOO_MANY_UPLOADS, retry_after=UPLOADS_RETRY_AFTER)
        self._uploading += 1
        self._by_client[client] = self._by_client.get(client, 0) + 1
        try:
            yield
        finally:
            self._uploading -= 1
            if (left := self._by_client[client] - 1) > 0:
                self._by_client[client] = left
            else:
                del self._by_client[client]  # the map holds only addresses uploading now
