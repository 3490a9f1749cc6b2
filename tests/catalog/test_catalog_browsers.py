"""Real browsers, phones and in-app browsers are never crawlers; service agents are named.

The corpus is ``rules/agents/browsers.txt`` (uap-core's and isbot's real agents); the spec rows
are the agents an audit found named as crawlers, each with a real agent string, and agents it
found missed.
"""

from __future__ import annotations

import pytest

from botguard.catalog import Catalog, Crawler
from botguard.catalog.reference import bundled_agents

_WIN = "Windows NT 10.0; Win64; x64"
_MAC = "Macintosh; Intel Mac OS X 10_15_7"

#: (the catalogue word that used to match, a real agent holding it) -- all people.
AUDIT_BROWSERS = [
    (
        "Butterfly",
        "Mozilla/5.0 (Linux; Android 4.1.1; HTC Butterfly Build/JRO03C) AppleWebKit/535.19 (KHTML, like Gecko) "
        "Chrome/18.0.1025.166 Mobile Safari/535.19",
    ),
    ("Butterfly", "BBC iPlayer (AndroidApp; 2.0.2.8; 2020008) HTC Butterfly (Android 4.2.2, SDK 17)"),
    (
        "Buddy",
        "Mozilla/5.0 (Linux; Android 4.0.4; iBuddy Connect Build/IMM76D) AppleWebKit/535.19 (KHTML, like Gecko) "
        "Chrome/18.0.1025.166 Mobile Safari/535.19",
    ),
    (
        "Buddy",
        "Mozilla/5.0 (Linux; Android 4.0.4; I-Buddy 7.0 Build/IMM76D) AppleWebKit/535.19 (KHTML, like Gecko) "
        "Chrome/18.0.1025.166 Safari/535.19",
    ),
    (
        "Sonic",
        "Mozilla/5.0 (Linux; U; Android 2.3.3; de-de; HUAWEI SONIC Build/HuaweiU8650) AppleWebKit/533.1 "
        "(KHTML, like Gecko) Version/4.0 Mobile Safari/533.1",
    ),
    (
        "Demon",
        "Mozilla/5.0 (Linux; Android 4.1.1; MID7022 Build/GreenDemon_v1.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/27.0.1453.74 Safari/537.36",
    ),
    (
        "Pump",
        "Opera/9.80 (Linux sh4; U; HbbTV/1.1.1 (; INTEK; Vantage Full HD Model;;;) hdplusSmartTV/1.0 "
        "(NETRANGEMMH;) Bee/3.2 CE-HTML/1.0; FXM-U2FsdGVkX19Qg/USD6FU3img+tXTDE7V5tSiPuMpHRrd3vp0JyPLfoYS/"
        "+dL6w/H-END; en) Presto/2.10.250 Version/11.60",
    ),
    ("Siphon", "WormsiPhone-iPad/2.3 CFNetwork/548.1.4 Darwin/11.0.0"),
    (
        "NING/",
        "Mozilla/5.0 (Windows NT 10.0; WOW64; rv:60.0) Gecko/20100101 Thunderbird/60.7.0 Lightning/6.2.7",
    ),
    (
        "Word/",
        "Mozilla/5.0 (iPhone; CPU OS 10_2_1 like Mac OS X) AppleWebKit/600.1.4 (KHTML, like Gecko) 1Password/6.4.5 "
        "(like Version/10.2.1 Mobile/14D27 Safari/600.1.4)",
    ),
    ("Word/", "4 Pics 1 Word/3.9 (iPhone; iOS 7.0.2; Scale/2.00)"),
    ("LibWeb", "Mozilla/4.0 (SerenityOS; x86_64) LibWeb+LibJS (Not KHTML, nor Gecko) LibWeb"),
    ("voyager/", "AmigaVoyager/3.4.4 (MorphOS/PPC native)"),
    (
        "Fluid",
        "Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10_5_6; en-us) AppleWebKit/528.16 (KHTML, like Gecko) "
        "Fluid/0.9.6 Safari/528.16",
    ),
    (
        "Fluid",
        "Mozilla/5.0 (compatible; MSIE 10.0; Windows Phone 8.0; Trident/6.0; IEMobile/10.0; ARM; Touch; "
        "Qualcomm; FLUID)",
    ),
    ("008/", "Opera/9.80 (MAUI Runtime; Opera Mini/4.4.39008/37.9178; U; en) Presto/2.12.423 Version/12.16"),
    ("libwww", "Lynx/2.8.9rel.1 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.6.5"),
    ("libwww", "NCSA_Mosaic/2.7b5 (X11;Linux 2.6.7 i686) libwww/2.12 modified"),
    (
        "AP3A.240617.008",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP3A.240617.008; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/126.0.6478.134 Mobile Safari/537.36",
    ),
    ("RED/", "Mozilla/5.0 (iPad; U; CPU iPhone OS 7_0 like Mac OS X; de-DE) WIRED/3.2.3.11.87970"),
    (
        "Viber",
        "Mozilla/5.0 (Linux; Android 7.1.2; G011A Build/N2G48H; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/66.0.3359.158 Safari/537.36 Viber/11.9.5.8",
    ),
    ("Viber", "Viber/12.8.0.1 CFNetwork/1121.2.2 Darwin/19.3.0"),
    (
        "MetaIAB Facebook",
        "Mozilla/5.0 (Linux; Android 16; Pixel 10 Pro XL Build/CP1A.260305.018; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/146.0.7680.174 Mobile Safari/537.36 MetaIAB Facebook",
    ),
    (
        "bot (carrier OrangeBotswana)",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 11_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Mobile/15G77 [FBAN/FBIOS;FBAV/194.0.0.38.99;FBBV/127868476;FBDV/iPhone7,2;FBMD/iPhone;FBSN/iOS;"
        "FBSV/11.4.1;FBSS/2;FBCR/OrangeBotswana;FBID/phone;FBLC/en_US;FBOP/5]",
    ),
    (
        "DaumApps",
        "Mozilla/5.0 (Linux; Android 4.4.2; IM-A900L Build/KOT49H) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/30.0.0.0 Mobile Safari/537.36 DaumApps/4.6.1",
    ),
    ("Pinterest/", "Pinterest/3.3.3 CFNetwork/609.1.4 Darwin/13.0.0"),
    # Electron desktop apps: "AppName/version ... Electron/..." is a person's app, not a crawler
    *(
        (
            f"Electron: {app}",
            f"Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) {app} Chrome/{chrome} "
            f"Electron/{electron} Safari/537.36{tail}",
        )
        for app, os, chrome, electron, tail in (
            ("Code/1.97.2", _WIN, "128.0.6613.186", "32.2.7", ""),  # VS Code
            ("Notion/4.5.0", _MAC, "128.0.6613.186", "32.2.7", ""),
            ("Mattermost/5.10.0", _WIN, "128.0.6613.36", "32.0.1", ""),
            ("Slack/4.41.105", _MAC, "130.0.6723.191", "33.2.1", " Sonic Slack_SSB/4.41.105"),
            ("discord/1.0.9181", _WIN, "130.0.6723.191", "33.4.0", ""),
            ("Teams/1.6.00.4472", _WIN, "80.0.3987.165", "8.5.1", ""),  # classic Teams
            ("Signal/7.40.1", _WIN, "130.0.6723.191", "33.3.1", ""),
            ("WhatsApp/2.2343.6", _WIN, "112.0.5615.204", "24.6.4", ""),  # the Electron desktop app
            ("obsidian/1.8.9", _MAC, "132.0.6834.210", "34.3.0", ""),
        )
    ),
]

#: (real agent, entry it must resolve to, category): agents the catalogue used to miss.
MISSES = [
    ("Xenu's Link Sleuth 1.0p", "Xenu Link Sleuth", "monitor"),
    ("Xymon xymonnet/4.3.17", "Xymon", "monitor"),
    ("ApplicationHealthService: Ping Service", "ApplicationHealthService", "monitor"),
    ("Apple-PubSub/65.28", "Apple-PubSub", "feed-reader"),
    ("Akregator/5.22.3; librss/remnants", "Akregator", "feed-reader"),
    ("FeeddlerRSS/2.4 CFNetwork/548.1.4 Darwin/11.0.0", "Feeddler", "feed-reader"),
    ("ClamAV/0.103.8 (OS: linux-gnu, ARCH: x86_64, CPU: x86_64)", "ClamAV", "library"),
    ("Microsoft-CryptoAPI/10.0", "Microsoft-CryptoAPI", "library"),
    ("Sectigo DCV", "Sectigo DCV", "monitor"),
    ("Discourse/2.6.0.beta3", "Discourse", "social-preview"),
    ("IFTTT-Protocol/v1", "IFTTT", "other"),
    ("grpc-java-netty/1.44.1", "gRPC", "library"),
    (
        "Mozilla/5.0 (Linux; Android 4.2.1; en-us; Nexus 5 Build/JOP40D) AppleWebKit/535.19 (KHTML, like Gecko; "
        "googleweblight) Chrome/38.0.1025.166 Mobile Safari/535.19",
        "googleweblight",
        "other",
    ),
    # no published agent of it was found: the token inside a browser agent, as the audit saw it
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 "
        "SyntheticsAgent",
        "SyntheticsAgent",
        "monitor",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) TagInspector/500.1 "
        "Chrome/90.0.4430.72 Safari/537.36 Edg/90.0.818.42",
        "TagInspector",
        "monitor",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 11_2_1) AppleWebKit/537.36 (KHTML, like Gecko) Cypress/6.4.0 "
        "Chrome/87.0.4280.141 Electron/11.2.1 Safari/537.36",
        "Cypress",
        "library",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:52.0) Gecko/20100101 Firefox/52.0 DejaClick/2.9.7.2",
        "DejaClick",
        "monitor",
    ),
]

