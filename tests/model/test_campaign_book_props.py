"""The campaign book on generated request sequences: what any implementation of it must keep.

Why: the book is to move its state into arrays (and its walk into a C kernel, issue 14); these
properties hold for today's pure book and are the harness the port is checked against:

- a snapshot taken between any two calls (``to_json`` through JSON, ``load_json`` into a fresh
  book) changes nothing: every probability's bits, the follow flags, the raises, the kept scores
  and the state written at the end;
- a snapshot written before the book kept orphans, evidence and the served pages (client rows
  of ten fields; no ``served``, ``started``, ``trust``) still loads, with those at their zeros.

Each property runs twice: with the campaign kernel (its burst rings, when built) and with its
pure twin (``BOTGUARD_NO_NATIVE=1``); test_campaign_kernel compares the two on these streams.

The sequences are small worlds (a few addresses in two networks, hostile agents, a walkable
catalogue, assets, site and external referers, idle gaps past the client time-to-live) with
low bars, so chains, bursts, self-walks, orphans and dropped raises all happen.
"""

from __future__ import annotations

import itertools
import json
from contextlib import AbstractContextManager, nullcontext
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from botguard.config import CampaignRules
from botguard.model._actors import ASSET, HONEYPOT, PAGE
from botguard.model._keys import Call, IpInfo
from botguard.model.campaigns import CampaignBook
from tests.helpers import native_off

T0 = 1_793_000_000.0
RULES = CampaignRules(
    link_window=120.0, min_clients=3, burst_window=300.0, burst_min=3, burst_lift=2.0,
    self_walk=3, self_walk_hosting=4, client_ttl=600.0, keep=1800.0,
    orphan_warmup=0.0, orphan_memory=900.0, orphan_max_share=0.5,
)  # fmt: skip
#: Addresses: (ip, /24, hosting, AS number).
ADDRESSES = (
    ("81.2.3.4", "81.2.3", False, 3320),
    ("81.2.3.5", "81.2.3", False, 3320),
    ("81.2.3.6", "81.2.3", False, None),
    ("5.9.1.7", "5.9.1", True, 24940),
    ("5.9.1.8", "5.9.1", True, 24940),
    ("2a01:4f8::1", "2a01:4f8:0", True, 24940),
)
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/122.0.0.0 Safari/537.36",
    "bad\x00agent\ud800",  # NUL and a lone surrogate: what a log may hold
    "x" * 3000,
)
TARGETS = (
    "/p/1", "/p/2", "/p/3", "/p/4", "/p/5", "/p/6", "/c/7/p/8", "/", "/about", "/q?id=4",
    "/p/9#frag", None, "/\x00/\ud800", "/img/a.png", "/s.css",
)  # fmt: skip
REFERERS = (
    None, "-", "https://shop.example/", "https://shop.example/p/2", "https://shop.example/p/3",
    "https://shop.example/q?id=4", "https://search.example/?q=x", "http://[::1", "\ud800://\x00",
)  # fmt: skip
KINDS = (PAGE, PAGE, PAGE, ASSET, HONEYPOT)
#: Each property with the kernel and with its pure twin.
BOTH = pytest.mark.parametrize("twin", [False, True], ids=["kernel", "twin"])


def implementation(twin: bool) -> AbstractContextManager[None]:
    """Every kernel off inside (the pure twins run) when ``twin``; else as the environment says."""
    return native_off() if twin else nullcontext()


