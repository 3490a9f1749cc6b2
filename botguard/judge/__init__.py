"""Judge: per-client facts, robots.txt compliance, scores and verdicts.

Public door: :func:`judge_batches` folds parsed log batches into a :class:`ScanResult`; the
records other stages read (:class:`ClientVerdict`, :class:`CrawlerRollup`, :class:`ModelSummary`);
:data:`ASSET_RE` and :data:`ROBOTS_RE`, what counts as an asset or a robots.txt fetch (the model
reads requests the same way); :data:`SHARED_TOOL_CATEGORIES`, catalogue categories no rule names;
:func:`with_traffic`, the scan's requests over time summarised once its verdicts are final
(:class:`RobotsChange` marks a new robots.txt version on the time axis).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import polars as pl

from botguard.catalog import Catalog
from botguard.config import Settings
from botguard.judge.aggregate import CLIENT_KEY, Aggregator, RobotsLookup
from botguard.judge.columns import ASSET_RE, ROBOTS_RE
from botguard.judge.records import (
    CLIENT_SCHEMA,
    VERDICT_ORDER,
    ClientVerdict,
    CrawlerNetwork,
    CrawlerRollup,
    ModelSummary,
    RobotsChange,
    ScanResult,
    ScanSummary,
)
from botguard.judge.timeline import with_traffic
from botguard.judge.verdict import judge_clients
from botguard.logs.records import Batch, ParseStats

__all__ = [
    "ASSET_RE", "ROBOTS_RE", "SHARED_TOOL_CATEGORIES", "ClientVerdict", "CrawlerRollup", "ModelSummary",
    "RobotsChange", "ScanResult", "judge_batches", "with_traffic",
]  # fmt: skip

col = pl.col


def _evidence_lists(agg: Aggregator) -> pl.DataFrame:
    """(ip, user_agent) -> evidence: list of the earliest disallowed requests with their rule."""
    schema = pl.Schema({"ip": pl.String(), "user_agent": pl.String(), "evidence": CLIENT_SCHEMA["evidence"]})
    frame = agg.evidence()
    if frame is None or frame.height == 0:
        return pl.DataFrame(schema=schema)
    return (
        frame.join(agg.rules_frame(), on="rule_id", how="left")
        .sort("time")
        .group_by(CLIENT_KEY, maintain_order=True)
        .agg(
            evidence=pl.struct(
                col("time"),
                col("method"),
                col("target"),
                col("status").cast(pl.Int64),
                col("rule").fill_null(""),
                col("line").cast(pl.Int64),
            )
        )
        .cast(schema)
    )


_VERDICT_RANK = pl.col("verdict").replace_strict(VERDICT_ORDER, return_dtype=pl.Int8)

#: The identity stage as the judge sees it: distinct (ip, crawler) pairs in, one row per pair
#: out with verified, identity, verified_by, asn, as_org, country, hosting (botguard.identity.enrich).
Identify = Callable[[pl.DataFrame], pl.DataFrame]


def _identities(
    totals: pl.DataFrame, crawlers: pl.DataFrame, identify: Identify | None
) -> pl.DataFrame | None:
    """Identity of each distinct (ip, claimed crawler): work per pair, never per request."""
    if identify is None:
        return None
    pairs = (
        totals.group_by("ip", "crawler_id").agg(col("last_seen").max())
        .join(crawlers.select("crawler_id", "crawler"), on="crawler_id", how="left")
        .group_by("ip", "crawler").agg(col("last_seen").max())
    )  # fmt: skip
    return identify(pairs)


def _client_frame(agg: Aggregator, settings: Settings, identify: Identify | None = None) -> pl.DataFrame:
    """One row per client with CLIENT_SCHEMA's columns, harshest verdict first."""
    totals = agg.totals()
    if totals is None:
        return pl.DataFrame(schema=CLIENT_SCHEMA)
    crawlers = agg.crawler_frame()
    identities = _identities(totals, crawlers, identify)
    judged = judge_clients(
        totals, crawlers, agg.crawl_delays(), agg.rules_frame(), agg.rule_counts(), settings, identities
    )
    judged = judged.join(_evidence_lists(agg), on=CLIENT_KEY, how="left", nulls_equal=True)
    frame = judged.select(
        "ip", "user_agent", "crawler", "operator", "category", "requests", "robots_fetched",
        "robots_fetched_first", col("disallowed").alias("disallowed_requests"),
        col("honeypot").alias("honeypot_requests"), "compliance", "verified", "identity", "asn", "as_org",
        "country", "score", "verdict", "reasons", "first_seen", "last_seen",
        col("evidence").fill_null(pl.lit([], CLIENT_SCHEMA["evidence"])),
        pl.lit(None, pl.Float64).alias("model_score"), "robots_token", col("judged").alias("judged_requests"),
        col("invalid").alias("invalid_requests"),
        "assets", "referers", "pages", "hosting", "allowlisted",
    ).cast(CLIENT_SCHEMA)  # type: ignore[arg-type]  # fmt: skip
    return frame.sort(
        [_VERDICT_RANK, "score", "requests", "ip", "user_agent"], descending=[True, True, True, False, False]
    )


