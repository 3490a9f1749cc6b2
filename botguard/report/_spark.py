"""Series squeezed into a few columns: the sparklines of the table and the HTML report (private)."""

from __future__ import annotations

from collections.abc import Sequence

#: Eight heights, lowest first; a zero column is a space so quiet stretches read as gaps.
BLOCKS = "▁▂▃▄▅▆▇█"


def rebin(counts: Sequence[int], columns: int) -> list[int]:
    """``counts`` summed into at most ``columns`` equal-width columns (the last may be shorter).

    Examples:
        >>> rebin([1, 2, 3, 4, 5], 2)
        [6, 9]
        >>> rebin([1, 2], 5)
        [1, 2]
    """
    if len(counts) <= columns:
        return list(counts)
    per = -(-len(counts) // columns)  # ceiling: every column but the last holds `per` buckets
    return [sum(counts[i : i + per]) for i in range(0, len(counts), per)]


def blocks(counts: Sequence[int], columns: int = 24) -> str:
    """A text sparkline of ``counts`` in at most ``columns`` characters.

    Examples:
        >>> blocks([0, 1, 2, 4, 8, 0, 8])
        ' ▁▂▄█ █'
    """
    values = rebin(counts, columns)
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    return "".join(" " if v <= 0 else BLOCKS[max(0, min(7, round(v / top * 8) - 1))] for v in values)
