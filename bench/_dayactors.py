"""Who visits the site in gen_day.py: one record per actor, each yielding its requests in time order.

An actor is a person, a campaign, a crawler or a fleet worker. Its ``requests(rng, site)`` yields
``Req`` tuples with non-decreasing timestamps; gen_day.py merges all actors by time. An actor that
is a group of addresses (a residential-proxy campaign, a rotating scraper) is one actor when the
addresses share one walk (consecutive catalogue ids split across addresses), so its requests stay
in order without a merge of its own. Every actor carries a ``Who``: the ground truth of what it is.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from _daysite import CATEGORIES, FIRST_ID, ORIGIN, PRODUCTS, Site

DAY = 86_400.0
#: (ts, ip, agent, method, path, status, bytes, referer, protocol, who)
Req = tuple[float, str, str, str, str, int, int, str, str, "Who"]


@dataclass(frozen=True, slots=True, eq=False)
class Who:
    """Ground truth of one actor (identity equality: two people are two ``Who`` even when alike)."""

    population: str
    campaign: str | None
    wanted: bool
    is_person: bool
    agent_kind: str  # browser | headless | crawler | declared_bot | claimed_crawler | service


def lognormal(rng: random.Random, median: float, spread: float, lo: float, hi: float) -> float:
    """A positive duration around ``median`` (log-normal, clamped): pauses, gaps."""
    return min(hi, max(lo, median * math.exp(rng.gauss(0.0, spread))))


def _req(t: float, ip: str, ua: str, path: str, site: Site, rng: random.Random, ref: str, proto: str,
         who: Who, method: str = "GET") -> Req:  # fmt: skip
    status, size = site.page_response(path, rng)
    if method == "HEAD":
        size = 0
    return (t, ip, ua, method, path, status, size, ref, proto, who)


@dataclass(frozen=True, slots=True)
class Person:
    """A visit: landing page (from a search, a social link or typed), links followed at a reading
    pace, search, cart and account like anyone. ``cached``: a repeat visitor whose browser holds
    the assets, so the log shows pages only."""

    start: float
    ip: str
    agent: str
    who: Who
    cached: bool
    proto: str

    def requests(self, rng: random.Random, site: Site) -> Iterator[Req]:
        t, ip, ua, proto, who = self.start, self.ip, self.agent, self.proto, self.who
        path, ref = site.landing(rng)
        if self.cached and rng.random() < 0.5:
            ref = "-"  # a bookmark or the address bar
        pages = min(1 + int(rng.expovariate(1 / 2.5)), 25)
        prev = path
        for k in range(pages):
            if k:
                path, ref = site.next_page(rng, prev), ORIGIN + prev
            method = "POST" if path == "/cart" and rng.random() < 0.5 else "GET"
            yield _req(t, ip, ua, path, site, rng, ref, proto, who, method)
            if not self.cached:
                page_url = ORIGIN + path
                for asset, size in site.page_assets(path, k == 0, rng):
                    t += rng.uniform(0.02, 0.3)
                    yield (t, ip, ua, "GET", asset, 200, size, page_url, proto, who)
            t += lognormal(rng, 22.0, 1.0, 2.0, 900.0)
            prev = path


@dataclass(frozen=True, slots=True)
class ProxyCampaign:
    """A scraper renting a residential-proxy pool: each address sends a few requests (1-12) with
    a current browser agent, no assets, no referer or a fake one, then the pool hands it the next
    address. ``walk="catalogue"`` splits one walk over consecutive ids across the addresses."""

    start: float
    who: Who
    addresses: tuple[str, ...]
    agents: tuple[str, ...]  # one per address
    counts: tuple[int, ...]  # requests per address
    walk: str  # catalogue | random
    gap: float  # median seconds between two requests of one address
    referer: str  # "-", a fixed fake, or "walk" (the previous page, as if following links)
    proto: str
    concurrency: int
    api_share: float  # share of requests to the JSON API (disallowed by robots.txt)

    def requests(self, rng: random.Random, site: Site) -> Iterator[Req]:
        t, who, proto = self.start, self.who, self.proto
        walker = Walker(rng, self.walk)
        queue = list(range(len(self.addresses)))[::-1]
        active: list[list[int]] = []  # [address index, remaining]
        prev = "/"
        while queue or active:
            while queue and len(active) < self.concurrency:
                i = queue.pop()
                active.append([i, self.counts[i]])
            slot = active[rng.randrange(len(active))]
            path = walker.next_api() if rng.random() < self.api_share else walker.next_page()
            ref = (ORIGIN + prev) if self.referer == "walk" else self.referer
            yield _req(t, self.addresses[slot[0]], self.agents[slot[0]], path, site, rng, ref, proto, who)
            prev = path
            slot[1] -= 1
            if not slot[1]:
                active.remove(slot)
            t += lognormal(rng, self.gap, 0.6, 0.2, 900.0) / max(1, len(active))


class Walker:
    """A scraper's path through the catalogue: consecutive product ids with a listing page now
    and then (``catalogue``), or random ids and listings, some past the catalogue's end (``random``)."""

    def __init__(self, rng: random.Random, mode: str, first: int | None = None) -> None:
        self.rng, self.mode = rng, mode
        self.pid = first if first is not None else FIRST_ID + rng.randrange(PRODUCTS)
        self.slug = rng.randrange(len(CATEGORIES))
        self.page = 1

    def next_page(self) -> str:
        rng = self.rng
        if rng.random() < 0.06:  # a listing page: in order while walking, anywhere at random
            if self.mode == "catalogue":
                self.page += 1
            else:
                self.slug, self.page = rng.randrange(len(CATEGORIES)), rng.randint(1, 30)
            return Site.category(CATEGORIES[self.slug], self.page)
        if self.mode == "catalogue":
            self.pid = FIRST_ID if self.pid >= FIRST_ID + PRODUCTS - 1 else self.pid + 1
            return Site.product(self.pid)
        return Site.product(FIRST_ID + rng.randrange(int(PRODUCTS * 1.03)))

    def next_api(self) -> str:
        self.pid += self.mode == "catalogue"
        return f"/api/v2/products/{self.pid}?fields=price,stock"


