"""A queue slot held by one upload between admission and enqueue: the queue's capacity is hard."""

from __future__ import annotations

from collections.abc import Callable


class Reservation:
    """Taken at admission, before the awaits of placing the file and committing the row, so a
    burst of uploads cannot all pass the capacity check; released unless the job is enqueued."""

    def __init__(self, release: Callable[[], None], enqueue: Callable[[str, float], None]):
        self._release: Callable[[], None] | None = release
        self._enqueue = enqueue

    def enqueue(self, job_id: str, duration: float) -> None:
        """The job is committed: its reserved slot becomes its place in the queue."""
        self.release()
        self._enqueue(job_id, duration)

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
