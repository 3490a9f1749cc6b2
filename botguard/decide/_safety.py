"""Guards that keep a user-agent block from ever hitting a browser or a genuine search engine.

A catalogue token is a case-insensitive substring; a token like ``mozilla`` or ``google``
would block real people or the real Googlebot. Tokens found inside any reference agent below
are refused (the crawler's clients are then blocked by IP instead).
"""

from __future__ import annotations

__all__ = ["REFERENCE_AGENTS", "safe_ua_token"]

#: Agents a UA rule must never match: current browsers and verifiable good bots.
REFERENCE_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    ),
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"
    ),
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
)
_REFERENCE_LOWER = tuple(agent.lower() for agent in REFERENCE_AGENTS)

#: Shorter tokens match too much by accident.
MIN_TOKEN_LENGTH = 3


def safe_ua_token(token: str) -> bool:
    """True when blocking every agent containing ``token`` spares browsers and good bots.

    Examples:
        >>> safe_ua_token("Bytespider"), safe_ua_token("Google"), safe_ua_token("bot")
        (True, False, False)
    """
    folded = token.strip().lower()
    if len(folded) < MIN_TOKEN_LENGTH or "\r" in folded or "\n" in folded:
        return False
    return not any(folded in agent for agent in _REFERENCE_LOWER)
