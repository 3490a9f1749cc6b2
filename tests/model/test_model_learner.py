"""The online LR: agreement with hand-written references, and River's estimator checks."""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path

import numpy as np
import pytest

from botguard.model.learner import BIAS, OnlineLR
from botguard.model.records import LearnerConfig, SlotPolicy
from botguard.model.table import ParamTable


def _stream(n: int, seed: int) -> list[tuple[dict[str, float], bool]]:
    """A small problem with a latent logistic truth: a few slots, some real-valued features."""
    rng = random.Random(seed)
    truth = {f"s{slot}={v}": rng.gauss(0, 1.5) for slot in range(4) for v in range(6)}
    out = []
    for _ in range(n):
        x = {f"s{slot}={rng.randrange(6)}": 1.0 for slot in range(4)}
        x["dense=r"] = rng.uniform(-1, 1)
        z = sum(truth.get(k, 0.0) * v for k, v in x.items()) + 2.0 * x["dense=r"]
        out.append((x, rng.random() < 1 / (1 + math.exp(-z))))
    return out


class ReferenceAdagradLR:
    """The textbook per-event, per-coordinate Adagrad LR in plain Python dicts (the oracle)."""

    def __init__(self, lr: float, eps: float) -> None:
        self.lr, self.eps, self.w, self.n = lr, eps, {}, {}

    def proba(self, x: dict[str, float]) -> float:
        z = sum(self.w.get(k, 0.0) * v for k, v in {**x, BIAS: 1.0}.items())
        return 1 / (1 + math.exp(-z))

    def learn(self, x: dict[str, float], y: bool) -> None:
        err = self.proba(x) - float(y)
        for k, v in {**x, BIAS: 1.0}.items():
            g = err * v
            self.n[k] = self.n.get(k, 0.0) + g * g
            self.w[k] = self.w.get(k, 0.0) - self.lr * g / (math.sqrt(self.n[k]) + self.eps)

    def learn_batch(self, batch: list[tuple[dict[str, float], bool]]) -> None:
        """Mini-batch variant: score all with the old weights, sum gradients per key, one step."""
        grads: dict[str, float] = {}
        for x, y in batch:
            err = self.proba(x) - float(y)
            for k, v in {**x, BIAS: 1.0}.items():
                grads[k] = grads.get(k, 0.0) + err * v
        for k, g in grads.items():
            self.n[k] = self.n.get(k, 0.0) + g * g
            self.w[k] = self.w.get(k, 0.0) - self.lr * g / (math.sqrt(self.n[k]) + self.eps)


class ReferenceFTRL:
    """Per-event FTRL-Proximal (McMahan et al. 2013, Algorithm 1) in plain Python."""

    def __init__(self, c: LearnerConfig) -> None:
        self.c, self.z, self.n = c, {}, {}

    def weight(self, k: str) -> float:
        z, n, c = self.z.get(k, 0.0), self.n.get(k, 0.0), self.c
        if abs(z) <= c.l1:
            return 0.0
        return -(z - math.copysign(c.l1, z)) / ((c.beta + math.sqrt(n)) / c.alpha + c.l2)

    def proba(self, x: dict[str, float]) -> float:
        return 1 / (1 + math.exp(-sum(self.weight(k) * v for k, v in {**x, BIAS: 1.0}.items())))

    def learn(self, x: dict[str, float], y: bool) -> None:
        err = self.proba(x) - float(y)
        for k, v in {**x, BIAS: 1.0}.items():
            g, n = err * v, self.n.get(k, 0.0)
            sigma = (math.sqrt(n + g * g) - math.sqrt(n)) / self.c.alpha
            self.z[k] = self.z.get(k, 0.0) + g - sigma * self.weight(k)
            self.n[k] = n + g * g


def _weights(model: OnlineLR) -> dict[str, float]:
    return {k: float(model.table.w[r]) for k, r in model.table.index.items()}


