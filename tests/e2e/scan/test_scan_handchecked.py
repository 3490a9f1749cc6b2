"""`botguard scan` on a small log whose every count was worked out by hand (see conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.scan.conftest import AHREFS, BYTESPIDER, CHROME, GOOGLEBOT
from tests.helpers import run_cli, scan_site


def client(doc: dict[str, Any], ip: str) -> dict[str, Any]:
    (found,) = [c for c in doc["clients"] if c["ip"] == ip]
    return found


def test_summary_counts_lines_exactly(site: dict[str, Path]) -> None:
    """27 lines: 25 parsed, 2 malformed (truncated, binary junk); 6 clients incl. the TLS prober."""
    summary = scan_site(site)["summary"]
    assert summary["lines"] == 27
    assert summary["parsed"] == 25
    assert summary["malformed"] == 2
    assert summary["clients"] == 6
    assert summary["first_seen"] == "2024-03-04T09:00:00Z"
    assert summary["last_seen"] == "2024-03-04T09:01:07Z"
    assert summary["robots"] == {"*": str(site["robots"])}


def test_compliant_search_engine_is_allowed(site: dict[str, Path]) -> None:
    """Googlebot fetched robots.txt first and asked only for allowed paths."""
    google = client(scan_site(site), "66.249.66.1")
    assert google["user_agent"] == GOOGLEBOT
    assert google["crawler"] == "Googlebot"
    assert google["category"] == "search-engine"
    assert google["requests"] == 4
    assert google["robots_fetched"] == 1
    assert google["robots_fetched_first"] is True
    assert google["disallowed_requests"] == 0
    assert google["compliance"] == 1.0
    assert google["verdict"] == "allow"


def test_violator_blocked_with_rule_and_evidence(site: dict[str, Path]) -> None:
    """Bytespider's own group disallows everything: 3 of 3 judged requests, one of them the honeypot."""
    spider = client(scan_site(site), "110.249.201.9")
    assert spider["user_agent"] == BYTESPIDER
    assert spider["crawler"] == "Bytespider"
    assert spider["operator"] == "ByteDance"
    assert spider["robots_fetched"] == 0
    assert spider["robots_fetched_first"] is None
    assert spider["disallowed_requests"] == 3
    assert spider["honeypot_requests"] == 1
    assert spider["compliance"] == 0.0
    assert spider["verdict"] == "block"
    assert "hit honeypot (1 request)" in spider["reasons"]
    assert "violated Disallow: / (3 requests)" in spider["reasons"]
    assert [e["target"] for e in spider["evidence"]] == ["/products/1", "/products/2", "/internal/trap/x"]
    assert {(e["rule"], e["line"]) for e in spider["evidence"]} == {("Disallow: /", 7)}


def test_partial_compliance_is_share_of_judged_requests(site: dict[str, Path]) -> None:
    """python-requests: robots.txt is not judged; 4 judged, /cart?item=3 disallowed -> 0.75."""
    scraper = client(scan_site(site), "203.0.113.5")
    assert scraper["requests"] == 5
    assert scraper["robots_fetched"] == 1
    assert scraper["robots_fetched_first"] is False  # /a came ten seconds before robots.txt
    assert scraper["disallowed_requests"] == 1
    assert scraper["compliance"] == 0.75
    assert scraper["verdict"] == "block"
    assert scraper["evidence"][0]["target"] == "/cart?item=3"
    assert scraper["evidence"][0]["rule"] == "Disallow: /cart"
    assert scraper["evidence"][0]["line"] == 2
    assert "fetched robots.txt only after other requests" in scraper["reasons"]


def test_person_on_disallowed_path_is_not_blocked(site: dict[str, Path]) -> None:
    """robots.txt governs crawlers: a browser that loads assets and follows links stays allowed."""
    person = client(scan_site(site), "198.51.100.20")
    assert person["user_agent"] == CHROME
    assert person["category"] == "human"
    assert person["disallowed_requests"] == 1
    assert person["verdict"] == "allow"


def test_non_http_request_is_a_request_not_malformed(site: dict[str, Path]) -> None:
    """A TLS handshake logged with status 400 counts for its client, unjudged."""
    prober = client(scan_site(site), "45.148.10.1")
    assert prober["requests"] == 1
    assert prober["user_agent"] == ""
    assert prober["compliance"] is None
    assert prober["verdict"] == "monitor"
    assert any("non-HTTP" in reason for reason in prober["reasons"])


