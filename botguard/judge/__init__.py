"""Judge: per-client facts, robots.txt compliance, scores and verdicts.

Public door: :func:`judge_batches` folds parsed log batches into a :class:`ScanResult`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import polars as pl

from botguard.catalog import Catalog
from botguard.config import Settings
from botguard.judge.aggregate import Aggregator, RobotsLookup, RuleRef
from botguard.judge.records import (
    VERDICT_ORDER,
    ClientVerdict,
    CrawlerRollup,
    Evidence,
    ScanResult,
    ScanSummary,
)
from botguard.judge.verdict import CrawlDelayLookup, facts_from_row, judge_client
from botguard.logs.records import Batch, ParseStats

__all__ = [
    "ClientVerdict",
    "CrawlerRollup",
    "Evidence",
    "ScanResult",
    "ScanSummary",
    "judge_batches",
]


def _crawl_delay_lookup(robots_for: RobotsLookup) -> CrawlDelayLookup:
    def lookup(host: str | None, token: str) -> float | None:
        robots = robots_for(host)
        return robots.crawl_delay(token) if robots is not None else None

    return lookup


def _rule_counts_by_client(agg: Aggregator) -> dict[tuple[str, str], list[tuple[str, int]]]:
    grouped: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    counts = agg.rule_counts()
    if counts is not None:
        for ip, ua, rule_id, count in counts.iter_rows():
            grouped[(ip, ua)].append((agg.rules[rule_id].text, count))
    return grouped


def _evidence_by_client(agg: Aggregator) -> dict[tuple[str, str], tuple[Evidence, ...]]:
    grouped: dict[tuple[str, str], list[Evidence]] = defaultdict(list)
    frame = agg.evidence()
    if frame is not None:
        for ip, ua, time, method, target, status, rule_id in frame.sort("time").iter_rows():
            rule: RuleRef | None = agg.rules[rule_id] if rule_id is not None else None
            grouped[(ip, ua)].append(
                Evidence(time, method, target, status, rule.text if rule else "", rule.line if rule else None)
            )
    return {key: tuple(items) for key, items in grouped.items()}


def _rollups(clients: list[ClientVerdict], agg: Aggregator) -> list[CrawlerRollup]:
    by_name: dict[str, list[ClientVerdict]] = defaultdict(list)
    for client in clients:
        if client.crawler is not None:
            by_name[client.crawler].append(client)
    entries = {c.name: c for c in agg.crawlers if c is not None}
    rollups = []
    for name, members in by_name.items():
        entry = entries[name]
        judged = sum(m.judged_requests for m in members)
        disallowed = sum(m.disallowed_requests for m in members)
        verdict, reasons = _crawler_verdict(members, entry.verification is not None)
        rollups.append(
            CrawlerRollup(
                name=name,
                operator=entry.operator,
                category=entry.category,
                robots_token=entry.robots_token,
                clients=len(members),
                ips=len({m.ip for m in members}),
                requests=sum(m.requests for m in members),
                disallowed_requests=disallowed,
                compliance=None if judged == 0 else round((judged - disallowed) / judged, 4),
                verdict=verdict,
                reasons=reasons,
            )
        )
    rollups.sort(key=lambda r: (-VERDICT_ORDER[r.verdict], -r.requests, r.name))
    return rollups


def _crawler_verdict(members: list[ClientVerdict], verifiable: bool) -> tuple[str, tuple[str, ...]]:
    """A crawler is blocked by name only when its blocked clients cannot be impostors.

    Operators that publish IP ranges or reverse-DNS names can be impersonated cheaply, and
    blocking their user agent would also block the real crawler, so until identity
    verification proves the offenders genuine, only the offending clients (by IP) are blocked.
    """
    blocked = [m for m in members if m.verdict == "block"]
    worst = max(members, key=lambda m: VERDICT_ORDER[m.verdict]).verdict
    if not blocked:
        return worst, (f"{len(members)} client(s), none blocked",)
    share = f"{len(blocked)} of {len(members)} client(s) blocked"
    if verifiable and not all(m.verified for m in blocked):
        return "monitor", (share, "offenders not verified as the real operator: blocking them by IP only")
    return "block", (share,)


def _sort_key(client: ClientVerdict) -> tuple[int, int, int, str, str]:
    return (-VERDICT_ORDER[client.verdict], -client.score, -client.requests, client.ip, client.user_agent)


def judge_batches(
    batches: Iterable[Batch],
    catalog: Catalog,
    robots_for: RobotsLookup,
    settings: Settings,
    *,
    per_host: bool = False,
) -> ScanResult:
    """Fold parsed batches into client verdicts and crawler roll-ups (streaming, bounded memory)."""
    agg = Aggregator(catalog, robots_for, settings.honeypots, per_host, settings.policy.crawl_delay_tolerance)
    stats = ParseStats()
    for batch in batches:
        stats.merge(batch.stats)
        agg.add(batch.requests)
    totals = agg.totals()
    rows = totals.iter_rows(named=True) if totals is not None else iter(())
    rule_counts = _rule_counts_by_client(agg)
    evidence = _evidence_by_client(agg)
    delay = _crawl_delay_lookup(robots_for)
    clients = [
        judge_client(
            facts_from_row(row, agg.crawlers),
            rule_counts.get((row["ip"], row["user_agent"]), []),
            evidence.get((row["ip"], row["user_agent"]), ()),
            settings,
            delay,
        )
        for row in rows
    ]
    clients.sort(key=_sort_key)
    summary = ScanSummary(
        lines=stats.lines,
        parsed=stats.parsed,
        malformed=stats.malformed,
        invalid_requests=stats.invalid_requests,
        clients=len(clients),
        first_seen=totals.get_column("first_seen").min() if totals is not None else None,  # type: ignore[arg-type]
        last_seen=totals.get_column("last_seen").max() if totals is not None else None,  # type: ignore[arg-type]
        robots={},
    )
    return ScanResult(
        summary=summary,
        clients=tuple(clients),
        crawlers=tuple(_rollups(clients, agg)),
        malformed_examples=tuple(stats.malformed_examples),
        malformed_by_reason=tuple(sorted(stats.malformed_by_reason.items())),
    )
