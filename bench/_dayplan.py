"""Who comes on each generated day, and how many of each (gen_day.py's planner).

The mix is set in lines, not clients: ``Mix`` gives each population a share of the day's lines and
the lines one unit of it sends on average (measured on this generator), so a day of N lines has
about N lines whatever the seed. Every population is present on every day (at least its minimum
count), so a small test day still holds every kind of visitor. The master RNG draws the plan
(addresses, agents, parameters); each actor then gets its own RNG seeded from it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from _dayactors import (
    DAY,
    Actor,
    Bot,
    Crawler,
    Headless,
    LinkChecker,
    Person,
    Poller,
    ProxyCampaign,
    Rotator,
    Walker1,
    Who,
)
from _daynet import (
    BINGBOT,
    CHROME,
    GOOGLEBOT_DESKTOP,
    GOOGLEBOT_PHONE,
    HEADLESS,
    HOSTING,
    MOBILE,
    RESIDENTIAL,
    V6_PEOPLE,
    Agents,
    Networks,
    published_networks,
)
from _daysite import FIRST_ID, PRODUCTS

#: People's arrivals by local hour (evening peak, night trough).
DIURNAL = (0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.55, 0.8, 0.9, 0.95, 1.0,
           1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.1, 1.25, 1.3, 1.2, 0.9, 0.5)  # fmt: skip
BOT_NAMES = (
    "Quarry",
    "Tallow",
    "Merrow",
    "Pelican",
    "Sift",
    "Glean",
    "Bramble",
    "Corvid",
    "Dredge",
    "Harrow",
)
BOT_SUFFIXES = ("Bot", "Crawler", "Spider", "Fetcher", "Harvester")
BOT_TLDS = ("io", "ai", "net", "dev")


@dataclass(frozen=True, slots=True)
class Share:
    """One population: its share of lines, mean lines per unit, and the least units per day."""

    share: float
    per_unit: float
    minimum: int = 1


@dataclass(frozen=True, slots=True)
class Mix:
    """Shares of a day's lines by population (they sum to 1) and their unit sizes."""

    people: dict[str, Share] = field(
        default_factory=lambda: {
            "person_desktop": Share(0.27, 19.6, 20),
            "person_mobile": Share(0.14, 19.6, 10),
            "person_cached": Share(0.07, 3.1, 20),
            "person_cgnat": Share(0.05, 105.0, 4),  # per shared address: 3-12 people
        }
    )
    unwanted: dict[str, Share] = field(
        default_factory=lambda: {
            "proxy_campaign": Share(0.10, 300.0, 3),
            "hosting_rotator": Share(0.05, 1150.0, 1),
            "slow_walker": Share(0.03, 450.0, 1),
            "headless_fleet": Share(0.05, 2450.0, 1),
            "fake_googlebot": Share(0.015, 670.0, 1),
            "bad_bot": Share(0.045, 860.0, 1),
        }
    )
    wanted: dict[str, Share] = field(
        default_factory=lambda: {
            "googlebot": Share(0.09, 165.0, 3),
            "bingbot": Share(0.05, 165.0, 2),
            "feed_reader": Share(0.006, 40.0, 2),
            "uptime_monitor": Share(0.034, 830.0, 2),
            "link_checker": Share(0.0012, 240.0, 1),
        }
    )

    def units(self, lines: int) -> dict[str, int]:
        """How many units of each population a day of ``lines`` lines gets."""
        return {
            name: max(s.minimum, round(s.share * lines / s.per_unit))
            for group in (self.people, self.unwanted, self.wanted)
            for name, s in group.items()
        }


def hour_weighted(rng: random.Random, day_start: float) -> float:
    """A start time on the people's daily curve."""
    hour = rng.choices(range(24), DIURNAL)[0]
    return day_start + hour * 3600 + rng.random() * 3600


