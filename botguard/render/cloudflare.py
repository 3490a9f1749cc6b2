"""Cloudflare target: a decision set -> one account IP list + WAF custom rules (pure, no I/O).

The same :class:`~botguard.decide.DecisionSet` the nginx/Apache renderers read becomes:

* the items of an account IP list (default ``botguard_block``): blocked IPs and CIDRs, a bare
  IPv6 address widened to its /64 (Cloudflare rejects longer IPv6 prefixes), at most
  ``max_items`` (10,000 on non-Enterprise plans) chosen by offences, then recency;
* rules for the zone's ``http_request_firewall_custom`` phase, each tagged ``ref`` =
  ``botguard:<name>`` (the machine ownership key the sync relies on) and a description starting
  ``botguard:``. Block by user agent (a substring with ``contains``, an exact agent with ``eq``,
  both on ``lower(http.user_agent)``, which folds A-Z only), by the list, by ASN; challenge
  (and throttle) becomes ``managed_challenge``, by user agent, address, (address, agent) pair
  or ASN: Cloudflare's own challenge, so no botguard serve is needed there.
  Every rule carries the same guard: never ``/robots.txt``, never a Cloudflare-verified bot
  (``not cf.client.bot``, configurable) and never an allowlisted client.

User agents come from logs an attacker writes: :func:`quote` is the one place they enter an
expression, and an agent with control characters or undecodable bytes is left out (reported),
never truncated into a shorter, broader match. So is an address no rule may name (a zone id, a
loopback address: :func:`botguard.addresses.rule_network`).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import ClassVar

from botguard.addresses import AddressError, rule_address
from botguard.decide.records import Decision, DecisionSet
from botguard.render._escape import RenderError
from botguard.render.records import RuleFile

__all__ = [
    "MAX_EXPRESSION", "MAX_ITEMS", "PHASE", "REF_PREFIX", "CloudflareDesired", "CloudflareRenderer",
    "LeftOut", "RuleSpec", "ascii_lower", "canonical_item", "quote", "render_cloudflare",
]  # fmt: skip

PHASE = "http_request_firewall_custom"
REF_PREFIX = "botguard:"
MAX_EXPRESSION = 4096  # characters per rule expression (Cloudflare limit)
MAX_ITEMS = 10_000  # list items per account, all custom lists together (non-Enterprise)
#: Longest user-agent literal kept: a prefix of a substring still matches every agent the whole
#: one did, and 512 characters of an agent are as specific as the rest.
MAX_UA = 512
#: Rule families: label (in refs and descriptions), the decisions' actions, the Cloudflare action.
_FAMILIES = (("block", ("block",), "block"), ("challenge", ("challenge", "throttle"), "managed_challenge"))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One custom rule as botguard wants it; compared field by field with the live rule."""

    ref: str
    description: str
    action: str
    expression: str
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A decision the target could not carry, and why (reported by plan/apply)."""

    value: str
    reason: str


@dataclass(frozen=True, slots=True)
class CloudflareDesired:
    """Everything botguard wants to exist on Cloudflare for one decision set."""

    list_name: str
    items: tuple[str, ...]  # canonical networks, sorted
    rules: tuple[RuleSpec, ...]
    left_out: tuple[LeftOut, ...] = field(default=())

    def to_json(self) -> str:
        """Stable JSON (golden files, ``cloudflare plan --json``)."""
        doc = {
            "list": {"name": self.list_name, "items": list(self.items)},
            "rules": [
                {
                    "ref": r.ref,
                    "description": r.description,
                    "action": r.action,
                    "expression": r.expression,
                    "enabled": r.enabled,
                }
                for r in self.rules
            ],
            "left_out": [{"value": x.value, "reason": x.reason} for x in self.left_out],
        }
        return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


#: Characters no Cloudflare string literal holds (:func:`quote` refuses them): control characters
#: and undecodable bytes (surrogate escapes).
_UNQUOTABLE = re.compile("[\x00-\x1f\x7f\udc80-\udcff]+")


def quote(value: str) -> str:
    """A Cloudflare quoted string literal: ``\\`` -> ``\\\\``, ``"`` -> ``\\"``; nothing else is special.

    Raises :class:`RenderError` for control characters and undecodable bytes (a header never
    carries them legitimately, and the API takes JSON text only).

    Examples:
        >>> print(quote('a"b\\\\c'))
        "a\\"b\\\\c"
    """
    if _UNQUOTABLE.search(value):
        raise RenderError(f"user agent with control characters or invalid UTF-8: {value[:60]!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def canonical_item(value: str) -> str:
    """The form Cloudflare stores: an address or network, IPv6 lower-case and at most a /64.

    Examples:
        >>> canonical_item("2001:DB8::1"), canonical_item("192.0.2.7/32"), canonical_item("10.1.2.3/8")
        ('2001:db8::/64', '192.0.2.7', '10.0.0.0/8')
    """
    net = ipaddress.ip_network(value.strip(), strict=False)
    if net.version == 6 and net.prefixlen > 64:
        net = net.supernet(new_prefix=64)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def _address(decision: Decision, left: list[LeftOut]) -> str | None:
    """The canonical address of an address decision, or None (reported) when no rule may name it."""
    try:
        return rule_address(decision)
    except AddressError as exc:
        left.append(LeftOut((decision.match.ip or decision.match.value)[:60], exc.message))
        return None


def _item_ok(item: str) -> bool:
    net = ipaddress.ip_network(item, strict=False)
    return net.prefixlen >= (8 if net.version == 4 else 12)


def _priority(decision: Decision) -> tuple[int, float, str]:
    last = decision.last_seen or decision.first_seen or _EPOCH
    return (-decision.offences, -last.timestamp(), decision.match.value)


def _list_items(decisions: tuple[Decision, ...], max_items: int) -> tuple[tuple[str, ...], list[LeftOut]]:
    """Canonical items, the most offending and most recent first up to the cap; the rest reported."""
    chosen: dict[str, None] = {}
    left: list[LeftOut] = []
    for decision in sorted(decisions, key=_priority):
        address = _address(decision, left)
        if address is None:
            continue
        item = canonical_item(address)
        if item in chosen:
            continue
        if not _item_ok(item):
            left.append(LeftOut(item, "prefix too short for a Cloudflare IP list"))
        elif len(chosen) >= max_items:
            left.append(LeftOut(item, f"over the {max_items}-item list cap"))
        else:
            chosen[item] = None
    return tuple(sorted(chosen, key=_net_key)), left


def _net_key(value: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(value, strict=False)
    return (net.version, int(net.network_address), net.prefixlen)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(value: str) -> str:
    """What Cloudflare's ``lower()`` does: A-Z only, every other byte unchanged (``Ü`` stays ``Ü``).

    Examples:
        >>> ascii_lower("ÜberBot/İ")
        'Überbot/İ'
    """
    return value.translate(_ASCII_LOWER)


def _ua_term(decision: Decision, left: list[LeftOut]) -> str | None:
    """``lower(http.user_agent) contains "..."`` for a substring; ``eq`` for an exact agent (and the
    agent of an allowlisted client), unless longer than :data:`MAX_UA`: then its first
    characters as a substring (as specific, and still matching the agent)."""
    value = ascii_lower(decision.match.value.strip(" \t"))
    if not value:
        left.append(LeftOut(decision.match.value, "empty user agent would match every client"))
        return None
    exact = decision.match.kind in ("ua_exact", "client") and len(value) <= MAX_UA
    try:
        return f"lower(http.user_agent) {'eq' if exact else 'contains'} {quote(value[:MAX_UA])}"
    except RenderError as exc:
        left.append(LeftOut(decision.match.value[:60], exc.message))
        return None


def _pair_term(decision: Decision, left: list[LeftOut]) -> str | None:
    """``(ip.src eq ADDRESS and lower(http.user_agent) eq "...")`` for an (address, agent) pair."""
    address = _address(decision, left)
    term = _ua_term(decision, left) if address else None
    return _with_address(address, term) if address and term else None


def _with_address(address: str | None, term: str) -> str:
    """``term`` for requests from ``address`` only (any address when there is none)."""
    return f"(ip.src eq {address} and {term})" if address else term


def _allow_term(decision: Decision, left: list[LeftOut]) -> str | None:
    """The allowlist guard's term for an allowed agent (or (address, agent) pair): as a rule's,
    except that an agent holding characters no string literal can (a tab inside an agent is valid
    HTTP) is matched by every part between them (reported): the exemption may grow, it never
    misses the allowlisted client, as leaving the agent out of the guard would."""
    address = _address(decision, []) if decision.match.kind == "client" else None
    if decision.match.kind == "client" and address is None:
        return None
    term = _ua_term(decision, [])
    if term is None:
        value = ascii_lower(decision.match.value.strip(" \t"))
        parts = [part[:MAX_UA] for part in _UNQUOTABLE.split(value) if part]
        if not parts:
            left.append(LeftOut(decision.match.value[:60], "allowlisted agent of control characters only"))
            return None
        why = "allowlisted agent with control characters: exempted by the text between them"
        left.append(LeftOut(decision.match.value[:60], why + " (Cloudflare strings cannot hold them)"))
        term = "(" + " and ".join(f"lower(http.user_agent) contains {quote(p)}" for p in parts) + ")"
    return _with_address(address, term)


def _asn(decision: Decision, left: list[LeftOut]) -> int | None:
    """``AS64500`` or ``64500`` as a number; anything else is reported, not guessed."""
    text = decision.match.value.strip().upper().removeprefix("AS")
    if text.isascii() and text.isdigit() and 0 < int(text) < 2**32:
        return int(text)
    left.append(LeftOut(decision.match.value[:60], "not an AS number"))
    return None


def _guard(decisions: DecisionSet, guard_bots: bool, left: list[LeftOut]) -> str:
    """Conditions every botguard rule shares: robots.txt, verified bots and allowlist exempt."""
    parts = ['http.request.uri.path ne "/robots.txt"']
    if guard_bots:
        parts.append("not cf.client.bot")
    allow = [
        term for d in decisions.select("allow", "ua_pattern", "ua_exact") if (term := _allow_term(d, left))
    ]
    nets = sorted(
        {canonical_item(a) for d in decisions.select("allow", "ip", "cidr") if (a := _address(d, []))},
        key=_net_key,
    )
    if nets:
        allow.append("ip.src in {" + " ".join(nets) + "}")
    allow += [term for d in decisions.select("allow", "client") if (term := _allow_term(d, left))]
    if allow:
        parts.append("not (" + " or ".join(allow) + ")")
    guard = " and ".join(parts)
    if len(guard) > MAX_EXPRESSION // 2:
        raise RenderError(
            f"allowlist too long for Cloudflare rules ({len(guard)} characters of {MAX_EXPRESSION})"
        )
    return guard


def _chunk(guard: str, terms: list[str], joiner: str, wrap: tuple[str, str]) -> list[str]:
    """Expressions ``guard and (<wrap[0]>t1<joiner>t2...<wrap[1]>)``, each at most MAX_EXPRESSION."""
    head, tail = f"{guard} and ({wrap[0]}", f"{wrap[1]})"
    out: list[list[str]] = []
    size = 0
    for term in terms:
        extra = len(term) + (len(joiner) if out and out[-1] else 0)
        if not out or len(head) + size + extra + len(tail) > MAX_EXPRESSION:
            out.append([])
            size, extra = 0, len(term)
        out[-1].append(term)
        size += extra
    return [head + joiner.join(chunk) + tail for chunk in out]


def _rules_for(name: str, what: str, action: str, expressions: list[str]) -> list[RuleSpec]:
    n = len(expressions)
    return [RuleSpec(f"{REF_PREFIX}{name}-{i}", f"botguard: {what} ({i}/{n})", action, expr)
            for i, expr in enumerate(expressions, 1)]  # fmt: skip


def render_cloudflare(
    decisions: DecisionSet,
    list_name: str = "botguard_block",
    guard_bots: bool = True,
    max_items: int = MAX_ITEMS,
) -> CloudflareDesired:
    """The Cloudflare objects for ``decisions`` (pure: same input, same output).

    Examples:
        >>> from botguard.decide.records import Decision, DecisionSet, Match
        >>> ds = DecisionSet.of([Decision("block", Match("ua_pattern", 'Evil"Bot'))])
        >>> print(render_cloudflare(ds).rules[0].expression)  # doctest: +NORMALIZE_WHITESPACE
        http.request.uri.path ne "/robots.txt" and not cf.client.bot
        and (lower(http.user_agent) contains "evil\\"bot")
    """
    left: list[LeftOut] = []
    guard = _guard(decisions, guard_bots, left)
    items, dropped = _list_items(decisions.select("block", "ip", "cidr"), max_items)
    left += dropped
    rules: list[RuleSpec] = []
    for label, verdicts, action in _FAMILIES:

        def select(*kinds: str, verdicts: tuple[str, ...] = verdicts) -> list[Decision]:
            return [d for verdict in verdicts for d in decisions.select(verdict, *kinds)]

        uas = [t for d in select("ua_pattern", "ua_exact") if (t := _ua_term(d, left))]
        uas = list(dict.fromkeys(uas))
        if uas:
            rules += _rules_for(
                f"{label}-ua", f"{label} by user agent", action, _chunk(guard, uas, " or ", ("", ""))
            )
        if label == "block" and items:
            rules.append(RuleSpec(f"{REF_PREFIX}block-list", f"botguard: block IPs in ${list_name}", action,
                                  f"{guard} and ip.src in ${list_name}"))  # fmt: skip
        if label == "challenge":
            nets = sorted(
                {canonical_item(a) for d in select("ip", "cidr") if (a := _address(d, left))}, key=_net_key
            )
            if nets:
                exprs = _chunk(guard, nets, " ", ("ip.src in {", "}"))
                rules += _rules_for(f"{label}-ip", f"{label} by IP", action, exprs)
            pairs = list(dict.fromkeys(t for d in select("client") if (t := _pair_term(d, left))))
            if pairs:
                exprs = _chunk(guard, pairs, " or ", ("", ""))
                rules += _rules_for(f"{label}-client", f"{label} by IP and user agent", action, exprs)
        asns = sorted({n for d in select("asn") if (n := _asn(d, left)) is not None})
        if asns:
            exprs = _chunk(guard, [str(a) for a in asns], " ", ("ip.src.asnum in {", "}"))
            rules += _rules_for(f"{label}-asn", f"{label} by ASN", action, exprs)
    return CloudflareDesired(list_name, items, tuple(rules), tuple(left))


@dataclass(frozen=True, slots=True)
class CloudflareRenderer:
    """:class:`~botguard.render.base.Renderer` view: ``cloudflare.json`` (golden files, dry runs)."""

    list_name: str = "botguard_block"
    guard_bots: bool = True
    name: str = "cloudflare"
    #: Renderer contract checks that cannot apply here: the output is JSON naming API objects, not
    #: a server file, and a decision the API cannot carry is left out and reported, not raised.
    contract_skips: ClassVar[Mapping[str, str]] = MappingProxyType({
        "check_escapes_hostile_ua": "an agent enters an expression as a string literal through quote() (only "
        "backslash and double quote are special), not as server regex byte escapes; "
        "tests/deploy/cloudflare/test_hostile.py reads every expression back",
        "check_rejects_crlf": "an agent with control characters is left out and reported in left_out, so the "
        "other rules still sync (tests/deploy/cloudflare/test_render.py)",
        "check_rejects_empty_agent": "a blank agent is left out and reported in left_out, so the other rules "
        "still sync (tests/deploy/cloudflare/test_render.py)",
        "check_never_names_an_address_no_rule_may_name": "left_out names each address it drops, and an IPv6 "
        "address is listed as its /64; tests/deploy/cloudflare/test_render.py checks the list and rules",
    })  # fmt: skip

    def render(self, decisions: DecisionSet) -> tuple[RuleFile, ...]:
        desired = render_cloudflare(decisions, self.list_name, self.guard_bots)
        return (RuleFile("cloudflare.json", desired.to_json()),)
