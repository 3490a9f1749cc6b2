"""A collisionless sparse parameter table: exact ``"slot=value"`` keys → rows of numpy slabs.

Why not the hashing trick: with hashing, a new crawler's user-agent key can inherit another
key's stale weight, and a hashed index cannot be enumerated, so it gives no per-key expiry,
admission, delta-by-key or readable explanation (all needed to turn weights into rules). Here a
Python ``dict`` maps each exact key to a row index; rows live in growable numpy arrays
(``w``, ``n`` and ``z`` optimiser state, ``last`` update time, ``dirty`` and ``live`` bits), freed
rows are recycled from a free list, and all arrays double when full (amortised O(1)).

Carried over from Monolith (see ../shared/notes/online-model.md): admission after N sightings per
slot (a count-min sketch whose counters are halved periodically, so counts age; unlike Monolith's
occurrences, a sighting is a distinct (key, client) pair when the caller says who, see
:class:`PairFilter`), expiry per slot by
last update, and a dirty bit per row that drives delta publication to a scorer copy. Snapshots
store key strings (not hashes), so they survive a change of Python's hash salt.

Examples
--------
>>> t = ParamTable(policies={"ip24": SlotPolicy(admit_after=2)})
>>> t.rows(["ua_fam=curl", "ip24=1.2.3"], now=0.0).tolist()
[0, -1]
>>> t.rows(["ip24=1.2.3"], now=1.0).tolist()
[1]
>>> len(t)
2
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import numpy as np

from botguard.model._train import learn_kernel, lookup_rows
from botguard.model.records import Delta, SlotPolicy

#: Snapshot format version; bump when the set of arrays changes.
SCHEMA_VERSION = 1
_EMPTY_POLICIES: Mapping[str, SlotPolicy] = MappingProxyType({})
_DEFAULT_POLICY = SlotPolicy()
_SLABS = ("w", "n", "z", "last")
_MEMO_LIMIT = 100_000
_PAIR_LIMIT = (
    200_000  # (key, client) pairs remembered in Python (~20 MB) before starting over (the Bloom filter stays)
)
#: Odd 64-bit multipliers for the sketch's multiply-shift hashing (one per sketch row).
_MULTIPLIERS = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
    ],
    dtype=np.uint64,
)

_PY_MULTIPLIERS = [int(m) for m in _MULTIPLIERS]
_MASK64 = (1 << 64) - 1
_PAIR_MIX = 0x9E3779B97F4A7C15  # a client id's multiplier in a pair's hash (PairFilter._pair_hash)
#: New (key, client) sightings up to which a micro-batch counts them in Python, not numpy.
_FEW = 48


def slot_of(key: str) -> str:
    """The slot of a ``"slot=value"`` key (the whole key when it has no ``=``)."""
    return key.partition("=")[0]


def key_hashes(keys: Sequence[str]) -> np.ndarray:
    """CRC32 of each key (stable across processes); the sketch and pair filter take these
    instead of keys, so one batch's keys are hashed once."""
    return np.fromiter((zlib.crc32(k.encode()) for k in keys), dtype=np.uint64, count=len(keys))


