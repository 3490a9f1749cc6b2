"""Dry-run impact: replay the scanned clients through a decision set, as the server would.

Semantics match the renderers: UA rules are case-insensitive substrings (``ua_exact``: the
whole agent), IP rules exact addresses or CIDRs, allow rules win, block rules come before
challenge rules, ``/robots.txt`` is exempt (not visible per client here, so counted as blocked
or challenged). Agents are read as the client sent them
(log escapes such as ``\\x22`` decoded, as the rules were made). Clients are split into humans
(browser agents judged human or too quiet to tell), verified good bots (identity verified) and
the rest.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from botguard.config import Allowlist
from botguard.decide import allow_decisions, matches
from botguard.decide.records import KINDS, Decision, DecisionSet
from botguard.deploy.records import Impact, ImpactRow
from botguard.judge.records import ClientVerdict
from botguard.logs.escapes import unescape
from botguard.text import printable

__all__ = ["GROUPS", "client_group", "impact", "looks_like_a_person", "model_impact"]

GROUPS = ("humans", "verified good bots", "crawlers")
HUMAN_CATEGORIES = frozenset({"human", "browser"})


def client_group(client: ClientVerdict) -> str:
    """Which of :data:`GROUPS` a scan client belongs to."""
    if client.verified is True:
        return "verified good bots"
    if client.crawler is None and client.category in HUMAN_CATEGORIES:
        return "humans"
    return "crawlers"


class _Rules:
    """One action's decisions compiled for fast replay: sets for exact values, one regex for
    all UA substrings, memoised per distinct agent (same answers as :func:`botguard.decide.matches`)."""

    def __init__(self, decisions: tuple[Decision, ...]) -> None:
        def norm(value: str) -> str:
            return value.strip(" \t").lower()

        patterns = sorted({norm(d.match.value) for d in decisions if d.match.kind == "ua_pattern"})
        self.ua_regex = re.compile("|".join(map(re.escape, patterns))) if patterns else None
        self.ua_exact = {norm(d.match.value) for d in decisions if d.match.kind == "ua_exact"}
        self.clients = {(d.match.ip, norm(d.match.value)) for d in decisions if d.match.kind == "client"}
        self.ips = {str(ipaddress.ip_address(d.match.value)) for d in decisions if d.match.kind == "ip"}
        self.nets = [
            ipaddress.ip_network(d.match.value, strict=False) for d in decisions if d.match.kind == "cidr"
        ]
        self._ua_memo: dict[str, bool] = {}

    def _ua(self, agent: str) -> bool:
        hit = self._ua_memo.get(agent)
        if hit is None:
            hit = agent in self.ua_exact or bool(self.ua_regex and self.ua_regex.search(agent))
            self._ua_memo[agent] = hit
        return hit

    def hit(self, ip: str, ua: str) -> bool:
        agent = ua.strip(" \t").lower()
        if self._ua(agent) or (ip, agent) in self.clients or ip in self.ips:
            return True
        if self.nets:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                return False
            return any(address in net for net in self.nets)
        return False


def impact(clients: Iterable[ClientVerdict], decisions: DecisionSet) -> Impact:
    """Counts per group of clients and requests the decisions would block, and challenge."""
    allow, block = _Rules(decisions.select("allow", *KINDS)), _Rules(decisions.select("block", *KINDS))
    challenge = _Rules(decisions.select("challenge", *KINDS))
    totals = {g: [0, 0, 0, 0, 0, 0] for g in GROUPS}
    examples: list[str] = []
    people = 0
    for client in clients:
        group = client_group(client)
        row = totals[group]
        row[0] += 1
        row[1] += client.requests
        ip, ua = client.ip, unescape(client.user_agent or "")
        if allow.hit(ip, ua):
            continue
        if block.hit(ip, ua):
            row[2] += 1
            row[3] += client.requests
            if group != "crawlers" and len(examples) < 10:
                agent = client.user_agent  # None: the log records no agent
                shown = "(user agent not logged)" if agent is None else repr(agent[:80])
                examples.append(f"{group}: {client.ip} {shown}")
        elif challenge.hit(ip, ua):
            row[4] += 1
            row[5] += client.requests
            people += looks_like_a_person(client)
    rows = tuple(ImpactRow(g, *totals[g]) for g in GROUPS)
    return Impact(rows, tuple(examples), people)


def looks_like_a_person(client: ClientVerdict) -> bool:
    """Browses like a person (loads assets or follows links), or a browser agent the per-client
    rules left alone (a challenge reaches it only through another client's rule)."""
    if client.crawler is not None:
        return False
    return client.category == "human" or (
        client.category == "browser" and client.verdict in ("allow", "monitor")
    )


def model_impact(
    clients: Sequence[ClientVerdict], model: list[Decision], allowlist: Allowlist, limit: int = 10
) -> Impact:
    """What the model's rules alone would block in the scanned traffic (the allowlist applied):
    counts per group and the first ``limit`` clients, so a reviewer sees which clients an approval
    hits before it ships (deploy-rules --dry-run)."""
    allow = allow_decisions(allowlist)
    counts = impact(clients, DecisionSet.of(model + list(allow)))
    examples: list[str] = []
    for client in clients:
        ip, agent = client.ip, client.user_agent or ""
        if any(matches(d.match, ip, agent) for d in model) and not any(
            matches(a.match, ip, agent) for a in allow
        ):
            examples.append(f"{client_group(client)}: {printable(ip, 45)} {printable(agent, 80)!r}")
            if len(examples) >= limit:
                break
    return Impact(counts.rows, tuple(examples))
