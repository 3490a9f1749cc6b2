"""When each key of a time-keyed map may fall due: keys in buckets of time, so expiry pops instead of scans.

Why: the campaign book forgets idle clients, pages, chains and bursts every few micro-batches;
walking every key of every map each time cost more than all of its signatures together. Each key
is queued once, under a time no later than when it can first be due (the time of its last
sighting: stream time only grows, and a sighting only moves the real due time later). A sweep
pops the keys whose time has passed; the caller checks each against the map as it stands, drops
it or queues it again under its current time. Which keys a sweep drops is therefore exactly what
a scan of the whole map would drop; only the work is bounded by the keys that could be due.

Why buckets, not one heap of keys: a heap paid two sifts of tuple comparisons per key queued and
popped (most of a sweep); a key now costs one append, and only the bucket at a sweep's cutoff is
split by time. The keys a sweep pops are the same (every key queued before the cutoff).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, MutableMapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_WIDTH = 60.0  # seconds of one bucket (sweeps come every few minutes of stream time)
_EDGE = 1 << 62  # the bucket of an infinite time (a loaded key queued under -inf: due at once)


def _bucket(at: float) -> int:
    if math.isfinite(at):
        return int(at // _WIDTH)
    return -_EDGE if at < 0 else _EDGE


class DueQueue(Generic[K]):
    """Keys under a lower bound of the time they may be due, each key at most once."""

    __slots__ = ("_buckets", "_order", "_queued")

    def __init__(self) -> None:
        self._buckets: dict[int, list[tuple[float, K]]] = {}
        self._order: list[int] = []  # a heap of the buckets' numbers
        self._queued: set[K] = set()

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K, at: float) -> None:
        """Queue ``key`` under ``at`` unless it is queued already (its earlier time is a lower bound
        too: times only grow)."""
        if key not in self._queued:
            self._queued.add(key)
            number = _bucket(at)
            bucket = self._buckets.get(number)
            if bucket is None:
                bucket = self._buckets[number] = []
                heapq.heappush(self._order, number)
            bucket.append((at, key))

    def pop_before(self, before: float) -> list[K]:
        """Every key queued under a time earlier than ``before``, taken out of the queue: the caller
        drops it or :meth:`add` s it again."""
        order, buckets, out = self._order, self._buckets, []
        top = _bucket(before)
        numbers = []
        while order and order[0] <= top:
            numbers.append(heapq.heappop(order))
        for number in numbers:
            bucket = buckets.pop(number)
            due = [key for at, key in bucket if at < before]
            out += due
            if len(due) < len(bucket):  # the bucket of the cutoff: the rest stays queued
                buckets[number] = [item for item in bucket if item[0] >= before]
                heapq.heappush(order, number)
        self._queued.difference_update(out)
        return out

    def expire(self, book: MutableMapping[K, V], before: float, last: Callable[[V], float]) -> list[K]:
        """Drop from ``book`` the due keys whose value was last seen before ``before``, queue the
        others again under their last sighting, and return the dropped keys (keys already gone
        from ``book`` are forgotten)."""
        dropped = []
        for key in self.pop_before(before):
            value = book.get(key)
            if value is None:
                continue
            seen = last(value)
            if seen < before:
                del book[key]
                dropped.append(key)
            else:
                self.add(key, seen)
        return dropped

    def clear(self) -> None:
        self._buckets.clear()
        self._order.clear()
        self._queued.clear()
