"""The learner's compiled kernel (botguard.model._learn) on hostile state: same bits as its twin.

A hostile reviewer's tests. A watch's tables come back from a snapshot directory that anything
on the host could have written, so the weights and Adagrad sums the kernel reads may hold NaN,
infinities, negative zeros, subnormals, huge values or negative sums; and a micro-batch may name
many examples (the bias gradient is numpy's pairwise sum of the errors). Whatever the state,
the kernel must give the twin's probabilities and slabs bit for bit (``BOTGUARD_NO_NATIVE=1``
runs the twin), or the scores a scan keeps would depend on whether a compiler was there. Skipped
where the kernel is not built (bg/ltrain adds it).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botguard.model._batches import PartIds
from botguard.model.learner import BIAS, OnlineLR
from botguard.model.records import LearnerConfig
from botguard.model.table import ParamTable
from botguard.native import kernel
from tests.helpers import native_off

NATIVE = kernel("model._learn")
pytestmark = pytest.mark.skipif(NATIVE is None, reason="botguard.model._learn is not built here")

VOCAB = [f"ip24=10.0.{i}" for i in range(5)] + ["ua_tok=nova", "ua_fam=chrome", "m=GET", BIAS]
#: Any float64 a snapshot can hold, the awkward ones drawn often.
ANY_FLOAT = st.one_of(
    st.sampled_from([0.0, -0.0, float("nan"), float("inf"), -float("inf"), 5e-324, -5e-324, 1e308, -1e308]),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
)
EXAMPLE = st.tuples(st.lists(st.sampled_from(VOCAB), max_size=6), st.booleans())


def bits(a: np.ndarray) -> bytes:
    """The array's bytes, every NaN spelled one way: a NaN's sign and payload follow the operand
    order the compiler picked (x86 returns the first NaN operand), which no result reads."""
    if a.dtype.kind == "f":
        a = np.where(np.isnan(a), np.nan, a)
    return a.dtype.str.encode() + a.tobytes()


def warm_model(weights: list[float], sums: list[float]) -> OnlineLR:
    """A learner whose every vocabulary row holds a snapshot's (hostile) weight and Adagrad sum."""
    model = OnlineLR(LearnerConfig(lr=0.3), ParamTable(capacity=16))
    rows = model.table.rows(VOCAB, 0.0)
    assert (rows >= 0).all()  # no admission policy: every key has its row
    model.table.w[rows] = weights
    model.table.n[rows] = sums
    return model


def learn(model: OnlineLR, batch: list[tuple[list[str], bool]], now: float) -> np.ndarray:
    keys = [k for ks, _ in batch for k in ks]
    return model.learn_keys(keys, [len(ks) for ks, _ in batch], [y for _, y in batch], now=now)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weights=st.lists(ANY_FLOAT, min_size=len(VOCAB), max_size=len(VOCAB)),
    sums=st.lists(ANY_FLOAT, min_size=len(VOCAB), max_size=len(VOCAB)),
    batches=st.lists(st.lists(EXAMPLE, min_size=1, max_size=40), min_size=1, max_size=3),
)
def test_training_on_a_hostile_snapshot_gives_the_twins_bits(
    weights: list[float], sums: list[float], batches: list[list[tuple[list[str], bool]]]
) -> None:
    """NaN, infinities, -0.0, subnormals and negative Adagrad sums in the table: every
    probability, weight, sum, stamp and dirty bit equals the twin's, batch after batch."""
    fast, pure = warm_model(weights, sums), warm_model(weights, sums)
    for t, batch in enumerate(batches, start=1):
        with np.errstate(all="ignore"):
            p_fast = learn(fast, batch, 10.0 * t)
            with native_off():
                p_pure = learn(pure, batch, 10.0 * t)
        assert bits(p_fast) == bits(p_pure)
        for name in ("w", "n", "last", "dirty"):
            assert bits(getattr(fast.table, name)) == bits(getattr(pure.table, name)), name


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weights=st.lists(ANY_FLOAT, min_size=len(VOCAB), max_size=len(VOCAB)),
    parts=st.lists(st.lists(st.sampled_from(VOCAB), max_size=5).map(tuple), min_size=1, max_size=5),
    data=st.data(),
)
def test_part_logits_over_hostile_weights_give_the_twins_bits(
    weights: list[float], parts: list[tuple[str, ...]], data: st.DataObject
) -> None:
    """The scorer's part sums over a table of hostile weights: the same logits, bit for bit."""
    picks = [
        np.array(data.draw(st.lists(st.integers(0, len(parts) - 1), min_size=9, max_size=9)), dtype=np.int64)
        for _ in range(3)
    ]
    table = warm_model(weights, [0.0] * len(VOCAB)).table
    fast, pure = (PartIds([(parts, column) for column in picks]) for _ in range(2))
    with np.errstate(all="ignore"):
        z_fast = fast.logit(slice(0, 9), table, 1)
        with native_off():
            z_pure = pure.logit(slice(0, 9), table, 1)
    assert bits(z_fast) == bits(z_pure)
