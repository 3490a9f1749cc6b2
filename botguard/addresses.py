"""Client addresses: the one spelling of an address, and which addresses a rule may name.

Two rules, each decided here and nowhere else:

* :func:`canonical_address` is how an address read from a log is spelled, so one client is one
  key everywhere (aggregation, identity, the model, the allowlist): IPv6 lower-case and
  compressed (``2001:DB8::1`` and ``2001:db8:0:0:0:0:0:1`` are one client), an IPv4-mapped IPv6
  address as the IPv4 address it carries (dual-stack servers log IPv4 clients as
  ``::ffff:203.0.113.9``). Text that is not an address (``999.1.1.1``, ``1.2.3.4x``, a NUL byte)
  has no spelling: the logs stage counts its line as malformed. The logs stage applies it
  column-wise: :data:`IPV4_RE` and the IPv6 regexes pass what is already spelled so (what
  servers log), and only the other distinct values reach Python.
* :func:`rule_network` is whether a rule may name an address or network. ``nginx -t`` and
  ``apache2 -t`` reject an IPv6 zone id (``fe80::1%eth0``), so one such ban would stop every
  deploy; a loopback, link-local, unspecified or multicast address is never a remote client
  (a log that shows one shows a proxy, a health check or a forged field). An address from a
  log never becomes such a rule; networks the user lists in the config may be special
  (``listed=True``), never a zone id. Decision building, the decision store, every renderer
  and the config use it (:func:`address_problem` and :func:`rule_address` for decisions).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import TYPE_CHECKING

from botguard.errors import BotguardError

if TYPE_CHECKING:
    from botguard.decide.records import Decision

__all__ = [
    "IPV4_RE", "IPV6_NOT_SPELLED_RE", "IPV6_SHAPE_RE", "Address", "AddressError", "Network",
    "address_problem", "canonical_address", "rule_address", "rule_network",
]  # fmt: skip

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The fast path: regexes (for polars: Rust syntax, ``$`` is the end of the text) that only pass
# text :func:`canonical_address` leaves as it is (tests/test_addresses.py checks they agree).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: An IPv4 address in its one spelling (no leading zeros). Most log lines match it.
IPV4_RE = rf"^(?:{_OCTET}\.){{3}}{_OCTET}$"
_HEXTET = "(?:[1-9a-f][0-9a-f]{0,3}|0)"


def _groups(count: int, *, exactly: bool = False) -> str:
    """``count`` groups (or, unless ``exactly``, up to ``count``) joined by ":"."""
    if count == 0:
        return ""
    if exactly:
        return rf"{_HEXTET}(?::{_HEXTET}){{{count - 1}}}"
    return rf"(?:{_HEXTET}(?::{_HEXTET}){{0,{count - 1}}})?"


#: The shape of IPv6 in its one spelling: lower-case groups without leading zeros, eight of them
#: or at most six beside one ``::`` (it stands for two or more zero groups) ...
IPV6_SHAPE_RE = (
    "^(?:"
    + "|".join(
        [_groups(8, exactly=True)] + [f"{_groups(n, exactly=True)}::{_groups(6 - n)}" for n in range(7)]
    )
    + ")$"
)
#: ... and none of these: two zero groups in a row or a zero group beside ``::`` (they belong in
#: the ``::``; a spelling with two runs of zeros may be canonical, it just takes the slow path),
#: and IPv4-mapped addresses (spelled as IPv4).
IPV6_NOT_SPELLED_RE = r"(?:^|:)0:0(?::|$)|(?:^|:)0::|::0(?::|$)|^::ffff:"

#: No address (with a zone id) is longer; longer text is not parsed at all.
MAX_ADDRESS_CHARS = 80
#: A zone id as RFC 6874 lets a URI carry it (interface names, numeric indexes).
_ZONE = re.compile(r"[0-9A-Za-z._~-]{1,32}")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_MAPPED_PREFIX = bytes(10) + b"\xff\xff"

#: Networks no rule built from a log may touch, with the word a warning uses.
_SPECIAL: tuple[tuple[str, Network], ...] = tuple(
    (name, ipaddress.ip_network(net))
    for name, net in (
        ("unspecified", "0.0.0.0/32"),
        ("loopback", "127.0.0.0/8"),
        ("link-local", "169.254.0.0/16"),
        ("multicast", "224.0.0.0/4"),
        ("unspecified", "::/128"),
        ("loopback", "::1/128"),
        ("link-local", "fe80::/10"),
        ("multicast", "ff00::/8"),
    )
)


class AddressError(BotguardError):
    """An address or network no rule may name; the message says why in a few words."""


def canonical_address(text: str) -> str | None:
    """The one spelling of a logged client address, or None when the text is not an address.

    The spelling is :mod:`ipaddress`'s, with IPv4-mapped IPv6 as IPv4. A zone id is kept (it is
    part of a link-local address) when it is a plain interface name. Parsed with
    ``socket.inet_pton``/``inet_ntop``, about 10x faster than :mod:`ipaddress`: an IPv6-heavy
    log has tens of thousands of distinct addresses.

    Examples:
        >>> canonical_address("2001:DB8:0:0:0:0:0:1"), canonical_address("::ffff:203.0.113.9")
        ('2001:db8::1', '203.0.113.9')
        >>> [canonical_address(t) for t in ("fe80::1%eth0", "999.1.1.1", "1.2.3.4\\x00")]
        ['fe80::1%eth0', None, None]
    """
    if len(text) > MAX_ADDRESS_CHARS:
        return None
    address, percent, zone = text.partition("%")
    if percent and not _ZONE.fullmatch(zone):
        return None
    try:
        packed = socket.inet_pton(socket.AF_INET6, address)
    except (OSError, ValueError):  # ValueError: a NUL byte
        return None if percent else _ipv4(address)
    if packed[:12] == _MAPPED_PREFIX and not percent:
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    if packed[:12] in (bytes(12), _MAPPED_PREFIX):  # the C library spells these with a dotted quad
        spelled = str(ipaddress.IPv6Address(packed))
    else:
        spelled = socket.inet_ntop(socket.AF_INET6, packed)
    return f"{spelled}%{zone}" if percent else spelled


def _ipv4(text: str) -> str | None:
    try:
        return socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError):
        return None


def rule_network(text: str, *, network: bool = False, listed: bool = False) -> str:
    """The canonical text of an address (or, with ``network``, a CIDR) a rule may name.

    Raises :class:`AddressError` for text that is not one, a zone id, and (unless ``listed``:
    the user named it in the config) an address in a loopback, link-local, unspecified or
    multicast network. IPv4-mapped IPv6 is folded to IPv4, host bits of a network are cleared.

    Examples:
        >>> rule_network("::ffff:203.0.113.9"), rule_network("10.1.2.3/8", network=True)
        ('203.0.113.9', '10.0.0.0/8')
        >>> rule_network("::1")
        Traceback (most recent call last):
        ...
        botguard.addresses.AddressError: loopback address
        >>> rule_network("127.0.0.1", listed=True)
        '127.0.0.1'
    """
    if "%" in text:
        raise AddressError("IPv6 zone id")
    try:
        value: Address | Network = (
            ipaddress.ip_network(text, strict=False) if network else ipaddress.ip_address(text)
        )
    except (ValueError, TypeError):
        raise AddressError("not an IP network" if network else "not an IP address") from None
    value = _folded(value)
    if not listed:
        kind = _special(value)
        if kind:
            raise AddressError(f"{kind} {'network' if network else 'address'}")
    return str(value)


def _folded(value: Address | Network) -> Address | Network:
    """IPv4-mapped IPv6 (``::ffff:a.b.c.d``, a /96 or longer of it) as the IPv4 it carries."""
    if isinstance(value, ipaddress.IPv6Address):
        return value.ipv4_mapped or value
    if isinstance(value, ipaddress.IPv6Network) and value.prefixlen >= 96 and value.subnet_of(_MAPPED):
        first = ipaddress.IPv4Address(int(value.network_address) & 0xFFFFFFFF)
        return ipaddress.IPv4Network((first, value.prefixlen - 96))
    return value


def _special(value: Address | Network) -> str | None:
    net = ipaddress.ip_network(value)
    for name, special in _SPECIAL:
        if net.version == special.version and net.overlaps(special):
            return name
    return None


def address_problem(decision: Decision) -> str | None:
    """Why no rule may carry this decision's address, or None (also for agent-only matches).

    Addresses of ``config`` decisions (the user's allowlist) are ``listed``.

    Examples:
        >>> from botguard.decide.records import Decision, Match
        >>> [address_problem(Decision("block", Match("ip", ip))) for ip in ("fe80::1%eth0", "192.0.2.1")]
        ['IPv6 zone id', None]
    """
    try:
        rule_address(decision)
    except AddressError as exc:
        return exc.message
    return None


def rule_address(decision: Decision) -> str | None:
    """The canonical address or network a decision's rule names (None for agent-only matches).

    Raises :class:`AddressError` when no rule may name it (see :func:`rule_network`).
    """
    match, listed = decision.match, decision.source == "config"
    if match.kind in ("ip", "cidr"):
        return rule_network(match.value, network=match.kind == "cidr", listed=listed)
    if match.kind == "client":
        return rule_network(match.ip or "", listed=listed)
    return None
