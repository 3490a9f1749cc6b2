"""safe_ua_token, the one judge of whether a user-agent token may be blocked by: a spec table."""

from __future__ import annotations

import pytest

from botguard.decide.safety import REFERENCE_AGENTS, AgentText, english_words, safe_ua_exact, safe_ua_token


@pytest.mark.parametrize(
    "token",
    [
        # words of one scanner's prose agent, and other English words
        "the", "space", "global", "company", "searches", "networks", "bash", "Spider", "Mobile", "Version",
        # versions, build ids, addresses
        "v1.1.0", "2.0b1", "15E148", "AP3A.240617.008", "198.51.100.7", "x22",
        # OS, engine and device tokens
        "Windows", "Android", "AppleWebKit", "KHTML", "Gecko", "x86_64", "SM-G991B", "CPH2211",
        # ... glued to a version or a model, short model and build codes, Fire TV and Kindle models
        "Win11", "iOS17", "Android14", "MacOS14", "iPhone16", "AndroidTV", "CUBOT_P20", "SmartTV2024",
        "AP2A", "UP1A", "SKQ1", "XP10", "CK7n", "AFTKA", "KFTRWI", "PS7633.3445N", "DVP-14.0", "a0e1f27ea3b1",
        "IDbot", "IDbot553",  # phones whose model says "bot" (Crawler-Detect excludes them too)
        # automation browsers: blocked by address only
        "headless", "HeadlessChrome", "PhantomJS", "Puppeteer", "Electron",
        # shared domains, browser and good-bot tokens, too short
        "github.com", "www.github.com", "gmail.com", "Chrome", "Safari", "Googlebot", "bingbot", "bot", "sh",
        # in the bundled corpus of real browsers and welcome crawlers
        "SeekportBot", "Seekport Crawler", "LibWeb", "AmigaVoyager", "CUBOT", "Viber", "FBAN", "1Password",
        # spans lines
        "Evil\nBot",
    ],
)  # fmt: skip
def test_refused(token: str) -> None:
    assert not safe_ua_token(token)


@pytest.mark.parametrize(
    "token", ["EvilBot", "novascrape", "Bytespider", "MJ12bot", "l9scan", "crawl.novascrape.io",
              "paloaltonetworks.com", "Acme Crawler", "leakix.net"],
)  # fmt: skip
def test_accepted(token: str) -> None:
    assert safe_ua_token(token)


def test_word_list_is_bundled_and_plain() -> None:
    """The bundled list loads from package data: lower-case letters only, 4+ letters, tens of thousands."""
    words = english_words()
    assert 30_000 < len(words) < 60_000
    assert all(w.isalpha() and w.islower() and len(w) >= 4 for w in words)


def test_exact_agents() -> None:
    """An exact agent is safe unless empty or a reference agent (case and surrounding blanks ignored)."""
    assert safe_ua_exact('zz" 1; "~*" 1; "zz bot') and safe_ua_exact("default")
    assert not safe_ua_exact(" \t") and not safe_ua_exact("a\r\nb")
    assert not any(safe_ua_exact(f" {agent.upper()}\t") for agent in REFERENCE_AGENTS)


def test_agent_text_finds_any_substring_the_run_index_allows() -> None:
    """The run index only refutes: whatever a plain substring search finds, contains() finds."""
    agents = ["Foo/1.0 (compatible; Bar-Baz; +http://bar.example/x)", "Chrome/120.0 Safari/537.36"]
    text = AgentText.of(agents)
    for agent in agents:
        low = agent.lower()
        for i in range(len(low)):
            for j in range(i + 1, min(len(low), i + 12) + 1):
                assert text.contains(low[i:j].upper()), low[i:j]
    assert not any(text.contains(t) for t in ("", "foo/2", "bar-bazz", "safari/537.36 x", "a\nb"))
