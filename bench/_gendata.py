"""Constant tables for the log generator: user agents, IP ranges, site vocabulary.

Kept apart from the generator's logic so the realism lives in data that is easy to review and
extend (add a crawler = add a row), and the logic stays short. Everything here is immutable.
The IP ranges are the ones these operators are publicly known to crawl from (or typical hosting
ranges), so an identity stage that checks published ranges or ASNs sees plausible addresses.
"""

from __future__ import annotations

from typing import NamedTuple

SITE = "www.example.com"
TRAP_PATH = "/internal/trap/"

# --- humans -----------------------------------------------------------------------------------

#: (user agent, weight). Desktop and mobile browsers of early 2024, plus one old IE UA whose
#: "SLCC2" token must not look like a crawler to a careless matcher.
BROWSER_UAS: tuple[tuple[str, int], ...] = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
        30,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
        10,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
        4,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0", 7),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0", 2),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:123.0) Gecko/20100101 Firefox/123.0", 2),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Safari/605.1.15",
        8,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66",
        8,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 OPR/107.0.0.0",
        1,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3.1 Mobile/15E148 Safari/604.1",
        14,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/122.0.6261.89 Mobile/15E148 Safari/604.1",
        2,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
        2,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Mobile Safari/537.36",
        14,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        3,
    ),
    ("Mozilla/5.0 (Android 14; Mobile; rv:123.0) Gecko/123.0 Firefox/123.0", 1),
    (
        "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; SLCC2; .NET CLR 2.0.50727; .NET CLR 3.5.30729; Media Center PC 6.0)",
        1,
    ),
)

#: First octets of residential/mobile ISP space (Orange, BT, Comcast, DTAG, ...): humans live here.
RESIDENTIAL_V4_FIRST_OCTETS: tuple[int, ...] = (
    2,
    24,
    31,
    46,
    67,
    71,
    73,
    77,
    78,
    79,
    81,
    82,
    84,
    86,
    87,
    88,
    89,
    90,
    91,
    92,
    93,
    94,
    98,
    109,
    151,
    176,
    178,
    188,
    212,
    213,
)
#: /32 prefixes of residential IPv6 (Orange FR, DTAG, Comcast, BT).
RESIDENTIAL_V6_PREFIXES: tuple[str, ...] = ("2a01:cb00", "2003:e2", "2601:647", "2a00:23c7", "2a02:8109")

#: Where human sessions come from (first page view of a session).
SEARCH_REFERERS: tuple[tuple[str, int], ...] = (
    ("-", 30),
    ("https://www.google.com/", 40),
    ("https://www.bing.com/", 6),
    ("https://duckduckgo.com/", 5),
    ("https://www.ecosia.org/", 1),
    ("https://t.co/", 3),
    ("https://www.facebook.com/", 3),
    ("https://news.ycombinator.com/", 2),
    ("android-app://com.google.android.gm/", 1),
)

# --- crawlers and other clients --------------------------------------------------------------


class BotSpec(NamedTuple):
    """One crawler identity: its UA, the ranges it crawls from, and how many IPs it uses."""

    name: str  # crawler / product name as a catalogue would call it
    ua: str
    ranges: tuple[str, ...]  # CIDR blocks its IPs are drawn from
    ips: int  # size of its IP pool at the reference scale (1M lines)
    robots_group: str  # "star" (judged by User-agent: *), "root" (its group says Disallow: /) or "seo"


SEARCH_BOTS: tuple[BotSpec, ...] = (
    BotSpec(
        "Googlebot",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("66.249.64.0/20", "2001:4860:4801::/48"),
        12,
        "star",
    ),
    BotSpec(
        "Googlebot",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/122.0.6261.94 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("66.249.64.0/20",),
        10,
        "star",
    ),
    BotSpec(
        "bingbot",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        ("157.55.39.0/24", "40.77.167.0/24", "207.46.13.0/24"),
        8,
        "star",
    ),
    BotSpec(
        "Applebot",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        ("17.241.219.0/24", "17.22.237.0/24"),
        4,
        "star",
    ),
    BotSpec(
        "YandexBot",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        ("5.255.253.0/24", "213.180.203.0/24"),
        3,
        "star",
    ),
)