def test_learn_one_matches_reference_adagrad() -> None:
    """Event by event, weights and probabilities equal the plain-Python Adagrad LR."""
    model, ref = OnlineLR(LearnerConfig(lr=0.1)), ReferenceAdagradLR(0.1, 1e-6)
    for x, y in _stream(600, seed=1):
        assert model.predict_proba_one(x)[True] == pytest.approx(ref.proba(x), abs=1e-9)
        model.learn_one(x, y)
        ref.learn(x, y)
    mine = _weights(model)
    assert mine.keys() == ref.w.keys()
    assert all(mine[k] == pytest.approx(ref.w[k], abs=1e-9) for k in ref.w)


def test_learn_many_matches_reference_minibatch() -> None:
    """learn_many is the mini-batch Adagrad step, and returns the pre-update (prequential) scores."""
    model, ref = OnlineLR(), ReferenceAdagradLR(0.1, 1e-6)
    data = _stream(1000, seed=2)
    for start in range(0, len(data), 64):
        batch = data[start : start + 64]
        expected = [ref.proba(x) for x, _ in batch]
        got = model.learn_many([x for x, _ in batch], [y for _, y in batch])
        assert np.allclose(got, expected, atol=1e-9)
        ref.learn_batch(batch)
    mine = _weights(model)
    assert all(mine[k] == pytest.approx(ref.w[k], abs=1e-9) for k in ref.w)


def test_ftrl_matches_reference_and_is_sparse() -> None:
    """FTRL-Proximal agrees with the per-event reference; L1 leaves some weights at exactly zero."""
    cfg = LearnerConfig(optimizer="ftrl", l1=1.0)
    model, ref = OnlineLR(cfg), ReferenceFTRL(cfg)
    data = _stream(800, seed=3) + [({"rare=1": 1.0}, True)]
    for x, y in data:
        assert model.predict_proba_one(x)[True] == pytest.approx(ref.proba(x), abs=1e-9)
        model.learn_one(x, y)
        ref.learn(x, y)
    assert all(_weights(model)[k] == pytest.approx(ref.weight(k), abs=1e-9) for k in ref.z)
    assert _weights(model)["rare=1"] == 0.0


def test_learns_the_latent_model() -> None:
    """After a few thousand events, held-out log loss is well below the constant predictor's."""
    data = _stream(5000, seed=4)
    model = OnlineLR()
    for start in range(0, 4000, 50):
        model.learn_many([x for x, _ in data[start : start + 50]], [y for _, y in data[start : start + 50]])
    tail = data[4000:]
    probs = model.predict_proba_many([x for x, _ in tail])
    ys = np.array([y for _, y in tail], dtype=float)
    loss = -np.mean(ys * np.log(probs) + (1 - ys) * np.log(1 - probs))
    base = ys.mean()
    const = -(base * math.log(base) + (1 - base) * math.log(1 - base))
    assert loss < 0.8 * const, (loss, const)


def test_learn_one_leaves_its_input_unchanged() -> None:
    """learn_one and predict_proba_one never modify x."""
    model = OnlineLR()
    x = {"ua_tok=nova": 1.0, "rate=r": 0.5}
    before = copy.deepcopy(x)
    model.learn_one(x, True)
    model.predict_proba_one(x)
    model.explain_one(x)
    assert x == before


def test_feature_order_has_no_effect() -> None:
    """Shuffling the keys of every x gives the same scores and weights."""
    data = _stream(300, seed=5)
    rng = random.Random(0)
    a, b = OnlineLR(), OnlineLR()
    for x, y in data:
        items = list(x.items())
        rng.shuffle(items)
        a.learn_one(x, y)
        b.learn_one(dict(items), y)
    probe = [x for x, _ in data[:50]]
    assert np.allclose(a.predict_proba_many(probe), b.predict_proba_many(probe), atol=1e-12)


