"""Decision building from scan documents: who gets a UA rule, who an IP rule, what allowlists do."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest

from botguard.config import AllowedClient, Allowlist, DecideSettings
from botguard.decide import DecisionSet, build_decisions, catalog_lookup
from botguard.decide.build import CrawlerInfo, CrawlerLookup
from botguard.decide.safety import REFERENCE_AGENTS, safe_ua_token
from tests.judge.scans import client_value, crawler_value, scan_records, scan_value

ROOT = Path(__file__).resolve().parents[2]
POLICY = DecideSettings()


def client(
    ip: str, ua: str, crawler: str | None, verdict: str, category: str = "unknown", **extra: object
) -> dict:
    return client_value(ip, ua, verdict, crawler=crawler, category=category, last_seen="2024-03-04T11:00:00Z",
                        verified=extra.get("verified"))  # fmt: skip


def crawler(name: str, verdict: str) -> dict:
    return crawler_value(name, verdict, disallowed_requests=2)


def decide_scan(
    scan: dict, lookup: CrawlerLookup, allowlist: Allowlist, policy: DecideSettings
) -> DecisionSet:
    """The decisions for a scan document's clients and crawlers, read back as deploy-rules reads them."""
    records = scan_records(scan_value(scan["clients"], scan["crawlers"]))
    return build_decisions(records.client_rows(), records.crawlers, lookup, allowlist, policy)


LOOKUP = {
    "Bytespider": CrawlerInfo(("Bytespider",), False),
    "Googlebot": CrawlerInfo(("Googlebot",), True),
    "Mozilla": CrawlerInfo(("Mozilla",), False),
    "AhrefsBot": CrawlerInfo(("AhrefsBot",), False),
    "Seekport Crawler": CrawlerInfo(("SeekportBot", "Seekport Crawler"), False),
    "Acme Crawler": CrawlerInfo(("AcmeBot", "Acme Crawler"), False),
}.get

SCAN = {
    "summary": {},
    "crawlers": [
        crawler("Bytespider", "block"),
        crawler("Googlebot", "block"),
        crawler("Mozilla", "block"),
        crawler("AhrefsBot", "monitor"),
    ],
    "clients": [
        client("203.0.113.1", "Bytespider", "Bytespider", "block"),
        client("203.0.113.2", "Googlebot/2.1 fake", "Googlebot", "block"),
        client("66.249.66.1", "Googlebot/2.1", "Googlebot", "allow", verified=True),
        client("203.0.113.3", "Mozilla/5.0 Chrome", None, "block", "automated"),
        client("203.0.113.4", "Mozilla/5.0 Chrome", None, "monitor", "browser"),
        client("203.0.113.5", "Mozilla/5.0 weird", "Mozilla", "block"),
        client("203.0.113.6", "AhrefsBot", "AhrefsBot", "monitor"),
        client("not-an-ip", "x", None, "block"),
    ],
}


def summary(ds) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(d.action, d.match.kind, d.match.value) for d in ds.decisions]


def test_unverifiable_blocked_crawler_gets_ua_rule_others_get_ip_rules() -> None:
    """Bytespider by token; the fake Googlebot, the automated browser and the unsafe token by IP."""
    assert summary(decide_scan(SCAN, LOOKUP, Allowlist(), POLICY)) == [
        ("block", "ua_pattern", "Bytespider"),
        ("block", "ip", "203.0.113.2"),
        ("block", "ip", "203.0.113.3"),
        ("block", "ip", "203.0.113.5"),
    ]


def test_monitor_becomes_throttle_only_when_configured() -> None:
    """throttle_monitor: AhrefsBot by token, the monitored browser by IP."""
    ds = decide_scan(SCAN, LOOKUP, Allowlist(), DecideSettings(throttle_monitor=True))
    assert [x for x in summary(ds) if x[0] == "throttle"] == [
        ("throttle", "ua_pattern", "AhrefsBot"), ("throttle", "ip", "203.0.113.4")]  # fmt: skip


