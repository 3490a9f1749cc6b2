"""Name why a line could not be parsed, and build the honest counts of a batch.

Leniency policy (the one place it is decided): a line is *malformed* when it cannot be read as
the format at all; it is then counted with one reason, a few examples are kept, and it never
reaches a batch. A line that reads fine but whose request field is not HTTP is *not* malformed
(see :func:`botguard.logs._columns.split_request`). Reasons, checked in this order:

- ``empty``: blank or whitespace-only line (skipped, but still a line of the file).
- ``too_long``: longer than :data:`MAX_LINE_BYTES`; never handed to a regex.
- ``binary``: NUL or other control bytes, or bytes that are not UTF-8 (shown as U+FFFD).
- ``comment``: starts with ``#`` (W3C headers, test-fixture annotations).
- ``unterminated_quote``: an odd number of unescaped double quotes (typically truncated).
- ``format_mismatch``: anything else the format's pattern rejects.
- ``bad_timestamp``, ``bad_status``, ``bad_bytes``, ``missing_ip``: the shape matched but a
  field's value did not (decided in :mod:`botguard.logs._columns`).
- ``bad_client_address``: the shape and the values matched, but the client address is no
  address (``999.1.1.1``, ``not-an-ip``, a NUL byte; see :mod:`botguard.addresses`).
- ``invalid_json``: JSON formats only, a line that is not a JSON object.
"""

from __future__ import annotations

from collections import Counter

import polars as pl

from botguard.logs.records import ParseStats

MAX_LINE_BYTES = 64 * 1024  # longer than any real request line + headers nginx would log
EXAMPLE_CHARS = 300  # malformed examples are truncated to this many characters
EXAMPLES_PER_BATCH = 20
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x{FFFD}]"


def too_long(line: pl.Expr) -> pl.Expr:
    """Lines the parsers must not see (kept out of regexes to bound their cost)."""
    return line.str.len_bytes() > MAX_LINE_BYTES


def short_lines(data: bytes) -> bool:
    """Whether no line of ``data`` can be :func:`too_long`, found without reading every byte.

    Every aligned window of a quarter of :data:`MAX_LINE_BYTES` holding a newline means no line
    is longer than half of it: a longer run without a newline would cover a whole window. One
    ``find`` per window, each stopping at the window's first newline, so a block of ordinary
    lines is vouched for at almost no cost and only a block with a long line pays per line.
    """
    window = MAX_LINE_BYTES // 4
    return all(data.find(b"\n", start, start + window) >= 0 for start in range(0, len(data), window))


def reason_of(line: pl.Expr) -> pl.Expr:
    """The malformed reason for lines the format's pattern rejected."""
    stripped = line.str.strip_chars()
    quotes = line.str.count_matches('"', literal=True) - line.str.count_matches('\\"', literal=True)
    return (
        pl.when(line.is_null() | (stripped == ""))
        .then(pl.lit("empty"))
        .when(too_long(line))
        .then(pl.lit("too_long"))
        .when(line.str.contains(_CONTROL))
        .then(pl.lit("binary"))
        .when(stripped.str.starts_with("#"))
        .then(pl.lit("comment"))
        .when(quotes % 2 == 1)
        .then(pl.lit("unterminated_quote"))
        .otherwise(pl.lit("format_mismatch"))
    )


def classify(rejected: pl.DataFrame) -> pl.DataFrame:
    """Add a ``reason`` to rows (``line_no``, ``line``) the pattern rejected."""
    if rejected.height == 0:
        return rejected.select("line_no", "line", pl.lit(None, dtype=pl.String).alias("reason"))
    return rejected.select("line_no", "line", reason_of(pl.col("line")).alias("reason"))


def build_stats(lines: int, requests: pl.DataFrame, malformed: pl.DataFrame, source: str) -> ParseStats:
    """Counts for one batch: every line is either parsed (a row of ``requests``) or malformed."""
    stats = ParseStats(lines=lines, parsed=requests.height, malformed=malformed.height)
    stats.invalid_requests = int(requests.height - requests["valid_request"].sum()) if requests.height else 0
    if malformed.height:
        counts = malformed.group_by("reason").len()
        stats.malformed_by_reason = Counter(dict(zip(counts["reason"].to_list(), counts["len"].to_list())))
        for line_no, text in (
            malformed.sort("line_no").head(EXAMPLES_PER_BATCH).select("line_no", "line").iter_rows()
        ):
            stats.malformed_examples.append((source, int(line_no), _example(text)))
    return stats


def _example(text: str | None) -> str:
    if text is None:
        return ""
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + "…"
