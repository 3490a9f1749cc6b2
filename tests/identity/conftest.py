"""Fixtures: a DNS server on 127.0.0.1 with genuine, spoofed, silent and absent records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from botguard.identity.dns import DnsOptions, DnsResolver
from tests.identity.dnsserver import FakeDnsServer

#: 66.249.66.1 is a real Googlebot: PTR in googlebot.com, forward back to the IP.
#: 203.0.113.7 claims a googlebot.com name whose forward record points elsewhere.
#: 203.0.113.8 has a PTR outside Google's domains. 198.51.100.9 times out; others: NXDOMAIN.
#: 203.0.113.50 is a Googlebot outside the bundled ranges (a new range): FCrDNS proves it.
#: 2001:db8::1 is a genuine PetalBot over IPv6 (AAAA forward check).
RECORDS = {
    ("1.66.249.66.in-addr.arpa", "PTR"): ["crawl-66-249-66-1.googlebot.com."],
    ("crawl-66-249-66-1.googlebot.com", "A"): ["66.249.66.1"],
    ("7.113.0.203.in-addr.arpa", "PTR"): ["crawl-fake.googlebot.com."],
    ("crawl-fake.googlebot.com", "A"): ["192.0.2.1"],
    ("8.113.0.203.in-addr.arpa", "PTR"): ["host8.cheap-vps.example."],
    ("host8.cheap-vps.example", "A"): ["203.0.113.8"],
    ("50.113.0.203.in-addr.arpa", "PTR"): ["crawl-203-0-113-50.googlebot.com."],
    ("crawl-203-0-113-50.googlebot.com", "A"): ["203.0.113.50", "203.0.113.51"],
    ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR"): [
        "petal-1.petalsearch.com."
    ],
    ("petal-1.petalsearch.com", "AAAA"): ["2001:db8::1"],
}
SILENT = frozenset({"9.100.51.198.in-addr.arpa"})


@pytest.fixture()
def dns_server() -> Iterator[FakeDnsServer]:
    with FakeDnsServer(RECORDS, SILENT) as server:
        yield server


@pytest.fixture()
def resolver(dns_server: FakeDnsServer) -> DnsResolver:
    """A resolver that only ever asks the local test server (never the internet)."""
    return DnsResolver(DnsOptions(nameservers=("127.0.0.1",), port=dns_server.port, timeout=0.3, budget=5.0))
