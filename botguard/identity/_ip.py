"""IP text -> one integer key space for IPv4 and IPv6 (IPv4 as its IPv4-mapped IPv6 address).

One key space lets one sorted table hold both families, and ``::ffff:1.2.3.4`` (how dual-stack
servers log IPv4 clients) finds the same ranges as ``1.2.3.4``. Parsing uses
``socket.inet_pton`` (about 10x faster than ``ipaddress``: a 1M-line log has ~35k distinct IPs).
"""

from __future__ import annotations

import socket

_V4_MAPPED = 0xFFFF << 32
_V6_BITS = 128


def ip_key(text: str) -> int | None:
    """The key of an IP address, or None when the text is not one (logs hold garbage)."""
    try:
        return _V4_MAPPED | int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, TypeError, ValueError):  # ValueError: an embedded NUL byte
        pass
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text.split("%", 1)[0]), "big")
    except (OSError, TypeError, ValueError):
        return None


def network_bounds(text: str) -> tuple[int, int] | None:
    """First and last key of a CIDR or single address (host bits ignored), or None when malformed."""
    address, _, prefix = text.strip().partition("/")
    first = ip_key(address)
    if first is None:
        return None
    bits = 32 if first >> 32 == 0xFFFF and ":" not in address else _V6_BITS
    try:
        length = int(prefix) if prefix else bits
    except ValueError:
        return None
    if not 0 <= length <= bits:
        return None
    host = (1 << (bits - length)) - 1
    return first & ~host, (first & ~host) | host