class CountMinSketch:
    """Approximate sighting counts for keys not yet admitted (over-estimates only admit early).

    Hashing uses CRC32 of the key (stable across processes, unlike ``hash()``), so the sketch
    can be snapshotted with the table. ``age()`` halves every counter: a sliding-window analogue of
    Monolith's ``SlidingHashFilter``, so a key seen twice last month is not admitted by one sighting today.
    """

    def __init__(self, depth: int = 4, width: int = 1 << 18) -> None:
        if not 1 <= depth <= len(_MULTIPLIERS) or width < 2 or width & (width - 1):
            raise ValueError("depth must be 1..6 and width a power of two")
        self.counts = np.zeros((depth, width), dtype=np.uint16)
        self._shift = np.uint64(64 - (width.bit_length() - 1))

    def _cells(self, keys: Sequence[str] | np.ndarray) -> np.ndarray:
        h = keys if isinstance(keys, np.ndarray) else key_hashes(keys)
        h = (h << np.uint64(32)) | h
        depth = self.counts.shape[0]
        with np.errstate(over="ignore"):
            return (h[None, :] * _MULTIPLIERS[:depth, None]) >> self._shift

    def add(self, keys: Sequence[str] | np.ndarray) -> np.ndarray:
        """Count one sighting of each key (duplicates count once each); return the new estimates.

        Per sketch row: distinct cells with their counts (np.unique), one saturating add.
        """
        cells = self._cells(keys).astype(np.int64)
        depth, width = self.counts.shape
        flat = (
            cells + (np.arange(depth, dtype=np.int64) * width)[:, None]
        ).ravel()  # one cell space for all rows
        unique, counts = np.unique(flat, return_counts=True)
        view = self.counts.reshape(-1)
        view[unique] = np.minimum(view[unique].astype(np.int64) + counts, 60000)
        return view[flat].reshape(depth, -1).min(axis=0).astype(np.int64)

    def add_few(self, hashes: Sequence[int]) -> list[int]:
        """:meth:`add` of a few keys' hashes (:func:`key_hashes` values as Python ints), without numpy.

        Why: a trainer's micro-batch brings a handful of new sightings; the dozen numpy calls of
        :meth:`add` cost ~10x the arithmetic on so few keys. Same cells, the same saturating sums.
        """
        depth, width = self.counts.shape
        shift, multipliers = int(self._shift), _PY_MULTIPLIERS[:depth]
        cells = [
            [((((h << 32) | h) * m & _MASK64) >> shift) + row * width for row, m in enumerate(multipliers)]
            for h in hashes
        ]
        sightings: dict[int, int] = {}
        for per_key in cells:
            for cell in per_key:
                sightings[cell] = sightings.get(cell, 0) + 1
        view = self.counts.reshape(-1).data
        for cell, count in sightings.items():
            view[cell] = min(view[cell] + count, 60000)
        return [min(view[cell] for cell in per_key) for per_key in cells]

    def estimate(self, keys: Sequence[str] | np.ndarray) -> np.ndarray:
        """Current estimates of ``keys`` without counting a sighting."""
        cells = self._cells(keys).astype(np.int64)
        return self.counts[np.arange(cells.shape[0])[:, None], cells].min(axis=0).astype(np.int64)

    def age(self) -> None:
        """Halve every counter (old sightings fade)."""
        self.counts >>= 1


