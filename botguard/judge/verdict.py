"""Score and verdict for each client, with the reasons a person can read.

Order of precedence (the default policy in rules/policy.yaml):
1. an allowlist entry always wins (allow);
2. catalogue categories the policy blocks outright (block);
3. a honeypot hit (block): no person follows an invisible link robots.txt forbids;
4. robots.txt violations by anything that is not (possibly) a person (block);
5. people (allow): robots.txt governs crawlers, not a browser on /cart;
6. a crawler that obeyed robots.txt and its Crawl-delay, unless its category is monitored
   anyway (scanners) (allow);
7. everything else (monitor), including browser user agents with too little traffic to tell.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botguard.catalog import Crawler
from botguard.config import Settings
from botguard.judge.records import AUTOMATED, BROWSER, HUMAN, UNKNOWN, ClientVerdict, Evidence, Verdict

#: A browser's user agent: "Mozilla/5.0 (...)" plus a rendering engine or browser token.
BROWSER_RE = re.compile(r"^Mozilla/\d\.\d \(.*(?:Gecko|Chrome|Safari|Firefox|Edg|OPR|Trident|MSIE)", re.ASCII)

#: (host, product token) -> the Crawl-delay robots.txt asks of that crawler, if any.
CrawlDelayLookup = Callable[[str | None, str], float | None]


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """Counters the aggregation produced for one client (one row of Aggregator.totals())."""

    ip: str
    user_agent: str
    crawler: Crawler | None
    token: str
    host: str | None
    requests: int
    first_seen: datetime
    last_seen: datetime
    robots_fetched: int
    first_robots: datetime | None
    first_other: datetime | None
    judged: int
    disallowed: int
    honeypot: int
    invalid: int
    assets: int
    pages: int
    referers: int
    client_errors: int
    fast_gaps: int  # intervals shorter than the Crawl-delay asked of it (times the tolerance)

    @property
    def compliance(self) -> float | None:
        return None if self.judged == 0 else round((self.judged - self.disallowed) / self.judged, 4)

    @property
    def robots_fetched_first(self) -> bool | None:
        if self.first_robots is None:
            return None
        return self.first_other is None or self.first_robots <= self.first_other

    @property
    def seconds_per_page(self) -> float:
        """Time span over pages requested: how long a page is 'read' on average."""
        return (self.last_seen - self.first_seen).total_seconds() / max(self.pages, 1)


def client_kind(facts: ClientFacts, settings: Settings) -> str:
    """The category a client reports: its crawler's, or human / automated / browser / unknown.

    A browser user agent is only called a person on positive evidence (it loads page assets or
    follows links); with too little traffic to tell, it is `browser` and never blocked for
    robots.txt rules, because a person opening a bookmarked /cart looks just like that.
    """
    if facts.crawler is not None:
        return facts.crawler.category
    if not BROWSER_RE.match(facts.user_agent):
        return UNKNOWN
    rules = settings.human
    if facts.honeypot or facts.invalid:
        return AUTOMATED
    if facts.pages > rules.max_pages_without_assets and facts.assets == 0:
        return AUTOMATED
    if facts.requests >= 3 and facts.client_errors / facts.requests >= 0.8:
        return AUTOMATED  # probing for paths that do not exist (/.env, /wp-login.php ...)
    if facts.pages >= 5 and facts.seconds_per_page < rules.min_seconds_per_page:
        return AUTOMATED  # nobody reads five pages at a second each
    asset_share = facts.assets / facts.requests
    referer_share = facts.referers / facts.requests
    if asset_share >= rules.min_asset_share or referer_share >= rules.min_referer_share:
        return HUMAN
    if facts.pages >= 10:
        return AUTOMATED
    return BROWSER


def _allowlisted(facts: ClientFacts, settings: Settings) -> str | None:
    allow = settings.allowlist
    ua = facts.user_agent.lower()
    for needle in allow.user_agents:
        if needle in ua:
            return f"allowlisted user agent '{needle}'"
    if allow.networks:
        try:
            address = ipaddress.ip_address(facts.ip)
        except ValueError:
            address = None
        if address is not None:
            for network in allow.networks:
                if address in network:
                    return f"allowlisted network {network}"
    for pair in allow.clients:
        if pair.ip == facts.ip and pair.user_agent == facts.user_agent:
            return "allowlisted client (IP and user agent)"
    return None


def _score(facts: ClientFacts, kind: str, delay_ignored: bool) -> int:
    """0-100: how much evidence of unwanted crawling there is (informative; policy decides)."""
    score = 0.0
    if facts.judged:
        score += 40 * facts.disallowed / facts.judged + min(facts.disallowed, 10) * 2
    if facts.honeypot:
        score += 40
    if facts.invalid:
        score += 20
    if kind == AUTOMATED:
        score += 25
    if kind == "scanner":
        score += 30
    if facts.crawler is not None and facts.robots_fetched == 0 and facts.requests >= 10:
        score += 5
    if delay_ignored:
        score += 10
    if facts.requests >= 10 and facts.client_errors / facts.requests > 0.5:
        score += 10
    if kind == HUMAN:
        score = min(score, 10)
    return int(min(100, round(score)))


def _violation_reasons(rule_counts: list[tuple[str, int]]) -> list[str]:
    top = sorted(rule_counts, key=lambda item: (-item[1], item[0]))[:3]
    reasons = [f"violated {rule} ({count} request{'s' if count != 1 else ''})" for rule, count in top]
    if len(rule_counts) > 3:
        rest = sum(count for _, count in sorted(rule_counts, key=lambda item: -item[1])[3:])
        reasons.append(f"violated {len(rule_counts) - 3} more rules ({rest} requests)")
    return reasons


def _crawl_delay_reason(facts: ClientFacts, asked: float | None) -> str | None:
    """Crawl-delay is ignored when a fifth or more of the intervals (at least 3) are too short."""
    intervals = facts.requests - 1
    if asked is None or intervals < 3:
        return None
    if facts.fast_gaps >= max(3, 0.2 * intervals):
        return f"ignored Crawl-delay: {asked:g} s asked, {facts.fast_gaps} of {intervals} intervals shorter"
    return None


def judge_client(
    facts: ClientFacts,
    rule_counts: list[tuple[str, int]],
    evidence: tuple[Evidence, ...],
    settings: Settings,
    crawl_delay: CrawlDelayLookup,
) -> ClientVerdict:
    """Apply the policy to one client's facts."""
    kind = client_kind(facts, settings)
    policy = settings.policy
    asked_delay = crawl_delay(facts.host, facts.token) if facts.crawler is not None else None
    delay_reason = _crawl_delay_reason(facts, asked_delay)
    reasons: list[str] = []
    verdict: Verdict
    allowlisted = _allowlisted(facts, settings)
    if allowlisted:
        verdict, reasons = "allow", [allowlisted]
    elif kind in policy.block_categories:
        verdict, reasons = "block", [f"category '{kind}' is blocked by policy"]
    elif facts.honeypot and policy.block_on_honeypot:
        verdict = "block"
        reasons = [f"hit honeypot ({facts.honeypot} request{'s' if facts.honeypot != 1 else ''})"]
        reasons += _violation_reasons(rule_counts)
    elif kind not in (HUMAN, BROWSER) and facts.disallowed >= policy.block_min_disallowed:
        verdict, reasons = "block", _violation_reasons(rule_counts)
    elif kind == HUMAN:
        verdict, reasons = "allow", ["browses like a person (loads assets or follows links)"]
    elif (
        facts.crawler is not None
        and facts.disallowed == 0
        and delay_reason is None
        and kind not in policy.monitor_categories
    ):
        verdict = "allow"
        reasons = [f"obeyed robots.txt ({facts.judged} requests judged)" if facts.judged else "nothing robots.txt forbids"]
    else:
        verdict = "monitor"
        reasons = [_monitor_reason(facts, kind, kind in policy.monitor_categories)]
        if kind == BROWSER and facts.disallowed:
            reasons += _violation_reasons(rule_counts)
    if delay_reason and not allowlisted:
        reasons.append(delay_reason)
    if facts.robots_fetched and not facts.robots_fetched_first and verdict != "allow":
        reasons.append("fetched robots.txt only after other requests")
    if facts.invalid and not allowlisted:
        reasons.append(f"sent {facts.invalid} non-HTTP request{'s' if facts.invalid != 1 else ''}")
    crawler = facts.crawler
    return ClientVerdict(
        ip=facts.ip,
        user_agent=facts.user_agent,
        crawler=crawler.name if crawler else None,
        operator=crawler.operator if crawler else None,
        category=kind,
        robots_token=crawler.robots_token if crawler else None,
        requests=facts.requests,
        robots_fetched=facts.robots_fetched,
        robots_fetched_first=facts.robots_fetched_first,
        judged_requests=facts.judged,
        disallowed_requests=facts.disallowed,
        honeypot_requests=facts.honeypot,
        invalid_requests=facts.invalid,
        compliance=facts.compliance,
        score=_score(facts, kind, delay_reason is not None),
        verdict=verdict,
        reasons=tuple(reasons),
        first_seen=facts.first_seen,
        last_seen=facts.last_seen,
        evidence=evidence,
    )


