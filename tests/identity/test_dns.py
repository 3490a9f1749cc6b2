"""FCrDNS against a real DNS server on 127.0.0.1: genuine, forged, absent, silent; cache and budget."""

from __future__ import annotations

import time

from botguard.identity.cache import DnsCache
from botguard.identity.dns import DnsOptions, DnsResolver
from botguard.state import State
from tests.identity.dnsserver import FakeDnsServer

GOOGLE = ("googlebot.com", "google.com")


def test_genuine_googlebot_is_forward_confirmed(resolver: DnsResolver) -> None:
    """PTR in googlebot.com and its A record contains the IP: the name is confirmed."""
    answer = resolver.reverse("66.249.66.1")
    assert answer.status == "ok"
    assert answer.confirmed == ("crawl-66-249-66-1.googlebot.com.",)
    assert answer.matches(GOOGLE) == "crawl-66-249-66-1.googlebot.com"


def test_forged_ptr_is_not_confirmed(resolver: DnsResolver) -> None:
    """Anyone can publish a googlebot.com PTR for their IP; the forward lookup exposes it."""
    answer = resolver.reverse("203.0.113.7")
    assert answer.status == "ok"
    assert answer.names == ("crawl-fake.googlebot.com.",)
    assert answer.confirmed == ()
    assert answer.forward == ("192.0.2.1",)
    assert answer.matches(GOOGLE) is None


def test_confirmed_name_outside_the_domains_does_not_match(resolver: DnsResolver) -> None:
    answer = resolver.reverse("203.0.113.8")
    assert answer.confirmed == ("host8.cheap-vps.example.",)
    assert answer.matches(GOOGLE) is None
    assert answer.matches(("example",)) == "host8.cheap-vps.example"


def test_suffix_must_be_a_whole_label(resolver: DnsResolver) -> None:
    """'evilgooglebot.com' does not end with the domain googlebot.com."""
    answer = resolver.reverse("66.249.66.1")
    assert answer.matches(("ooglebot.com",)) is None


def test_nxdomain_is_conclusive(resolver: DnsResolver) -> None:
    answer = resolver.reverse("192.0.2.55")
    assert answer.status == "nxdomain"
    assert answer.names == ()


def test_ipv6_uses_aaaa(resolver: DnsResolver, dns_server: FakeDnsServer) -> None:
    answer = resolver.reverse("2001:db8::1")
    assert answer.matches(("petalsearch.com",)) == "petal-1.petalsearch.com"
    assert dns_server.queries[("petal-1.petalsearch.com.", "AAAA")] == 1


def test_silent_server_times_out_quickly(resolver: DnsResolver) -> None:
    """A server that never answers gives an inconclusive error within the timeout, not a hang."""
    started = time.monotonic()
    answer = resolver.reverse("198.51.100.9")
    assert answer.status == "error"
    assert "timeout" in answer.detail
    assert time.monotonic() - started < 2.0


def test_budget_bounds_a_batch(dns_server: FakeDnsServer) -> None:
    """Lookups still running when the overall budget ends are reported as errors, on time."""
    resolver = DnsResolver(
        DnsOptions(("127.0.0.1",), dns_server.port, timeout=3.0, concurrency=2, budget=0.3)
    )
    started = time.monotonic()
    found = resolver.reverse_many(["198.51.100.9", "66.249.66.1"])
    assert time.monotonic() - started < 1.5
    assert found["198.51.100.9"].status == "error"
    assert "budget" in found["198.51.100.9"].detail
    assert found["66.249.66.1"].status == "ok"


def test_cache_keeps_repeat_lookups_off_the_wire(dns_server: FakeDnsServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Conclusive answers are served from the state DB until their TTL; errors are not cached."""
    now = [1000.0]
    options = DnsOptions(("127.0.0.1",), dns_server.port, timeout=0.3)
    with State(tmp_path / "state.db") as state:
        cache = DnsCache(state, ttl=100, negative_ttl=10, clock=lambda: now[0])
        resolver = DnsResolver(options, cache)
        ips = ["66.249.66.1", "192.0.2.55", "198.51.100.9"]
        first = resolver.reverse_many(ips)
        second = resolver.reverse_many(ips)
        assert first == second
        assert dns_server.queries[("1.66.249.66.in-addr.arpa.", "PTR")] == 1
        assert dns_server.queries[("55.2.0.192.in-addr.arpa.", "PTR")] == 1
        assert dns_server.queries[("9.100.51.198.in-addr.arpa.", "PTR")] >= 2  # errors are asked again
        now[0] += 50  # the NXDOMAIN answer expired, the positive one did not
        resolver.reverse_many(ips)
        assert dns_server.queries[("1.66.249.66.in-addr.arpa.", "PTR")] == 1
        assert dns_server.queries[("55.2.0.192.in-addr.arpa.", "PTR")] == 2
    with State(tmp_path / "state.db") as state:  # survives reopening
        cached = DnsCache(state, clock=lambda: now[0]).get_many(["66.249.66.1"])
        assert cached["66.249.66.1"].confirmed == ("crawl-66-249-66-1.googlebot.com.",)


def test_dead_resolver_is_given_up_quickly() -> None:
    """A resolver that answers nothing: after the first `concurrency` lookups fail, the rest
    are not asked, so 200 IPs cost about one timeout, not the whole budget."""
    ips = [f"198.18.0.{i}" for i in range(200)]
    silent = frozenset(f"{i}.0.18.198.in-addr.arpa" for i in range(200))
    with FakeDnsServer({}, silent) as server:
        resolver = DnsResolver(DnsOptions(("127.0.0.1",), server.port, timeout=0.3, concurrency=8, budget=30))
        started = time.monotonic()
        found = resolver.reverse_many(ips)
        elapsed = time.monotonic() - started
        asked = sum(server.queries.values())
    assert elapsed < 3.0
    assert asked < 100
    assert all(r.status == "error" for r in found.values())
    assert sum("resolver not answering" in r.detail for r in found.values()) >= 150
