"""The queued jobs kept in run order, so "how many, and how many audio seconds, are ahead of this
one" costs O(log n) instead of a walk of the whole queue (every /status body asks it).

Entries sit in small sorted buckets; a Fenwick tree over the buckets holds their counts and
audio seconds, so a prefix is log(buckets) additions plus a bisect and a short sum inside one
bucket. A bucket splits when it doubles and goes when empty; either rebuilds the tree, which is
O(buckets) once every BUCKET changes or so.
"""

from __future__ import annotations

from bisect import bisect_left

BUCKET = 64

Slot = tuple[float, int]  # (virtual deadline, arrival sequence): the run order
Item = tuple[float, int, float]  # a slot and the job's audio seconds


class QueueOrder:
    """A sorted multiset of slots with their durations: add, discard, and sums of what is ahead."""

    def __init__(self) -> None:
        self._buckets: list[list[Item]] = []
        self._durations: list[list[float]] = []  # each bucket's durations, in its order (C-speed sums)
        self._firsts: list[Slot] = []  # each bucket's smallest slot, to find a slot's bucket
        self._counts: list[int] = []  # Fenwick trees (1-based) over the buckets
        self._seconds: list[float] = []

    def add(self, slot: Slot, duration: float) -> None:
        item = (slot[0], slot[1], duration)
        if not self._buckets:
            self._buckets.append([item])
            self._durations.append([duration])
            self._rebuild()
            return
        index = self._bucket_of(slot)
        bucket = self._buckets[index]
        at = bisect_left(bucket, item)
        bucket.insert(at, item)
        self._durations[index].insert(at, duration)
        self._firsts[index] = bucket[0][:2]
        if len(bucket) > 2 * BUCKET:
            durations = self._durations[index]
            self._buckets[index : index + 1] = [bucket[:BUCKET], bucket[BUCKET:]]
            self._durations[index : index + 1] = [durations[:BUCKET], durations[BUCKET:]]
            self._rebuild()
        else:
            self._update(index, 1, duration)

    def discard(self, slot: Slot, duration: float) -> None:
        index = self._bucket_of(slot)
        bucket = self._buckets[index]
        at = bisect_left(bucket, (slot[0], slot[1], -1.0))
        if at == len(bucket) or bucket[at][:2] != slot:
            return
        del bucket[at]
        del self._durations[index][at]
        if not bucket:
            del self._buckets[index]
            del self._durations[index]
            self._rebuild()
            return
        self._firsts[index] = bucket[0][:2]
        self._update(index, -1, -duration)

    def ahead(self, slot: Slot) -> tuple[int, float]:
        """How many entries come before slot, and their audio seconds."""
        if not self._buckets:
            return 0, 0.0
        index = self._bucket_of(slot)
        count, seconds = self._prefix(index)
        at = bisect_left(self._buckets[index], (slot[0], slot[1], -1.0))
        return count + at, seconds + sum(self._durations[index][:at])

    def total_seconds(self) -> float:
        return self._prefix(len(self._buckets))[1]

    def _bucket_of(self, slot: Slot) -> int:
        """The bucket that holds (or would hold) slot: the last one starting at or before it."""
        at = bisect_left(self._firsts, slot)
        if at < len(self._firsts) and self._firsts[at] == slot:
            return at
        return max(0, at - 1)

    def _rebuild(self) -> None:
        self._firsts = [b[0][:2] for b in self._buckets]
        size = len(self._buckets)
        self._counts = [0] * (size + 1)
        self._seconds = [0.0] * (size + 1)
        for i, durations in enumerate(self._durations):
            self._update(i, len(durations), sum(durations))

    def _update(self, index: int, count: int, seconds: float) -> None:
        i = index + 1
        while i < len(self._counts):
            self._counts[i] += count
            self._seconds[i] += seconds
            i += i & -i

    def _prefix(self, index: int) -> tuple[int, float]:
        """Counts and seconds of buckets [0, index)."""
        count, seconds, i = 0, 0.0, index
        while i > 0:
            count += self._counts[i]
            seconds += self._seconds[i]
            i -= i & -i
        return count, seconds
