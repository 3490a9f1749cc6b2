"""The learner's compiled kernel (botguard/model/_learn.c) gives its pure twins' bits.

Each test runs the same input through the kernel and through the twin (``BOTGUARD_NO_NATIVE=1``)
and compares exactly: a sequence of trained micro-batches (probabilities and every slab of the
table: admission, weights, Adagrad sums, stamps, dirty bits), the scorer's part logits across
publications, the trainer's masked keys, and a whole stream's scores. Then what a hostile state
or a wrong call brings (a row past the slabs, a part id past the parts, wrong dtypes, short
arrays) must raise ValueError, never read or write out of bounds.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.model._batches import PartIds
from botguard.model._join import Trainer
from botguard.model.learner import BIAS, OnlineLR
from botguard.model.records import Delta, LearnerConfig, SlotPolicy
from botguard.model.table import ParamTable
from botguard.native import kernel
from tests.helpers import native_off
from tests.model import streamkit as sk

NATIVE = kernel("model._learn")
pytestmark = pytest.mark.skipif(NATIVE is None, reason="the C kernel is not built here")

VOCAB = [f"ip24=10.0.{i}" for i in range(6)] + [
    "ua_tok=nova",
    "ua_fam=chrome",
    "path_tpl=/p/{n}",
    "m=GET",
    BIAS,
]
POLICIES = {"ip24": SlotPolicy(admit_after=2), "ua_tok": SlotPolicy(admit_after=3)}
EXAMPLE = st.tuples(st.lists(st.sampled_from(VOCAB), max_size=7), st.booleans(), st.integers(0, 4))
BATCH = st.lists(EXAMPLE, min_size=1, max_size=12)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def same_table(a: ParamTable, b: ParamTable) -> None:
    assert a.index == b.index
    for name in ("w", "n", "z", "last", "dirty", "live"):
        assert same_bits(getattr(a, name), getattr(b, name)), name
    assert same_bits(a.sketch.counts, b.sketch.counts)
    assert same_bits(a.pairs.bits, b.pairs.bits)


def learn(model: OnlineLR, batch: list[tuple[list[str], bool, int]], now: float) -> np.ndarray:
    keys = [k for ks, _, _ in batch for k in ks]
    lens = [len(ks) for ks, _, _ in batch]
    return model.learn_keys(keys, lens, [y for _, y, _ in batch], now=now, who=[c for _, _, c in batch])


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(BATCH, min_size=1, max_size=8),
    start=st.floats(-3.0, 3.0),
    lr=st.sampled_from([0.1, 0.5]),
)
def test_training_gives_the_twins_probabilities_and_weights(
    batches: list[list[tuple[list[str], bool, int]]], start: float, lr: float
) -> None:
    """Micro-batches with repeated keys in one example, the bias key named as a feature,
    admissions and a warm table: every probability and slab bit equal, batch after batch."""
    fast, pure = (
        OnlineLR(LearnerConfig(lr=lr), ParamTable(policies=POLICIES, capacity=16)) for _ in range(2)
    )
    for model in (fast, pure):  # a warm table: rows with weights and Adagrad sums
        model.table.rows(["ua_fam=chrome", "m=GET"], 0.0)
        model.table.w[:2] = [start, -start / 3]
        model.table.n[:2] = [abs(start), 0.25]
    for t, batch in enumerate(batches, start=1):
        p_fast = learn(fast, batch, 10.0 * t)
        with native_off():
            p_pure = learn(pure, batch, 10.0 * t)
        assert same_bits(p_fast, p_pure)
        same_table(fast.table, pure.table)


def part_ids(parts: list[tuple[str, ...]], picks: list[list[int]]) -> PartIds:
    return PartIds([(parts, np.array(column, dtype=np.int64)) for column in picks])


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.lists(st.sampled_from(VOCAB), max_size=5).map(tuple), min_size=1, max_size=6),
    data=st.data(),
    weights=st.lists(st.floats(-4.0, 4.0), min_size=len(VOCAB), max_size=len(VOCAB)),
    known=st.lists(st.booleans(), min_size=len(VOCAB), max_size=len(VOCAB)),
)
def test_part_logits_give_the_twins_bits_across_publications(
    parts: list[tuple[str, ...]], data: Any, weights: list[float], known: list[bool]
) -> None:
    """Three kinds of parts over a table whose weights change between epochs: the logits, the
    cached sums and their epochs equal; a part is summed again only after a new epoch."""
    n = 20
    picks = [data.draw(st.lists(st.integers(0, len(parts) - 1), min_size=n, max_size=n)) for _ in range(3)]
    fast, pure = part_ids(parts, picks), part_ids(parts, picks)
    table = ParamTable()
    table.rows([k for k, on in zip(VOCAB, known) if on], 0.0)
    for epoch in range(3):
        table.w[: len(table)] = np.array(weights[: len(table)]) * (epoch + 1) / 3
        for cols in (slice(0, 7), slice(7, 7), slice(7, n), slice(3, 12)):
            z_fast = fast.logit(cols, table, epoch)
            with native_off():
                z_pure = pure.logit(cols, table, epoch)
            assert same_bits(z_fast, z_pure)
            assert same_bits(fast.sums.value, pure.sums.value)
            assert same_bits(fast.sums.epoch, pure.sums.epoch)


def test_part_sums_are_kept_until_the_epoch_changes() -> None:
    """A cached sum is reused within its epoch (the scorer's weights only change at a publication)
    and summed again at the next one."""
    table = ParamTable()
    table.rows(["a=1", "b=1"], 0.0)
    table.w[:2] = [1.0, 2.0]
    ids = part_ids([("a=1", "b=1"), ("b=1",), ()], [[0, 1], [1, 1], [2, 2]])
    assert ids.logit(slice(0, 2), table, 0).tolist() == [5.0, 4.0]
    table.w[:2] = [10.0, 20.0]
    assert ids.logit(slice(0, 2), table, 0).tolist() == [5.0, 4.0]
    assert ids.logit(slice(0, 2), table, 1).tolist() == [50.0, 40.0]


@settings(max_examples=100, deadline=None)
@given(
    examples=st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["honeypot", "catalog", "robots"])),
        min_size=1,
        max_size=15,
    )
)
def test_masked_keys_give_the_twins_keys_and_lengths(examples: list[tuple[int, str]]) -> None:
    """Each example's parts without its source's slots, memoised per part object; a memo entry
    left by another object under the same id is not trusted."""
    masks = {
        "honeypot": frozenset({"path_tpl"}),
        "catalog": frozenset({"ua_tok", "ua_fam"}),
        "robots": frozenset(),
    }
    pool = [
        (("ua_tok=nova", "ua_fam=nova", "ip24=1.2.3"), ("path_tpl=/p/{n}", "ext=html"), ("m=GET",)),
        (("ua_fam=chrome",), (), ("m=POST", "path_tpl=/x")),
        ((), ("path_tpl=/a", "path_tpl", "=x", "ext=a=b"), ()),
        (("ip24=9.9.9", "ip24=9.9.9"), ("ext=css",), ("m=GET", "ua_tok=zz")),
    ]
    parts = [pool[i] for i, _ in examples]
    sources = [s for _, s in examples]
    fast, pure = Trainer(masks), Trainer(masks)
    stale = ("not", "this")
    for trainer in (fast, pure):
        trainer._mask["catalog"][id(pool[0][0])] = (stale, ("stale=1",))
    keys, lens = fast_keys(fast, parts, sources)
    with native_off():
        want_keys, want_lens = pure._keys(parts, sources)
    assert keys == want_keys
    assert lens.tolist() == want_lens
    assert "stale=1" not in keys
    assert fast._mask.keys() == pure._mask.keys()
    for source, memo in fast._mask.items():  # the same entries, made once per part object
        assert {k: v[1] for k, v in memo.items()} == {k: v[1] for k, v in pure._mask[source].items()}


def test_a_full_memo_starts_over() -> None:
    """A source's memo past its limit is emptied before the next entry (memory stays bounded)."""
    assert NATIVE is not None
    from botguard.model._train import masked_keys

    trainer = Trainer({"robots": frozenset({"path_tpl"})})
    parts = [(("a=1",), ("path_tpl=/x", "b=2")), (("c=3",),), (("d=4",),)]
    keys, lens = masked_keys(NATIVE, parts, ["robots"] * 3, trainer._mask, trainer.masks, 1)
    assert keys == ["a=1", "b=2", "c=3", "d=4"]
    assert lens.tolist() == [2, 1, 1]
    assert len(trainer._mask["robots"]) == 2  # 2 entries, then over the limit: emptied, then d's


def fast_keys(trainer: Trainer, parts: list[Any], sources: list[str]) -> tuple[list[str], np.ndarray]:
    from botguard.model._train import masked_keys

    assert NATIVE is not None
    return masked_keys(NATIVE, parts, sources, trainer._mask, trainer.masks, trainer._limit())


def test_a_stream_scores_and_trains_as_the_twin() -> None:
    """A small day of people and crawlers through two whole learners: every score and the
    trainer's and scorer's tables equal."""
    rows = []
    for k in range(6):
        rows += sk.human_session(40.0 * k, f"203.0.113.{k}", pages=5)
    rows += [sk.req(3.0 * i, f"198.51.100.{i % 9}", sk.NOVA, f"/items/{i}") for i in range(120)]
    rows += [
        sk.req(5.0 * i + 1, "192.0.2.7", sk.ZGRAB, "/trap/x" if i % 7 == 0 else "/wp-login.php")
        for i in range(40)
    ]
    rows.sort(key=lambda r: r["time"])
    fast = sk.learner()
    fast_scores = [fast.observe(sk.frame(rows[i : i + 50])).to_numpy() for i in range(0, len(rows), 50)]
    with native_off():
        pure = sk.learner()
        pure_scores = [pure.observe(sk.frame(rows[i : i + 50])).to_numpy() for i in range(0, len(rows), 50)]
    assert same_bits(np.concatenate(fast_scores), np.concatenate(pure_scores))
    same_table(fast.trainer.table, pure.trainer.table)
    same_table(fast.scorer.table, pure.scorer.table)
    assert fast.counters == pure.counters


@settings(max_examples=100, deadline=None)
@given(
    batches=st.lists(BATCH, min_size=1, max_size=6), expire=st.lists(st.booleans(), min_size=6, max_size=6)
)
def test_deltas_give_the_twins_scorer(
    batches: list[list[tuple[list[str], bool, int]]], expire: list[bool]
) -> None:
    """A trainer's deltas (rows taken dirty, tombstones of expired rows) applied to a scorer:
    the same deltas, the same scorer rows (new ones from the free list) and dirty bits."""
    policies = {**POLICIES, "m": SlotPolicy(ttl=15.0)}
    pairs = [
        (OnlineLR(table=ParamTable(policies=policies, capacity=16)), ParamTable(capacity=16))
        for _ in range(2)
    ]
    for t, batch in enumerate(batches, start=1):
        deltas = []
        for (trainer, scorer), on in zip(pairs, (True, False)):
            with native_off() if not on else nullcontext():
                learn(trainer, batch, 10.0 * t)
                if expire[t % len(expire)]:
                    trainer.expire(10.0 * t + 20.0)
                delta = trainer.table.take_delta()
                scorer.apply_delta(delta, 10.0 * t)
                deltas.append(delta)
        fast, pure = deltas
        assert fast.keys == pure.keys and fast.tombstones == pure.tombstones
        assert same_bits(fast.weights, pure.weights)
        same_table(pairs[0][0].table, pairs[1][0].table)
        same_table(pairs[0][1], pairs[1][1])


# -- hostile state and wrong calls -----------------------------------------------------------------


def test_a_row_past_the_slabs_raises_instead_of_reading_it() -> None:
    """A key index whose row lies past the slabs (a corrupt or hostile state file) is refused by
    every door that reads rows: the scorer's lookup, the part sums and training."""
    table = ParamTable(capacity=16)
    table.rows(["a=1"], 0.0)
    table.index["b=1"] = table.capacity  # one past the last row
    with pytest.raises(ValueError, match="outside the table"):
        table.lookup(["a=1", "b=1"])
    with pytest.raises(ValueError, match="outside the table"):
        part_ids([("a=1", "b=1")], [[0]]).logit(slice(0, 1), table, 0)
    table.index["b=1"] = -3
    with pytest.raises(ValueError, match="outside the table"):
        table.lookup(["b=1"])
    model = OnlineLR(table=table)
    table.index["b=1"] = 1 << 62
    with pytest.raises(ValueError, match="outside the table"):
        model.learn_keys(["a=1", "b=1"], [2], [True], now=1.0)
    scorer = ParamTable()
    scorer.index["b=1"] = scorer.capacity
    with pytest.raises(ValueError, match="outside the table"):
        scorer.apply_delta(Delta(("b=1",), np.ones(1), ()))
    table.index["b=1"] = "1"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="not an int"):
        table.lookup(["b=1"])


