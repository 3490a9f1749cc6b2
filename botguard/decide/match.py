"""Whether a rule's match applies to a client: the reference semantics every renderer enforces.

One implementation for whoever asks: the dry-run impact (``botguard.deploy.impact``) replays the
scanned clients through a decision set with it, and the scan's model step (``botguard.model``)
asks which clients a proposed rule candidate would catch. UA rules are case-insensitive
substrings (``ua_exact``: the whole agent), read as the client sent the agent (log escapes
decoded, as the rules were made); IP rules are exact addresses or CIDRs; an AS rule matches only
when the caller knows the client's AS number.
"""

from __future__ import annotations

import ipaddress

from botguard.decide.records import Match
from botguard.logs.escapes import unescape


def _norm(value: str) -> str:
    return value.strip(" \t").lower()


def matches(match: Match, ip: str, ua: str, asn: int | None = None) -> bool:
    """Whether ``match`` applies to a request from ``ip`` with agent ``ua`` (and AS ``asn``)."""
    kind = match.kind
    if kind in ("ua_pattern", "ua_exact", "client"):
        agent = _norm(unescape(ua))
        if kind == "ua_pattern":
            return _norm(match.value) in agent
        return _norm(match.value) == agent and (kind == "ua_exact" or match.ip == ip)
    if kind in ("ip", "cidr"):
        try:
            return ipaddress.ip_address(ip) in ipaddress.ip_network(match.value, strict=False)
        except ValueError:
            return False
    if kind == "asn":
        return asn is not None and str(asn) == match.value.removeprefix("AS")
    return False
