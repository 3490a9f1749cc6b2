"""The application layer: one function per verb, ``run_<verb>(request, env) -> report``.

The CLI (and the coming service) builds a frozen request and an :class:`Env`, calls one
function and shows the frozen report it returns; nothing here parses options or prints.
See ``README.md`` beside this file.

Names are imported on first use: loading one verb must not load every verb's dependencies
(the Cloudflare SDK, numpy), so ``botguard robots check`` starts as fast as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botguard.app.env import Env
from botguard.loading import lazy_attribute

if TYPE_CHECKING:
    from botguard.app.candidates import (
        CandidatesListReport,
        CandidatesListRequest,
        CandidatesReviewReport,
        CandidatesReviewRequest,
        run_candidates_list,
        run_candidates_review,
    )
    from botguard.app.cloudflare import CloudflareReport, CloudflareRequest, run_cloudflare
    from botguard.app.deploy import DeployReport, DeployRequest, run_deploy
    from botguard.app.receive import ReceiveReport, ReceiveRequest, run_receive
    from botguard.app.report import ReportReport, ReportRequest, run_report
    from botguard.app.robots import (
        RobotsCheckReport,
        RobotsCheckRequest,
        RobotsGenerateReport,
        RobotsGenerateRequest,
        RobotsLintReport,
        RobotsLintRequest,
        run_robots_check,
        run_robots_generate,
        run_robots_lint,
    )
    from botguard.app.scan import ScanReport, ScanRequest, run_scan
    from botguard.app.ship import ShipReport, ShipRequest, run_ship
    from botguard.app.update import UpdateReport, UpdateRequest, run_update
    from botguard.app.verify import VerifyReport, VerifyRequest, run_verify
    from botguard.app.watch import WatchReport, WatchRequest, run_watch

#: module under botguard.app -> the names it exports here
_VERBS: dict[str, tuple[str, ...]] = {
    "candidates": (
        "CandidatesListReport", "CandidatesListRequest", "CandidatesReviewReport", "CandidatesReviewRequest",
        "run_candidates_list", "run_candidates_review",
    ),
    "cloudflare": ("CloudflareReport", "CloudflareRequest", "run_cloudflare"),
    "deploy": ("DeployReport", "DeployRequest", "run_deploy"),
    "robots": (
        "RobotsCheckReport", "RobotsCheckRequest", "RobotsGenerateReport", "RobotsGenerateRequest",
        "RobotsLintReport", "RobotsLintRequest", "run_robots_check", "run_robots_generate", "run_robots_lint",
    ),
    "receive": ("ReceiveReport", "ReceiveRequest", "run_receive"),
    "report": ("ReportReport", "ReportRequest", "run_report"),
    "scan": ("ScanReport", "ScanRequest", "run_scan"),
    "ship": ("ShipReport", "ShipRequest", "run_ship"),
    "update": ("UpdateReport", "UpdateRequest", "run_update"),
    "verify": ("VerifyReport", "VerifyRequest", "run_verify"),
    "watch": ("WatchReport", "WatchRequest", "run_watch"),
}  # fmt: skip
_HOMES = {name: module for module, names in _VERBS.items() for name in names}

__all__ = [
    "CandidatesListReport",
    "CandidatesListRequest",
    "CandidatesReviewReport",
    "CandidatesReviewRequest",
    "CloudflareReport",
    "CloudflareRequest",
    "DeployReport",
    "DeployRequest",
    "Env",
    "ReceiveReport",
    "ReceiveRequest",
    "ReportReport",
    "ReportRequest",
    "RobotsCheckReport",
    "RobotsCheckRequest",
    "RobotsGenerateReport",
    "RobotsGenerateRequest",
    "RobotsLintReport",
    "RobotsLintRequest",
    "ScanReport",
    "ScanRequest",
    "ShipReport",
    "ShipRequest",
    "UpdateReport",
    "UpdateRequest",
    "VerifyReport",
    "VerifyRequest",
    "WatchReport",
    "WatchRequest",
    "run_candidates_list",
    "run_candidates_review",
    "run_cloudflare",
    "run_deploy",
    "run_receive",
    "run_report",
    "run_robots_check",
    "run_robots_generate",
    "run_robots_lint",
    "run_scan",
    "run_ship",
    "run_update",
    "run_verify",
    "run_watch",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    """``from botguard.app import run_scan`` imports ``botguard.app.scan`` then (PEP 562)."""
    return lazy_attribute(__name__, _HOMES, name)
