"""A scan's records + policy -> decision set (pure: no I/O, no clock).

Who gets which rule, and why:

* a crawler whose roll-up verdict is ``block`` and that cannot be verified (no published IP
  ranges / reverse DNS) gets user-agent rules on the fewest of its tokens (robots.txt token,
  name, literal catalogue patterns, in that order) that occur in every agent it was seen with:
  IPs of such crawlers rotate, their agents do not. A robots token need not be in the agent
  ("SeekportBot" vs "Seekport Crawler"), so each token is checked against the observed agents;
  agents no safe token covers are blocked by IP;
* a blocked client whose agent declares itself a bot (``agents.declares_bot``: a bot word, a
  ``+http`` URL, a contact address) and that no catalogue entry can verify gets a UA rule too:
  its product name where one is safe (``EvilBot`` of ``EvilBot/1.0``), else its exact agent.
  Its address may rotate, its name does not. Never a name or agent a person or verified bot of
  the same scan sends;
* every blocked client not covered by a crawler's UA rule gets an IP rule; a client of a
  *verifiable* crawler (a fake "Googlebot"), a browser-like, absent, app or HTTP-library agent
  gets only that: a UA rule there would hit the real Googlebot, people or their apps. Only an
  address a rule may name gets one (:func:`botguard.addresses.rule_network`: no zone id, no
  loopback, link-local, unspecified or multicast address; IPv4-mapped IPv6 as IPv4);
* ``monitor`` becomes ``throttle`` the same way, only when ``decide.throttle_monitor`` is on;
* ``challenge`` becomes a challenge of the client's address, or of the exact (address, agent)
  pair where the scan saw a person at that address too (a carrier's NAT, a shared proxy): the
  person keeps the page, the program gets the challenge;
* the allowlist becomes ``allow`` decisions, and block/throttle rules an allowlist entry fully
  covers are dropped (renderers still emit the allows first, so they win on the server too).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from botguard.addresses import AddressError, rule_network
from botguard.config import Allowlist, DecideSettings
from botguard.decide.agents import SELF_DECLARED, declares_bot, rule_tokens
from botguard.decide.records import Action, Decision, DecisionSet, Match, MatchKind
from botguard.decide.safety import AgentText, safe_ua_exact, safe_ua_token
from botguard.judge import SHARED_TOOL_CATEGORIES
from botguard.judge.records import BROWSER, HUMAN, ClientVerdict, CrawlerRollup
from botguard.logs.escapes import unescape

__all__ = [
    "CrawlerInfo",
    "allow_decisions",
    "build_decisions",
    "choose_tokens",
    "covered_by_allowlist",
    "judged_subjects",
]


@dataclass(frozen=True, slots=True)
class CrawlerInfo:
    """What the decide stage needs from a catalogue entry."""

    tokens: tuple[str, ...]  # candidate UA substrings, preferred first
    verifiable: bool


#: Looks a crawler name up in the catalogue; None when the catalogue does not know it.
CrawlerLookup = Callable[[str], CrawlerInfo | None]


def build_decisions(
    clients: Sequence[ClientVerdict],
    crawlers: Iterable[CrawlerRollup],
    lookup: CrawlerLookup,
    allowlist: Allowlist,
    policy: DecideSettings,
) -> DecisionSet:
    """The decisions a scan's clients and crawler roll-ups call for (expiry is set later by the store)."""
    ua_blocked: set[tuple[str | None, str]] = set()  # (crawler name, lower-cased agent) a UA rule covers
    decisions = _crawler_rules(crawlers, clients, lookup, policy, ua_blocked)
    decisions += _declared_rules(clients, lookup, policy, ua_blocked)
    decisions += _ip_rules(clients, lookup, policy, ua_blocked)
    decisions = [d for d in decisions if not covered_by_allowlist(d, allowlist)]
    return DecisionSet.of(decisions + list(allow_decisions(allowlist)))


def allow_decisions(allowlist: Allowlist) -> tuple[Decision, ...]:
    """The allowlist as ``allow`` decisions (no expiry)."""
    out = [
        Decision("allow", Match("ua_pattern", ua), ("allowlist",), "config") for ua in allowlist.user_agents
    ]
    for net in allowlist.networks:
        kind: MatchKind = "ip" if net.num_addresses == 1 else "cidr"
        value = str(net.network_address) if kind == "ip" else str(net)
        out.append(Decision("allow", Match(kind, value), ("allowlist",), "config"))
    out += [
        Decision("allow", Match("client", c.user_agent, c.ip), ("allowlist",), "config")
        for c in allowlist.clients
    ]
    return tuple(out)


