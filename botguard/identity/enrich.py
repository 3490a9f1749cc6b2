"""Identity per client: does the IP back the crawler its user agent claims?

Work is per distinct (ip, crawler) for the range check and per distinct IP for DNS and ASN,
never per log line. Precedence, cheapest proof first:
1. the IP is in one of the crawler's published ranges: verified (published range);
2. forward-confirmed reverse DNS lands in one of its domains: verified (reverse DNS);
3. an IP in the operator's own, non-hosting network (AS organisation named like the operator,
   e.g. AS15169 "Google LLC") is never called spoofed, only unverifiable: nobody but the
   operator sends from its AS, bundled lists are snapshots (a 2015 log holds Googlebot
   addresses today's list lacks), and an offline resolver may answer NXDOMAIN for everything.
   A cloud VM (hosting ASN) claiming Googlebot is still caught;
4. the operator publishes ranges or domains and the IP is proven outside them: spoofed.
   A conclusive DNS answer (no PTR, or a name outside its domains or not confirming forward)
   is proof, and so is a range miss: published ranges are the operator's complete list;
5. anything else that claims a crawler is unverifiable; claiming none is unknown.
Proof expires: a client last seen ``max_age`` before the range lists were published (a 2015
log judged with 2026 lists) is unverifiable unless it is inside a range, and DNS is not
asked for it (today's PTR says nothing about who held the IP then).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from botguard.catalog import Catalog, Crawler
from botguard.identity.asn import NETWORK_SCHEMA, AsnDb, lookup_many
from botguard.identity.dns import DnsResolver
from botguard.identity.ranges import PublishedRanges
from botguard.identity.records import (
    BY_RANGE,
    BY_RDNS,
    IDENTITY_SCHEMA,
    OWN_NETWORK,
    SPOOFED,
    STALE,
    UNKNOWN,
    UNVERIFIABLE,
    VERIFIED,
    AsnInfo,
    RangeMatch,
    ReverseDns,
)


@dataclass(frozen=True, slots=True)
class ClaimCheck:
    """The identity of one (ip, crawler) claim and how it was established."""

    identity: str
    verified: bool | None
    verified_by: str | None  # how it was proven; for spoofed, what was checked


@dataclass(frozen=True, slots=True)
class IdentityEvidence:
    """Everything `botguard verify` shows for one IP (and optionally one claimed crawler)."""

    ip: str
    crawler: Crawler | None
    check: ClaimCheck
    ranges: tuple[RangeMatch, ...]  # every bundled list containing the IP
    reverse: ReverseDns | None  # None when DNS was not asked
    network: AsnInfo | None


def _suffixes(crawler: Crawler | None) -> tuple[str, ...]:
    return crawler.verification.rdns_suffixes if crawler and crawler.verification else ()


def _lists(crawler: Crawler | None) -> tuple[str, ...]:
    return crawler.verification.ip_ranges if crawler and crawler.verification else ()


def own_network(crawler: Crawler | None, network: AsnInfo | None) -> bool:
    """Whether the IP's AS is the operator's own and not a hosting provider's."""
    if crawler is None or network is None or network.as_org is None or network.hosting:
        return False
    return bool(_words(crawler.operator) & _words(network.as_org))


#: Words in operator and AS organisation names that say nothing about who it is.
_GENERIC = frozenset(
    {
        "inc",
        "llc",
        "ltd",
        "corp",
        "corporation",
        "co",
        "the",
        "of",
        "and",
        "gmbh",
        "sa",
        "ag",
        "internet",
        "network",
        "networks",
    }
)


