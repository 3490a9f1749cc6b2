"""IP text -> one integer key space for IPv4 and IPv6 (IPv4 as its IPv4-mapped IPv6 address).

One key space lets one sorted table hold both families, and ``::ffff:1.2.3.4`` (how dual-stack
servers log IPv4 clients) finds the same ranges as ``1.2.3.4``.
"""

from __future__ import annotations

import ipaddress

_V4_MAPPED = 0xFFFF << 32


def ip_key(text: str) -> int | None:
    """The key of an IP address, or None when the text is not one (logs hold garbage)."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if address.version == 4:
        return _V4_MAPPED | int(address)
    return int(address)


def network_bounds(text: str) -> tuple[int, int] | None:
    """First and last key of a CIDR or single address, or None when malformed."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    first = int(network.network_address)
    last = int(network.broadcast_address)
    if network.version == 4:
        return _V4_MAPPED | first, _V4_MAPPED | last
    return first, last
