"""botguard verify: the evidence for one IP, against the DNS server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.identity.dnsserver import FakeDnsServer

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.fixture()
def args(tmp_path: Path, dns_server: FakeDnsServer) -> list[str]:
    config = tmp_path / "botguard.yaml"
    config.write_text(
        f"identity:\n  dns_nameservers: [127.0.0.1]\n  dns_port: {dns_server.port}\n  dns_timeout: 0.5\n"
    )
    return ["--config", str(config), "--state", str(tmp_path / "state.db")]


def _fields(stdout: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        label, _, value = line.partition("  ")
        fields.setdefault(label.strip(), []).append(value.strip())
    return fields


def test_genuine_googlebot_shows_range_ptr_forward_and_asn(args: list[str]) -> None:
    r = run_cli("verify", "66.249.66.1", "--ua", GOOGLEBOT, *args)
    assert r.exit_code == 0, r.output
    f = _fields(r.stdout)
    assert f["identity"] == ["verified (published range)"]
    assert f["range"] == [
        "googlebot: 66.249.66.0/27 (from https://developers.google.com/static/crawling/ipranges/common-crawlers.json, 2026-08-20)"
    ]
    assert f["ptr"] == ["crawl-66-249-66-1.googlebot.com."]
    assert f["forward"] == ["66.249.66.1 (confirms crawl-66-249-66-1.googlebot.com.)"]
    assert f["network"] == ["AS15169 Google LLC; country unknown; not a known hosting network"]
    assert "DB-IP.com (CC-BY-4.0)" in r.stdout  # attribution wherever ASN data is shown


def test_forged_ptr_is_exposed(args: list[str]) -> None:
    r = run_cli("verify", "203.0.113.7", "--ua", GOOGLEBOT, *args)
    f = _fields(r.stdout)
    assert f["identity"] == ["spoofed (range/rDNS)"]
    assert f["ptr"] == ["crawl-fake.googlebot.com."]
    assert f["forward"] == ["192.0.2.1 (does not contain the IP)"]


def test_timeout_and_no_dns(args: list[str], dns_server: FakeDnsServer) -> None:
    r = run_cli("verify", "198.51.100.9", "--ua", "PetalBot", *args)
    assert _fields(r.stdout)["rdns"] == ["inconclusive: PTR lookup failed: timeout"]
    assert _fields(r.stdout)["identity"] == ["unverifiable"]
    before = sum(dns_server.queries.values())
    r = run_cli("verify", "192.0.2.55", "--ua", "PetalBot", "--no-dns", *args)
    assert _fields(r.stdout)["rdns"] == ["not asked (--no-dns or identity.dns: false)"]
    assert sum(dns_server.queries.values()) == before


def test_without_ua_lists_every_matching_list(args: list[str]) -> None:
    r = run_cli("verify", "20.171.207.3", "--no-dns", *args)
    f = _fields(r.stdout)
    assert f["claim"] == ["none (give --ua to check a claim)"]
    assert f["identity"] == ["unknown"]
    assert any(value.startswith("gptbot: 20.171.207.0/24") for value in f["range"])


def test_bad_ip_is_a_usage_error(args: list[str]) -> None:
    r = run_cli("verify", "999.1.1.1", *args)
    assert r.exit_code == 2
    assert r.stderr.strip() == "botguard: error: not an IP address: '999.1.1.1'"
