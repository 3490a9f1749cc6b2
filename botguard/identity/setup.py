"""Wire the identity stage from settings: ranges, DNS (with its cache), ASN sources.

The scan and `botguard verify` both call :func:`build_identifier`, so they judge an IP the
same way; the result is a plain function from (ip, crawler) pairs to identities.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from importlib import resources
from pathlib import Path

import polars as pl

from botguard.catalog import Catalog
from botguard.config import IdentitySettings
from botguard.identity.asn import NAMES, TABLE, AsnDb, LayeredAsn, MaxMindDb, RangeTableAsn, _stamp
from botguard.identity.cache import DnsCache
from botguard.identity.dns import DnsOptions, DnsResolver
from botguard.identity.enrich import enrich
from botguard.identity.ranges import PublishedRanges
from botguard.state import State, default_state_path

Identifier = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True, slots=True)
class IdentitySources:
    """The configured lookups: None means that source is off."""

    ranges: PublishedRanges
    dns: DnsResolver | None
    asn_db: AsnDb | None
    max_age: timedelta | None = None  # see IdentitySettings.max_log_age_days


def asn_source(settings: IdentitySettings) -> AsnDb | None:
    """The user's MaxMind files over the bundled table (either may be absent)."""
    sources: list[AsnDb] = []
    if settings.asn_db or settings.country_db:
        sources.append(MaxMindDb(settings.asn_db, settings.country_db))
    if settings.bundled_asn:
        sources.append(RangeTableAsn())
    if not sources:
        return None
    return sources[0] if len(sources) == 1 else LayeredAsn(*sources)


def network_stamp(settings: IdentitySettings) -> str:
    """What the network columns of an address (AS, organisation, country, hosting) depend on:
    the files :func:`asn_source` and the hosting list read, by path, size and modification
    time. An incremental scan keeps the identities of addresses that claim no crawler while
    this is unchanged (a claim's identity may change with DNS, range lists and age: asked
    again each scan)."""
    rules = resources.files("botguard.rules")
    paths = [Path(path) for path in (settings.asn_db, settings.country_db) if path]
    if settings.bundled_asn:
        paths += [Path(str(rules.joinpath(name))) for name in (TABLE, NAMES)]
    paths.append(Path(str(rules.joinpath("hosting.yaml"))))
    stamps = []
    for path in paths:
        try:
            stamps.append(_stamp(path).decode(errors="replace"))
        except OSError:
            stamps.append(f"{path}\0unreadable")
    return "\n".join([repr(settings.asn_db), repr(settings.country_db), repr(settings.bundled_asn), *stamps])


def system_nameservers() -> tuple[tuple[str, ...] | None, int]:
    """Nameservers and port when the config names none: the system's (tests replace this)."""
    return None, 53


def dns_resolver(settings: IdentitySettings, state: State | None) -> DnsResolver:
    """A bounded resolver; answers are cached in the state DB when one is open."""
    nameservers, port = (
        (settings.dns_nameservers, settings.dns_port) if settings.dns_nameservers else system_nameservers()
    )
    options = DnsOptions(
        nameservers=nameservers,
        port=port,
        timeout=settings.dns_timeout,
        concurrency=settings.dns_concurrency,
        budget=settings.dns_budget,
    )
    cache = DnsCache(state, ttl=settings.dns_cache_ttl) if state is not None else None
    return DnsResolver(options, cache)


def updated_ranges_dir(state_path: str | Path | None) -> Path:
    """Where `botguard update` keeps refreshed range lists: ip-ranges/ beside the state DB."""
    base = (
        Path(state_path) if state_path is not None and str(state_path) != ":memory:" else default_state_path()
    )
    return base.parent / "ip-ranges"


def identity_sources(
    settings: IdentitySettings,
    *,
    dns: bool = True,
    state: State | None = None,
    resolver: DnsResolver | None = None,
    state_path: str | Path | None = None,
) -> IdentitySources:
    """Everything identity needs; ``dns`` False (``--no-dns``) or settings.dns False skip FCrDNS.

    Range lists refreshed by `botguard update` (beside the state DB at ``state_path``) replace
    the bundled copies.
    """
    use_dns = dns and settings.dns
    if use_dns and resolver is None:
        resolver = dns_resolver(settings, state)
    max_age = timedelta(days=settings.max_log_age_days) if settings.max_log_age_days else None
    ranges = PublishedRanges.bundled(updated_ranges_dir(state_path))
    return IdentitySources(ranges, resolver if use_dns else None, asn_source(settings), max_age)


def build_identifier(catalog: Catalog, sources: IdentitySources) -> Identifier:
    """(ip, crawler) pairs -> identity frame, for the judge."""
    return partial(
        enrich,
        catalog=catalog,
        dns=sources.dns,
        asn_db=sources.asn_db,
        ranges=sources.ranges,
        max_age=sources.max_age,
    )
