"""Records the logs stage produces: a batch of parsed requests and parse counters.

A batch is a polars DataFrame with the fixed schema :data:`REQUEST_SCHEMA` (one row per
well-formed log line, in file order), so later stages work column-wise on whole batches
instead of looping over Python objects per line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import polars as pl

#: Columns of every parsed batch, in this order. Fields a format does not log are null.
REQUEST_SCHEMA: dict[str, pl.DataType] = {
    "ip": pl.String(),  # client address as logged (IPv4 or IPv6, no port)
    "time": pl.Datetime("us", "UTC"),  # request time, converted to UTC
    "method": pl.String(),  # null when the request line is not an HTTP request
    "target": pl.String(),  # path?query as requested (absolute-form reduced to path); null if invalid
    "protocol": pl.String(),  # e.g. HTTP/1.1; null for HTTP/0.9 or invalid
    "request": pl.String(),  # the raw request line, always kept (evidence, scanners)
    "valid_request": pl.Boolean(),  # False for TLS handshakes, empty "", SSH banners ...
    "status": pl.Int16(),
    "bytes": pl.Int64(),  # response size, 0 for "-"
    "referer": pl.String(),
    "user_agent": pl.String(),  # "" when logged as "-"
    "host": pl.String(),  # virtual host when the format logs it, else null
    "source": pl.String(),  # the file the line came from
    "line_no": pl.Int64(),  # 1-based line number within that file
}


@dataclass(slots=True)
class ParseStats:
    """Honest counts of what a reader saw: every line is either parsed or malformed."""

    lines: int = 0
    parsed: int = 0
    malformed: int = 0
    invalid_requests: int = 0  # parsed lines whose request field is not an HTTP request
    malformed_by_reason: Counter[str] = field(default_factory=Counter)
    malformed_examples: list[tuple[str, int, str]] = field(default_factory=list)  # (source, line_no, text)
    # What a user must hear about a file although the scan goes on ("FILE:LINE: what happened").
    warnings: list[str] = field(default_factory=list)

    def merge(self, other: ParseStats, keep_examples: int = 20) -> None:
        """Add another batch's counts to these."""
        self.lines += other.lines
        self.parsed += other.parsed
        self.malformed += other.malformed
        self.invalid_requests += other.invalid_requests
        self.malformed_by_reason.update(other.malformed_by_reason)
        self.warnings.extend(other.warnings)
        room = keep_examples - len(self.malformed_examples)
        if room > 0:
            self.malformed_examples.extend(other.malformed_examples[:room])

    def shifted(self, lines: int, examples: int | None = None) -> ParseStats:
        """These counts with the examples' line numbers moved on by ``lines``: a piece of a file
        read apart numbers its lines from 1, and the lines before it are counted elsewhere.
        ``examples``: move only that many first examples (those of the file the lines precede,
        when these counts run on into later files).

        Examples:
            >>> ParseStats(malformed_examples=[("access.log", 2, "junk")]).shifted(10).malformed_examples
            [('access.log', 12, 'junk')]
            >>> two = ParseStats(malformed_examples=[("a.log", 2, "x"), ("b.log", 1, "y")])
            >>> two.shifted(10, examples=1).malformed_examples
            [('a.log', 12, 'x'), ('b.log', 1, 'y')]
        """
        count = len(self.malformed_examples) if examples is None else examples
        return replace(
            self,
            malformed_by_reason=Counter(self.malformed_by_reason),
            malformed_examples=[
                (source, line + lines, text) if number < count else (source, line, text)
                for number, (source, line, text) in enumerate(self.malformed_examples)
            ],
            warnings=list(self.warnings),
        )


@dataclass(frozen=True, slots=True)
class Batch:
    """One parsed batch: the requests (schema :data:`REQUEST_SCHEMA`) and its counts."""

    requests: pl.DataFrame
    stats: ParseStats
