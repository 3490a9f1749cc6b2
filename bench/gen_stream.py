#!/usr/bin/env python3
"""Generate a seeded, time-ordered request stream with ground truth, for the online model (issue 6).

    python bench/gen_stream.py [--events 200000] [--seed 7] [--variant novel|chrome] [--out FILE.parquet]

Why: the online model must learn a crawler family that no list knows, from weak labels, without
flagging people or real search engines. This writes traffic whose every request's truth is
known: humans browsing with assets and referers (residential networks, reading pace, sometimes
opening /cart or /search, which robots.txt disallows), verified Googlebot and Bingbot from their
real published ranges (rules/ip-ranges) obeying robots.txt, a known bad crawler (Bytespider,
ignores robots.txt), scanners (probe paths, 404s, TLS junk), Googlebot spoofers on cloud VMs,
and a NOVEL family unknown to every list that appears at one third of the stream: rotating IPs
inside one hosting network (several /24s of Hetzner's AS24940), a novel UA token
("NovaScrape"), never fetching robots.txt, 2% honeypot hits. ``--variant chrome`` is the harder
case: the same family rotating stock Chrome user agents.

The frame has botguard.logs.records.REQUEST_SCHEMA's columns plus truth: ``cls`` (human,
googlebot, bingbot, bytespider, scanner, spoofer, novel), ``bad`` (unwanted automated client) and
``client`` (a stable client id). Same seed and arguments, same frame.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path

import polars as pl

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from _gendata import (  # noqa: E402
    BROWSER_UAS,
    BYTESPIDER,
    RESIDENTIAL_V4_FIRST_OCTETS,
    SCANNER_PATHS,
    SCANNER_PROBE_UAS,
    SEARCH_REFERERS,
)

SITE = "www.example.com"
HONEYPOT = "/internal/trap/"
ROBOTS_TXT = f"""User-agent: *
Disallow: /cart
Disallow: /search
Disallow: /account/
Disallow: {HONEYPOT}

