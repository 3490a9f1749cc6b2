"""Admission counted in Python for a few new sightings equals the numpy path, bit for bit.

The trainer's micro-batches bring a handful of new (key, client) pairs each; ``ParamTable``
counts those with :meth:`PairFilter.add_new_few` and :meth:`CountMinSketch.add_few`. A wrong bit
or count there would admit keys at other times and change every later score, so each is checked
against the numpy form on the same state: duplicates, repeated pairs, negative client ids,
counters at saturation, tiny filters whose pairs share bits.
"""

from __future__ import annotations

import zlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.model.records import SlotPolicy
from botguard.model.table import CountMinSketch, PairFilter, ParamTable, key_hashes

KEYS = st.lists(st.sampled_from([f"ip24=10.0.{i}" for i in range(12)] + ["ua_tok=nova", ""]), max_size=30)


def crc(keys: list[str]) -> list[int]:
    return [zlib.crc32(k.encode()) for k in keys]


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(KEYS, min_size=1, max_size=6),
    width=st.sampled_from([2, 8, 1 << 10]),
    near_cap=st.booleans(),
)
def test_few_sketch_adds_count_as_the_numpy_add(batches: list[list[str]], width: int, near_cap: bool) -> None:
    few, many = CountMinSketch(depth=4, width=width), CountMinSketch(depth=4, width=width)
    if near_cap:
        few.counts[:] = many.counts[:] = 59_990
    for keys in batches:
        assert few.add_few(crc(keys)) == many.add(key_hashes(keys)).tolist()
        assert np.array_equal(few.counts, many.counts)


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(st.lists(st.tuples(st.sampled_from(["a=1", "b=2", "c=3", "d=4"]), st.integers(-3, 3)),
                              max_size=20), min_size=1, max_size=6),
    bits=st.sampled_from([64, 1 << 10, 1 << 23]),
)  # fmt: skip
def test_few_pair_sightings_are_the_numpy_sightings(batches: list[list[tuple[str, int]]], bits: int) -> None:
    few, many = PairFilter(bits=bits), PairFilter(bits=bits)
    for pairs in batches:
        keys, who = [k for k, _ in pairs], [w for _, w in pairs]
        assert (
            few.add_new_few(crc(keys), who)
            == many.add_new(key_hashes(keys), np.array(who, np.int64)).tolist()
        )
        assert np.array_equal(few.bits, many.bits)


def test_a_table_admits_the_same_keys_at_the_same_times_either_way(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Whole tables fed the same stream of misses, one counting every batch in numpy."""
    rng = np.random.default_rng(5)
    policies = {"ip24": SlotPolicy(admit_after=3), "ua_tok": SlotPolicy(admit_after=2)}
    few, many = ParamTable(policies=policies), ParamTable(policies=policies)
    for step in range(300):
        size = int(rng.integers(1, 60))
        keys = [f"{'ip24' if k % 3 else 'ua_tok'}=k{k}" for k in rng.integers(0, 400, size).tolist()]
        who = rng.integers(0, 30, size)
        monkeypatch.setattr("botguard.model.table._FEW", 48)
        got = few.rows(keys, float(step), who)
        monkeypatch.setattr("botguard.model.table._FEW", 0)
        want = many.rows(keys, float(step), who)
        assert got.tolist() == want.tolist()
        if step % 50 == 49:
            few.age(), many.age()
    assert few.index == many.index and np.array_equal(few.sketch.counts, many.sketch.counts)
    assert np.array_equal(few.pairs.bits, many.pairs.bits)
