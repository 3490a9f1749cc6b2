"""Column expressions the judge derives from a parsed batch; the model reads the same facts.

Kept apart so the aggregation reads as a list of named facts, and so each fact is computed
column-wise on a whole batch (never per line in Python).
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from botguard.judge._ids import group_ids
from botguard.native import kernel

#: Static resources a browser loads along with a page; crawlers and scrapers mostly skip them.
ASSET_RE = r"(?i)\.(?:css|js|mjs|png|jpe?g|gif|svg|ico|webp|avif|bmp|woff2?|ttf|otf|eot|map)(?:[?#]|$)"

#: Everything before the query string: "/robots.txt?x=1" is still a robots.txt fetch.
ROBOTS_RE = r"^/robots\.txt(?:[?#]|$)"

target = pl.col("target")
is_robots = target.str.contains(ROBOTS_RE).fill_null(False)
is_asset = target.str.contains(ASSET_RE).fill_null(False)
has_referer = (pl.col("referer").fill_null("").str.len_bytes() > 0) & (pl.col("referer") != "-")
is_valid = pl.col("valid_request").fill_null(False)


def honeypot_expr(prefixes: tuple[str, ...]) -> pl.Expr:
    """True where the request targets one of the configured trap paths."""
    if not prefixes:
        return pl.lit(False)
    return pl.any_horizontal([target.str.starts_with(p).fill_null(False) for p in prefixes])


def compact_strings(frame: pl.DataFrame, once: Collection[str] = ()) -> pl.DataFrame:
    """Copy the string columns of a small frame kept across batches.

    Polars strings are views into the buffers of the frame they were cut from: a three-row
    evidence frame would otherwise pin a whole batch's text in memory (measured: +12 MB per
    batch, 1.2 GB over a 5M-line log). Concatenating with "" writes fresh strings. The columns
    named in ``once`` repeat a few values over many rows (a user agent is shared by thousands
    of clients): each distinct value is copied once and every row holds a view of it.

    Two queries at most (a small scan compacts ~20 frames, and a query costs the same
    whatever its rows): the distinct values of every ``once`` column copied together, then
    the frame; an empty frame is made afresh (no string to copy), with none.
    """
    if frame.height == 0:
        return pl.DataFrame(schema=frame.schema)
    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    repeated = [frame.get_column(name) for name in strings if name in once]
    return frame.with_columns(
        *(pl.concat_str([pl.col(name), pl.lit("")]) for name in strings if name not in once),
        *_stored_once(repeated),
    )


def _stored_once(columns: list[pl.Series]) -> list[pl.Expr]:
    """Expressions of ``columns``, each with its distinct values copied once and its rows views
    of that copy (numbered by the compiled kernel where there is one: see
    :mod:`botguard.judge._ids`); the distinct values of all of them are copied in one query."""
    if not columns:
        return []
    if kernel("judge._fold") is not None:
        numbered = [group_ids(column) for column in columns]
        index = [ids for ids, _ in numbered]
        distinct = [
            pl.lit(column).gather(firsts) for column, (_, firsts) in zip(columns, numbered, strict=True)
        ]
        sizes = [firsts.len() for _, firsts in numbered]
    else:
        values = [column.unique() for column in columns]
        index = [_positions(column, unique) for column, unique in zip(columns, values, strict=True)]
        distinct = [pl.lit(unique) for unique in values]
        sizes = [unique.len() for unique in values]
    together = distinct[0]
    for more in distinct[1:]:
        together = together.append(more)
    copies = pl.select(pl.concat_str([together, pl.lit("")])).to_series()
    stored, at = [], 0
    for column, where, size in zip(columns, index, sizes, strict=True):
        stored.append(pl.lit(copies.slice(at, size)).gather(where).alias(column.name))
        at += size
    return stored


def _positions(column: pl.Series, distinct: pl.Series) -> pl.Series:
    """Where each value of ``column`` is in ``distinct`` (the pure twin of the kernel's ids)."""
    return (
        column.to_frame("value")
        .join(
            distinct.to_frame("value").with_row_index("at"),
            on="value", how="left", nulls_equal=True, maintain_order="left",
        )
        .get_column("at")
    )  # fmt: skip
