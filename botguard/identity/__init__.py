"""Identity stage: who a client really is (published ranges, FCrDNS) and its network (ASN).

Public door: :func:`enrich` turns distinct (ip, crawler) pairs into identities
(verified / spoofed / unverifiable / unknown) with AS number, organisation, country and a
hosting flag; :func:`explain` gathers the evidence for one IP (``botguard verify``);
:func:`identity_sources` and :func:`build_identifier` wire them from settings. See README.md beside this file.
"""

from botguard.identity.asn import AsnDb, LayeredAsn, MaxMindDb, RangeTableAsn
from botguard.identity.cache import DnsCache
from botguard.identity.dns import DnsOptions, DnsResolver
from botguard.identity.enrich import ClaimCheck, IdentityEvidence, check_claim, enrich, explain
from botguard.identity.ranges import PublishedRanges
from botguard.identity.records import IDENTITIES, IDENTITY_SCHEMA, AsnInfo, RangeMatch, ReverseDns
from botguard.identity.setup import Identifier, IdentitySources, build_identifier, identity_sources

__all__ = [
    "IDENTITIES",
    "IDENTITY_SCHEMA",
    "AsnDb",
    "AsnInfo",
    "ClaimCheck",
    "DnsCache",
    "DnsOptions",
    "DnsResolver",
    "Identifier",
    "IdentityEvidence",
    "IdentitySources",
    "LayeredAsn",
    "MaxMindDb",
    "PublishedRanges",
    "RangeMatch",
    "RangeTableAsn",
    "ReverseDns",
    "build_identifier",
    "check_claim",
    "enrich",
    "explain",
    "identity_sources",
]
