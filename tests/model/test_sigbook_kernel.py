"""The signature book's compiled state (botguard/model/_sigbook.c) holds its pure twin's statistics.

Each differential test feeds the same micro-batches to :class:`ArraySignatureBook` and to the
pure :class:`SignatureBook` and compares everything a book says: every key's statistics (floats
by repr: the same bits), the key order, the keys each batch proposed, the candidates, what an
expiry drops, and a snapshot's columns and round trip. Then hostile strings (NUL, lone
surrogates, huge), and what a wrong call or a crafted snapshot brings: ValueError, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botguard.model.signature_arrays import ArraySignatureBook, signature_book
from botguard.model.signatures import CandidateRules, SignatureBook, SignatureGroup, SignatureStats
from botguard.model.table import StringTable
from botguard.native import kernel

NATIVE = kernel("model._sigbook")
pytestmark = pytest.mark.skipif(NATIVE is None, reason="the C kernel is not built here")

#: Small bars, so short sequences propose keys, hit the caps and expire.
RULES = CandidateRules(
    min_requests=6, min_ips=2, min_ips_named=2, min_requests_single_net=9, max_human_share=0.2,
    lcb=0.3, window=5.0, ttl=50.0, max_ips=3, samples=2,
)  # fmt: skip
KEYS = ["ua_tok=nova", "ua_fam=nova", "ip24=10.0.0", "ip24=10.0.1", "asn=24940", "ua_fam_x_asn=nova|24940"]
HOSTILE = ["ua_tok=a\x00b", "ua_tok=\udcff", "ip24=" + "9" * 5000, "asn=\u200b1"]
IPS = ["10.0.0.1", "10.0.0.2", "10.0.1.7", "2001:db8::1", "\x00", "\ud800"]
AGENTS = ["nova/1.0", "novabot/2 (+https://nova.example)", "Mozilla/5.0", "\udcfe\x00", "feedreader/1"]
SOURCES = ["verified", "honeypot", "robots", "human", "\x00"]

GROUP = st.builds(
    lambda keys, n, high, psum, ips, labels, agents, human, sample: (
        tuple(keys),
        n,
        min(high, n),
        psum,
        ips,
        labels,
        agents,
        min(human, n),
        sample,
    ),
    st.lists(st.sampled_from(KEYS + HOSTILE), min_size=1, max_size=4),  # a key may repeat
    st.integers(1, 5),
    st.integers(0, 5),
    st.floats(0.0, 5.0, allow_nan=False),
    st.lists(st.sampled_from(IPS), max_size=4),
    st.dictionaries(st.sampled_from(SOURCES), st.integers(1, 3), max_size=2),
    st.lists(st.sampled_from(AGENTS), min_size=1, max_size=2),
    st.integers(0, 2),
    st.booleans(),
)
BATCHES = st.lists(
    st.tuples(st.lists(GROUP, min_size=1, max_size=5), st.integers(0, 30)), min_size=1, max_size=14
)


def groups_of(
    spec: list[tuple[Any, ...]], samples: dict[Any, Mapping[str, float]], batch: int = 0
) -> list[SignatureGroup]:
    """Fresh groups (a book keeps references to sets: each book gets its own), with samples shared
    between books through ``samples`` (by batch and group), so both keep the same objects."""
    out = []
    for g, (keys, n, high, psum, ips, labels, agents, human, sample) in enumerate(spec):
        nets = {ip.rpartition(".")[0] for ip in ips}
        x = samples.setdefault((batch, g), {f"k{batch}.{g}": 1.0}) if sample else None
        out.append(
            SignatureGroup(
                keys, n, float(high), psum, set(ips), nets, dict(labels), set(agents), x, float(human)
            )
        )
    return out


def weight(key: str) -> float:
    return -1.0 if key.startswith("asn=") else 1.0


def known(key: str) -> bool:
    return "10.0.1" not in key


def said(stats: SignatureStats) -> dict[str, Any]:
    """A key's statistics as comparable values (floats by repr, sets sorted, samples by identity)."""
    out = {name: repr(getattr(stats, name)) for name in ("first_seen", "last_seen", "recent_n", "recent_high",
                                                        "recent_p", "proposed_at")}  # fmt: skip
    for name in ("requests", "verified", "human", "welcome", "requests_to_candidate"):
        value = getattr(stats, name)
        out[name] = None if value is None else int(value)
    out.update(ips=sorted(stats.ips), nets=sorted(stats.nets), agents=sorted(stats.agents))
    out.update(labels=list(stats.labels.items()), samples=[id(x) for x in stats.samples])
    return out


