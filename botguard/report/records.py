"""What the report stage reads besides the judged scan: the rules preview and the live view.

The scan itself is :class:`botguard.judge.records.ScanResult`; these records carry what the
application layer adds for the HTML report (what deploy-rules would do with the scan) and what
``botguard serve`` adds for the live page (where the page's events and reviews go).
"""

from __future__ import annotations

from dataclasses import dataclass

from botguard.deploy.records import Impact

__all__ = ["LivePage", "RulesPreview"]


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
