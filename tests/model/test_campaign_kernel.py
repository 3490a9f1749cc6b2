"""The campaign book's kernel (botguard/model/_campaign.c) says what its pure twin says.

Its piece so far: the served pages' (network, agent, page) hashes, BLAKE2b in C against
:func:`~botguard.model._served.pair_hash` (hashlib). Compared bit for bit on hostile text (NUL,
lone surrogates, non-ASCII, lengths across BLAKE2b's 128-byte blocks), then the whole book on
the property streams of test_campaign_book_props with the kernel and with its twin
(``BOTGUARD_NO_NATIVE=1``): every probability's bits, follow flag, raise, kept score and the
state at the end. A wrong call is a ValueError, never a crash.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from botguard.model._served import ServedPages, pair_hash
from botguard.model.campaigns import CampaignBook
from botguard.native import kernel
from tests.helpers import native_off
from tests.model.test_campaign_book_props import (
    KEPT,
    PAUSED,
    RETURNS,
    RULES,
    calls_of,
    feed,
    outcomes,
    stream,
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


def test_served_pages_hash_with_the_kernel_as_with_the_twin() -> None:
    served = ServedPages(900.0)
    columns = (["81.2.3", "\ud800"], ["Mozilla/5.0", "\x00" * 9], ["/p/1", "é" * 200])
    with_kernel = served.hashes(*columns)
    with native_off():
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
    fast, pure = CampaignBook(RULES, short_of=0.9), CampaignBook(RULES, short_of=0.9)
    for call, kind in calls_of(requests, cuts):
        answer = feed(fast, call, kind)
        with native_off():
            assert answer == feed(pure, call, kind)
    assert outcomes(fast) == outcomes(pure)
