"""A bounded stop for the arq worker: patient with Redis while it runs, quick once it is stopping.

The worker reconnects for minutes so that a Redis restart does not kill it. arq's close() then
deletes the health-check key through the same retry policy, so a worker told to stop while Redis
is stopping too (one `docker compose down`) kept retrying long past its grace period. Once the
worker's main task has ended (arq cancels it on SIGTERM/SIGINT), every Redis call gets one try.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio.retry import Retry
from redis.backoff import AbstractBackoff
from redis.exceptions import RedisError

T = TypeVar("T")


class WorkerStop:
    """Whether the worker is stopping: its main task, captured at start-up, is done."""

    def __init__(self) -> None:
        self._main: asyncio.Task[Any] | None = None

    def capture(self) -> None:
        """Call from on_startup, which arq runs inside the worker's main task."""
        self._main = asyncio.current_task()

    def __deepcopy__(self, memo: dict[int, Any]) -> WorkerStop:
        return self  # redis-py deep-copies its Retry per client; every copy must see one stop

    @property
    def stopping(self) -> bool:
        return self._main is not None and self._main.done()


class StopAwareRetry(Retry):
    """redis-py's Retry, reduced to a single try once the worker is stopping."""

    __slots__ = ("_stop",)

    def __init__(self, backoff: AbstractBackoff, retries: int, stop: WorkerStop):
        super().__init__(backoff, retries)
        self._stop = stop

    async def call_with_retry(self, do: Callable[[], Awaitable[T]], fail: Callable[[RedisError], Any]) -> T:
        if not self._stop.stopping:
            return await super().call_with_retry(do, fail)
        try:
            return await do()
        except self._supported_errors as error:
            await fail(error)
            raise
