"""The change feed: the core says which job changed; listeners (live events, webhooks) subscribe."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)
Listener = Callable[[str], None]


class ChangeFeed:
    """Called on the event loop after every committed change of a job; listeners must not block."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def job_changed(self, job_id: str) -> None:
        for listener in self._listeners:
            try:
                listener(job_id)
            except Exception:  # one broken listener must not break the job's own path
                log.exception("job %s: change listener failed", job_id, extra={"job_id": job_id})