def test_a_part_id_past_the_parts_raises() -> None:
    table = ParamTable()
    ids = part_ids([("a=1",)], [[0, 0]])
    ids.ids[0, 1] = 1
    with pytest.raises(ValueError, match="part id"):
        ids.logit(slice(0, 2), table, 0)
    ids.ids[0, 1] = -1
    with pytest.raises(ValueError, match="part id"):
        ids.logit(slice(0, 2), table, 0)


def _arrays(total: int = 3, table: int = 8) -> dict[str, Any]:
    return {
        "rows": np.array([0, -1, 2], dtype=np.int64)[:total],
        "lens": np.array([2, 1], dtype=np.int64),
        "err": np.array([0.5, -0.25]),
        "w": np.zeros(table),
        "n": np.zeros(table),
        "last": np.zeros(table),
        "dirty": np.zeros(table, dtype=bool),
    }


def _adagrad(a: dict[str, Any], bias_row: int = 1) -> None:
    assert NATIVE is not None
    NATIVE.adagrad(
        a["rows"], a["lens"], a["err"], 0.25, bias_row, a["w"], a["n"], a["last"], a["dirty"], 0.1, 1e-6, 3.0
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"w": np.zeros(8, dtype=np.float32)}, "w is not float64"),
        ({"rows": np.array([0, -1, 2], dtype=np.int32)}, "rows is not int64"),
        ({"dirty": np.zeros(8, dtype=np.uint8)}, "dirty is not bool"),
        ({"n": np.zeros(7)}, "lengths do not fit"),
        ({"last": np.zeros(9)}, "lengths do not fit"),
        ({"err": np.zeros(1)}, "lengths do not fit"),
        ({"lens": np.array([2, 2], dtype=np.int64)}, "do not sum"),
        ({"lens": np.array([4, -1], dtype=np.int64)}, "do not sum"),
        ({"lens": np.array([1, 1], dtype=np.int64)}, "do not sum"),
        ({"rows": np.array([0, -1, 8], dtype=np.int64)}, "outside the table"),
        ({"rows": np.array([0, -2, 2], dtype=np.int64)}, "outside the table"),
        ({"w": np.zeros(16)[::2]}, "not a contiguous"),
        ({"w": np.zeros(8).tolist()}, "not a contiguous"),
    ],
)
def test_wrong_arrays_raise_value_error(change: dict[str, Any], message: str) -> None:
    arrays = {**_arrays(), **change}
    before = {k: v.copy() for k, v in arrays.items() if isinstance(v, np.ndarray)}
    with pytest.raises(ValueError, match=message):
        _adagrad(arrays)
    for name, value in before.items():  # refused before a write
        assert same_bits(arrays[name], value), name


