"""Client classes of the generated log: each actor emits one burst of requests at a time.

A burst is a short run of requests that sit together in time (a page view with its assets, a
crawler's fetch of a few pages). The driver interleaves bursts from all actors along the clock.
Offsets inside a burst are natural seconds multiplied by a density factor `s` (<= 1), so a
5M-line day keeps bursts short while a 4k-line example keeps human-like pacing.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass, field
from typing import Protocol

from _gendata import (
    AI_COMPLIANT_BOTS,
    BROWSER_UAS,
    BYTESPIDER,
    CRAWL_DELAY_VIOLATORS,
    HONEYPOT_HITTERS,
    HOSTING_RANGES,
    INVALID_REQUESTS,
    LIBRARY_RANGES,
    LIBRARY_UAS,
    MASSCAN_UA,
    RESIDENTIAL_V4_FIRST_OCTETS,
    RESIDENTIAL_V6_PREFIXES,
    ROBOTS_VIOLATORS,
    SCANNER_PATHS,
    SCANNER_PROBE_UAS,
    SCANNER_RANGES,
    SCRAPER_UAS,
    SEARCH_BOTS,
    SEARCH_REFERERS,
    SEO_BOTS,
    SITE,
    BotSpec,
)
from _genworld import (
    CRAWL_DELAY,
    INVALID,
    Client,
    Registry,
    Site,
    Tally,
    Target,
    path_flags,
    random_ip,
    unique_ips,
)

#: (offset seconds, client, request field, status, bytes, referer, truth flags)
Event = tuple[float, Client, str, int, int, str, int]
DAY = 86_400.0


class Actor(Protocol):
    """One client class: returns the next burst, or None when no client of it may request now."""

    def burst(self, now: float, s: float) -> list[Event] | None: ...


@dataclass(slots=True)
class Ctx:
    """What every actor shares: the seeded RNG, the site, the client registry, the pool scale."""

    rng: random.Random
    site: Site
    registry: Registry
    scale: float  # multiplies the IP pool sizes of data tables (1.0 at 1M lines)
    memo: dict[str, tuple[int, int]] = field(default_factory=dict)  # path_flags() per distinct path

    def event(
        self,
        t: float,
        client: Client,
        target: Target,
        method: str = "GET",
        proto: str = "HTTP/1.1",
        referer: str = "-",
    ) -> Event:
        """An event for `target`, its truth flags judged for `client`."""
        flags = self.memo.get(target.path)
        if flags is None:
            flags = self.memo[target.path] = path_flags(target.path)
        return (
            t,
            client,
            f"{method} {target.path} {proto}",
            target.status,
            target.size,
            referer,
            flags[client.shut_out],
        )

    def pool(self, specs: tuple[BotSpec, ...], cls: str, mode: str = "") -> list[Client]:
        """Clients for each crawler spec, with an IP pool scaled to the log size."""
        return [
            self.registry.client(ip, spec.ua, cls, spec.name, spec.robots_group, mode)
            for spec in specs
            for ip in unique_ips(self.rng, spec.ranges, max(1, round(spec.ips * self.scale)))
        ]


def names_and_cum_weights(table: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], list[int]]:
    """Split a (name, weight) table for `rng.choices(names, cum_weights=...)` (no re-summing per draw)."""
    names, cum, total = [], [], 0
    for name, weight in table:
        total += weight
        names.append(name)
        cum.append(total)
    return tuple(names), cum


def url(path: str) -> str:
    """Absolute URL of a site path, as a referer."""
    return f"https://{SITE}{path}"


def crawl(
    ctx: Ctx,
    client: Client,
    targets: list[Target],
    now: float,
    s: float,
    gap: tuple[float, float],
    refresh: float,
) -> list[Event]:
    """A crawler burst: /robots.txt first when its copy is older than `refresh`, then `targets`."""
    rng, events, t = ctx.rng, [], 0.0
    if now - client.robots_at >= refresh:
        events.append(ctx.event(0.0, client, ctx.site.robots))
        client.robots_at = now
        t = rng.uniform(*gap) * s
    for target in targets:
        events.append(ctx.event(t, client, target))
        t += rng.uniform(*gap) * s
    return events


def offsets(rng: random.Random, n: int, lo: float, hi: float, s: float) -> list[float]:
    """`n` non-decreasing offsets starting at 0, with gaps uniform in [lo, hi] natural seconds."""
    out, t = [], 0.0
    for _ in range(n):
        out.append(t)
        t += rng.uniform(lo, hi) * s
    return out


def polite_targets(ctx: Ctx, k: int) -> list[Target]:
    """What an obedient crawler fetches: pages (some revalidated: 304), feeds, a few 404s/301s."""
    rng, site, out = ctx.rng, ctx.site, []
    for _ in range(k):
        r = rng.random()
        if r < 0.08:
            out.append(rng.choice(site.bot_extras))
        elif r < 0.11:
            out.append(rng.choice(site.missing))
        elif r < 0.13:
            out.append(rng.choice(site.redirects))
        else:
            page = rng.choice(site.pages)
            out.append(Target(page.path, 304, 0) if r > 0.9 else page)  # conditional GET
    return out


# --- humans -------------------------------------------------------------------------------------


@dataclass(slots=True)
class Session:
    """A human visit: successive page views by one client, with a warm or cold cache."""

    client: Client
    proto: str
    views: int = 0
    last_path: str | None = None


class Humans:
    """Browser sessions: a page, then its assets, referers from search engines then the site itself."""

    def __init__(self, ctx: Ctx, tally: Tally, active: int = 40) -> None:
        self.ctx, self.tally = ctx, tally
        self.fresh = 0  # distinct human clients created (each gets a never-used address)
        self.offset = ctx.rng.randrange(1 << 24)
        self.returning: list[Client] = []
        self.ua_names, self.ua_cum = names_and_cum_weights(BROWSER_UAS)
        self.ref_names, self.ref_cum = names_and_cum_weights(SEARCH_REFERERS)
        css_url = url(ctx.site.core_assets[0][0].path)  # fonts are requested by the stylesheet
        self.assets = [
            (asset, Target(asset.path, 304, 0), css_url if from_css else None)
            for asset, from_css in ctx.site.core_assets
        ]
        self.sessions = [self._start() for _ in range(active)]

    def _address(self, k: int) -> str:
        """The k-th human address: a bijection of k, so every new visitor has a new IP."""
        if k % 10 == 3:  # one visitor in ten on IPv6: ISP /32, a per-visitor /64, a SLAAC-like host part
            m = ((k // 10) * 2654435761 + self.offset) & 0xFFFFFFFF
            prefix = int(
                ipaddress.IPv6Address(RESIDENTIAL_V6_PREFIXES[k % len(RESIDENTIAL_V6_PREFIXES)] + "::")
            )
            host = (m * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
            return str(ipaddress.IPv6Address(prefix | (m << 64) | host))
        octets = RESIDENTIAL_V4_FIRST_OCTETS
        m = ((k // len(octets)) * 0x9E3779B1 + self.offset) & 0xFFFFFF
        return f"{octets[k % len(octets)]}.{m >> 16}.{(m >> 8) & 0xFF}.{m & 0xFF}"

    def _start(self) -> Session:
        rng = self.ctx.rng
        if self.returning and rng.random() < 0.15:
            client = rng.choice(self.returning)
        else:
            ua = rng.choices(self.ua_names, cum_weights=self.ua_cum)[0]
            client = Client(self._address(self.fresh), ua, "human", None, "star", self.tally)
            self.fresh += 1
        return Session(client, "HTTP/2.0" if rng.random() < 0.7 else "HTTP/1.1")

    def burst(self, now: float, s: float) -> list[Event]:
        rng = self.ctx.rng
        i = rng.randrange(len(self.sessions))
        session = self.sessions[i]
        events = self._page_view(session, s)
        if rng.random() < 0.3:  # the visit ends; remember the visitor, who may come back
            if len(self.returning) < 500:
                self.returning.append(session.client)
            else:
                self.returning[rng.randrange(500)] = session.client
            self.sessions[i] = self._start()
        return events

    def _pick_page(self, session: Session) -> tuple[str, Target]:
        ctx, rng = self.ctx, self.ctx.rng
        if session.views == 0:
            return "GET", rng.choice(ctx.site.landing)
        r = rng.random()
        if r < 0.05:
            return "GET", ctx.site.search(rng)
        if r < 0.07:
            return "POST", ctx.site.add_to_cart(rng)
        if r < 0.09:
            return "GET", ctx.site.disallowed[0]  # /cart
        if r < 0.11:
            return "GET", rng.choice(ctx.site.missing)
        return "GET", rng.choice(ctx.site.pages)

    def _page_view(self, session: Session, s: float) -> list[Event]:
        ctx, rng, client, proto = self.ctx, self.ctx.rng, session.client, session.proto
        method, page = self._pick_page(session)
        referer = (
            rng.choices(self.ref_names, cum_weights=self.ref_cum)[0]
            if session.last_path is None
            else url(session.last_path)
        )
        events = [ctx.event(0.0, client, page, method, proto, referer)]
        t = rng.uniform(0.05, 0.4) * s
        if method == "POST":  # add-to-cart redirects to the cart page
            page = ctx.site.disallowed[0]
            events.append(ctx.event(t, client, page, "GET", proto, referer))
            t += rng.uniform(0.05, 0.4) * s
        page_url = url(page.path)
        cold = session.views == 0
        if page.status != 404 or cold:
            for asset, revalidated, css_url in self.assets:
                if cold or rng.random() < 0.15:  # warm cache: most assets not requested, some revalidated
                    events.append(
                        ctx.event(
                            t, client, asset if cold else revalidated, "GET", proto, css_url or page_url
                        )
                    )
                    t += rng.uniform(0.01, 0.15) * s
        for image in page.images:
            events.append(ctx.event(t, client, image, "GET", proto, page_url))
            t += rng.uniform(0.01, 0.2) * s
        if cold:
            events.append(ctx.event(t, client, ctx.site.favicon, "GET", proto, page_url))
        session.views += 1
        session.last_path = page.path
        return events


# --- crawlers -----------------------------------------------------------------------------------


class SearchBots:
    """Googlebot, bingbot, Applebot, YandexBot from their published ranges: robots.txt first, obey it."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx, self.clients = ctx, ctx.pool(SEARCH_BOTS, "search_bot")

    def burst(self, now: float, s: float) -> list[Event]:
        rng = self.ctx.rng
        client = rng.choice(self.clients)
        return crawl(self.ctx, client, polite_targets(self.ctx, rng.randrange(1, 6)), now, s, (0.5, 4.0), DAY)