SITE = "https://shop.example"
fresh = st.tuples(
    st.sampled_from([0.5, 3.0, 20.0, 90.0, 400.0, 700.0, 2000.0]),  # gap before it: past client_ttl, keep
    st.integers(0, len(ADDRESSES) - 1),
    st.integers(0, len(AGENTS) - 1),
    st.one_of(st.integers(1, 9).map(lambda n: f"/p/{n}"), st.sampled_from(TARGETS)),
    st.one_of(st.integers(1, 9).map(lambda n: f"{SITE}/p/{n}"), st.sampled_from(REFERERS)),
    st.sampled_from(KINDS),
)
#: The previous request's client again: its next catalogue page, naming its last page or not,
#: or an asset of its last page (a browser showing it: what makes the site's host its own).
again = st.tuples(st.sampled_from([0.5, 3.0, 40.0]), st.sampled_from(["follow", "bare", "asset"]))
#: Three people browsing (pages and their assets, following their own links), so the site's host
#: becomes its own and enough browser referers are checked for orphan referers to count.
PEOPLE = [(1.0, a, 0, "/p/1", "-", PAGE) for a in (0, 1, 2)] + [
    move
    for n in range(1, 7)
    for a in (0, 1, 2)
    for move in [
        (0.5, a, 0, "/img/a.png", f"{SITE}/p/{n}", ASSET),
        (2.0, a, 0, f"/p/{n + 1}", f"{SITE}/p/{n}", PAGE),
    ]
]
#: Requests (after the people, or not), and where the stream is cut into calls (indices).
stream = st.tuples(
    st.booleans().map(lambda people: PEOPLE if people else []),
    st.lists(st.one_of(fresh, again), min_size=1, max_size=90),
    st.lists(st.integers(1, 120), max_size=12),
).map(lambda drawn: (drawn[0] + drawn[1], drawn[2]))


def expand(moves: list[Any]) -> list[tuple[Any, ...]]:
    """Moves as requests (gap, address, agent, target, referer, kind): an ``again`` move is its
    previous request's client's next step (a first move that is one starts a catalogue walk)."""
    out: list[tuple[Any, ...]] = []
    client, page = (0, 0), "/p/1"  # the last request's client, and the last page requested
    for move in moves:
        if len(move) == 6:
            out.append(move)
            client, page = move[1:3], move[3] if move[5] == PAGE and move[3] else page
            continue
        gap, how = move
        if how == "asset":
            out.append((gap, *client, "/img/a.png", f"{SITE}{page}", ASSET))
            continue
        number = int(page[3:]) if page.startswith("/p/") and page[3:].isdigit() else 0
        out.append((gap, *client, f"/p/{number + 1}", f"{SITE}{page}" if how == "follow" else "-", PAGE))
        page = f"/p/{number + 1}"
    return out


def _info(address: tuple[str, str, bool, int | None]) -> IpInfo:
    ip, net, hosting, asn = address
    return IpInfo(asn, hosting, net, f"ip24={net}", ip, None, None, 0)  # type: ignore[arg-type]


def calls_of(moves: list[Any], cuts: list[int]) -> list[tuple[Call, np.ndarray]]:
    """The sequence as the book's calls: columns, kinds, in time order."""
    requests = expand(moves)
    t, out = T0, []
    times, ips, uas, targets, referers, kinds = [], [], [], [], [], []
    for gap, a, u, target, referer, kind in requests:
        t += gap
        times.append(t)
        ips.append(ADDRESSES[a][0])
        uas.append(AGENTS[u])
        targets.append(target)
        referers.append(referer)
        kinds.append(kind)
    bounds = [0, *sorted({c for c in cuts if c < len(requests)}), len(requests)]
    for start, stop in itertools.pairwise(bounds):
        part = slice(start, stop)
        addresses = sorted({a for _, a, *_ in requests[part]})
        ip_of = np.array([addresses.index(a) for _, a, *_ in requests[part]], dtype=np.int64)
        n = stop - start
        call = Call(
            n=n, t=np.array(times[part]), ip=ips[part], ua=uas[part], target=targets[part],
            referer=referers[part], method=["GET"] * n, protocol=["HTTP/2.0"] * n, host=[None] * n,
            status=np.full(n, 200), valid=np.ones(n, bool), has_ref=np.zeros(n, bool),
            ua_of=np.zeros(n, np.int64), uas=[], ua_infos=[], ip_of=ip_of,
            ips=[ADDRESSES[a][0] for a in addresses], ip_infos=[_info(ADDRESSES[a]) for a in addresses],
        )  # fmt: skip
        out.append((call, np.array(kinds[part], dtype=np.int8)))
    return out


