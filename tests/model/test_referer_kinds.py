"""The referer's kind as a feature (``ref_kind``): none, this site, a search engine or another
site, on a session's first request or a later one; the site's hosts are the campaign book's,
read at each request's time, so the kinds never depend on how the stream was cut."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from botguard.identity.asn import RangeTableAsn
from botguard.logs.records import REQUEST_SCHEMA
from botguard.model._served import ServedPages
from botguard.model.features import REFERER_KINDS, FeatureExtractor, is_search_host, referer_kind
from botguard.model.stream import StreamLearner
from botguard.robots import RobotsTxt
from tests.model.streamkit import CHROME, NOVA, frame, learner, load_bench, req, settings
from tests.model.test_model_labels import Hook

SITE = "https://www.example.com"


def _kinds(model: StreamLearner, calls: list[list[dict[str, Any]]]) -> list[str | None]:
    """Each request's ``ref_kind`` value as the stream featurized it (None: no such key)."""
    seen: list[str | None] = []
    original = model._features

    def features(call, kind, aid, behaviour):  # type: ignore[no-untyped-def]
        parts = original(call, kind, aid, behaviour)
        for i in range(call.n):
            found = [k for part in parts.of(i) for k in part if k.startswith("ref_kind=")]
            assert len(found) <= 1
            seen.append(found[0].partition("=")[2] if found else None)
        return parts

    model._features = features  # type: ignore[method-assign]
    for rows in calls:
        model.observe(frame(rows))
    return seen


def _browsers(t: float, n: int = 3) -> list[dict[str, Any]]:
    """``n`` browsers each showing a page and loading its assets with the page as referer: what
    teaches the campaign book that www.example.com is the site (its third address, at ``t + 21``)."""
    rows = []
    for k in range(n):
        ip, at = f"92.40.{k}.7", t + 10 * k
        rows.append(req(at, ip, CHROME, f"/article/{k}"))
        rows += [req(at + 1, ip, CHROME, f"/static/{a}.css", referer=f"{SITE}/article/{k}") for a in range(2)]
    return rows


@pytest.mark.parametrize(
    ("host", "own", "entry", "want"),
    [
        (None, False, True, "none"),
        (None, False, False, "none"),
        ("www.example.com", True, True, "site_entry"),
        ("www.example.com", True, False, "site_later"),
        ("www.example.com", True, False, "site_follow"),
        ("www.google.co.uk", False, True, "search_entry"),
        ("duckduckgo.com", False, False, "search_later"),
        ("t.co", False, True, "other_entry"),
        ("", False, False, "other_later"),  # a referer without a host is another site's
        ("www.google.com", True, False, "site_later"),  # the site's own host first
    ],
)
def test_a_referer_has_one_kind(host: str | None, own: bool, entry: bool, want: str) -> None:
    """Each referer has its kind; only a page of the site can be followed (another site's page,
    a search engine's, named later, is no link of a page the client was shown here)."""
    follows = want == "site_follow"
    assert REFERER_KINDS[referer_kind(host, own, entry, follows) - 1] == want
    if not own:
        assert referer_kind(host, own, entry, True) == referer_kind(host, own, entry, False)


def test_search_engines_are_told_by_their_hosts_not_by_a_name_inside_another() -> None:
    assert all(map(is_search_host, ("www.google.com", "google.de", "www.bing.com", "search.yahoo.com")))
    assert not any(map(is_search_host, ("evilgoogle.com", "googleusercontent.com", "mail.yahoo.com", "t.co")))


def test_a_fixed_fake_search_referer_is_a_search_entry_once_and_search_later_after() -> None:
    """A scraper sending the same search-engine referer on every request: only its first request
    looks like a landing (a person's later pages name the site)."""
    scraper = [
        req(10.0 * k, "65.108.12.3", NOVA, f"/p/{k}", referer="https://www.google.com/") for k in range(4)
    ]
    bare = [req(50 + 10.0 * k, "65.108.12.4", NOVA, f"/q/{k}") for k in range(3)]
    assert _kinds(learner(), [scraper + bare]) == [
        "search_entry", *["search_later"] * 3, *["none"] * 3,
    ]  # fmt: skip


