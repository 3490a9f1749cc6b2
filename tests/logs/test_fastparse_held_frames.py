"""Frames of earlier blocks still read their own rows while later blocks parse (compiled parser).

A hostile reviewer's test for a parser that reuses its column buffers (bg/pbuf: buffers go back
to a pool when polars releases the last array reading them). Reusing a buffer one release too
early gives no crash, only another block's rows under an old frame: wrong verdicts, silently.
So every object a caller may keep from a block (the frame, a slice, a clone, a rechunk, a lazy
frame, a column kept in a dict, a gathered or unique string column, a numpy view of a number
column) is kept, some dropped on another thread, while later blocks of other sizes parse; then
each must still equal what the polars path (``BOTGUARD_NO_NATIVE=1``) gives for its own block.
Skipped where the kernel is not built.
"""

from __future__ import annotations

import gc
import os
import random
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest

from botguard import native
from botguard.logs.formats import FORMATS

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

#: What a caller may keep of a block's frame, by name (each a function of the frame).
KEPT: dict[str, Callable[[pl.DataFrame], Any]] = {
    "frame": lambda df: df,
    "slice": lambda df: df.slice(df.height // 3, 40),
    "clone": lambda df: df.clone(),
    "rechunk": lambda df: df.rechunk(),
    "lazy": lambda df: df.lazy().filter(pl.col("status") >= 300),
    "dict": lambda df: {"agents": df["user_agent"]},
    "gather": lambda df: df["request"].gather(list(range(0, df.height, 7))),
    "unique": lambda df: df["ip"].unique(maintain_order=True),
    "filter": lambda df: df.filter(pl.col("line_no") % 3 == 0)["target"],
    "times": lambda df: df["time"].to_physical().to_numpy(),
    "bytes": lambda df: df["bytes"].to_numpy(),
}


@pytest.fixture(scope="module", autouse=True)
def _kernel() -> None:
    if native.kernel("logs._fastparse") is None:
        pytest.skip("botguard.logs._fastparse is not built here (or BOTGUARD_NO_NATIVE is set)")


def _block(rng: random.Random, lines: int) -> bytes:
    """Combined lines with fields of varied lengths (so buffers grow and shrink between
    blocks), a few junk lines the kernel hands back."""
    out = []
    for _ in range(lines):
        if rng.random() < 0.02:
            out.append("junk " * rng.randint(0, 5))
            continue
        ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
        day, month, year = rng.randint(1, 28), rng.choice(MONTHS), rng.randint(2010, 2030)
        path = "/" + "p" * rng.choice([1, 30, 300]) + str(rng.randint(0, 10**6))
        agent = "Mozilla/5.0 " + "x" * rng.choice([0, 40, 900])
        out.append(
            f'{ip} - - [{day:02d}/{month}/{year}:10:{rng.randint(0, 59):02d}:00 +0000] "GET {path} HTTP/1.1" '
            f'{rng.choice([200, 301, 404])} {rng.randint(0, 10**9)} "-" "{agent}"'
        )
    return ("\n".join(out) + "\n").encode()


def _parse(data: bytes, *, pure: bool) -> pl.DataFrame:
    saved = os.environ.get(native.DISABLE_VARIABLE)
    os.environ[native.DISABLE_VARIABLE] = "1" if pure else "0"
    try:
        return FORMATS["combined"].parse_block(data, source="s.log", first_line_no=1)[0]
    finally:
        if saved is None:
            del os.environ[native.DISABLE_VARIABLE]
        else:
            os.environ[native.DISABLE_VARIABLE] = saved


def _value(kept: Any) -> Any:
    """What a kept object reads now, as plain Python values."""
    if isinstance(kept, dict):
        return {name: _value(item) for name, item in kept.items()}
    if isinstance(kept, pl.LazyFrame):
        kept = kept.collect()
    if isinstance(kept, pl.DataFrame):
        return kept.rows()
    if isinstance(kept, pl.Series):
        return kept.to_list()
    assert isinstance(kept, np.ndarray)
    return kept.tolist()


@pytest.mark.parametrize("seed", [1, 2])
def test_objects_kept_from_earlier_blocks_read_their_own_rows_after_later_blocks(seed: int) -> None:
    rng = random.Random(seed)
    held: list[tuple[int, str, Any, Any]] = []
    droppers = []
    for block in range(10):
        data = _block(rng, rng.choice([5, 400, 2500]))
        fast, pure = _parse(data, pure=False), _parse(data, pure=True)
        assert fast.equals(pure), block
        dropped = []
        for name, keep in KEPT.items():
            if rng.random() < 0.6:
                held.append((block, name, keep(fast), _value(keep(pure))))
            else:
                dropped.append(keep(fast))
        thread = threading.Thread(target=lambda objects=dropped: (objects.clear(), gc.collect()))
        thread.start()  # the last references of some arrays go on another thread
        droppers.append(thread)
        del fast, dropped
    for thread in droppers:
        thread.join()
    gc.collect()
    for block, name, kept, expected in held:
        assert _value(kept) == expected, (block, name)
