"""Networks and user agents for gen_day.py: real addresses of real networks, real agent strings.

Why real data: an evaluation of botguard is only as honest as the traffic's surface. Addresses are
drawn from the ranges the bundled IP-to-ASN table (rules/asn, read here with polars, not through
botguard) gives each network, so a residential proxy's address really sits in Comcast or Deutsche
Telekom and a rotating scraper's /24 really belongs to AWS or Hetzner; verified crawlers come from
their operators' published lists (rules/ip-ranges). Agents come from the bundled reference lists
(rules/agents: real browsers and welcome crawlers) and, for the browsers people and campaigns use
today, from templates of the current stable releases (the reference list is a test corpus whose
newest stock desktop Chrome is 100).
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import yaml

RULES = Path(__file__).resolve().parents[1] / "rules"
#: Key encoding of rules/asn/ip-asn.parquet (tools/build_asn_table.py): IPv4 as IPv4-mapped IPv6,
#: every address shifted by -2**127 so that it fits a signed 128-bit integer.
SHIFT = 1 << 127
V4_MAPPED = 0xFFFF << 32

#: Consumer ISPs (fixed lines): where people and residential proxies live.
RESIDENTIAL = (7922, 20115, 7018, 3320, 3209, 3215, 12322, 2856, 5089, 5607, 3352, 1136, 9121, 28573, 6830)
#: Mobile carriers: phones, and the CGNAT addresses many phones share.
MOBILE = (21928, 22394, 6167, 20057)
#: Cloud and hosting networks (each must be in rules/hosting.yaml): scrapers, fleets, monitors.
HOSTING = (16509, 14618, 14061, 24940, 16276, 396982, 8075, 63949, 20473, 51167, 12876)
#: The networks that carry IPv6 people here (others are IPv4 only in this model).
V6_PEOPLE = (7922, 20115, 3320, 28573, 21928, 20057)


@dataclass(frozen=True, slots=True)
class Pool:
    """The ranges of one AS number in one family, with cumulative sizes for weighted picks."""

    asn: int
    starts: tuple[int, ...]
    sizes: tuple[int, ...]
    cum: tuple[int, ...]

    def pick(self, rng: random.Random) -> tuple[int, int]:
        """A random range (weighted by size): its first address and size."""
        i = bisect.bisect_right(self.cum, rng.randrange(self.cum[-1]))
        return self.starts[i], self.sizes[i]


class Networks:
    """Addresses by network, each handed out once (except where sharing is the point: CGNAT)."""

    def __init__(self, rules: Path = RULES) -> None:
        hosting = set((yaml.safe_load((rules / "hosting.yaml").read_text()) or {}).get("asns") or {})
        missing = [asn for asn in HOSTING if asn not in hosting]
        if missing:
            raise SystemExit(f"gen_day: HOSTING names networks rules/hosting.yaml does not: {missing}")
        self.v4, self.v6 = _load_pools(rules / "asn" / "ip-asn.parquet", (*RESIDENTIAL, *MOBILE, *HOSTING))
        self.used: set[str] = set()

    def address(self, rng: random.Random, asns: tuple[int, ...], v6: bool = False) -> tuple[str, int]:
        """A fresh address of one of ``asns`` (IPv6: a random host of a random /64 of the range)."""
        pools = self.v6 if v6 else self.v4
        choices = [pools[a] for a in asns if a in pools]
        while True:
            pool = rng.choice(choices)
            start, size = pool.pick(rng)
            if v6:
                net = start + (rng.randrange(max(1, size >> 64)) << 64)
                text = str(ipaddress.IPv6Address(net + rng.randrange(1, 1 << 64)))
            else:
                text = str(ipaddress.IPv4Address(start + _host_offset(rng, size)))
            if text not in self.used:
                self.used.add(text)
                return text, pool.asn

    def subnet24(self, rng: random.Random, asns: tuple[int, ...]) -> tuple[int, int]:
        """A random IPv4 /24 of one of ``asns``: its first address (as int) and the AS number."""
        pool = self.v4[rng.choice([a for a in asns if a in self.v4])]
        start, size = pool.pick(rng)
        return (start + rng.randrange(max(1, size >> 8) * 256)) & ~0xFF, pool.asn

    def in24(self, rng: random.Random, base: int) -> str:
        """A fresh address of the /24 starting at ``base`` (.1 to .254)."""
        for _ in range(400):
            text = str(ipaddress.IPv4Address(base + rng.randint(1, 254)))
            if text not in self.used:
                self.used.add(text)
                return text
        raise SystemExit("gen_day: a /24 ran out of addresses")

    def published(self, rng: random.Random, nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str:
        """A fresh address inside one of an operator's published networks."""
        while True:
            net = rng.choice(nets)
            span = net.num_addresses
            offset = rng.randrange(1, span - 1) if span > 2 else 0
            text = str(net.network_address + offset)
            if text not in self.used:
                self.used.add(text)
                return text