def state_of(book: SignatureBook) -> list[tuple[str, dict[str, Any]]]:
    return [(key, said(stats)) for key, stats in book.stats.items()]


def welcome(agent: str) -> bool:
    return agent.startswith("feedreader")


def books() -> tuple[SignatureBook, ArraySignatureBook]:
    assert NATIVE is not None
    return SignatureBook(RULES, welcome), ArraySignatureBook(NATIVE, RULES, welcome)


def feed(
    book: SignatureBook, batches: list[Any], samples: dict[Any, Any], expire_every: int = 3
) -> list[Any]:
    """Each batch folded (and every few an expiry); what each said."""
    said_out: list[Any] = []
    now = 0.0
    for b, (spec, step) in enumerate(batches):
        now += step
        said_out.append(book.add_groups(groups_of(spec, samples, b), now, weight, known))
        if b % expire_every == expire_every - 1:
            said_out.append(("expired", book.expire(now)))
        said_out.append([repr(c) for c in book.candidates(weight=weight)])
    return said_out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BATCHES)
def test_kernel_book_says_what_the_twin_says(batches: list[Any]) -> None:
    pure, native = books()
    samples: dict[Any, Any] = {}
    assert feed(native, batches, samples) == feed(pure, batches, samples)
    assert state_of(native) == state_of(pure)  # stats, floats' bits, key order, samples
    assert len(native) == len(pure)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BATCHES)
def test_snapshot_columns_and_round_trip_are_the_twins(batches: list[Any]) -> None:
    pure, native = books()
    samples: dict[Any, Any] = {}
    feed(pure, batches, samples)
    feed(native, batches, samples)
    pure_strings, native_strings = StringTable(), StringTable()
    arrays, theirs = native.to_arrays(native_strings), pure.to_arrays(pure_strings)
    assert native_strings.strings == pure_strings.strings
    assert arrays.keys() == theirs.keys()
    assert all(np.array_equal(arrays[k], theirs[k], equal_nan=True) for k in arrays)
    loaded = ArraySignatureBook(NATIVE, RULES, welcome)
    loaded.load_arrays(arrays, native_strings.strings)
    twin = SignatureBook(RULES, welcome)
    twin.load_arrays(theirs, pure_strings.strings)
    strip = [(k, {n: v for n, v in s.items() if n != "samples"}) for k, s in state_of(twin)]
    assert [(k, {n: v for n, v in s.items() if n != "samples"}) for k, s in state_of(loaded)] == strip
    assert loaded.candidates(weight=weight) == twin.candidates(weight=weight)
    more: dict[Any, Any] = {}
    assert feed(loaded, batches, more) == feed(twin, batches, more)  # the loaded state goes on alike


def test_merged_groups_keep_the_twins_soft_caps() -> None:
    """One key in several groups of a batch, past max_ips: the set ends above the cap as the twin's."""
    pure, native = books()
    spec = [
        (("ip24=10.0.0",), 1, 1, 0.5, [f"10.0.0.{i}", f"10.0.0.{i + 10}"], {}, ["a"], 0, True)
        for i in range(4)
    ]
    samples: dict[Any, Any] = {}
    for book in (pure, native):
        book.add_groups(groups_of(spec, samples, 0), 1.0, weight, known)
        book.add_groups(groups_of(spec[:1], samples, 1), 2.0, weight, known)
    assert state_of(native) == state_of(pure)
    assert len(native.stats["ip24=10.0.0"].ips) == 4  # 2, then a merge of 2 more while below 3


def test_hostile_strings_round_trip_as_given() -> None:
    pure, native = books()
    spec = [((key,), 2, 2, 1.5, IPS, {"\x00": 1}, AGENTS[3:4], 0, False) for key in HOSTILE]
    samples: dict[Any, Any] = {}
    for book in (pure, native):
        book.add_groups(groups_of(spec, samples), 1.0)
    assert state_of(native) == state_of(pure)
    assert list(native.stats) == HOSTILE


def test_expired_keys_free_their_slots_and_names() -> None:
    """A week of new keys each day: slots are reused and the name table is compacted."""
    _, native = books()
    for day in range(40):
        ips = [f"10.{day}.{i}.1" for i in range(300)]
        groups = [
            SignatureGroup((f"ip24=10.{day}.{i}",), 1, 0.0, 0.1, {ip}, {ip[:-2]}, {}, {"a"})
            for i, ip in enumerate(ips)
        ]
        native.add_groups(groups, day * 100.0)
        native.expire(day * 100.0)
    assert len(native) == 300
    assert len(native._key_of) <= 600
    assert len(native._name_of) < 8192  # 40 days x 600 names without compaction
    stats = native.stats["ip24=10.39.7"]
    assert stats.ips == {"10.39.7.1"} and stats.nets == {"10.39.7"}


