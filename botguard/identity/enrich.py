"""Identity per client: does the IP back the crawler its user agent claims?

Work is per distinct (ip, crawler) for the range check and per distinct IP for DNS and ASN,
never per log line. Precedence, cheapest proof first:
1. the IP is in one of the crawler's published ranges: verified (published range);
2. forward-confirmed reverse DNS lands in one of its domains: verified (reverse DNS);
3. the operator publishes ranges or domains and the IP is proven outside them: spoofed.
   Published ranges are the operator's complete list, so a range miss is proof on its own
   when DNS is off or inconclusive; for domain-only operators only a conclusive DNS answer
   (no PTR, or a name outside its domains or not confirming forward) is;
4. anything else that claims a crawler is unverifiable; claiming none is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from botguard.catalog import Catalog, Crawler
from botguard.identity.asn import AsnDb
from botguard.identity.dns import DnsResolver
from botguard.identity.ranges import PublishedRanges
from botguard.identity.records import (
    BY_RANGE,
    BY_RDNS,
    IDENTITY_SCHEMA,
    SPOOFED,
    UNKNOWN,
    UNVERIFIABLE,
    VERIFIED,
    AsnInfo,
    RangeMatch,
    ReverseDns,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The identity of one (ip, crawler) claim and how it was established."""

    identity: str
    verified: bool | None
    verified_by: str | None  # how it was proven; for spoofed, what was checked


@dataclass(frozen=True, slots=True)
class IdentityEvidence:
    """Everything `botguard verify` shows for one IP (and optionally one claimed crawler)."""

    ip: str
    crawler: Crawler | None
    verdict: Verdict
    ranges: tuple[RangeMatch, ...]  # every bundled list containing the IP
    reverse: ReverseDns | None  # None when DNS was not asked
    network: AsnInfo | None


def _suffixes(crawler: Crawler | None) -> tuple[str, ...]:
    return crawler.verification.rdns_suffixes if crawler and crawler.verification else ()


def _lists(crawler: Crawler | None) -> tuple[str, ...]:
    return crawler.verification.ip_ranges if crawler and crawler.verification else ()


def decide(crawler: Crawler | None, in_range: bool, reverse: ReverseDns | None) -> Verdict:
    """The identity of a claim from its range check and (optional) reverse-DNS answer."""
    if crawler is None:
        return Verdict(UNKNOWN, None, None)
    lists, suffixes = _lists(crawler), _suffixes(crawler)
    if in_range:
        return Verdict(VERIFIED, True, BY_RANGE)
    if reverse is not None and suffixes and reverse.matches(suffixes):
        return Verdict(VERIFIED, True, BY_RDNS)
    dns_conclusive = reverse is not None and bool(suffixes) and reverse.status != "error"
    if lists and dns_conclusive:
        return Verdict(SPOOFED, False, "range/rDNS")
    if lists:
        return Verdict(SPOOFED, False, BY_RANGE)
    if dns_conclusive:
        return Verdict(SPOOFED, False, "rDNS")
    return Verdict(UNVERIFIABLE, None, None)


def _crawlers(catalog: Catalog, names: list[str]) -> dict[str, Crawler | None]:
    found: dict[str, Crawler | None] = {}
    for name in names:
        try:
            found[name] = catalog.by_name(name)
        except KeyError:  # a name from an older scan or another catalogue: cannot be checked
            found[name] = None
    return found


def _identities(
    claims: list[tuple[str, str]], catalog: Catalog, ranges: PublishedRanges, dns: DnsResolver | None
) -> pl.DataFrame:
    """(ip, crawler) -> identity, verified, verified_by for claimed crawlers."""
    crawlers = _crawlers(catalog, sorted({c for _, c in claims}))
    in_range = {(ip, c): bool(ranges.match(ip, _lists(crawlers[c]))) for ip, c in claims}
    ask = sorted({ip for ip, c in claims if not in_range[(ip, c)] and _suffixes(crawlers[c])})
    reverse = dns.reverse_many(ask) if dns is not None and ask else {}
    rows = []
    for ip, c in claims:
        crawler = crawlers[c]
        verdict = decide(crawler, in_range[(ip, c)], reverse.get(ip)) if crawler else Verdict(UNVERIFIABLE, None, None)
        rows.append((ip, c, verdict.verified, verdict.identity, verdict.verified_by))
    return pl.DataFrame(rows, schema=["ip", "crawler", "verified", "identity", "verified_by"], orient="row").cast(
        {"ip": pl.String, "crawler": pl.String, "verified": pl.Boolean, "identity": pl.String, "verified_by": pl.String}
    )


def _networks(ips: list[str], asn_db: AsnDb | None) -> pl.DataFrame:
    schema = {"ip": pl.String, "asn": pl.Int64, "as_org": pl.String, "country": pl.String, "hosting": pl.Boolean}
    found = asn_db.lookup_many(ips) if asn_db is not None else {}
    return pl.DataFrame(
        [(ip, i.asn, i.as_org, i.country, i.hosting) for ip, i in found.items()], schema=list(schema), orient="row"
    ).cast(schema)  # type: ignore[arg-type]


def enrich(
    pairs: pl.DataFrame,
    catalog: Catalog,
    *,
    dns: DnsResolver | None = None,
    asn_db: AsnDb | None = None,
    ranges: PublishedRanges | None = None,
) -> pl.DataFrame:
    """Identity and network of every distinct (ip, crawler) pair (columns: IDENTITY_SCHEMA).

    ``pairs`` has columns ip (str) and crawler (catalogue name or null); duplicates are fine.
    """
    ranges = ranges or PublishedRanges.bundled()
    distinct = pairs.select(pl.col("ip").cast(pl.String), pl.col("crawler").cast(pl.String)).unique()
    claims = distinct.filter(pl.col("crawler").is_not_null()).rows()
    identities = _identities(claims, catalog, ranges, dns)
    networks = _networks(distinct.get_column("ip").unique().to_list(), asn_db)
    return (
        distinct.join(identities, on=["ip", "crawler"], how="left", nulls_equal=True)
        .with_columns(pl.col("identity").fill_null(UNKNOWN))
        .join(networks, on="ip", how="left")
        .select(list(IDENTITY_SCHEMA))
        .cast(IDENTITY_SCHEMA)  # type: ignore[arg-type]
    )


def explain(
    ip: str,
    crawler: Crawler | None,
    *,
    dns: DnsResolver | None = None,
    asn_db: AsnDb | None = None,
    ranges: PublishedRanges | None = None,
) -> IdentityEvidence:
    """All the evidence about one IP, for `botguard verify` (DNS asked even when ranges match)."""
    ranges = ranges or PublishedRanges.bundled()
    matches = ranges.match(ip)
    reverse = dns.reverse_many([ip])[ip] if dns is not None else None
    in_range = any(m.list in _lists(crawler) for m in matches)
    network = asn_db.lookup_many([ip]).get(ip) if asn_db is not None else None
    return IdentityEvidence(ip, crawler, decide(crawler, in_range, reverse), matches, reverse, network)