class AICompliant:
    """AI crawlers that obey: GPTBot/CCBot (Disallow: /) only re-read robots.txt; others follow `*`."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        clients = ctx.pool(AI_COMPLIANT_BOTS, "ai_compliant")
        self.shut_out = [c for c in clients if c.group == "root"]
        self.others = [c for c in clients if c.group != "root"]

    def burst(self, now: float, s: float) -> list[Event]:
        rng = self.ctx.rng
        client = rng.choice(self.shut_out)
        if now - client.robots_at >= DAY / 4:
            return crawl(self.ctx, client, [], now, s, (1.0, 2.0), DAY / 4)
        client = rng.choice(self.others)
        return crawl(self.ctx, client, polite_targets(self.ctx, rng.randrange(1, 5)), now, s, (0.5, 3.0), DAY)


class Bytespider:
    """ByteDance's crawler: hundreds of IPs, ignores its `Disallow: /` and hammers private paths."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.clients = ctx.pool((BYTESPIDER,), "ai_violator")
        for client in self.clients:  # a fifth read robots.txt once, then ignore it
            client.mode = "reads-robots" if ctx.rng.random() < 0.2 else ""

    def burst(self, now: float, s: float) -> list[Event]:
        ctx, rng = self.ctx, self.ctx.rng
        client = rng.choice(self.clients)
        targets = [hammer_target(ctx) for _ in range(rng.randrange(3, 16))]
        refresh = 1e18 if client.mode else float("inf")  # read once, or never
        return crawl(ctx, client, targets, now, s, (0.1, 1.0), refresh)


