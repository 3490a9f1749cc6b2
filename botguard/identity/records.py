"""What the identity stage produces: who a client really is, with the evidence.

A user agent is a claim; these records say whether an IP backs it (a published range of the
operator, or forward-confirmed reverse DNS) and which network the IP belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

#: The identity vocabulary, in one table.
VERIFIED = "verified"  # the claim is proven: the IP is in the operator's range or FCrDNS passed
SPOOFED = "spoofed"  # claims an operator that publishes ranges or rDNS, and is proven not to be it
UNVERIFIABLE = "unverifiable"  # claims a crawler that cannot be checked (or the check was inconclusive)
UNKNOWN = "unknown"  # claims no known crawler
IDENTITIES: tuple[str, ...] = (VERIFIED, SPOOFED, UNVERIFIABLE, UNKNOWN)

#: How a claim was checked (the judge quotes this in its reasons).
BY_RANGE = "published range"
BY_RDNS = "reverse DNS"
STALE = "seen long before the range lists were published"  # unverifiable: proof expired
OWN_NETWORK = "in the operator's own network"  # unverifiable: outside the published ranges, inside its AS

DnsStatus = Literal["ok", "nxdomain", "error"]


@dataclass(frozen=True, slots=True)
class RangeList:
    """One published range list bundled under rules/ip-ranges (an entry of its index.yaml)."""

    name: str
    file: str
    format: str  # google | objects | lines
    source: str  # the operator's published URL
    via: str  # the snapshot the bundled copy was taken from
    date: str
    licence: str
    refresh: str = ""  # "google": `botguard update` refetches `source` (Google-style JSON)
    location: str = ""  # an updated copy outside the package (state dir), else root/file


@dataclass(frozen=True, slots=True)
class RangeMatch:
    """An IP found in a published list: which list, which network, where the list comes from."""

    list: str
    network: str
    source: str
    date: str


@dataclass(frozen=True, slots=True)
class ReverseDns:
    """Reverse DNS of one IP: PTR names and which of them resolve forward to the IP again.

    ``status`` is ``ok`` (PTR answered), ``nxdomain`` (no PTR: proven absent) or ``error``
    (timeout, server failure, budget exhausted: inconclusive, never cached).
    """

    ip: str
    status: DnsStatus
    names: tuple[str, ...] = ()
    confirmed: tuple[str, ...] = ()  # PTR names whose A/AAAA records contain the IP
    forward: tuple[str, ...] = ()  # every address the PTR names resolved to
    detail: str = ""

    def matches(self, suffixes: tuple[str, ...]) -> str | None:
        """The first forward-confirmed name inside one of the operator's domains, if any."""
        for name in self.confirmed:
            bare = name.rstrip(".").lower()
            if any(bare == s or bare.endswith("." + s) for s in suffixes):
                return bare
        return None


@dataclass(frozen=True, slots=True)
class AsnInfo:
    """The network an IP belongs to (any field None when the databases do not know)."""

    asn: int | None = None
    as_org: str | None = None
    country: str | None = None
    hosting: bool | None = None


#: Columns of :func:`botguard.identity.enrich`'s result, one row per distinct (ip, crawler).
IDENTITY_SCHEMA: dict[str, pl.DataType] = {
    "ip": pl.String(),
    "crawler": pl.String(),
    "verified": pl.Boolean(),
    "identity": pl.String(),
    "verified_by": pl.String(),  # BY_RANGE / BY_RDNS, or for spoofed what was checked
    "asn": pl.Int64(),
    "as_org": pl.String(),
    "country": pl.String(),
    "hosting": pl.Boolean(),
}
