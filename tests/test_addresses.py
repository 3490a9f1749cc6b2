"""Spec tables for the one spelling of a client address and the one check of what a rule may name."""

from __future__ import annotations

import ipaddress
import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.addresses import IPV4_RE, AddressError, address_problem, canonical_address, rule_network
from botguard.decide.records import Decision, Match
from botguard.logs._columns import spelled_ipv6


@pytest.mark.parametrize(
    "logged, spelled",
    [
        ("203.0.113.9", "203.0.113.9"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:db8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::FFFF:cb00:7109", "203.0.113.9"),
        ("::1", "::1"),
        ("::", "::"),
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("FE80::1%eth0", "fe80::1%eth0"),
        ("ff02::1", "ff02::1"),
    ],
)
def test_one_spelling_per_address(logged: str, spelled: str) -> None:
    """An address is spelled one way: IPv6 lower-case and compressed, IPv4-mapped as IPv4."""
    assert canonical_address(logged) == spelled


@pytest.mark.parametrize(
    "logged",
    [
        "not-an-ip", "999.1.1.1", "1.2.3.4x", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.4\x00", "\x001.2.3.4",
        "1.2.3.4\n", " 1.2.3.4", "1.2.3.4 ", "-", "", "1.2.3.4%eth0", "fe80::1%", "fe80::1%eth0 x",
        "fe80::1%a;b", "fe80::1%\x00", "2001:db8::g", "2001:db8:::1", "1.2.3.4:80", "[2001:db8::1]",
        "1" * 5000, "١.٢.٣.٤",
    ],
)  # fmt: skip
def test_what_is_not_an_address(logged: str) -> None:
    """Garbage, NUL bytes, ports, padded text and zone ids that are no interface name have no spelling."""
    assert canonical_address(logged) is None


@pytest.mark.parametrize(
    "text", ["0.0.0.0", "9.9.9.9", "10.0.0.1", "199.255.255.255", "250.1.2.3", "203.0.113.9", "1.2.3.4"]
)
def test_ipv4_fast_path_agrees(text: str) -> None:
    """What the logs stage's regex passes unchanged is already its own spelling."""
    assert re.fullmatch(IPV4_RE.strip("^$"), text) and canonical_address(text) == text


@pytest.mark.parametrize(
    "text, network, listed, result",
    [
        ("203.0.113.9", False, False, "203.0.113.9"),
        ("2001:DB8::1", False, False, "2001:db8::1"),
        ("::ffff:203.0.113.9", False, False, "203.0.113.9"),
        ("198.51.100.7/24", True, False, "198.51.100.0/24"),
        ("::ffff:198.51.100.0/120", True, False, "198.51.100.0/24"),
        ("2001:db8::/48", True, False, "2001:db8::/48"),
        ("fe80::1%eth0", False, False, "IPv6 zone id"),
        ("fe80::1%eth0", False, True, "IPv6 zone id"),
        ("fe80::%eth0/64", True, True, "IPv6 zone id"),
        ("::1", False, False, "loopback address"),
        ("127.0.0.2", False, False, "loopback address"),
        ("::ffff:127.0.0.1", False, False, "loopback address"),
        ("fe80::2", False, False, "link-local address"),
        ("169.254.1.1", False, False, "link-local address"),
        ("ff02::1", False, False, "multicast address"),
        ("224.0.0.1", False, False, "multicast address"),
        ("0.0.0.0", False, False, "unspecified address"),
        ("::", False, False, "unspecified address"),
        ("127.0.0.0/24", True, False, "loopback network"),
        ("fe80::/48", True, False, "link-local network"),
        ("0.0.0.0/0", True, False, "unspecified network"),
        ("::1", False, True, "::1"),
        ("127.0.0.0/8", True, True, "127.0.0.0/8"),
        ("fe80::/10", True, True, "fe80::/10"),
        ("not-an-ip", False, False, "not an IP address"),
        ("10.0.0.0/8", False, False, "not an IP address"),
        ("10.0.0.0/33", True, False, "not an IP network"),
        ("1.2.3.4\x00", False, False, "not an IP address"),
    ],
)
def test_what_a_rule_may_name(text: str, network: bool, listed: bool, result: str) -> None:
    """A rule names an address in its one spelling; never a zone id; a special address only when listed."""
    try:
        got = rule_network(text, network=network, listed=listed)
    except AddressError as exc:
        got = exc.message
    assert got == result


@pytest.mark.parametrize(
    "decision, problem",
    [
        (Decision("block", Match("ip", "fe80::1%eth0")), "IPv6 zone id"),
        (Decision("block", Match("ip", "::1"), source="model"), "loopback address"),
        (Decision("throttle", Match("cidr", "127.0.0.0/24"), source="model"), "loopback network"),
        (Decision("block", Match("ip", "203.0.113.9")), None),
        (Decision("allow", Match("ip", "127.0.0.1"), source="config"), None),
        (Decision("allow", Match("client", "curl/8", "::1"), source="config"), None),
        (Decision("allow", Match("client", "curl/8", "fe80::1%eth0"), source="config"), "IPv6 zone id"),
        (Decision("block", Match("ua_pattern", "fe80::1%eth0")), None),
    ],
)
def test_decisions_the_same_check(decision: Decision, problem: str | None) -> None:
    """Decisions go through the same check; the user's allowlist (``config``) may name special networks."""
    assert address_problem(decision) == problem


_GROUP = st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xDB8, 0xABC]) | st.integers(0, 0xFFFF)


