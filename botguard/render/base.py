"""The renderer extension point and the template every text target shares.

A renderer is a pure function of a :class:`~botguard.decide.DecisionSet`: same decisions, same
bytes (no clock, no attacker text in comments, ASCII only). :class:`TextRenderer` does the
common work — group by action and match kind, sort, dedupe, escape, truncate, chunk — and a
target only supplies a table of ClassVars and :meth:`TextRenderer.finalize`. An address no rule
may name (:func:`botguard.addresses.rule_network`: a zone id fails ``nginx -t``) is left out,
whoever built the decision set.

To add a target:
  1. subclass :class:`TextRenderer` in ``botguard/render/<target>.py``; set ``name``,
     ``comment_prefix``, ``max_token`` (longest regex the server's tokenizer takes) and, if its
     parser differs, ``literal`` / ``byte_escape``;
  2. implement ``finalize(groups) -> tuple[RuleFile, ...]`` wrapping :class:`Groups` in the
     file's boilerplate (use :meth:`alternations` where the engine benefits from packing);
  3. register an instance in ``botguard/render/__init__.py`` :func:`renderers`; deploy can then
     use it and the contract tests in ``tests/render/test_contracts.py`` run against it (a
     check that cannot apply to the target is named in its ``contract_skips``, with the reason).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from botguard.addresses import AddressError, rule_address
from botguard.decide.records import Decision, DecisionSet, Match
from botguard.render._escape import (
    BYTE_ESCAPE,
    LITERAL_BYTES,
    RenderError,
    escape_units,
)
from botguard.render.records import RuleFile

__all__ = ["Combined", "Groups", "Renderer", "TextRenderer"]


@runtime_checkable
class Renderer(Protocol):
    """Anything that turns a decision set into rule files.

    ``name`` is read-only: a target names itself (a ClassVar or a frozen field both satisfy it).
    """

    @property
    def name(self) -> str:
        """The target's registry name (``nginx``, ``apache``, ``cloudflare``)."""
        ...

    def render(self, decisions: DecisionSet) -> tuple[RuleFile, ...]:
        """The files for this target (pure: same input, same bytes)."""
        ...


@dataclass(frozen=True, slots=True)
class Combined:
    """Several renderers' files for one target (a server's block rules and its challenge routing):
    one file set, so deploy checks, swaps, reloads and rolls them back together."""

    name: str
    parts: tuple[Renderer, ...]

    def render(self, decisions: DecisionSet) -> tuple[RuleFile, ...]:
        return tuple(f for part in self.parts for f in part.render(decisions))


@dataclass(frozen=True, slots=True)
class Groups:
    """A decision set split the way server configs need it; regexes already escaped."""

    allow_ua: tuple[str, ...]
    allow_ip: tuple[str, ...]
    allow_client: tuple[tuple[str, str], ...]  # (IP regex, UA regex), both anchored
    block_ua: tuple[str, ...]
    block_ip: tuple[str, ...]
    throttle_ua: tuple[str, ...]
    throttle_ip: tuple[str, ...]
    unsupported: int  # decisions this kind of target cannot express (ASN)
    counts: tuple[int, int, int]  # block, throttle, allow decisions

    @property
    def empty(self) -> bool:
        return not (self.block_ua or self.block_ip or self.throttle_ua or self.throttle_ip)


