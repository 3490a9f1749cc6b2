"""The quote plan's cheap slices read the same text whatever unit polars' ``str.find`` counts in."""

from __future__ import annotations

import polars as pl

from botguard.logs._quoteplan import _head_to


def test_head_to_cuts_at_the_stop_in_non_ascii_text() -> None:
    """Before the first space, exactly: polars 2.2 counts str.find in characters, older in bytes."""
    values = ["héllo wörld x", "ü ü", "abc def", "nospace", None, "", "\u2028\x00 tail"]
    frame = pl.DataFrame({"line": values}, schema={"line": pl.String})

    heads = frame.select(_head_to(pl.col("line"), " ")).to_series().to_list()

    assert heads == ["héllo", "ü", "abc", None, None, None, "\u2028\x00"]