def test_allowlist_wins_and_is_emitted_first() -> None:
    """An allowlisted network drops the IP rules inside it; allows come first."""
    allow = Allowlist(
        ("bytespider",), (ipaddress.ip_network("203.0.113.0/30"),), (AllowedClient("1.2.3.4", "x"),)
    )
    ds = decide_scan(SCAN, LOOKUP, allow, POLICY)
    assert summary(ds) == [
        ("allow", "ua_pattern", "bytespider"), ("allow", "cidr", "203.0.113.0/30"), ("allow", "client", "x"),
        ("block", "ip", "203.0.113.5"),
    ]  # fmt: skip


def test_order_is_deterministic() -> None:
    """Shuffled input, same decisions in the same order."""
    shuffled = dict(SCAN, clients=list(reversed(SCAN["clients"])), crawlers=list(reversed(SCAN["crawlers"])))
    assert decide_scan(shuffled, LOOKUP, Allowlist(), POLICY) == decide_scan(
        SCAN, LOOKUP, Allowlist(), POLICY
    )


@pytest.mark.parametrize("agent", REFERENCE_AGENTS)
def test_no_catalogue_token_that_is_allowed_can_hit_a_browser_or_good_bot(agent: str) -> None:
    """Every token safe_ua_token accepts is absent from browsers and good bots."""
    lookup = catalog_lookup()
    from botguard.catalog import load_catalog

    for entry in load_catalog().crawlers:
        info = lookup(entry.name)
        for token in info.tokens if info and not info.verifiable else ():
            if safe_ua_token(token):
                assert token.lower() not in agent.lower(), entry.name