def test_ignored_crawl_delay_is_reported_and_monitored(site: dict[str, Path]) -> None:
    """AhrefsBot asked for 10 s between requests and took 1 s: 7 of 7 intervals too short."""
    ahrefs = client(scan_site(site), "54.36.148.1")
    assert ahrefs["user_agent"] == AHREFS
    assert ahrefs["disallowed_requests"] == 0
    assert ahrefs["verdict"] == "monitor"
    assert "ignored Crawl-delay: 10 s asked, 7 of 7 intervals shorter" in ahrefs["reasons"]


def test_crawler_rollup(site: dict[str, Path]) -> None:
    """Crawlers roll up per catalogue entry; a crawler without published ranges is blocked by name."""
    crawlers = {c["name"]: c for c in scan_site(site)["crawlers"]}
    assert crawlers["Bytespider"]["verdict"] == "block"
    assert crawlers["Bytespider"]["clients"] == 1
    assert crawlers["Bytespider"]["disallowed_requests"] == 3
    assert crawlers["Googlebot"]["verdict"] == "allow"
    assert crawlers["Googlebot"]["compliance"] == 1.0


def test_allowlist_wins_over_honeypot(site: dict[str, Path]) -> None:
    """An allowlisted IP is never blocked, whatever it did."""
    site["config"].write_text("honeypots: [/internal/trap/]\nallowlist:\n  ips: [110.249.0.0/16]\n")
    spider = client(scan_site(site), "110.249.201.9")
    assert spider["verdict"] == "allow"
    assert spider["reasons"] == ["allowlisted network 110.249.0.0/16"]


def test_allowlisted_ua_and_ip_pair(site: dict[str, Path]) -> None:
    """A {ip, user_agent} allowlist entry spares exactly that client."""
    site["config"].write_text(
        "allowlist:\n  clients:\n    - {ip: 203.0.113.5, user_agent: python-requests/2.31.0}\n"
    )
    doc = scan_site(site)
    assert client(doc, "203.0.113.5")["verdict"] == "allow"
    assert client(doc, "110.249.201.9")["verdict"] == "block"


def test_policy_threshold_changes_verdict(site: dict[str, Path]) -> None:
    """block_min_disallowed: 2 spares the single /cart violation."""
    site["config"].write_text("policy:\n  block_min_disallowed: 2\n")
    assert client(scan_site(site), "203.0.113.5")["verdict"] == "monitor"


def test_without_robots_nothing_is_judged(site: dict[str, Path]) -> None:
    """No robots.txt: compliance is null everywhere, and nobody is blocked for violations."""
    r = run_cli("scan", str(site["log"]), "--state", str(site["state"]), "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert all(c["compliance"] is None for c in doc["clients"])
    assert all(c["disallowed_requests"] == 0 for c in doc["clients"])
    assert doc["summary"]["robots"] is None


@pytest.mark.parametrize("fmt", ["table", "csv", "html", "json"])
def test_every_format_renders(site: dict[str, Path], fmt: str) -> None:
    """Each output format names the blocked crawler."""
    r = run_cli("scan", str(site["log"]), "--robots", str(site["robots"]), "--state", str(site["state"]),
                "--format", fmt)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "Bytespider" in r.stdout
    assert "block" in r.stdout


@pytest.mark.parametrize("fmt", ["table", "html"])
def test_asn_data_is_credited_where_shown(site: dict[str, Path], fmt: str) -> None:
    """The CC-BY-4.0 IP-to-ASN sources are named wherever their results are displayed."""
    r = run_cli("scan", str(site["log"]), "--robots", str(site["robots"]), "--state", str(site["state"]),
                "--format", fmt, "--no-dns")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "RouteViews" in r.stdout and "DB-IP.com" in r.stdout and "CC-BY-4.0" in r.stdout


def test_crawler_rollup_lists_its_networks(site: dict[str, Path]) -> None:
    """Each roll-up names the networks its clients came from (bundled IP-to-ASN table)."""
    crawlers = {c["name"]: c for c in scan_site(site, "--no-dns")["crawlers"]}
    (google_net,) = crawlers["Googlebot"]["asns"]
    assert google_net["asn"] == 15169
    assert google_net["requests"] == 4 and google_net["ips"] == 1
    assert "google" in google_net["as_org"].lower()


def test_generic_tool_is_never_blocked_by_name(site: dict[str, Path]) -> None:
    """python-requests broke robots.txt: that client is blocked, the tool itself only monitored
    (its user agent is shared by unrelated users), so no rule blocks every python-requests."""
    doc = scan_site(site)
    assert client(doc, "203.0.113.5")["verdict"] == "block"
    (tool,) = [c for c in doc["crawlers"] if c["category"] == "library"]
    assert tool["verdict"] == "monitor"