def _monitor_reason(facts: ClientFacts, kind: str, monitored_category: bool) -> str:
    if kind == AUTOMATED:
        if facts.requests and facts.client_errors / facts.requests >= 0.8:
            return f"browser user agent probing for missing paths ({facts.client_errors} of {facts.requests} requests 4xx)"
        return "browser user agent but behaves like a program (no assets, no referers)"
    if kind == BROWSER:
        return "browser user agent; too little traffic to tell a person from a program"
    if kind == UNKNOWN:
        return "not a known crawler and not a browser" if facts.user_agent else "sent no user agent"
    if facts.disallowed == 0 and monitored_category:
        obeyed = f", obeyed robots.txt ({facts.judged} requests judged)" if facts.judged else ""
        return f"{kind}: category monitored by policy{obeyed}"
    return f"{kind} crawler; no robots.txt violation seen"


_FACT_COLUMNS = tuple(name for name in ClientFacts.__dataclass_fields__ if name != "crawler")


def facts_from_row(row: Mapping[str, Any], crawlers: list[Crawler | None]) -> ClientFacts:
    """Build ClientFacts from one row of Aggregator.totals()."""
    return ClientFacts(crawler=crawlers[row["crawler_id"]], **{name: row[name] for name in _FACT_COLUMNS})
