"""botguard.decide.matches: the one answer to whether a rule's match applies to a client."""

from __future__ import annotations

from botguard.decide import Match, matches


def test_agent_rules_read_the_agent_as_sent_and_ignore_case() -> None:
    """A logged \\x22 is the quote the client sent: the rule made from the agent matches it."""
    logged = r"Mozilla/5.0 (compatible; \x22EvilBot\x22/1.0)"
    assert matches(Match("ua_pattern", '"evilbot"'), "192.0.2.1", logged)
    assert matches(Match("ua_exact", ' Mozilla/5.0 (compatible; "EvilBot"/1.0) '), "192.0.2.1", logged)
    assert not matches(Match("ua_pattern", "x22evilbot"), "192.0.2.1", logged)
    assert matches(Match("client", "curl/8.0", "192.0.2.1"), "192.0.2.1", "CURL/8.0")
    assert not matches(Match("client", "curl/8.0", "192.0.2.1"), "192.0.2.2", "curl/8.0")


def test_address_and_as_rules() -> None:
    """CIDRs and addresses by value (garbage never matches); an AS rule only where the AS is known."""
    assert matches(Match("cidr", "203.0.113.0/24"), "203.0.113.9", "x")
    assert matches(Match("ip", "2001:db8::1"), "2001:db8:0::1", "x")
    assert not matches(Match("cidr", "203.0.113.0/24"), "not-an-ip", "x")
    assert matches(Match("asn", "AS16509"), "198.51.100.1", "x", 16509)
    assert matches(Match("asn", "16509"), "198.51.100.1", "x", 16509)
    assert not matches(Match("asn", "AS16509"), "198.51.100.1", "x", None)
    assert not matches(Match("asn", "AS16509"), "198.51.100.1", "x", 16510)