def test_the_sites_referers_are_other_until_browsers_taught_the_host_then_the_sites() -> None:
    """A referer on www.example.com is another site's until three browsers loaded assets with
    referers there (at t=21), and the site's from then on, for any client."""
    early = [
        req(5, "65.108.12.3", NOVA, "/p/1", referer=f"{SITE}/"),
        req(6, "65.108.12.3", NOVA, "/p/2", referer=f"{SITE}/p/1"),
    ]
    late = [
        req(40, "65.108.12.5", NOVA, "/p/3", referer=f"{SITE}/"),
        req(41, "65.108.12.5", NOVA, "/p/4", referer=f"{SITE}/p/3"),
    ]
    rows = sorted(_browsers(0) + early + late, key=lambda r: r["time"])
    kinds = dict(zip([(r["ip"], r["target"]) for r in rows], _kinds(learner(), [rows]), strict=True))
    assert [kinds[(r["ip"], r["target"])] for r in early] == ["other_entry", "other_later"]
    assert [kinds[(r["ip"], r["target"])] for r in late] == ["site_entry", "site_later"]


def test_the_kinds_do_not_depend_on_how_the_stream_was_cut() -> None:
    """One call, or a call per request (a watch handed lines one by one): the same kind for every
    request, though the host became the site's in the middle of a call."""
    rows = sorted(
        _browsers(0)
        + [req(20 + k, "65.108.12.3", NOVA, f"/p/{k}", referer=f"{SITE}/p/{k - 1}") for k in range(6)],
        key=lambda r: r["time"],
    )
    whole = _kinds(learner(), [rows])
    assert "other_later" in whole and "site_later" in whole
    assert _kinds(learner(), [[r] for r in rows]) == whole


def test_a_snapshot_keeps_when_the_host_became_the_sites(tmp_path: Path) -> None:
    """A restored learner reads the site's host as the one that wrote the snapshot did; a snapshot
    from before the time was kept has its hosts as the site's all along."""
    model = learner()
    model.observe(frame(_browsers(0)))
    model.snapshot(tmp_path / "snap")
    restored = StreamLearner.restore(tmp_path / "snap", settings(), robots=lambda host: None)
    assert restored.campaigns.served.own_since("www.example.com") == model.campaigns.served.own_since(
        "www.example.com"
    ) == pytest.approx(frame(_browsers(0))["time"][7].timestamp())  # fmt: skip
    older = model.campaigns.served.to_json()
    del older["own_at"]
    pages = ServedPages(older["memory"])
    pages.load_json(json.loads(json.dumps(older)))
    assert pages.own_since("www.example.com") == 0.0
    assert pages.own_since("t.co") == float("inf")


def test_the_referer_view_masks_the_kind_and_the_asset_view_shows_it() -> None:
    """Leakage: the referer view read the referers, so its examples show no ``ref_kind``; the asset
    view did not, so a person it labelled teaches the kind of its referers (a person's own)."""
    hook = Hook()
    model = learner()
    model.train_hook = hook
    rows = []
    for n, referers in enumerate((True, False)):  # a cached reader (referer view), a direct visitor
        ip, t = f"86.1.3.{n + 1}", 100.0 * n
        for k in range(6):
            page = f"/products/{k}"
            rows.append(
                req(t + 20 * k, ip, CHROME, page, referer=f"{SITE}/products/{k - 1}" if referers else "-")
            )
            if not referers:
                rows.append(req(t + 20 * k + 1, ip, CHROME, "/static/a.css", referer="-"))
    model.observe(frame(sorted(rows, key=lambda r: r["time"])))
    model.flush()
    by_view = {
        source: [x for _, _, s, x in hook.examples if s == source]
        for source in ("human_referer", "human_assets")
    }
    assert by_view["human_referer"] and by_view["human_assets"]
    assert not any(k.startswith("ref_kind=") for x in by_view["human_referer"] for k in x)
    assert all(any(k == "ref_kind=none" for k in x) for x in by_view["human_assets"])


