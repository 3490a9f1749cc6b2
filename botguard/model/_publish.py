"""Trainer -> scorer deltas: the scorer's weights change only at publications.

Why: the scorer scores each micro-batch before anything is learned from it, with its own copy of
the weights; every ``interval`` seconds of stream time the trainer's changed rows (values, not
gradients, so replaying a delta is harmless) are applied to it, so a new crawler family is
scored as bad within seconds of the trainer learning it, and scores never depend on later requests.
"""

from __future__ import annotations

from collections.abc import Callable

from botguard.model.learner import OnlineLR
from botguard.model.records import Delta, StreamCounters


class Publisher:
    """Publishes ``trainer``'s changes to ``scorer`` every ``interval`` seconds of stream time."""

    def __init__(self, trainer: OnlineLR, scorer: OnlineLR, interval: float) -> None:
        self.trainer = trainer
        self.scorer = scorer
        self.interval = interval
        #: Also handed each delta (``watch --deltas``: other workers apply it too); None: kept local.
        self.sink: Callable[[Delta], None] | None = None

    def start(self, now: float, counters: StreamCounters) -> None:
        """The interval starts with the stream's first request (or at a restored publication)."""
        if counters.last_publish is None:
            counters.last_publish = now

    def maybe(self, now: float, counters: StreamCounters) -> bool:
        """Publish if ``interval`` seconds passed since the last publication; say whether it did."""
        last = counters.last_publish
        if last is not None and now - last >= self.interval:
            self.publish(now, counters)
            return True
        return False

    def publish(self, now: float, counters: StreamCounters) -> int:
        """Apply the trainer's changed rows to the scorer now; return the delta's size."""
        delta = self.trainer.table.take_delta()
        self.scorer.table.apply_delta(delta, now)
        if self.sink is not None and len(delta):
            self.sink(delta)
        counters.deltas += 1
        counters.last_publish = now
        return len(delta)
