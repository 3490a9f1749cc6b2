"""The stream trainer keeps each feature part's table rows (botguard.model._join.Trainer).

Training asks the table only for keys it has no rows for yet, and what it learns is exactly what
:meth:`OnlineLR.learn_keys` learns from the same keys, through admission, expiry and recycled rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from botguard.model._join import Trainer
from botguard.model.labels import MASKS
from botguard.model.learner import OnlineLR
from botguard.model.records import LearnerConfig, SlotPolicy, StreamCounters
from botguard.model.table import ParamTable

POLICIES = {
    "ip24": SlotPolicy(admit_after=2, ttl=50.0),
    "path_tpl": SlotPolicy(admit_after=1, ttl=1000.0),
    "ua_tok": SlotPolicy(admit_after=1, ttl=1000.0),
}


def _model() -> OnlineLR:
    return OnlineLR(LearnerConfig(lr=0.5), ParamTable(policies=POLICIES))


class _CountingTable(ParamTable):
    """A table that counts the keys it was asked rows for."""

    asked = 0

    def rows(self, keys: Any, now: float, who: Any = None) -> np.ndarray:
        _CountingTable.asked += len(keys)
        return super().rows(keys, now, who)


def _batches() -> list[tuple[Any, list[bool], list[str], list[int], float]]:
    """Micro-batches of examples built from a few recurring part objects (as the stream's memo
    hands them over), with /24s that come and go (admitted after two clients, expiring in 50 s)."""
    agents = [("ua_tok=chrome", "ua_fam=chrome"), ("ua_tok=curl", "ua_fam=curl")]
    paths = [("path_tpl=/p/{n}",), ("path_tpl=/",), ("path_tpl=/trap/",)]
    nets = [(f"ip24=10.0.{k}",) for k in range(6)]
    out = []
    for b in range(60):
        parts, ys, sources, uids = [], [], [], []
        for e in range(7):
            k = (b * 7 + e) * 2654435761 % 97
            parts.append((agents[k % 2], paths[k % 3], nets[(b // 10 + k % 2) % 6]))
            ys.append(bool(k % 2))
            sources.append(("robots", "human", "honeypot", "verified")[k % 4])
            uids.append(k % 5)
        out.append((parts, ys, sources, uids, 10.0 * b))
    return out


def test_kept_rows_train_exactly_like_keys() -> None:
    """Sixty micro-batches with expiry sweeps between them (keys expire, rows are recycled for
    other keys): the trainer's table ends bit-identical to one trained by ``learn_keys``."""
    ours, reference, trainer = _model(), _model(), Trainer()
    for parts, ys, sources, uids, now in _batches():
        trainer.learn(
            ours, parts, np.array(ys), [now] * len(ys), sources, np.array(uids), now, StreamCounters()
        )
        keys: list[str] = []
        lens = []
        for p, source in zip(parts, sources):
            masked = [k for part in p for k in part if k.partition("=")[0] not in MASKS[source]]
            keys += masked
            lens.append(len(masked))
        reference.learn_keys(keys, lens, np.array(ys), now=now, who=np.array(uids))
        if int(now) % 30 == 0:
            assert ours.expire(now) == reference.expire(now)
    assert ours.table.generation > 0  # keys did lose their rows along the way
    assert ours.table.index == reference.table.index
    assert np.array_equal(ours.table.w, reference.table.w) and np.array_equal(ours.table.n, reference.table.n)


def test_parts_with_rows_are_not_looked_up_again() -> None:
    """Once every key of a part has a row, training it again asks the table for nothing, until a
    key of the table loses its row (an expiry sweep)."""
    model = OnlineLR(LearnerConfig(lr=0.5), _CountingTable(policies=POLICIES))
    trainer = Trainer()
    parts = [(("ua_tok=chrome",), ("path_tpl=/",))] * 3
    args = (np.array([True, False, True]), [0.0] * 3, ["robots"] * 3, np.array([1, 2, 3]))
    trainer.learn(model, parts, *args, 0.0, StreamCounters())
    _CountingTable.asked = 0
    trainer.learn(model, parts, *args, 1.0, StreamCounters())
    assert _CountingTable.asked == 0
    model.table.index["ip24=10.9.9"] = model.table._new_row("ip24=10.9.9", 1.0)
    model.expire(500.0)  # the /24's row goes (ttl 50 s): kept rows are read again
    trainer.learn(model, parts, *args, 501.0, StreamCounters())
    assert _CountingTable.asked == 3 * 1  # robots masks the path slot: one key per example


def test_only_keys_without_a_row_are_asked_again() -> None:
    """A part whose /24 is not admitted yet (one client so far) asks the table again for that key
    alone: its agent's keys keep their rows; once admitted, nothing is asked."""
    model = OnlineLR(LearnerConfig(lr=0.5), _CountingTable(policies=POLICIES))
    trainer = Trainer()
    parts = [(("ua_tok=chrome", "ua_fam=chrome", "ip24=10.1.1"),)]
    trainer.learn(model, parts, np.array([True]), [0.0], ["robots"], np.array([1]), 0.0, StreamCounters())
    assert "ip24=10.1.1" not in model.table
    _CountingTable.asked = 0
    trainer.learn(model, parts, np.array([True]), [1.0], ["robots"], np.array([2]), 1.0, StreamCounters())
    assert _CountingTable.asked == 1 and "ip24=10.1.1" in model.table  # a second client admits it
    _CountingTable.asked = 0
    trainer.learn(model, parts, np.array([True]), [2.0], ["robots"], np.array([3]), 2.0, StreamCounters())
    assert _CountingTable.asked == 0
