#!/usr/bin/env python3
"""Build ``rules/crawlers.yaml`` from the curated table and the MIT crawler catalogues.

Re-runnable: ``.venv/bin/python tools/build_catalog.py [--source DIR] [--output FILE]``.
Reads ../shared/data/ua-catalogues at build time only; the YAML it writes is committed and
shipped. Merge order (earlier wins, later sources only add what is not covered yet):

1. ``tools/catalog_curated.yaml``: hand-checked entries for the crawlers that matter;
2. ai.robots.txt ``robots.json``: AI crawlers and assistants, with their "respect" claims;
3. monperrus/crawler-user-agents: named patterns with tags and example user agents;
4. JayBizzle/Crawler-Detect ``Crawlers.json``: the long tail, as ``generic`` entries that are
   matched only after browser tokens (``Exclusions.json``) are stripped and only when no named
   entry matches.

Imported plain patterns get ``\\b`` before a leading word character (``bounded``), Android
build ids are dropped, and the catalogue's ``masks`` keep imported patterns off device models,
build ids and in-app browser data. Last, every agent of ``rules/agents/browsers.txt`` (real
people's browsers and apps) is classified: an imported word that names one is dropped (and
reported), any other pattern that does stops the build.

The LGPL device-detector files are never read here (they are test oracles only).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from botguard.catalog._literals import is_plain, plain_literal  # noqa: E402
from botguard.catalog.catalog import Catalog  # noqa: E402
from botguard.catalog.loader import ROBOTS_TOKEN, parse_document  # noqa: E402
from botguard.catalog.records import Crawler  # noqa: E402
from botguard.catalog.reference import bundled_agents  # noqa: E402

DEFAULT_SOURCE = REPO.parent / "shared" / "data" / "ua-catalogues"
CURATED = Path(__file__).resolve().parent / "catalog_curated.yaml"

#: Provenance of every shipped source (shared/data/SOURCES.md); all MIT-licensed.
SOURCES = (
    {
        "name": "crawler-user-agents",
        "repository": "monperrus/crawler-user-agents",
        "file": "crawler-user-agents.json",
        "commit": "7c7f9f254f16fcbc7d0fcb60d0a188897c00b050",
        "license": "MIT",
        "copyright": "Martin Monperrus and contributors",
    },
    {
        "name": "ai.robots.txt",
        "repository": "ai-robots-txt/ai.robots.txt",
        "file": "robots.json",
        "commit": "738c80df2169027ce0e07c9976fd3f2f57dd8f7b",
        "license": "MIT",
        "copyright": "ai.robots.txt contributors",
    },
    {
        "name": "Crawler-Detect",
        "repository": "JayBizzle/Crawler-Detect",
        "file": "raw/Crawlers.json, raw/Exclusions.json",
        "commit": "f7926d40cb01c8f2488467dc0b476fd12d0359a8",
        "license": "MIT",
        "copyright": "Mark Beech (JayBizzle) and contributors",
    },
)

#: ai.robots.txt names that are ordinary words: matched case-sensitively as whole tokens only,
#: so "Cursor" never fires inside another word.
AI_WORD_NAMES = frozenset({"Cursor", "Devin", "OpenAI", "NovaAct", "Lightpanda", "Awario", "Anomura"})

#: ai.robots.txt names too generic to identify a user agent at all ("LCC" is in every Windows
#: "SLCC1", "Spider" in thousands of agents): kept as robots.txt tokens with no patterns.
AI_TOKEN_ONLY = frozenset({"Spider", "LCC", "Operator", "Code", "YaK", "UseAI", "Trae"})

#: crawler-user-agents patterns that fire on real browsers, rewritten (None drops the pattern).
#: Plain rewrites get word boundaries like every imported plain pattern (see ``bounded``).
MONPERRUS_OVERRIDES: dict[str, str | None] = {
    "Sonic": r"(?<![\w-])Sonic(?![\w-])(?! Slack_SSB)",  # Slack desktop: "... Sonic Slack_SSB/4.35"
    "Butterfly": r"Butterfly\/",  # Topsy's "Butterfly/1.0"; HTC Butterfly phones name it bare
    "Fluid": None,  # a site-specific browser people use on macOS; also a Qualcomm phone ("; FLUID)")
    "MetaIAB Facebook": None,  # Facebook's in-app browser on people's phones, not a preview fetcher
    "Viber": r"^Viber(?!\/)",  # the fetchers ("Viber", "ViberUrlDownloader"), not the app "Viber/12.8"
    r"Fetch\/": r"(?:\b|Content)Fetch\/",  # "SubstackContentFetch/1.0", not "MozacFetch/49.0"
}

#: Crawler-Detect patterns that fire on real browsers and apps, rewritten (None drops the pattern).
CRAWLER_DETECT_OVERRIDES: dict[str, str | None] = {
    r"Slack\/": r"Slack\/(?!.*(?:Electron|AtomShell)\/)",  # the Slack desktop app, used by people
    "libwww": None,  # Lynx's and NCSA Mosaic's libwww; the Perl library is named (libwww-perl)
    "LibWeb": None,  # the engine of the SerenityOS and Ladybird browsers
    "NetworkingExtension": None,  # Apple's WebKit networking process on people's devices
    "Outlook-iOS": r"Outlook-iOS(?!-Android)",  # "Outlook-iOS-Android/1.0" is Outlook's in-app browser
    r"Word\/": r"(?:^|\) )Word\/",  # Word for Mac ("...) Word/14.0"), not "1Password/", "4 Pics 1 Word/"
    r"Fetch\/[0-9]": r"\bFetch\/[0-9]",  # not Firefox for Android's "MozacFetch/49.0"
    # names crawlers glue to a prefix, spelt out (a bare word only matches where a word starts)
    "Seeker": r"(?:\b|Yahoo)Seeker",
    "acoon": r"(?:\b|Open)acoon",
    "Owler": r"(?:\b|Kr)Owler",
    "7Siters": r"(?:\b|77)7Siters",
    "httpRequest": r"(?:\b|Win|_)httpRequest",
    "SitemapGenerator": r"(?:\b|Xml)SitemapGenerator",
    "Covario-IDS": r"\bCovario-?IDS",
}

#: Browser and app tokens stripped, like Crawler-Detect's ``Exclusions.json``, before generic
#: patterns are matched: platform tokens of old phones that read like a product
#: ("(compatible; OSS/1.0; ...)", "(X11; Series60/2.1 ...)"), and apps whose names hold a
#: crawler keyword ("CamScanner", "FriendFinder", "BaconReader", "fuboTV", a J2ME "Domain/@..."
#: operator field).
EXTRA_EXCLUSIONS = (
    r"Series ?60\/[\d.]+",
    r"webOS\/[\d.]+",
    r"OSS\/[\d.]+",
    r"Go\.Web\/[\d.]+",
    r"NetPositive\/[\d.]+",
    r"CamScanner\/[\d.]+",
    r"FriendFinder",
    r"BaconReader\/[\d.]+",
    r"OYO Reader",
    r"\bfuboTV\/",
    r"\bDomain\/@[\w.-]+",
)

#: Text describing the person's device rather than the client, removed from every agent before
#: any pattern is matched (the catalogue's ``masks``): a device model with its build id
#: ("; HUAWEI SONIC Build/HuaweiU8650", "; Pixel 8 Build/AP3A.240617.008") and in-app browser
#: metadata ("[FBAN/FBIOS;...;FBCR/OrangeBotswana]"). No pattern may name a phone, a build or a
#: carrier as a crawler. An Electron desktop app's agent is masked whole ("... Code/1.97.2
#: Chrome/128 Electron/32.2.7 ...": VS Code, Notion, Slack, Mattermost): it is an app people use,
#: whose name imported words would take for a crawler's; only a hand-checked entry may claim it.
MASKS = (
    r";[^;()]*\bBuild/[^;()]*",
    r"\[FB[^\]]*(?:\]|$)",
    r"(?s:^.*\bElectron/.*)",
)

#: Imported plain patterns shaped like an Android build id ("AP3A.240617.008"): they name the
#: firmware of millions of phones, never one crawler, so they are dropped.
BUILD_ID = re.compile(r"[A-Z][A-Z0-9]{3}\.\d{6}\.\d{3}", re.IGNORECASE)

#: monperrus tags in priority order -> category.
TAG_CATEGORY = (
    ("scanner", "scanner"),
    ("ai-crawler", "ai-training"),
    ("archiver", "archiver"),
    ("feed-reader", "feed-reader"),
    ("social-preview", "social-preview"),
    ("monitoring", "monitor"),
    ("seo", "seo"),
    ("search-engine", "search-engine"),
    ("http-library", "library"),
    ("browser-automation", "library"),
    ("advertising", "other"),
    ("academic", "other"),
)

#: Keyword guesses for Crawler-Detect's unlabelled long tail (first hit wins).
KEYWORD_CATEGORY = (
    (
        r"scan|nmap|nikto|sqlmap|zgrab|masscan|nuclei|acunetix|vuln|security|pentest|exploit|"
        r"fuzz|census|expanse|shodan|probe",
        "scanner",
    ),
    (r"feed|rss|atom|podcast|news ?reader|aggregat", "feed-reader"),
    (r"monitor|uptime|ping|check|status|health|alert|watch|synthetic", "monitor"),
    (r"archiv|wayback|heritrix|webcite", "archiver"),
    (r"seo|backlink|rank|serp|audit|sitemap|link ?check|majestic|moz", "seo"),
    (r"preview|embed|unfurl|share|card|thumbnail|screenshot", "social-preview"),
    (r"\bgpt|\bai\b|llm|openai|anthropic|claude|perplexity|cohere|dataset", "ai-training"),
    (
        r"curl|wget|python|java|perl|php|ruby|okhttp|http ?client|urllib|requests|axios|fetch|"
        r"node|golang|\bgo\b|libwww|guzzle|scrapy|headless|phantom|selenium|puppeteer|playwright|"
        r"dart|rust|docker|git/|gradle|jetty|lwp|httpie|wininet|winhttp|\.net",
        "library",
    ),
    (r"search|index|spider|crawl", "search-engine"),
)


def main(argv: list[str] | None = None) -> int:
    """Build the catalogue and print a short summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=REPO / "rules" / "crawlers.yaml")
    args = parser.parse_args(argv)
    src: Path = args.source
    entries = load_curated()
    curated = {c.name for c in entries}
    entries = merge_ai_robots(entries, json.loads((src / "ai-robots-txt.robots.json").read_text()))
    entries = merge_monperrus(entries, json.loads((src / "crawler-user-agents.json").read_text()))
    crawlers_json = json.loads((src / "crawler-detect" / "raw_Crawlers.json").read_text())
    exclusions = json.loads((src / "crawler-detect" / "raw_Exclusions.json").read_text())
    exclusions += EXTRA_EXCLUSIONS
    entries = merge_crawler_detect(entries, crawlers_json)
    entries, dropped = spare_reference_browsers(entries, exclusions, curated)
    doc = {
        "version": 1,
        "sources": list(SOURCES),
        "exclusions": exclusions,
        "masks": list(MASKS),
        "crawlers": [to_yaml(c) for c in entries],
    }
    parse_document(doc)  # the loader's validation: never write a file it would reject
    args.output.write_text(render(doc), encoding="utf-8")
    patterns = sum(len(c.patterns) for c in entries)
    print(
        f"wrote {args.output}: {len(entries)} entries, {patterns} patterns, {len(exclusions)} exclusions",
        file=sys.stderr,
    )
    print("categories:", dict(Counter(c.category for c in entries)), file=sys.stderr)
    for name, pattern, agent in dropped:
        print(f"dropped {name!r} pattern {pattern!r}: matches real browser {agent!r}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- sources


#: Match priorities: hand-checked crawlers outrank imported ones; libraries rank lowest because
#: crawlers often embed them ("LinkedInBot/1.0 (... Apache-HttpClient ...)").
PRIORITY_CURATED, PRIORITY_IMPORTED, PRIORITY_LIBRARY = 2, 1, 0


def load_curated() -> list[Crawler]:
    """The hand-written table, validated by the same code that loads the shipped file."""
    crawlers, _, _ = parse_document({"crawlers": yaml.safe_load(CURATED.read_text())})
    return [_prioritised(c, PRIORITY_CURATED) for c in crawlers]


def _prioritised(crawler: Crawler, priority: int) -> Crawler:
    """Set an entry's priority: generic entries have their own tier, libraries rank lowest; a
    priority the curated table gives an entry stands."""
    if crawler.priority:
        return crawler
    if crawler.generic:
        return replace(crawler, priority=0)
    return replace(crawler, priority=PRIORITY_LIBRARY if crawler.category == "library" else priority)


def merge_ai_robots(entries: list[Crawler], robots: dict[str, dict]) -> list[Crawler]:
    """Add each ai.robots.txt agent that no earlier entry already identifies."""
    out = list(entries)
    catalog = Catalog(out, masks=MASKS)
    for key, info in robots.items():
        token = _product_token(key)
        owner = _owner(out, catalog, key)
        if owner is not None and _same_agent(owner, key, token):
            continue
        out.append(
            _prioritised(
                Crawler(
                    name=_unique_name(out, key),
                    operator=_clean_operator(info.get("operator", "")),
                    category=_ai_category(info.get("function", "")),
                    patterns=() if key in AI_TOKEN_ONLY else (_token_pattern(key),),
                    robots_token=token,
                    respects_robots=_respect(info.get("respect", "")),
                    verification=None,
                    url=_first_url(info.get("operator", "")) or _first_url(info.get("description", "")),
                ),
                PRIORITY_IMPORTED,
            )
        )
    return out


def merge_monperrus(entries: list[Crawler], agents: list[dict]) -> list[Crawler]:
    """Add crawler-user-agents patterns whose example agents no earlier entry identifies.

    Coverage is judged against the curated and ai.robots.txt entries only: the patterns of this
    source are distinct, so they never make one another redundant.
    """
    out = list(entries)
    catalog = Catalog(out, masks=MASKS)
    catalog.classify_many([ua for item in agents for ua in item.get("instances") or []])  # one batch
    known = {_bare(p).lower() for c in out for p in c.patterns}
    for item in agents:
        pattern, instances = item["pattern"], item.get("instances") or []
        pattern = MONPERRUS_OVERRIDES.get(pattern, pattern)
        if pattern is None or _build_id(pattern):
            continue
        if instances and _covered(catalog, pattern, instances):
            continue
        if _bare(pattern).lower() in known:
            continue
        known.add(_bare(pattern).lower())
        name = _unique_name(out, _display_name(pattern, instances))
        category = _tag_category(item.get("tags") or [])
        out.append(
            _prioritised(
                Crawler(
                    name=name,
                    operator=_domain(item.get("url")) or "unknown",
                    category=category,
                    patterns=(bounded(pattern),),
                    robots_token=_derived_token(name, category),
                    respects_robots=None,
                    verification=None,
                    url=item.get("url"),
                ),
                PRIORITY_IMPORTED,
            )
        )
    return out


def merge_crawler_detect(entries: list[Crawler], patterns: list[str]) -> list[Crawler]:
    """Add Crawler-Detect's patterns as generic entries (named entries always win over them)."""
    out = list(entries)
    known = {_bare(p).lower() for c in out for p in c.patterns}
    for source in patterns:
        pattern = CRAWLER_DETECT_OVERRIDES.get(source, source)
        if pattern is None or _bare(pattern).lower() in known or _build_id(pattern):
            continue
        known.add(_bare(pattern).lower())
        label = "generic crawler keywords" if pattern.count("|") >= 5 else _pattern_label(pattern)
        out.append(
            Crawler(
                name=_unique_name(out, label if label else pattern, suffix="generic"),
                operator="unknown",
                category="other" if pattern.count("|") >= 5 else _keyword_category(pattern),
                patterns=(bounded(pattern),),
                robots_token=None,
                respects_robots=None,
                verification=None,
                url=None,
                generic=True,
            )
        )
    return out


# ---------------------------------------------------------------- pattern hygiene


def bounded(pattern: str) -> str:
    r"""An imported plain pattern with ``\b`` before it when it starts with a word character.

    Catalogues write bare words ("Demon", "NING/", "008/"), which as substrings hit browsers:
    "GreenDemon", Thunderbird's "Lightning/", Opera Mini's "4.4.39008/", "1Password/",
    "AmigaVoyager/". Bounded, they match only where a word starts. The end stays open: crawlers
    glue versions and suffixes to their names ("larbin2.6.3", "findlinks/2.0"), and a closed end
    would lose them while saving no browser. Regexes and anchored patterns are left as written;
    names that crawlers glue to a prefix ("YahooSeeker", "OpenAcoon") are spelt out in the
    ``*_OVERRIDES`` tables.
    """
    if not is_plain(pattern) or pattern.startswith(("^", "\\b")) or not _word_char(pattern[0]):
        return pattern
    return "\\b" + pattern


def _bare(pattern: str) -> str:
    """A pattern without the ``\\b`` ``bounded`` adds, to compare with the source's."""
    return pattern.removeprefix("\\b") if is_plain(pattern) else pattern


def _word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _build_id(pattern: str) -> bool:
    """Whether a plain pattern is an Android build id (a lookalike, never a crawler's name)."""
    literal = plain_literal(pattern)
    return literal is not None and BUILD_ID.fullmatch(literal.text) is not None


def spare_reference_browsers(
    entries: list[Crawler], exclusions: list[str], curated: set[str]
) -> tuple[list[Crawler], list[tuple[str, str, str]]]:
    """Drop each imported plain pattern that names an agent of ``rules/agents/browsers.txt``.

    The reference browsers are real people's agents: an imported word matching one is a
    lookalike, whatever its source says, and goes. A regex, or any pattern of a hand-checked
    (curated) entry, matching one stops the build: it needs a rewrite (the ``*_OVERRIDES`` or
    ``EXTRA_EXCLUSIONS`` tables, or ``tools/catalog_curated.yaml``), not silent loss. Returns the
    entries and what was dropped (entry name, pattern, the browser agent it matched).
    """
    agents = list(bundled_agents("browsers"))
    dropped: list[tuple[str, str, str]] = []
    while True:
        catalog = Catalog(entries, exclusions, masks=MASKS)
        claims = [(c, ua) for ua, c in zip(agents, catalog.classify_many(agents)) if c]
        if not claims:
            return entries, dropped
        culprits = {(c, p, ua) for c, ua in claims for p in c.patterns if _matches(c, p, ua, exclusions)}
        wrong = sorted(
            f"{c.name!r} pattern {p!r} matches {ua!r}"
            for c, p, ua in culprits
            if c.name in curated or not is_plain(p)
        )
        if wrong:
            raise SystemExit("patterns match real browsers:\n  " + "\n  ".join(wrong))
        for crawler in {c for c, _, _ in culprits}:
            bad = {p for c, p, _ in culprits if c is crawler}
            dropped.extend(sorted((crawler.name, p, ua) for c, p, ua in culprits if c is crawler))
            kept = tuple(p for p in crawler.patterns if p not in bad)
            at = entries.index(crawler)
            entries = entries[:at] + ([replace(crawler, patterns=kept)] if kept else []) + entries[at + 1 :]


def _matches(crawler: Crawler, pattern: str, agent: str, exclusions: list[str]) -> bool:
    """Whether one pattern of an entry, matched as the catalogue matches it, names ``agent``."""
    alone = Catalog([replace(crawler, patterns=(pattern,))], exclusions, masks=MASKS)
    return alone.classify(agent) is not None


# ---------------------------------------------------------------- ai.robots.txt helpers


def _product_token(key: str) -> str | None:
    """The RFC 9309 token an ai.robots.txt name stands for (``iaskspider/2.0`` -> ``iaskspider``)."""
    if ROBOTS_TOKEN.fullmatch(key):
        return key
    head = re.match(r"[A-Za-z_-]+(?=/[\d.]+$)", key)
    return head.group(0) if head else None


def _token_pattern(key: str) -> str:
    """A whole-token regex for an agent name; plain words are also case-sensitive."""
    name = key.split("/", maxsplit=1)[0] if re.search(r"/[\d.]+$", key) else key
    body = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
    return f"(?-i:{body})" if name in AI_WORD_NAMES else body


def _same_agent(owner: Crawler, key: str, token: str | None) -> bool:
    """Whether ``owner`` (which matches the bare name ``key``) is that agent, not a relative."""
    wanted = {key.lower(), (token or "").lower(), key.split("/", maxsplit=1)[0].lower()}
    return (
        owner.name.lower() in wanted
        or (owner.robots_token or "").lower() in wanted
        or any(w and w.replace(" ", "") == owner.name.lower().replace(" ", "") for w in wanted)
    )


def _owner(entries: list[Crawler], catalog: Catalog, agent: str) -> Crawler | None:
    """The entry named ``agent``, else the one the bare name classifies as (curated only)."""
    exact = [c for c in entries if c.name.lower() == agent.lower()]
    return exact[0] if exact else catalog.classify(agent)


def _clean_operator(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).strip()
    if not text or text.lower().startswith(("unclear", "unknown")):
        return "unknown"
    text = re.split(r" that | which | used | to |, |\. ", text)[0].strip().rstrip(".")
    return text[:60] or "unknown"


def _ai_category(function: str) -> str:
    f = function.lower()
    if "search" in f:
        return "ai-search"
    if re.search(r"assistant|agent|coding|user|answer|prompt|chat|action", f):
        return "ai-assistant"
    return "ai-training"


def _respect(text: str) -> bool | None:
    t = text.strip().lstrip("[").lower()
    if t.startswith("yes"):
        return True
    if t.startswith("no"):
        return False
    return None


def _first_url(text: str) -> str | None:
    found = re.search(r"https?://[^\s)\]]+", text or "")
    return found.group(0).rstrip(".,") if found else None


# ---------------------------------------------------------------- crawler-user-agents helpers


def _covered(catalog: Catalog, pattern: str, instances: list[str]) -> bool:
    """All examples already resolve to one entry that plausibly is this agent."""
    owners = {catalog.classify(ua) for ua in instances}
    if None in owners or len(owners) != 1:
        return False
    owner = owners.pop()
    assert owner is not None
    label = _pattern_label(pattern).lower()
    names = {owner.name.lower(), (owner.robots_token or "").lower()}
    return any(n and (n in label or label in n) for n in names) or any(
        label and label in p.lower().replace("\\", "") for p in owner.patterns
    )


def _display_name(pattern: str, instances: list[str]) -> str:
    """A readable name: the text the pattern matches in its first example, else its literal."""
    for ua in instances[:1]:
        found = re.search(pattern, ua, re.IGNORECASE)
        if found:
            text = found.group(0).strip(" /;()+:,-_.")
            if 2 <= len(text) <= 40 and text.count(" ") <= 3:
                return text
    return _pattern_label(pattern) or pattern


def _tag_category(tags: list[str]) -> str:
    for tag, category in TAG_CATEGORY:
        if tag in tags:
            return category
    return "other"


def _derived_token(name: str, category: str) -> str | None:
    """Crawlers usually obey their own name as robots.txt token; tools and scanners obey none."""
    if category in ("library", "scanner", "monitor"):
        return None
    return name if ROBOTS_TOKEN.fullmatch(name) else None


def _domain(url: str | None) -> str | None:
    if not url:
        return None
    host = (urlparse(url).hostname or "").lower()
    host = re.sub(r"^(www\d?|bot|crawler|help|support|docs|developers?)\.", "", host)
    return host or None


# ---------------------------------------------------------------- Crawler-Detect helpers


def _pattern_label(pattern: str) -> str:
    """Readable text of a regex: unescape, drop syntax, keep the longest plain run."""
    text = re.sub(r"\\([^dswbDSWB])", r"\1", pattern)
    text = re.sub(r"\\[dswbDSWB]|\[[^\]]*\]|\(\?[!=<][^)]*\)|[\^$*+?{}]|\{\d+(,\d*)?\}", "\0", text)
    parts = [p.strip(" /;:(),|.-_") for p in re.split(r"[\0|()]", text)]
    parts = [p for p in parts if len(p) >= 2]
    return max(parts, key=len) if parts else ""


def _keyword_category(pattern: str) -> str:
    low = pattern.lower()
    for rx, category in KEYWORD_CATEGORY:
        if re.search(rx, low):
            return category
    return "other"


# ---------------------------------------------------------------- output


def _unique_name(entries: list[Crawler], name: str, suffix: str = "2") -> str:
    taken = {c.name.lower() for c in entries}
    if name.lower() not in taken:
        return name
    candidate = f"{name} ({suffix})"
    n = 2
    while candidate.lower() in taken:
        n += 1
        candidate = f"{name} ({suffix} {n})"
    return candidate


def to_yaml(c: Crawler) -> dict:
    """One entry as plain data, in the documented key order; ``generic`` only when true."""
    entry = {
        "name": c.name,
        "operator": c.operator,
        "category": c.category,
        "patterns": list(c.patterns),
        "robots_token": c.robots_token,
        "respects_robots": c.respects_robots,
        "verification": None
        if c.verification is None
        else {
            "ip_ranges": list(c.verification.ip_ranges),
            "rdns_suffixes": list(c.verification.rdns_suffixes),
        },
        "url": c.url,
    }
    if c.generic:
        entry["generic"] = True
    if c.priority:
        entry["priority"] = c.priority
    return entry


HEADER = """\
# botguard crawler catalogue -- GENERATED by tools/build_catalog.py; edit
# tools/catalog_curated.yaml (hand-checked entries) and re-run the script instead of this file.
#
# Each entry under `crawlers:`
#   name             unique display name (Catalog.by_name)
#   operator         who runs it ("unknown" when no source says)
#   category         one of the vocabulary below
#   patterns         case-insensitive regexes (Python `re`) searched in the full user agent;
#                    an empty list marks a robots.txt token with no user agent of its own
#   robots_token     the robots.txt product token it obeys ([A-Za-z_-]+, RFC 9309) or null
#   respects_robots  true / false / null (unknown): ai.robots.txt's "respect" field,
#                    operators' documentation
#   verification     null, or {ip_ranges: [names of published range lists bundled under
#                    rules/ip-ranges], rdns_suffixes: [domains a forward-confirmed reverse DNS
#                    name must end with]}
#   url              documentation page, optional
#   generic          true for Crawler-Detect's long-tail patterns: searched only after the
#                    `exclusions` (browser tokens) are removed from the user agent, and only
#                    when no named entry matches, so generic patterns never steal named crawlers
#   priority         integer, default 0: among matching entries the highest priority wins
#                    (2 hand-checked, 1 imported, 0 libraries, which crawlers often embed)
# Then the most specific matching entry wins: the pattern pinning the most literal characters
# (Googlebot-Image over Googlebot), ties going to the earlier entry.
#
# `masks` are regexes removed from every user agent before any pattern is matched: text about
# the person's device (a model and build id, in-app browser metadata), never about the client.
# Imported plain patterns carry word boundaries (\\b) at their word-character ends, and none
# matches an agent of rules/agents/browsers.txt (the build drops any that does).
#
# Category vocabulary
#   search-engine   indexes pages for a web search engine (Googlebot, bingbot, Baiduspider)
#   ai-training     collects pages to train AI models (GPTBot, ClaudeBot, CCBot, Bytespider)
#   ai-search       indexes pages for an AI answer engine (OAI-SearchBot, PerplexityBot)
#   ai-assistant    fetches a page on a user's request to an AI assistant (ChatGPT-User)
#   seo             link and SEO analytics (AhrefsBot, SemrushBot, MJ12bot, DotBot)
#   archiver        web archives (ia_archiver, archive.org_bot, heritrix)
#   monitor         uptime, performance and health checks (UptimeRobot, Pingdom)
#   scanner         security and vulnerability scanners (zgrab, masscan, Nuclei, sqlmap, Nikto)
#   social-preview  link previews for social networks and chat (facebookexternalhit, Slackbot)
#   feed-reader     RSS/Atom aggregators (Feedly, Inoreader)
#   library         HTTP libraries, CLI tools, headless browsers (curl, python-requests, Scrapy)
#   other           any other automated agent: advertising, research, unlabelled generic patterns
#
# Sources and licences (attribution; see also rules/ATTRIBUTION.md)
"""


def render(doc: dict) -> str:
    """The header comment, then the document as JSON-compatible YAML, one entry per line.

    JSON is a subset of YAML, so the file stays YAML for people and tools, while the loader
    reads it with the C ``json`` parser (about 20x faster than libyaml).
    """
    lines = [HEADER]
    lines.extend(
        f"#   {s['name']}: https://github.com/{s['repository']} ({s['file']}) "
        f"commit {s['commit']}, {s['license']} licence, (c) {s['copyright']}\n"
        for s in SOURCES
    )
    lines.append("#   Hand-curated entries: botguard contributors, MIT licence.\n\n")
    dump = lambda value: json.dumps(value, ensure_ascii=False)  # noqa: E731
    lines.append(f'{{"version": {dump(doc["version"])},\n')
    lines.append(' "sources": [\n  ' + ",\n  ".join(map(dump, doc["sources"])) + "],\n")
    lines.append(' "exclusions": ' + dump(doc["exclusions"]) + ",\n")
    lines.append(' "masks": ' + dump(doc["masks"]) + ",\n")
    lines.append(' "crawlers": [\n  ' + ",\n  ".join(map(dump, doc["crawlers"])) + "\n]}\n")
    text = "".join(lines)
    assert yaml.load(text, Loader=yaml.CSafeLoader) == doc, "output must read the same as YAML"
    return text


if __name__ == "__main__":
    raise SystemExit(main())