@st.composite
def ipv6_spellings(draw: st.DrawFn) -> tuple[int, str]:
    """An IPv6 address and one of its many spellings: any case, padding, any zero run compressed."""
    groups = draw(st.lists(_GROUP, min_size=8, max_size=8))
    if draw(st.booleans()):
        groups[:6] = [0, 0, 0, 0, 0, draw(st.sampled_from([0, 0xFFFF]))]  # IPv4-mapped and ::/96
    texts = [
        draw(st.sampled_from([f"{g:x}", f"{g:X}", f"{g:04x}", f"{g:0{draw(st.integers(1, 4))}x}"]))
        for g in groups
    ]
    runs = [(i, j) for i in range(8) for j in range(i + 1, 9) if all(g == 0 for g in groups[i:j])]
    if runs and draw(st.booleans()):
        i, j = draw(st.sampled_from(runs))
        text = ":".join(texts[:i]) + "::" + ":".join(texts[j:])
    else:
        text = ":".join(texts)
    return int("".join(f"{g:04x}" for g in groups), 16), text


def _ipaddress_spelling(number: int) -> str:
    address = ipaddress.IPv6Address(number)
    return str(address.ipv4_mapped or address)


@settings(max_examples=300, deadline=None)
@given(st.lists(ipv6_spellings(), min_size=1, max_size=40))
def test_any_ipv6_spelling_reads_as_ipaddress_spells_it(cases: list[tuple[int, str]]) -> None:
    """The socket-based reader agrees with :mod:`ipaddress` on every spelling of every address."""
    assert [canonical_address(text) for _, text in cases] == [_ipaddress_spelling(n) for n, _ in cases]


@settings(max_examples=300, deadline=None)
@given(st.lists(ipv6_spellings(), min_size=1, max_size=40))
def test_ipv6_fast_path_passes_only_the_one_spelling(cases: list[tuple[int, str]]) -> None:
    """What the logs stage's IPv6 regexes pass unchanged is already its one spelling; the one spelling
    of an address with at most one run of zero groups (nearly every client) is passed."""
    texts = [text for _, text in cases]
    canonical = [_ipaddress_spelling(n) for n, _ in cases]
    for text, spelled, passed in zip(texts, canonical, spelled_ipv6(pl.Series(texts)).to_list(), strict=True):
        assert not passed or text == spelled, text
    for spelled, passed in zip(canonical, spelled_ipv6(pl.Series(canonical)).to_list(), strict=True):
        one_run = (
            ":" in spelled and not spelled.startswith("::ffff:") and not re.search(r"(^|:)0:0(:|$)", spelled)
        )
        assert passed or not one_run, spelled
