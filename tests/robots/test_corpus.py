"""Corpus test: real and hostile robots.txt files never crash the parser, and agree with Google."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from botguard.robots import RobotsTxt

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(p for p in CORPUS.iterdir() if p.name != "README.md")
AGENTS = ["Googlebot", "GPTBot", "ClaudeBot", "FooBot", "BarBot", "Googlebot-Image", "", "AhrefsBot", "Bot"]
URLS = [
    "/",
    "/cart",
    "/checkout/x",
    "/account/login",
    "/search/",
    "/search?q=1",
    "/a.json",
    "/images/private/a.gif",
    "/private/ok",
    "/tmp/x",
    "/caf%E9",
    "/cat%C3%A9gorie/x",
    "/bom",
    "/x",
    "https://h.example/a#comment",
    "/%C3%A9t%E9",
    "/produits/%C3%A9t%C3%A9-2024",
]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_corpus_never_crashes(path: Path) -> None:
    """Every corpus file parses, answers every question without raising, and counts each line once."""
    body = path.read_bytes()
    robots = RobotsTxt.parse(body)
    for agent in AGENTS:
        assert len(robots.allowed_many(agent, URLS)) == len(URLS)
        robots.explain_many(agent, URLS)
        robots.crawl_delay(agent)
    stats = robots.stats  # honest counts: every line once, whatever ends it (LF, CR or CRLF)
    assert stats.lines == len(re.split(rb"\r\n|\r|\n", body))
    assert stats.directives + stats.unknown + stats.skipped <= stats.lines
    assert stats.orphan_rules <= stats.directives


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_corpus_agrees_with_google(path: Path) -> None:
    """Corpus verdicts are Google's verdicts (skipped where the reference is not installed)."""
    googlebot = pytest.importorskip("jwm.robotstxt.googlebot", reason="jwm.robotstxt needs CPython <= 3.12")
    body = path.read_bytes()
    robots = RobotsTxt.parse(body)
    for agent in AGENTS:
        expected = [googlebot.RobotsMatcher().OneAgentAllowedByRobots(body, agent, u) for u in URLS]
        assert robots.allowed_many(agent, URLS) == expected, agent


def test_typical_shop_answers() -> None:
    """A few exact answers on the typical file (merging, index.html, `$`, crawl-delay)."""
    robots = RobotsTxt.parse((CORPUS / "typical-shop.txt").read_bytes())
    assert not robots.is_allowed("GPTBot", "/")
    assert robots.is_allowed("Googlebot", "/account/")  # named group: the * rules do not apply
    assert robots.is_allowed("FooBot", "/search/")  # Allow: /search/index.html also allows /search/
    assert not robots.is_allowed("FooBot", "/search/x")
    assert not robots.is_allowed("FooBot", "/a.json")
    assert robots.crawl_delay("FooBot") == 2.0 and robots.crawl_delay("AhrefsBot") == 10.0
    assert robots.crawl_delay("Googlebot") is None
    assert robots.sitemaps == (
        "https://shop.example/sitemap.xml",
        "https://shop.example/sitemap-products.xml",
    )