#: AI crawlers that obey robots.txt. GPTBot and CCBot have a `Disallow: /` group, so obeying means
#: fetching only /robots.txt; the others follow the `*` group.
AI_COMPLIANT_BOTS: tuple[BotSpec, ...] = (
    BotSpec(
        "GPTBot",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        ("20.171.206.0/24", "52.230.152.0/24"),
        3,
        "root",
    ),
    BotSpec(
        "CCBot", "CCBot/2.0 (https://commoncrawl.org/faq/)", ("18.97.9.168/29", "18.97.14.80/29"), 2, "root"
    ),
    BotSpec(
        "ClaudeBot",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
        ("216.73.216.0/22",),
        4,
        "star",
    ),
    BotSpec(
        "PerplexityBot",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; "
        "+https://perplexity.ai/perplexitybot)",
        ("44.221.181.252/30", "44.208.221.196/30"),
        2,
        "star",
    ),
    BotSpec(
        "Amazonbot",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.0.0 Safari/537.36 (Amazonbot/0.1; +https://developer.amazon.com/support/amazonbot)",
        ("52.70.240.0/24", "3.224.220.0/24"),
        3,
        "star",
    ),
    BotSpec(
        "meta-externalagent",
        "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        ("57.141.0.0/24", "173.252.107.0/24"),
        4,
        "star",
    ),
)

#: Bytespider: many IPs in ByteDance's AS396986-like space, ignores robots.txt.
BYTESPIDER = BotSpec(
    "Bytespider",
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
    "(compatible; Bytespider; spider-feedback@bytedance.com)",
    (
        "110.249.201.0/24",
        "110.249.202.0/24",
        "111.225.148.0/24",
        "111.225.149.0/24",
        "220.243.135.0/24",
        "220.243.136.0/24",
    ),
    240,
    "root",
)

#: SEO crawlers that honour Crawl-delay (one request per delay) and Disallow.
SEO_BOTS: tuple[BotSpec, ...] = (
    BotSpec(
        "AhrefsBot",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        ("54.36.148.0/23", "51.222.253.0/24"),
        8,
        "seo",
    ),
    BotSpec(
        "SemrushBot",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        ("185.191.171.0/24",),
        6,
        "seo",
    ),
)

#: SEO crawlers that obey Disallow but fire bursts far faster than their Crawl-delay.
CRAWL_DELAY_VIOLATORS: tuple[BotSpec, ...] = (
    BotSpec(
        "MJ12bot",
        "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)",
        ("5.9.0.0/16", "144.76.0.0/16", "88.99.0.0/16"),
        6,
        "seo",
    ),
    BotSpec(
        "DotBot",
        "Mozilla/5.0 (compatible; DotBot/1.2; +https://opensiteexplorer.org/dotbot; help@moz.com)",
        ("216.244.66.0/24",),
        3,
        "seo",
    ),
)

#: Declared crawlers that ignore robots.txt (some read it first, then ignore it).
ROBOTS_VIOLATORS: tuple[BotSpec, ...] = (
    BotSpec(
        "DataForSeoBot",
        "Mozilla/5.0 (compatible; DataForSeoBot/1.0; +https://dataforseo.com/dataforseo-bot)",
        ("136.243.0.0/16",),
        4,
        "star",
    ),
    BotSpec(
        "Barkrowler",
        "Mozilla/5.0 (compatible; Barkrowler/0.9; +https://babbar.tech/crawler)",
        ("141.95.0.0/16",),
        3,
        "star",
    ),
    BotSpec(
        "serpstatbot",
        "serpstatbot/2.1 (advanced backlink tracking bot; https://serpstatbot.com/; abuse@serpstatbot.com)",
        ("95.216.0.0/16",),
        2,
        "star",
    ),
    BotSpec("Scrapy", "Scrapy/2.11.0 (+https://scrapy.org)", ("167.99.0.0/16", "134.209.0.0/16"), 4, "star"),
)

#: Clients that follow the hidden trap link (robots.txt disallows it for everyone).
HONEYPOT_HITTERS: tuple[BotSpec, ...] = (
    BotSpec(
        "HeadlessChrome",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/121.0.6167.85 Safari/537.36",
        ("35.192.0.0/12", "34.64.0.0/10"),
        6,
        "star",
    ),
    BotSpec(
        "Seekport",
        "Mozilla/5.0 (compatible; Seekport Crawler; http://seekport.com/)",
        ("65.21.0.0/16",),
        2,
        "star",
    ),
    BotSpec(
        "BLEXBot",
        "Mozilla/5.0 (compatible; BLEXBot/1.0; +http://webmeup-crawler.com/)",
        ("94.130.0.0/16",),
        2,
        "star",
    ),
)

#: Hosting ranges disguised scrapers rotate through (DigitalOcean, Hetzner, OVH, AWS, Azure, Linode).
HOSTING_RANGES: tuple[str, ...] = (
    "159.203.0.0/16",
    "167.172.0.0/16",
    "65.108.0.0/16",
    "51.38.0.0/16",
    "3.80.0.0/16",
    "20.120.0.0/16",
    "172.104.0.0/16",
    "104.248.0.0/16",
)

#: Browser UAs disguised scrapers pretend to be (mostly slightly stale Chrome on Windows).
SCRAPER_UAS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0",
)

