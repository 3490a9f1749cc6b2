"""The per-client sums of a batch in one compiled pass (``botguard.judge._fold.fold_rows``).

The aggregator numbers a batch's rows by client and by (robots.txt unit, target) pair, then
adds them up per client and per (client, time bucket). In polars that is a row-facts query, two
group-bys and a join (``aggregate._client_rows``, ``_gaps``, ``_time_counts``: the pure twin,
used when the kernel is not built, is turned off, or the rows are ones it does not take); the
kernel reads each row once. Both give the same frames: tests/judge/test_native_fold.py.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import polars as pl

from botguard.judge.columns import has_referer, is_valid
from botguard.judge.partial import CLIENT_PARTIAL_SCHEMA, TIME_COUNT_SCHEMA
from botguard.judge.timeline import width_for

__all__ = ["NativeFold", "fold_inputs", "fold_rows", "pair_flags", "row_inputs", "takes", "to_clients"]

#: The kernel's per-client sums, in its order (``C_*`` in _fold.c).
_SUMS = (
    "requests", "first_seen", "last_seen", "robots_fetched", "first_robots", "first_other", "judged",
    "disallowed", "honeypot", "invalid", "assets", "pages", "referers", "client_errors", "fast_gaps",
    "gap_first", "gap_last", "_governed",
)  # fmt: skip
_TIMES = ("first_seen", "last_seen", "first_robots", "first_other", "gap_first", "gap_last")
_TIME = pl.Datetime("us", "UTC")

#: A batch's folded rows: the client rows, the time counts and which rows are disallowed.
NativeFold = tuple[pl.DataFrame, pl.DataFrame, pl.Series]


def fold_rows(
    native: ModuleType, rows: pl.DataFrame, pairs: pl.DataFrame, who: pl.DataFrame, least: int
) -> NativeFold | None:
    """The client rows (CLIENT_PARTIAL_SCHEMA but ``robots_host``, which the caller fills), the
    time counts at the batch's width (or ``least`` if wider) and the disallowed rows' mask of
    ``rows`` (with ``client`` and ``pair`` ids; ``pairs`` and ``who`` in id order); None when
    the kernel does not take these rows (a null or pre-1970 time, another time unit)."""
    if not takes(rows):
        return None
    time = rows.get_column("time").to_physical()
    low, high = (int(v) // 1_000_000 for v in (time.min(), time.max()))  # type: ignore[arg-type]
    width = max(least, width_for(low, high))
    first, buckets = low // width, high // width - low // width + 1
    ids, columns = fold_inputs(rows, pairs)
    sums, limits, bad, slots, requests, sizes = native.fold_rows(
        rows.height, who.height, pairs.height, *ids, *columns, width, first, buckets
    )
    clients = to_clients(np.frombuffer(sums, np.int64).reshape(who.height, len(_SUMS)), limits, who)
    counts = _time_counts(slots, requests, sizes, who, width, first, buckets)
    return clients, counts, pl.Series("disallowed", np.frombuffer(bad, np.uint8), pl.UInt8).cast(pl.Boolean)


def takes(rows: pl.DataFrame) -> bool:
    """Whether the kernel takes these rows: some, their times in microseconds, none null or
    before 1970 (the polars twin counts those)."""
    time = rows.get_column("time")
    if time.dtype != _TIME or time.has_nulls() or rows.height == 0:
        return False
    low = time.to_physical().min()
    return low is not None and int(low) >= 0  # type: ignore[arg-type]


def fold_inputs(
    rows: pl.DataFrame, pairs: pl.DataFrame
) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The kernel's view of a batch: (client ids, pair ids, pair flags, row flags) and (time in
    microseconds, status, bytes, min_gap), each one contiguous buffer (``C_*``/``F_*``/``R_*``
    in _fold.c say what the flags hold)."""
    row_flags, columns = row_inputs(rows)
    ids = (_numpy(rows.get_column("client")), _numpy(rows.get_column("pair")), pair_flags(pairs), row_flags)
    return ids, columns


def row_inputs(rows: pl.DataFrame) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The row flags (``R_*``) and (time in microseconds, status, bytes, min_gap) of a batch's
    rows, each one contiguous buffer."""
    flags = rows.select(
        (
            is_valid.cast(pl.UInt8)
            | has_referer.cast(pl.UInt8) * 2
            | pl.col("min_gap").is_not_null().cast(pl.UInt8) * 4
        ),
        pl.col("status").fill_null(0).cast(pl.Int16),
        pl.col("bytes").fill_null(0).cast(pl.Int64),
        pl.col("min_gap").fill_null(0.0).cast(pl.Float64),
    )
    row_flags, status, nbytes, min_gap = flags.get_columns()
    columns = (rows.get_column("time").to_physical(), status, nbytes, min_gap)
    return _numpy(row_flags), tuple(_numpy(s) for s in columns)


def pair_flags(pairs: pl.DataFrame) -> np.ndarray:
    """Each pair's facts as one byte (``F_*`` in _fold.c) from ``pairs``' boolean columns."""
    return _numpy(
        pairs.select(
            pl.sum_horizontal(
                pl.col(name).cast(pl.UInt8) * bit
                for name, bit in (("is_robots", 1), ("asset", 2), ("asked", 4), ("_refused", 8), ("trap", 16))
            ).cast(pl.UInt8)
        ).to_series()
    )


def _numpy(series: pl.Series) -> np.ndarray:
    """The series' values as one contiguous buffer (no copy when polars holds them so)."""
    return np.ascontiguousarray(series.to_numpy())


def to_clients(sums: np.ndarray, limits: bytes, who: pl.DataFrame) -> pl.DataFrame:
    """The client rows of the kernel's sums (one row of :data:`_SUMS` per client id)."""
    frame = pl.DataFrame(sums, schema=list(_SUMS), orient="row")
    governed, fetched = pl.col("_governed") > 0, pl.col("robots_fetched")
    known = {  # a time is null where nothing was counted
        "first_robots": fetched > 0,
        "first_other": pl.col("requests") > fetched,
        "gap_first": governed,
        "gap_last": governed,
    }
    return (
        frame.select(
            *(who.get_column(name) for name in ("ip", "user_agent", "crawler", "token")),
            pl.lit(None, pl.String).alias("robots_host"),
            *(pl.col(name) for name in _SUMS if name not in _TIMES and name != "_governed"),
            *(pl.col(name).cast(_TIME) for name in ("first_seen", "last_seen")),
            *(pl.when(when).then(pl.col(name)).cast(_TIME).alias(name) for name, when in known.items()),
            pl.when(governed).then(pl.Series(np.frombuffer(limits, np.float64))).alias("min_gap"),
        )
        .select(list(CLIENT_PARTIAL_SCHEMA))
        .cast(CLIENT_PARTIAL_SCHEMA)  # type: ignore[arg-type]
    )


def _time_counts(
    slots: bytes, requests: bytes, nbytes: bytes, who: pl.DataFrame, width: int, first: int, buckets: int
) -> pl.DataFrame:
    """The time counts of the kernel's cells: slot = client id x ``buckets`` + bucket's place."""
    place = pl.Series(np.frombuffer(slots, np.uint64))
    client = (place // buckets).cast(pl.UInt32)
    return pl.DataFrame(
        {
            "key": who.get_column("key").gather(client),
            "bucket": ((place % buckets).cast(pl.Int64) + first) * width,
            "requests": np.frombuffer(requests, np.int64),
            "bytes": np.frombuffer(nbytes, np.int64),
        },
        schema=TIME_COUNT_SCHEMA,
    )
