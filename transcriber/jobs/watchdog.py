"""Per-job timeouts and the worker thread slots a timed-out job leaves behind.

A job whose thread makes no progress for longer than its timeout is ended as failed with
`timeout`. Python cannot kill a thread, so the stuck one is abandoned: its worker gets a fresh
single-thread executor, which keeps the number of jobs transcribed at once where it was (the
abandoned thread still holds its CPU until it wakes, sees the cancel flag and exits).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from transcriber.jobs.runner import RunningJob
from transcriber.setting_sections import QueueSettings
from transcriber.speech.priority import lower_this_thread

POLL_MARGIN = 0.05


def job_timeout(duration: float, queue: QueueSettings) -> float:
    """Seconds a job of this audio length may go without progress before it is ended."""
    return max(queue.job_timeout_min_seconds, queue.job_timeout_factor * duration)


async def finished_in_time(task: asyncio.Task[bool], run: RunningJob, timeout: float) -> bool | None:
    """The task's result, or None once the job has made no progress for `timeout` seconds.

    On None the task is cancelled and the job's cancel flag set, so the thread exits if it wakes.
    """
    while True:
        quiet = time.monotonic() - run.last_progress
        if quiet >= timeout:
            break
        done, _ = await asyncio.wait([task], timeout=timeout - quiet + POLL_MARGIN)
        if done:
            return task.result()
    run.cancel.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None


class ThreadSlots:
    """One single-thread executor per worker; a slot held by a stuck thread is replaced."""

    def __init__(self, count: int):
        self._executors = [self._new(i) for i in range(count)]
        self.abandoned = 0

    @staticmethod
    def _new(index: int) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"whisper-{index}", initializer=lower_this_thread)

    def __getitem__(self, index: int) -> ThreadPoolExecutor:
        return self._executors[index]

    def replace(self, index: int) -> None:
        self._executors[index].shutdown(wait=False, cancel_futures=True)
        self._executors[index] = self._new(index)
        self.abandoned += 1

    def shutdown(self) -> None:
        for executor in self._executors:
            executor.shutdown(wait=False, cancel_futures=True)
