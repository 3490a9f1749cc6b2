"""Campaign signatures (botguard.model.campaigns), one deterministic stream per signature.

Each test feeds the stream learner a campaign that only the signature ties together (browser
agents, one page per address, no assets) beside people who share something with it, and checks
that the campaign's clients are raised with that signature's kind and the people are not.
"""

from __future__ import annotations

from typing import Any

from tests.model.streamkit import CHROME, GOOGLEBOT, frame, learner, req

SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15"
)


def residential(i: int) -> str:
    """A different home address per client (no shared /24)."""
    return f"81.{10 + i}.{(7 * i) % 250}.{20 + i}"


def person(t: float, ip: str, ua: str, pages: list[str]) -> list[dict[str, Any]]:
    """A person: each page followed by its assets, the next page's referer the previous page."""
    rows, ref = [], "https://www.google.com/"
    for page in pages:
        rows.append(req(t, ip, ua, page, referer=ref))
        rows.append(req(t + 0.2, ip, ua, "/static/app.css", referer=f"https://www.example.com{page}"))
        ref, t = f"https://www.example.com{page}", t + 15
    return rows


def raised(rows: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Feed the rows in time order; (ip, user agent) -> kind of each raise."""
    model = learner()
    model.observe(frame(sorted(rows, key=lambda r: r["time"])))
    return {key: r.kind for key, r in model.raises().items()}


def test_walk_split_across_addresses_is_raised() -> None:
    """Ten addresses each take one step of one walk (/product/100, 101, ...): all ten are raised
    as a walk once eight have joined it; people reading products in between, with assets and
    non-consecutive ids, are not."""
    campaign = [req(20.0 * i, residential(i), CHROME, f"/product/{100 + i}") for i in range(10)]
    people = [
        row
        for k in range(6)
        for row in person(5 + 20.0 * k, f"92.1.{k}.9", SAFARI, [f"/product/{37 * k + 500}"])
    ]
    got = raised(campaign + people)
    assert {(r["ip"], r["user_agent"]): "walk" for r in campaign}.items() <= got.items()
    assert not any((r["ip"], r["user_agent"]) in got for r in people)


def test_a_short_walk_is_not_a_campaign() -> None:
    """Seven addresses on consecutive ids stay below the walk's eight clients: nothing is raised."""
    campaign = [req(20.0 * i, residential(i), CHROME, f"/product/{100 + i}") for i in range(7)]
    assert raised(campaign) == {}


def test_referer_chain_across_addresses_is_raised() -> None:
    """Each address names as its referer the deep page the previous address just requested (a
    crawler handing its frontier to the next proxy): the chain is raised; people arriving from the
    home page (a page everyone links from) are not."""
    pages = [f"/item?sku=ab{chr(97 + i)}x" for i in range(10)]
    campaign = [req(0.0, residential(0), CHROME, pages[0])]
    campaign += [
        req(30.0 * i, residential(i), CHROME, pages[i], referer=f"https://www.example.com{pages[i - 1]}")
        for i in range(1, 10)
    ]
    people = [req(3 + 30.0 * k, f"92.1.{k}.9", SAFARI, "/", referer="-") for k in range(5)]
    people += [
        req(4 + 30.0 * k, f"92.1.{k}.9", SAFARI, f"/item?sku=zz{k}", referer="https://www.example.com/")
        for k in range(5)
    ]
    got = raised(campaign + people)
    assert {(r["ip"], r["user_agent"]): "referer" for r in campaign}.items() <= got.items()
    assert not any((r["ip"], r["user_agent"]) in got for r in people)


def test_burst_of_new_bare_clients_sharing_an_agent_is_raised() -> None:
    """Twelve new addresses with one exact agent land on the same page within ten minutes, no
    assets, no referer: a burst of that agent. The same burst loading assets is twelve people."""
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    campaign = [req(30.0 * i, residential(i), ua, "/sale/shoes") for i in range(12)]
    got = raised(campaign)
    assert {(r["ip"], r["user_agent"]) for r in campaign} <= got.keys()
    assert {got[(r["ip"], r["user_agent"])] for r in campaign} <= {"agent", "asn"}
    people = [row for i in range(12) for row in person(30.0 * i, residential(i), ua, ["/sale/shoes"])]
    assert raised(people) == {}


def test_a_popular_agent_arriving_at_its_usual_rate_is_not_a_burst() -> None:
    """An agent that has brought a dozen new bare clients every ten minutes for hours is not
    raised for bringing a dozen more: a burst is a lift over a key's usual rate, which every
    arrival teaches (the first arrivals, with no history yet, may look like a burst)."""
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
    steady = [req(50.0 * i, f"10.{i // 250}.{i % 250}.1", ua, "/sale/shoes") for i in range(600)]
    got = raised(steady)
    assert not {(r["ip"], r["user_agent"]) for r in steady[60:]} & got.keys(), len(got)


def test_a_client_walking_ids_by_itself_is_raised() -> None:
    """One address walking /product/1..6 in order without assets is a walker at any pace; a person
    paging through the same ids loading the page assets is not."""
    walker = [req(40.0 * k, "81.3.3.3", CHROME, f"/product/{k + 1}") for k in range(6)]
    reader = person(1.0, "92.1.1.9", SAFARI, [f"/product/{k + 1}" for k in range(6)])
    got = raised(walker + reader)
    assert got.get(("81.3.3.3", CHROME)) == "self-walk"
    assert ("92.1.1.9", SAFARI) not in got


def test_verified_crawler_walking_ids_is_never_raised() -> None:
    """Googlebot from Google's published ranges walks the catalogue in order: never raised."""
    crawl = [req(5.0 * k, f"66.249.66.{1 + k % 9}", GOOGLEBOT, f"/product/{k + 1}") for k in range(30)]
    assert raised(crawl) == {}


def test_raises_survive_a_snapshot(tmp_path: Any) -> None:
    """A restored learner holds the same raises and keeps raising the same campaign."""
    from botguard.model.stream import StreamLearner
    from tests.model.streamkit import ROBOTS, settings

    rows = [req(20.0 * i, residential(i), CHROME, f"/product/{100 + i}") for i in range(12)]
    whole = learner()
    whole.observe(frame(rows))
    half = learner()
    half.observe(frame(rows[:6]))
    half.snapshot(tmp_path / "snap")
    again = StreamLearner.restore(tmp_path / "snap", settings(), robots=lambda host: ROBOTS)
    again.observe(frame(rows[6:]))
    assert again.raises() == whole.raises() and len(whole.raises()) == 12


def _site_day(start: float, hours: float) -> list[dict[str, Any]]:
    """People reading the site for ``hours``: the home page, then a product, loading assets (which
    teaches the book the site's own host and what people's referers look like)."""
    rows: list[dict[str, Any]] = []
    for k in range(int(hours * 20)):
        ip = f"92.{1 + k % 200}.{k // 200}.9"
        rows += person(start + 180.0 * k, ip, SAFARI, ["/", f"/product/{37 * k + 500}"])
    return rows


def _home_referer_campaign(start: float, n: int = 6) -> list[dict[str, Any]]:
    """``n`` addresses (fewer than a burst or chain needs), one product page each, each naming the
    site's home page as its referer though no request of theirs ever fetched it."""
    return [
        req(
            start + 40.0 * i,
            residential(i),
            CHROME,
            f"/product/{100 + 53 * i}",
            referer="https://www.example.com/",
        )
        for i in range(n)
    ]


def test_a_referer_naming_a_page_the_client_never_requested_is_raised() -> None:
    """After the warm-up, a bare client whose referer names a page of this site it never requested
    is raised as an orphan referer; people are not, nor a person whose carrier NAT sends the next
    page from another address of its /24, nor one back after two hours (past ``client_ttl``)
    following a link from a page it read then, its browser having cached the assets, nor people
    arriving from a search engine whose image search loaded the site's pictures (its referers
    name no page those browsers requested here: the search engine is not this site)."""
    campaign = _home_referer_campaign(5000.0)
    cgnat = person(5100.0, "100.64.7.10", SAFARI, ["/deals"])
    cgnat.append(req(5120.0, "100.64.7.11", SAFARI, "/product/77", referer="https://www.example.com/deals"))
    back = person(100.0, "93.4.4.4", SAFARI, ["/guide/boots"])
    back.append(req(7400.0, "93.4.4.4", SAFARI, "/product/88", referer="https://www.example.com/guide/boots"))
    images = [  # an image search shows the site's pictures: their referer is the search engine's page
        req(
            4000.0 + 9 * k,
            f"94.{k}.1.1",
            SAFARI,
            "/static/boots.jpg",
            referer="https://www.google.com/imgres?q=boots",
        )
        for k in range(5)
    ]
    searchers = [
        req(
            6000.0 + 9 * k, f"95.{k}.1.1", SAFARI, "/product/55", referer="https://www.google.com/url?q=boots"
        )
        for k in range(3)
    ]
    got = raised(_site_day(0.0, 2.5) + campaign + cgnat + back + images + searchers)
    assert {(r["ip"], r["user_agent"]): "orphan" for r in campaign}.items() <= got.items()
    assert {key for key, kind in got.items() if kind == "orphan"} == {
        (r["ip"], r["user_agent"]) for r in campaign
    }


def test_orphan_referers_wait_for_the_warm_up_and_a_site_whose_browsers_send_them() -> None:
    """In the stream's first hour (people's sessions may have begun before the log) the same
    campaign is not raised; nor later on a site whose people's browsers name pages the log never
    saw them request (a CDN serving pages from its cache): there the signal says nothing."""
    early = _home_referer_campaign(600.0)
    assert raised(_site_day(0.0, 2.0) + early) == {}
    cached = [
        row
        for k in range(60)
        for row in person(60.0 * k, f"92.{1 + k}.3.9", SAFARI, [f"/product/{500 + 7 * k}"])
        + [
            req(
                60.0 * k + 30,
                f"92.{1 + k}.3.9",
                SAFARI,
                "/static/app.css",
                referer="https://www.example.com/",
            )
        ]
        + [
            req(
                60.0 * k + 31,
                f"92.{1 + k}.3.9",
                SAFARI,
                f"/product/{900 + 7 * k}",
                referer="https://www.example.com/cdn-only",
            )
        ]
    ]
    assert raised(cached + _home_referer_campaign(5000.0)) == {}


def test_a_campaign_address_following_its_own_page_once_stays_raised() -> None:
    """A campaign address handed its own last page as the next referer now and then is no reader:
    its raise stays while it names more pages it never requested than its own."""
    steps = [req(5000.0, "81.9.9.9", CHROME, "/product/401", referer="https://www.example.com/")]
    steps.append(
        req(5030.0, "81.9.9.9", CHROME, "/product/650", referer="https://www.example.com/product/333")
    )
    steps.append(
        req(5060.0, "81.9.9.9", CHROME, "/product/702", referer="https://www.example.com/product/650")
    )
    got = raised(_site_day(0.0, 2.5) + steps)
    assert got.get(("81.9.9.9", CHROME)) == "orphan"


def test_a_raise_after_a_clients_last_request_is_its_score() -> None:
    """A one-page member of a walk is scored at its only request, before the walk qualified; once
    raised, its score is the raise's confidence (the scan's model_score and AUC read it)."""
    model = learner()
    campaign = [req(20.0 * i, residential(i), CHROME, f"/product/{100 + i}") for i in range(10)]
    model.observe(frame(campaign))
    scores = model.campaigns.scores
    assert all(scores[(r["ip"], r["user_agent"])][0] >= 0.99 for r in campaign)


def test_orphan_memory_survives_a_snapshot_and_any_cut(tmp_path: Any) -> None:
    """The pages each client requested and the site's hosts are part of a snapshot: a learner
    restored mid-day raises the same orphan referers as one that saw the whole day."""
    from tests.model.streamkit import whole_and_restored

    rows = sorted(_site_day(0.0, 2.5) + _home_referer_campaign(5000.0), key=lambda r: r["time"])
    cut = next(i for i, r in enumerate(rows) if r["time"] >= 4000.0)
    whole, again = whole_and_restored(rows, cut, tmp_path / "snap")
    assert again.raises() == whole.raises()
    assert sum(r.kind == "orphan" for r in whole.raises().values()) == 6


def test_a_search_engines_referer_is_never_this_sites_page() -> None:
    """New bare clients arriving from ``https://www.google.com/`` share one burst shape (``ext:`` the
    search engine), whether or not this site's own home page ``/`` was requested just before: the
    referer's page alone named a page of this site, so their key depended on which pages the book
    still remembered, which depends on when its sweeps ran (how the stream was cut)."""
    rows = person(0.0, "92.1.1.9", SAFARI, ["/"])
    rows += [
        req(
            10.0 + 40.0 * i,
            residential(i),
            CHROME,
            f"/product/{100 + 37 * i}",
            referer="https://www.google.com/",
        )
        for i in range(12)
    ]
    model = learner()
    model.observe(frame(sorted(rows, key=lambda r: r["time"])))
    shapes = {
        key.rsplit("|", 2)[1]
        for key in model.campaigns.bursts
        if key.startswith("agent=Mozilla/5.0 (Windows")
    }
    assert shapes == {"ext:www.google.com"}
    kinds = {r.signature.rsplit("|", 2)[1] for r in model.raises().values() if r.kind == "agent"}
    assert kinds <= {"ext:www.google.com"}


def test_a_raise_dropped_for_following_own_links_leaves_half_its_evidence_in_the_score() -> None:
    """An address that entered naming the home page it never requested is raised as an orphan
    referer; once it follows its own links more than it names pages it never saw, the raise goes
    (a reader), but its score keeps half the raise's confidence: a campaign handing its walk
    between addresses that then step through a few pages by themselves still ranks above the
    same steps entered from a search engine."""

    def last_score(entry: str) -> tuple[float, bool]:
        steps = [req(5000.0, "81.9.9.9", CHROME, "/product/401", referer=entry)]
        steps += [
            req(5000.0 + 30 * k, "81.9.9.9", CHROME, f"/product/{401 + k}",
                referer=f"https://www.example.com/product/{400 + k}")
            for k in range(1, 4)
        ]  # fmt: skip
        model = learner()
        model.observe(frame(sorted(_site_day(0.0, 2.5) + steps, key=lambda r: r["time"])))
        key = ("81.9.9.9", CHROME)
        return model.campaigns.scores[key][0], key in model.raises()

    orphan, raised_still = last_score("https://www.example.com/")
    searched, _ = last_score("https://www.google.com/")
    assert not raised_still
    assert orphan >= 1.0 - (1.0 - searched) * (1.0 - 0.495) > searched