def _actors(n: int) -> SimpleNamespace:
    """No catalogue crawler, no verified client: every request is the book's."""
    return SimpleNamespace(crawled=np.zeros(n, bool), identity=np.zeros(n, np.int8))


def feed(book: CampaignBook, call: Call, kind: np.ndarray) -> tuple[bytes, list[bool]]:
    """One call as the stream makes it (observe, then each request's score noted, then a sweep);
    what the book answered, exactly."""
    p, follows = book.observe(call, kind, _actors(call.n), np.arange(call.n))  # type: ignore[arg-type]
    book.note_scores(call.ip, call.ua, call.t, p)
    book.expire(float(call.t[-1]))
    return p.tobytes(), follows.tolist()


def state(book: CampaignBook) -> str:
    """Everything the book holds, as text (a chain's clients are a set, and the order a chain
    raises them in follows it: both sorted)."""
    data = book.to_json()
    for chain in data["chains"]:
        chain[6] = sorted(chain[6])
    data["raised"].sort()
    return json.dumps(data, sort_keys=True)


def outcomes(book: CampaignBook) -> tuple[Any, ...]:
    return (sorted(book.raised_.items()), sorted(book.scores.items()), state(book))


def through_json(book: CampaignBook) -> CampaignBook:
    """A fresh book loaded from ``book``'s snapshot (written out as text and read back)."""
    again = CampaignBook(book.rules, short_of=book.short_of)
    again.load_json(json.loads(json.dumps(book.to_json())))
    return again


#: A walk split across six addresses, whose last member then follows its own link (the raise is
#: dropped, its kept share scores the client's next request, after the snapshot).
KEPT = [(3.0, k % 6, 0, f"/p/{k + 1}", "-", PAGE) for k in range(6)] + [(3.0, "follow"), (3.0, "bare")]


@BOTH
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream, st.integers(0, 12))
@example((KEPT, [7]), 1)
def test_a_snapshot_between_any_two_calls_changes_nothing(twin: bool, generated: Any, at: int) -> None:
    with implementation(twin):
        _snapshot_changes_nothing(generated, at)


def _snapshot_changes_nothing(generated: Any, at: int) -> None:
    requests, cuts = generated
    calls = calls_of(requests, cuts)
    whole, cut = CampaignBook(RULES, short_of=0.9), CampaignBook(RULES, short_of=0.9)
    for number, (call, kind) in enumerate(calls):
        if number == at % len(calls):
            cut = through_json(cut)
        assert feed(cut, call, kind) == feed(whole, call, kind)
    assert outcomes(cut) == outcomes(whole)


#: A walk's member back after longer than ``keep`` (its raise is forgotten, swept or not), and a
#: client walking on by itself after a pause shorter than ``client_ttl`` (it is the same client).
RETURNS = (
    [(3.0, k % 6, 0, f"/p/{k + 1}", "-", PAGE) for k in range(6)] + [(2000.0, 0, 0, "/about", "-", PAGE)],
    [6],
)
PAUSED = (
    [(3.0, 4, 1, "/p/20", "-", PAGE), (3.0, "bare"), (400.0, "bare"), (3.0, "bare"), (3.0, "bare")],
    [2],
)


@BOTH
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream, st.lists(st.booleans(), min_size=13, max_size=13))
@example(RETURNS, [False] * 13)
@example(PAUSED, [False] * 13)
def test_when_the_sweeps_run_changes_no_answer(twin: bool, generated: Any, sweeps: list[bool]) -> None:
    """The port compacts its arrays on expiry: a book swept after every call and one swept only
    after some answer every request the same and raise the same clients (:meth:`_forgotten`)."""
    with implementation(twin):
        _sweeps_change_no_answer(generated, sweeps)


