"""ChangeFeed: the core says "job X changed" after each committed change; listeners fan out."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)
Listener = Callable[[str], None]


class ChangeFeed:
    """Synchronous fan-out on the event loop; listeners must be cheap (mark and return)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def job_changed(self, job_id: str) -> None:
        for listener in self._listeners:
            try:
                listener(job_id)
            except Exception:  # one broken listener must not break the core's write path
                log.exception("job %s: change listener failed", job_id, extra={"job_id": job_id})