#: Crawlers whose names look like the words above, still recognised.
LOOKALIKE_CRAWLERS = [
    (
        "Mozilla/5.0 (compatible; Butterfly/1.0; +http://labs.topsy.com/butterfly/) Gecko/2009032608 Firefox/3.0.8",
    ),
    ("Mozilla/5.0 (compatible; Sonic/1.0; http://www.yama.info.waseda.ac.jp/~crawler/info.html)",),
    ("NING/1.0",),
    ("Mozilla/5.0 (compatible; 008/0.83; http://www.80legs.com/webcrawler.html) Gecko/2008032620",),
    ("RED/1 (https://redbot.org/)",),
    ("voyager/2.0 (http://www.kosmix.com/crawler.html)",),
    ("Viber",),
    ("Pinterest/0.2 (+http://www.pinterest.com/bot.html)",),
    ("Mozilla/5.0 (compatible; Daum/4.1; +http://cs.daum.net/faq/15/4118.html?faqId=28966)",),
    ("2Bone_LinkChecker/1.0 libwww-perl/6.03",),
    (
        "Mozilla/5.0 (Linux; U; Android 4.1.2; cs-cz; Seznam screenshot-generator Build/Q3) AppleWebKit/534.30 "
        "(KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
    ),
    ("larbin_2.6.3 (larbin2.6.3@unspecified.mail)",),
    ("findlinks/2.0.5 (+http://wortschatz.uni-leipzig.de/findlinks/)",),
    ("YahooSeeker-Testing/v3.9 (compatible; Mozilla 4.0; MSIE 5.5; http://search.yahoo.com/)",),
]