def _ip_sort_key(value: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(value, strict=False)
    return (net.version, int(net.network_address), net.prefixlen)


def _address(decision: Decision) -> str | None:
    """The canonical address of an address decision; None when no rule may name it (a zone id
    fails ``nginx -t``): such a decision is left out here too, whoever built the set."""
    try:
        return rule_address(decision)
    except AddressError:
        return None


class TextRenderer:
    """Template method: :meth:`render` = :meth:`group` then :meth:`finalize`."""

    name: ClassVar[str] = "text"
    comment_prefix: ClassVar[str] = "#"
    literal: ClassVar[frozenset[int]] = LITERAL_BYTES
    byte_escape: ClassVar[str] = BYTE_ESCAPE
    #: Longest regex token the target's config parser accepts (nginx fails at ~4 KB).
    max_token: ClassVar[int] = 3800
    #: Regex for optional spaces/tabs around an exact agent, in the target's escaping.
    optional_whitespace: ClassVar[str] = "(?:\\x09|\\x20)*"

    def render(self, decisions: DecisionSet) -> tuple[RuleFile, ...]:
        return self.finalize(self.group(decisions))

    def finalize(self, groups: Groups) -> tuple[RuleFile, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------ shared steps

    def header(self, groups: Groups, include_hint: str) -> str:
        """Comment lines at the top of every file (counts only: no attacker text, no clock)."""
        block, throttle, allow = groups.counts
        p = self.comment_prefix
        lines = [
            f"{p} Generated by botguard deploy-rules: do not edit, the next run overwrites it.",
            f"{p} {block} block, {throttle} throttle, {allow} allow decisions. {include_hint}",
        ]
        if groups.unsupported:
            lines.append(f"{p} {groups.unsupported} ASN decisions are not enforceable in this target.")
        return "\n".join(lines) + "\n"

    def ua_regex(self, decision: Decision) -> str:
        """Escaped regex for a UA match; an over-long agent keeps its first ``max_token/2`` bytes.

        A prefix of a substring still matches every agent the whole one did, and 1.9 KB of an
        agent is as specific as the rest, so truncation never lets the agent through.
        """
        # Servers differ on a header value's surrounding whitespace (Apache strips spaces and
        # tabs, nginx only spaces), so rules never require it: a substring rule is stripped (still
        # a substring), an exact rule allows any run of it at both ends.
        value = decision.match.value.strip(" \t")
        if not value:
            raise RenderError(f"empty user-agent {decision.match.kind} would match every client")
        units = escape_units(value, self.literal, self.byte_escape)
        budget, kept, size = self.max_token // 2, [], 0
        for unit in units:
            if size + len(unit) > budget:
                break
            kept.append(unit)
            size += len(unit)
        body = "".join(kept)
        if decision.match.kind in ("ua_exact", "client"):
            ows = self.optional_whitespace
            return "^" + ows + body + (ows + "$" if len(kept) == len(units) else "")
        return body

    def ip_regex(self, ip: str) -> str:
        """An exact-address regex (for targets that match IPs only by regex)."""
        return (
            "^" + "".join(escape_units(str(ipaddress.ip_address(ip)), self.literal, self.byte_escape)) + "$"
        )

    def alternations(self, regexes: tuple[str, ...], prefix: str = "") -> list[str]:
        """Pack regexes into ``prefix(?:a|b|...)`` tokens of at most ``max_token`` bytes."""
        chunks: list[list[str]] = []
        size = 0
        overhead = len(prefix) + len("(?:)")
        for regex in regexes:
            if not chunks or size + len(regex) + 1 + overhead > self.max_token:
                chunks.append([])
                size = 0
            chunks[-1].append(regex)
            size += len(regex) + 1
        return [prefix + "(?:" + "|".join(chunk) + ")" for chunk in chunks]

    def exact_alternations(self, agents: Iterable[str], prefix: str = "") -> list[str]:
        """Exact agents (case-insensitive, as :meth:`ua_regex` matches them) packed into
        ``prefix^ows(?:...)`` tokens of at most ``max_token`` bytes, each a prefix tree: a prefix
        the agents share is compared once, not once per agent. Real agents share long prefixes
        (``Mozilla/5.0 (X11; Linux x86_64) ...``): as a plain alternation, 100 of them cost nginx
        about 15% of its requests per second for every client that is none of them.

        Examples:
            >>> from botguard.render.nginx import NginxRenderer
            >>> NginxRenderer().exact_alternations(["Evil/1", "evil/2", "EvilBot"], "~*")
            ['~*^(?:\\\\x09|\\\\x20)*evil(?:\\\\x2f(?:1(?:\\\\x09|\\\\x20)*$|2(?:\\\\x09|\\\\x20)*$)|bot(?:\\\\x09|\\\\x20)*$)']
        """
        ows, end = self.optional_whitespace, self.optional_whitespace + "$"
        budget = self.max_token // 2
        whole: dict[tuple[str, ...], None] = {}
        long: list[str] = []  # longer than a token may hold: ua_regex keeps its prefix
        for agent in agents:
            units = escape_units(agent.strip(" \t"), self.literal, self.byte_escape)
            if not units:
                raise RenderError("empty user-agent ua_exact would match every client")
            if sum(map(len, units)) > budget:
                long.append(self.ua_regex(Decision("block", Match("ua_exact", agent))))
            else:
                whole[tuple(u.lower() for u in units)] = None
        room = self.max_token - len(prefix) - len("^" + ows + "(?:)")
        chunks: list[list[tuple[str, ...]]] = []
        size = room + 1
        for agent_units in sorted(whole):
            cost = sum(map(len, agent_units)) + len(end) + 1  # an upper bound on what it adds to the tree
            if size + cost > room:
                chunks.append([])
                size = 0
            chunks[-1].append(agent_units)
            size += cost
        return [prefix + "^" + ows + _tree_regex(chunk, end) for chunk in chunks] + [prefix + r for r in long]

    def group(self, decisions: DecisionSet) -> Groups:
        """Split, escape, sort and dedupe (decisions arrive sorted; escaping can merge values)."""

        def uas(action: str) -> tuple[str, ...]:
            return tuple(
                dict.fromkeys(self.ua_regex(d) for d in decisions.select(action, "ua_pattern", "ua_exact"))
            )

        def ips(action: str) -> tuple[str, ...]:
            values = {ip for d in decisions.select(action, "ip", "cidr") if (ip := _address(d))}
            return tuple(sorted(values, key=_ip_sort_key))

        clients = tuple(
            dict.fromkeys(
                (self.ip_regex(ip), self.ua_regex(d))
                for d in decisions.select("allow", "client")
                if (ip := _address(d))
            )
        )
        counts = tuple(
            sum(1 for d in decisions.decisions if d.action == a) for a in ("block", "throttle", "allow")
        )
        return Groups(
            allow_ua=uas("allow"), allow_ip=ips("allow"), allow_client=clients,
            block_ua=uas("block"), block_ip=ips("block"),
            throttle_ua=uas("throttle"), throttle_ip=ips("throttle"),
            unsupported=sum(1 for d in decisions.decisions if d.match.kind == "asn"),
            counts=counts,  # type: ignore[arg-type]
        )  # fmt: skip


def _tree_regex(agents: list[tuple[str, ...]], end: str) -> str:
    """The escaped units of ``agents`` as one regex that branches only where they differ."""
    root: dict[str | None, dict] = {}
    for units in agents:
        node = root
        for unit in units:
            node = node.setdefault(unit, {})
        node[None] = {}  # the agent ends here
    return _branch(root, end)


def _branch(node: dict[str | None, dict], end: str) -> str:
    alternatives = []
    for first, after in sorted(node.items(), key=lambda item: (item[0] is not None, item[0] or "")):
        if first is None:
            alternatives.append(end)
            continue
        text, child = first, after
        while len(child) == 1 and None not in child:  # a chain without a branch: one literal run
            ((unit, child),) = child.items()
            text += str(unit)
        alternatives.append(text + _branch(child, end))
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