def test_example_scan_never_blocks_verified_or_human_by_ua() -> None:
    """On the bundled example, no UA rule matches a human's or a search engine's agent."""
    out = subprocess.run(
        [sys.executable, "-m", "botguard", "scan", str(ROOT / "examples/access.log"), "--robots",
         str(ROOT / "examples/robots.txt"), "--format", "json", "--no-save",
         "--no-dns"],  # a child process escapes the suite's resolver fixture: never ask a real resolver
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    scan = json.loads(out.stdout)
    ds = decide_scan(scan, catalog_lookup(), Allowlist(), POLICY)
    tokens = [d.match.value.lower() for d in ds.select("block", "ua_pattern")]
    assert "bytespider" in tokens
    for c in scan["clients"]:
        if c["category"] in ("human", "search-engine") and c["verdict"] == "allow":
            assert not any(t in c["user_agent"].lower() for t in tokens), c["user_agent"]


def test_token_must_occur_in_the_observed_agents() -> None:
    """A robots token need not be in the agent: the name is used; uncovered agents go by IP."""
    scan = {
        "crawlers": [crawler("Acme Crawler", "block")],
        "clients": [
            client("203.0.113.7", "Mozilla/5.0 (compatible; Acme Crawler; http://acme-crawl.example/)",
                   "Acme Crawler", "block"),
            client("203.0.113.8", "AcmeBot/1.0", "Acme Crawler", "block"),
            client("203.0.113.9", "totally different", "Acme Crawler", "block"),
        ],
    }  # fmt: skip
    assert summary(decide_scan(scan, LOOKUP, Allowlist(), POLICY)) == [
        ("block", "ua_pattern", "Acme Crawler"),
        ("block", "ua_pattern", "AcmeBot"),
        ("block", "ip", "203.0.113.9"),
    ]


def test_only_addresses_a_rule_may_name_become_ip_rules() -> None:
    """Blocked clients at a zone id, loopback, link-local, multicast or unspecified address get no IP rule;
    IPv4-mapped and differently spelled IPv6 clients get one rule on the canonical address."""
    logged = ["fe80::1%eth0", "::1", "fe80::2", "ff02::1", "0.0.0.0", "127.0.0.2", "169.254.9.9", "224.0.0.5",
              "::ffff:203.0.113.9", "2001:DB8::1", "2001:db8:0:0:0:0:0:1", "1.2.3.4\x00", "999.1.1.1"]  # fmt: skip
    scan = {
        "crawlers": [],
        "clients": [client(ip, "Mozilla/5.0 Chrome", None, "block", "automated") for ip in logged],
    }
    ds = decide_scan(scan, LOOKUP, Allowlist(), POLICY)
    assert [(d.match.kind, d.match.value) for d in ds.decisions] == [
        ("ip", "2001:db8::1"),
        ("ip", "203.0.113.9"),
    ]


def test_welcome_crawlers_of_the_reference_corpus_are_blocked_by_address_only() -> None:
    """Seekport is in the bundled good-bot corpus: neither its tokens nor its exact agent become a
    UA rule (it is blocked where it misbehaved, by IP), even when it declares itself a bot."""
    agent = "Mozilla/5.0 (compatible; Seekport Crawler; http://seekport.com/)"
    scan = {"crawlers": [crawler("Seekport Crawler", "block")],
            "clients": [client("203.0.113.7", agent, "Seekport Crawler", "block")]}  # fmt: skip
    assert summary(decide_scan(scan, LOOKUP, Allowlist(), POLICY)) == [("block", "ip", "203.0.113.7")]


def _declared(*clients: dict) -> list[tuple[str, str, str]]:
    return summary(decide_scan({"crawlers": [], "clients": list(clients)}, LOOKUP, Allowlist(), POLICY))


@pytest.mark.parametrize(
    ("agent", "rule"),
    [
        ("EvilBot/1.0", ("ua_pattern", "EvilBot")),
        ("Mozilla/5.0 (compatible; EvilBot/1.0; +http://evil.example/bot.html)", ("ua_pattern", "EvilBot")),
        ("novascrape/2.0 (+https://nova.example/about)", ("ua_pattern", "novascrape")),
        ("Scanner/1.0 (+https://crawl.novascrape.io/about)", ("ua_pattern", "crawl.novascrape.io")),
        ("Client/1.0 (questions: ops@acme-research.io)", ("ua_pattern", "acme-research.io")),
        # a name that names no bot, a reserved or made-up domain: only ever the sender's own agent
        ("Client/1.0 (questions: ops@acme-research.example)",
         ("ua_exact", "Client/1.0 (questions: ops@acme-research.example)")),
        ("Weixin/1.0 (+http://evil1.example/bot)", ("ua_exact", "Weixin/1.0 (+http://evil1.example/bot)")),
        ("iPhone16/1.0 (+http://prod.iphone/bot)", ("ua_exact", "iPhone16/1.0 (+http://prod.iphone/bot)")),
        ("LibreWolf/1.0 (+http://com.nytimes.android/bot)",
         ("ua_exact", "LibreWolf/1.0 (+http://com.nytimes.android/bot)")),
        ("Expanse, a Palo Alto Networks company, searches the global IPv4 space; scaninfo@paloaltonetworks.com",
         ("ua_pattern", "paloaltonetworks.com")),
        ('zz" 1; "~*" 1; "zz bot', ("ua_exact", 'zz" 1; "~*" 1; "zz bot')),
        ("Screaming Frog SEO Spider/21.0", ("ua_exact", "Screaming Frog SEO Spider/21.0")),
        (r"q1 \x22quoted\x22 back\x5Cslash\x09 crawler", ("ua_exact", 'q1 "quoted" back\\slash\t crawler')),
        (r"q2 \"quoted\" back\\slash\t spider", ("ua_exact", 'q2 "quoted" back\\slash\t spider')),
        ("default bot", ("ua_exact", "default bot")),
    ],
)  # fmt: skip
def test_a_blocked_self_declared_bot_gets_a_ua_rule_and_its_ip_rule(
    agent: str, rule: tuple[str, str]
) -> None:
    """Its safe product name, else its exact agent as the client sent it (log escapes decoded)."""
    assert _declared(client("203.0.113.7", agent, None, "block")) == [
        ("block", *rule),
        ("block", "ip", "203.0.113.7"),
    ]


@pytest.mark.parametrize(
    "agent",
    [
        "",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 bot",
        "BotFinder/3.1 CFNetwork/1404.0.5 Darwin/22.3.0",
        "okhttp/4.9.2 (+https://bots.example)",
        "Dalvik/2.1.0 (Linux; U; Android 11; CUBOT X30 Build/RP1A.200720.012)",
        "python-requests/2.31.0 crawler",
        "Go-http-client/1.1 spider",
        "curl/8.5.0",
        "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1)",
        "SomeTool/1.0",
    ],
)
def test_shared_and_undeclared_agents_keep_ip_rules_only(agent: str) -> None:
    """Browser-like, absent, app-runtime and HTTP-library agents, and agents that do not say they
    are bots: people and legitimate integrations share them."""
    assert _declared(client("203.0.113.7", agent, None, "block")) == [("block", "ip", "203.0.113.7")]


def test_verifiable_crawlers_and_library_categories_keep_ip_rules_only() -> None:
    """A fake Googlebot's agent belongs to the real one; a catalogued library is a shared tool."""
    assert _declared(
        client("203.0.113.2", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) x",
               "Googlebot", "block"),
        client("203.0.113.3", "Scrapy/2.11.0 (+https://scrapy.org)", "Scrapy", "block", "library"),
    ) == [("block", "ip", "203.0.113.2"), ("block", "ip", "203.0.113.3")]  # fmt: skip


