"""A bot's name is only ever blocked by as a substring when no person's agent can carry it.

An attacker chooses its own agent. Named after a part of a person's agent (``Weixin``,
``iPhone16``, ``LibreWolf`` ...), it must get its exact agent blocked, never that part: a
substring rule on it would block WeChat, Instagram-on-iPhone or LibreWolf users. The people's
agents are ``data/people_agents.txt`` (see its header: the re-audit's real agents); almost none
are in the bundled reference corpus, so these tests show the rule holds for agents it never saw.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from botguard.decide.agents import candidate_tokens, names_a_bot, own_domain, rule_tokens
from botguard.decide.safety import AgentText

PEOPLE = tuple(
    line
    for line in (Path(__file__).parent / "data" / "people_agents.txt")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip() and not line.startswith("#")
)
_NAME = re.compile(r"[A-Za-z][\w.-]*[A-Za-z0-9_]")


def _parts(agent: str) -> set[str]:
    """Every name-shaped part of an agent an attacker can call itself, also split at ``. - _``
    (the re-audit's token probe)."""
    words = set(_NAME.findall(agent))
    for word in list(words):
        words.update(p for p in re.split(r"[._-]", word) if len(p) >= 4 and p[0].isalpha())
    return {w for w in words if len(w) >= 4}


PARTS = sorted(set().union(*map(_parts, PEOPLE)))

#: The names the re-audit found accepted as substring rules: its attack log, the 52 parts its probe
#: found (66 on the starting commit of this fix), the common words and the platform tokens glued to
#: versions it listed.
F1_NAMES = (
    "IABMV", "Weixin", "HeyTapBrowser", "AP2A", "iPhone16", "KAKAOTALK", "LibreWolf", "OculusBrowser",
    "BytedanceWebview", "Ecosia", "Telegram-Android", "Chromecast", "AndroidTV", "Falkon", "Orion",
    "OcIdWebView", "AFTKA", "KFTRWI", "a0e1f27ea3b1", "a54x", "AlipayClient", "AlipayDefined", "ALN-AL00",
    "alpha.8", "Barcelona", "BingSapphire", "Blackview", "callingAppId", "CK7n", "com.google.android.gms",
    "com.nytimes.android", "d8a21c6", "DeviceType", "DOOGEE", "DVP-14.0", "Fairphone", "G6.0.19", "Hans",
    "isDarkTheme", "KingKong", "MMWEBID", "MMWEBSDK", "musical_ly_2023806030", "nytimes", "OneOutlook",
    "osVersion", "Oukitel", "PicoBrowser", "PN0CG", "prod.iphone", "PS7633.3445N", "RTM5", "s5e8835",
    "Seeker", "SKQ1", "SmartTV2024", "Sonim", "std-2", "STT2", "trill_380203", "UKQ1", "Ulefone",
    "WifiWebAuthApplet", "WP17", "XP10", "zh-Hans", "login", "laptop", "spam", "firewall", "crypto", "json",
    "headless", "HeadlessChrome", "intranet", "Win11", "iOS17", "Android14", "MacOS14",
)  # fmt: skip


def _attacks(part: str) -> tuple[str, ...]:
    """Self-declared bot agents built on ``part``: as its name, its URL host, its contact domain."""
    return (
        f"{part}/1.0 (+http://evil.example/bot)",
        f"Mozilla/5.0 (compatible; {part}/2.1; +https://{part}/bot.html)",
        f"{part} crawler (ops@{part})",
    )


def test_the_people_agents_are_many_and_varied() -> None:
    assert len(PEOPLE) >= 140 and len(PARTS) >= 300
    assert {"Weixin", "iPhone16", "LibreWolf", "AP2A", "KAKAOTALK", "com.nytimes.android"} <= set(PARTS)


def test_no_rule_token_or_candidate_of_an_attacker_occurs_in_a_persons_agent() -> None:
    """Whatever part of a person's agent a bot calls itself by, neither a rule nor a model
    candidate may block by anything a person's agent holds."""
    people = AgentText.of(PEOPLE)
    hits = sorted(
        {
            (part, token)
            for part in PARTS
            for agent in _attacks(part)
            for token in {*rule_tokens(agent), *candidate_tokens(agent)}
            if people.contains(token)
        }
    )
    assert hits == []


@pytest.mark.parametrize("name", F1_NAMES)
def test_each_name_the_audit_found_is_refused(name: str) -> None:
    agent = f"{name}/1.0 (+http://evil0.example/bot)"
    assert rule_tokens(agent) == () and candidate_tokens(agent) == frozenset()


def test_the_policy_alone_admits_no_part_of_a_persons_agent_but_crawler_words() -> None:
    """Before any word list or corpus: only parts that hold a crawler word pass the name test
    (the word list, the device list and the corpus refuse those five), and no part is a domain."""
    assert sorted(p for p in PARTS if names_a_bot(p)) == ["Crawler", "Cubot", "Robot", "ScanBot", "Spider"]
    assert [p for p in PARTS if own_domain(p)] == []


@pytest.mark.parametrize(
    ("agent", "tokens"),
    [
        ("EvilBot/1.0 (+http://evil.example/bot)", ("EvilBot",)),
        ("Mozilla/5.0 (compatible; Bytespider2/1.0; +https://crawl.novascrape.io/)",
         ("Bytespider2", "crawl.novascrape.io")),
        ("NovaArchiver/2.0 (compatible)", ("NovaArchiver",)),
        ("Acme/3.2 (+https://www.acme-research.co.uk/bot; ops@acme-research.co.uk)",
         ("www.acme-research.co.uk", "acme-research.co.uk")),
        ("DataFetcher/1.0 (+http://prod.iphone/)", ("DataFetcher",)),
        ("Acme/1.0 (+http://com.facebook.katana/)", ()),
        ("Acme/1.0 (+http://github.io/; ops@gmail.com)", ()),
        ("Acme/1.0 (+http://pages.github.io/)", ("pages.github.io",)),  # one user's site: its own
    ],
)  # fmt: skip
def test_names_that_name_a_bot_and_own_domains_are_kept(agent: str, tokens: tuple[str, ...]) -> None:
    assert rule_tokens(agent) == tokens