def test_a_read_only_slab_and_a_bias_past_the_table_raise() -> None:
    arrays = _arrays()
    arrays["w"].flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        _adagrad(arrays)
    with pytest.raises(ValueError, match="bias row"):
        _adagrad(_arrays(), bias_row=8)
    assert NATIVE is not None
    with pytest.raises(ValueError, match="bias row"):
        NATIVE.event_logits(_arrays()["rows"], _arrays()["lens"], np.zeros(8), -2, np.zeros(2))
    with pytest.raises(ValueError, match="out's length"):
        NATIVE.event_logits(_arrays()["rows"], _arrays()["lens"], np.zeros(8), 0, np.zeros(3))
    with pytest.raises(ValueError, match="out's length"):
        NATIVE.lookup(["a"], {}, 8, np.zeros(2, dtype=np.int64))
    ids = np.zeros((3, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="lengths do not fit"):
        _part_logits(ids, stop=5)
    with pytest.raises(ValueError, match="lengths do not fit"):
        _part_logits(ids, sums=2)
    with pytest.raises(ValueError, match="not \\(kinds, columns\\)"):
        _part_logits(np.zeros(4, np.int64))


def _part_logits(ids: np.ndarray, stop: int = 4, sums: int = 1) -> None:
    """The kernel's part logits of one empty part over ``ids`` (``sums``: the cached sums' length)."""
    assert NATIVE is not None
    epochs = np.zeros(1, np.int64)
    NATIVE.part_logits(ids, 0, stop, [()], np.zeros(sums), epochs, {}, np.zeros(8), 0, 0.0, np.zeros(stop))


def test_a_step_adds_gradients_per_row_in_example_order() -> None:
    """The kernel's step on a hand-made batch: row 0 twice in example 0 and once in example 1,
    the bias (row 1) named by example 1 and given the batch's error sum too."""
    a = _arrays()
    a["rows"] = np.array([0, 0, 0, 1], dtype=np.int64)
    a["lens"] = np.array([2, 2], dtype=np.int64)
    _adagrad(a, bias_row=1)
    g0 = 0.5 + 0.5 + -0.25
    g1 = -0.25 + 0.25
    assert a["n"][:2].tolist() == [g0 * g0, g1 * g1]
    assert a["w"][0] == -(0.1 * g0 / (np.sqrt(g0 * g0) + 1e-6))
    assert a["last"][:3].tolist() == [3.0, 3.0, 0.0]
    assert a["dirty"][:3].tolist() == [True, True, False]