def _words(name: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", name.lower()) if len(w) >= 2 and w not in _GENERIC}


def check_claim(
    crawler: Crawler | None,
    in_range: bool,
    reverse: ReverseDns | None,
    network: AsnInfo | None = None,
    stale: bool = False,
) -> ClaimCheck:
    """The identity of a claim from its range check, reverse-DNS answer, network and age."""
    if crawler is None:
        return ClaimCheck(UNKNOWN, None, None)
    lists, suffixes = _lists(crawler), _suffixes(crawler)
    if in_range:
        return ClaimCheck(VERIFIED, True, BY_RANGE)
    if stale and (lists or suffixes):
        return ClaimCheck(UNVERIFIABLE, None, STALE)
    if reverse is not None and suffixes and reverse.matches(suffixes):
        return ClaimCheck(VERIFIED, True, BY_RDNS)
    dns_conclusive = reverse is not None and bool(suffixes) and reverse.status != "error"
    if (lists or suffixes) and own_network(crawler, network):
        return ClaimCheck(UNVERIFIABLE, None, f"{OWN_NETWORK} AS{network.asn}")  # type: ignore[union-attr]
    if lists and dns_conclusive:
        return ClaimCheck(SPOOFED, False, "range/rDNS")
    if lists:
        return ClaimCheck(SPOOFED, False, BY_RANGE)
    if dns_conclusive:
        return ClaimCheck(SPOOFED, False, "rDNS")
    return ClaimCheck(UNVERIFIABLE, None, None)


def _crawlers(catalog: Catalog, names: list[str]) -> dict[str, Crawler | None]:
    found: dict[str, Crawler | None] = {}
    for name in names:
        try:
            found[name] = catalog.by_name(name)
        except KeyError:  # a name from an older scan or another catalogue: cannot be checked
            found[name] = None
    return found


def _stale(
    claims: list[tuple[str, str, datetime | None]],
    crawlers: dict[str, Crawler | None],
    ranges: PublishedRanges,
    max_age: timedelta | None,
) -> set[tuple[str, str]]:
    """Claims last seen more than ``max_age`` before their crawler's lists (or the bundle) date."""
    if max_age is None:
        return set()
    bundle = ranges.published()
    oldest = {c: (ranges.published(_lists(crawler)) or bundle) for c, crawler in crawlers.items()}
    stale = set()
    for ip, c, seen in claims:
        published = oldest[c]
        if seen is not None and published is not None and seen.date() < published - max_age:
            stale.add((ip, c))
    return stale


def _identities(
    claims: list[tuple[str, str, datetime | None]],
    catalog: Catalog,
    ranges: PublishedRanges,
    dns: DnsResolver | None,
    networks: dict[str, AsnInfo],
    max_age: timedelta | None,
) -> pl.DataFrame:
    """(ip, crawler) -> identity, verified, verified_by for claimed crawlers."""
    crawlers = _crawlers(catalog, sorted({c for _, c, _ in claims}))
    in_range = {(ip, c): bool(ranges.match(ip, _lists(crawlers[c]))) for ip, c, _ in claims}
    stale = _stale(claims, crawlers, ranges, max_age)
    ask = sorted(
        {
            ip
            for ip, c, _ in claims
            if not in_range[(ip, c)] and (ip, c) not in stale and _suffixes(crawlers[c])
        }
    )
    reverse = dns.reverse_many(ask) if dns is not None and ask else {}
    rows = []
    for ip, c, _ in claims:
        crawler = crawlers[c]
        check = (
            check_claim(crawler, in_range[(ip, c)], reverse.get(ip), networks.get(ip), (ip, c) in stale)
            if crawler
            else ClaimCheck(UNVERIFIABLE, None, None)
        )
        rows.append((ip, c, check.verified, check.identity, check.verified_by))
    schema = {
        "ip": pl.String,
        "crawler": pl.String,
        "verified": pl.Boolean,
        "identity": pl.String,
        "verified_by": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")  # explicit dtypes: no inference from leading nulls


def enrich(
    pairs: pl.DataFrame,
    catalog: Catalog,
    *,
    dns: DnsResolver | None = None,
    asn_db: AsnDb | None = None,
    ranges: PublishedRanges | None = None,
    max_age: timedelta | None = None,
) -> pl.DataFrame:
    """Identity and network of every distinct (ip, crawler) pair (columns: IDENTITY_SCHEMA).

    ``pairs`` has columns ip (str) and crawler (catalogue name or null), and optionally
    last_seen (datetime) for ``max_age``; duplicates are fine.
    """
    ranges = ranges or PublishedRanges.bundled()
    seen = (
        pl.col("last_seen").max()
        if "last_seen" in pairs.columns
        else pl.lit(None, pl.Datetime("us", "UTC")).first()
    )
    keyed = pairs.with_columns(pl.col("ip").cast(pl.String), pl.col("crawler").cast(pl.String))
    grouped = keyed.group_by("ip", "crawler").agg(seen.alias("last_seen"))
    distinct = grouped.select("ip", "crawler")
    claimed = grouped.filter(pl.col("crawler").is_not_null())
    frame = (
        asn_db.lookup_frame(distinct.get_column("ip"))
        if asn_db is not None
        else pl.DataFrame(schema=NETWORK_SCHEMA)
    )
    claimed_networks = frame.join(claimed.select("ip").unique(), on="ip", how="semi")
    networks = {row.pop("ip"): AsnInfo(**row) for row in claimed_networks.rows(named=True)}
    identities = _identities(claimed.rows(), catalog, ranges, dns, networks, max_age)
    return (
        distinct.join(identities, on=["ip", "crawler"], how="left", nulls_equal=True)
        .with_columns(pl.col("identity").fill_null(UNKNOWN))
        .join(frame, on="ip", how="left")
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
    network = lookup_many(asn_db, [ip]).get(ip) if asn_db is not None else None
    return IdentityEvidence(
        ip, crawler, check_claim(crawler, in_range, reverse, network), matches, reverse, network
    )