def test_no_declared_rule_matches_a_person_of_the_same_scan() -> None:
    """A token a person's agent carries falls back to the next token, then the exact agent."""
    person = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0 EvilBotHelper/2.0"
    bot = "EvilBot/1.0 (+https://evil.io/bot)"
    assert _declared(client("192.0.2.1", person, None, "allow", "human"), client("203.0.113.7", bot, None, "block")) == [
        ("block", "ua_pattern", "evil.io"), ("block", "ip", "203.0.113.7")]  # fmt: skip


def test_monitored_self_declared_bots_are_throttled_only_when_configured() -> None:
    scan = {"crawlers": [], "clients": [client("203.0.113.7", "EvilBot/1.0", None, "monitor")]}
    assert summary(decide_scan(scan, LOOKUP, Allowlist(), POLICY)) == []
    assert summary(decide_scan(scan, LOOKUP, Allowlist(), DecideSettings(throttle_monitor=True))) == [
        ("throttle", "ua_pattern", "EvilBot"), ("throttle", "ip", "203.0.113.7")]  # fmt: skip


def test_a_word_bounded_catalogue_pattern_gives_its_text_as_the_rule_token() -> None:
    r"""A plain pattern whose ``\b`` edge does not make it a regex offers its text as a rule token
    (``\bZuperlistBot\/`` -> ``ZuperlistBot/``); an imported entry's word that names no bot
    (``\bcolly`` of ``colly (2)``) is offered as no token, so its clients are blocked by address:
    a bot calling itself by such a word must not get people's agents blocked."""
    lookup = catalog_lookup()
    zuperlist = lookup("ZuperlistBot")
    assert zuperlist is not None and "ZuperlistBot/" in zuperlist.tokens
    colly = lookup("colly (2)")
    assert colly is not None and colly.tokens == ()
    agent = "Mozilla/5.0 (compatible; colly/2.1; +https://example.com)"
    scan = {"crawlers": [crawler("colly (2)", "block")],
            "clients": [client("203.0.113.7", agent, "colly (2)", "block", "library")]}  # fmt: skip
    assert summary(decide_scan(scan, lookup, Allowlist(), POLICY)) == [("block", "ip", "203.0.113.7")]
