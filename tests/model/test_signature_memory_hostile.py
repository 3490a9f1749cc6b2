"""The stream's signature book holds no more memory as ever new addresses reach the same keys
(a hostile reviewer's test).

A key remembers at most ``max_ips`` addresses and 8 nets and agents (``SignatureBook._fold``):
however many distinct addresses a campaign sends under one agent (an IPv6 /48 has 2^80), the
book's memory is bounded by its keys. A book that interns every address, net and agent it is
handed, in a table it compacts only when a key expires (bg/sbook's ArraySignatureBook: keys
live a day without a request before they expire), grows with each new one for as long as its
keys stay busy: ~100 bytes an address, a day's distinct addresses before the first expiry.
"""

from __future__ import annotations

import tracemalloc

from botguard.model.signatures import SignatureGroup
from tests.model.streamkit import learner

KEYS = ("ip6_48=2001:db8:7", "ua_tok=scrapy", "asn=64500")
ADDRESSES_A_BATCH = 50


def _batch(book: object, number: int) -> None:
    """One micro-batch: the same keys, ADDRESSES_A_BATCH addresses never seen before."""
    ips = {f"2001:db8:7::{number:x}:{i:x}" for i in range(ADDRESSES_A_BATCH)}
    group = SignatureGroup(
        KEYS, n=ADDRESSES_A_BATCH, high=0, psum=1.0, ips=ips, nets={"2001:db8:7"}, agents={"scrapy"}
    )
    now = 1_000.0 + number
    book.add_groups([group], now)  # type: ignore[attr-defined]
    book.expire(now)  # type: ignore[attr-defined]  # (as the stream's upkeep does: the keys stay busy)


def test_new_addresses_under_busy_keys_hold_no_more_memory() -> None:
    book = learner().book
    for number in range(200):  # every key's sets full long before
        _batch(book, number)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(200, 1_200):  # 50,000 more addresses
            _batch(book, number)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(book) == len(KEYS)
    assert grown < 1_000_000, (
        f"the book grew {grown:,} bytes over 50,000 new addresses under {len(KEYS)} keys"
    )
