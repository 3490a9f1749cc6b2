"""Column expressions the judge derives from a parsed batch (private helpers).

Kept apart so the aggregation reads as a list of named facts, and so each fact is computed
column-wise on a whole batch (never per line in Python).
"""

from __future__ import annotations

import polars as pl

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
