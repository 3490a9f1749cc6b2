"""Records the decide stage produces: one :class:`Decision` per rule, a :class:`DecisionSet` per run.

Every renderer (nginx, Apache, Cloudflare ...) reads only these records, so one decision set
can be enforced on any target. Values come from logs an attacker writes: they are kept as the
raw strings here and escaped only by each renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = [
    "ACTIONS",
    "KINDS",
    "SOURCES",
    "Action",
    "Decision",
    "DecisionSet",
    "DroppedDecision",
    "Match",
    "MatchKind",
]

Action = Literal["block", "throttle", "challenge", "allow"]
MatchKind = Literal["ua_pattern", "ua_exact", "ip", "cidr", "asn", "client"]

#: Actions in the order renderers emit them (allow first: allowlists always win). ``challenge``:
#: the client must pass a proof of work (botguard serve) before it gets the content.
ACTIONS: tuple[str, ...] = ("allow", "block", "throttle", "challenge")
#: Match kinds. ``ua_pattern`` is a case-insensitive *substring* (never a regex), ``ua_exact``
#: a whole user agent (case-insensitive), ``client`` an exact (IP, user agent) pair.
KINDS: tuple[str, ...] = ("ua_pattern", "ua_exact", "ip", "cidr", "asn", "client")
#: Where a decision comes from: a scan's verdicts, a reviewed model candidate, the configuration
#: (the allowlist; its addresses may be ones a log's never may, see ``addresses.rule_address``).
SOURCES: tuple[str, ...] = ("scan", "model", "config")


@dataclass(frozen=True, slots=True, order=True)
class Match:
    """What a decision applies to. ``ip`` is set only for ``client`` matches (value is the UA)."""

    kind: MatchKind
    value: str
    ip: str | None = None

    @property
    def key(self) -> str:
        """Identity of the match across runs (case-folded UA: matching is case-insensitive)."""
        value = self.value.lower() if self.kind in ("ua_pattern", "ua_exact", "client") else self.value
        return f"{self.kind}|{self.ip or ''}|{value}"


@dataclass(frozen=True, slots=True)
class Decision:
    """One rule: do ``action`` to requests that ``match``, until ``expires_at`` (None: no expiry)."""

    action: Action
    match: Match
    reasons: tuple[str, ...] = ()
    source: str = "scan"
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    expires_at: datetime | None = None
    offences: int = 1

    @property
    def sort_key(self) -> tuple[int, int, str]:
        """Deterministic order: action, kind, case-folded value."""
        return (ACTIONS.index(self.action), KINDS.index(self.match.kind), self.match.key)


@dataclass(frozen=True, slots=True)
class DroppedDecision:
    """A stored decision no rule may carry (an older version stored it), and why, for a warning."""

    decision: Decision
    reason: str  # e.g. "IPv6 zone id", "loopback address"


@dataclass(frozen=True, slots=True)
class DecisionSet:
    """All decisions of one run, sorted and deduplicated (one per action and match key)."""

    decisions: tuple[Decision, ...] = ()

    @classmethod
    def of(cls, decisions: list[Decision] | tuple[Decision, ...]) -> DecisionSet:
        """Sort and dedupe (the first decision per action and match key wins)."""
        seen: dict[tuple[str, str], Decision] = {}
        for decision in decisions:
            seen.setdefault((decision.action, decision.match.key), decision)
        return cls(tuple(sorted(seen.values(), key=lambda d: d.sort_key)))

    def select(self, action: str, *kinds: str) -> tuple[Decision, ...]:
        """Decisions with this action and one of these match kinds, in order."""
        return tuple(d for d in self.decisions if d.action == action and d.match.kind in kinds)

    def __len__(self) -> int:
        return len(self.decisions)
