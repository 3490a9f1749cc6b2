"""The door to the stream learner's compiled scoring and training kernel (``botguard.model._learn``).

Why a kernel: a micro-batch of a day's stream is ~20 requests, and scoring and training one in
numpy is ~15 small array calls plus a Python loop per key; the calls' overhead, not the
arithmetic, was most of ``observe()``'s scoring and training time. The kernel walks the same
keys once, in C, on the learner's own arrays (the ``w``/``n``/``last``/``dirty`` slabs, the part
sums), so snapshots, deltas and the store see the same state whichever ran.

Each function here has a pure twin that stays the oracle and runs when the kernel is not built
or ``BOTGUARD_NO_NATIVE=1`` (:mod:`botguard.native`): :meth:`ParamTable.lookup`,
``PartSums.get``/``PartIds.logit``, ``Trainer.learn``'s masking loop and
:meth:`OnlineLR._learn_flat` (binary features, Adagrad). The kernel adds in the twins' order, so
every score and weight has the same bits (tests/model/test_learn_kernel.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from botguard.native import kernel

__all__ = ["learn_kernel", "lookup_rows", "masked_keys", "part_logits"]


def learn_kernel() -> ModuleType | None:
    """The compiled module, or None (not built, or turned off: the pure twins run)."""
    return kernel("model._learn")


def lookup_rows(native: ModuleType, keys: Sequence[str], index: dict[str, int], rows: int) -> np.ndarray:
    """Each key's row in ``index`` (-1: none); a row outside ``[0, rows)`` raises ValueError."""
    out = np.empty(len(keys), dtype=np.int64)
    native.lookup(keys, index, rows, out)
    return out


def part_logits(
    native: ModuleType, ids: np.ndarray, cols: slice, parts: list[Any], value: np.ndarray,
    epoch_of: np.ndarray, index: dict[str, int], w: np.ndarray, epoch: int, bias: float,
) -> np.ndarray:  # fmt: skip
    """The logits of the requests ``cols`` of ``ids`` (one row of part ids per kind of part):
    stale parts' sums refreshed in ``value``/``epoch_of``, then the bias plus each kind's sum."""
    start, stop, _ = cols.indices(ids.shape[1])
    out = np.empty(max(0, stop - start))
    native.part_logits(ids, start, max(start, stop), parts, value, epoch_of, index, w, epoch, bias, out)
    return out


def masked_keys(
    native: ModuleType, parts: Sequence[Any], sources: Sequence[str], memos: dict[str, Any],
    masks: Mapping[str, frozenset[str]], limit: int,
) -> tuple[list[str], np.ndarray]:  # fmt: skip
    """Every example's keys without the slots its source read (``masks[source]``), flat, and each
    example's count; ``memos[source]`` (id(part) -> (part, masked part), started over past
    ``limit`` entries) is read and filled as ``Trainer._masked`` does."""
    keys, lens = native.masked_keys(list(parts), list(sources), memos, dict(masks), limit)
    return keys, np.frombuffer(lens, dtype=np.int64)