def _host_offset(rng: random.Random, size: int) -> int:
    """An offset inside a range that avoids .0 and .255 (rarely a client's address)."""
    while True:
        offset = rng.randrange(size)
        if size < 4 or offset & 0xFF not in (0, 255):
            return offset


def _load_pools(path: Path, asns: tuple[int, ...]) -> tuple[dict[int, Pool], dict[int, Pool]]:
    """Read the ranges of ``asns`` from the IP-to-ASN table, split into IPv4 and IPv6 pools."""
    table = pl.read_parquet(path).filter(pl.col("asn").is_in(asns)).sort("first")
    v4_lo, v4_hi = V4_MAPPED - SHIFT, V4_MAPPED + (1 << 32) - SHIFT
    ranges: tuple[dict[int, list[tuple[int, int, int]]], ...] = ({}, {})
    for asn, first, last in zip(table["asn"].to_list(), table["first"].to_list(), table["last"].to_list()):
        v4 = v4_lo <= first < v4_hi
        size = last - first + 1
        if size < (4 if v4 else 1 << 64):
            continue  # too small to host clients (a /64 is the smallest IPv6 site here)
        # weight: the size, but IPv6 ranges count in /64s, capped (their sizes are astronomically uneven)
        weight = size if v4 else min(size >> 64, 1 << 24)
        ranges[0 if v4 else 1].setdefault(asn, []).append(
            (first + SHIFT - (V4_MAPPED if v4 else 0), size, weight)
        )
    return tuple(  # type: ignore[return-value]
        {
            asn: Pool(
                asn,
                tuple(r[0] for r in rows),
                tuple(r[1] for r in rows),
                tuple(itertools.accumulate(r[2] for r in rows)),
            )
            for asn, rows in family.items()
        }
        for family in ranges
    )


def lookup_asns(ips: list[str], path: Path = RULES / "asn" / "ip-asn.parquet") -> dict[str, int | None]:
    """AS numbers of a few addresses (the published crawler ones), with one as-of join."""
    keys = []
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        keys.append(int(addr) + (V4_MAPPED if addr.version == 4 else 0) - SHIFT)
    probe = pl.DataFrame({"ip": ips, "key": keys}, schema={"ip": pl.String, "key": pl.Int128}).sort("key")
    table = pl.read_parquet(path).sort("first")
    joined = probe.join_asof(table, left_on="key", right_on="first", strategy="backward")
    return {
        ip: (asn if asn is not None and key <= last else None)
        for ip, key, last, asn in zip(joined["ip"], joined["key"], joined["last"], joined["asn"])
    }


def published_networks(name: str, rules: Path = RULES) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """An operator's published networks (rules/ip-ranges/<name>.json, Google or objects format)."""
    data = json.loads((rules / "ip-ranges" / f"{name}.json").read_text())
    cidrs = (
        [p.get("ipv4Prefix") or p.get("ipv6Prefix") for p in data["prefixes"]]
        if isinstance(data, dict)
        else [item["ip"] for item in data]
    )
    return [ipaddress.ip_network(c, strict=False) for c in cidrs if c]


# ---- user agents ----------------------------------------------------------------------------