def hammer_target(ctx: Ctx) -> Target:
    """A target of a crawler that ignores robots.txt: pages and disallowed paths alike."""
    rng, site, r = ctx.rng, ctx.site, ctx.rng.random()
    if r < 0.2:
        return rng.choice(site.disallowed)
    if r < 0.35:
        return site.search(rng)
    if r < 0.39:
        return rng.choice(site.missing)
    if r < 0.40:
        return rng.choice(site.traps)
    return rng.choice(site.pages)


class SeoBots:
    """AhrefsBot and SemrushBot: obey Disallow and wait Crawl-delay seconds between requests."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx, self.clients = ctx, ctx.pool(SEO_BOTS, "seo_bot")

    def burst(self, now: float, s: float) -> list[Event] | None:
        rng = self.ctx.rng
        for _ in range(3):
            client = rng.choice(self.clients)
            if now >= client.next_ok:
                client.next_ok = now + CRAWL_DELAY + rng.uniform(0.5, 20.0)
                if now - client.robots_at >= DAY:  # one request per visit: robots.txt counts too
                    return crawl(self.ctx, client, [], now, s, (1.0, 2.0), DAY)
                return crawl(self.ctx, client, polite_targets(self.ctx, 1), now, s, (1.0, 2.0), DAY)
        return None


class CrawlDelayViolators:
    """MJ12bot and DotBot: obey Disallow but fire bursts far below their Crawl-delay of 10 s."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx, self.clients = ctx, ctx.pool(CRAWL_DELAY_VIOLATORS, "crawl_delay_violator")

    def burst(self, now: float, s: float) -> list[Event]:
        rng = self.ctx.rng
        client = rng.choice(self.clients)
        return crawl(
            self.ctx, client, polite_targets(self.ctx, rng.randrange(5, 16)), now, s, (0.2, 1.5), DAY
        )


