"""Records the judge stage produces: one verdict per client, one roll-up per crawler.

A *client* is one (IP, user agent) pair; clients roll up to *crawlers* (catalogue entries,
operator level). Field names follow the scan JSON contract in DESIGN.md; identity fields
(verified, identity, asn, as_org, country) are filled by the identity stage and stay None
until it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Verdict = Literal["allow", "monitor", "block"]

#: Verdicts from mildest to harshest; roll-ups take the harshest of their parts.
VERDICT_ORDER: dict[str, int] = {"allow": 0, "monitor": 1, "block": 2}

#: Kinds of client that match no catalogue entry (catalogue matches use the crawler's category).
HUMAN = "human"  # browser user agent, behaves like a person
AUTOMATED = "automated"  # browser user agent, behaves like a program (no assets, many pages, traps)
BROWSER = "browser"  # browser user agent, too little traffic to tell a person from a program
UNKNOWN = "unknown"  # neither a known crawler nor a browser (custom or empty user agent)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One request robots.txt disallowed, with the rule that forbade it."""

    time: datetime
    method: str | None
    target: str
    status: int | None
    rule: str  # e.g. "Disallow: /cart"
    line: int | None  # line of that rule in robots.txt


@dataclass(frozen=True, slots=True)
class ClientVerdict:
    """What one client did and what botguard would do about it."""

    ip: str
    user_agent: str
    crawler: str | None
    operator: str | None
    category: str
    robots_token: str | None
    requests: int
    robots_fetched: int
    robots_fetched_first: bool | None  # None when it never fetched robots.txt
    judged_requests: int
    disallowed_requests: int
    honeypot_requests: int
    invalid_requests: int
    compliance: float | None  # share of judged requests robots.txt allowed; None if none judged
    score: int
    verdict: Verdict
    reasons: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    evidence: tuple[Evidence, ...]
    verified: bool | None = None
    identity: str | None = None
    asn: int | None = None
    as_org: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class CrawlerRollup:
    """One catalogue crawler across all the clients that claimed it."""

    name: str
    operator: str
    category: str
    robots_token: str | None
    clients: int
    ips: int
    requests: int
    disallowed_requests: int
    compliance: float | None
    verdict: Verdict
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """Totals for the whole scan."""

    lines: int
    parsed: int
    malformed: int
    invalid_requests: int
    clients: int
    first_seen: datetime | None
    last_seen: datetime | None
    robots: dict[str, str]  # host ("*" = every host) -> where its robots.txt came from


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything a scan found, in the order reports show it (harshest verdict first)."""

    summary: ScanSummary
    clients: tuple[ClientVerdict, ...]
    crawlers: tuple[CrawlerRollup, ...]
    malformed_examples: tuple[tuple[str, int, str], ...] = ()
    malformed_by_reason: tuple[tuple[str, int], ...] = ()