class PairFilter:
    """Which (key, client) pairs were already counted as a sighting since the last ageing (a Bloom filter).

    Why: Monolith counts occurrences, but in a request stream one client repeats its keys in
    every request (its /24, its UA tokens), so occurrence counts admit a one-off client's keys
    after its third request and admission saves no memory. A sighting here is a *distinct
    client* seeing the key; a false positive (probability ~0.3% at 10^5 pairs) only delays an
    admission by one sighting. Bits live packed in a uint8 array (1 MB), so snapshots stay small.
    """

    def __init__(self, bits: int = 1 << 23, hashes: int = 3) -> None:
        if bits < 64 or bits & (bits - 1) or not 1 <= hashes <= len(_MULTIPLIERS):
            raise ValueError("bits must be a power of two >= 64 and hashes 1..6")
        self.bits = np.zeros(bits // 8, dtype=np.uint8)
        self._hashes = hashes
        self._shift = np.uint64(64 - (bits.bit_length() - 1))
        self._scalar = (64 - (bits.bit_length() - 1), _PY_MULTIPLIERS[:hashes])

    @staticmethod
    def _pair_hash(keys: Sequence[str] | np.ndarray, who: np.ndarray) -> np.ndarray:
        h = keys if isinstance(keys, np.ndarray) else key_hashes(keys)
        with np.errstate(over="ignore"):
            h = ((h << np.uint64(32)) | h) ^ (who.astype(np.uint64) * np.uint64(_PAIR_MIX))
            return h ^ (h >> np.uint64(29))

    def add_new(self, keys: Sequence[str] | np.ndarray, who: np.ndarray) -> np.ndarray:
        """Mark the pairs seen; return a mask of the pairs not seen before (duplicates: the first only)."""
        if not len(keys):
            return np.zeros(0, dtype=bool)
        h = self._pair_hash(keys, who)
        cells = self.cells_many(h)
        byte, bit = cells >> 3, (cells & 7).astype(np.uint8)
        seen = ((self.bits[byte] >> bit) & 1).all(axis=0)
        first = np.zeros(len(keys), dtype=bool)
        first[np.unique(h, return_index=True)[1]] = True  # a pair repeated in this call counts once
        np.bitwise_or.at(self.bits, byte.ravel(), np.left_shift(np.uint8(1), bit.ravel()))
        return first & ~seen

    def add_new_few(self, hashes: Sequence[int], who: Sequence[int]) -> list[bool]:
        """:meth:`add_new` of a few pairs (key hashes as Python ints), without numpy: every pair's
        bits are read before any is set, and a pair repeated in the call counts once, as there."""
        pairs = []
        for h, client in zip(hashes, who):
            mixed = ((h << 32) | h) ^ ((client & _MASK64) * _PAIR_MIX & _MASK64)
            pairs.append(mixed ^ (mixed >> 29))
        cells = [self.cells(pair) for pair in pairs]
        bits = self.bits.data
        seen = [all((bits[cell >> 3] >> (cell & 7)) & 1 for cell in per_pair) for per_pair in cells]
        firsts: set[int] = set()
        out = []
        for pair, before in zip(pairs, seen):
            out.append(not before and pair not in firsts)
            firsts.add(pair)
        for per_pair in cells:
            for cell in per_pair:
                bits[cell >> 3] |= 1 << (cell & 7)
        return out

    def clear(self) -> None:
        self.bits[:] = 0

    def cells(self, h: int) -> list[int]:
        """The bit numbers of one 64-bit hash (the same multiply-shift as :meth:`add_new`, in Python
        ints: a caller that meets its items one by one pays no numpy call)."""
        shift, multipliers = self._scalar
        return [((h * m) & _MASK64) >> shift for m in multipliers]

    def cells_many(self, h: np.ndarray) -> np.ndarray:
        """:meth:`cells` of many 64-bit hashes (``uint64``) in one numpy pass: one row per hash
        function, one column per hash (int64)."""
        with np.errstate(over="ignore"):
            return ((h[None, :] * _MULTIPLIERS[: self._hashes, None]) >> self._shift).astype(np.int64)

    def add_cells(self, cells: np.ndarray) -> None:
        """Mark bits given their numbers (any shape, repeats allowed)."""
        flat = cells.ravel()
        np.bitwise_or.at(self.bits, flat >> 3, np.left_shift(np.uint8(1), (flat & 7).astype(np.uint8)))


@dataclass(frozen=True, slots=True)
class _Misses:
    keys: list[str]
    positions: list[int]
    who: np.ndarray | None = None


class ParamTable:
    """Exact-key sparse parameters for a linear model; see the module docstring for why."""

    def __init__(
        self,
        policies: Mapping[str, SlotPolicy] = _EMPTY_POLICIES,
        default: SlotPolicy = _DEFAULT_POLICY,
        capacity: int = 1024,
        sketch_width: int = 1 << 18,
    ) -> None:
        self.policies = MappingProxyType(dict(policies))
        self.default = default
        self.index: dict[str, int] = {}
        self.sketch = CountMinSketch(width=sketch_width)
        self.pairs = PairFilter()
        self._counted: set[tuple[str, int]] = set()  # (key, client) pairs counted this window: fast path
        self._thresholds: dict[str, int] = {}
        self._alloc(max(16, capacity))
        self._r2k: list[str | None] = [None] * self.capacity
        self._free: list[int] = []
        self._next = 0
        self._tombstones: set[str] = set()

    # -- storage ---------------------------------------------------------------------------
    def _alloc(self, cap: int) -> None:
        self.w = np.zeros(cap)
        self.n = np.zeros(cap)
        self.z = np.zeros(cap)
        self.last = np.zeros(cap)
        self.dirty = np.zeros(cap, dtype=bool)
        self.live = np.zeros(cap, dtype=bool)

    @property
    def capacity(self) -> int:
        return len(self.w)

    def _grow(self) -> None:
        """Double every slab (amortised O(1) inserts)."""
        old = self.capacity
        for name in (*_SLABS, "dirty", "live"):
            arr = getattr(self, name)
            grown = np.zeros(old * 2, dtype=arr.dtype)
            grown[:old] = arr
            setattr(self, name, grown)
        self._r2k.extend([None] * old)

    def _new_row(self, key: str, now: float) -> int:
        if self._free:
            row = self._free.pop()
        else:
            if self._next == self.capacity:
                self._grow()
            row = self._next
            self._next += 1
        self.index[key] = row
        self._r2k[row] = key
        self.live[row] = True
        self.dirty[row] = True
        self.last[row] = now
        return row

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, key: object) -> bool:
        return key in self.index

    def policy(self, key: str) -> SlotPolicy:
        return self.policies.get(slot_of(key), self.default)

    def key_of(self, row: int) -> str | None:
        return self._r2k[row]

    def nbytes(self) -> int:
        """Approximate memory of the slabs plus the key dict (for the memory benchmark)."""
        slabs = sum(getattr(self, n).nbytes for n in (*_SLABS, "dirty", "live"))
        keys = sum(len(k) + 49 for k in self.index) + 8 * len(self._r2k)
        return slabs + keys + 100 * len(self.index) + self.sketch.counts.nbytes

    # -- lookup and admission --------------------------------------------------------------
    def lookup(self, keys: Iterable[str]) -> np.ndarray:
        """Rows of known keys, -1 for unknown ones; never admits (the scorer's path)."""
        native = learn_kernel()
        if native is not None:  # a row outside the slabs (a hostile snapshot) raises ValueError
            return lookup_rows(
                native, keys if isinstance(keys, list | tuple) else list(keys), self.index, self.capacity
            )
        # list(map(get, ...)) then one conversion: the fastest pure-Python lookup measured
        # (about 1.6x a generator into np.fromiter).
        return np.array(list(map(self.index.get, keys, repeat(-1))), dtype=np.int64)

    def rows(self, keys: Sequence[str], now: float, who: np.ndarray | None = None) -> np.ndarray:
        """Rows for ``keys``, admitting keys whose slot threshold is now reached (-1 if not yet).

        Only misses touch the sketch, so the steady state costs one dict lookup per key.
        ``who`` (one int per key: the client it came from) makes a sighting a distinct
        (key, client) pair since the last :meth:`age` instead of an occurrence (see
        :class:`PairFilter`); without it every occurrence counts (Monolith's rule).
        """
        rows = self.lookup(keys)
        miss = np.flatnonzero(rows < 0)
        if miss.size:
            ml = miss.tolist()
            self._admit(
                _Misses([keys[i] for i in ml], ml, None if who is None else np.asarray(who)[miss]), rows, now
            )
        return rows

    def age(self) -> None:
        """Halve the sighting counts and forget which clients were counted (a new window starts)."""
        self.sketch.age()
        self.pairs.clear()
        self._counted.clear()

    def _admit(self, misses: _Misses, rows: np.ndarray, now: float) -> None:
        policies, default = self.policies, self.default
        if not any(p.admit_after > 1 for p in (default, *policies.values())):
            thresholds = [1] * len(misses.keys)  # no admission anywhere: skip the sketch
        else:
            memo = self._thresholds
            if len(memo) > _MEMO_LIMIT:
                memo.clear()
            thresholds = [
                memo.get(k) or memo.setdefault(k, policies.get(k.partition("=")[0], default).admit_after)
                for k in misses.keys
            ]
        counted = [i for i, t in enumerate(thresholds) if t > 1]
        estimates = self._sight(misses, counted) if counted else {}
        admitted = {
            k: None
            for i, k in enumerate(misses.keys)
            if thresholds[i] <= 1 or estimates.get(i, 0) >= thresholds[i]
        }
        if not admitted:
            return
        self._insert_many(list(admitted), now)
        get = self.index.get
        for key, pos in zip(misses.keys, misses.positions):
            rows[pos] = get(key, -1)

    def _sight(self, misses: _Misses, counted: list[int]) -> dict[int, int]:
        """Count the sightings among ``counted`` misses; return the estimate of those that may be admitted.

        With clients (``who``), a (key, client) pair already counted in this window is skipped
        in Python before any hashing (the steady state: a client's unadmitted /24 in every
        request); only new pairs reach the Bloom filter (which remembers them across a
        restart) and the sketch, and only keys with a new sighting can reach their threshold.
        """
        keys = misses.keys
        if misses.who is None:
            return dict(zip(counted, self.sketch.add([keys[i] for i in counted]).tolist()))
        who = misses.who.tolist()
        seen = self._counted
        if len(seen) > _PAIR_LIMIT:
            seen.clear()
        new = []
        for i in counted:
            pair = (keys[i], who[i])
            if pair not in seen:
                seen.add(pair)
                new.append(i)
        if not new:
            return {}
        if len(new) <= _FEW:
            return self._sight_few(keys, who, new, counted)
        hashes = key_hashes([keys[i] for i in new])
        fresh = self.pairs.add_new(hashes, misses.who[new])
        if not fresh.any():
            return {}
        sighted = np.flatnonzero(fresh).tolist()
        # add() returns every sighted key's estimate after the whole call's sightings
        estimate = dict(zip((keys[new[at]] for at in sighted), self.sketch.add(hashes[fresh]).tolist()))
        return {i: estimate[keys[i]] for i in counted if keys[i] in estimate}

    def _sight_few(
        self, keys: list[str], who: list[int], new: list[int], counted: list[int]
    ) -> dict[int, int]:
        """The end of :meth:`_sight` for a few new pairs, in Python (:meth:`PairFilter.add_new_few`,
        :meth:`CountMinSketch.add_few`): the same bits, counts and estimates."""
        hashes = [zlib.crc32(keys[i].encode()) for i in new]
        fresh = self.pairs.add_new_few(hashes, [who[i] for i in new])
        sighted = [at for at, first in enumerate(fresh) if first]
        if not sighted:
            return {}
        found = self.sketch.add_few([hashes[at] for at in sighted])
        estimate = dict(zip((keys[new[at]] for at in sighted), found))
        return {i: estimate[keys[i]] for i in counted if keys[i] in estimate}

    def _insert_many(self, keys: list[str], now: float) -> None:
        """Give each new key a row: recycled rows first, then fresh ones (growing once if needed)."""
        reused = [self._free.pop() for _ in range(min(len(keys), len(self._free)))]
        fresh = len(keys) - len(reused)
        while self._next + fresh > self.capacity:
            self._grow()
        new_rows = reused + list(range(self._next, self._next + fresh))
        self._next += fresh
        self.index.update(zip(keys, new_rows))
        for key, row in zip(keys, new_rows):
            self._r2k[row] = key
        idx = np.array(new_rows, dtype=np.int64)
        self.live[idx] = True
        self.dirty[idx] = True
        self.last[idx] = now

    def touch(self, rows: np.ndarray, now: float) -> None:
        """Stamp updated rows: last update time (for expiry) and dirty (for deltas)."""
        self.last[rows] = now
        self.dirty[rows] = True

    # -- expiry ----------------------------------------------------------------------------
    def expire(self, now: float) -> int:
        """Delete rows whose slot TTL has passed since their last update; return how many.

        Deleted rows are zeroed, recycled, and left dirty so the next delta carries a tombstone.
        """
        ttls = {slot: p.ttl for slot, p in self.policies.items() if p.ttl is not None}
        if not ttls and self.default.ttl is None:
            return 0
        old = np.flatnonzero(self.live[: self._next] & (self.last[: self._next] < now - self._min_ttl(ttls)))
        removed = 0
        for row in old.tolist():
            key = self._r2k[row]
            ttl = self.policy(key).ttl if key is not None else None
            if key is not None and ttl is not None and self.last[row] < now - ttl:
                self._delete(row, key)
                removed += 1
        return removed

    def _min_ttl(self, ttls: Mapping[str, float]) -> float:
        values = list(ttls.values()) + ([self.default.ttl] if self.default.ttl is not None else [])
        return min(values)

    def _delete(self, row: int, key: str) -> None:
        del self.index[key]
        self._r2k[row] = None
        for name in _SLABS:
            getattr(self, name)[row] = 0.0
        self.live[row] = False
        self.dirty[row] = False
        self._free.append(row)
        self._tombstones.add(key)

    # -- deltas ----------------------------------------------------------------------------
    def take_delta(self) -> Delta:
        """Changed rows since the last call (values, not gradients: replays are idempotent)."""
        rows, keys = self._take_dirty()
        delta = Delta(keys=keys, weights=self.w[rows], tombstones=tuple(sorted(self._tombstones)))
        self._tombstones.clear()
        return delta

    def _take_dirty(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """The live rows changed since the last call and their keys, their dirty flags cleared
        (by the compiled kernel where there is one)."""
        native = learn_kernel()
        if native is not None:
            taken, keys = native.take_dirty(self.dirty, self.live, self._next, self._r2k)
            return np.frombuffer(taken, dtype=np.int64), keys
        rows = np.flatnonzero(self.dirty[: self._next] & self.live[: self._next])
        keys = cast("tuple[str, ...]", tuple(self._r2k[r] for r in rows.tolist()))  # live rows hold a key
        self.dirty[rows] = False
        return rows, keys

    def full_delta(self) -> Delta:
        """Every live row as one delta (a base others can start from; dirty flags untouched)."""
        rows = np.flatnonzero(self.live[: self._next])
        keys = cast("tuple[str, ...]", tuple(self._r2k[r] for r in rows.tolist()))  # live rows hold a key
        return Delta(keys=keys, weights=self.w[rows].copy(), tombstones=())

    def apply_delta(self, delta: Delta, now: float = 0.0) -> None:
        """Apply a trainer's delta to this (scorer) copy: upsert weights, drop tombstones."""
        for key in delta.tombstones:
            row = self.index.get(key)
            if row is not None:
                self._delete(row, key)
        self._tombstones.clear()
        native = learn_kernel()
        weights = delta.weights
        if native is not None and isinstance(delta.keys, tuple) and weights.shape == (len(delta.keys),):
            # rows that exist take their weights in C; the keys without one get rows below, in order
            missing = native.put_weights(
                delta.keys, np.ascontiguousarray(delta.weights, np.float64), self.index, self.w
            )
            self._put_new([delta.keys[i] for i in missing], delta.weights[missing].tolist(), now)
            return
        self._put_new(delta.keys, delta.weights.tolist(), now)

    def _put_new(self, keys: Sequence[str], weights: list[float], now: float) -> None:
        """Each key's weight, a new row (not dirty: a scorer's copy) for a key without one."""
        for key, weight in zip(keys, weights):
            row = self.index.get(key)
            if row is None:
                row = self._new_row(key, now)
                self.dirty[row] = False
            self.w[row] = weight

    # -- snapshots -------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every live row plus the sketch, keyed for ``np.savez`` (keys as strings, not hashes)."""
        rows = np.flatnonzero(self.live[: self._next])
        keys = [self._r2k[r] for r in rows.tolist()]
        out = {name: getattr(self, name)[rows] for name in (*_SLABS, "dirty")}
        out.update(StringTable(keys).to_arrays("keys"))  # type: ignore[arg-type]
        out.update(_sparse("sketch", self.sketch.counts))
        out.update(_sparse("pairs", self.pairs.bits))
        out["schema"] = np.array([SCHEMA_VERSION])
        return out

    def from_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Replace this table's contents with a snapshot's (policies stay the constructor's)."""
        if int(arrays["schema"][0]) != SCHEMA_VERSION:
            raise ValueError(f"snapshot schema {int(arrays['schema'][0])}, expected {SCHEMA_VERSION}")
        for name in ("w", "n", "z"):  # as a peer's delta is refused (deltalog): a NaN or infinite
            if not np.isfinite(arrays[name]).all():  # weight would poison every score reading its key
                raise ValueError(f"the snapshot's {name} slab holds a NaN or an infinite value")
        keys = (
            arrays["keys"].tolist() if "keys" in arrays else StringTable.from_arrays(arrays, "keys").strings
        )
        cap = max(16, 1 << max(0, len(keys) - 1).bit_length())
        self._alloc(cap)
        for name in (*_SLABS, "dirty"):
            getattr(self, name)[: len(keys)] = arrays[name]
        self.live[: len(keys)] = True
        self.index = {k: i for i, k in enumerate(keys)}
        self._r2k = list(keys) + [None] * (cap - len(keys))
        self._free, self._next = [], len(keys)
        self._tombstones.clear()
        self.sketch.counts = _dense("sketch", arrays, np.uint16)  # type: ignore[assignment]
        self.sketch._shift = np.uint64(64 - (self.sketch.counts.shape[1].bit_length() - 1))
        pairs = _dense("pairs", arrays, np.uint8)
        if pairs is not None and pairs.shape == self.pairs.bits.shape:  # absent in older snapshots
            self.pairs.bits = pairs
        else:
            self.pairs.clear()
        self._counted.clear()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Snapshot atomically (see :func:`save_arrays`)."""
        save_arrays(path, self.to_arrays())

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore a snapshot written by :meth:`save` into this table."""
        self.from_arrays(load_arrays(path))


class StringTable:
    """Distinct strings numbered in first-seen order, stored as one UTF-8 blob plus offsets.

    Why not a numpy string array: those are fixed width (4 bytes per character of the longest
    string), so one 300-character user agent makes every IP address 1.2 kB; a blob stores each
    string once at its own length, and callers store small int ids instead of repeated strings.
    """

    def __init__(self, strings: Sequence[str] = ()) -> None:
        self.strings: list[str] = list(strings)
        self._ids: dict[str, int] = {s: i for i, s in enumerate(self.strings)}

    def id(self, value: str) -> int:
        found = self._ids.get(value)
        if found is None:
            found = self._ids[value] = len(self.strings)
            self.strings.append(value)
        return found

    def ids(self, values: Iterable[str]) -> list[int]:
        return [self.id(v) for v in values]

    def to_arrays(self, prefix: str = "str") -> dict[str, np.ndarray]:
        encoded = [s.encode("utf-8", "surrogatepass") for s in self.strings]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        return {
            f"{prefix}_blob": np.frombuffer(b"".join(encoded), dtype=np.uint8),
            f"{prefix}_end": np.cumsum(lengths),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str = "str") -> StringTable:
        blob = arrays[f"{prefix}_blob"].tobytes()
        offsets = arrays[f"{prefix}_end"]
        if (
            offsets.ndim != 1
            or offsets.dtype.kind not in "iu"
            or (offsets.size and (offsets[0] < 0 or (np.diff(offsets) < 0).any() or offsets[-1] != len(blob)))
        ):  # not what to_arrays wrote (a peer's file can be anything): refuse, never guess
            raise ValueError(f"the {prefix} strings' offsets do not fit their bytes")
        ends = offsets.tolist()
        starts = [0, *ends[:-1]]
        return cls([blob[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends)])


def _sparse(name: str, dense: np.ndarray) -> dict[str, np.ndarray]:
    """A mostly-zero array as its non-zero cells (a young sketch is >99% zeros)."""
    flat = dense.reshape(-1)
    at = np.flatnonzero(flat)
    return {f"{name}_shape": np.array(dense.shape, dtype=np.int64), f"{name}_at": at, f"{name}_val": flat[at]}


def _dense(name: str, arrays: Mapping[str, np.ndarray], dtype: type) -> np.ndarray | None:
    """The array :func:`_sparse` stored (or a dense one under ``name``, as older snapshots have it)."""
    if name in arrays:
        return np.array(arrays[name], dtype=dtype)
    if f"{name}_shape" not in arrays:
        return None
    out: np.ndarray = np.zeros(int(np.prod(arrays[f"{name}_shape"])), dtype=dtype)
    out[arrays[f"{name}_at"]] = arrays[f"{name}_val"]
    return out.reshape(tuple(arrays[f"{name}_shape"].tolist()))


def save_arrays(
    path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray], compress: bool = False
) -> None:
    """Write ``arrays`` to ``path`` atomically: temp file in the same directory, fsync, os.replace.

    An interrupted write leaves the previous snapshot in place and no stray temp file.
    ``compress``: zip-deflate the arrays (worth it for repetitive id lists, not for weights).
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            # Any: numpy's stubs read a ** mapping of arrays as possibly its allow_pickle flag
            (np.savez_compressed if compress else np.savez)(fh, **cast("dict[str, Any]", arrays))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_arrays(path: str | os.PathLike[str], *, stored_only: bool = False) -> dict[str, np.ndarray]:
    """Read a snapshot written by :func:`save_arrays` (no pickles).

    Only a regular file is read: a FIFO under the name (a shared directory's other writers can
    put one there) would block the reader forever, a device never end. ``stored_only`` refuses
    compressed members, so a file costs no more memory than its size (a few MB of deflated zeros
    are gigabytes): for files :func:`save_arrays` writes without ``compress``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO must not wait for a writer
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        loaded = np.load(fh, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # one bare array (.npy): no archive of them
            raise ValueError("not an archive of arrays")
        with loaded as data:
            members = data.zip.infolist() if data.zip is not None else []
            if stored_only and any(i.compress_type != zipfile.ZIP_STORED for i in members):
                raise ValueError("a member is compressed, which no worker writes")
            return {name: data[name] for name in data.files}
