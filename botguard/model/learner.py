"""Online logistic regression over a collisionless sparse table, in River's dialect.

Why LR: its score is an exact sum of per-key weights, so every verdict is explainable as
"ua_tok=python-httpx +2.1, asn_type=hosting +1.4", which is what a block rule must carry. Why
per-coordinate Adagrad (or FTRL-Proximal): rare keys (a new crawler's UA token) get large steps and
are learned from the first few examples, frequent keys settle.

``learn_one``/``predict_proba_one`` follow River (``x`` is a dict of feature → value, a new
crawler signature is just a new key). ``learn_many``/``predict_proba_many`` do the same on a
micro-batch with numpy: the whole batch is scored with the weights from before the batch (score
first, then learn: prequential), then the gradients of rows shared by several events are summed
and applied once. With a batch of one this is exactly ``learn_one``.

Examples
--------
>>> model = OnlineLR()
>>> for _ in range(20):
...     model.learn_one({"ua_tok=nova": 1.0}, True)
...     model.learn_one({"ua_tok=firefox": 1.0}, False)
>>> model.predict_one({"ua_tok=nova": 1.0}), model.predict_one({"ua_tok=firefox": 1.0})
(True, False)
>>> model.explain_one({"ua_tok=nova": 1.0})[0][0]
'ua_tok=nova'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import methodcaller
from types import ModuleType

import numpy as np

from botguard.model._train import learn_kernel
from botguard.model.records import LearnerConfig
from botguard.model.table import ParamTable, load_arrays, save_arrays

#: The always-present intercept feature; lives in the table so snapshots and deltas carry it.
BIAS = "bias=1"
Features = Mapping[str, float]
_values = methodcaller("values")


#: The optimiser settings a learner gets unless given others (frozen: safe to share).
DEFAULT_CONFIG = LearnerConfig()


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


def _per_row(rows: np.ndarray, grads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows (ascending) and each one's summed gradient.

    Why bincount over the row space and not np.unique: rows are dense table indices, so two
    passes over them cost less than sorting them, and each row's sum adds in the same order.
    """
    if not len(rows):
        return rows, grads
    size = int(rows.max()) + 1
    unique = np.flatnonzero(np.bincount(rows, minlength=size))
    return unique, np.bincount(rows, grads, minlength=size)[unique]


