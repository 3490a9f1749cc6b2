"""The campaign book's walk does per call what it did per request, with the same outcome.

Each test here holds a plain per-request form of one rewritten step (what the campaign book did
request by request, in time order) and checks the call-wide form against it on streams built to
break a wrong grouping: the same key on both sides of a cut between calls, an idle gap or an epoch
turn inside a call, several epochs passing at once, reads before any add, repeated keys. Tiny
filters make false positives common, so a bit set too early or too late changes an answer.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

import numpy as np
import pytest

from botguard.config import CampaignRules
from botguard.model._due import DueQueue
from botguard.model._served import ServedPages, pair_hash
from tests.model.streamkit import frame, learner
from tests.model.test_model_campaigns import _home_referer_campaign, _site_day


@dataclass
class _PerRequest:
    """The served pages as they were kept request by request: turn, then set or test three bits."""

    memory: float
    size: int
    epoch: int | None = None
    current: set[int] = field(default_factory=set)
    previous: set[int] = field(default_factory=set)

    def turn(self, t: float) -> None:
        epoch = int(t // self.memory)
        if self.epoch is None:
            self.epoch = epoch
        elif epoch > self.epoch:
            self.previous, self.current = self.current, set()
            if epoch > self.epoch + 1:
                self.previous = set()
            self.epoch = epoch

    def add(self, t: float, cells: list[int]) -> None:
        self.turn(t)
        self.current.update(cells)

    def requested(self, t: float, cells: list[int]) -> bool:
        self.turn(t)
        return all(c in self.current for c in cells) or all(c in self.previous for c in cells)


def _bits(served: ServedPages) -> tuple[set[int], set[int]]:
    def on(bits: np.ndarray) -> set[int]:
        return set(np.flatnonzero(np.unpackbits(bits, bitorder="little")).tolist())

    return on(served.current.bits), on(served.previous.bits)


def _stream(rng: random.Random, n: int, memory: float) -> list[tuple[float, bool, tuple[str, str, str]]]:
    """(time, is_add, triple) in time order: bursts inside an epoch, gaps of one and of many epochs,
    reads and adds of a few triples (so a read often names a triple added just before or after)."""
    t, out = rng.uniform(0, memory), []
    for _ in range(n):
        t += rng.choice((0.0, 0.0, 0.3, 1.7, memory * 0.6, memory, memory * 2.5, memory * 7))
        triple = (f"10.0.{rng.randrange(3)}", rng.choice(("a", "b")), f"/p/{rng.randrange(12)}")
        out.append((t, rng.random() < 0.55, triple))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_a_calls_walk_reads_and_leaves_the_served_pages_as_adding_them_one_by_one(seed: int) -> None:
    """Every read of a call's walk gets the answer the per-request filters gave at that point, and
    after each call the filters (epoch and both bit arrays) are the per-request ones, however the
    stream is cut into calls."""
    rng = random.Random(seed)
    memory = rng.choice((5.0, 10.0, 100.0))
    served = ServedPages(memory, bits=1 << rng.choice((6, 7, 9)))
    ref = _PerRequest(memory, len(served.current.bits) * 8)
    stream = _stream(rng, 160, memory)
    at = 0
    while at < len(stream):
        call = stream[at : at + rng.randint(1, 30)]
        at += len(call)
        adds = [(t, triple) for t, is_add, triple in call if is_add]
        walk = served.walk(
            np.array([t for t, _ in adds], dtype=np.float64),
            np.array([pair_hash(*triple) for _, triple in adds], dtype=np.uint64),
        )
        added = 0
        for t, is_add, triple in call:
            cells = walk.cells(*triple)
            if is_add:
                ref.add(t, cells)
                added += 1
            else:
                assert walk.requested(added, t, cells) == ref.requested(t, cells), (seed, t, triple)
        walk.close()
        assert served.epoch == ref.epoch
        assert _bits(served) == (ref.current, ref.previous)


def test_a_read_sees_an_add_of_its_own_call_only_once_it_is_made() -> None:
    """One call adds a triple after reading it: the read says "not requested", a read after the
    add says "requested" (the adds are made at once, but never before their place in the walk)."""
    served = ServedPages(100.0, bits=1 << 12)
    h = pair_hash("10.0.0", "a", "/p/1")
    walk = served.walk(np.array([5.0]), np.array([h], dtype=np.uint64))
    cells = walk.cells("10.0.0", "a", "/p/1")
    assert not walk.requested(0, 4.0, cells)
    assert walk.requested(1, 6.0, cells)
    walk.close()
    later = served.walk(np.zeros(0), np.zeros(0, dtype=np.uint64))
    assert later.requested(0, 150.0, cells)  # the previous epoch's filter
    assert not later.requested(0, 250.0, cells)  # two epochs on: forgotten


class _HeapQueue:
    """The due queue as one heap of (time, key): what each sweep popped before buckets."""

    def __init__(self) -> None:
        self.heap: list[tuple[float, str]] = []
        self.queued: set[str] = set()

    def add(self, key: str, at: float) -> None:
        if key not in self.queued:
            self.queued.add(key)
            heapq.heappush(self.heap, (at, key))

    def pop_before(self, before: float) -> list[str]:
        out = []
        while self.heap and self.heap[0][0] < before:
            key = heapq.heappop(self.heap)[1]
            self.queued.discard(key)
            out.append(key)
        return out


@pytest.mark.parametrize("seed", range(30))
def test_a_sweep_pops_the_keys_a_heap_of_keys_popped(seed: int) -> None:
    """Keys queued under times inside one bucket and across many, on a bucket's edge, under -inf
    (a loaded book), again while queued (a no-op) and again after a pop: every sweep pops the same
    keys as the heap did, and the map the sweep expires loses the same keys."""
    rng = random.Random(seed)
    queue: DueQueue[str] = DueQueue()
    heap = _HeapQueue()
    book: dict[str, float] = {}
    now = rng.uniform(0, 1000)
    for _ in range(400):
        now += rng.choice((0.0, 0.5, 3.0, 59.99, 60.0, 240.0))
        step = rng.random()
        if step < 0.6:
            key = f"k{rng.randrange(60)}"
            at = rng.choice((now, now - rng.uniform(0, 300), -math.inf, float(int(now // 60) * 60)))
            book[key] = max(book.get(key, -math.inf), at)
            queue.add(key, at)
            heap.add(key, at)
        elif step < 0.8:
            before = now - rng.choice((0.0, 30.0, 60.0, 200.0))
            assert sorted(queue.pop_before(before)) == sorted(heap.pop_before(before))
        else:
            before = now - rng.choice((0.0, 60.0, 120.0))
            kept, was = dict(book), set(book)
            dropped = queue.expire(book, before, lambda at: at)
            for key in heap.pop_before(before):
                if key in kept and kept[key] < before:
                    del kept[key]
                elif key in kept:
                    heap.add(key, kept[key])
            assert book == kept and set(dropped) == was - set(book)
        assert len(queue) == len(heap.queued)


@pytest.mark.parametrize("seed", range(3))
def test_a_day_cut_anywhere_and_with_late_lines_leaves_the_book_as_one_call_does(seed: int) -> None:
    """People reading the site and a campaign naming its home page (orphan referers), the served
    pages remembered 10 minutes (several turns inside one call), some lines written late (their
    times go back): observed in one call or in calls cut at random rows, the scores, the raises
    and the served pages' filters end the same."""
    rng = random.Random(seed)
    rows = sorted(_site_day(0.0, 2.5) + _home_referer_campaign(5000.0), key=lambda r: r["time"])
    pages = [at for at in range(1, len(rows)) if not rows[at]["target"].startswith("/static/")]
    for at in rng.sample(pages, 12):  # a late line: logged after a later one
        rows[at - 1], rows[at] = rows[at], rows[at - 1]
    rules = CampaignRules(orphan_memory=600.0, orphan_warmup=1200.0)
    whole, cut = learner(campaigns=rules), learner(campaigns=rules)
    want = whole.observe(frame(rows)).to_list()
    got: list[float] = []
    at = 0
    while at < len(rows):
        size = rng.choice((1, 2, 7, 50, 333))
        got += cut.observe(frame(rows[at : at + size])).to_list()
        at += size
    assert got == want
    assert cut.raises() == whole.raises() and sum(r.kind == "orphan" for r in whole.raises().values()) >= 1
    one, many = whole.campaigns.served, cut.campaigns.served
    assert many.epoch == one.epoch
    assert np.array_equal(many.current.bits, one.current.bits)
    assert np.array_equal(many.previous.bits, one.previous.bits)
