"""A small server-sent-events reader over an aiohttp response, for the live-event tests."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass
class Message:
    event: str
    data: str
    id: str | None  # the id field of this message, if it had one

    @property
    def body(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data)
        return value


class SSEReader:
    """Parses the stream as EventSource does (fields, blank-line dispatch, comments)."""

    def __init__(self, response: aiohttp.ClientResponse):
        self.response = response
        self.comments: list[str] = []
        self.last_id: str | None = None

    async def next(self, timeout: float = 60) -> Message | None:
        """The next message; None when the server ended the stream."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Message | None:
        event, event_id = "message", None
        data: list[str] = []
        while True:
            raw = await self.response.content.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\r\n")
            if not line:
                if data:
                    self.last_id = event_id if event_id is not None else self.last_id
                    return Message(event, "\n".join(data), event_id)
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                self.comments.append(value)
            elif name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value

    async def until(self, job_id: str, statuses: tuple[str, ...], timeout: float = 120) -> list[Message]:
        """Every message up to and including the first status event of job_id in statuses."""
        seen: list[Message] = []
        while True:
            message = await self.next(timeout)
            assert message is not None, f"stream ended before {job_id} reached {statuses}: {seen}"
            seen.append(message)
            if message.event == "status" and message.body["job_id"] == job_id and message.body["status"] in statuses:
                return seen
