"""Client side of server-sent events: a line parser per the HTML spec's event-stream rules."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    type: str
    data: str
    id: str | None


@dataclass
class EventParser:
    """Feed it lines (without their line break); it returns an Event at each blank line."""

    last_id: str | None = None
    _type: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment: the server's keep-alive
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None  # "retry" and unknown fields change nothing a CLI needs

    def _dispatch(self) -> Event | None:
        data, kind = self._data, self._type or "message"
        self._data, self._type = [], ""
        if not data:
            return None
        return Event(kind, "\n".join(data), self.last_id)
