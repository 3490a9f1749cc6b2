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
    """
    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        _stored_once(frame.get_column(name)) if name in once else pl.concat_str([pl.col(name), pl.lit("")])
        for name in strings
    )


def _stored_once(column: pl.Series) -> pl.Series:
    """``column`` with each distinct value copied once, its rows views of that copy (numbered
    by the compiled kernel where there is one: see :mod:`botguard.judge._ids`)."""
    if kernel("judge._fold") is not None:
        ids, firsts = group_ids(column)
        return (
            pl.select(pl.concat_str([pl.lit(column.gather(firsts)), pl.lit("")]))
            .to_series()
            .gather(ids)
            .alias(column.name)
        )
    distinct = column.unique()
    copies = pl.select(pl.concat_str([pl.lit(distinct), pl.lit("")])).to_series()
    index = (
        column.to_frame("value")
        .join(
            distinct.to_frame("value").with_row_index("at"),
            on="value", how="left", nulls_equal=True, maintain_order="left",
        )
        .get_column("at")
    )  # fmt: skip
    return copies.gather(index).alias(column.name)
