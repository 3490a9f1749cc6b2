"""The stream's work per call, not per micro-batch (botguard.model.stream, botguard.model._batches).

A generated day cuts into ~9,000 micro-batches of ~22 requests (10 s of stream time each), so a
fixed cost per micro-batch is most of ``observe()``: the per-actor grouping of a call's requests is
done once for all of its micro-batch pieces, a piece is scored with one lookup of stale part sums,
and an asset request is checked against the served pages only while that can still teach the
campaign book one of the site's hosts. What each step computes is unchanged (the stream's
scores and state: tests/model/test_one_learner.py, bench/bench_observe.py).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from botguard.model import _batches
from botguard.model._actors import SOURCES
from botguard.model._batches import PieceGroups, pieces
from botguard.model._join import Trainer
from botguard.model._served import ServedWalk
from botguard.model.learner import OnlineLR
from botguard.model.records import StreamCounters
from botguard.model.table import PairFilter
from tests.model.streamkit import CHROME, NOVA, frame, learner, req

_OURS = ("botguard/model/stream.py", "botguard/model/_batches.py")


def _micro_batches(n_batches: int, per_batch: int = 4) -> list[dict[str, Any]]:
    """``per_batch`` requests of a handful of clients in each of ``n_batches`` 10-second slots."""
    rows = []
    for b in range(n_batches):
        for k in range(per_batch):
            ip = f"81.20.{k % 3}.{10 + (b + k) % 5}"
            rows.append(req(10.0 * b + k, ip, NOVA if k % 2 else CHROME, f"/product/{b * per_batch + k}"))
    return rows


def _count_calls(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, only: Callable[[], bool]
) -> list[int]:
    """Wrap ``owner.name`` to count the calls ``only()`` accepts (read in the caller's frame)."""
    calls = [0]
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        if only():
            calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def _learners_work(code: Any) -> bool:
    """Code of the model's modules run by ``observe()`` (not the door itself, which switches the
    collector off and on)."""
    path = code.co_filename.replace("\\", "/")
    return "botguard/model/" in path and not (path.endswith("stream.py") and code.co_name == "observe")


def _from_our_code() -> bool:
    return sys._getframe(2).f_code.co_filename.replace("\\", "/").endswith(_OURS)


def test_a_calls_actor_grouping_is_done_once_whatever_its_micro_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stream's own sorts (``np.unique``: distinct actors, groups per piece) are as many for a
    call of 40 micro-batches as for a call of 4: the per-actor counts of every piece come from one
    grouping of the call."""
    counts = []
    for n_batches in (4, 40):
        model = learner()
        model.observe(frame(_micro_batches(1)))  # first-call set-up (memos, tables) out of the count
        calls = _count_calls(monkeypatch, np, "unique", _from_our_code)
        rows = [dict(r, time=r["time"] + 100.0) for r in _micro_batches(n_batches)]
        model.observe(frame(rows))
        monkeypatch.undo()
        counts.append(calls[0])
    assert counts[0] == counts[1] > 0


def test_a_piece_is_scored_with_one_lookup_of_stale_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring a micro-batch piece asks for its parts' weight sums once (its actor's, path's and
    rest parts together), not once per kind of part: the pure twin's PartSums.get or the
    compiled kernel's part_logits, whichever runs."""
    model = learner()
    lookups = _count_calls(monkeypatch, _batches.PartSums, "get", lambda: True)
    kernel_lookups = _count_calls(monkeypatch, _batches, "part_logits", lambda: True)
    started = _count_calls(monkeypatch, type(model), "_start", lambda: True)
    model.observe(frame(_micro_batches(30)))
    assert started[0] == 30
    assert lookups[0] + kernel_lookups[0] == started[0]


def test_an_asset_is_checked_against_served_pages_only_while_the_sites_host_is_learned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Browsers loading a page's assets teach the book the site's host (three addresses); after
    that, and for an address already counted, an asset request costs no served-pages check, and
    the host is still the site's."""
    checks = _count_calls(monkeypatch, ServedWalk, "requested", lambda: True)
    model = learner()
    rows = []
    for n in range(8):
        ip, t = f"92.40.{n}.7", 30.0 * n
        page = f"/article/{n}"
        rows.append(req(t, ip, CHROME, page))
        rows += [
            req(t + 1 + a, ip, CHROME, f"/static/{a}.css", referer=f"https://www.example.com{page}")
            for a in range(6)
        ]
    model.observe(frame(rows))
    assert model.campaigns.served.own("www.example.com")
    assert checks[0] == 3  # the first asset of each of the first three browsers (48 assets in all)


@pytest.mark.parametrize("seed", range(6))
def test_piece_groups_count_each_piece_as_a_walk_of_its_rows_would(seed: int) -> None:
    """Each (piece, actor) group holds the piece's requests of that actor: their number, human-like
    share, label counts, last row and the first row of each address, in actor order, as a walk
    of the rows piece by piece counts them."""
    rng = random.Random(seed)
    n = rng.randint(1, 300)
    slot = np.cumsum([rng.random() < 0.1 for _ in range(n)])
    aid = np.array([rng.randrange(12) for _ in range(n)], dtype=np.int64)
    ip_of = np.array([rng.randrange(6) for _ in range(n)], dtype=np.int64)
    humanlike = np.array([rng.random() < 0.3 for _ in range(n)])
    label = np.array([rng.choice((0, 0, 0, 1, 2)) for _ in range(n)], dtype=np.int8)
    cuts = pieces(slot, rng.choice((None, 0)), rng.randrange(4), rng.choice((3, 7, 1024)))
    got = PieceGroups.of(cuts, aid, ip_of, humanlike, label, len(SOURCES))
    for k, (i, j, _) in enumerate(cuts):
        want: dict[int, dict[str, Any]] = {}
        for r in range(i, j):
            g = want.setdefault(int(aid[r]), {"n": 0, "human": 0, "labels": {}, "ips": {}})
            g["n"] += 1
            g["human"] += bool(humanlike[r])
            if label[r]:
                g["labels"][int(label[r])] = g["labels"].get(int(label[r]), 0) + 1
            g["last"] = r
            g["ips"].setdefault(int(ip_of[r]), r)
        span = range(int(got.at[k]), int(got.at[k + 1]))
        assert [got.actor[g] for g in span] == sorted(want)
        for g in span:
            w = want[got.actor[g]]
            assert (got.n[g], got.human[g], got.last[g]) == (w["n"], w["human"], w["last"])
            assert dict(got.labels.get(g, [])) == w["labels"]
            assert got.ip_rows[got.ip_at[g] : got.ip_at[g + 1]] == [w["ips"][x] for x in sorted(w["ips"])]
            assert all(got.inverse[r] == g for r in range(i, j) if aid[r] == got.actor[g])


def test_a_calls_pages_are_hashed_for_the_served_pages_filters_in_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The campaign book's (network, agent, page) bits of a call's page requests, and of the pages
    their referers name, are worked out for the call at once; its walk in time order only sets and
    reads them (no bit positions per page, whatever the call's size)."""
    per_page = _count_calls(monkeypatch, PairFilter, "cells", lambda: True)
    per_call = _count_calls(monkeypatch, PairFilter, "cells_many", lambda: True)
    model = learner()
    rows = [
        req(
            5.0 * k,
            f"93.1.{k % 7}.{k % 5 + 1}",
            CHROME,
            f"/product/{k}",
            referer=f"https://www.example.com/product/{k - 1}",
        )
        for k in range(60)
    ]
    model.observe(frame(rows))
    assert per_page[0] == 0
    assert 0 < per_call[0] <= 2  # the pages, their referers


@pytest.mark.parametrize("seed", range(3))
def test_bit_positions_of_many_hashes_are_those_of_each_hash(seed: int) -> None:
    """``PairFilter.cells_many`` is ``cells`` of each hash (the same multiply-shift in numpy)."""
    rng = random.Random(seed)
    hashes = [rng.getrandbits(64) for _ in range(200)] + [0, (1 << 64) - 1]
    bloom = PairFilter(1 << rng.choice((6, 13, 23)), hashes=rng.randint(1, 6))
    assert bloom.cells_many(np.array(hashes, dtype=np.uint64)).T.tolist() == [bloom.cells(h) for h in hashes]


@pytest.mark.parametrize("enabled", [True, False])
def test_observe_runs_without_garbage_collections_and_leaves_the_collector_as_it_found_it(
    enabled: bool,
) -> None:
    """The learner's long-lived objects are not walked by the collector during ``observe()``
    (a threshold of 1 would collect at nearly every allocation); the collector is on again after
    the call only if it was on before."""
    import gc

    collections: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        frame_ = sys._getframe(1)
        while frame_ is not None and not _learners_work(frame_.f_code):
            frame_ = frame_.f_back
        if phase == "start" and frame_ is not None:
            collections.append(info["generation"])

    model = learner()
    batch = frame(_micro_batches(30))
    threshold = gc.get_threshold()
    was = gc.isenabled()
    gc.callbacks.append(seen)
    try:
        gc.set_threshold(1)
        (gc.enable if enabled else gc.disable)()
        model.observe(batch)
        assert collections == []
        assert gc.isenabled() is enabled
    finally:
        gc.callbacks.remove(seen)
        gc.set_threshold(*threshold)
        (gc.enable if was else gc.disable)()


def test_each_example_is_trained_without_the_slots_its_source_read_whatever_parts_it_shares() -> None:
    """The same part objects in examples of sources that mask different slots (masked parts are
    memoised per part and source), over two micro-batches: each example's keys are its parts'
    keys in order without its own source's slots, never another source's cut."""
    static = ("ua_fam=chrome", "asset_b=0", "ip24=81.2.3")
    path = ("path_tpl=/p/{n}", "ref=no")
    rest = ("asset_b=1", "rate_b=2")
    masks = {"a": frozenset({"asset_b"}), "b": frozenset({"ref", "rate_b"}), "c": frozenset()}
    trainer, seen = Trainer(masks), []
    for sources in (["a", "b", "c", "a"], ["c", "b", "b", "a"]):
        parts = [(static, path, rest)] * len(sources)
        ys = np.array([True, False, True, False])

        def hook(times: Any, labels: Any, srcs: Any, xs: list[dict[str, float]]) -> None:
            seen.extend(zip(srcs, (list(x) for x in xs)))

        trainer.learn(OnlineLR(), parts, ys, [0.0] * 4, sources, np.arange(4), 1.0, StreamCounters(), hook)
    for source, keys in seen:
        want = [k for k in (*static, *path, *rest) if k.partition("=")[0] not in masks[source]]
        assert keys == list(dict.fromkeys(want)), source
