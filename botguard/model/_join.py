"""Labelled examples: the label join window, the per-actor cap, masking, and training the trainer.

No look-ahead (../shared/notes/online-model.md §2 rule 2): an actor's label is decided at the
time of the request that completes its evidence. The actor's requests scored before then wait in
a short buffer (the most recent ``max_pending``); when the label arrives, those within
``window`` seconds are trained with it and older ones were only scored. A chatty client weighs
in training at most ``max_per_minute`` examples per minute of stream time. Each example is
trained without the slots its label source read (:data:`~botguard.model.labels.MASKS`, rule 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botguard.model._actors import Actor
from botguard.model._keys import MEMO_LIMIT, Parts
from botguard.model.labels import MASKS, Label, Labeler
from botguard.model.learner import OnlineLR
from botguard.model.records import StreamCounters

#: A training example: its key parts, unwanted or not, stream time, label source, client id.
Example = tuple[Parts, bool, float, str, int]


class LabelJoin:
    """Routes each request to the micro-batch's examples or to its actor's join buffer, and trains them."""

    def __init__(self, labeler: Labeler, *, window: float, max_pending: int, max_per_minute: int) -> None:
        self.labeler = labeler
        self.window = window
        self.max_pending = max_pending
        self.max_per_minute = max_per_minute
        self._mask: dict[tuple[int, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}

    def route(
        self, actor: Actor, t: float, parts: Parts, train: list[Example], counters: StreamCounters
    ) -> None:
        """Decide the actor's label after this request; route the request to training or the buffer."""
        label = actor.label
        if label is None or (not label.unwanted and label.source == "human"):
            fresh = self.labeler.decide(actor.evidence, t)
            if fresh is not None and (label is None or fresh.unwanted != label.unwanted):
                actor.label = label = fresh
                counters.labelled_actors[fresh.source] = counters.labelled_actors.get(fresh.source, 0) + 1
                horizon = t - self.window
                for old_parts, old_t in actor.pending:  # scored before t: the join (no look-ahead)
                    if old_t >= horizon:
                        self._train(actor, old_parts, old_t, label, train)
                    else:
                        counters.expired_unlabelled += 1
                actor.pending.clear()
        if label is None:
            actor.pending.append((parts, t))
            if len(actor.pending) > self.max_pending:
                del actor.pending[0]
                counters.expired_unlabelled += 1
            return
        self._train(actor, parts, t, label, train)

    def _train(self, actor: Actor, parts: Parts, t: float, label: Label, train: list[Example]) -> None:
        minute = int(t // 60)
        if minute != actor.minute:
            actor.minute, actor.trained_this_minute = minute, 0
        if actor.trained_this_minute >= self.max_per_minute:
            return
        actor.trained_this_minute += 1
        train.append((parts, label.unwanted, t, label.source, actor.uid))

    def learn(
        self,
        trainer: OnlineLR,
        train: list[Example],
        now: float,
        counters: StreamCounters,
        hook: Callable[..., Any] | None = None,
    ) -> None:
        """Train on a micro-batch's examples, each masked for the source that labelled it.

        ``hook`` (tests, benches) is called with the (times, labels, sources, xs) trained.
        """
        keys: list[str] = []
        lens: list[int] = []
        for parts, _, _, source, _ in train:
            before = len(keys)
            self._masked_into(keys, parts, source)
            lens.append(len(keys) - before)
        train_y = [y for _, y, _, _, _ in train]
        trainer.learn_keys(keys, lens, train_y, now=now, who=[uid for *_, uid in train])
        trained = counters.trained
        for _, _, _, source, _ in train:
            trained[source] = trained.get(source, 0) + 1
        if hook is not None:
            train_x, at = [], 0
            for size in lens:
                train_x.append(dict.fromkeys(keys[at : at + size], 1.0))
                at += size
            hook([t for _, _, t, _, _ in train], train_y, [s for _, _, _, s, _ in train], train_x)

    def _masked_into(self, out: list[str], parts: Parts, source: str) -> None:
        """Append the example's keys without the slots its label source read (memoised per part object).

        The memo is keyed by the part's identity (parts are memoised tuples, so they recur as the
        same objects) and keeps the part alive, so an id is never reused while its entry exists.
        """
        memo, masked = self._mask, MASKS[source]
        for part in parts:
            hit = memo.get((id(part), source))
            if hit is None or hit[0] is not part:
                if len(memo) > MEMO_LIMIT:
                    memo.clear()
                hit = memo[(id(part), source)] = (
                    part,
                    tuple(k for k in part if k.partition("=")[0] not in masked),
                )
            out += hit[1]
