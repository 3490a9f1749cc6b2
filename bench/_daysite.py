"""The site gen_day.py serves: a shop with a catalogue, a journal, assets and a robots.txt.

Why a site model: what separates a person from a program in a log is the shape of a visit (a
landing page from a search, its CSS/JS/fonts/images, links followed with a referer, the cart),
and what a scraper gives away is its walk (consecutive catalogue ids, listing pages in order).
Both need real paths. robots.txt here is plain prefixes (no wildcards), so the generator's own
judgement of a path (``disallowed``) is exact under RFC 9309 without a robots.txt engine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

HOST = "www.larchwood.example"
ORIGIN = f"https://{HOST}"
#: The trap: under a prefix robots.txt disallows for everyone, linked only invisibly.
HONEYPOT = "/private/catalogue-export/"
DISALLOWED = ("/cart", "/checkout/", "/account/", "/search", "/api/", "/private/")
FIRST_ID = 1000
PRODUCTS = 4800
CATEGORIES = (
    "sofas", "armchairs", "dining-tables", "chairs", "beds", "wardrobes", "desks", "shelving",
    "lighting", "rugs", "curtains", "mirrors", "outdoor", "kitchen", "bathroom", "kids",
)  # fmt: skip
WORDS = (
    "oak", "walnut", "linen", "velvet", "brass", "marble", "rattan", "wool", "ceramic", "teak",
    "pine", "leather", "cotton", "glass", "steel", "bamboo", "jute", "cane", "ash", "birch",
)  # fmt: skip
INFO = ("/about", "/contact", "/shipping", "/returns", "/faq", "/stores")
SHELL_ASSETS = (  # what a first page view loads besides the page's own images
    ("/static/css/app.4f2a91.css", 48_211),
    ("/static/js/vendor.17d5e2.js", 131_870),
    ("/static/js/app.9c03be.js", 62_455),
    ("/static/fonts/inter-var.3b1c.woff2", 96_300),
    ("/static/img/logo.svg", 3_912),
    ("/favicon.ico", 15_086),
)
SEARCH_REFERERS = ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/")
SOCIAL_REFERERS = (
    "https://l.instagram.com/",
    "https://t.co/",
    "https://www.pinterest.com/",
    "https://www.reddit.com/",
)
#: What a landing page is, by weight.
LANDINGS = (("home", 25), ("product", 40), ("category", 20), ("journal", 15))


@dataclass(frozen=True, slots=True)
class Site:
    """Paths, their statuses and sizes, and the robots.txt judgement of a path."""

    host: str = HOST
    honeypot: str = HONEYPOT
    posts: tuple[str, ...] = field(default_factory=lambda: _posts(120))

    # ---- what exists ------------------------------------------------------------------------
    @staticmethod
    def product(pid: int) -> str:
        return f"/product/{pid}"

    @staticmethod
    def category(slug: str, page: int = 1) -> str:
        return f"/c/{slug}/" if page == 1 else f"/c/{slug}/?page={page}"

    @staticmethod
    def category_of(pid: int) -> str:
        return CATEGORIES[(pid * 7) % len(CATEGORIES)]

    def random_product(self, rng: random.Random) -> int:
        return FIRST_ID + rng.randrange(PRODUCTS)

    def journal(self, rng: random.Random) -> str:
        return f"/journal/{rng.choice(self.posts)}/"

    @staticmethod
    def search(rng: random.Random) -> str:
        return f"/search?q={rng.choice(WORDS)}+{rng.choice(CATEGORIES).split('-')[0]}"

    @staticmethod
    def disallowed(path: str) -> bool:
        """robots.txt's judgement for every agent (the file has one group, prefixes only)."""
        return path.startswith(DISALLOWED)

    # ---- responses --------------------------------------------------------------------------
    @staticmethod
    def page_response(path: str, rng: random.Random) -> tuple[int, int]:
        """Status and body size of a page request."""
        if path.startswith("/product/"):
            pid = path[9:].split("/", 1)[0]
            if not pid.isdigit() or not FIRST_ID <= int(pid) < FIRST_ID + PRODUCTS:
                return 404, 5_120
            return 200, 38_000 + rng.randrange(14_000)
        if path.startswith("/c/"):
            return 200, 52_000 + rng.randrange(20_000)
        if path.startswith(("/api/", "/private/")):
            return 200, 2_000 + rng.randrange(30_000)
        if path == "/robots.txt":
            return 200, 212
        return 200, 14_000 + rng.randrange(30_000)

    # ---- a visit ----------------------------------------------------------------------------
    def landing(self, rng: random.Random) -> tuple[str, str]:
        """Where a visit starts and its referer ("-" when typed or bookmarked)."""
        kind = rng.choices([k for k, _ in LANDINGS], [w for _, w in LANDINGS])[0]
        path = {
            "home": "/",
            "product": self.product(self.random_product(rng)),
            "category": self.category(rng.choice(CATEGORIES)),
            "journal": self.journal(rng),
        }[kind]
        roll = rng.random()
        if roll < 0.55:
            return path, rng.choice(SEARCH_REFERERS)
        if roll < 0.7:
            return path, rng.choice(SOCIAL_REFERERS)
        return path, "-"

    def next_page(self, rng: random.Random, prev: str) -> str:
        """A link a person follows from ``prev`` (people use search, cart and account too)."""
        roll = rng.random()
        if prev.startswith("/product/") and prev[9:].isdigit():
            pid = int(prev[9:])
            if roll < 0.4:
                return self.product(_clamp(pid + rng.randint(-40, 40)))
            if roll < 0.6:
                return self.category(self.category_of(pid))
            if roll < 0.7:
                return f"{prev}/reviews"
            if roll < 0.82:
                return "/cart"
            return self.search(rng) if roll < 0.94 else "/"
        if prev.startswith("/c/"):
            if roll < 0.6:
                return self.product(self.random_product(rng))
            if roll < 0.8:
                slug = prev.split("/")[2]
                page = int(prev.rsplit("=", 1)[1]) + 1 if "?page=" in prev else 2
                return self.category(slug, page)
            return self.search(rng) if roll < 0.9 else self.category(rng.choice(CATEGORIES))
        if prev == "/cart":
            return "/checkout/" if roll < 0.3 else self.product(self.random_product(rng))
        if prev.startswith("/checkout/"):
            return "/account/orders" if roll < 0.5 else "/"
        if roll < 0.45:
            return self.product(self.random_product(rng))
        if roll < 0.75:
            return self.category(rng.choice(CATEGORIES))
        if roll < 0.9:
            return self.journal(rng)
        return rng.choice(INFO)

    def page_assets(self, path: str, first: bool, rng: random.Random) -> list[tuple[str, int]]:
        """Assets a browser without a cache loads for ``path``: the shell on the first view,
        then the page's own images."""
        out = list(SHELL_ASSETS) if first else []
        if path.startswith("/product/") and path[9:].isdigit():
            pid = path[9:]
            out += [(f"/media/products/{pid}/main-800.webp", 88_000 + rng.randrange(40_000))]
            out += [(f"/media/products/{pid}/alt{k}-800.webp", 61_000) for k in range(rng.randint(0, 3))]
        elif path.startswith("/c/"):
            base = FIRST_ID + rng.randrange(PRODUCTS - 12)
            out += [(f"/media/products/{base + k}/thumb-320.webp", 14_500) for k in range(rng.randint(6, 12))]
        elif path.startswith("/journal/"):
            out += [(f"/media/journal/{path.split('/')[2]}.jpg", 140_000)]
        elif path == "/":
            out += [(f"/media/home/hero-{k}.webp", 120_000) for k in range(2)]
        return out

    # ---- files beside the log ---------------------------------------------------------------
    def robots_txt(self) -> str:
        lines = [
            f"# robots.txt for {self.host} (written by botguard bench/gen_day.py)",
            f"# {self.honeypot} is a honeypot: linked only invisibly, disallowed for everyone.",
            "",
            "User-agent: *",
            *(f"Disallow: {p}" for p in DISALLOWED),
            "",
            f"Sitemap: {ORIGIN}/sitemap.xml",
            "",
        ]
        return "\n".join(lines)

    def botguard_config(self) -> str:
        """The config a site owner would give botguard: the honeypot, nothing else."""
        return (
            "# botguard config for the generated site (bench/gen_day.py): its honeypot.\n"
            f"honeypots: [{self.honeypot}]\n"
        )


def _clamp(pid: int) -> int:
    return min(max(pid, FIRST_ID), FIRST_ID + PRODUCTS - 1)


def _posts(n: int) -> tuple[str, ...]:
    rng = random.Random("larchwood-journal")  # the site is the same for every seed
    return tuple(f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{rng.choice(CATEGORIES)}-{k}" for k in range(n))