def test_a_reader_follows_its_own_links_and_a_campaign_names_pages_it_never_requested() -> None:
    """Once the site's host is known: a browser whose referers are the pages it was shown follows
    them (``site_follow``); one whose referers name pages another address requested (a campaign's
    walk handed from address to address) names the site without following (``site_later``)."""
    reader = [
        req(
            40 + 20 * k,
            "86.1.4.1",
            CHROME,
            f"/products/{k}",
            referer=f"{SITE}/products/{k - 1}" if k else "-",
        )
        for k in range(4)
    ]
    walk = [  # two addresses taking turns: each names the page the other just fetched
        req(
            41 + 20 * k, f"86.1.5.{k % 2}", CHROME, f"/c/x/?page={k + 2}", referer=f"{SITE}/c/x/?page={k + 1}"
        )
        for k in range(4)
    ]
    rows = sorted(_browsers(0) + reader + walk, key=lambda r: r["time"])
    kinds = dict(zip([(r["ip"], r["target"]) for r in rows], _kinds(learner(), [rows]), strict=True))
    assert [kinds[(r["ip"], r["target"])] for r in reader] == ["none", *["site_follow"] * 3]
    assert [kinds[(r["ip"], r["target"])] for r in walk] == [*["site_entry"] * 2, *["site_later"] * 2]


def test_a_request_says_once_whether_it_had_a_referer() -> None:
    """``ref_kind=none`` is ``ref=no`` and every other kind is ``ref=yes``: where the kind is known
    (the stream), ``ref`` is left out, so two keys never fire together for one fact and double the
    learner's step; where it is not (the scan's client pass), ``ref`` still says it."""
    fx = FeatureExtractor()
    known = fx.featurize({"has_referer": False, "referer_kind": REFERER_KINDS.index("none") + 1})
    assert "ref_kind=none" in known and not any(k.startswith("ref=") for k in known)
    assert "ref=yes" in fx.featurize({"has_referer": True, "referer_kind": 0})
    model = learner()
    rows = _browsers(0.0) + [
        req(40.0, "65.108.14.3", NOVA, "/item/1"),
        req(41.0, "65.108.14.3", NOVA, "/item/2", referer="https://www.google.com/"),
        req(42.0, "86.1.2.3", CHROME, "/article/2", referer=f"{SITE}/article/1"),
    ]
    keys: list[set[str]] = []
    original = model._features

    def features(call, kind, aid, behaviour):  # type: ignore[no-untyped-def]
        parts = original(call, kind, aid, behaviour)
        keys.extend({k.partition("=")[0] for part in parts.of(i) for k in part} for i in range(call.n))
        return parts

    model._features = features  # type: ignore[method-assign]
    model.observe(frame(rows))
    assert len(keys) == len(rows)
    assert all("ref_kind" in k and "ref" not in k for k in keys)


def test_a_verified_crawlers_robots_txt_is_not_flagged_in_the_old_generators_warm_up() -> None:
    """The old generator's first 4,096 requests (bench/bench_model_stream.py, seed 7), scored
    before learning as `watch` hands them over: no Googlebot or Bingbot request scores above the
    threshold. With ``ref=no`` and ``ref_kind=none`` both firing, "no referer" learned twice as
    fast and a verified Googlebot's /robots.txt scored 0.94."""
    bench = load_bench("bench_model_stream")
    day = bench.generate(200_000, 7).head(bench.CHUNK)
    robots = RobotsTxt.parse(bench.ROBOTS_TXT)
    model = StreamLearner(bench.bench_settings(), robots=lambda host: robots, asn_db=RangeTableAsn())
    scores = model.observe(day.select(list(REQUEST_SCHEMA))).to_numpy()
    good = day.get_column("cls").is_in(bench.GOOD).to_numpy()
    assert good.sum() > 10
    assert scores[good].max() < model.stream.rules.threshold
