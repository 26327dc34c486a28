"""One chunk of a fast-mode job cut into parts at quiet points, decoded at once on the model's replicas.

Measured on 2 shared cores (bench/RESULTS.md): two one-thread replicas decoding the two halves of
5 minutes of speech beat one two-thread replica decoding the whole, and by far more when another
process wants the cores too: every decoding step of a two-thread replica waits for both threads,
so one busy core stalls it; one-thread replicas never wait for each other.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from transcriber.speech.audio import SAMPLE_RATE, Samples, quiet_cut

T = TypeVar("T")
# A part shorter than this is not worth an encoder pass of its own (Whisper windows are 30 s).
MIN_PART_SECONDS = 60.0
SEARCH_SECONDS = 5.0
_END = object()


def shares(batched: bool, device: str, replicas: int, batch_size: int) -> tuple[int, int]:
    """(parts, windows per part) for one job. Fast mode on a CPU decodes one part per one-thread
    replica (a GPU batches instead). batch_size is the windows a job holds at once, shared by its
    parts: a batch's encoder output is most of fast mode's memory (two parts of 8 took an hour of
    speech from 841 to 1551 MiB above idle) and on a CPU a smaller batch costs no speed."""
    count = replicas if batched and device == "cpu" else 1
    return count, max(1, batch_size // count)


def split(samples: Samples, parts: int) -> list[tuple[int, int]]:
    """(start, end) sample indices of up to `parts` pieces of similar length, cut where it is quietest."""
    count = max(1, min(parts, int(len(samples) / SAMPLE_RATE // MIN_PART_SECONDS)))
    bounds, start = [], 0
    for index in range(1, count):
        target = len(samples) * index // count
        cut = max(start + 1, quiet_cut(samples, target, int(SEARCH_SECONDS * SAMPLE_RATE)))
        bounds.append((start, cut))
        start = cut
    bounds.append((start, len(samples)))
    return bounds


def in_order(count: int, work: Callable[[int, threading.Event], Iterator[T]]) -> Generator[T, None, None]:
    """Run work(0..count-1) at once in threads; yield part 0's items as they come, then part 1's...

    A consumer that stops early (the job is cancelled) sets the event: each part stops after the
    item it is on, and nothing is left running when this generator is closed.
    """
    stop = threading.Event()
    if count == 1:
        yield from work(0, stop)
        return
    queues: list[queue.Queue[object]] = [queue.Queue() for _ in range(count)]
    pool = ThreadPoolExecutor(count, thread_name_prefix="part")
    for index in range(count):
        pool.submit(_fill, work, index, stop, queues[index])
    try:
        for q in queues:
            while (item := q.get()) is not _END:
                if isinstance(item, _Failed):
                    raise item.error
                yield item  # type: ignore[misc]
    finally:
        stop.set()
        pool.shutdown(wait=True)


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


def _fill(
    work: Callable[[int, threading.Event], Iterator[T]], index: int, stop: threading.Event, q: queue.Queue[object]
) -> None:
    try:
        for item in work(index, stop):
            q.put(item)
            if stop.is_set():
                break
    except BaseException as exc:  # handed to the consumer, which raises it in the job's thread
        q.put(_Failed(exc))
    finally:
        q.put(_END)
