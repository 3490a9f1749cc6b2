"""When each key of a time-keyed map may fall due: a lazy min-heap, so expiry pops instead of scans.

Why: the campaign book forgets idle clients, pages, chains and bursts every few micro-batches;
walking every key of every map each time cost more than all of its signatures together. Each key
sits in the heap once, under a time no later than when it can first be due (the time of its last
sighting: stream time only grows, and a sighting only moves the real due time later). A sweep
pops the keys whose time has passed; the caller checks each against the map as it stands, drops
it or queues it again under its current time. Which keys a sweep drops is therefore exactly what
a scan of the whole map would drop; only the work is bounded by the keys that could be due.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, MutableMapping
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class DueQueue(Generic[K]):
    """Keys under a lower bound of the time they may be due, each key at most once."""

    __slots__ = ("_heap", "_queued")

    def __init__(self) -> None:
        self._heap: list[tuple[float, Any]] = []
        self._queued: set[K] = set()

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, key: K, at: float) -> None:
        """Queue ``key`` under ``at`` unless it is queued already (its earlier time is a lower bound
        too: times only grow)."""
        if key not in self._queued:
            self._queued.add(key)
            heapq.heappush(self._heap, (at, key))

    def pop_before(self, before: float) -> list[K]:
        """Every key queued under a time earlier than ``before``, taken out of the queue: the caller
        drops it or :meth:`add` s it again."""
        heap, queued, out = self._heap, self._queued, []
        while heap and heap[0][0] < before:
            key = heapq.heappop(heap)[1]
            queued.discard(key)
            out.append(key)
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
        self._heap.clear()
        self._queued.clear()