class RobotsViolators:
    """Declared crawlers that ignore robots.txt; half read it first (and ignore it anyway)."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx, self.clients = ctx, ctx.pool(ROBOTS_VIOLATORS, "robots_violator")
        for client in self.clients:
            client.mode = "reads-robots" if ctx.rng.random() < 0.5 else ""

    def burst(self, now: float, s: float) -> list[Event]:
        ctx, rng = self.ctx, self.ctx.rng
        client = rng.choice(self.clients)
        targets = [rng.choice(ctx.site.disallowed)] + [hammer_target(ctx) for _ in range(rng.randrange(2, 9))]
        rng.shuffle(targets)
        return crawl(ctx, client, targets, now, s, (0.3, 2.0), DAY if client.mode else float("inf"))


class HoneypotHitters:
    """Clients that follow the invisible trap link, which robots.txt disallows for everyone."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx, self.clients = ctx, ctx.pool(HONEYPOT_HITTERS, "honeypot")

    def burst(self, now: float, s: float) -> list[Event]:
        ctx, rng = self.ctx, self.ctx.rng
        client = rng.choice(self.clients)
        pages = [rng.choice(ctx.site.pages) for _ in range(rng.randrange(1, 5))]
        reads = client.crawler != "HeadlessChrome"  # declared crawlers read robots.txt, then ignore it
        events = crawl(ctx, client, pages, now, s, (0.3, 2.0), DAY if reads else float("inf"))
        t = events[-1][0]
        for _ in range(rng.randrange(1, 3)):
            t += rng.uniform(0.3, 2.0) * s
            events.append(ctx.event(t, client, rng.choice(ctx.site.traps), referer=url(pages[-1].path)))
        return events


@dataclass(slots=True)
class Operator:
    """A scraping operation: browser UAs, and addresses it rotates through."""

    uas: list[str]
    cidr: str
    per_request: bool  # a new IP for every request (from a /24) or one per burst (from a pool in a /16)
    ips: list[str]