def _sweeps_change_no_answer(generated: Any, sweeps: list[bool]) -> None:
    requests, cuts = generated
    often, seldom = CampaignBook(RULES, short_of=0.9), CampaignBook(RULES, short_of=0.9)
    for number, (call, kind) in enumerate(calls_of(requests, cuts)):
        # swept at the next request's time: as late as a sweep may run, so the most is idle
        often.expire(float(call.t[0]))
        if sweeps[number]:
            seldom.expire(float(call.t[0]))
        aid = np.arange(call.n)
        got = [book.observe(call, kind, _actors(call.n), aid) for book in (often, seldom)]  # type: ignore[arg-type]
        assert got[0][0].tobytes() == got[1][0].tobytes() and got[0][1].tolist() == got[1][1].tolist()
        for book in (often, seldom):
            book.note_scores(call.ip, call.ua, call.t, got[0][0])
    now = float(call.t[-1])
    for book in (often, seldom):
        book.expire(now + 1.0)
    assert sorted(often.raised_.items()) == sorted(seldom.raised_.items())
    assert often.scores == seldom.scores


@BOTH
def test_the_generated_worlds_reach_every_signature(twin: bool) -> None:
    """The property above is only as good as what its worlds do: a fixed one of them raises a walk
    split across six addresses, a self-walk and a burst of one hosting network's new clients."""
    with implementation(twin):
        requests = [(3.0, k % 6, 0, f"/p/{k + 1}", "-", PAGE) for k in range(6)]
        requests += [(5.0, 3, 1, f"/p/{n}", "-", PAGE) for n in range(40, 46)]
        requests += [(2.0, a, u, "/about", "-", PAGE) for u in (2, 0) for a in (3, 4)]
        book = CampaignBook(RULES, short_of=0.9)
        for call, kind in calls_of(requests, [4, 9]):
            feed(book, call, kind)
        assert {raised.kind for raised in book.raised_.values()} == {"walk", "self-walk", "net"}


@BOTH
def test_the_generated_worlds_reach_orphan_referers(twin: bool) -> None:
    """... and, after the people the property may start with, a bare client naming a page of the
    site it never requested is raised as an orphan referer."""
    with implementation(twin):
        moves = [
            *PEOPLE,
            (3.0, 4, 1, "/p/5", f"{SITE}/p/7", PAGE),
            (3.0, 3, 2, "/p/2", f"{SITE}/about", PAGE),
        ]
        book = CampaignBook(RULES, short_of=0.9)
        for call, kind in calls_of(moves, [20]):
            feed(book, call, kind)
        assert {key[0]: raised.kind for key, raised in book.raised_.items()} == {
            "5.9.1.7": "orphan",
            "5.9.1.8": "orphan",
        }


@BOTH
def test_a_snapshot_from_before_orphans_and_evidence_still_loads(twin: bool) -> None:
    """Client rows of ten fields and no served pages, start or trust (an older snapshot): loaded
    with orphans, excess and kept at zero, and the book goes on as one that never had them."""
    with implementation(twin):
        requests = [(3.0, i % 4, 0, f"/p/{1 + i}", "-", PAGE) for i in range(12)]
        (first, kind_a), (second, kind_b) = calls_of(requests, [6])
        book = CampaignBook(RULES, short_of=0.9)
        feed(book, first, kind_a)
        data = json.loads(json.dumps(book.to_json()))
        data["clients"] = [row[:10] for row in data["clients"]]
        for newer in ("served", "started", "trust"):
            del data[newer]
        old = CampaignBook(RULES, short_of=0.9)
        old.load_json(data)
        assert old.clients and all(
            (c.orphans, c.excess, c.kept) == (0, 0.0, 0.0) for c in old.clients.values()
        )
        assert old.started is None and old.trust == [0.0, 0.0, 0.0] and old.served.epoch is None
        fresh = CampaignBook(RULES, short_of=0.9)
        fresh.load_json({**data, "clients": [[*row, 0, 0.0, 0.0] for row in data["clients"]]})
        assert feed(old, second, kind_b) == feed(fresh, second, kind_b)
        assert outcomes(old) == outcomes(fresh)
