"""Dense ids of a batch's keys: the one step the aggregator hands to a compiled kernel.

The aggregator groups a batch's rows by agent, by target and by client (address and agent)
many times over; grouping by a string key costs polars a hash of every row's text per query.
:func:`group_ids` numbers each row's key once, by first appearance, so the queries after it group
and gather by small integers, and what follows from a key alone (a target's verdict, an
agent's crawler) is computed once per distinct key and gathered back.

:func:`group_ids_pure` is the polars twin and the oracle; ``botguard.judge._fold`` (C, built at
install, see :mod:`botguard.native`) gives the same ids in one pass over the Arrow buffers.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from botguard.native import kernel

__all__ = ["group_ids", "group_ids_pure"]

_IDS = pl.UInt32


def group_ids(strings: pl.Series, numbers: pl.Series | None = None) -> tuple[pl.Series, pl.Series]:
    """(id of each row's key, first row of each id): keys numbered in order of first appearance.

    A key is the row's string (null is a key of its own) and, if given, its ``numbers`` value
    (UInt32, no nulls).

    Examples:
        >>> ids, firsts = group_ids(pl.Series(["b", "a", "b", None]))
        >>> ids.to_list(), firsts.to_list()
        ([0, 1, 0, 2], [0, 1, 3])
    """
    native = kernel("judge._fold")
    if native is None:
        return group_ids_pure(strings, numbers)
    packed = None if numbers is None else numbers.cast(_IDS).to_numpy()
    ids, firsts = native.group_ids(strings.__arrow_c_stream__(), packed)
    return _series(ids, strings.name), _series(firsts, "first")


def group_ids_pure(strings: pl.Series, numbers: pl.Series | None = None) -> tuple[pl.Series, pl.Series]:
    """:func:`group_ids` in polars (the oracle of the compiled kernel)."""
    keys = ["s", "n"] if numbers is not None else ["s"]
    frame = pl.DataFrame({"s": strings, **({"n": numbers.cast(_IDS)} if numbers is not None else {})})
    firsts = frame.with_row_index("row").filter(pl.struct(keys).is_first_distinct()).get_column("row")
    table = frame[firsts].with_row_index("id")
    ids = frame.join(table, on=keys, how="left", nulls_equal=True, maintain_order="left").get_column("id")
    return ids.cast(_IDS).alias(strings.name), firsts.cast(_IDS).alias("first")


def _series(raw: bytes, name: str) -> pl.Series:
    return pl.Series(name, np.frombuffer(raw, dtype=np.uint32), dtype=_IDS)
