"""A small seeded access log in which a crawler family no list knows appears mid-stream.

Two hours of Combined Log Format: people on residential networks (pages at a reading pace, each
with its assets and a referer), Googlebot from Google's published ranges (fetches robots.txt,
obeys it), known-bad scrapers in hosting networks that ignore robots.txt from the start (what the
model learns "bad" from), and from ``T0`` (one hour in) **NovaScrape**: a novel user agent on
rotating IPs inside DigitalOcean and Hetzner, never fetching robots.txt, crawling disallowed paths.
Its agent does not declare itself a bot (no bot word, URL or contact address): a scan blocks such
a family by address only, so only the model's rule stops its next client.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
HOURS = 2.0
T0 = START + timedelta(hours=1)

ROBOTS = "User-agent: *\nDisallow: /private/\nDisallow: /search\nDisallow: /cart\n"
NOVA = "Mozilla/5.0 (compatible; NovaScrape/1.0)"
NOVA_NEXT = "Mozilla/5.0 (compatible; NovaScrape/1.3)"  # its next client
BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
)  # fmt: skip
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
KNOWN_BAD = (  # scrapers that break robots.txt from the first hour: the model's positive examples
    ("Mozilla/5.0 (compatible; DataHarvest/2.0; +http://dataharvest.example)", "159.89"),
    ("Go-http-client/1.1", "95.217"),
    ("Mozilla/5.0 (compatible; PageSuckr/0.9)", "64.225"),
    ("python-requests/2.31.0", "5.161"),
)
RESIDENTIAL = ("73", "24", "86", "81.2")  # Comcast, Comcast, Virgin Media, Andrews & Arnold
NOVA_NETS = ("64.225", "5.161")  # DigitalOcean, Hetzner
PAGES = [f"/articles/{slug}-{n}" for slug in ("news", "howto", "review", "guide") for n in range(40)]
DISALLOWED = [f"/private/doc-{n}" for n in range(30)] + [f"/search?q=w{n}" for n in range(30)] + ["/cart"]
ASSETS = ("/static/app.css", "/static/app.js", "/static/logo.png")


@dataclass(frozen=True, slots=True)
class Line:
    """One request; ``t`` in seconds from START (sorting key)."""

    t: float
    ip: str
    path: str
    ua: str
    status: int = 200
    referer: str = "-"

    def text(self) -> str:
        when = (START + timedelta(seconds=self.t)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        return f'{self.ip} - - [{when}] "GET {self.path} HTTP/1.1" {self.status} 1234 "{self.referer}" "{self.ua}"'


def _ip(rng: random.Random, prefix: str) -> str:
    parts = prefix.split(".")
    return ".".join(parts + [str(rng.randint(1, 254)) for _ in range(4 - len(parts))])


def _humans(rng: random.Random, count: int) -> list[Line]:
    out = []
    for _ in range(count):
        ip, ua = _ip(rng, rng.choice(RESIDENTIAL)), rng.choice(BROWSERS)
        t = rng.uniform(0, HOURS * 3600 - 900)
        previous = "-"
        for _ in range(rng.randint(4, 10)):
            page = rng.choice(PAGES)
            out.append(Line(t, ip, page, ua, referer=previous))
            out += [
                Line(t + 0.2 + i * 0.1, ip, a, ua, referer=f"https://site.example{page}")
                for i, a in enumerate(ASSETS)
            ]
            previous = f"https://site.example{page}"
            t += rng.uniform(20, 90)
    return out


def _googlebot(rng: random.Random) -> list[Line]:
    out = []
    for n in range(6):
        ip, t = f"66.249.66.{10 + n}", rng.uniform(0, HOURS * 3600 - 600)
        out.append(Line(t, ip, "/robots.txt", GOOGLEBOT))
        out += [Line(t + 5 + i * 3, ip, rng.choice(PAGES), GOOGLEBOT) for i in range(30)]
    return out


def _scraper(
    rng: random.Random, ua: str, net: str, ips: int, per_ip: int, start: float, end: float
) -> list[Line]:
    out = []
    for _ in range(ips):
        ip, t = _ip(rng, net), rng.uniform(start, end)
        for _ in range(per_ip):
            disallowed = rng.random() < 0.4
            out.append(Line(t, ip, rng.choice(DISALLOWED if disallowed else PAGES), ua, 200))
            t += rng.uniform(0.3, 2.0)
    return out


def generate(seed: int = 6) -> list[Line]:
    """The whole log, in time order."""
    rng = random.Random(seed)
    lines = _humans(rng, 220) + _googlebot(rng)
    for ua, net in KNOWN_BAD:
        lines += _scraper(rng, ua, net, ips=12, per_ip=25, start=0, end=HOURS * 3600 - 900)
    t0 = (T0 - START).total_seconds()
    for net in NOVA_NETS:
        lines += _scraper(rng, NOVA, net, ips=30, per_ip=15, start=t0, end=HOURS * 3600 - 900)
    return sorted(lines, key=lambda line: line.t)


def write(directory: Path, seed: int = 6) -> tuple[Path, Path, list[Line]]:
    """access.log and robots.txt in ``directory``; the lines for assertions."""
    lines = generate(seed)
    log, robots = directory / "access.log", directory / "robots.txt"
    log.write_text("".join(line.text() + "\n" for line in lines))
    robots.write_text(ROBOTS)
    return log, robots, lines
