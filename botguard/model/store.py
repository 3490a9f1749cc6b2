"""Rule candidates in the state database: proposed by the learner, reviewed by a person, deployed.

The learner (``botguard watch``, ``botguard scan``) proposes :class:`RuleCandidate` records again
and again while a signature keeps firing; :class:`CandidateStore` keeps one row per signature so a
review outlives every re-proposal: a rejected signature stays rejected, an approved one stays
approved, and only the evidence (support, score, explanation) and the time it last fired move.

Expiry works like a scan ban: a candidate is deployed while it keeps firing and for
``model.candidate_ttl`` seconds after it was last proposed, then drops out of the rule set (its
review is kept, so it comes back approved if the crawler returns). ``deploy-rules`` adds
:meth:`CandidateStore.decisions` to its fresh decisions (recorded and escalated like scan bans)
and :func:`without_stale_model` removes stored model bans that were rejected or expired since.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botguard.addresses import AddressError, rule_network
from botguard.config import ModelSettings
from botguard.decide import blockable_name
from botguard.decide.records import Decision, DecisionSet, Match
from botguard.errors import UsageError
from botguard.model.records import RuleCandidate
from botguard.state import State
from botguard.text import printable

__all__ = [
    "DDL", "DEFAULT_CANDIDATE_TTL", "STATUSES", "CandidateError", "CandidatePolicy", "CandidateStore",
    "StoredCandidate", "candidate_policy", "deployment", "reason_of", "unsafe_reason", "with_model",
    "without_stale_model",
]  # fmt: skip

Status = Literal["proposed", "approved", "rejected"]
STATUSES: tuple[str, ...] = ("proposed", "approved", "rejected")

#: Seconds a candidate stays deployed after it was last proposed (the notes' "ttl: 24h, renewed
#: while firing"): config's ``model.candidate_ttl`` default, for settings that carry no ``model``.
DEFAULT_CANDIDATE_TTL = ModelSettings().candidate_ttl

#: The networks the learner proposes (its ``ip24`` and ``ip6_48`` signatures); no other is deployed.
_IPV4_PREFIX, _IPV6_PREFIX = 24, 48

#: Contributions shown in a decision's reason (the notes' "top 5 w_i x_i").
TOP_FEATURES = 5

DDL = """
CREATE TABLE IF NOT EXISTS model_candidates (
    signature TEXT PRIMARY KEY,
    match_kind TEXT NOT NULL,
    match_value TEXT NOT NULL,
    action TEXT NOT NULL,
    score REAL NOT NULL,
    bad_rate_lcb REAL NOT NULL,
    support_requests INTEGER NOT NULL,
    support_ips INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    proposed_at REAL NOT NULL,
    requests_to_candidate INTEGER NOT NULL,
    explanation TEXT NOT NULL,
    label_counts TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('proposed', 'approved', 'rejected')),
    first_proposed TEXT NOT NULL,
    last_proposed TEXT NOT NULL,
    reviewed_at TEXT
);
"""

# On a re-proposal: the match, the first times and the review stay; the evidence moves.
_UPSERT = """
INSERT INTO model_candidates VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,'proposed',?,?,NULL)
ON CONFLICT (signature) DO UPDATE SET
    action = excluded.action,
    score = excluded.score,
    bad_rate_lcb = excluded.bad_rate_lcb,
    support_requests = excluded.support_requests,
    support_ips = excluded.support_ips,
    first_seen = min(first_seen, excluded.first_seen),
    explanation = excluded.explanation,
    label_counts = excluded.label_counts,
    last_proposed = max(last_proposed, excluded.last_proposed)
