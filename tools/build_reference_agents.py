#!/usr/bin/env python3
"""Build ``rules/agents/browsers.txt`` and ``good-bots.txt``: real agents no rule may hit.

Re-runnable: ``.venv/bin/python tools/build_reference_agents.py --uap-core DIR [--catalogues DIR]``
where ``DIR`` holds a uap-core release's ``regexes.yaml``, ``tests/`` and ``test_resources/``
(Debian's ``uap-core`` package installs them in ``/usr/share/uap-core``; or ``apt-get download
uap-core && dpkg -x uap-core_*.deb DEST``) and ``--catalogues`` the MIT crawler catalogues
(``../shared/data/ua-catalogues``); ``--isbot FILE`` adds isbot's hand-sorted list of real browser
agents (``fixtures/browsers.yml`` of omrilotan/isbot, Unlicense). Needs the ``ua-parser`` package,
used only here (``pip install ua-parser``).

- browsers.txt: the user agents of uap-core's test suites (Apache-2.0), kept only where uap-core's
  own parser, run with the same release's regexes, names a browser, webview, in-app browser or
  device app family (an allow-list below), not a ``Spider`` device, and with no URL or e-mail
  address. An allow-list, not a deny-list: an agent of a family nobody looked at stays out, so
  no crawler slips in.
- browsers.txt also takes isbot's ``fixtures/browsers.yml`` (agents grouped by browser, each group
  checked by isbot's maintainers as not a bot), less its groups of examples, bots and glitches
  (``AAA...``, ``ZZZ...``), its mail and office clients (left out as above) and non-ASCII lines.
- good-bots.txt: the example agents (``instances``) of crawler-user-agents (MIT) entries tagged
  as search engines, feed readers, monitors, social previews or archives, and of none of the
  tags of unwelcome traffic (seo, scanner, ai-crawler, advertising, libraries, automation),
  less in-app browser agents filed among them.

Both lists are de-duplicated and sorted; each starts with a ``#`` header naming its sources.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CATALOGUES = REPO.parent / "shared" / "data" / "ua-catalogues"
OUTPUT = REPO / "rules" / "agents"

#: uap-core files whose ``test_cases`` hold real user agents (``user_agent_string``).
UAP_FILES = (
    "tests/test_ua.yaml",
    "tests/test_device.yaml",
    "tests/test_os.yaml",
    "test_resources/firefox_user_agent_strings.yaml",
    "test_resources/opera_mini_user_agent_strings.yaml",
)

#: uap-core browser families kept: browsers, webviews, in-app browsers and apps people use on
#: their devices (media players, chat and social apps). Left out on purpose: feed readers and
#: podcast catchers (their servers fetch on their own, like crawlers) and native mail clients
#: (Outlook, Airmail...: the catalogue names them, as Crawler-Detect does); Outlook's in-app
#: browser (``Outlook-iOS-Android``) and Thunderbird (with Lightning) stay.
BROWSER_FAMILIES = frozenset(
    (
        "1Password",
        "AdobeAIR",
        "Amazon Silk",
        "Android",
        "AngryBirdsBlack",
        "Apple Watch App",
        "ArcGIS Earth",
        "ArcGIS Pro",
        "Collector for ArcGIS",
        "Explorer for ArcGIS",
        "Workforce for ArcGIS",
        "BOLT",
        "Baidu Browser",
        "Baidu Explorer",
        "Basilisk",
        "Bing for iPad",
        "BlackBerry",
        "BlackBerry WebKit",
        "Box",
        "Box Sync",
        "BoxNotes",
        "Brave",
        "Bunjalloo",
        "Camino",
        "Chrome",
        "Chrome Frame",
        "Chrome Mobile",
        "Chrome Mobile WebView",
        "Chrome Mobile iOS",
        "Chromium",
        "Coc Coc",
        "Comodo Dragon",
        "Conkeror",
        "Crosswalk",
        "Dolfin",
        "Dolphin",
        "Dragon",
        "DuckDuckGo Mobile",
        "ELinks",
        "ESPN",
        "Edge",
        "Edge Mobile",
        "Electron",
        "Espial",
        "Facebook",
        "Facebook Messenger",
        "FireWeb",
        "Firefox",
        "Firefox (Shiretoko)",
        "Firefox Beta",
        "Firefox Mobile",
        "Firefox iOS",
        "Flipboard",
        "GoodReader4",
        "Google",
        "HTC",
        "HbbTV",
        "HipChat Desktop Client",
        "IE",
        "IE Large Screen",
        "IE Mobile",
        "ICE Browser",
        "IceCat",
        "Instagram",
        "Iron",
        "Island for iPhone",
        "Jasmine",
        "Kindle",
        "Konqueror",
        "LG Player",
        "LINE",
        "Lightning",
        "Links",
        "LuaKit",
        "Lunascape",
        "Mail.ru Chromium Browser",
        "Maxthon",
        "Midori",
        "Minimo",
        "Mint Browser",
        "MiuiBrowser",
        "Mobile Safari",
        "Mobile Safari UI/WKWebView",
        "MozillaDeveloperPreview",
        "NCSA Mosaic",
        "NetFront",
        "NetFront NX",
        "Netfront",
        "Netscape",
        "Nokia",
        "Nokia Browser",
        "Nokia OSS Browser",
        "Nokia Services (WAP) Browser",
        "ONE Browser",
        "Obigo",
        "Opera",
        "Opera Coast",
        "Opera Mini",
        "Opera Mobile",
        "Opera Neon",
        "Opera Tablet",
        "Otter",
        "Outlook-iOS-Android",
        "Ovi Browser",
        "Pale Moon",
        "Phantom",
        "Phantom Browser",
        "Pinterest",
        "Polaris",
        "Puffin",
        "QQ Browser",
        "QQ Browser Mini",
        "QQ Browser Mobile",
        "QtCarBrowser",
        "QupZilla",
        "Rekonq",
        "RockMelt",
        "Roku",
        "SEMC-Browser",
        "Safari",
        "Sailfish Browser",
        "Samsung Internet",
        "SeaMonkey",
        "SerenityOS Browser",
        "Seznam prohlížeč",
        "Skyfire",
        "Skype",
        "Slack Desktop Client",
        "Sleipnir",
        "Snapchat",
        "Spotify",
        "Symphony",
        "Teleca Browser",
        "Tenta Browser",
        "Thunderbird",
        "ThunderBrowse",
        "Twitter",
        "UC Browser",
        "UP.Browser",
        "VLC",
        "Vivaldi",
        "WMPlayer",
        "Waterfox",
        "WeTab",
        "WebKit Nightly",
        "Whale",
        "WormsiPhone",
        "Yandex Browser",
        "Yelp",
        "Zune",
        "iBrowser",
        "iBrowser Mini",
        "iRAPP",
        "iTunes",
        "mDolphin",
        "qutebrowser",
        "webOS Browser",
    )
)

#: uap-core device families that say nothing about the client (kept only by browser family).
UNKNOWN_DEVICES = frozenset({"Other", "Spider"})

#: Agents dropped whatever their source: a URL or e-mail address (how bots declare themselves,
#: and personal data in a few app agents), Pinterest's crawler ("Pinterest/0.2"), which uap-core
#: files under the Pinterest app's family, and Miniature.io's screenshot service, which isbot
#: lists among QtWebEngine browsers.
EXCLUDED = re.compile(
    r"https?://|\+http|[\w.+-]+@[\w-]+\.[\w.-]+|^Pinterest/0\.|Miniature\.io/", re.IGNORECASE
)

#: isbot browser groups left out: made-up examples and bots ("AAA ...", "ZZZ ..."), and mail and
#: office clients, which the catalogue names (see BROWSER_FAMILIES).
ISBOT_SKIPPED_PREFIXES = ("AAA", "ZZZ")
ISBOT_SKIPPED_GROUPS = frozenset(
    {"Microsoft Outlook", "Office", "Outlook", "Outlook Express", "Outlook Mail", "PowerPoint", "Postbox"}
)

#: crawler-user-agents tags of welcome crawlers, and tags that disqualify an entry.
WELCOME_TAGS = frozenset({"search-engine", "feed-reader", "monitoring", "social-preview", "archiver"})
UNWELCOME_TAGS = frozenset(
    {"seo", "scanner", "ai-crawler", "advertising", "http-library", "browser-automation"}
)

#: Example agents that are people, though the entry is tagged as a crawler: in-app browsers
#: (crawler-user-agents files Facebook's "MetaIAB" webview under link previews).
IN_APP_BROWSER = re.compile(r"MetaIAB|FB_IAB|FBAN/|; wv\)")

HEADER_BROWSERS = """\
# Real browser, phone, tablet, TV, console, webview and in-app user agents: no crawler rule,
# catalogue pattern or rule candidate may match any of them. One agent a line, sorted.
# Generated by tools/build_reference_agents.py from the test suites of ua-parser/uap-core {version}
# (tests/test_ua.yaml, tests/test_device.yaml, tests/test_os.yaml,
# test_resources/firefox_user_agent_strings.yaml, test_resources/opera_mini_user_agent_strings.yaml;
# Apache-2.0, Copyright 2009 Google Inc.), keeping the agents uap-core's parser names a
# browser, webview or device app (not mail clients, feed readers, podcast catchers, bots or
# libraries; none with a URL or e-mail address). See rules/ATTRIBUTION.md.
"""

HEADER_ISBOT = """\
# Also the agents of omrilotan/isbot's fixtures/browsers.yml (Unlicense, public domain;
# commit {commit}), less its example, bot and glitch groups and its mail and office clients.
"""

HEADER_GOOD_BOTS = """\
# Real user agents of welcome crawlers and fetchers (search engines, feed readers, monitors, link
# previews, web archives): no rule candidate may match any of them. One agent a line, sorted.
# Generated by tools/build_reference_agents.py from the "instances" of monperrus/crawler-user-agents
# (crawler-user-agents.json, MIT, (c) Martin Monperrus and contributors) entries tagged
# search-engine, feed-reader, monitoring, social-preview or archiver and no unwelcome tag.
# See rules/ATTRIBUTION.md.
"""


def main(argv: list[str] | None = None) -> int:
    """Write both lists and print their sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uap-core", type=Path, required=True, help="uap-core release directory")
    parser.add_argument("--uap-version", default="v0.16.0", help="release named in the header")
    parser.add_argument("--isbot", type=Path, help="isbot's fixtures/browsers.yml (optional)")
    parser.add_argument("--isbot-commit", default="", help="isbot commit named in the header")
    parser.add_argument("--catalogues", type=Path, default=DEFAULT_CATALOGUES)
    parser.add_argument("--output-dir", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    browsers = set(browser_agents(args.uap_core))
    header = HEADER_BROWSERS.format(version=args.uap_version)
    if args.isbot is not None:
        browsers |= set(isbot_agents(args.isbot))
        header += HEADER_ISBOT.format(commit=args.isbot_commit or "unknown")
    browsers = sorted(browsers)
    bots = sorted(
        set(good_bot_agents(json.loads((args.catalogues / "crawler-user-agents.json").read_text())))
    )
    write(args.output_dir / "browsers.txt", header, browsers)
    write(args.output_dir / "good-bots.txt", HEADER_GOOD_BOTS, bots)
    print(f"browsers.txt: {len(browsers)} agents; good-bots.txt: {len(bots)} agents", file=sys.stderr)
    return 0


def browser_agents(uap_core: Path) -> Iterator[str]:
    """uap-core test agents whose parsed browser family is on the allow-list."""
    from ua_parser import Domain, basic, loaders  # tools-only dependency

    resolve = basic.Resolver(loaders.load_yaml(str(uap_core / "regexes.yaml")))
    for agent in uap_test_agents(uap_core):
        parsed = resolve(agent, Domain.ALL)
        family = parsed.user_agent.family if parsed.user_agent else "Other"
        device = parsed.device.family if parsed.device else "Other"
        if device == "Spider" or EXCLUDED.search(agent):
            continue
        if family in BROWSER_FAMILIES or (family == "Other" and device not in UNKNOWN_DEVICES):
            yield agent


def isbot_agents(path: Path) -> Iterator[str]:
    """isbot's real browser agents, less the skipped groups, URLs, e-mail addresses, non-ASCII."""
    groups = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for group, agents in groups.items():
        if group.startswith(ISBOT_SKIPPED_PREFIXES) or group in ISBOT_SKIPPED_GROUPS:
            continue
        yield from (a for a in usable(agents) if a.isascii() and not EXCLUDED.search(a))


def uap_test_agents(uap_core: Path) -> Iterator[str]:
    """Every usable ``user_agent_string`` of the uap-core test files."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for name in UAP_FILES:
        doc = yaml.load((uap_core / name).read_text(encoding="utf-8"), Loader=loader)
        yield from usable(case["user_agent_string"] for case in doc["test_cases"])


def good_bot_agents(entries: list[dict]) -> Iterator[str]:
    """Example agents of welcome, untainted crawler-user-agents entries."""
    for entry in entries:
        tags = set(entry.get("tags", ()))
        if tags & WELCOME_TAGS and not tags & UNWELCOME_TAGS:
            yield from (a for a in usable(entry.get("instances", ())) if not IN_APP_BROWSER.search(a))


def usable(agents: Iterable[object]) -> Iterator[str]:
    """Agents that survive a one-a-line text file: strings, trimmed, single-line, not ``#``."""
    for agent in agents:
        if not isinstance(agent, str):
            continue
        text = agent.strip()
        if text and not text.startswith("#") and text.isprintable():
            yield text


def write(path: Path, header: str, agents: list[str]) -> None:
    path.write_text(header + "".join(f"{a}\n" for a in agents), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
