"""Micro-batches of the stream, cut by stream time and count alone, whatever the calls' sizes.

Why time as well as count: Adagrad moves a weight by about ``lr`` per update, so how fast a new
crawler is learned depends on updates per stream second, not per request: a quiet site must not
wait for 1,024 requests (minutes) before its first update.

Why independent of calls: a scan replays a log in batches of one size and a watch follows it in
chunks of another; both must learn the same thing. A micro-batch is the requests of one
``span``-second slot of stream time (at most ``size`` of them); the last one a call touches stays
*open* (its requests are scored, its examples and signature counts wait) until a request past it
arrives, in this call or a later one. Its requests are scored with the scorer's weights, which
change only when a micro-batch starts, so scoring them at once or later gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, pairwise

import numpy as np

from botguard.model._join import Parts
from botguard.model._keys import FeaturePart
from botguard.model.learner import BIAS
from botguard.model.signatures import SignatureGroup
from botguard.model.table import ParamTable


@dataclass(slots=True)
class GroupCounts:
    """One actor's requests in the open micro-batch: what its signature keys will be credited with."""

    keys: tuple[str, ...]  # the actor's signature keys
    n: int = 0
    high: int = 0
    psum: float = 0.0
    human: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    ips: set[str] = field(default_factory=set)
    nets: set[str] = field(default_factory=set)
    agent: str = ""
    last: Parts = ()  # the parts of its latest request (the candidate's explanation sample)


@dataclass(slots=True)
class OpenBatch:
    """The micro-batch requests are being added to: its slot, times, examples and actor counts."""

    slot: int
    first: float
    last: float
    rows: int = 0
    parts: list[Parts] = field(default_factory=list)
    ys: list[bool] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    uids: list[int] = field(default_factory=list)
    groups: dict[int, GroupCounts] = field(default_factory=dict)  # actor id -> counts, first-seen order

    def signature_groups(self) -> list[SignatureGroup]:
        """The counts as the signature book takes them (one group per actor)."""
        out = []
        for g in self.groups.values():
            x = Sample(g.last)
            out.append(
                SignatureGroup(g.keys, g.n, g.high, g.psum, g.ips, g.nets, g.labels, {g.agent}, x, g.human)
            )
        return out


class Sample(Mapping[str, float]):
    """A request's feature keys as a binary ``x`` (every value 1.0), built when first read.

    Why lazy: every actor of every micro-batch hands the signature book one, and the book keeps
    the last few per key only to explain a candidate; most are never read.
    """

    __slots__ = ("_parts", "_x")

    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self._x: dict[str, float] | None = None

    def _dict(self) -> dict[str, float]:
        if self._x is None:
            self._x = dict.fromkeys(chain.from_iterable(self._parts), 1.0)
        return self._x

    def __getitem__(self, key: str) -> float:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())


def slots(t: np.ndarray, span: float) -> np.ndarray:
    """Each request's slot of stream time.

    Examples:
        >>> slots(np.array([0.0, 4.9, 5.0, 12.0]), 5.0).tolist()
        [0, 0, 1, 2]
    """
    return np.floor(t / span).astype(np.int64)


def runs(slot: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of equal slots."""
    cut = np.flatnonzero(slot[1:] != slot[:-1]) + 1
    bounds = [0, *cut.tolist(), len(slot)]
    return list(pairwise(bounds))


class PartSums:
    """Each part's sum of the scorer's weights, recomputed only after a publication changed them."""

    def __init__(self, parts: Sequence[FeaturePart]) -> None:
        self.parts = parts
        self.value = np.zeros(len(parts))
        self.epoch = np.full(len(parts), -1, dtype=np.int64)

    def get(self, ids: np.ndarray, table: ParamTable, epoch: int) -> np.ndarray:
        mark = np.zeros(len(self.parts), dtype=bool)
        mark[ids[self.epoch[ids] != epoch]] = True
        stale = np.flatnonzero(mark)  # the stale parts, ascending (as np.unique, without sorting)
        if stale.size:
            chosen = [self.parts[k] for k in stale.tolist()]
            keys = list(chain.from_iterable(chosen))
            owner = np.repeat(np.arange(len(chosen)), [len(p) for p in chosen])
            rows = table.lookup(keys)
            known = rows >= 0
            self.value[stale] = np.bincount(owner[known], table.w[rows[known]], minlength=len(chosen))
            self.epoch[stale] = epoch
        return self.value[ids]


def bias(table: ParamTable) -> float:
    row = table.index.get(BIAS)
    return float(table.w[row]) if row is not None else 0.0
