"""``botguard report``: the HTML report of the latest scan in the state database.

The scan is read back as records (with its stored traffic summary), and the rules preview is
what ``deploy-rules`` would make of it: the scan's own decisions plus the approved model rules,
replayed over the scanned clients (:func:`rules_preview`, also used by ``scan --format html``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from botguard.app.env import Env
from botguard.catalog import Catalog
from botguard.config import Settings
from botguard.decide import build_decisions, catalog_lookup
from botguard.decide.records import Decision
from botguard.deploy.impact import impact
from botguard.errors import UsageError
from botguard.judge.records import CLIENT_SCHEMA, ScanResult, client_records
from botguard.judge.store import latest_scan
from botguard.report.records import RulesPreview
from botguard.state import State

__all__ = ["ReportReport", "ReportRequest", "model_rules", "rules_preview", "run_report"]


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """Which settings judge the preview (the allowlist, the decide policy, the model's reviews)."""

    settings: Settings


@dataclass(frozen=True, slots=True)
class ReportReport:
    """The latest stored scan and what deploy-rules would do with it."""

    result: ScanResult
    preview: RulesPreview


def rules_preview(
    result: ScanResult, settings: Settings, model: tuple[Decision, ...] = (), catalog: Catalog | None = None
) -> RulesPreview:
    """The decisions this scan calls for (with ``model``: the approved model rules), counted per
    action and match kind, and what they would stop of the scanned traffic. ``catalog``: the
    one the scan loaded (loading it again costs a quarter second)."""
    from botguard.model.store import with_model

    # the preview reads no evidence: leaving it out makes the records several times cheaper
    clients = client_records(result.clients.with_columns(evidence=pl.lit([], CLIENT_SCHEMA["evidence"])))
    decisions = build_decisions(
        clients, result.crawlers, catalog_lookup(catalog), settings.allowlist, settings.decide
    )
    decisions = with_model(decisions, list(model))
    counts = Counter((d.action, d.match.kind) for d in decisions.decisions)
    rules = tuple((action, kind, n) for (action, kind), n in counts.items())
    return RulesPreview(
        rules, impact(clients, decisions), sum(1 for d in decisions.decisions if d.source == "model")
    )


def model_rules(state: State, settings: Settings, now: datetime) -> tuple[Decision, ...]:
    """The approved model candidates deploy-rules would add now."""
    from botguard.model.store import CandidateStore

    return tuple(CandidateStore(state).decisions(settings, now))


def run_report(request: ReportRequest, env: Env) -> ReportReport:
    """The latest scan with its rules preview; a database without a scan is a usage error."""
    with env.open_state() as state:
        result = latest_scan(state)
        if result is None:
            raise UsageError("no scan in the state database: run `botguard scan` first (without --no-save)")
        model = model_rules(state, request.settings, env.now())
    return ReportReport(result, rules_preview(result, request.settings, model))