def _action_for(verdict: str, policy: DecideSettings) -> Action | None:
    if verdict == "block":
        return "block"
    if verdict == "challenge":
        return "challenge"
    if verdict == "monitor" and policy.throttle_monitor:
        return "throttle"
    return None


def _seen(clients: Sequence[ClientVerdict]) -> tuple[datetime | None, datetime | None]:
    if not clients:
        return None, None
    return min(c.first_seen for c in clients), max(c.last_seen for c in clients)


def _crawler_rules(
    crawlers: Iterable[CrawlerRollup], clients: Sequence[ClientVerdict], lookup: CrawlerLookup,
    policy: DecideSettings, ua_blocked: set[tuple[str | None, str]],
) -> list[Decision]:  # fmt: skip
    by_crawler: dict[str | None, list[ClientVerdict]] = {}
    for c in clients:
        by_crawler.setdefault(c.crawler, []).append(c)
    out = []
    for crawler in crawlers:
        action = _action_for(crawler.verdict, policy)
        info = lookup(crawler.name)
        if action is None or info is None or info.verifiable:
            continue
        name = crawler.name
        mine = by_crawler.get(name, [])
        agents = {(c.user_agent or "").lower() for c in mine}
        tokens, covered = choose_tokens(info.tokens, agents)
        first, last = _seen(mine)
        reason = (
            f"crawler {name} verdict {crawler.verdict}: {crawler.clients} clients, "
            f"{crawler.requests} requests, {crawler.disallowed_requests} disallowed"
        )
        out += [Decision(action, Match("ua_pattern", t), (reason,), "scan", first, last) for t in tokens]
        ua_blocked.update((name, agent) for agent in covered)
    return out


def choose_tokens(candidates: tuple[str, ...], agents: set[str]) -> tuple[list[str], set[str]]:
    """Greedy cover of the observed (lower-cased) agents by safe candidate tokens, in order.

    Examples:
        >>> choose_tokens(("AcmeBot", "Acme Crawler"), {"mozilla/5.0 (compatible; acme crawler)"})
        (['Acme Crawler'], {'mozilla/5.0 (compatible; acme crawler)'})
        >>> choose_tokens(("Google",), {"x google y"})
        ([], set())
    """
    safe = [t for t in candidates if safe_ua_token(t)]
    if not agents:  # no client of it in this scan: the preferred token alone
        return safe[:1], set()
    chosen, remaining = [], set(agents)
    for token in safe:
        hit = {agent for agent in remaining if token.strip().lower() in agent}
        if hit:
            chosen.append(token)
            remaining -= hit
    return chosen, agents - remaining


def _declared_rules(
    clients: Sequence[ClientVerdict], lookup: CrawlerLookup, policy: DecideSettings,
    ua_blocked: set[tuple[str | None, str]],
) -> list[Decision]:  # fmt: skip
    """One UA rule per product name (or exact agent) of the blocked self-declared bots."""
    spared = _Spared.of(clients)
    groups: dict[tuple[str, str], tuple[Action, Match, list[ClientVerdict]]] = {}
    memo: dict[tuple[object, ...], Match | None] = {}  # one answer per distinct agent and its facts
    for client in clients:
        action = _action_for(client.verdict, policy)
        if action is None:
            continue
        facts = (client.user_agent, client.crawler, client.category, client.verified)
        if facts not in memo:
            memo[facts] = _declared_match(client, lookup, ua_blocked, spared)
        if match := memo[facts]:
            groups.setdefault((action, match.key), (action, match, []))[2].append(client)
    out = []
    for action, match, group in groups.values():
        first, last = _seen(group)
        requests = sum(c.requests for c in group)
        reason = f"{SELF_DECLARED}: {len(group)} clients, {requests} requests"
        out.append(Decision(action, match, (reason,), "scan", first, last))
    return out


@dataclass(frozen=True, slots=True)
class _Spared:
    """This scan's people and verified bots, lower-cased as the servers match: no UA rule may hit them."""

    agents: frozenset[str]
    text: AgentText

    @classmethod
    def of(cls, clients: Iterable[ClientVerdict]) -> _Spared:
        agents = frozenset(
            unescape(c.user_agent).strip(" \t").lower()
            for c in clients
            if c.user_agent is not None
            and (c.verified is True or (c.crawler is None and c.category in (HUMAN, BROWSER)))
        )
        return cls(agents, AgentText.of(sorted(agents)))


