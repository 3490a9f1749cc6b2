"""The campaign book's kernel (botguard/model/_campaign.c) says what its pure twin says.

Its pieces so far: the served pages' (network, agent, page) hashes, BLAKE2b in C against
:func:`~botguard.model._served.pair_hash` (hashlib), compared bit for bit on hostile text (NUL,
lone surrogates, non-ASCII, lengths across BLAKE2b's 128-byte blocks); and the burst rings
(``BurstRing``), against :meth:`CampaignBook._ring_arrive` on drawn arrivals (repeated and
not bare clients, gaps past the window, time running back). Then the whole book on the property
streams of test_campaign_book_props with the kernel and with its twin (``BOTGUARD_NO_NATIVE=1``),
a snapshot crossing from one to the other, and the client ids renumbered at every sweep: every
probability's bits, follow flag, raise, kept score and the state at the end. A wrong call is a
ValueError, never a crash.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from botguard.model import campaigns
from botguard.model._served import ServedPages, pair_hash
from botguard.model.campaigns import Burst, CampaignBook, Client
from botguard.native import kernel
from tests.model.test_campaign_book_props import (
    KEPT,
    PAUSED,
    RETURNS,
    RULES,
    calls_of,
    feed,
    implementation,
    outcomes,
    stream,
    through_json,
)

NATIVE = kernel("model._campaign")
pytestmark = pytest.mark.skipif(NATIVE is None, reason="the C kernel is not built here")

#: Any code point, lone surrogates included (what a log read with backslash escapes may hold).
TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=300)
HOSTILE = [
    "",
    "\x00",
    "\ud800",
    "a\udfffb",
    "\udbff\udc00",
    "é" * 70,
    "x" * 127,
    "y" * 128,
    "z" * 3000,
    "\U0001f600",
]
FIELD = st.one_of(TEXT, st.sampled_from(HOSTILE))


def native_hashes(nets: list[Any], uas: list[Any], paths: list[Any]) -> list[int]:
    assert NATIVE is not None
    return np.frombuffer(NATIVE.triple_hashes(nets, uas, paths), dtype=np.uint64).tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(FIELD, FIELD, FIELD), max_size=20))
@example([(net, ua, path) for net in HOSTILE for ua, path in [("u", "/p"), (net, net)]])
def test_the_kernels_hashes_are_pair_hash(triples: list[tuple[str, str, str]]) -> None:
    nets, uas, paths = ([t[k] for t in triples] for k in range(3))
    assert native_hashes(nets, uas, paths) == [pair_hash(*t) for t in triples]


def test_every_length_across_the_blocks() -> None:
    """Messages of 2..400 bytes: the last block full, empty and in between (the counter's edges)."""
    triples = [("n" * k, "", "p") for k in range(400)]
    assert native_hashes(*map(list, zip(*triples))) == [pair_hash(*t) for t in triples]


def test_a_field_that_is_no_str_is_what_the_f_string_makes_of_it() -> None:
    """An agent the log did not record is None: the twin hashes "None", so does the kernel."""
    triples: list[tuple[Any, Any, Any]] = [("10.0.0", None, "/"), (7, 2.5, b"x"), ("n", True, None)]
    assert native_hashes(*map(list, zip(*triples))) == [pair_hash(*t) for t in triples]


@pytest.mark.parametrize(
    "args",
    [
        (["a"], ["b"], []),
        (["a", "b"], ["b"], ["c"]),
        ([], [], ["c"]),
        (1, ["b"], ["c"]),
        (["a"], None, ["c"]),
    ],
    ids=["short paths", "short agents", "empty nets", "nets not a sequence", "agents none"],
)
def test_a_wrong_call_is_a_value_error(args: tuple[Any, Any, Any]) -> None:
    assert NATIVE is not None
    with pytest.raises(ValueError, match=r"_campaign\.triple_hashes"):
        NATIVE.triple_hashes(*args)


def test_a_field_whose_format_fails_raises_its_error() -> None:
    class Bad:
        def __format__(self, spec: str) -> str:
            raise RuntimeError("no")

    assert NATIVE is not None
    with pytest.raises(RuntimeError, match="no"):
        NATIVE.triple_hashes(["a", Bad()], ["b", "c"], ["c", "d"])


def test_a_column_changed_while_formatted_is_read_as_it_was() -> None:
    """Formatting an item may run code that empties the column: the kernel reads a copy."""
    paths: list[Any] = []

    class Emptier:
        def __format__(self, spec: str) -> str:
            paths.clear()
            return "e"

    paths.extend([Emptier(), "/b", "/c"])
    got = native_hashes(["n"] * 3, ["u"] * 3, paths)
    assert got == [pair_hash("n", "u", p) for p in ("e", "/b", "/c")]


def twins() -> Any:
    """Every kernel off (the pure twins run) inside."""
    return implementation(twin=True)


def test_served_pages_hash_with_the_kernel_as_with_the_twin() -> None:
    served = ServedPages(900.0)
    columns = (["81.2.3", "\ud800"], ["Mozilla/5.0", "\x00" * 9], ["/p/1", "é" * 200])
    with_kernel = served.hashes(*columns)
    with twins():
        assert kernel("model._campaign") is None
        alone = served.hashes(*columns)
    assert with_kernel.dtype == alone.dtype == np.uint64
    assert with_kernel.tolist() == alone.tolist()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream)
