"""The report stage's types: what every writer takes and where it writes.

The report adds no record of its own: it turns the judge's :class:`ScanResult` (a scan's
writers) or the rows ``botguard candidates list`` builds (the JSON contract, one dict per
candidate) into text on a stream. Every format of a verb is a writer of the same type, so the
CLI picks one by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TextIO

from botguard.judge.records import ScanResult

__all__ = ["Rows", "RowsWriter", "Writer"]

#: A scan written in one format: ``(result, out) -> None``.
Writer = Callable[[ScanResult, TextIO], None]

#: Candidate rows, one JSON-contract dict per candidate.
Rows = Sequence[dict[str, Any]]

#: Candidate rows written in one format: ``(rows, out) -> None``.
RowsWriter = Callable[[Rows, TextIO], None]
