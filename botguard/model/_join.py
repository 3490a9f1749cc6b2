"""Labelled examples: the label join window, the per-actor cap, masking, and training the trainer.

No look-ahead (../shared/notes/online-model.md §2 rule 2): an actor's label is decided at the
time of the request that completes its evidence. The actor's requests scored before then wait in
a short buffer (the most recent ``max_pending``); when the label arrives, those within
``window`` seconds are trained with it (in the micro-batch of the request that decided it) and
older ones were only scored. A chatty client weighs in training at most ``max_per_minute``
examples per minute of stream time. Each example is trained without the slots its label source
read (:data:`~botguard.model.labels.MASKS`, rule 1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from botguard.model._actors import SOURCES, ActorTable, Folded
from botguard.model._keys import MEMO_LIMIT, FeaturePart
from botguard.model._train import learn_kernel, masked_keys
from botguard.model.labels import MASKS
from botguard.model.learner import OnlineLR
from botguard.model.records import StreamCounters

Parts = tuple[FeaturePart, ...]


@dataclass(frozen=True, slots=True)
class Examples:
    """A call's training examples, in the order they train: the call row whose micro-batch trains
    each, its feature parts, label, own time, label source and client id."""

    row: np.ndarray
    parts: list[Parts]
    y: np.ndarray
    t: np.ndarray
    source: list[str]
    uid: np.ndarray

    def __len__(self) -> int:
        return len(self.parts)


@dataclass(frozen=True, slots=True)
class JoinRules:
    window: float  # seconds an unlabelled request waits for its actor's label
    max_pending: int  # unlabelled requests kept per actor (the most recent)
    max_per_minute: int  # examples per actor per minute of stream time


def examples(
    f: Folded, t: np.ndarray, parts: Callable[[int], Parts], table: ActorTable, rules: JoinRules,
    counters: StreamCounters,
) -> Examples:  # fmt: skip
    """The examples a call's requests make (``t`` and ``parts`` by sorted row; each example's
    ``row`` is the call row whose micro-batch trains it), and the actors' join buffers carried on:
    requests still waiting for a label, most recent last."""
    pending = table.pending
    for aid in f.dropped.tolist():  # their session ended: what waited goes unlabelled
        counters.expired_unlabelled += len(pending.pop(aid, ()))
    n = len(f.aid)
    ends = np.append(f.starts[1:], n)
    out_row: list[int] = []
    out_parts: list[Parts] = []
    out_t: list[float] = []
    out_code: list[int] = []
    out_aid: list[int] = []
    for s, (start, end) in enumerate(zip(f.starts.tolist(), ends.tolist())):
        aid = int(f.aid[start])
        arrival = int(f.arrival[s])
        held = pending.pop(aid, []) if f.carry[s] else []
        if arrival < 0 and f.label[start] == 0:  # no label in this segment: it all waits
            waiting = held + [(parts(r), float(t[r])) for r in range(start, end)]
            last_of_actor = end == n or f.aid[end] != aid
            if last_of_actor:
                keep = waiting[-rules.max_pending :]
                counters.expired_unlabelled += len(waiting) - len(keep)
                if keep:
                    pending[aid] = keep
            else:
                counters.expired_unlabelled += len(waiting)
            continue
        if arrival >= 0:  # the label arrived here: what waited within the window joins it
            waiting = (held + [(parts(r), float(t[r])) for r in range(start, arrival)])[-rules.max_pending :]
            expired = len(held) + (arrival - start) - len(waiting)
            horizon = t[arrival] - rules.window
            for p, old_t in waiting:
                if old_t >= horizon:
                    out_row.append(arrival)
                    out_parts.append(p)
                    out_t.append(old_t)
                    out_code.append(int(f.label[arrival]))
                    out_aid.append(aid)
                else:
                    expired += 1
            counters.expired_unlabelled += expired
        else:
            counters.expired_unlabelled += len(held)
        rows = list(range(arrival if arrival >= 0 else start, end))  # labels stick: all labelled from here
        out_row.extend(rows)
        out_parts.extend(parts(r) for r in rows)
        out_t.extend(t[rows].tolist())
        out_code.extend(f.label[rows].tolist())
        out_aid.extend([aid] * len(rows))
    return _capped(
        f.order[np.asarray(out_row, dtype=np.int64)].tolist(),
        out_parts,
        out_t,
        out_code,
        out_aid,
        table,
        rules.max_per_minute,
    )


def _capped(
    row: list[int], parts: list[Parts], t: list[float], code: list[int], aid: list[int], table: ActorTable,
    cap: int,
) -> Examples:  # fmt: skip
    """Keep at most ``cap`` examples per actor per minute of their own time (counts carried on)."""
    if not row:
        return Examples(np.zeros(0, np.int64), [], np.zeros(0, bool), np.zeros(0), [], np.zeros(0, np.int64))
    a = np.asarray(aid, dtype=np.int64)
    minute = (np.asarray(t) // 60).astype(np.int64)
    group = np.ones(len(a), dtype=bool)
    group[1:] = (a[1:] != a[:-1]) | (minute[1:] != minute[:-1])
    starts = np.flatnonzero(group)
    gid = np.cumsum(group) - 1
    rank = np.arange(len(a)) - starts[gid] + 1
    before = np.where(minute[starts] == table.minute[a[starts]], table.trained[a[starts]], 0)
    count = rank + before[gid]
    keep = count <= cap
    last = np.append(starts[1:], len(a)) - 1
    table.minute[a[last]] = minute[last]
    table.trained[a[last]] = np.minimum(count[last], cap)
    kept = np.flatnonzero(keep)
    codes = np.asarray(code, dtype=np.int64)[kept]
    order = np.argsort(np.asarray(row, dtype=np.int64)[kept], kind="stable")
    kept = kept[order]
    return Examples(
        np.asarray(row, dtype=np.int64)[kept],
        [parts[i] for i in kept.tolist()],
        (codes[order] >= 2) & (codes[order] <= 5),
        np.asarray(t)[kept],
        [SOURCES[c] for c in codes[order].tolist()],
        table.uid[a[kept]],
    )


class Trainer:
    """Trains micro-batches of examples, each masked for the source that labelled it (``masks``:
    source -> the slots it read; the stream's label sources by default)."""

    def __init__(self, masks: Mapping[str, frozenset[str]] = MASKS) -> None:
        self.masks = masks
        self._mask: dict[str, dict[int, tuple[FeaturePart, FeaturePart]]] = {source: {} for source in masks}

    def learn(
        self,
        model: OnlineLR,
        parts: Sequence[Parts],
        ys: np.ndarray,
        times: Sequence[float],
        sources: Sequence[str],
        uids: np.ndarray,
        now: float,
        counters: StreamCounters,
        hook: Callable[..., Any] | None = None,
    ) -> None:
        """Train one micro-batch; ``hook`` (tests, benches) gets the (times, labels, sources, xs)."""
        native = learn_kernel()
        keys: list[str]
        lens: Sequence[int] | np.ndarray
        if native is not None:
            keys, lens = masked_keys(native, parts, sources, self._mask, self.masks, self._limit())
        else:
            keys, lens = self._keys(parts, sources)
        model.learn_keys(keys, lens, ys, now=now, who=uids)
        trained = counters.trained
        for source in sources:
            trained[source] = trained.get(source, 0) + 1
        if hook is not None:
            xs, at = [], 0
            for size in lens:
                xs.append(dict.fromkeys(keys[at : at + size], 1.0))
                at += size
            hook(list(times), ys.tolist(), list(sources), xs)

    def _keys(self, parts: Sequence[Parts], sources: Sequence[str]) -> tuple[list[str], list[int]]:
        """Every example's keys without the slots its source read, flat, and each example's
        count (the twin of the kernel's ``masked_keys``)."""
        keys: list[str] = []
        lens: list[int] = []
        memos, masked = self._mask, self._masked
        for p, source in zip(parts, sources):
            memo, size = memos[source], 0
            for part in p:
                hit = memo.get(id(part))
                if hit is None or hit[0] is not part:
                    hit = masked(memo, part, source)
                keys += hit[1]
                size += len(hit[1])
            lens.append(size)
        return keys, lens

    def _limit(self) -> int:
        """Entries one source's memo may hold before it starts over."""
        return MEMO_LIMIT // max(1, len(self.masks))

    def _masked(
        self, memo: dict[int, tuple[FeaturePart, FeaturePart]], part: FeaturePart, source: str
    ) -> tuple[FeaturePart, FeaturePart]:
        """A part without the slots ``source`` read, memoised in ``memo`` (that source's) by the
        part's identity.

        Parts are memoised tuples, so they recur as the same objects; the entry keeps its part
        alive, so an id is never reused while its entry exists.
        """
        if len(memo) > self._limit():  # all sources' memos within MEMO_LIMIT
            memo.clear()
        masked = self.masks[source]
        hit = memo[id(part)] = (part, tuple(k for k in part if k.partition("=")[0] not in masked))
        return hit