@example((KEPT, [7]))
@example(RETURNS)
@example(PAUSED)
def test_the_book_with_the_kernel_answers_as_with_its_twin(generated: Any) -> None:
    """The property streams of test_campaign_book_props (hostile agents and targets, walks,
    bursts, orphans, idle gaps) through a book with the kernel and one with its twin."""
    requests, cuts = generated
    fast = CampaignBook(RULES, short_of=0.9)
    with twins():
        pure = CampaignBook(RULES, short_of=0.9)
    assert fast._ring is not None and pure._ring is None
    for call, kind in calls_of(requests, cuts):
        answer = feed(fast, call, kind)
        with twins():
            assert answer == feed(pure, call, kind)
    assert outcomes(fast) == outcomes(pure)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream, st.integers(0, 12), st.booleans())
@example((KEPT, [7]), 1, True)
def test_a_snapshot_crosses_between_the_kernel_and_its_twin(generated: Any, at: int, back: bool) -> None:
    """A snapshot the twin wrote (main's book) loads into a book with the kernel, and the other
    way; with client ids renumbered at every sweep, the answers are the twin's all along."""
    requests, cuts = generated
    fast = CampaignBook(RULES, short_of=0.9)
    with twins():
        pure = CampaignBook(RULES, short_of=0.9)
    calls = calls_of(requests, cuts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(campaigns, "_IDS_SLACK", -1)  # renumbered at every sweep
        for number, (call, kind) in enumerate(calls):
            if number == at % len(calls):
                if back:
                    with twins():
                        pure = through_json(fast)
                else:
                    with twins():
                        written = through_json(pure)
                    fast = through_json(written)
            answer = feed(fast, call, kind)
            with twins():
                assert answer == feed(pure, call, kind)
    assert fast._ring is not None and pure._ring is None
    assert outcomes(fast) == outcomes(pure)


#: Whether a window member is bare, as the kernel's flags hold it: a client swept away and back
#: is bare again (its burst key's next arrival finds two bare clients: excess); one that followed
#: its own link is not (the next arrival finds one: none). (moves, cuts, the last request's p > 0)
BARENESS = [
    (
        [(3.0, 0, 0, "/about", "-", 0), (1000.0, 2, 1, "/x", "-", 0), (1000.0, 0, 0, "/about", "-", 0),
         (3.0, 1, 0, "/about", "-", 0)],
        [1, 2],
        True,
    ),
    ([(3.0, 0, 0, "/about", "-", 0), (3.0, "follow"), (3.0, 1, 0, "/about", "-", 0)], [], False),
    # a window longer than the client time-to-live: a member swept away is no longer bare
    ([(3.0, 0, 0, "/about", "-", 0), (1000.0, 2, 1, "/x", "-", 0), (3.0, 1, 0, "/about", "-", 0)], [1, 2], False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("moves", "cuts", "excess"), BARENESS, ids=["swept-and-back", "follows-own-link", "swept-in-window"]
)
def test_the_kernel_knows_which_window_members_are_bare(moves: Any, cuts: list[int], excess: bool) -> None:
    rules = dataclasses.replace(RULES, burst_window=1500.0)
    fast = CampaignBook(rules, short_of=0.9)
    with twins():
        pure = CampaignBook(rules, short_of=0.9)
    for call, kind in calls_of(moves, cuts):
        answer = feed(fast, call, kind)
        with twins():
            assert answer == feed(pure, call, kind)
    assert bool(np.frombuffer(answer[0])[-1] > 0.0) == excess
    assert outcomes(fast) == outcomes(pure)


def test_the_kernel_renumbers_its_client_ids() -> None:
    """Renumbering on a sweep keeps only the ids of clients in a window or in the book."""
    requests = [(3.0, k % 6, k % 3, "/about", "-", 0) for k in range(18)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(campaigns, "_IDS_SLACK", -1)
        book = CampaignBook(RULES, short_of=0.9)
        for call, kind in calls_of(requests, [9]):
            feed(book, call, kind)
        held = len(book._id_keys)
        assert held and held == len(book._ids) == len(book._bare_ids)
        book.expire(float(call.t[-1]) + 1e6)  # past every window, rate and keep
        assert not book.clients and not book.bursts and not book._id_keys and not book._bare_ids


# -- the burst rings alone ----------------------------------------------------------------------
#: The rules a ring is made with (CampaignBook._ring_rules), evidence short of a raise at most 0.5.
RING_RULES = (300.0, 7200.0 / np.log(2), 0.5, 3, 2.0, 1.0, 0.85, 0.5)
#: An arrival: seconds since the last one (one the window exactly, some past it, one running
#: back), the client (few, so they repeat in a window), and whether it loads assets (not bare).
arrival = st.tuples(
    st.sampled_from([0.0, 0.5, 3.0, 20.0, 90.0, 300.0, 301.0, 5000.0, -2.0]), st.integers(0, 7), st.booleans()
)
#: Arrivals on the window's edge: the first one stays in the window of the last.
EDGE = [(0.0, 0, False), (100.0, 1, False), (200.0, 2, False)] + [(0.0, k, False) for k in range(3, 8)]


def _pure_book() -> CampaignBook:
    with twins():
        book = CampaignBook(
            campaigns.CampaignRules(burst_window=300.0, burst_min=3, burst_lift=2.0), short_of=0.5
        )
    assert book._ring is None
    return book


@settings(max_examples=300, deadline=None)
@given(st.lists(arrival, min_size=1, max_size=60))
@example(EDGE)
def test_a_ring_arrives_as_its_twin(arrivals: list[tuple[float, int, bool]]) -> None:
    """Each arrival's answer (excess, qualifies, usual rate, bare members in order) and the state
    after it (window, rate, its time, when it qualified) are the twin's, bit for bit."""
    book = _pure_book()
    assert book._ring_rules == RING_RULES
    twin, ring = Burst(mass_at=0.0), NATIVE.BurstRing(0.0, RING_RULES)
    bare, t = bytearray(8), 0.0
    for gap, who, assets in arrivals:
        t += gap
        key = ("10.0.0.1", f"agent {who}")
        client = book.clients.setdefault(key, Client(key, t, t))
        client.assets = int(assets)
        bare[who] = not assets
        want = book._ring_arrive(twin, t, client)
        got = ring.arrive(t, who, bare)
        if want is not None:
            want = (*want[:3], tuple(int(member[1].split()[1]) for member in want[3]))
        assert repr(got) == repr(want)
        assert repr((ring.window, ring.mass, ring.mass_at, ring.qualified_at, ring.expected, ring.newest)) == repr(
            ([(s, int(k[1].split()[1])) for s, k in twin.window], twin.mass, twin.mass_at,
             twin.qualified_at, twin.expected, twin.newest)
        )  # fmt: skip


def test_a_ring_overflows_as_math_exp_does() -> None:
    """Time running back by far more than the usual rate's half-life: math.exp overflows in the
    twin, and the kernel raises the same error rather than carry an infinity on."""
    book = _pure_book()
    twin, ring = Burst(mass_at=1e12), NATIVE.BurstRing(1e12, RING_RULES)
    client = Client(("10.0.0.1", "a"), 0.0, 0.0)
    book.clients[client.key] = client
    with pytest.raises(OverflowError):
        book._ring_arrive(twin, 0.0, client)
    with pytest.raises(OverflowError):
        ring.arrive(0.0, 0, bytearray(1))


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.arrive(1.0, 0),  # too few
        lambda r: r.arrive(1, 0, bytearray(1)),  # a time that is no float
        lambda r: r.arrive(1.0, "0", bytearray(1)),  # an id that is no int
        lambda r: r.arrive(1.0, 0, b"\x01"),  # flags that are no bytearray
        lambda r: r.arrive(1.0, -1, bytearray(1)),  # an id before the flags
        lambda r: r.arrive(1.0, 1, bytearray(1)),  # ... and past them
        lambda r: r.arrive(1.0, 1 << 80, bytearray(1)),  # ... far past
        lambda r: (r.arrive(1.0, 3, bytearray(4)), r.arrive(2.0, 0, bytearray(1))),  # the flags shrank
        lambda r: r.push(1.0, -1),
        lambda r: r.push("t", 0),
        lambda r: r.renumber(np.zeros(3, np.float64)),  # a table of the wrong dtype
        lambda r: r.renumber(np.zeros(3, np.int32)),
        lambda r: (r.push(1.0, 5), r.renumber(np.zeros(3, np.int64))),  # too short for an id
        lambda r: (r.push(1.0, 0), r.renumber(np.full(3, -1, np.int64))),  # an id it drops
        lambda r: r.renumber("abc"),
        lambda r: setattr(r, "qualified_at", "x"),
        lambda r: NATIVE.BurstRing(0.0, RING_RULES[:7]),  # rules of the wrong length
        lambda r: NATIVE.BurstRing(0.0, (*RING_RULES[:7], "x")),
        lambda r: NATIVE.BurstRing(0.0, list(RING_RULES)),
    ],
)
def test_a_wrong_call_to_a_ring_is_a_value_error(call: Any) -> None:
    ring = NATIVE.BurstRing(0.0, RING_RULES)
    with pytest.raises(ValueError):
        call(ring)


def test_a_failed_renumber_changes_nothing() -> None:
    ring = NATIVE.BurstRing(0.0, RING_RULES)
    for t, client in ((1.0, 0), (2.0, 2)):
        ring.push(t, client)
    with pytest.raises(ValueError):
        ring.renumber(np.array([5, -1, -1], np.int64))
    assert ring.window == [(1.0, 0), (2.0, 2)]
    ring.renumber(np.array([1, -1, 0], np.int64))
    assert ring.window == [(1.0, 1), (2.0, 0)]
