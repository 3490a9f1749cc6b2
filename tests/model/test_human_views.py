"""The human label's two views (co-training): each reads the pace and one of assets or referers,
masks only what it read, and so lets the other slot train from people."""

from __future__ import annotations

from typing import Any

import pytest

from botguard.model._actors import CODE, actor_uid
from botguard.model.labels import HUMAN_SLOTS, MASKS, Label, Labeler
from tests.model.streamkit import CHROME, NOVA, frame, learner, req, settings
from tests.model.test_model_labels import Hook, _slots


def _session(
    ip: str, *, assets: bool, referers: bool, t: float = 0.0, pages: int = 5
) -> list[dict[str, Any]]:
    """A person at a reading pace (pages 20 s apart), loading two assets per page or not (cached),
    sending referers or not (a direct visit, a browser that withholds them)."""
    rows = []
    for k in range(pages):
        page = f"/products/{k + 1}"
        ref = (
            f"https://www.example.com/products/{k}"
            if referers and k
            else ("https://www.google.com/" if referers else "-")
        )
        rows.append(req(t, ip, CHROME, page, referer=ref))
        if assets:
            own = f"https://www.example.com{page}" if referers else "-"
            rows.append(req(t + 0.2, ip, CHROME, "/static/app.css", referer=own))
            rows.append(req(t + 0.3, ip, CHROME, "/static/app.js", referer=own))
        t += 20
    return rows


def _address(odd: bool, start: int = 1) -> str:
    """An address whose client id with CHROME has the parity asked for."""
    for i in range(start, 255):
        ip = f"86.1.2.{i}"
        if actor_uid(ip, CHROME) % 2 == odd:
            return ip
    raise AssertionError("no address of that parity")


def _trained(rows: list[dict[str, Any]]) -> tuple[Any, Hook]:
    model = learner()
    hook = Hook()
    model.train_hook = hook
    model.observe(frame(rows))
    model.flush()
    return model, hook


def test_a_person_loading_assets_without_referers_is_the_asset_view_and_shows_ref() -> None:
    """A person who loads assets and sends no referer is labelled by the asset view: its examples
    hide the slots that view read (asset_b, rate_b) and show ``ref_kind=none`` as a person's."""
    _, hook = _trained(_session("86.1.2.3", assets=True, referers=False))
    assert {source for _, _, source, _ in hook.examples} == {"human_assets"}
    assert not any(y for _, y, _, _ in hook.examples)
    assert all(not _slots(x) & {"asset_b", "rate_b"} for _, _, _, x in hook.examples)
    assert all("ref_kind=none" in x for _, _, _, x in hook.examples)


def test_a_person_with_cached_assets_is_the_referer_view_and_shows_asset_b() -> None:
    """A person whose browser cached the assets (pages with referers only) is labelled by the
    referer view: its examples hide ref and rate_b and show ``asset_b=0`` as a person's."""
    _, hook = _trained(_session("86.1.2.4", assets=False, referers=True, pages=8))
    assert {source for _, _, source, _ in hook.examples} == {"human_referer"}
    assert not any(y for _, y, _, _ in hook.examples)
    assert all(not _slots(x) & {"ref", "rate_b"} for _, _, _, x in hook.examples)
    assert all("asset_b=0" in x for _, _, _, x in hook.examples)


@pytest.mark.parametrize("odd", [False, True])
def test_a_person_both_views_accept_takes_the_view_of_its_ids_parity(odd: bool) -> None:
    """Assets and referers: an even client id is the asset view's, an odd one the referer view's,
    the same label whatever else is in the stream, and the record's labeler agrees."""
    ip = _address(odd)
    model, hook = _trained(_session(ip, assets=True, referers=True))
    view = "human_referer" if odd else "human_assets"
    assert {source for _, _, source, _ in hook.examples} == {view}
    assert all(not _slots(x) & MASKS[view] for _, _, _, x in hook.examples)
    actor = model.actors[(ip, CHROME)]
    assert actor.label is not None and actor.label.source == view
    labeler = Labeler(settings())
    assert labeler.decide(actor.evidence, 0.0, actor_uid(ip, CHROME)) == Label(False, view, 0.0)
    mixed, _ = _trained(
        _session(ip, assets=True, referers=True)
        + _session(_address(not odd, 100), assets=True, referers=True)
    )
    assert mixed.actors[(ip, CHROME)].label == actor.label


def test_each_view_masks_only_the_slots_it_read() -> None:
    """The leakage rule per view: the pace in both, assets or referers in one; a label restored
    from an older snapshot (``human``, which read all three) keeps all three masked."""
    assert MASKS["human_assets"] == {"asset_b", "rate_b"}
    assert MASKS["human_referer"] == {"ref", "ref_kind", "rate_b"}
    assert MASKS["human"] == HUMAN_SLOTS
    assert CODE["human"] > CODE["human_referer"] > CODE["human_assets"] > CODE["robots"]


def test_a_restored_human_label_of_an_older_snapshot_masks_every_human_slot() -> None:
    """An actor a snapshot stored as ``human`` keeps that label; its later examples show none of
    asset_b, ref, rate_b (it read them all)."""
    ip = "86.1.2.9"
    model = learner()
    model.observe(frame(_session(ip, assets=True, referers=True)))
    model.flush()
    actors = dict(model._actors.records())
    old = actors[(ip, CHROME)]
    old.label = Label(False, "human", old.label.decided_at)  # type: ignore[union-attr]
    model._actors.load(actors)
    hook = Hook()
    model.train_hook = hook
    model.observe(frame(_session(ip, assets=True, referers=True, t=150.0, pages=2)))
    model.flush()
    assert hook.examples and {source for _, _, source, _ in hook.examples} == {"human"}
    assert all(not _slots(x) & HUMAN_SLOTS for _, _, _, x in hook.examples)


def test_referers_and_assets_train_from_people_as_well_as_bots() -> None:
    """With both views, ``ref_kind`` and ``asset_b`` learn from both sides: a person's values (a
    referer, assets) weigh towards wanted, a scraper's (neither) towards unwanted. Were the one
    human label masking both, people would never teach them and a referer would learn only from
    bots."""
    rows: list[dict[str, Any]] = []
    for i in range(12):
        rows += _session(f"86.1.3.{i + 1}", assets=True, referers=i % 3 != 0, t=i * 7.0)
        rows += _session(f"86.1.4.{i + 1}", assets=i % 3 != 0, referers=True, t=i * 7.0 + 3, pages=8)
        bot = f"65.108.14.{i + 1}"  # a robots.txt violator: no referer, no assets
        rows += [
            req(i * 7.0 + 5 + k, bot, NOVA, "/private/x" if k == 2 else f"/item/{i}-{k}") for k in range(6)
        ]
    model, _ = _trained(sorted(rows, key=lambda r: r["time"]))
    w = model.trainer.table

    def weight(key: str) -> float:
        row = w.index.get(key)
        return 0.0 if row is None else float(w.w[row])

    assert weight("ref_kind=site_follow") < 0 < weight("ref_kind=none")
    assert weight("asset_b=3") < 0 < weight("asset_b=0")
