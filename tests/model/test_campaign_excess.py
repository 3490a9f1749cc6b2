"""Campaign evidence short of a raise (botguard.model.campaigns.burst_excess): a burst key's
excess over its usual rate scores its new bare clients, however few requests each made.

Why these tests: a residential-proxy client with one to five requests, no referer and no assets
looks like a person whose browser cached the page; what tells it apart is that many new addresses
with its exact agent (or its AS) and its entry arrive at once. Below the burst's bar
(``burst_min`` clients and ``burst_lift`` times the usual rate) nothing is raised, but the
excess still ranks those clients above the key's usual arrivals.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botguard.model.campaigns import burst_excess
from botguard.model.signatures import CandidateRules
from tests.model.streamkit import T0, frame, learner, req, settings, whole_and_restored

AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
PAGE = "/sale/shoes"
HOURS = 3.0
BURST_AT = HOURS * 3600 + 100.0


def home(i: int) -> str:
    """A different address per client, in no AS the bundled table knows: the agent's burst key is
    the only one (consecutive residential /16s often share an AS, which would burst too)."""
    return f"10.{i // 250}.{i % 250}.1"


def usual() -> list[dict[str, Any]]:
    """One new bare client with the agent every ten minutes for three hours: the key's usual rate."""
    return [req(600.0 * k, home(k), AGENT, PAGE) for k in range(int(HOURS * 6))]


def burst(n: int = 5, then: str | None = None) -> list[dict[str, Any]]:
    """``n`` new bare clients with the agent in two minutes (with the usual ones in the window,
    fewer than the eight a burst needs to raise anyone); each then requests ``then`` (an asset, or a page whose referer is its first page)."""
    rows = []
    for k in range(n):
        ip, t = home(100 + k), BURST_AT + 30.0 * k
        rows.append(req(t, ip, AGENT, PAGE))
        if then is not None:
            referer = f"https://www.example.com{PAGE}" if then.startswith("/product") else "-"
            rows.append(req(t + 5.0, ip, AGENT, then, referer=referer))
    return rows


def scored(
    rows: list[dict[str, Any]], **stream: Any
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], Any]]:
    """Feed the rows in time order: each client's last score and the raises."""
    model = learner(**stream)
    model.observe(frame(sorted(rows, key=lambda r: r["time"])))
    return {key: s for key, (s, _) in model.campaigns.scores.items()}, model.raises()


def keys(rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["ip"], r["user_agent"]) for r in rows}


def test_a_burst_too_small_to_raise_ranks_its_clients_above_the_keys_usual_arrivals() -> None:
    """Five new bare clients with one agent in two minutes, where the agent usually brings one
    every ten: none is raised (seven in the window is below a burst's eight), but every one of
    them, the first too (scored before the others arrived), scores above every usual arrival of
    the last hour."""
    steady, campaign = usual(), burst()
    scores, raises = scored(steady + campaign)
    assert raises == {}
    late = [r for r in steady if r["time"] >= T0 + (HOURS - 1) * 3600]
    top_usual = max(scores[k] for k in keys(late))
    assert min(scores[k] for k in keys(campaign)) > top_usual, (scores, top_usual)


def test_clients_that_load_assets_or_follow_their_own_links_lose_the_excess() -> None:
    """The same five clients, each then loading a page asset or following a link of its own page
    (what a browser showing a person the page does): no campaign evidence stays on them."""
    steady = usual()
    baseline, _ = scored(steady + burst())
    for then in ("/static/app.css", "/product/7"):
        campaign = burst(then=then)
        scores, raises = scored(steady + campaign)
        assert raises == {}
        bare = max(scores[k] for k in keys(usual()[-6:]))
        assert max(scores[k] for k in keys(campaign)) <= bare + 1e-9, then
        assert min(baseline[k] for k in keys(campaign)) > bare  # the bare burst had it


def test_one_client_on_a_quiet_key_is_chance_not_a_campaign() -> None:
    """A key's first new client, or a second one where half a client per window is usual, gets no
    evidence; evidence grows with the clients its usual rate does not explain and stays below the
    signature book's high-score threshold (it ranks clients, it never makes a rule candidate)."""
    assert burst_excess(0, 0.5) == 0.0 and burst_excess(1, 0.5) == 0.0
    assert 0.0 < burst_excess(3, 0.5) < burst_excess(6, 0.5) < burst_excess(12, 0.5)
    assert burst_excess(6, 5.0) == 0.0
    assert burst_excess(1000, 0.5) < settings().model.threshold
    scores, _ = scored([req(0.0, home(0), AGENT, PAGE)])
    assert scores[(home(0), AGENT)] == 0.5  # the untrained learner's score, nothing added


def test_the_evidence_survives_a_snapshot_mid_burst(tmp_path: Any) -> None:
    """A learner restored in the middle of the burst gives the members' later requests the same
    evidence as one that saw the whole stream (a scan and a watch agree)."""
    campaign = []
    for k in range(5):
        ip, t = home(100 + k), BURST_AT + 10.0 * k
        campaign += [req(t, ip, AGENT, PAGE), req(t + 120.0, ip, AGENT, f"/sale/boots?k={k}")]
    rows = sorted(usual() + campaign, key=lambda r: r["time"])
    cut = next(i for i, r in enumerate(rows) if r["time"] >= T0 + BURST_AT + 100.0)
    whole, again = whole_and_restored(rows, cut, tmp_path / "snap")
    members = keys(campaign)
    got = {k: s for k, (s, _) in again.campaigns.scores.items() if k in members}
    assert got == {k: s for k, (s, _) in whole.campaigns.scores.items() if k in members}
    assert min(got.values()) > 0.6


def test_the_evidence_stays_below_a_configured_high_score_threshold() -> None:
    """``model.threshold`` set below the default: the campaign evidence a burst's clients carry
    (what the learner's own score is raised to) never reaches it, so it cannot by itself count a
    request towards a rule candidate; with the default threshold the same burst gives more."""

    def evidence(**stream: Any) -> dict[tuple[str, str], float]:
        model = learner(**stream)
        model.observe(frame(sorted(usual() + burst(), key=lambda r: r["time"])))
        book = model.campaigns
        return {k: max(book.clients[k].excess, book.clients[k].kept) for k in keys(burst())}

    threshold = 0.6
    assert max(evidence().values()) > threshold
    lowered = evidence(rules=replace(CandidateRules(), threshold=threshold))
    assert min(lowered.values()) > 0.0 and max(lowered.values()) <= threshold
