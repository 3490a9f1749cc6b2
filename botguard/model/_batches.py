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
from botguard.model._train import learn_kernel, part_logits
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


def pieces(slot: np.ndarray, open_slot: int | None, open_rows: int, size: int) -> list[tuple[int, int, bool]]:
    """(start, stop, opens) of each micro-batch piece of a call: a run of equal slots cut where the
    batch holds ``size`` rows; ``opens`` when the piece starts a new micro-batch (the first piece
    may continue the batch a previous call left open, of ``open_slot`` with ``open_rows`` rows).

    Examples:
        >>> pieces(np.array([0, 0, 0, 1, 1]), 0, 1, 2)
        [(0, 1, False), (1, 3, True), (3, 5, True)]
    """
    cut = np.flatnonzero(slot[1:] != slot[:-1]) + 1
    at = slot.tolist()
    out = []
    for start, stop in pairwise([0, *cut.tolist(), len(at)]):
        i = start
        while i < stop:
            opens = open_slot != at[i] or open_rows >= size
            if opens:
                open_slot, open_rows = at[i], 0
            j = min(stop, i + size - open_rows)
            out.append((i, j, opens))
            open_rows += j - i
            i = j
    return out


@dataclass(frozen=True, slots=True)
class PieceGroups:
    """A call's requests grouped by (micro-batch piece, actor) in one pass, actors ascending within
    a piece (the order the open batch meets them): each group's counts, its last row, and the
    first row of each of its addresses, so a piece's per-actor work is a loop over its groups.
    """

    at: np.ndarray  # groups of piece k: at[k]:at[k + 1]
    inverse: np.ndarray  # each row's group
    actor: list[int]
    n: list[int]
    human: list[int]
    last: list[int]
    labels: dict[int, list[tuple[int, int]]]  # group -> (label code, count) for codes > 0, ascending
    ip_rows: list[int]  # the first row of each (group, address), by group then address id
    ip_at: list[int]  # addresses of group g: ip_rows[ip_at[g]:ip_at[g + 1]]
    ip_of: list[int]  # each row's address id (call.ip_of as a list: read per address)

    @classmethod
    def of(
        cls, cuts: list[tuple[int, int, bool]], aid: np.ndarray, ip_of: np.ndarray, humanlike: np.ndarray,
        label: np.ndarray, codes: int,
    ) -> PieceGroups:  # fmt: skip
        n_rows = len(aid)
        piece = np.repeat(np.arange(len(cuts)), [j - i for i, j, _ in cuts])
        span = int(aid.max()) + 1 if n_rows else 1
        key = piece * span + aid
        distinct, inverse = np.unique(key, return_inverse=True)
        inverse = inverse.reshape(-1)
        size = len(distinct)
        at = np.searchsorted(distinct, np.arange(len(cuts) + 1) * span)
        last = np.zeros(size, dtype=np.int64)
        last[inverse] = np.arange(n_rows)  # the last row of each group
        count = np.bincount(inverse * codes + label, minlength=size * codes).reshape(size, codes)[:, 1:]
        labels: dict[int, list[tuple[int, int]]] = {}
        g_at, c_at = np.nonzero(count)
        for g, c, k in zip(g_at.tolist(), c_at.tolist(), count[g_at, c_at].tolist()):
            labels.setdefault(g, []).append((c + 1, k))
        pair = inverse * (int(ip_of.max()) + 1 if n_rows else 1) + ip_of
        first = np.unique(pair, return_index=True)[1]
        ip_at = np.searchsorted(inverse[first], np.arange(size + 1))
        return cls(
            at, inverse, (distinct % span).tolist(), np.bincount(inverse, minlength=size).tolist(),
            np.bincount(inverse, humanlike, minlength=size).tolist(), last.tolist(), labels,
            first.tolist(), ip_at.tolist(), ip_of.tolist(),
        )  # fmt: skip


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


class PartIds:
    """Each request's feature parts (one column per kind of part: its actor's, its path's, the
    rest) as ids into one list of the call's distinct parts, with one :class:`PartSums` over all of
    them: a piece is scored with one lookup of stale sums instead of one per kind."""

    def __init__(self, columns: Sequence[tuple[Sequence[FeaturePart], np.ndarray]]) -> None:
        self.parts: list[FeaturePart] = []
        ids = []
        for parts, column in columns:
            ids.append(column + len(self.parts))
            self.parts.extend(parts)
        self.ids = np.stack(ids)
        self.sums = PartSums(self.parts)
        self._rows: list[Parts] | None = None

    def of(self, i: int) -> Parts:
        """Request ``i``'s parts (every request's built at the first call: nearly all are read, as
        an example or a join buffer's entry)."""
        if self._rows is None:
            part = self.parts.__getitem__
            self._rows = list(zip(*(map(part, column) for column in self.ids.tolist())))
        return self._rows[i]

    def logit(self, cols: slice | np.ndarray, table: ParamTable, epoch: int) -> np.ndarray:
        """The scorer's logit of the requests ``cols`` (the bias, then each kind's sum in order)."""
        native = learn_kernel()
        if native is not None and isinstance(cols, slice) and cols.step is None:
            sums = self.sums
            return part_logits(
                native,
                self.ids,
                cols,
                self.parts,
                sums.value,
                sums.epoch,
                table.index,
                table.w,
                epoch,
                bias(table),
            )
        values = self.sums.get(self.ids[:, cols], table, epoch)
        z = values[0]
        for more in values[1:]:
            z = z + more
        return bias(table) + z


def bias(table: ParamTable) -> float:
    row = table.index.get(BIAS)
    return float(table.w[row]) if row is not None else 0.0