def _declared_match(
    client: ClientVerdict, lookup: CrawlerLookup, ua_blocked: set[tuple[str | None, str]], spared: _Spared
) -> Match | None:
    """The UA match for a blocked client's self-declared bot agent, or None (IP rule only)."""
    agent, crawler = client.user_agent, client.crawler
    if agent is None:  # the log records no agent: nothing to match by
        return None
    if (crawler, agent.lower()) in ua_blocked or client.verified is True:
        return None
    if client.category in SHARED_TOOL_CATEGORIES or not declares_bot(agent):
        return None
    info = lookup(str(crawler)) if crawler else None
    if info is not None and info.verifiable:  # a fake Googlebot: the name belongs to the real one
        return None
    for token in rule_tokens(agent):
        if not spared.text.contains(token):
            return Match("ua_pattern", token)
    exact = unescape(agent).strip(" \t")
    if safe_ua_exact(exact) and exact.lower() not in spared.agents:
        return Match("ua_exact", exact)
    return None


def _ip_rules(
    clients: Sequence[ClientVerdict],
    lookup: CrawlerLookup,
    policy: DecideSettings,
    ua_blocked: set[tuple[str | None, str]],
) -> list[Decision]:
    """One IP rule per address whose clients need one (merged reasons and times); a challenge at
    an address a person shares is a rule on the (address, agent) pair instead."""
    shared = _people_addresses(clients)
    by_match: dict[tuple[Action, Match], list[ClientVerdict]] = {}
    for client in clients:
        action = _action_for(client.verdict, policy)
        if action is None or (client.crawler, (client.user_agent or "").lower()) in ua_blocked:
            continue
        try:
            ip = rule_network(client.ip)
        except AddressError:  # garbage, a zone id or a loopback/link-local/... address: no rule
            continue
        match = Match("ip", ip)
        if action == "challenge" and ip in shared:
            agent = unescape(client.user_agent or "").strip(" \t")
            if not agent or "\r" in agent or "\n" in agent:
                continue  # nothing tells this client from the person beside it
            match = Match("client", agent, ip)
        by_match.setdefault((action, match), []).append(client)
    out = []
    for (kind, match), group in by_match.items():
        reasons = tuple(sorted({f"{c.crawler or c.category}: {r}" for c in group for r in c.reasons}))
        first, last = _seen(group)
        out.append(Decision(kind, match, reasons[:10], "scan", first, last))
    return out


def _people_addresses(clients: Iterable[ClientVerdict]) -> frozenset[str]:
    """Rule addresses where the scan saw a client that browses like a person and keeps the page
    (one the model raised is challenged itself)."""
    found = set()
    for client in clients:
        if client.crawler is None and client.category == HUMAN and client.verdict in ("allow", "monitor"):
            try:
                found.add(rule_network(client.ip))
            except AddressError:
                continue
    return frozenset(found)


def judged_subjects(clients: Iterable[ClientVerdict]) -> dict[str, datetime]:
    """Match key -> the last time the scan saw that subject, for each address and (address, agent)
    pair a rule could name: a stored challenge of a subject judged again since, and no longer
    challenged, is dropped (:func:`botguard.decide.store.record_decisions`)."""
    seen: dict[str, datetime] = {}
    for client in clients:
        try:
            ip = rule_network(client.ip)
        except AddressError:
            continue
        keys = [Match("ip", ip).key]
        if client.user_agent is not None:
            keys.append(Match("client", unescape(client.user_agent).strip(" \t"), ip).key)
        for key in keys:
            if key not in seen or client.last_seen > seen[key]:
                seen[key] = client.last_seen
    return seen


def covered_by_allowlist(decision: Decision, allowlist: Allowlist) -> bool:
    """A rule the allowlist would override everywhere it could match is not worth emitting."""
    match = decision.match
    if match.kind in ("ip", "cidr"):
        net = ipaddress.ip_network(match.value, strict=False)
        return any(net.version == a.version and net.subnet_of(a) for a in allowlist.networks)  # type: ignore[arg-type]
    if match.kind == "ua_pattern":
        return any(allowed in match.value.lower() for allowed in allowlist.user_agents)
    if match.kind == "client" and match.ip:  # an (address, agent) pair inside an allowed network
        net = ipaddress.ip_network(match.ip, strict=False)
        return any(net.version == a.version and net.subnet_of(a) for a in allowlist.networks)  # type: ignore[arg-type]
    return False
