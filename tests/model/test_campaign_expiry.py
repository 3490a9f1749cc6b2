"""The campaign book's expiry sweeps (botguard.model.campaigns.CampaignBook.expire).

A sweep must forget exactly what has been idle long enough (clients, pages, walk heads, chains,
burst keys, outcomes past ``keep``) and must not walk every key of the book to find it: a watch
sweeps every few micro-batches, and walking a day's keys each time was the largest single cost
of the replay.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from botguard.model.campaigns import CampaignBook, _idle
from botguard.model.stream import StreamLearner
from tests.model.streamkit import CHROME, ROBOTS, frame, learner, req, settings

MAPS = ("clients", "pages", "heads", "chains", "bursts", "scores", "raised_")


class _Counted(dict):  # type: ignore[type-arg]
    """A dict that counts how often it is walked whole."""

    walks = 0

    def items(self) -> Any:
        _Counted.walks += 1
        return super().items()

    def values(self) -> Any:
        _Counted.walks += 1
        return super().values()

    def keys(self) -> Any:
        _Counted.walks += 1
        return super().keys()

    def __iter__(self) -> Any:
        _Counted.walks += 1
        return super().__iter__()


def _stream(n: int = 240) -> list[dict[str, Any]]:
    """Walks split across addresses, bursts of bare clients, a few repeat visitors: every map of
    the book gets keys, with last sightings spread over 40 minutes."""
    rows = []
    for i in range(n):
        ip = f"81.{10 + i % 200}.{(7 * i) % 250}.{20 + i % 7}"
        rows.append(req(10.0 * i, ip, CHROME, f"/product/{100 + i}"))
        if i % 3 == 0:
            rows.append(req(10.0 * i + 1, f"92.1.{i % 250}.9", CHROME, f"/item?sku={i}", referer="-"))
        if i % 5 == 0:
            rows.append(
                req(10.0 * i + 2, ip, CHROME, f"/cat/{i % 4}/page", referer="https://www.example.com/")
            )
    return sorted(rows, key=lambda r: r["time"])


def _expected(book: CampaignBook, now: float) -> dict[str, set[Any]]:
    """What a sweep at ``now`` must leave, by the rules (each map judged key by key)."""
    rules = book.rules
    horizon = now - rules.link_window
    clients = {k for k, c in book.clients.items() if c.last >= now - rules.client_ttl}
    old = now - rules.keep
    scores = {k for k, (_, t) in book.scores.items() if not math.isfinite(rules.keep) or t >= old}
    return {
        "clients": clients,
        "pages": {p for p, page in book.pages.items() if page.t >= horizon},
        "heads": {
            (tpl, h) for tpl, heads in book.heads.items() for h, c in heads.items() if c.last >= horizon
        },
        "chains": {sid for sid, c in book.chains.items() if c.last >= horizon},
        "bursts": {k for k, b in book.bursts.items() if not _idle(b, now, rules, book._tau)},
        "scores": scores,
        "raised_": {k for k in book.raised_ if not math.isfinite(rules.keep) or k in scores or k in clients},
    }


def _left(book: CampaignBook) -> dict[str, set[Any]]:
    return {
        "clients": set(book.clients),
        "pages": set(book.pages),
        "heads": {(tpl, h) for tpl, heads in book.heads.items() for h in heads},
        "chains": set(book.chains),
        "bursts": set(book.bursts),
        "scores": set(book.scores),
        "raised_": set(book.raised_),
    }


def _check_sweeps(book: CampaignBook, start: float, step: float, sweeps: int) -> None:
    """Sweep at ``start``, ``start + step``, ...: each leaves exactly what the rules keep, every
    chain a page or a walk head names is kept, and something is forgotten along the way."""
    before = sum(len(getattr(book, name)) for name in MAPS)
    for k in range(sweeps):
        now = start + k * step
        want = _expected(book, now)
        book.expire(now)
        assert _left(book) == want, now
        named = {id(p.chain) for p in book.pages.values() if p.chain is not None}
        named |= {id(c) for heads in book.heads.values() for c in heads.values()}
        assert named <= {id(c) for c in book.chains.values()}
    assert sum(len(getattr(book, name)) for name in MAPS) < before


def test_an_expiry_sweep_does_not_walk_the_books_maps() -> None:
    """A sweep looks only at keys that may be due: none of the maps is walked whole, whatever is
    due, and what it forgets is exactly what the rules say."""
    model = learner(campaigns=_watch_rules())
    model.observe(frame(_stream()))
    book = model.campaigns
    assert book.clients and book.pages and book.chains and book.bursts and book.scores
    last = max(c.last for c in book.clients.values())
    for name in MAPS:
        setattr(book, name, _Counted(getattr(book, name)))
    book.heads = _Counted({tpl: _Counted(heads) for tpl, heads in book.heads.items()})
    _Counted.walks = 0
    book.expire(last + 1.0)  # nothing of a client is due yet; some pages and chains are
    book.expire(last + 2.0)
    assert _Counted.walks == 0


def test_each_sweep_forgets_exactly_what_is_idle() -> None:
    """Sweeps every 5 minutes for two days after the stream, with outcomes kept 3 hours (a watch's
    setting, shortened): each map loses its keys exactly when the rules say."""
    model = learner(campaigns=_watch_rules())
    model.observe(frame(_stream()))
    _check_sweeps(model.campaigns, model.clock - 1200.0, 300.0, 2 * 288)
    assert not any(getattr(model.campaigns, name) for name in MAPS)


def test_a_restored_book_expires_on_time(tmp_path: Path) -> None:
    """Keys loaded from a snapshot are swept as if they had never left: exactly on time."""
    model = learner(campaigns=_watch_rules())
    model.observe(frame(_stream()))
    model.snapshot(tmp_path / "snap")
    again = StreamLearner.restore(tmp_path / "snap", settings(), robots=lambda host: ROBOTS)
    again.campaigns.rules = model.campaigns.rules
    _check_sweeps(again.campaigns, model.clock, 600.0, 300)


def _watch_rules() -> Any:
    from dataclasses import replace

    from botguard.config import CampaignRules

    return replace(CampaignRules(), keep=3 * 3600.0)
