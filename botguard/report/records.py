"""The report stage's types: what every writer takes, and what the HTML report reads besides the scan.

The report turns the judge's :class:`ScanResult` (a scan's writers) or the rows ``botguard
candidates list`` builds (the JSON contract, one dict per candidate) into text on a stream.
Every format of a verb is a writer of the same type, so the CLI picks one by name. The HTML
report also shows what the application layer adds (:class:`RulesPreview`: what deploy-rules
would do with the scan) and, served by ``botguard serve``, where the live page's events and
reviews go (:class:`LivePage`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from botguard.judge.records import ScanResult

if TYPE_CHECKING:
    from botguard.deploy.records import Impact

__all__ = ["LivePage", "Rows", "RowsWriter", "RulesPreview", "Writer"]

#: A scan written in one format: ``(result, out) -> None``.
Writer = Callable[[ScanResult, TextIO], None]

#: Candidate rows, one JSON-contract dict per candidate.
Rows = Sequence[dict[str, Any]]

#: Candidate rows written in one format: ``(rows, out) -> None``.
RowsWriter = Callable[[Rows, TextIO], None]


@dataclass(frozen=True, slots=True)
class RulesPreview:
    """What ``deploy-rules`` would make of a scan: its rules, counted per action and match kind,
    and the scanned traffic they would stop (the dry run's impact)."""

    rules: tuple[tuple[str, str, int], ...]  # (action, match kind, rules), in the renderers' order
    impact: Impact
    model_rules: int = 0  # of those, rules from approved model candidates


@dataclass(frozen=True, slots=True)
class LivePage:
    """The report as ``botguard serve`` shows it: fed by server-sent events, reviews posted back."""

    events: str  # path of the event stream
    review: str  # path the approve/reject buttons post to (``{review}`` is approve or reject)
    csrf: str  # sent back in the X-Botguard-CSRF header with every review