#: Current stable releases (late 2026), in the reduced forms browsers send today.
CHROME = (140, 141, 142, 143)
FIREFOX = (144, 145, 146)
SAFARI = ("18.6", "26.0", "26.1")
DESKTOP_TEMPLATES = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Safari/537.36 Edg/{c}.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{f}.0) Gecko/20100101 Firefox/{f}.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{f}.0) Gecko/20100101 Firefox/{f}.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:{f}.0) Gecko/20100101 Firefox/{f}.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{s} Safari/605.1.15",
)
MOBILE_TEMPLATES = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{s} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{s} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{s} Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{c}.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/29.0 Chrome/136.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Android 15; Mobile; rv:{f}.0) Gecko/{f}.0 Firefox/{f}.0",
)
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/{c}.0.0.0 Safari/537.36"
GOOGLEBOT_DESKTOP = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_PHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{c}.0.7444.175 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)
BINGBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) "
    "Chrome/{c}.0.0.0 Safari/537.36"
)
#: In-app browsers people really use on recent phones (from the reference list).
IN_APP = re.compile(r"Instagram|FBAV|FBAN|Snapchat|GSA/|Line/|musical_ly|Pinterest|MicroMessenger")
RECENT_PHONE = re.compile(r"Android 1[0-9]|iPhone OS 1[5-9]")
#: The reference list's recent desktop browsers (the long tail of people's agents).
RECENT_DESKTOP = re.compile(
    r"^Mozilla/5\.0 \((?:Windows NT 1|Macintosh|X11).*(?:Chrome|Firefox)/1[0-9][0-9]\."
)
#: Pre-reduction Chrome builds (2022-2024) that scraping kits still ship, beside the reference list's.
DATED_BUILDS = ("108.0.5359.124", "110.0.5481.177", "112.0.5615.138", "114.0.5735.199", "116.0.5845.187",
                "118.0.5993.117", "120.0.6099.109", "122.0.6261.129")  # fmt: skip
DATED_TEMPLATE = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{b} Safari/537.36"
#: Stock desktop Chrome of the reference list: the dated agents rotating scrapers keep sending.
STOCK_CHROME = re.compile(
    r"^Mozilla/5\.0 \((?:Windows NT 10\.0; Win64; x64|Windows NT 6\.1; Win64; x64|Macintosh; Intel Mac OS X [0-9_]+|"
    r"X11; Linux x86_64)\) AppleWebKit/537\.36 \(KHTML, like Gecko\) Chrome/(\d+)[0-9.]* Safari/537\.36$"
)
#: Welcome services (feed readers, uptime monitors, link checkers), by a word of their agent.
WELCOME = {
    "feed": (
        "Feedly/1.0",
        "inoreader.com",
        "NewsBlur Feed Fetcher",
        "Feedbin",
        "theoldreader",
        "Miniflux/2.0.11",
    ),
    "monitor": ("UptimeRobot/2.0", "Pingdom.com_bot", "StatusCake_Uptime", "FreshpingBot", "Site24x7"),
    "linkcheck": ("W3C-checklink/4.5 [4.160]",),
}


def _expand(templates: tuple[str, ...]) -> tuple[str, ...]:
    """Every template in every current version (duplicates keep the popular ones more likely)."""
    out = []
    for t in templates:
        for i, c in enumerate(CHROME):
            out.append(t.format(c=c, f=FIREFOX[i % len(FIREFOX)], s=SAFARI[i % len(SAFARI)]))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Agents:
    """Agent strings by use; read once from rules/agents."""

    desktop: tuple[str, ...]
    mobile: tuple[str, ...]
    in_app: tuple[str, ...]
    long_tail: tuple[str, ...]
    dated_chrome: tuple[str, ...]
    welcome: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, rules: Path = RULES) -> Agents:
        browsers = _agent_lines(rules / "agents" / "browsers.txt")
        good = _agent_lines(rules / "agents" / "good-bots.txt")
        dated = tuple(a for a in browsers if (m := STOCK_CHROME.match(a)) and 60 <= int(m.group(1)) < 110)
        dated += tuple(DATED_TEMPLATE.format(b=b) for b in DATED_BUILDS)
        welcome = {
            kind: tuple(next(a for a in good if word in a) for word in words)
            for kind, words in WELCOME.items()
        }
        in_app = tuple(a for a in browsers if IN_APP.search(a) and RECENT_PHONE.search(a))
        long_tail = tuple(
            a
            for a in browsers
            if a.startswith("Mozilla/5.0 (") and (RECENT_PHONE.search(a) or RECENT_DESKTOP.search(a))
        )
        return cls(_expand(DESKTOP_TEMPLATES), _expand(MOBILE_TEMPLATES), in_app, long_tail, dated, welcome)

    @property
    def current(self) -> tuple[str, ...]:
        """Every current browser agent, desktop and mobile."""
        return self.desktop + self.mobile


def _agent_lines(path: Path) -> tuple[str, ...]:
    return tuple(line.rstrip("\n") for line in path.open(encoding="utf-8") if line.strip() and line[0] != "#")