class DisguisedScrapers:
    """Browser UAs from hosting ranges: many pages, no assets, never robots.txt, rotating IPs."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.operators = [self._operator(i) for i in range(max(2, round(5 * ctx.scale)))]

    def _operator(self, i: int) -> Operator:
        rng = self.ctx.rng
        sixteen = rng.choice(HOSTING_RANGES)
        uas = rng.sample(SCRAPER_UAS, rng.randrange(1, 3))
        if i % 2 == 0:
            a, b = sixteen.split(".")[:2]
            return Operator(uas, f"{a}.{b}.{rng.randrange(256)}.0/24", True, [])
        return Operator(uas, sixteen, False, unique_ips(rng, (sixteen,), rng.randrange(32, 256)))

    def _client(self, op: Operator) -> Client:
        rng = self.ctx.rng
        ip = random_ip(rng, (op.cidr,)) if op.per_request else rng.choice(op.ips)
        return self.ctx.registry.client(ip, rng.choice(op.uas), "disguised_scraper", None, "star")

    def burst(self, now: float, s: float) -> list[Event]:
        ctx, rng = self.ctx, self.ctx.rng
        op = rng.choice(self.operators)
        client = self._client(op)
        events, t, referer = [], 0.0, "-"
        for _ in range(rng.randrange(3, 13)):
            r = rng.random()
            target = (
                ctx.site.search(rng)
                if r < 0.1
                else rng.choice(ctx.site.disallowed[5:])
                if r < 0.15
                else rng.choice(ctx.site.pages)
            )
            events.append(ctx.event(t, client, target, referer=referer))
            referer = url(target.path) if rng.random() < 0.3 else "-"
            t += rng.uniform(0.3, 2.0) * s
            if op.per_request:
                client = self._client(op)
        return events


class Scanners:
    """Vulnerability probes, zgrab/masscan/Censys, TLS handshakes and junk sent to port 80."""

    KINDS = ("probe", "invalid", "zgrab", "masscan")
    WEIGHTS = (45, 30, 15, 10)

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.recent: list[Client] = []  # scanners come back: 30% of bursts reuse a recent client

    def _client(self, ua: str) -> Client:
        rng = self.ctx.rng
        client = self.ctx.registry.client(random_ip(rng, SCANNER_RANGES), ua, "scanner", None, "star")
        self.recent = (self.recent + [client])[-50:]
        return client

    def burst(self, now: float, s: float) -> list[Event]:
        ctx, rng = self.ctx, self.ctx.rng
        kind = rng.choices(self.KINDS, self.WEIGHTS)[0]
        if kind == "invalid":
            client = self._client("")
            requests = rng.sample(INVALID_REQUESTS, rng.randrange(1, 4))
            return [
                (t, client, req, 400, 157 if req else 0, "-", INVALID)
                for t, req in zip(offsets(rng, len(requests), 0.1, 3.0, s), requests)
            ]
        if kind == "zgrab":
            return [ctx.event(0.0, self._client("Mozilla/5.0 zgrab/0.x"), ctx.site.pages[0])]
        if kind == "masscan":
            return [ctx.event(0.0, self._client(MASSCAN_UA), ctx.site.pages[0], proto="HTTP/1.0")]
        probe_uas = [c for c in self.recent if c.ua in SCANNER_PROBE_UAS]
        client = (
            rng.choice(probe_uas)
            if probe_uas and rng.random() < 0.3
            else self._client(rng.choice(SCANNER_PROBE_UAS[:4]))
        )
        paths = rng.sample(SCANNER_PATHS, rng.randrange(3, 16))
        return [
            ctx.event(t, client, Target(p, 404, 5_131), "POST" if p == "/xmlrpc.php" else "GET")
            for t, p in zip(offsets(rng, len(paths), 0.05, 0.8, s), paths)
        ]


class Libraries:
    """curl, python-requests, Go-http-client...: health checks, feed readers, private-API scrapers."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx, rng = ctx, ctx.rng
        self.clients = []
        for i in range(max(4, round(14 * ctx.scale))):
            name, ua = LIBRARY_UAS[i % len(LIBRARY_UAS)]
            mode = ("monitor", "feed", "api")[rng.randrange(3)]
            self.clients.append(
                ctx.registry.client(random_ip(rng, LIBRARY_RANGES), ua, "library", name, "star", mode)
            )

    def burst(self, now: float, s: float) -> list[Event]:
        ctx, rng = self.ctx, self.ctx.rng
        client = rng.choice(self.clients)
        site = ctx.site
        if client.mode == "monitor":
            targets = [rng.choice((site.pages[0], site.bot_extras[2]))]
        elif client.mode == "feed":
            targets = [site.bot_extras[1]] + [rng.choice(site.pages) for _ in range(rng.randrange(0, 3))]
        else:
            targets = [
                rng.choice(site.disallowed[5:] + site.bot_extras[3:]) for _ in range(rng.randrange(1, 7))
            ]
        return crawl(ctx, client, targets, now, s, (0.05, 0.5), float("inf"))
