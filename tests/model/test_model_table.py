"""The collisionless parameter table: exact keys, admission, expiry, deltas, snapshots."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import botguard.model.table as table_mod
from botguard.model.records import SlotPolicy
from botguard.model.table import CountMinSketch, ParamTable


@pytest.mark.slow
def test_millions_of_distinct_keys_never_share_a_row() -> None:
    """Two million distinct keys get two million distinct rows, each mapping back to its key."""
    t = ParamTable(capacity=16)
    keys = [f"ip24=10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}|{i}" for i in range(2_000_000)]
    rows = t.rows(keys, now=0.0)
    assert len(t) == len(keys)
    assert np.unique(rows).size == len(keys) and rows.min() == 0
    assert all(t.key_of(int(r)) == k for r, k in zip(rows[::9973], keys[::9973]))
    assert t.lookup(keys[:5]).tolist() == rows[:5].tolist()


def test_weights_of_one_key_never_leak_to_another() -> None:
    """Writing one key's weight leaves every other key's weight untouched (no collisions)."""
    t = ParamTable()
    rows = t.rows([f"ua_tok=t{i}" for i in range(5000)], now=0.0)
    t.w[rows[1234]] = 3.0
    assert np.count_nonzero(t.w) == 1 and t.w[t.index["ua_tok=t1234"]] == 3.0


def test_same_key_twice_in_one_batch_gets_one_row() -> None:
    """Duplicates within a batch resolve to the same row."""
    t = ParamTable(policies={"ip24": SlotPolicy(admit_after=2)})
    rows = t.rows(["a=1", "a=1", "ip24=x", "ip24=x"], now=0.0)
    assert rows[0] == rows[1] >= 0
    assert rows[2] == rows[3] >= 0  # the second sighting in the batch reaches the threshold
    assert len(t) == 2


def test_admission_after_n_sightings_per_slot() -> None:
    """A key of a slot with admit_after=3 gets a row only on its third sighting; other slots at once."""
    t = ParamTable(policies={"ip24": SlotPolicy(admit_after=3)})
    assert t.rows(["ip24=1.2.3", "ua_fam=curl"], now=0.0).tolist() == [-1, 0]
    assert t.rows(["ip24=1.2.3"], now=1.0).tolist() == [-1]
    assert "ip24=1.2.3" not in t
    assert t.rows(["ip24=1.2.3"], now=2.0).tolist() == [1]
    assert "ip24=1.2.3" in t


def test_admission_counts_distinct_clients_not_occurrences() -> None:
    """With ``who``, one client repeating a key (its /24 in every request) is one sighting;
    three different clients admit it (the one-off client's keys stay out of memory)."""
    t = ParamTable(policies={"ip24": SlotPolicy(admit_after=3)})
    one_client = np.array([7, 7, 7, 7])
    assert t.rows(["ip24=1.2.3"] * 4, now=0.0, who=one_client).tolist() == [-1] * 4
    assert (
        t.rows(["ip24=1.2.3"] * 4, now=1.0, who=one_client).tolist() == [-1] * 4
    )  # later batch, same client
    assert int(t.sketch.estimate(["ip24=1.2.3"])[0]) == 1
    assert t.rows(["ip24=1.2.3"], now=2.0, who=np.array([8])).tolist() == [-1]
    assert t.rows(["ip24=1.2.3", "ip24=1.2.3"], now=3.0, who=np.array([9, 9]))[0] >= 0
    assert "ip24=1.2.3" in t


def test_without_who_every_occurrence_counts() -> None:
    """Callers that pass no client keep Monolith's occurrence counting (the scan step's model)."""
    t = ParamTable(policies={"ip24": SlotPolicy(admit_after=3)})
    assert t.rows(["ip24=a"] * 3, now=0.0).tolist() == [0, 0, 0]


def test_ageing_forgets_which_clients_were_counted() -> None:
    """After age() the same client counts again (a new window), its old sighting at half weight."""
    t = ParamTable(policies={"ip24": SlotPolicy(admit_after=2)})
    who = np.array([1])
    t.rows(["ip24=a"], now=0.0, who=who)
    t.rows(["ip24=a"], now=1.0, who=who)
    assert "ip24=a" not in t
    t.sketch.counts[t.sketch.counts > 0] = 2  # pretend two sightings, so halving leaves one
    t.age()
    assert t.rows(["ip24=a"], now=2.0, who=who)[0] >= 0


def test_lookup_never_admits() -> None:
    """The scorer's lookup leaves unknown keys unknown and the sketch untouched."""
    t = ParamTable()
    assert t.lookup(["a=1"]).tolist() == [-1]
    assert len(t) == 0 and not t.sketch.counts.any()


def test_sketch_ageing_forgets_old_sightings() -> None:
    """After ageing, old sightings count for half: a key needs fresh sightings to be admitted."""
    t = ParamTable(policies={"ip24": SlotPolicy(admit_after=2)})
    t.rows(["ip24=a"], now=0.0)
    t.sketch.age()
    assert t.rows(["ip24=a"], now=1.0).tolist() == [-1]
    assert t.rows(["ip24=a"], now=2.0).tolist() == [0]


def test_sketch_never_underestimates() -> None:
    """Count-min estimates are at least the true counts (over-estimates only admit early)."""
    sketch = CountMinSketch(depth=3, width=1 << 8)
    keys = [f"k{i % 700}" for i in range(5000)]
    estimates = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        estimates.update(zip(chunk, sketch.add(chunk).tolist()))
    assert all(estimates[f"k{i}"] >= keys.count(f"k{i}") for i in range(0, 700, 37))


def test_expiry_per_slot_by_last_update() -> None:
    """Rows past their slot's TTL are dropped and recycled; slots without a TTL stay."""
    t = ParamTable(policies={"ip24": SlotPolicy(ttl=10.0)})
    t.rows(["ip24=a", "ip24=b", "asn=1"], now=0.0)
    t.touch(np.array([t.index["ip24=b"]]), now=8.0)
    assert t.expire(now=15.0) == 1
    assert "ip24=a" not in t and "ip24=b" in t and "asn=1" in t
    freed = t.rows(["ip24=c"], now=15.0)[0]
    assert freed == 0 and t.w[freed] == 0.0  # the freed row is reused, zeroed
    assert t.expire(now=1000.0) == 2  # b and c; asn never expires
    assert sorted(t.index) == ["asn=1"]


def test_delta_carries_changed_rows_and_clears_dirty() -> None:
    """take_delta returns touched rows' values once; a second call is empty until rows change again."""
    t = ParamTable()
    rows = t.rows(["a=1", "b=2", "c=3"], now=0.0)
    t.w[rows] = [1.0, 2.0, 3.0]
    first = t.take_delta()
    assert set(first.keys) == {"a=1", "b=2", "c=3"} and not first.tombstones
    assert len(t.take_delta()) == 0
    t.w[rows[1]] = 5.0
    t.touch(rows[1:2], now=1.0)
    second = t.take_delta()
    assert second.keys == ("b=2",) and second.weights.tolist() == [5.0]


def test_apply_delta_makes_scorer_copy_equal() -> None:
    """Applying every delta to a scorer copy reproduces the trainer's weights, including deletions."""
    trainer = ParamTable(policies={"ip24": SlotPolicy(ttl=5.0)})
    scorer = ParamTable()
    rows = trainer.rows(["ip24=a", "asn=1", "ua_fam=x"], now=0.0)
    trainer.w[rows] = [0.5, -1.0, 2.0]
    scorer.apply_delta(trainer.take_delta())
    trainer.expire(now=100.0)
    trainer.w[trainer.index["asn=1"]] = 7.0
    trainer.touch(np.array([trainer.index["asn=1"]]), now=100.0)
    delta = trainer.take_delta()
    assert delta.tombstones == ("ip24=a",)
    scorer.apply_delta(delta)
    scorer.apply_delta(delta)  # replaying a delta is harmless: values, not gradients
    assert {k: scorer.w[r] for k, r in scorer.index.items()} == {"asn=1": 7.0, "ua_fam=x": 2.0}


@pytest.mark.parametrize("seed", range(8))
def test_a_delta_applies_as_its_keys_one_by_one(seed: int) -> None:
    """A delta's keys (new ones past the table's capacity, known ones, tombstones' keys back again,
    a key twice as a peer's file may hold it) end with the weights and rows a key-by-key upsert
    gives: the last weight of a key wins, each key one row, new rows not dirty."""
    from botguard.model.records import Delta

    rng = np.random.default_rng(seed)
    table, keys = ParamTable(capacity=16), [f"k={i}" for i in range(60)]
    table.apply_delta(Delta(tuple(keys[:10]), rng.normal(size=10), ()))
    for _ in range(4):
        picked = tuple(rng.choice(keys, size=int(rng.integers(1, 40))).tolist())
        weights = rng.normal(size=len(picked))
        tombs = tuple(rng.choice(keys, size=3, replace=False).tolist())
        want = {k: float(table.w[r]) for k, r in table.index.items() if k not in tombs}
        want.update(zip(picked, weights.tolist()))
        table.apply_delta(Delta(picked, weights, tombs))
        assert {k: float(table.w[r]) for k, r in table.index.items()} == want
        assert len(set(table.index.values())) == len(table.index) == int(table.live.sum())
        assert not table.dirty[list(table.index.values())].any()


def _filled(tmp_path: Path) -> ParamTable:
    t = ParamTable(policies={"ip24": SlotPolicy(admit_after=2, ttl=50.0)})
    rng = np.random.default_rng(3)
    for step in range(5):
        keys = [f"ip24=10.0.{i}" for i in rng.integers(0, 40, 30)] + [f"ua_tok=t{i}" for i in range(step * 3)]
        rows = t.rows(keys, now=float(step))
        known = rows[rows >= 0]
        t.w[known] += rng.normal(size=known.size)
        t.n[known] += 1.0
        t.touch(known, now=float(step))
    return t


def test_snapshot_round_trip_is_exact(tmp_path: Path) -> None:
    """save then load restores every key, weight, optimiser state, timestamp and the sketch bit for bit."""
    t = _filled(tmp_path)
    path = tmp_path / "model.npz"
    t.save(path)
    back = ParamTable(policies=t.policies)
    back.load(path)
    assert back.index.keys() == t.index.keys()
    for name in ("w", "n", "z", "last", "dirty"):
        mine = {k: getattr(t, name)[r] for k, r in t.index.items()}
        theirs = {k: getattr(back, name)[r] for k, r in back.index.items()}
        assert mine == theirs, name
    assert np.array_equal(back.sketch.counts, t.sketch.counts)
    assert back.rows(["ua_tok=new"], now=9.0)[0] >= 0  # still writable after a restore


def test_snapshot_keeps_which_clients_were_counted(tmp_path: Path) -> None:
    """A client counted before a restart is not counted again after it (the pair filter is saved)."""
    t = ParamTable(policies={"ip24": SlotPolicy(admit_after=2)})
    t.rows(["ip24=a"], now=0.0, who=np.array([5]))
    t.save(tmp_path / "m.npz")
    back = ParamTable(policies=t.policies)
    back.load(tmp_path / "m.npz")
    assert back.rows(["ip24=a"], now=1.0, who=np.array([5])).tolist() == [-1]
    assert back.rows(["ip24=a"], now=2.0, who=np.array([6]))[0] >= 0


def test_interrupted_snapshot_leaves_the_old_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash while writing a snapshot leaves the previous snapshot intact and no temp file."""
    t = _filled(tmp_path)
    path = tmp_path / "model.npz"
    t.save(path)
    before = path.read_bytes()
    t.rows(["ua_tok=later"], now=10.0)

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(table_mod.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        t.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_truncated_write_is_never_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure halfway through serialising (before the rename) never touches the target."""
    t = _filled(tmp_path)
    path = tmp_path / "model.npz"
    t.save(path)
    before = path.read_bytes()

    def half_write(fh: object, **arrays: object) -> None:
        os.write(fh.fileno(), b"PK\x03\x04 partial")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(table_mod.np, "savez", half_write)
    with pytest.raises(KeyboardInterrupt):
        t.save(path)
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_empty_table_round_trips(tmp_path: Path) -> None:
    """An empty table snapshots and restores to an empty table."""
    path = tmp_path / "empty.npz"
    ParamTable().save(path)
    back = ParamTable()
    back.load(path)
    assert len(back) == 0


def test_sketch_counters_saturate_instead_of_wrapping() -> None:
    """A very frequent key's counter stops at its cap; it never wraps to a small count."""
    sketch = CountMinSketch(width=1 << 4)
    estimates = sketch.add(["hot=1"] * 70_000)
    assert estimates.min() == 60_000 and sketch.counts.max() == 60_000
