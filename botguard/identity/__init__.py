"""Identity stage: who a client really is (published ranges, FCrDNS) and its network (ASN).

Public door: :func:`enrich` turns distinct (ip, crawler) pairs into identities
(verified / spoofed / unverifiable / unknown) with AS number, organisation, country and a
hosting flag; :func:`explain` gathers the evidence for one IP (``botguard verify``);
:func:`build_enricher` wires both from settings. See README.md beside this file.
"""

from botguard.identity.asn import AsnDb, LayeredAsn, MaxMindDb, RangeTableAsn
from botguard.identity.cache import DnsCache
from botguard.identity.dns import DnsOptions, DnsResolver
from botguard.identity.enrich import IdentityEvidence, decide, enrich, explain
from botguard.identity.ranges import PublishedRanges
from botguard.identity.records import IDENTITIES, IDENTITY_SCHEMA, AsnInfo, RangeMatch, ReverseDns

__all__ = [
    "IDENTITIES",
    "IDENTITY_SCHEMA",
    "AsnDb",
    "AsnInfo",
    "DnsCache",
    "DnsOptions",
    "DnsResolver",
    "IdentityEvidence",
    "LayeredAsn",
    "MaxMindDb",
    "PublishedRanges",
    "RangeMatch",
    "RangeTableAsn",
    "ReverseDns",
    "decide",
    "enrich",
    "explain",
]