"""

_COLUMNS = ", ".join(f.name for f in fields(RuleCandidate))
_SELECT = f"SELECT {_COLUMNS}, status, first_proposed, last_proposed, reviewed_at FROM model_candidates"


class CandidateError(UsageError):
    """A review names a signature the store does not hold, or one that cannot be deployed (exit 2)."""


@dataclass(frozen=True, slots=True)
class StoredCandidate:
    """A candidate with its review: ``last_proposed`` is wall-clock time it last fired."""

    candidate: RuleCandidate
    status: Status
    first_proposed: datetime
    last_proposed: datetime
    reviewed_at: datetime | None = None

    def expires_at(self, ttl: float) -> datetime:
        """When it stops being deployed unless the learner proposes it again."""
        return self.last_proposed + timedelta(seconds=ttl)

    def live(self, now: datetime, ttl: float) -> bool:
        return self.expires_at(ttl) > now


@dataclass(frozen=True, slots=True)
class CandidatePolicy:
    """The two ``model:`` settings deploying candidates reads."""

    auto_deploy: bool = False
    candidate_ttl: float = DEFAULT_CANDIDATE_TTL


def candidate_policy(settings: Any) -> CandidatePolicy:
    """``settings.model.auto_deploy`` / ``candidate_ttl`` when configured, else the safe defaults."""
    model = getattr(settings, "model", None)
    return CandidatePolicy(
        auto_deploy=bool(getattr(model, "auto_deploy", False)),
        candidate_ttl=float(getattr(model, "candidate_ttl", DEFAULT_CANDIDATE_TTL)),
    )


def unsafe_reason(candidate: RuleCandidate) -> str | None:
    """Why this candidate must never become a rule, or None.

    The learner should never propose these, but its keys come from hostile logs and the store
    from older versions: a UA token is a name the sender chose, so it must pass the rule a scan's
    self-chosen names pass (:func:`~botguard.decide.agents.blockable_name`: it names a bot or its
    operator's domain, and no browser or good bot carries it; ``weixin`` names WeChat's in-app
    browser), a garbled network would not parse on the server, a loopback or link-local one
    blocks no remote client.
    """
    kind, value = candidate.match_kind, candidate.match_value
    if candidate.action not in ("block", "throttle"):
        return f"unknown action {candidate.action!r}"
    if kind == "ua_pattern":
        return (
            None
            if blockable_name(value)
            else "user-agent token names no bot, or browsers or verified good bots carry it"
        )
    if kind == "cidr":  # from log addresses: a loopback or link-local network is no rule either
        try:
            network = rule_network(value, network=True)
        except AddressError as exc:
            return exc.message
        prefix = int(network.partition("/")[2] or 128)
        if prefix != (_IPV4_PREFIX if ":" not in network else _IPV6_PREFIX):
            return "not a /24 (IPv4) or /48 (IPv6): the learner proposes no other network"
        return None
    if kind == "asn":
        digits = value.strip().upper().removeprefix("AS")
        return (
            None if digits.isascii() and digits.isdigit() and 0 < int(digits) < 2**32 else "not an AS number"
        )
    return f"unknown match kind {kind!r}"


def deployment(stored: StoredCandidate, conf: CandidatePolicy, now: datetime) -> tuple[bool, str]:
    """Whether deploy-rules enforces this candidate now, and why (or why not) in a few words."""
    problem = unsafe_reason(stored.candidate)
    if stored.status == "rejected":
        return False, "rejected"
    if problem:
        return False, f"unsafe: {problem}"
    if not stored.live(now, conf.candidate_ttl):
        return False, "expired: not proposed within model.candidate_ttl"
    if stored.status == "approved":
        return True, "approved"
    return (True, "auto_deploy") if conf.auto_deploy else (False, "awaiting review")


def reason_of(candidate: RuleCandidate) -> str:
    """``model: ua_tok=novascrape +2.1, asn_type=hosting +1.4; 412 requests from 37 IPs``."""
    top = sorted(candidate.explanation, key=lambda fc: -abs(fc[1]))[:TOP_FEATURES]
    parts = ", ".join(f"{printable(str(feature), 80)} {weight:+.1f}" for feature, weight in top)
    evidence = f"{candidate.support_requests} requests from {candidate.support_ips} IPs"
    return f"model: {parts}; {evidence}" if parts else f"model: {evidence}"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class CandidateStore:
    """The ``model_candidates`` table of a state database (created on first use)."""

    def __init__(self, state: State) -> None:
        self.state = state
        state.ensure_schema(DDL)

    def upsert(
        self, candidates: list[RuleCandidate] | tuple[RuleCandidate, ...], now: datetime | None = None
    ) -> int:
        """Record what the learner proposes now; returns how many rows were written.

        New signatures start ``proposed``; known ones keep their status, first proposal and
        match, and get the fresh evidence and ``last_proposed = now`` (which renews their TTL).
        """
        stamp = _iso(now or datetime.now(UTC))
        rows = [
            (c.signature, c.match_kind, c.match_value, c.action, float(c.score), float(c.bad_rate_lcb),
             int(c.support_requests), int(c.support_ips), float(c.first_seen), float(c.proposed_at),
             int(c.requests_to_candidate), json.dumps([[str(f), float(w)] for f, w in c.explanation]),
             json.dumps([[str(s), int(n)] for s, n in c.label_counts]), stamp, stamp)
            for c in candidates
        ]  # fmt: skip
        with self.state.transaction() as conn:
            conn.executemany(_UPSERT, rows)
        return len(rows)

    # The method is named for `botguard candidates list`: annotations below it spell builtins.list.
    def list(self, status: str | None = None) -> list[StoredCandidate]:
        """Stored candidates (optionally of one status), newest proposal first."""
        if status is not None and status not in STATUSES:
            raise CandidateError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        where, args = (" WHERE status = ?", (status,)) if status else ("", ())
        rows = self.state.conn.execute(f"{_SELECT}{where} ORDER BY first_proposed DESC, signature", args)
        return [self._stored(row) for row in rows]

    def get(self, signature: str) -> StoredCandidate | None:
        row = self.state.conn.execute(f"{_SELECT} WHERE signature = ?", (signature,)).fetchone()
        return self._stored(row) if row else None

    def approve(self, *signatures: str, now: datetime | None = None) -> builtins.list[StoredCandidate]:
        """Mark signatures approved (all or none: an unknown or unsafe one changes nothing)."""
        for signature in signatures:
            problem = unsafe_reason(self._known(signature).candidate)
            if problem:
                raise CandidateError(f"cannot approve {printable(signature, 120)!r}: {problem}")
        return self._review(signatures, "approved", now)

    def reject(self, *signatures: str, now: datetime | None = None) -> builtins.list[StoredCandidate]:
        """Mark signatures rejected: never deployed, even when proposed again (all or none)."""
        for signature in signatures:
            self._known(signature)
        return self._review(signatures, "rejected", now)

    def decisions(self, settings: Any, now: datetime | None = None) -> builtins.list[Decision]:
        """Rules for deploy-rules: approved candidates (all proposed ones too with auto_deploy)
        that fired within ``candidate_ttl``, are safe to enforce and not covered by the allowlist."""
        # Imported here: a scan stores candidates and never deploys them (decide's builder unloaded).
        from botguard.decide import covered_by_allowlist

        now = now or datetime.now(UTC)
        conf = candidate_policy(settings)
        allowlist = getattr(settings, "allowlist", None)
        out = []
        for stored in self.list():
            c = stored.candidate
            if not deployment(stored, conf, now)[0]:
                continue
            decision = Decision(
                c.action, Match(c.match_kind, c.match_value), (reason_of(c),), "model",
                _epoch(c.first_seen), stored.last_proposed, stored.expires_at(conf.candidate_ttl),
            )  # fmt: skip
            if allowlist is None or not covered_by_allowlist(decision, allowlist):
                out.append(decision)
        return out

    # ------------------------------------------------------------ helpers

    def _known(self, signature: str) -> StoredCandidate:
        stored = self.get(signature)
        if stored is None:
            raise CandidateError(
                f"no candidate with signature {printable(signature, 120)!r} (see `botguard candidates list`)"
            )
        return stored

    def _review(
        self, signatures: tuple[str, ...], status: Status, now: datetime | None
    ) -> builtins.list[StoredCandidate]:
        stamp = _iso(now or datetime.now(UTC))
        with self.state.transaction() as conn:
            conn.executemany(
                "UPDATE model_candidates SET status = ?, reviewed_at = ? WHERE signature = ?",
                [(status, stamp, s) for s in signatures],
            )
        return [self._known(s) for s in dict.fromkeys(signatures)]

    @staticmethod
    def _stored(row: tuple[Any, ...]) -> StoredCandidate:
        n = len(fields(RuleCandidate))
        values = list(row[:n])
        values[-2] = tuple((str(f), float(w)) for f, w in json.loads(values[-2]))
        values[-1] = tuple((str(s), int(k)) for s, k in json.loads(values[-1]))
        status, first, last, reviewed = row[n:]
        return StoredCandidate(RuleCandidate(*values), status, _time(first), _time(last), _time(reviewed))  # type: ignore[arg-type]


def with_model(fresh: DecisionSet, model: list[Decision]) -> DecisionSet:
    """The scan's fresh decisions plus the model's (a scan rule on the same match wins)."""
    return DecisionSet.of(list(fresh.decisions) + model)


def without_stale_model(active: DecisionSet, model: list[Decision]) -> DecisionSet:
    """Drop stored model bans the store no longer deploys (rejected since, or expired by TTL)."""
    live = {(d.action, d.match.key) for d in model}
    return DecisionSet(
        tuple(d for d in active.decisions if d.source != "model" or (d.action, d.match.key) in live)
    )
