"""The bundled IP-to-ASN table as numpy arrays: looked up without a polars query, kept warm
by the resident server.

The table's keys are 128-bit (an IPv6 address, IPv4 as its IPv4-mapped address) and numpy has
no 128-bit integer, so each key is held as its 16 big-endian bytes (numpy ``S16``): byte strings
of one length order as the unsigned numbers they spell, so a sorted ``S16`` column is searched
with ``np.searchsorted`` as the Int128 column was joined with ``join_asof``. A whole column of
addresses is looked up with one binary search each (a ``join_asof`` walked the 515k ranges on
every call: ~10 ms for three addresses on a slow machine). Organisation names are one UTF-8 blob
with offsets, sorted by AS number: a lookup decodes only the names it returns.

These arrays are what the start-up cache keeps (``np.save`` files: read with numpy alone, so
``botguard daemon`` can load them before it forks, which it must never do with polars: a read
starts polars' thread pool, and a fork after that may deadlock the child).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from botguard.cache import CacheDamaged

#: The cache entry's files: (attribute, file name).
FILES = (
    ("first", "first.npy"), ("last", "last.npy"), ("asn", "asn.npy"), ("codes", "codes.npy"),
    ("offsets", "offsets.npy"), ("orgs", "orgs.npy"),
)  # fmt: skip
CHECK = "check.json"
#: Every how many rows a sample goes into the check value (see :func:`check_value`).
SAMPLE_EVERY = 4096
_HALF = 1 << 64


@dataclass(frozen=True, slots=True, eq=False)
class AsnArrays:
    """Ranges sorted by first address (``first``/``last`` as ``S16``, ``asn`` as uint32) and the
    organisation names (``codes``: sorted AS numbers; name i is ``orgs[offsets[i]:offsets[i+1]]``)."""

    first: npt.NDArray[np.bytes_]
    last: npt.NDArray[np.bytes_]
    asn: npt.NDArray[np.uint32]
    codes: npt.NDArray[np.uint32]
    offsets: npt.NDArray[np.int64]
    orgs: npt.NDArray[np.uint8]

    @classmethod
    def from_frames(cls, table: pl.DataFrame, names: pl.DataFrame, shift: int) -> AsnArrays:
        """From the shipped frames: ``table`` (first, last: Int128 keys, the address minus
        ``shift``; asn) sorted by first, ``names`` (asn, as_org)."""
        names = names.sort("asn")
        encoded = [org.encode("utf-8") for org in names.get_column("as_org").to_list()]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(org) for org in encoded], out=offsets[1:])
        return cls(
            first=key_bytes(table.get_column("first"), shift),
            last=key_bytes(table.get_column("last"), shift),
            asn=table.get_column("asn").cast(pl.UInt32).to_numpy(),
            codes=names.get_column("asn").cast(pl.UInt32).to_numpy(),
            offsets=offsets,
            orgs=np.frombuffer(b"".join(encoded), dtype=np.uint8),
        )

    def write(self, entry: Path) -> None:
        """The arrays as ``np.save`` files in ``entry``, with their check value."""
        for attribute, name in FILES:
            np.save(entry / name, getattr(self, attribute), allow_pickle=False)
        (entry / CHECK).write_text(check_value(self))

    @classmethod
    def read(cls, entry: Path, *, mapped: bool = True) -> AsnArrays:
        """The arrays of ``entry`` (memory-mapped unless ``mapped`` is False); CacheDamaged
        unless they are whole: the check value, the lengths, the ranges in order."""
        try:
            arrays = {
                attribute: np.load(entry / name, mmap_mode="r" if mapped else None, allow_pickle=False)
                for attribute, name in FILES
            }
        except (OSError, ValueError) as exc:
            raise CacheDamaged(f"{entry}: {exc}") from None
        expected = {"first": "S16", "last": "S16", "asn": "uint32", "codes": "uint32", "offsets": "int64",
                    "orgs": "uint8"}  # fmt: skip
        for attribute, dtype in expected.items():
            if arrays[attribute].dtype != np.dtype(dtype) or arrays[attribute].ndim != 1:
                raise CacheDamaged(f"{entry}: {attribute} is not a column of {dtype}")
        value = cls(**arrays)
        if check_value(value) != (entry / CHECK).read_text():
            raise CacheDamaged(f"{entry} does not match its check value")
        if not value.whole():
            raise CacheDamaged(f"{entry}: columns of unequal length or names out of bounds")
        return value

    def whole(self) -> bool:
        """Whether the arrays have the shape a lookup needs: as many range ends as starts and
        AS numbers, one more offset than names, offsets inside the blob (their order, and the
        ranges', is what :func:`check_value`'s sums vouch for: they were written sorted)."""
        offsets = self.offsets
        return bool(
            len(self.first) == len(self.last) == len(self.asn)
            and len(offsets) == len(self.codes) + 1
            and offsets[0] == 0
            and offsets[-1] == len(self.orgs)
            and (offsets[1:] >= offsets[:-1]).all()
        )

    def lookup(self, keys: npt.NDArray[np.bytes_]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp]]:
        """For each key (``S16``): whether a range holds it, and that range's row (the last range
        starting at or before it, as a backward ``join_asof`` finds it)."""
        rows = np.searchsorted(self.first, keys, side="right") - 1
        found = rows >= 0
        found[found] = keys[found] <= self.last[rows[found]]
        return found, rows

    def orgs_of(self, asns: npt.NDArray[np.uint32]) -> list[str | None]:
        """The organisation name of each AS number (None where the table names none): each
        distinct number searched once, all of them in one ``np.searchsorted``."""
        if not len(self.codes):
            return [None] * len(asns)
        distinct, inverse = np.unique(asns, return_inverse=True)
        at = np.minimum(np.searchsorted(self.codes, distinct), len(self.codes) - 1)
        named = (self.codes[at] == distinct).tolist()
        blob = memoryview(self.orgs.data)
        names = [
            str(blob[start:end], "utf-8") if has else None
            for start, end, has in zip(self.offsets[at].tolist(), self.offsets[at + 1].tolist(), named)
        ]
        return [names[i] for i in inverse.tolist()]


def key_bytes(keys: pl.Series, shift: int) -> npt.NDArray[np.bytes_]:
    """Int128 keys (an address minus ``shift``, 2**127) as the address's 16 big-endian bytes."""
    frame = keys.to_frame("key").select(
        hi=(pl.col("key") // pl.lit(_HALF, pl.Int128)).cast(pl.Int64),
        lo=(pl.col("key") % pl.lit(_HALF, pl.Int128)).cast(pl.UInt64),
    )
    words = np.empty((frame.height, 2), dtype=">u8")
    # + shift: the high word moves by 2**63, i.e. its sign bit flips (signed -> unsigned order)
    words[:, 0] = frame.get_column("hi").to_numpy().view(np.uint64) ^ np.uint64(shift >> 64)
    words[:, 1] = frame.get_column("lo").to_numpy()
    return words.view("S16").ravel()


def check_value(arrays: AsnArrays) -> str:
    """Every array's length, every SAMPLE_EVERY-th row, and the sum of its bytes as 64-bit words
    (modulo 2**64), as text. Not a digest: hashing 20 MB costs what reading the Parquet files
    does (~50 ms here) where the sums cost ~3 ms, and the cache is the user's own (what this
    guards against is a torn, truncated, zero-filled or swapped file, not an adversary)."""
    samples = {}
    for attribute, _ in FILES:
        column = getattr(arrays, attribute)
        picked = column[::SAMPLE_EVERY]
        shown = picked.tobytes().hex() if column.dtype.kind == "S" else picked.tolist()
        samples[attribute] = [len(column), shown, _word_sum(column)]
    return json.dumps(samples)


def _word_sum(column: npt.NDArray[Any]) -> int:
    """The sum of a column's bytes read as little-endian 64-bit words (the tail zero-padded)."""
    raw = np.frombuffer(column, dtype=np.uint8) if len(column) else np.zeros(0, dtype=np.uint8)
    whole = len(raw) // 8 * 8
    tail = int.from_bytes(raw[whole:].tobytes(), "little")
    return (int(raw[:whole].view("<u8").sum(dtype=np.uint64)) + tail) % (1 << 64)