class OnlineLR:
    """Logistic regression with per-coordinate Adagrad or FTRL-Proximal; see the module docstring."""

    def __init__(self, config: LearnerConfig = DEFAULT_CONFIG, table: ParamTable | None = None) -> None:
        self.config = config
        self.table = table if table is not None else ParamTable()
        self.clock = 0.0  # stream time used when the caller gives none: events seen so far

    # -- flattening --------------------------------------------------------------------------
    @staticmethod
    def _flatten(xs: Sequence[Features]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Keys, event index and value per (event, key) pair (``chain`` beats nested comprehensions)."""
        keys: list[str] = list(chain.from_iterable(xs))
        vals = np.fromiter(chain.from_iterable(map(_values, xs)), dtype=np.float64, count=len(keys))
        return keys, OnlineLR._events(np.fromiter(map(len, xs), dtype=np.int64, count=len(xs))), vals

    @staticmethod
    def _events(lens: Sequence[int] | np.ndarray) -> np.ndarray:
        """Event index of each flat key: event i has the next ``lens[i]`` keys."""
        return np.repeat(np.arange(len(lens)), np.asarray(lens, dtype=np.int64))

    def _logits(
        self, rows: np.ndarray, ev: np.ndarray, vals: np.ndarray | None, size: int, bias_row: int
    ) -> np.ndarray:
        """Bias plus the sum of known keys' ``w·x`` per event (unknown keys add nothing; no
        ``vals``: binary features, every x is 1)."""
        known = rows >= 0
        w = self.table.w[rows[known]]
        z = np.bincount(ev[known], w if vals is None else w * vals[known], minlength=size)
        return z + self.table.w[bias_row] if bias_row >= 0 else z

    # -- scoring -----------------------------------------------------------------------------
    def predict_proba_many(self, xs: Sequence[Features]) -> np.ndarray:
        """P(unwanted) for each event; unknown or not-yet-admitted keys contribute nothing."""
        if not xs:
            return np.zeros(0)
        keys, ev, vals = self._flatten(xs)
        rows = self.table.lookup(keys)
        return sigmoid(self._logits(rows, ev, vals, len(xs), self.table.index.get(BIAS, -1)))

    def predict_proba_keys(self, keys: Sequence[str], lens: Sequence[int]) -> np.ndarray:
        """:meth:`predict_proba_many` for binary features given flat: event i has the next ``lens[i]`` keys.

        Why: the stream builds each request's keys as tuples; this skips a dict per request and
        its flattening, and gives bit-identical scores (every value is 1.0).
        """
        if not len(lens):
            return np.zeros(0)
        rows = self.table.lookup(keys)
        return sigmoid(
            self._logits(rows, self._events(lens), None, len(lens), self.table.index.get(BIAS, -1))
        )

    def predict_proba_one(self, x: Features) -> dict[bool, float]:
        """River's ``{False: p0, True: p1}``."""
        p = float(self.predict_proba_many([x])[0])
        return {False: 1.0 - p, True: p}

    def predict_one(self, x: Features) -> bool:
        """The more likely class (ties go to False: no block without evidence)."""
        return self.predict_proba_one(x)[True] > 0.5

    def explain_one(self, x: Features) -> list[tuple[str, float]]:
        """Each known feature's additive contribution ``w·x`` to the logit, largest |value| first.

        Exact for LR: the contributions sum to the logit, so an explanation never disagrees with
        the score it explains.
        """
        table = self.table
        parts = [
            (k, float(table.w[r]) * float(v))
            for k, v in [*x.items(), (BIAS, 1.0)]
            if (r := table.index.get(k, -1)) >= 0
        ]
        return sorted(parts, key=lambda kv: (-abs(kv[1]), kv[0]))

    def weight(self, key: str) -> float:
        """One feature's weight (0 for a key without a row: it adds nothing to a logit)."""
        row = self.table.index.get(key)
        return float(self.table.w[row]) if row is not None else 0.0

    def explain_many(self, xs: Sequence[Features], top: int = 5) -> list[tuple[str, float]]:
        """Mean contribution of each feature over some events, the ``top`` largest first (rounded):
        why a group of requests (a rule candidate's) scores as it does."""
        totals: dict[str, float] = {}
        for x in xs:
            for key, value in self.explain_one(x):
                totals[key] = totals.get(key, 0.0) + value
        ranked = sorted(((k, v / len(xs)) for k, v in totals.items()), key=lambda kv: (-kv[1], kv[0]))
        return [(k, round(v, 3)) for k, v in ranked[:top]] if xs else []

    # -- learning ----------------------------------------------------------------------------
    def learn_one(self, x: Features, y: bool, now: float | None = None) -> None:
        """Update on one labelled event (River's dialect); ``x`` is not modified."""
        self.learn_many([x], [y], now)

    def learn_many(
        self,
        xs: Sequence[Features],
        ys: Sequence[bool] | np.ndarray,
        now: float | None = None,
        weights: Sequence[float] | np.ndarray | None = None,
        who: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Score the batch, then learn from it; return the prequential (pre-update) P(unwanted).

        ``now`` is stream time (seconds) for expiry; by default the count of events seen.
        ``weights`` scale each example's gradient (weak-label confidence). ``who`` (one int per
        example: its client) makes admission count distinct clients per key, not occurrences
        (:meth:`ParamTable.rows`).
        """
        if not xs:
            return np.zeros(0)
        keys, ev, vals = self._flatten(xs)
        return self._learn_flat(keys, ev, vals, len(xs), ys, now, weights, who)

    def learn_keys(
        self,
        keys: Sequence[str],
        lens: Sequence[int] | np.ndarray,
        ys: Sequence[bool] | np.ndarray,
        now: float | None = None,
        who: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`learn_many` for binary features given flat (see :meth:`predict_proba_keys`)."""
        if not len(lens):
            return np.zeros(0)
        native = learn_kernel()
        if native is not None and self.config.optimizer == "adagrad":
            return self._learn_binary(native, keys, np.asarray(lens, dtype=np.int64), ys, now, who)
        return self._learn_flat(keys, self._events(lens), None, len(lens), ys, now, None, who)

    def _learn_binary(
        self,
        native: ModuleType,
        keys: Sequence[str],
        lens: np.ndarray,
        ys: Sequence[bool] | np.ndarray,
        now: float | None,
        who: Sequence[int] | np.ndarray | None,
    ) -> np.ndarray:
        """:meth:`_learn_flat` of binary features with Adagrad, its logits and step in the kernel
        (:mod:`botguard.model._train`): the same rows, admissions, probabilities and weights."""
        size = len(lens)
        stamp = self.clock + size if now is None else float(now)
        self.clock = max(self.clock, stamp)
        table = self.table
        who_of_key = None if who is None else np.asarray(who, dtype=np.int64)[self._events(lens)]
        rows = table.rows(keys, stamp, who_of_key)
        bias_row = table.index.get(BIAS)
        if bias_row is None:
            bias_row = int(table.rows([BIAS], stamp)[0])
        z = np.empty(size)
        native.event_logits(rows, lens, table.w, bias_row, z)
        p = sigmoid(z)
        err = p - np.asarray(ys, dtype=np.float64)
        c = self.config
        native.adagrad(
            rows,
            lens,
            err,
            float(err.sum()),
            bias_row,
            table.w,
            table.n,
            table.last,
            table.dirty,
            c.lr,
            c.eps,
            stamp,
        )
        return p

    def _learn_flat(
        self,
        keys: Sequence[str],
        ev: np.ndarray,
        vals: np.ndarray | None,
        size: int,
        ys: Sequence[bool] | np.ndarray,
        now: float | None,
        weights: Sequence[float] | np.ndarray | None,
        who: Sequence[int] | np.ndarray | None,
    ) -> np.ndarray:
        stamp = self.clock + size if now is None else float(now)
        self.clock = max(self.clock, stamp)
        rows = self.table.rows(keys, stamp, None if who is None else np.asarray(who, dtype=np.int64)[ev])
        bias_row = self.table.index.get(BIAS)
        if bias_row is None:
            bias_row = int(self.table.rows([BIAS], stamp)[0])
        p = sigmoid(self._logits(rows, ev, vals, size, bias_row))
        err = p - np.asarray(ys, dtype=np.float64)
        if weights is not None:
            err = err * np.asarray(weights, dtype=np.float64)
        known = rows >= 0
        # binary features (no vals): each x is 1, and a gradient times 1.0 is the same float
        unique, grad = _per_row(rows[known], err[ev[known]] if vals is None else err[ev[known]] * vals[known])
        if bias_row >= 0:  # the bias is one more coordinate with x = 1 in every event
            at = int(np.searchsorted(unique, bias_row))
            if at < len(unique) and unique[at] == bias_row:  # a caller passed the bias key in x too
                grad[at] += err.sum()
            else:  # appended, not inserted in order: the update is per row, order does not matter
                unique, grad = np.append(unique, bias_row), np.append(grad, err.sum())
        self._step(unique, grad)
        self.table.touch(unique, stamp)
        return p

    def _step(self, rows: np.ndarray, grad: np.ndarray) -> None:
        if self.config.optimizer == "ftrl":
            self._ftrl(rows, grad)
        else:
            self._adagrad(rows, grad)

    def _adagrad(self, rows: np.ndarray, grad: np.ndarray) -> None:
        t, c = self.table, self.config
        n = t.n[rows] + grad * grad
        t.n[rows] = n
        t.w[rows] -= c.lr * grad / (np.sqrt(n) + c.eps)

    def _ftrl(self, rows: np.ndarray, grad: np.ndarray) -> None:
        """FTRL-Proximal (McMahan et al. 2013): L1 keeps weak keys at exactly zero."""
        t, c = self.table, self.config
        n_old = t.n[rows]
        n_new = n_old + grad * grad
        sigma = (np.sqrt(n_new) - np.sqrt(n_old)) / c.alpha
        z = t.z[rows] + grad - sigma * t.w[rows]
        t.z[rows], t.n[rows] = z, n_new
        shrink = np.maximum(np.abs(z) - c.l1, 0.0)
        t.w[rows] = -np.sign(z) * shrink / ((c.beta + np.sqrt(n_new)) / c.alpha + c.l2)

    # -- maintenance ---------------------------------------------------------------------------
    def expire(self, now: float | None = None) -> int:
        """Drop rows past their slot TTL (see :meth:`ParamTable.expire`)."""
        return self.table.expire(self.clock if now is None else now)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Atomic snapshot of the table, the sketch and the stream clock."""
        arrays = self.table.to_arrays()
        arrays["clock"] = np.array([self.clock])
        save_arrays(path, arrays)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore a snapshot written by :meth:`save`."""
        arrays = load_arrays(path)
        self.table.from_arrays(arrays)
        self.clock = float(arrays["clock"][0]) if "clock" in arrays else 0.0