#: Ranges scanners come from (bullet-proof hosters, Censys, Shadowserver-like research scanners).
SCANNER_RANGES: tuple[str, ...] = (
    "45.148.10.0/24",
    "185.224.128.0/24",
    "193.35.18.0/24",
    "162.142.125.0/24",
    "167.94.138.0/24",
    "194.187.176.0/24",
    "80.94.95.0/24",
    "2a06:4880::/32",
)

SCANNER_PROBE_UAS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.129 Safari/537.36",
    "Mozilla/5.0 (l9scan/2.0.; +https://leakix.net)",
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    "Mozilla/5.0 zgrab/0.x",
)
MASSCAN_UA = "masscan/1.3 (https://github.com/robertdavidgraham/masscan)"

#: Paths vulnerability scanners probe for (this site runs none of these, so they 404).
SCANNER_PATHS: tuple[str, ...] = (
    "/wp-login.php",
    "/.env",
    "/phpmyadmin/",
    "/.git/config",
    "/wp-admin/setup-config.php",
    "/xmlrpc.php",
    "/admin.php",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/.aws/credentials",
    "/server-status",
    "/actuator/env",
    "/HNAP1/",
    "/boaform/admin/formLogin",
    "/cgi-bin/luci/;stok=/locale",
    "/config.json",
    "/wp-content/plugins/wp-file-manager/readme.txt",
    "/.DS_Store",
    "/api/.env",
    "/phpinfo.php",
    "/owa/auth/logon.aspx",
)

#: Request fields that are not HTTP requests, as nginx and Apache log them (with \\x escapes).
INVALID_REQUESTS: tuple[str, ...] = (
    r"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    r"\x16\x03\x01\x00\xCA\x01\x00\x00\xC6\x03\x03\xA7\x9D\x1C",
    r"\x16\x03\x01\x05\xA8\x01\x00\x05\xA4\x03\x03",
    r"\x03\x00\x00/*\xE0\x00\x00\x00\x00\x00Cookie: mstshash=Administr",
    "SSH-2.0-Go",
    "",
)

#: HTTP libraries and tools: (name, UA).
LIBRARY_UAS: tuple[tuple[str, str], ...] = (
    ("curl", "curl/8.5.0"),
    ("curl", "curl/7.81.0"),
    ("python-requests", "python-requests/2.31.0"),
    ("Go-http-client", "Go-http-client/1.1"),
    ("Go-http-client", "Go-http-client/2.0"),
    ("Wget", "Wget/1.21.3"),
    ("python-urllib3", "python-urllib3/2.2.1"),
    ("axios", "axios/1.6.7"),
    ("okhttp", "okhttp/4.12.0"),
    ("libwww-perl", "libwww-perl/6.72"),
)
LIBRARY_RANGES: tuple[str, ...] = (
    "3.120.0.0/14",
    "34.200.0.0/13",
    "178.62.0.0/16",
    "203.0.113.0/24",
    "2a05:d014::/32",
)

# --- site vocabulary --------------------------------------------------------------------------

WORDS: tuple[str, ...] = (
    "linen",
    "oak",
    "cotton",
    "ceramic",
    "copper",
    "walnut",
    "wool",
    "indigo",
    "coastal",
    "nordic",
    "garden",
    "kitchen",
    "lamp",
    "chair",
    "table",
    "mug",
    "vase",
    "rug",
    "blanket",
    "shelf",
    "desk",
    "pillow",
    "bowl",
    "guide",
    "care",
    "how",
    "to",
    "choose",
    "best",
    "small",
    "spaces",
    "winter",
    "summer",
    "sale",
    "review",
    "handmade",
    "minimal",
    "modern",
    "vintage",
    "organic",
    "travel",
    "gift",
    "ideas",
    "colour",
    "light",
)
CATEGORIES: tuple[str, ...] = (
    "living",
    "kitchen",
    "bedroom",
    "bath",
    "garden",
    "lighting",
    "textiles",
    "office",
    "kids",
    "gifts",
    "outlet",
    "new",
)