@dataclass(frozen=True, slots=True)
class Rotator:
    """A scraper on rented servers: it cycles through addresses of a few hosting /24s, tens of
    requests each, with a dated Chrome agent, HTTP/1.1, no assets, no referer."""

    start: float
    who: Who
    addresses: tuple[str, ...]
    agents: tuple[str, ...]
    counts: tuple[int, ...]
    walk: str
    gap: float
    concurrency: int
    search_share: float  # share of requests to /search (disallowed by robots.txt)

    def requests(self, rng: random.Random, site: Site) -> Iterator[Req]:
        campaign = ProxyCampaign(
            self.start, self.who, self.addresses, self.agents, self.counts, self.walk, self.gap, "-",
            "HTTP/1.1", self.concurrency, 0.0,
        )  # fmt: skip
        for req in campaign.requests(rng, site):
            if rng.random() < self.search_share:
                req = (*req[:4], site.search(rng), *req[5:])  # noqa: PLW2901
            yield req


@dataclass(frozen=True, slots=True)
class Walker1:
    """One address walking the catalogue in order at a person's pace for hours, no assets."""

    start: float
    who: Who
    ip: str
    agent: str
    pages: int
    gap: float
    referer: str  # "-" or "walk"
    proto: str

    def requests(self, rng: random.Random, site: Site) -> Iterator[Req]:
        t, walker, prev = self.start, Walker(rng, "catalogue"), "-"
        for _ in range(self.pages):
            path = walker.next_page()
            ref = "-" if self.referer == "-" or prev == "-" else ORIGIN + prev
            yield _req(t, self.ip, self.agent, path, site, rng, ref, self.proto, self.who)
            prev = path
            t += lognormal(rng, self.gap, 0.5, 8.0, 600.0)


@dataclass(frozen=True, slots=True)
class Headless:
    """One worker of a headless-Chrome fleet: navigates product pages of its shard and, like a
    browser, loads their assets (the whole shell on every page with ``fresh`` profiles)."""

    start: float
    who: Who
    ip: str
    agent: str
    first_id: int
    pages: int
    gap: float
    fresh: bool

    def requests(self, rng: random.Random, site: Site) -> Iterator[Req]:
        t, walker = self.start, Walker(rng, "catalogue", first=self.first_id)
        for k in range(self.pages):
            path = walker.next_page()
            yield _req(t, self.ip, self.agent, path, site, rng, "-", "HTTP/1.1", self.who)
            page_url = ORIGIN + path
            for asset, size in site.page_assets(path, self.fresh or k == 0, rng):
                t += rng.uniform(0.01, 0.12)
                yield (t, self.ip, self.agent, "GET", asset, 200, size, page_url, "HTTP/1.1", self.who)
            t += lognormal(rng, self.gap, 0.4, 0.5, 120.0)


