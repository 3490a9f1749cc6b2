"""Guess a file's log format from its first lines, using the registered formats themselves.

Detection parses the sample with every registered format (so an extension takes part without
extra code). Among the formats that read at least 90% as many lines as the best one, the one
that fills the most columns wins (combined beats common on combined lines, since common ignores
trailing fields), then registry order.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from botguard.errors import InputError
from botguard.logs.formats import FORMATS, LogFormat

SAMPLE_LINES = 200
NEARLY = 0.9  # share of the best line count a richer format needs to be preferred


def detect_format(sample_lines: list[str], formats: Mapping[str, LogFormat] | None = None) -> str:
    """The name of the registered format that best reads ``sample_lines``.

    ``formats`` replaces the registry (e.g. with a JSON format using custom field names).

    Raises :class:`InputError` when no format reads any of them.

    Examples:
        >>> detect_format(['1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'])
        'combined'
        >>> detect_format(['1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5'])
        'common'
    """
    sample = pl.Series("line", sample_lines[:SAMPLE_LINES], dtype=pl.String)
    candidates = FORMATS if formats is None else formats
    scores = {name: _score(fmt, sample) for name, fmt in candidates.items()}
    most = max((parsed for parsed, _ in scores.values()), default=0)
    if most == 0:
        raise InputError(
            f"cannot recognise the log format from the first {len(sample)} lines; "
            f"pass --log-format (one of {', '.join(candidates)}, or an nginx log_format string)"
        )
    # A richer format that reads nearly as many lines wins: common also reads combined lines
    # (it ignores trailing fields) but would drop every user agent.
    close = [name for name, (parsed, _) in scores.items() if parsed >= NEARLY * most]
    return max(close, key=lambda name: scores[name][1])  # max() keeps the first (registry order) on ties


def _score(fmt: LogFormat, sample: pl.Series) -> tuple[int, int]:
    """(lines parsed, columns filled) of ``fmt`` on the sample."""
    rows, stats = fmt.parse_batch(sample, source="<sample>")
    filled = sum(1 for column in rows.columns if rows[column].null_count() < rows.height)
    return stats.parsed, filled
