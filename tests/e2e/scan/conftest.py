"""Fixtures for scan tests: a hand-written log and robots.txt whose answers were checked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

ROBOTS = """\
User-agent: *
Disallow: /cart
Disallow: /internal/
Allow: /internal/public

User-agent: Bytespider
Disallow: /

User-agent: AhrefsBot
Crawl-delay: 10
Disallow: /cart
"""

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
BYTESPIDER = "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
AHREFS = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"


def line(ip: str, second: int, request: str, status: int, ua: str, referer: str = "-") -> str:
    """One combined-format line at 10:00:SS on 04/Mar/2024 (+0100)."""
    minute, sec = divmod(second, 60)
    return f'{ip} - - [04/Mar/2024:10:{minute:02d}:{sec:02d} +0100] "{request}" {status} 512 "{referer}" "{ua}"\n'


def build_log() -> str:
    lines = [
        # Googlebot: robots.txt first, then 3 allowed pages -> compliance 1.0, allow
        line("66.249.66.1", 0, "GET /robots.txt HTTP/1.1", 200, GOOGLEBOT),
        line("66.249.66.1", 5, "GET /products/1 HTTP/1.1", 200, GOOGLEBOT),
        line("66.249.66.1", 9, "GET /internal/public/faq HTTP/1.1", 200, GOOGLEBOT),
        line("66.249.66.1", 14, "GET /about?x=1 HTTP/1.1", 200, GOOGLEBOT),
        # Bytespider: never fetches robots.txt; everything is disallowed for it (Disallow: / line 7)
        line("110.249.201.9", 1, "GET /products/1 HTTP/1.1", 200, BYTESPIDER),
        line("110.249.201.9", 2, "GET /products/2 HTTP/1.1", 200, BYTESPIDER),
        line("110.249.201.9", 3, "GET /internal/trap/x HTTP/1.1", 200, BYTESPIDER),
        # generic scraper (python-requests): 4 judged, 1 disallowed (/cart, line 2) -> compliance 0.75
        line("203.0.113.5", 20, "GET /robots.txt HTTP/1.1", 200, "python-requests/2.31.0"),
        line("203.0.113.5", 10, "GET /a HTTP/1.1", 200, "python-requests/2.31.0"),
        line("203.0.113.5", 21, "GET /b HTTP/1.1", 200, "python-requests/2.31.0"),
        line("203.0.113.5", 22, "GET /cart?item=3 HTTP/1.1", 200, "python-requests/2.31.0"),
        line("203.0.113.5", 23, "GET /internal/public HTTP/1.1", 200, "python-requests/2.31.0"),
        # a person: page, assets, a link followed to /cart (disallowed for `*`) -> still allow
        line("198.51.100.20", 30, "GET / HTTP/1.1", 200, CHROME),
        line("198.51.100.20", 31, "GET /static/app.css HTTP/1.1", 200, CHROME, "https://shop.example/"),
        line("198.51.100.20", 31, "GET /static/app.js?v=2 HTTP/1.1", 200, CHROME, "https://shop.example/"),
        line("198.51.100.20", 50, "GET /cart HTTP/1.1", 200, CHROME, "https://shop.example/"),
        # a scanner's TLS handshake on port 80: a well-formed line, not an HTTP request
        '45.148.10.1 - - [04/Mar/2024:10:01:00 +0100] "\\x16\\x03\\x01\\x00\\xee\\x01" 400 150 "-" "-"\n',
        # AhrefsBot: obeys Disallow but requests every second although Crawl-delay is 10
        *[line("54.36.148.1", 60 + i, f"GET /page/{i} HTTP/1.1", 200, AHREFS) for i in range(8)],
        # malformed: truncated line and binary junk
        '66.249.66.1 - - [04/Mar/2024:10:00:59 +0100] "GET /trunc',
        "\n\x00\x01\x02garbage\n",
    ]
    return "".join(lines)


@pytest.fixture()
def site(tmp_path: Path) -> dict[str, Path]:
    """access.log, robots.txt, a config with a honeypot, and a state path."""
    log = tmp_path / "access.log"
    log.write_text(build_log(), encoding="utf-8")
    robots = tmp_path / "robots.txt"
    robots.write_text(ROBOTS, encoding="utf-8")
    config = tmp_path / "botguard.yaml"
    config.write_text("honeypots: [/internal/trap/]\n", encoding="utf-8")
    return {"log": log, "robots": robots, "config": config, "state": tmp_path / "state.db", "dir": tmp_path}
