"""Identity stage: who a client really is (published ranges, FCrDNS) and its network (ASN).

Public door: :func:`identity_sources` and :func:`build_identifier` wire, from settings, the
function that turns distinct (ip, crawler) pairs into identities (verified / spoofed /
unverifiable / unknown) with AS number, organisation, country and a hosting flag
(:func:`botguard.identity.enrich.enrich`); :func:`check_claim` is the one rule deciding a claim
from its proofs and :class:`IdentityEvidence` what ``botguard verify`` shows for one IP;
:class:`PublishedRanges` and :class:`AsnDb` are the sources the model reads too. See README.md
beside this file.
"""

from botguard.identity.asn import AsnDb
from botguard.identity.enrich import IdentityEvidence, check_claim
from botguard.identity.ranges import PublishedRanges
from botguard.identity.setup import build_identifier, identity_sources, network_stamp

__all__ = [
    "AsnDb",
    "IdentityEvidence",
    "PublishedRanges",
    "build_identifier",
    "check_claim",
    "identity_sources",
    "network_stamp",
]
