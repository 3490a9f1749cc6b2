"""Shared decision sets for render tests."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from botguard.config import AllowedClient, Allowlist
from botguard.decide import Decision, DecisionSet, Match, allow_decisions

T0 = datetime(2024, 3, 4, tzinfo=UTC)


def block(kind: str, value: str) -> Decision:
    return Decision("block", Match(kind, value), ("test",), "test", T0, T0)  # type: ignore[arg-type]


def throttle(kind: str, value: str) -> Decision:
    return Decision("throttle", Match(kind, value), ("test",), "test", T0, T0)  # type: ignore[arg-type]


ALLOW = Allowlist(
    user_agents=("friendlymonitor",),
    networks=(ipaddress.ip_network("203.0.113.9/32"), ipaddress.ip_network("198.51.100.0/24")),
    clients=(AllowedClient("127.0.0.1", "curl/7.81.0"),),
)


def standard_set() -> DecisionSet:
    """UA, exact-UA, IP and CIDR blocks, throttles and every allowlist kind.

    Addresses are public test addresses: no rule may name a loopback address from a log (the
    servers of tests/render/servers.py see them through X-Forwarded-For).
    """
    return DecisionSet.of([
        block("ua_pattern", "Bytespider"), block("ua_pattern", "GPTBot"), block("ua_pattern", "curl"),
        block("ua_pattern", "friendlymonitor-evilbot"), block("ua_exact", "ExactBot/1.0"),
        block("ip", "203.0.113.2"), block("cidr", "198.51.100.0/24"), block("ip", "203.0.113.9"),
        throttle("ua_pattern", "AhrefsBot"), throttle("ip", "203.0.113.5"),
        *allow_decisions(ALLOW),
    ])  # fmt: skip


def address_set() -> DecisionSet:
    """Address decisions no rule may carry (whoever built them), beside ones it may."""
    allow = Allowlist(
        networks=(ipaddress.ip_network("127.0.0.1/32"),), clients=(AllowedClient("::1", "curl/8"),)
    )
    return DecisionSet.of([
        Decision("block", Match("ip", "fe80::1%eth0")), Decision("block", Match("ip", "::1")),
        Decision("block", Match("ip", "not-an-ip")), Decision("block", Match("ip", "::ffff:203.0.113.9")),
        Decision("block", Match("ip", "2001:DB8::1")), Decision("block", Match("cidr", "fe80::/48"), source="model"),
        Decision("block", Match("cidr", "::ffff:198.51.100.0/120"), source="model"),
        Decision("throttle", Match("ip", "127.0.0.5")), *allow_decisions(allow),
    ])  # fmt: skip


@pytest.fixture
def decisions() -> DecisionSet:
    return standard_set()
