"""Weak labels in the stream: each source fires on its evidence, and masks the slots it read."""

from __future__ import annotations

from typing import Any

from botguard.model.features import PATH_SLOTS, UA_SLOTS
from botguard.model.labels import HUMAN_VIEWS, MASKS
from tests.model.streamkit import (
    CHROME,
    GOOGLEBOT,
    NOVA,
    ZGRAB,
    frame,
    human_session,
    learner,
    req,
    settings,
)


class Hook:
    """Records every trained example: (time, label, source, features)."""

    def __init__(self) -> None:
        self.examples: list[tuple[float, bool, str, dict[str, float]]] = []

    def __call__(
        self, times: list[float], ys: list[bool], sources: list[str], xs: list[dict[str, float]]
    ) -> None:
        self.examples.extend(zip(times, ys, sources, xs, strict=True))

    def by(self, source: str) -> list[tuple[float, bool, str, dict[str, float]]]:
        return [e for e in self.examples if e[2] == source]

    def humans(self) -> list[tuple[float, bool, str, dict[str, float]]]:
        """The examples either human view labelled."""
        return [e for e in self.examples if e[2] in HUMAN_VIEWS]


def _run(rows: list[dict[str, Any]], **kw: Any) -> tuple[Any, Hook]:
    model = learner(**kw)
    hook = Hook()
    model.train_hook = hook
    model.observe(frame(rows))
    model.flush()
    return model, hook


def _slots(x: dict[str, float]) -> set[str]:
    return {k.partition("=")[0] for k in x}


def test_catalogue_label_never_shows_the_model_ua_slots() -> None:
    """A scanner the policy blocks by category trains as positive, with every UA slot masked."""
    model = learner(settings(block_categories=("scanner",)))
    hook = Hook()
    model.train_hook = hook
    model.observe(frame([req(i, "45.148.10.7", ZGRAB, f"/x{i}.php", status=404) for i in range(5)]))
    model.flush()
    examples = hook.by("catalog")
    assert len(examples) == 5 and all(y for _, y, _, _ in examples)
    for _, _, _, x in examples:
        assert not _slots(x) & UA_SLOTS
        assert "ip24=45.148.10" in x  # the network is what the label teaches
    assert any(k.startswith("ua_tok=") for k in model.features.featurize({"user_agent": ZGRAB}))


def test_robots_violation_labels_a_bot_and_masks_the_path() -> None:
    """Disallowed paths label a non-browser positive; its path slots are not shown to the model."""
    rows = [req(i, "65.108.12.9", NOVA, "/private/page" if i == 3 else f"/item/{i}") for i in range(6)]
    _, hook = _run(rows)
    examples = hook.by("robots")
    assert len(examples) == 6  # the three before the violation join the label (scored before it)
    assert all(y and not _slots(x) & PATH_SLOTS for _, y, _, x in examples)
    assert any(
        k.startswith("ua_tok=novascrape") for k in examples[0][3]
    )  # UA slots stay: robots.txt did not read them
    assert "robots_violated" not in {s for e in examples for s in _slots(e[3])}  # never a feature


def test_a_person_opening_a_disallowed_page_is_not_a_robots_violator() -> None:
    """Humans open /private (a cart) too: with assets and referers at a reading pace, they stay human."""
    rows = human_session(0, "86.1.2.3", pages=4)
    rows.insert(3, req(10, "86.1.2.3", CHROME, "/private/cart", referer="https://www.example.com/products/1"))
    _, hook = _run(rows)
    assert not hook.by("robots")
    humans = hook.humans()
    assert humans and not any(y for _, y, _, _ in humans)
    assert all(not _slots(x) & MASKS[source] for _, _, source, x in humans)


def test_honeypot_path_never_reaches_the_features() -> None:
    """A trap hit labels positive; the trap's path template is in no example and no table row."""
    rows = [req(0, "65.108.13.5", NOVA, "/item/1"), req(1, "65.108.13.5", NOVA, "/trap/secret-1")]
    model, hook = _run(rows)
    examples = hook.by("honeypot")
    assert len(examples) == 2
    assert all(not any("trap" in k for k in x) for _, _, _, x in examples)
    assert not any("trap" in k for k in model.trainer.table.index)


def test_spoofer_and_verified_googlebot() -> None:
    """Googlebot's UA from Google's published range is a negative; from a cloud VM it is a spoofer."""
    rows = [
        req(0, "66.249.66.1", GOOGLEBOT, "/robots.txt"),
        req(1, "66.249.66.1", GOOGLEBOT, "/a"),
        req(2, "159.203.10.10", GOOGLEBOT, "/a"),
        req(3, "159.203.10.10", GOOGLEBOT, "/b"),
    ]
    _, hook = _run(rows)
    verified, spoofer = hook.by("verified"), hook.by("spoofer")
    assert len(verified) == 2 and not any(y for _, y, _, _ in verified)
    assert len(spoofer) == 2 and all(y for _, y, _, _ in spoofer)
    assert all(not _slots(x) & UA_SLOTS for _, _, _, x in verified + spoofer)


def test_unlabelled_events_are_only_scored() -> None:
    """A client no source says anything about is scored and never trained on."""
    rows = [req(i * 30, "203.0.113.9", "curl/8.5.0", f"/item/{i}") for i in range(8)]
    model, hook = _run(rows)
    assert hook.examples == []
    assert model.counters.events == 8 and model.counters.trained == {}


def test_positive_evidence_overrides_a_human_label() -> None:
    """A browser labelled human that then hits the trap is positive from then on."""
    rows = human_session(0, "86.1.2.4", pages=3) + [req(100, "86.1.2.4", CHROME, "/trap/x")]
    model, hook = _run(rows)
    assert hook.humans() and hook.by("honeypot")
    actor = model.actors[("86.1.2.4", CHROME)]
    assert actor.label is not None and actor.label.unwanted and actor.label.source == "honeypot"


def test_robots_txt_is_judged_per_virtual_host(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Through the RobotsSources scan uses: /private is disallowed on shop.example only."""
    from botguard.model.stream import StreamLearner
    from botguard.robots.sources import RobotsOption, RobotsSources

    (tmp_path / "shop.txt").write_text("User-agent: *\nDisallow: /private\n")
    (tmp_path / "blog.txt").write_text("User-agent: *\nAllow: /\n")
    sources = RobotsSources(
        RobotsOption(
            per_host={"shop.example": str(tmp_path / "shop.txt"), "blog.example": str(tmp_path / "blog.txt")}
        )
    )
    model = StreamLearner.from_config(settings(), robots=sources)
    hook = Hook()
    model.train_hook = hook
    blog = [{**req(i, "65.108.12.9", NOVA, "/private/x"), "host": "blog.example"} for i in range(3)]
    shop = [{**req(10 + i, "65.108.12.10", NOVA, "/private/x"), "host": "shop.example:443"} for i in range(3)]
    model.observe(frame(blog + shop))
    model.flush()
    assert [e[0] - blog[0]["time"] for e in hook.by("robots")] == [10, 11, 12]  # only the shop's client
