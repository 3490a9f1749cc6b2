"""A learner's table file holding NaN or infinite weights is refused, as a peer's delta is.

A hostile reviewer's test. ``deltalog._read`` refuses a delta whose weights are not finite ("a
NaN or infinite weight would poison every score that reads its key"), but a watch's own snapshot
(``trainer.npz`` / ``scorer.npz`` in the snapshot directory) was loaded by
``ParamTable.from_arrays`` without that check (now refused): one NaN weight makes every score that reads its
key NaN, which no threshold compares true with, so its clients are never raised. The compiled
kernel of bg/ltrain reads these slabs too (where NaN signs already differ from the twin's).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from botguard.model.learner import OnlineLR
from botguard.model.table import load_arrays, save_arrays


@pytest.mark.parametrize("slab", ["w", "n"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_snapshot_with_a_non_finite_weight_or_sum_is_refused(tmp_path: Path, slab: str, bad: float) -> None:
    model = OnlineLR()
    model.learn_keys(["ua_tok=nova", "m=GET"], [2], [True], now=1.0)
    path = tmp_path / "trainer.npz"
    model.save(path)
    arrays = load_arrays(path)
    arrays[slab] = arrays[slab].copy()
    arrays[slab][0] = bad
    save_arrays(path, arrays)
    with pytest.raises(ValueError):
        OnlineLR().load(path)
