"""``botguard candidates list|approve|reject``: review the rules the online model proposes.

The store (:mod:`botguard.model.store`) decides what is deployed and why; this reads it as
plain rows (the JSON contract; the table and CSV writers in :mod:`botguard.report.candidates`
show a subset) and records the reviews.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botguard.app.env import Env
from botguard.config import Settings
from botguard.errors import UsageError
from botguard.model.store import (
    CandidatePolicy,
    CandidateStore,
    StoredCandidate,
    candidate_policy,
    deployment,
    reason_of,
)

__all__ = [
    "CandidatesListReport", "CandidatesListRequest", "CandidatesReviewReport", "CandidatesReviewRequest",
    "candidate_row", "run_candidates_list", "run_candidates_review",
]  # fmt: skip

REVIEWS = ("approve", "reject")


@dataclass(frozen=True, slots=True)
class CandidatesListRequest:
    """Which candidates to show (None: every status), judged by the configured candidate policy."""

    settings: Settings
    status: str | None = None


@dataclass(frozen=True, slots=True)
class CandidatesListReport:
    """One row per candidate, as plain values (the JSON contract)."""

    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class CandidatesReviewRequest:
    """Approve or reject these signatures (all or none)."""

    review: str  # approve | reject
    signatures: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.review not in REVIEWS:
            raise UsageError(f"unknown review {self.review!r} (known: {', '.join(REVIEWS)})")


@dataclass(frozen=True, slots=True)
class CandidatesReviewReport:
    """The candidates as stored after the review."""

    changed: tuple[StoredCandidate, ...]


def run_candidates_list(request: CandidatesListRequest, env: Env) -> CandidatesListReport:
    """The stored candidates, each with whether deploy-rules enforces it now and why."""
    conf, now = candidate_policy(request.settings), env.now()
    with env.open_state() as state:
        rows = tuple(
            candidate_row(stored, conf, now) for stored in CandidateStore(state).list(request.status)
        )
    return CandidatesListReport(rows)


def run_candidates_review(request: CandidatesReviewRequest, env: Env) -> CandidatesReviewReport:
    """Record the review; an unknown signature changes nothing (the store raises)."""
    with env.open_state() as state:
        store = CandidateStore(state)
        review = store.approve if request.review == "approve" else store.reject
        changed = review(*request.signatures, now=env.now())
    return CandidatesReviewReport(tuple(changed))


def candidate_row(stored: StoredCandidate, conf: CandidatePolicy, now: datetime) -> dict[str, Any]:
    """One candidate as plain values (the JSON contract; the table and CSV show a subset)."""
    c = stored.candidate
    deployed, why = deployment(stored, conf, now)
    return {
        "signature": c.signature, "status": stored.status, "deployed": deployed, "why": why,
        "match_kind": c.match_kind, "match_value": c.match_value, "action": c.action,
        "score": round(c.score, 4), "bad_rate_lcb": round(c.bad_rate_lcb, 4),
        "support_requests": c.support_requests, "support_ips": c.support_ips,
        "first_seen": datetime.fromtimestamp(c.first_seen, UTC).isoformat(),
        "proposed_at": datetime.fromtimestamp(c.proposed_at, UTC).isoformat(),
        "requests_to_candidate": c.requests_to_candidate,
        "first_proposed": stored.first_proposed.isoformat(),
        "last_proposed": stored.last_proposed.isoformat(),
        "expires_at": stored.expires_at(conf.candidate_ttl).isoformat(),
        "reviewed_at": stored.reviewed_at.isoformat() if stored.reviewed_at else None,
        "explanation": [{"feature": f, "contribution": round(w, 4)} for f, w in c.explanation],
        "label_counts": dict(c.label_counts), "reason": reason_of(c),
    }  # fmt: skip
