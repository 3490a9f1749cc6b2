"""The catalogue's output types: one frozen record per crawler, plus its verification facts.

These are what the identify stage hands downstream (judge, decide, report): the matcher returns
a :class:`Crawler` (or ``None`` for "not a known crawler") for each distinct user agent.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The category vocabulary, in one table; the YAML header documents each term.
CATEGORIES: tuple[str, ...] = (
    "search-engine",  # indexes pages for a web search engine (Googlebot, bingbot, Baiduspider)
    "ai-training",  # collects pages to train AI models (GPTBot, ClaudeBot, CCBot, Bytespider)
    "ai-search",  # indexes pages for an AI answer engine (OAI-SearchBot, PerplexityBot)
    "ai-assistant",  # fetches a page on a user's request to an AI assistant (ChatGPT-User)
    "seo",  # link and SEO analytics (AhrefsBot, SemrushBot, MJ12bot, DotBot)
    "archiver",  # web archives (ia_archiver, archive.org_bot, heritrix)
    "monitor",  # uptime, performance and health checks (UptimeRobot, Pingdom)
    "scanner",  # security and vulnerability scanners (zgrab, masscan, Nuclei, sqlmap, Nikto)
    "social-preview",  # link previews for social networks and chat (facebookexternalhit)
    "feed-reader",  # RSS/Atom aggregators (Feedly, Inoreader)
    "library",  # HTTP libraries, CLI tools and headless browsers (curl, python-requests)
    "other",  # any other automated agent, incl. advertising and generic catalogue patterns
)


@dataclass(frozen=True, slots=True)
class Verification:
    """How a client claiming to be this crawler can be proven genuine.

    ``ip_ranges`` names published range lists bundled under ``rules/ip-ranges`` (e.g.
    ``googlebot``); ``rdns_suffixes`` are the domains a forward-confirmed reverse DNS name must
    end with (e.g. ``googlebot.com``). Either may be empty.
    """

    ip_ranges: tuple[str, ...]
    rdns_suffixes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Crawler:
    """One catalogue entry: who a user agent belongs to and how it is expected to behave.

    ``patterns`` are case-insensitive regexes searched in the full user agent (``generic``
    entries are searched in the user agent with browser tokens stripped, and only when no named
    entry matches). ``robots_token`` is the robots.txt product token the crawler obeys, ``None``
    when it obeys none; ``respects_robots`` is ``None`` when unknown. When several entries
    match, the highest ``priority`` wins, then the most specific pattern: hand-checked
    crawlers outrank imported ones, and both outrank HTTP libraries a crawler's agent embeds
    (``LinkedInBot ... Apache-HttpClient`` is LinkedInBot).
    """

    name: str
    operator: str
    category: str
    patterns: tuple[str, ...]
    robots_token: str | None
    respects_robots: bool | None
    verification: Verification | None
    url: str | None
    generic: bool = False
    priority: int = 0
