"""The model benchmark runs end to end on a small log and its accuracy figures hold."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_model", ROOT / "bench" / "bench_model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_model", module)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_auc_matches_the_pairwise_definition() -> None:
    """The rank-sum AUC equals the fraction of correctly ordered (positive, negative) pairs, ties half."""
    bench = _bench()
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    p = np.round(rng.random(300), 1)  # many ties
    pos, neg = p[y], p[~y]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert bench.auc(y, p) == pytest.approx(pairs)


@pytest.mark.slow
def test_bench_runs_and_the_novel_family_is_learned(capsys: pytest.CaptureFixture[str]) -> None:
    """On 30k generated lines the prequential AUC clears 0.98 and the mid-stream family gets detected."""
    bench = _bench()
    figures = bench.run(lines=30_000, seed=3, batch=500, repeat=1)
    assert figures["auc"] >= 0.98, figures
    assert figures["novel_events"] > 0 and figures["novel_requests_to_detect"] is not None
    mem = figures["memory"]
    assert mem["admission+ttl"]["rows"][-1] < mem["plain"]["rows"][-1]
    assert "prequential AUC" in bench.report(figures)
