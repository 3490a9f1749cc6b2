"""Guess a file's log format from its first lines, using the registered formats themselves.

Detection parses the sample with every registered format (so an extension takes part without
extra code) and keeps the one that parses the most lines; ties go to the format that fills the
most columns (combined beats common on combined lines, since common ignores trailing fields),
then to registry order.
"""

from __future__ import annotations

import polars as pl

from botguard.errors import InputError
from botguard.logs.formats import FORMATS, LogFormat

SAMPLE_LINES = 200


def detect_format(sample_lines: list[str]) -> str:
    """The name of the registered format that best reads ``sample_lines``.

    Raises :class:`InputError` when no format reads any of them.

    Examples:
        >>> detect_format(['1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'])
        'combined'
        >>> detect_format(['1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5'])
        'common'
    """
    sample = pl.Series("line", sample_lines[:SAMPLE_LINES], dtype=pl.String)
    best: tuple[int, int, int] | None = None
    best_name = ""
    for order, (name, fmt) in enumerate(FORMATS.items()):
        score = _score(fmt, sample, order)
        if score[0] > 0 and (best is None or score > best):
            best, best_name = score, name
    if best is None:
        raise InputError(
            f"cannot recognise the log format from the first {len(sample)} lines; "
            f"pass --log-format (one of {', '.join(FORMATS)}, or an nginx log_format string)"
        )
    return best_name


def _score(fmt: LogFormat, sample: pl.Series, order: int) -> tuple[int, int, int]:
    rows, stats = fmt.parse_batch(sample, source="<sample>")
    filled = sum(1 for column in rows.columns if rows[column].null_count() < rows.height)
    return stats.parsed, filled, -order