class Planner:
    """Draws one day's actors and campaigns from the master RNG."""

    def __init__(self, rng: random.Random, nets: Networks, agents: Agents) -> None:
        self.rng, self.nets, self.agents = rng, nets, agents
        self.google = published_networks("googlebot")
        self.bing = published_networks("bingbot")
        self.campaigns: dict[str, dict[str, object]] = {}

    def day(self, index: int, start: float, units: dict[str, int]) -> list[Actor]:
        """Every actor of day ``index`` (starting at epoch ``start``)."""
        out: list[Actor] = []
        for name, count in units.items():
            make = getattr(self, f"_{name}")
            for k in range(count):
                out.extend(make(index, start, k))
        return out

    # ---- people -------------------------------------------------------------------------------
    def _agent(self, mobile: bool) -> str:
        a, roll = self.agents, self.rng.random()
        if mobile:
            return self.rng.choice(a.in_app if roll < 0.15 else a.mobile)
        return self.rng.choice(a.long_tail if roll < 0.08 else a.desktop)

    def _proto(self) -> str:
        return "HTTP/2.0" if self.rng.random() < 0.85 else "HTTP/1.1"

    def _person(self, start: float, mobile: bool, cached: bool, population: str) -> Person:
        rng = self.rng
        nets = MOBILE if mobile else RESIDENTIAL
        v6 = rng.random() < 0.3
        ip, _ = self.nets.address(rng, tuple(n for n in nets if n in V6_PEOPLE) if v6 else nets, v6=v6)
        who = Who(population, None, True, True, "browser")
        return Person(hour_weighted(rng, start), ip, self._agent(mobile), who, cached, self._proto())

    def _person_desktop(self, day: int, start: float, k: int) -> list[Actor]:
        return [self._person(start, False, False, "person_desktop")]

    def _person_mobile(self, day: int, start: float, k: int) -> list[Actor]:
        return [self._person(start, True, False, "person_mobile")]

    def _person_cached(self, day: int, start: float, k: int) -> list[Actor]:
        return [self._person(start, self.rng.random() < 0.4, True, "person_cached")]

    def _person_cgnat(self, day: int, start: float, k: int) -> list[Actor]:
        """One carrier-grade-NAT address shared by 3-12 phones over the day; a third of them run
        one and the same current agent (as many phones of one model and version do), so some
        people share an address *and* an agent: one client of several people."""
        rng = self.rng
        ip, _ = self.nets.address(rng, MOBILE)
        common = self.agents.mobile[-1]
        out: list[Actor] = []
        for _ in range(rng.randint(3, 12)):
            agent = common if rng.random() < 0.33 else self._agent(True)
            who = Who("person_cgnat", None, True, True, "browser")
            out.append(Person(hour_weighted(rng, start), ip, agent, who, rng.random() < 0.4, self._proto()))
        return out

    # ---- campaigns ----------------------------------------------------------------------------
    def _campaign(
        self, day: int, kind: str, k: int, population: str, agent_kind: str, **params: object
    ) -> Who:
        cid = f"d{day}-{kind}-{k:02d}"
        self.campaigns[cid] = {"id": cid, "kind": population, "day": day, **params}
        return Who(population, cid, False, False, agent_kind)

    def _proxy_campaign(self, day: int, start: float, k: int) -> list[Actor]:
        rng, a = self.rng, self.agents
        n = int(math.exp(rng.uniform(math.log(30), math.log(200.999))))
        v6 = rng.random() < 0.15
        pool = rng.sample(
            V6_PEOPLE if v6 else RESIDENTIAL, k=min(len(V6_PEOPLE if v6 else RESIDENTIAL), rng.randint(3, 6))
        )
        addresses = tuple(self.nets.address(rng, tuple(pool), v6=v6)[0] for _ in range(n))
        hi = rng.choice((1, 2, 3, 4, 6, 8, 12))
        counts = tuple(rng.randint(1, hi) for _ in range(n))
        mode = rng.choice(("one", "few", "many"))
        choices = {"one": [rng.choice(a.current)], "few": rng.sample(a.current, 4), "many": list(a.current)}[
            mode
        ]
        agents = tuple(rng.choice(choices) for _ in range(n))
        walk = rng.choice(("catalogue", "catalogue", "random"))
        pace = "human" if rng.random() < 0.35 else "burst"
        gap = rng.uniform(15, 90) if pace == "human" else rng.uniform(1, 6)
        referer = rng.choice(
            ("-", "-", "-", "https://www.google.com/", "https://www.larchwood.example/", "walk")
        )
        proto = "HTTP/2.0" if rng.random() < 0.8 else "HTTP/1.1"
        concurrency = rng.randint(1, 8)
        api_share = rng.choice((0.0, 0.0, 0.0, 0.1, 0.3))
        who = self._campaign(
            day, "proxy", k, "proxy_campaign", "browser", addresses=n, max_requests_per_address=hi,
            agent_mode=mode, agents=len(set(agents)), walk=walk, pace=pace, referer=referer, protocol=proto,
            concurrency=concurrency, api_share=api_share, ipv6=v6, asns=sorted(pool),
        )  # fmt: skip
        t0 = start + rng.random() * DAY * 0.92
        return [
            ProxyCampaign(
                t0, who, addresses, agents, counts, walk, gap, referer, proto, concurrency, api_share
            )
        ]

    def _hosting_rotator(self, day: int, start: float, k: int) -> list[Actor]:
        rng = self.rng
        subnets = [self.nets.subnet24(rng, HOSTING) for _ in range(rng.randint(2, 6))]
        n = rng.randint(15, 70)
        addresses = tuple(self.nets.in24(rng, rng.choice(subnets)[0]) for _ in range(n))
        one = rng.random() < 0.5
        agent = rng.choice(self.agents.dated_chrome)
        agents = tuple(agent if one else rng.choice(self.agents.dated_chrome) for _ in range(n))
        counts = tuple(rng.randint(5, 40) for _ in range(n))
        walk = rng.choice(("catalogue", "random"))
        search = rng.choice((0.0, 0.0, 0.05, 0.2))
        concurrency = rng.randint(1, 4)
        who = self._campaign(
            day, "rotator", k, "hosting_rotator", "browser", addresses=n, subnets=len(subnets),
            asns=sorted({asn for _, asn in subnets}), agent_mode="one" if one else "many", walk=walk,
            search_share=search, concurrency=concurrency,
        )  # fmt: skip
        t0 = start + rng.random() * DAY * 0.9
        return [Rotator(t0, who, addresses, agents, counts, walk, rng.uniform(1, 4), concurrency, search)]

    def _slow_walker(self, day: int, start: float, k: int) -> list[Actor]:
        rng = self.rng
        hosting = rng.random() < 0.5
        ip, asn = self.nets.address(rng, HOSTING if hosting else RESIDENTIAL)
        agent = rng.choice(self.agents.current)
        referer = rng.choice(("-", "walk"))
        pages = rng.randint(100, 800)
        who = self._campaign(
            day, "walker", k, "slow_walker", "browser", addresses=1,
            network="hosting" if hosting else "residential", asns=[asn], referer=referer, pages=pages,
        )  # fmt: skip
        t0 = start + rng.random() * DAY * 0.6
        return [Walker1(t0, who, ip, agent, pages, rng.uniform(20, 90), referer, self._proto())]

    def _headless_fleet(self, day: int, start: float, k: int) -> list[Actor]:
        rng = self.rng
        n = rng.randint(1, 6)
        stock = rng.random() < 0.5
        agent = rng.choice(self.agents.desktop) if stock else HEADLESS.format(c=rng.choice(CHROME))
        fresh = rng.random() < 0.5
        base = FIRST_ID + rng.randrange(PRODUCTS)
        who = self._campaign(
            day, "headless", k, "headless_fleet", "browser" if stock else "headless", addresses=n,
            agent_mode="stock" if stock else "HeadlessChrome", fresh_profiles=fresh,
        )  # fmt: skip
        t0 = start + rng.random() * DAY * 0.85
        out: list[Actor] = []
        for w in range(n):
            ip, _ = self.nets.address(rng, HOSTING)
            pages = rng.randint(20, 200)
            out.append(
                Headless(
                    t0 + rng.uniform(0, 60), who, ip, agent, base + w * 400, pages, rng.uniform(2, 8), fresh
                )
            )
        return out

    def _fake_googlebot(self, day: int, start: float, k: int) -> list[Actor]:
        rng = self.rng
        n = rng.randint(1, 4)
        who = self._campaign(day, "fakegoogle", k, "fake_googlebot", "claimed_crawler", addresses=n)
        t0 = start + rng.random() * DAY * 0.9
        out: list[Actor] = []
        for _ in range(n):
            ip, _ = self.nets.address(rng, HOSTING)
            agent = GOOGLEBOT_DESKTOP if rng.random() < 0.5 else GOOGLEBOT_PHONE.format(c=rng.choice(CHROME))
            out.append(Bot(t0 + rng.uniform(0, 600), who, ip, agent, rng.randint(30, 400), rng.uniform(0.5, 4),
                           rng.random() < 0.5, rng.choice((0.0, 0.05, 0.2)), 0))  # fmt: skip
        return out

    def _bad_bot(self, day: int, start: float, k: int) -> list[Actor]:
        rng = self.rng
        name = rng.choice(BOT_NAMES) + rng.choice(BOT_SUFFIXES)
        url = f"https://{name.lower()}.{rng.choice(BOT_TLDS)}/bot"
        version = f"{rng.randint(1, 4)}.{rng.randint(0, 9)}"
        agent = (f"Mozilla/5.0 (compatible; {name}/{version}; +{url})" if rng.random() < 0.6
                 else f"{name}/{version} (+{url})")  # fmt: skip
        n = rng.randint(1, 3)
        trap = k == 0 or rng.random() < 0.35  # every day, someone walks into the honeypot
        who = self._campaign(
            day, "badbot", k, "bad_bot", "declared_bot", addresses=n, name=name, honeypot=trap
        )
        t0 = start + rng.random() * DAY * 0.9
        out: list[Actor] = []
        for _ in range(n):
            ip, _ = self.nets.address(rng, HOSTING)
            out.append(Bot(t0 + rng.uniform(0, 300), who, ip, agent, rng.randint(80, 900), rng.uniform(0.3, 3),
                           rng.random() < 0.4, rng.uniform(0.1, 0.4), rng.randint(1, 3) if trap else 0))  # fmt: skip
        return out

    # ---- welcome ------------------------------------------------------------------------------
    def _crawler(self, start: float, k: int, population: str, nets: list, agent: str) -> list[Actor]:
        rng = self.rng
        ip = self.nets.published(rng, nets)
        who = Who(population, None, True, False, "crawler")
        return [Crawler(start + rng.random() * DAY * 0.95, who, ip, agent, rng.randint(20, 300),
                        rng.uniform(3, 30), k == 0 or rng.random() < 0.4, "HTTP/1.1")]  # fmt: skip

    def _googlebot(self, day: int, start: float, k: int) -> list[Actor]:
        agent = GOOGLEBOT_PHONE.format(c=CHROME[-1]) if self.rng.random() < 0.7 else GOOGLEBOT_DESKTOP
        return self._crawler(start, k, "googlebot", self.google, agent)

    def _bingbot(self, day: int, start: float, k: int) -> list[Actor]:
        return self._crawler(start, k, "bingbot", self.bing, BINGBOT.format(c=CHROME[-1]))

    def _poller(
        self, start: float, population: str, agent: str, path: str, every: float, method: str
    ) -> Poller:
        ip, _ = self.nets.address(self.rng, HOSTING)
        who = Who(population, None, True, False, "service")
        return Poller(start + self.rng.random() * every, who, ip, agent, path, every, start + DAY, method)

    def _feed_reader(self, day: int, start: float, k: int) -> list[Actor]:
        agent = self.agents.welcome["feed"][k % len(self.agents.welcome["feed"])]
        return [self._poller(start, "feed_reader", agent, "/feed.xml", self.rng.uniform(900, 3600), "GET")]

    def _uptime_monitor(self, day: int, start: float, k: int) -> list[Actor]:
        agent = self.agents.welcome["monitor"][k % len(self.agents.welcome["monitor"])]
        method = "HEAD" if self.rng.random() < 0.5 else "GET"
        return [
            self._poller(start, "uptime_monitor", agent, "/", self.rng.choice((60.0, 120.0, 300.0)), method)
        ]

    def _link_checker(self, day: int, start: float, k: int) -> list[Actor]:
        rng = self.rng
        ip, _ = self.nets.address(rng, HOSTING)
        who = Who("link_checker", None, True, False, "service")
        agent = self.agents.welcome["linkcheck"][0]
        return [LinkChecker(start + rng.uniform(2, 5) * 3600, who, ip, agent, rng.randint(150, 350))]
