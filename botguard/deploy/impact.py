"""Dry-run impact: replay the scanned clients through a decision set, as the server would.

Semantics match the renderers: UA rules are case-insensitive substrings (``ua_exact``: the
whole agent), IP rules exact addresses or CIDRs, allow rules win, ``/robots.txt`` is exempt
(not visible per client here, so counted as blocked). Clients are split into humans (browser
agents judged human or too quiet to tell), verified good bots (identity verified) and the rest.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from botguard.decide.records import Decision, DecisionSet
from botguard.deploy.records import Impact, ImpactRow

__all__ = ["GROUPS", "client_group", "impact", "matches"]

GROUPS = ("humans", "verified good bots", "crawlers")
HUMAN_CATEGORIES = frozenset({"human", "browser"})


def client_group(client: Mapping[str, Any]) -> str:
    """Which of :data:`GROUPS` a scan client belongs to."""
    if client.get("verified") is True:
        return "verified good bots"
    if client.get("crawler") is None and client.get("category") in HUMAN_CATEGORIES:
        return "humans"
    return "crawlers"


def matches(decision: Decision, ip: str, ua: str) -> bool:
    """Whether ``decision`` applies to a request from ``ip`` with agent ``ua``."""
    m, agent = decision.match, ua.strip(" \t").lower()
    if m.kind == "ua_pattern":
        return m.value.strip(" \t").lower() in agent
    if m.kind == "ua_exact":
        return m.value.strip(" \t").lower() == agent
    if m.kind == "client":
        return m.ip == ip and m.value.strip(" \t").lower() == agent
    if m.kind in ("ip", "cidr"):
        try:
            return ipaddress.ip_address(ip) in ipaddress.ip_network(m.value, strict=False)
        except ValueError:
            return False
    return False  # asn: not known per client here


def _blocked(decisions: DecisionSet, ip: str, ua: str) -> bool:
    if any(matches(d, ip, ua) for d in decisions.select("allow", "ua_pattern", "ua_exact", "ip", "cidr", "client")):
        return False
    return any(matches(d, ip, ua) for d in decisions.select("block", "ua_pattern", "ua_exact", "ip", "cidr"))


def impact(clients: Iterable[Mapping[str, Any]], decisions: DecisionSet) -> Impact:
    """Counts per group of clients and requests the decisions would block."""
    totals = {g: [0, 0, 0, 0] for g in GROUPS}
    examples = []
    for client in clients:
        group = client_group(client)
        requests = int(client.get("requests") or 0)
        row = totals[group]
        row[0] += 1
        row[1] += requests
        if _blocked(decisions, str(client.get("ip")), str(client.get("user_agent") or "")):
            row[2] += 1
            row[3] += requests
            if group != "crawlers" and len(examples) < 10:
                examples.append(f"{group}: {client.get('ip')} {str(client.get('user_agent'))[:80]!r}")
    rows = tuple(ImpactRow(g, *totals[g]) for g in GROUPS)
    return Impact(rows, tuple(examples))