@dataclass(frozen=True, slots=True)
class Bot:
    """A program that names itself in its agent (or claims to be Googlebot) and ignores robots.txt:
    it may read robots.txt first, then crawls anyway, API and search included, some into the trap."""

    start: float
    who: Who
    ip: str
    agent: str
    count: int
    gap: float
    robots_first: bool
    forbidden_share: float
    trap_hits: int

    def requests(self, rng: random.Random, site: Site) -> Iterator[Req]:
        t, ip, ua, who = self.start, self.ip, self.agent, self.who
        if self.robots_first:
            yield (t, ip, ua, "GET", "/robots.txt", 200, 212, "-", "HTTP/1.1", who)
            t += rng.uniform(0.5, 3.0)
        walker = Walker(rng, rng.choice(("catalogue", "random")))
        trap_at = set(rng.sample(range(self.count), min(self.trap_hits, self.count)))
        for k in range(self.count):
            if k in trap_at:
                path = f"{site.honeypot}{rng.choice(CATEGORIES)}.csv"
            elif rng.random() < self.forbidden_share:
                path = rng.choice((walker.next_api(), site.search(rng), "/cart", "/account/login"))
            else:
                path = walker.next_page()
            yield _req(t, ip, ua, path, site, rng, "-", "HTTP/1.1", who)
            t += lognormal(rng, self.gap, 0.7, 0.05, 300.0)


@dataclass(frozen=True, slots=True)
class Crawler:
    """A search engine's crawler on its published network: robots.txt first (where this address
    is the one that refreshes it), then only what robots.txt allows, at its own measured pace."""

    start: float
    who: Who
    ip: str
    agent: str
    count: int
    gap: float
    robots_first: bool
    proto: str

    def requests(self, rng: random.Random, site: Site) -> Iterator[Req]:
        t, ip, ua, who = self.start, self.ip, self.agent, self.who
        if self.robots_first:
            yield (t, ip, ua, "GET", "/robots.txt", 200, 212, "-", self.proto, who)
            t += rng.uniform(1.0, 10.0)
        for _ in range(self.count):
            roll = rng.random()
            if roll < 0.6:
                path = site.product(FIRST_ID + rng.randrange(PRODUCTS))
            elif roll < 0.8:
                path = site.category(rng.choice(CATEGORIES), rng.randint(1, 20))
            elif roll < 0.95:
                path = site.journal(rng)
            else:
                path = rng.choice(("/", "/sitemap.xml", "/feed.xml", "/about"))
            assert not site.disallowed(path)
            yield _req(t, ip, ua, path, site, rng, "-", self.proto, who)
            t += lognormal(rng, self.gap, 0.8, 0.5, 900.0)


@dataclass(frozen=True, slots=True)
class Poller:
    """A welcome service that polls one URL all day: a feed reader (/feed.xml, 304 when unchanged)
    or an uptime monitor (/ with GET or HEAD)."""

    start: float
    who: Who
    ip: str
    agent: str
    path: str
    every: float
    until: float
    method: str

    def requests(self, rng: random.Random, site: Site) -> Iterator[Req]:
        t = self.start
        while t < self.until:
            status, size = site.page_response(self.path, rng)
            if self.path == "/feed.xml" and rng.random() < 0.7:
                status, size = 304, 0
            if self.method == "HEAD":
                size = 0
            yield (t, self.ip, self.agent, self.method, self.path, status, size, "-", "HTTP/1.1", self.who)
            t += self.every * rng.uniform(0.9, 1.1)


@dataclass(frozen=True, slots=True)
class LinkChecker:
    """A site owner's link checker: reads robots.txt, then HEADs the pages robots.txt allows."""

    start: float
    who: Who
    ip: str
    agent: str
    count: int

    def requests(self, rng: random.Random, site: Site) -> Iterator[Req]:
        t = self.start
        yield (t, self.ip, self.agent, "GET", "/robots.txt", 200, 212, "-", "HTTP/1.1", self.who)
        for _ in range(self.count):
            t += rng.uniform(1.0, 2.0)
            path = rng.choice((site.product(FIRST_ID + rng.randrange(PRODUCTS)), site.journal(rng),
                               site.category(rng.choice(CATEGORIES)), "/", rng.choice(("/about", "/faq"))))  # fmt: skip
            yield _req(t, self.ip, self.agent, path, site, rng, "-", "HTTP/1.1", self.who, "HEAD")


Actor = Person | ProxyCampaign | Rotator | Walker1 | Headless | Bot | Crawler | Poller | LinkChecker