def test_emerging_and_vanishing_features_are_fine() -> None:
    """New keys can appear mid-stream and old ones disappear; scoring an empty x works."""
    model = OnlineLR()
    for i in range(200):
        x = {f"ua_tok=early{i % 3}": 1.0} if i < 100 else {f"ua_tok=late{i % 5}": 1.0, "asn=7": 1.0}
        model.learn_one(x, i % 2 == 0)
    assert 0.0 < model.predict_proba_one({})[True] < 1.0
    assert 0.0 < model.predict_proba_one({"never=seen": 1.0})[True] < 1.0


def test_seeding_is_idempotent() -> None:
    """Two models trained on the same stream are identical: there is no hidden randomness."""
    data = _stream(400, seed=6)
    a, b = OnlineLR(), OnlineLR()
    for model in (a, b):
        model.learn_many([x for x, _ in data], [y for _, y in data])
    assert _weights(a) == _weights(b)


def test_predict_one_and_proba_sum_to_one() -> None:
    """predict_proba_one returns River's {False, True} dict summing to one; predict_one is its argmax."""
    model = OnlineLR()
    for _ in range(30):
        model.learn_one({"a=1": 1.0}, True)
    proba = model.predict_proba_one({"a=1": 1.0})
    assert set(proba) == {False, True} and proba[False] + proba[True] == pytest.approx(1.0)
    assert model.predict_one({"a=1": 1.0}) is True


def test_explanation_sums_to_the_logit() -> None:
    """explain_one's contributions, sorted by magnitude, add up exactly to the score's logit."""
    model = OnlineLR()
    data = _stream(500, seed=7)
    model.learn_many([x for x, _ in data], [y for _, y in data])
    x = data[0][0]
    parts = model.explain_one(x)
    p = model.predict_proba_one(x)[True]
    assert sum(c for _, c in parts) == pytest.approx(math.log(p / (1 - p)), abs=1e-9)
    assert [abs(c) for _, c in parts] == sorted((abs(c) for _, c in parts), reverse=True)


def test_unadmitted_keys_get_no_weight_and_no_gradient() -> None:
    """Until a key is admitted it neither contributes to scores nor receives updates."""
    model = OnlineLR(table=ParamTable(policies={"ip24": SlotPolicy(admit_after=3)}))
    model.learn_one({"ip24=1.2.3": 1.0}, True)
    model.learn_one({"ip24=1.2.3": 1.0}, True)
    assert "ip24=1.2.3" not in model.table
    model.learn_one({"ip24=1.2.3": 1.0}, True)
    assert _weights(model)["ip24=1.2.3"] != 0.0


def test_example_weights_scale_gradients() -> None:
    """A zero example weight means no update."""
    model = OnlineLR()
    model.learn_many([{"a=1": 1.0}], [True], weights=[0.0])
    assert _weights(model)["a=1"] == 0.0


def test_model_snapshot_round_trip(tmp_path: Path) -> None:
    """A restored model scores exactly like the original and keeps learning identically."""
    data = _stream(600, seed=8)
    model = OnlineLR()
    model.learn_many([x for x, _ in data[:300]], [y for _, y in data[:300]])
    model.save(tmp_path / "m.npz")
    back = OnlineLR()
    back.load(tmp_path / "m.npz")
    probe = [x for x, _ in data[300:]]
    assert np.array_equal(model.predict_proba_many(probe), back.predict_proba_many(probe))
    for m in (model, back):
        m.learn_many(probe, [y for _, y in data[300:]])
    assert _weights(model) == _weights(back)


def test_scorer_follows_trainer_through_deltas() -> None:
    """A scorer fed only take_delta() output scores exactly like the trainer."""
    trainer = OnlineLR(table=ParamTable(policies={"s0": SlotPolicy(ttl=200.0)}))
    scorer = OnlineLR()
    data = _stream(1200, seed=9)
    for start in range(0, 1200, 100):
        batch = data[start : start + 100]
        trainer.learn_many([x for x, _ in batch], [y for _, y in batch], now=float(start))
        trainer.expire(now=float(start))
        scorer.table.apply_delta(trainer.table.take_delta())
    probe = [x for x, _ in data[:200]]
    assert np.array_equal(trainer.predict_proba_many(probe), scorer.predict_proba_many(probe))