def _claims(catalog: Catalog, agents: list[str]) -> dict[str, str]:
    return {ua: c.name for ua, c in zip(agents, catalog.classify_many(agents)) if c is not None}


def test_reference_browsers_are_never_crawlers(catalog: Catalog) -> None:
    """Not one of the ~17,000 real browser, phone, TV, console and in-app agents is a crawler."""
    agents = list(bundled_agents("browsers"))
    assert len(agents) >= 15_000
    claims = _claims(catalog, agents)
    assert claims == {}, f"{len(claims)} browsers named crawlers, e.g. {list(claims.items())[:10]}"


@pytest.mark.parametrize(("word", "ua"), AUDIT_BROWSERS, ids=[w for w, _ in AUDIT_BROWSERS])
def test_audit_browsers_are_not_crawlers(catalog: Catalog, word: str, ua: str) -> None:
    """The agents the audit saw named as crawlers (device models, build ids, apps) are people."""
    found = catalog.classify(ua)
    assert found is None, f"{word!r}: named {found.name!r}" if found else ""


@pytest.mark.parametrize(("ua", "name", "category"), MISSES, ids=[n for _, n, _ in MISSES])
def test_missed_agents_are_named(catalog: Catalog, ua: str, name: str, category: str) -> None:
    """Link checkers, monitors, feed readers and service agents resolve to their own entry."""
    found = catalog.classify(ua)
    assert found is not None, f"{ua!r} not recognised"
    assert (found.name, found.category) == (name, category)


@pytest.mark.parametrize(("ua",), LOOKALIKE_CRAWLERS, ids=[u[:24] for (u,) in LOOKALIKE_CRAWLERS])
def test_crawlers_with_lookalike_names_still_recognised(catalog: Catalog, ua: str) -> None:
    """Word boundaries and masks cost no real crawler: products, glued versions, hand-checked names."""
    assert catalog.classify(ua) is not None


def test_welcome_crawlers_are_recognised(catalog: Catalog) -> None:
    """Every agent of rules/agents/good-bots.txt is a catalogue crawler (and none a generic guess)."""
    agents = list(bundled_agents("good-bots"))
    found = catalog.classify_many(agents)
    assert [ua for ua, c in zip(agents, found) if c is None] == []
    assert sum(c.generic for c in found if isinstance(c, Crawler)) < len(agents) // 20


def test_service_agents_are_shared_tools_not_one_operator(catalog: Catalog) -> None:
    """Agents every Windows PC, mail server or gRPC client sends are libraries: blocked by IP only."""
    for name in ("Microsoft-CryptoAPI", "ClamAV", "gRPC", "Cypress"):
        assert catalog.by_name(name).category == "library"