User-agent: Bytespider
Disallow: /
"""
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC).timestamp()
NOVEL_UA = "Mozilla/5.0 (compatible; NovaScrape/1.0; +http://novascrape.example/bot)"
#: The novel family's hosting network: six /24s of Hetzner (AS24940, a hosting ASN).
NOVEL_NETS = tuple(f"65.108.{n}.0/24" for n in (12, 13, 14, 77, 78, 141))
SPOOFER_NETS = ("159.203.0.0/16", "167.172.0.0/16")  # DigitalOcean
SCANNER_NETS = ("45.148.10.0/24", "185.224.128.0/24", "193.35.18.0/24", "80.94.95.0/24")
GOOGLEBOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BINGBOT_UA = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
CHROME_UAS = tuple(ua for ua, _ in BROWSER_UAS if "Chrome/" in ua and "Edg/" not in ua and "OPR/" not in ua)
PAGES = (
    "/",
    "/products/{n}",
    "/products/{n}",
    "/blog/{slug}",
    "/category/{word}",
    "/about",
    "/products/{n}/reviews",
)
DISALLOWED = ("/cart", "/search?q={word}", "/account/orders")
WORDS = (
    "garden",
    "tools",
    "kitchen",
    "lamp",
    "chair",
    "desk",
    "shoes",
    "coat",
    "books",
    "music",
    "bike",
    "tent",
)
ASSETS = (
    "/static/app.3f9a1c.css",
    "/static/app.77b2e0.js",
    "/static/vendor.js",
    "/img/p{n}.jpg",
    "/favicon.ico",
    "/fonts/inter.woff2",
)
TRUTH_BAD = {
    "human": False,
    "googlebot": False,
    "bingbot": False,
    "bytespider": True,
    "scanner": True,
    "spoofer": True,
    "novel": True,
}


@dataclass(frozen=True, slots=True)
class Req:
    t: float
    ip: str
    ua: str
    method: str
    target: str | None
    status: int
    referer: str
    cls: str
    client: int
    valid: bool = True


def _ip_in(rng: random.Random, cidr: str) -> str:
    net = ipaddress.ip_network(cidr)
    return str(net.network_address + rng.randrange(1, max(2, net.num_addresses - 1)))


def _page(rng: random.Random) -> str:
    tpl = rng.choice(PAGES)
    return tpl.format(n=rng.randrange(1, 5000), slug="-".join(rng.sample(WORDS, 2)), word=rng.choice(WORDS))


def _disallowed(rng: random.Random) -> str:
    return rng.choice(DISALLOWED).format(word=rng.choice(WORDS))


def _asset(rng: random.Random) -> str:
    return rng.choice(ASSETS).format(n=rng.randrange(1, 5000))


def _residential_v4(rng: random.Random) -> str:
    """A random address in a first octet ISPs hand to homes (its AS is not looked up)."""
    return f"{rng.choice(RESIDENTIAL_V4_FIRST_OCTETS)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _published(name: str) -> list[str]:
    """IPv4 networks of a bundled published range list (real Googlebot/Bingbot addresses)."""
    path = ROOT / "rules" / "ip-ranges" / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        nets = [p.get("ipv4Prefix") for p in data.get("prefixes", [])]
    else:
        nets = [item.get("ip") for item in data]
    return sorted(n for n in nets if n and ":" not in n)


class Generator:
    """Client processes that each yield their requests in time order; merged by time."""

    def __init__(self, seed: int, events: int, variant: str) -> None:
        self.rng = random.Random(seed)
        self.events = events
        self.variant = variant
        # the arrival rates below give ~6.2 requests/s: a 200k-request stream covers ~9 hours
        self.duration = events / 6.0
        self.novel_start = START + self.duration / 3
        self._client = 0
        self.googlebot = _published("googlebot")
        self.bingbot = _published("bingbot")
        self._homes = self._residential_pool(max(2000, events // 10))

    def _residential_pool(self, n: int) -> list[str]:
        """Addresses people browse from: random ISP-range IPs whose AS is not a hosting network.

        (A random 88.x address may be Hetzner's 88.99/16: a person there is a VPN user, which this
        simulator's truth does not model.) One bulk ASN lookup, so the pool is cheap and seeded.
        """
        from botguard.identity.asn import RangeTableAsn

        drawn = [_residential_v4(self.rng) for _ in range(n)]
        networks = RangeTableAsn().lookup_many(drawn)
        return [ip for ip in drawn if networks.get(ip) is None or not networks[ip].hosting]

    def _id(self) -> int:
        self._client += 1
        return self._client

    # -- client kinds -------------------------------------------------------------------------
    def human(self, t: float) -> Iterator[Req]:
        rng, cid = self.rng, self._id()
        ip = rng.choice(self._homes)
        ua = rng.choices([u for u, _ in BROWSER_UAS], [w for _, w in BROWSER_UAS])[0]
        referer = rng.choices([r for r, _ in SEARCH_REFERERS], [w for _, w in SEARCH_REFERERS])[0]
        for _ in range(min(int(rng.expovariate(1 / 6)) + 1, 40)):
            page = _disallowed(rng) if rng.random() < 0.06 else _page(rng)
            yield Req(t, ip, ua, "GET", page, 200, referer, "human", cid)
            for k in range(rng.randrange(2, 7) if rng.random() < 0.85 else 0):
                yield Req(
                    t + 0.05 + 0.1 * k, ip, ua, "GET", _asset(rng), 200, f"https://{SITE}{page}", "human", cid
                )
            referer = f"https://{SITE}{page}"
            t += rng.uniform(4, 90)

    def search_bot(self, t: float, ua: str, nets: list[str], cls: str) -> Iterator[Req]:
        rng, cid = self.rng, self._id()
        ip = _ip_in(rng, rng.choice(nets))
        yield Req(t, ip, ua, "GET", "/robots.txt", 200, "-", cls, cid)
        for _ in range(rng.randrange(20, 120)):
            t += rng.uniform(2, 12)
            yield Req(t, ip, ua, "GET", _page(rng), 200, "-", cls, cid)

    def bytespider(self, t: float) -> Iterator[Req]:
        rng, cid = self.rng, self._id()
        ip = _ip_in(rng, rng.choice(BYTESPIDER.ranges))
        for _ in range(rng.randrange(10, 80)):
            t += rng.uniform(0.5, 4)
            page = _disallowed(rng) if rng.random() < 0.2 else _page(rng)
            yield Req(t, ip, BYTESPIDER.ua, "GET", page, 200, "-", "bytespider", cid)

    def scanner(self, t: float) -> Iterator[Req]:
        rng, cid = self.rng, self._id()
        ip = _ip_in(rng, rng.choice(SCANNER_NETS))
        ua = rng.choice(SCANNER_PROBE_UAS)
        if rng.random() < 0.3:
            yield Req(t, ip, "", "", None, 400, "-", "scanner", cid, valid=False)
        for path in rng.sample(SCANNER_PATHS, rng.randrange(3, 12)):
            t += rng.uniform(0.1, 1.5)
            yield Req(t, ip, ua, rng.choice(("GET", "GET", "POST")), path, 404, "-", "scanner", cid)

    def spoofer(self, t: float) -> Iterator[Req]:
        rng, cid = self.rng, self._id()
        ip = _ip_in(rng, rng.choice(SPOOFER_NETS))
        for _ in range(rng.randrange(5, 60)):
            t += rng.uniform(0.3, 3)
            page = _disallowed(rng) if rng.random() < 0.1 else _page(rng)
            yield Req(t, ip, GOOGLEBOT_UA, "GET", page, 200, "-", "spoofer", cid)

    def novel(self, t: float) -> Iterator[Req]:
        """One rotating client of the novel family: a short burst from one IP, then it moves on."""
        rng, cid = self.rng, self._id()
        ip = _ip_in(rng, rng.choice(NOVEL_NETS))
        ua = NOVEL_UA if self.variant == "novel" else rng.choice(CHROME_UAS)
        for _ in range(rng.randrange(5, 30)):
            t += rng.uniform(0.5, 3)
            roll = rng.random()
            page = (
                HONEYPOT + f"{rng.randrange(100)}"
                if roll < 0.02
                else (_disallowed(rng) if roll < 0.15 else _page(rng))
            )
            yield Req(t, ip, ua, "GET", page, 200, "-", "novel", cid)

    # -- arrivals -----------------------------------------------------------------------------
    def arrivals(self) -> Iterator[tuple[float, Iterator[Req]]]:
        """(start time, client process), Poisson arrivals per kind."""
        end = START + self.duration
        kinds = [  # (client kind, clients per second)
            ("human", 1 / 7.5),
            ("googlebot", 1 / 400),
            ("bingbot", 1 / 600),
            ("bytespider", 1 / 60),
            ("scanner", 1 / 60),
            ("spoofer", 1 / 150),
            ("novel", 1 / 12),
        ]
        for kind, rate in kinds:
            t = self.novel_start if kind == "novel" else START
            while True:
                t += self.rng.expovariate(rate)
                if t >= end:
                    break
                yield t, self._process(kind, t)

    def _process(self, kind: str, t: float) -> Iterator[Req]:
        if kind == "googlebot":
            return self.search_bot(t, GOOGLEBOT_UA, self.googlebot, "googlebot")
        if kind == "bingbot":
            return self.search_bot(t, BINGBOT_UA, self.bingbot, "bingbot")
        return getattr(self, kind)(t)

    def requests(self) -> list[Req]:
        out: list[Req] = []
        for _, process in self.arrivals():
            out.extend(process)
        out.sort(key=lambda r: (r.t, r.client))
        return out[: self.events]


#: Hosting networks a rotating scraper family moves through (each day some /24s are replaced).
CHURN_HOSTING = ("65.108.0.0/16", "95.216.0.0/16", "135.181.0.0/16", "157.90.0.0/16", "5.161.0.0/16")
#: IPv6 /32s of ISPs whose customers get a fresh /48 or /64 (privacy addresses, re-dialling).
CHURN_V6_ISPS = ("2a01:cb00", "2003:e4", "2a02:8109", "2600:1700", "240e:3b0")
SCAN_WORDS = (
    "admin",
    "backup",
    "config",
    "db",
    "old",
    "test",
    "dev",
    "shell",
    "upload",
    "wp",
    "phpmy",
    "vendor",
)


@dataclass(frozen=True, slots=True)
class MemoryEvent:
    """One request of the memory scenario: what the featurizer reads, its truth and its client."""

    t: float
    ip: str
    ua: str
    path: str
    status: int
    hosting: bool
    asn: int | None
    bad: bool
    client: int


class ChurnGenerator:
    """A sparse week of traffic whose keys churn the way real ones do (memory scenario, notes §3 item 4).

    Per day: people from fresh residential IPv4 addresses and fresh IPv6 /64s (a few regulars
    return), a scraper family rotating through hosting /24s (a third of its /24s replaced each
    day), one-off scanners from random addresses with random tool names and probe paths, and a
    search engine from a fixed network. About ``per_day`` requests per day: it is about table
    growth, not accuracy, so it is a sample, not a full stream.
    """

    def __init__(self, seed: int = 7, per_day: int = 15_000) -> None:
        self.rng = random.Random(seed)
        self.per_day = per_day
        self._client = 0
        self._regulars = [_residential_v4(self.rng) for _ in range(200)]
        self._scraper_nets = [self._hosting_net() for _ in range(30)]
        self._browsers = [ua for ua, _ in BROWSER_UAS]
        # scanners' networks: 20,000 ASes, the k-th most common with weight 1/k (a heavy head, a long tail)
        self._scan_asns = rng_asns = list(range(1000, 21000))
        self.rng.shuffle(rng_asns)
        self._scan_cum = list(accumulate(1.0 / k for k in range(1, len(rng_asns) + 1)))

    def _id(self) -> int:
        self._client += 1
        return self._client

    def _home_v6(self) -> str:
        rng = self.rng
        return f"{rng.choice(CHURN_V6_ISPS)}:{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}::{rng.randrange(1, 1 << 16):x}"

    def _hosting_net(self) -> str:
        net = ipaddress.ip_network(self.rng.choice(CHURN_HOSTING))
        return str(net.network_address + 256 * self.rng.randrange(256)).rsplit(".", 1)[0]

    def days(self, days: int) -> Iterator[list[MemoryEvent]]:
        """The events of each day in time order."""
        for day in range(days):
            if day:
                for k in self.rng.sample(range(len(self._scraper_nets)), 10):
                    self._scraper_nets[k] = self._hosting_net()
            yield sorted(self._day(START + day * 86400.0), key=lambda e: (e.t, e.client))

    def _day(self, start: float) -> list[MemoryEvent]:
        rng, out = self.rng, []
        while len(out) < self.per_day:
            t = start + rng.uniform(0, 86400)
            kind = rng.choices(("human", "scraper", "scanner", "googlebot"), (60, 25, 12, 3))[0]
            out.extend(getattr(self, f"_{kind}")(t))
        return out

    def _human(self, t: float) -> list[MemoryEvent]:
        rng, cid = self.rng, self._id()
        roll = rng.random()
        ip = (
            rng.choice(self._regulars)
            if roll < 0.15
            else self._home_v6()
            if roll < 0.45
            else _residential_v4(rng)
        )
        ua = rng.choice(self._browsers)
        out = []
        for _ in range(rng.randrange(2, 12)):
            out.append(MemoryEvent(t, ip, ua, _page(rng), 200, False, 3320, False, cid))
            out.extend(
                MemoryEvent(t + 0.1 * k, ip, ua, _asset(rng), 200, False, 3320, False, cid)
                for k in range(rng.randrange(0, 4))
            )
            t += rng.uniform(4, 90)
        return out

    def _scraper(self, t: float) -> list[MemoryEvent]:
        rng, cid = self.rng, self._id()
        ip = f"{rng.choice(self._scraper_nets)}.{rng.randrange(1, 255)}"
        ua = rng.choice(CHROME_UAS)
        return [
            MemoryEvent(t + 2.0 * k, ip, ua, _page(rng), 200, True, 24940, True, cid)
            for k in range(rng.randrange(3, 15))
        ]

    def _scanner(self, t: float) -> list[MemoryEvent]:
        rng, cid = self.rng, self._id()
        ip = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        tool = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(4, 9)))
        ua = rng.choice((f"{tool}/1.{rng.randrange(9)}", f"Mozilla/5.0 (compatible; {tool}scan/2.0)", ""))
        asn = rng.choices(self._scan_asns, cum_weights=self._scan_cum)[0]
        out = []
        for k in range(rng.randrange(2, 9)):
            word = rng.choice(SCAN_WORDS)
            path = rng.choice(
                (f"/{word}{tool}.php", f"/{word}/{tool}/.env", f"/{tool}-{word}.zip", f"/{word}.bak")
            )
            out.append(MemoryEvent(t + 0.5 * k, ip, ua, path, 404, rng.random() < 0.5, asn, True, cid))
        return out

    def _googlebot(self, t: float) -> list[MemoryEvent]:
        rng, cid = self.rng, self._id()
        ip = f"66.249.{rng.choice((64, 66, 68, 70, 72, 79))}.{rng.randrange(1, 255)}"
        return [
            MemoryEvent(t + 5.0 * k, ip, GOOGLEBOT_UA, _page(rng), 200, False, 15169, False, cid)
            for k in range(rng.randrange(5, 20))
        ]


def generate(events: int = 200_000, seed: int = 7, variant: str = "novel") -> pl.DataFrame:
    """The stream as a frame: REQUEST_SCHEMA columns plus truth (cls, bad, client)."""
    if variant not in ("novel", "chrome"):
        raise ValueError("variant must be novel or chrome")
    reqs = Generator(seed, events, variant).requests()
    times = [int(r.t * 1_000_000) for r in reqs]
    return pl.DataFrame(
        {
            "ip": [r.ip for r in reqs],
            "time": pl.Series(times, dtype=pl.Int64).cast(pl.Datetime("us", "UTC")),
            "method": [r.method or None for r in reqs],
            "target": [r.target for r in reqs],
            "protocol": [("HTTP/1.1" if r.valid else None) for r in reqs],
            "request": [(f"{r.method} {r.target} HTTP/1.1" if r.valid else "\\x16\\x03\\x01") for r in reqs],
            "valid_request": [r.valid for r in reqs],
            "status": pl.Series([r.status for r in reqs], dtype=pl.Int16),
            "bytes": pl.Series([0] * len(reqs), dtype=pl.Int64),
            "referer": [r.referer for r in reqs],
            "user_agent": [r.ua for r in reqs],
            "host": [SITE] * len(reqs),
            "source": ["gen_stream"] * len(reqs),
            "line_no": pl.Series(range(1, len(reqs) + 1), dtype=pl.Int64),
            "cls": [r.cls for r in reqs],
            "bad": [TRUTH_BAD[r.cls] for r in reqs],
            "client": pl.Series([r.client for r in reqs], dtype=pl.Int64),
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--variant", choices=("novel", "chrome"), default="novel")
    parser.add_argument("--out", help="write the frame as Parquet here (and robots.txt beside it)")
    args = parser.parse_args(argv)
    frame = generate(args.events, args.seed, args.variant)
    summary = frame.group_by("cls").agg(
        pl.len().alias("requests"), pl.col("client").n_unique().alias("clients")
    )
    print(summary.sort("cls"))
    if args.out:
        frame.write_parquet(args.out)
        Path(args.out).with_name("robots.txt").write_text(ROBOTS_TXT, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
