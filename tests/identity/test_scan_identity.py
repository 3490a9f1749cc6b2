"""botguard scan with identity: spoofed claims blocked, verified crawlers spared, DNS on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import scan_site
from tests.identity.dnsserver import FakeDnsServer

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PETALBOT = "Mozilla/5.0 (compatible;PetalBot;+https://webmaster.petalsearch.com/site/petalbot)"
ROBOTS = "User-agent: *\nDisallow: /private/\n"


def _line(ip: str, path: str, ua: str, second: int, day: str) -> str:
    return f'{ip} - - [{day}:10:00:{second:02d} +0000] "GET {path} HTTP/1.1" 200 5 "-" "{ua}"\n'


def _site(tmp_path: Path, port: int, day: str = "01/Aug/2026") -> dict[str, Path]:
    lines = [
        # a real Googlebot (published range) that strays into /private/
        _line("66.249.66.1", "/robots.txt", GOOGLEBOT, 0, day),
        _line("66.249.66.1", "/private/a", GOOGLEBOT, 1, day),
        # a fake Googlebot with a forged PTR, polite otherwise
        _line("203.0.113.7", "/robots.txt", GOOGLEBOT, 2, day),
        _line("203.0.113.7", "/page", GOOGLEBOT, 3, day),
        # PetalBot over IPv6, genuine by FCrDNS
        _line("2001:db8::1", "/robots.txt", PETALBOT, 4, day),
        _line("2001:db8::1", "/page", PETALBOT, 5, day),
    ]
    log = tmp_path / "access.log"
    log.write_text("".join(lines), encoding="utf-8")
    robots = tmp_path / "robots.txt"
    robots.write_text(ROBOTS, encoding="utf-8")
    config = tmp_path / "botguard.yaml"
    config.write_text(
        f"identity:\n  dns_nameservers: [127.0.0.1]\n  dns_port: {port}\n  dns_timeout: 0.5\n",
        encoding="utf-8",
    )
    return {"log": log, "robots": robots, "config": config, "state": tmp_path / "state.db"}


def _scan(site: dict[str, Path], *extra: str) -> dict[str, Any]:
    return {c["ip"]: c for c in scan_site(site, *extra)["clients"]}


@pytest.fixture()
def site(tmp_path: Path, dns_server: FakeDnsServer) -> dict[str, Path]:
    return _site(tmp_path, dns_server.port)


def test_spoofed_googlebot_is_blocked(site: dict[str, Path]) -> None:
    """A Googlebot user agent from an IP outside Google's ranges whose PTR is forged: block."""
    fake = _scan(site)["203.0.113.7"]
    assert (fake["identity"], fake["verified"], fake["verdict"]) == ("spoofed", False, "block")
    assert fake["reasons"][0] == "claims to be Googlebot but IP is not Google's (range/rDNS)"


def test_verified_googlebot_is_never_blocked_by_default(site: dict[str, Path]) -> None:
    """The real Googlebot broke a robots.txt rule: reported and monitored, not blocked."""
    real = _scan(site)["66.249.66.1"]
    assert (real["identity"], real["verified"], real["verdict"]) == ("verified", True, "monitor")
    assert (
        real["reasons"][0]
        == "verified Googlebot (published range): not blocked by default (policy.block_verified)"
    )
    assert "violated Disallow: /private/ (1 request)" in real["reasons"]
    assert (real["asn"], real["as_org"]) == (15169, "Google LLC")


def test_block_verified_policy_blocks_it(site: dict[str, Path]) -> None:
    site["config"].write_text(
        site["config"].read_text() + "policy:\n  block_verified: true\n", encoding="utf-8"
    )
    assert _scan(site)["66.249.66.1"]["verdict"] == "block"


def test_fcrdns_verifies_a_crawler_without_ranges(site: dict[str, Path]) -> None:
    petal = _scan(site)["2001:db8::1"]
    assert (petal["identity"], petal["verified"], petal["verdict"]) == ("verified", True, "allow")
    assert "verified PetalBot (reverse DNS)" in petal["reasons"]


def test_no_dns_keeps_ranges(site: dict[str, Path], dns_server: FakeDnsServer) -> None:
    """--no-dns: no query is sent; the range miss still proves the fake; PetalBot is unverifiable."""
    clients = _scan(site, "--no-dns", "--no-save")
    assert sum(dns_server.queries.values()) == 0
    assert clients["203.0.113.7"]["identity"] == "spoofed"
    assert (
        clients["203.0.113.7"]["reasons"][0]
        == "claims to be Googlebot but IP is not Google's (published range)"
    )
    assert clients["66.249.66.1"]["identity"] == "verified"
    assert clients["2001:db8::1"]["identity"] == "unverifiable"


def test_dns_answers_are_cached_between_scans(site: dict[str, Path], dns_server: FakeDnsServer) -> None:
    _scan(site)
    asked = sum(dns_server.queries.values())
    assert asked > 0
    _scan(site)
    assert sum(dns_server.queries.values()) == asked


def test_old_logs_are_not_judged_by_todays_lists(tmp_path: Path, dns_server: FakeDnsServer) -> None:
    """A 2015 log: today's ranges and DNS cannot say who held an IP then (no query sent)."""
    clients = _scan(_site(tmp_path, dns_server.port, day="01/Aug/2015"))
    assert clients["203.0.113.7"]["identity"] == "unverifiable"
    assert clients["203.0.113.7"]["verdict"] != "block"
    assert clients["66.249.66.1"]["identity"] == "verified"  # still inside a published range
    assert sum(dns_server.queries.values()) == 0


def test_silent_dns_never_hangs_the_scan(tmp_path: Path) -> None:
    """A nameserver that never answers: the scan finishes within the budget, nothing spoofed by DNS."""
    with FakeDnsServer(
        {}, silent=frozenset({"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"})
    ) as server:
        site = _site(tmp_path, server.port)
        site["config"].write_text(site["config"].read_text() + "  dns_budget: 1\n", encoding="utf-8")
        clients = _scan(site)
    assert clients["2001:db8::1"]["identity"] == "unverifiable"


def test_hosting_network_is_a_reason_not_a_verdict(tmp_path: Path, dns_server: FakeDnsServer) -> None:
    """A browser-UA client from AWS is flagged as from a hosting network in its reasons; the
    network alone never blocks it: by default it is challenged (a person passes, a program must
    run a browser), without `hosting` in policy.challenge it stays monitored; an allowed client
    stays allowed and unflagged."""
    site = _site(tmp_path, dns_server.port)
    browser = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36"
    )
    with site["log"].open("a", encoding="utf-8") as log:
        log.write(_line("3.5.1.1", "/private/x", browser, 6, "01/Aug/2026"))
    clients = _scan(site, "--no-dns")
    aws = clients["3.5.1.1"]
    assert aws["verdict"] == "challenge" and "from a hosting network" in aws["reasons"][0]
    assert aws["reasons"][-1] == "from a hosting network (AS14618 Amazon.com, Inc.)"
    with site["config"].open("a", encoding="utf-8") as config:
        config.write("policy:\n  challenge: [automated, no_referer]\n")
    aws = _scan(site, "--no-dns")["3.5.1.1"]
    assert aws["verdict"] == "monitor"
    assert aws["reasons"][-1] == "from a hosting network (AS14618 Amazon.com, Inc.)"
    assert not any("hosting" in r for r in clients["66.249.66.1"]["reasons"])