WRONG = {
    "slot past the book": {2: [10**6]},
    "negative slot": {2: [-1]},
    "slot not an int": {2: ["0"]},
    "name past the table": {11: [99]},
    "float key id": {2: [0.5]},
    "short known": {4: []},
    "short psum": {7: []},
    "psum not a float": {7: ["x"]},
    "offsets past the list": {3: [0, 5]},
    "offsets short of the list": {12: [0, 0]},
    "a set, not a list": {5: {1}},
    "xs short": {10: []},
    "labels and counts differ": {17: [1, 2]},
}


@pytest.mark.parametrize("change", WRONG.values(), ids=list(WRONG))
def test_a_wrong_call_raises_value_error(change: dict[int, Any]) -> None:
    assert NATIVE is not None
    state = NATIVE.Book(3, 2, 0.5, 0, 1, 1, 1, 0.5, 0.0)
    args: list[Any] = [1.0, 2, [0], [0, 1], [True], [1], [1], [0.5], [0], [False], [None],
                       [1], [0, 1], [1], [0, 1], [1], [0, 1], [], [], [0, 0]]  # fmt: skip
    assert state.fold(*args) == [0]
    for at, value in change.items():
        args[at] = value
    with pytest.raises(ValueError, match="_sigbook"):
        state.fold(*args)
    assert state.scalars(0)[2] == 1  # nothing changed
    with pytest.raises(ValueError, match="outside"):
        state.scalars(5)
    with pytest.raises(ValueError):
        state.renumber([-1, -1])  # live ids without a number


def test_a_failed_fold_leaves_no_new_key() -> None:
    _, native = books()
    bad = SignatureGroup(("ip24=1.2.3",), 1, 0.0, "x", {"1.2.3.4"}, {"1.2.3"})  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        native.add_groups([bad], 1.0)
    assert len(native) == 0 and native.stats == {}
    native.add_groups([SignatureGroup(("ip24=1.2.3",), 1, 0.0, 0.5, {"1.2.3.4"}, {"1.2.3"})], 2.0)
    assert native.stats["ip24=1.2.3"].first_seen == 2.0


CRAFTED = {
    "key id past the strings": ("sig_key", lambda a: a + 100),
    "negative ip id": ("sig_ips", lambda a: a - 100),
    "counts that do not add up": ("sig_ips_n", lambda a: a + 1),
    "a short column": ("sig_requests", lambda a: a[:-1]),
    "sample number past the samples": ("sig_samples", lambda a: a + 100),
}


@pytest.mark.parametrize("name, change", CRAFTED.values(), ids=list(CRAFTED))
def test_a_crafted_snapshot_is_refused_with_one_clear_error(name: str, change: Any) -> None:
    _, native = books()
    groups = [
        SignatureGroup(
            ("ip24=10.0.0",), 2, 2.0, 1.0, {"10.0.0.1"}, {"10.0.0"}, {"robots": 1}, {"a"}, {"k": 1.0}
        )
    ]
    native.add_groups(groups, 1.0)
    strings = StringTable()
    arrays = dict(native.to_arrays(strings))
    arrays[name] = change(arrays[name])
    for book in (ArraySignatureBook(NATIVE, RULES), SignatureBook(RULES)):  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^snapshot signatures: "):
            book.load_arrays(arrays, strings.strings)


def test_old_snapshot_without_welcome_loads() -> None:
    _, native = books()
    native.add_groups([SignatureGroup(("asn=1",), 3, 0.0, 0.3, {"1.1.1.1"}, {"1.1.1"}, {}, {"a"})], 1.0)
    strings = StringTable()
    arrays = {k: v for k, v in native.to_arrays(strings).items() if k != "sig_welcome"}
    loaded = ArraySignatureBook(NATIVE, RULES)  # type: ignore[arg-type]
    loaded.load_arrays(arrays, strings.strings)
    assert loaded.stats["asn=1"].welcome == 0 and loaded.stats["asn=1"].requests == 3


def test_the_stream_uses_the_kernel_book_and_the_twin_when_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert isinstance(signature_book(RULES), ArraySignatureBook)
    monkeypatch.setenv("BOTGUARD_NO_NATIVE", "1")
    assert type(signature_book(RULES)) is SignatureBook