def _rollups(clients: pl.DataFrame, agg: Aggregator) -> tuple[CrawlerRollup, ...]:
    """One roll-up per catalogue crawler seen, harshest verdict first."""
    members = clients.filter(col("crawler").is_not_null())
    if members.height == 0:
        return ()
    grouped = members.group_by("crawler").agg(
        clients=pl.len(),
        ips=col("ip").n_unique(),
        requests=col("requests").sum(),
        judged=col("judged_requests").sum(),
        disallowed=col("disallowed_requests").sum(),
        blocked=(col("verdict") == "block").sum(),
        all_blocked_verified=(col("verified").filter(col("verdict") == "block").fill_null(False)).all(),
        worst=_VERDICT_RANK.max(),
    )
    asns = _asns_by_crawler(members)
    entries = {c.name: c for c in agg.crawlers if c is not None}
    names = {rank: verdict for verdict, rank in VERDICT_ORDER.items()}
    rollups = []
    for row in grouped.iter_rows(named=True):
        entry = entries[row["crawler"]]
        verdict, reasons = _crawler_verdict(
            row["clients"], row["blocked"], names[row["worst"]], entry.verification is not None,
            row["all_blocked_verified"], shared_tool=entry.category in SHARED_TOOL_CATEGORIES,
        )  # fmt: skip
        judged, disallowed = row["judged"], row["disallowed"]
        rollups.append(
            CrawlerRollup(
                name=entry.name,
                operator=entry.operator,
                category=entry.category,
                robots_token=entry.robots_token,
                clients=row["clients"],
                ips=row["ips"],
                requests=row["requests"],
                disallowed_requests=disallowed,
                compliance=None if judged == 0 else round((judged - disallowed) / judged, 4),
                verdict=verdict,  # type: ignore[arg-type]
                reasons=reasons,
                asns=asns.get(row["crawler"], ()),
            )
        )
    rollups.sort(key=lambda r: (-VERDICT_ORDER[r.verdict], -r.requests, r.name))
    return tuple(rollups)


#: How many networks a crawler roll-up lists (most requests first).
ASNS_PER_CRAWLER = 10


def _asns_by_crawler(members: pl.DataFrame) -> dict[str, tuple[CrawlerNetwork, ...]]:
    """crawler -> the networks its clients came from, busiest first.

    Where a crawler comes from is half of who it is: Googlebot from AS15169, a "Googlebot" from
    a cloud network is something else.
    """
    networks = (
        members.filter(col("asn").is_not_null())
        .group_by("crawler", "asn")
        .agg(
            as_org=col("as_org").drop_nulls().first(),
            ips=col("ip").n_unique(),
            requests=col("requests").sum(),
        )
        .sort(["crawler", "requests", "asn"], descending=[False, True, False])
    )
    grouped: dict[str, list[CrawlerNetwork]] = {}
    for crawler, asn, as_org, ips, requests in networks.iter_rows():
        entries = grouped.setdefault(crawler, [])
        if len(entries) < ASNS_PER_CRAWLER:
            entries.append(CrawlerNetwork(asn, as_org, ips, requests))
    return {crawler: tuple(entries) for crawler, entries in grouped.items()}


#: Catalogue categories whose user agent is a tool anyone runs (curl, python-requests, headless
#: browsers), not one operator's crawler: one user's offence says nothing about the next.
SHARED_TOOL_CATEGORIES = frozenset({"library"})


def _crawler_verdict(
    clients: int,
    blocked: int,
    worst: str,
    verifiable: bool,
    blocked_verified: bool,
    *,
    shared_tool: bool = False,
) -> tuple[str, tuple[str, ...]]:
    """A crawler is blocked by name only when that cannot hit anyone innocent.

    Operators that publish IP ranges or reverse-DNS names can be impersonated cheaply, and
    blocking their user agent would also block the real crawler, so until identity
    verification proves the offenders genuine, only the offending clients (by IP) are blocked.
    Likewise a generic tool's user agent is shared by unrelated users (a monitoring script's
    curl): its offenders are blocked by IP, never the tool by name.
    """
    if not blocked:
        return worst, (f"{clients} client(s), none blocked",)
    share = f"{blocked} of {clients} client(s) blocked"
    if shared_tool:
        return "monitor", (share, "a generic tool anyone runs: blocking the offending clients by IP only")
    if verifiable and not blocked_verified:
        return "monitor", (share, "offenders not verified as the real operator: blocking them by IP only")
    return "block", (share,)


def judge_batches(
    batches: Iterable[Batch],
    catalog: Catalog,
    robots_for: RobotsLookup,
    settings: Settings,
    *,
    per_host: bool = False,
    identify: Identify | None = None,
) -> ScanResult:
    """Fold parsed batches into client verdicts and crawler roll-ups (streaming, bounded memory).

    ``identify`` (botguard.identity) proves or disproves each client's crawler claim; without
    it the identity columns stay null and no client counts as verified or spoofed.
    """
    agg = Aggregator(catalog, robots_for, settings.honeypots, per_host, settings.policy.crawl_delay_tolerance)
    stats = ParseStats()
    for batch in batches:
        stats.merge(batch.stats)
        agg.add(batch.requests)
    clients = _client_frame(agg, settings, identify)
    summary = ScanSummary(
        lines=stats.lines,
        parsed=stats.parsed,
        malformed=stats.malformed,
        invalid_requests=stats.invalid_requests,
        clients=clients.height,
        first_seen=clients.get_column("first_seen").min() if clients.height else None,  # type: ignore[arg-type]
        last_seen=clients.get_column("last_seen").max() if clients.height else None,  # type: ignore[arg-type]
        robots={},
    )
    return ScanResult(
        summary=summary,
        clients=clients,
        crawlers=_rollups(clients, agg),
        malformed_examples=tuple(stats.malformed_examples),
        malformed_by_reason=tuple(sorted(stats.malformed_by_reason.items())),
        warnings=tuple(stats.warnings),
        activity=agg.activity(),
    )
