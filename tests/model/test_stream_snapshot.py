"""Compact snapshots: columns and string ids instead of per-key JSON, idle state left out, old format still read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from botguard.model.signatures import SignatureBook
from botguard.model.stream import StreamLearner
from botguard.model.table import StringTable
from tests.model.streamkit import ROBOTS, learner, settings
from tests.model.test_model_stream import _feed, _mixed


def test_string_table_round_trips_hostile_strings() -> None:
    """Log strings may hold anything (quotes, newlines, NUL, non-ASCII, lone surrogates from lossy
    decoding): each comes back exactly, and repeated strings are stored once."""
    values = ["", "a", 'x"; rm -rf /', "line\nbreak\x00nul", "ünïcödé 😀", "\udcff", "a", "Mozilla/5.0 " * 40]
    table = StringTable()
    ids = table.ids(values)
    assert ids[1] == ids[6] and len(table.strings) == len(values) - 1
    back = StringTable.from_arrays(table.to_arrays())
    assert [back.strings[i] for i in ids] == values


def test_signature_columns_round_trip_like_the_json(tmp_path: Path) -> None:
    """A book restored from its arrays equals the book (every field of every key's stats)."""
    model = learner()
    _feed(model, _mixed(10))
    strings = StringTable()
    arrays = model.book.to_arrays(strings)
    back = SignatureBook(model.book.rules)
    back.load_arrays(arrays, StringTable.from_arrays(strings.to_arrays()).strings)
    assert back.to_json() == model.book.to_json()


def test_samples_shared_by_keys_are_stored_once() -> None:
    """One actor's request sample is referenced by all its signature keys but written once."""
    model = learner()
    _feed(model, _mixed(6))
    arrays = model.book.to_arrays(StringTable())
    assert len(arrays["sample_len"]) < len(arrays["sig_samples"])
    assert arrays["sample_vals"].size == 0  # binary features: no values stored


def test_snapshot_leaves_out_idle_actors_as_memory_does(tmp_path: Path) -> None:
    """Actors idle longer than actor_ttl are dropped at snapshot time, in memory and on disk alike,
    so the snapshot stays bounded by the active clients, not every client ever seen."""
    model = learner(actor_ttl=600.0)
    _feed(model, _mixed(4))  # four rounds a minute apart: every actor active
    stale = {key for key in model.actors if key[0] in ("86.1.2.3", "86.1.3.3")}  # people who leave
    _feed(model, _mixed(2, start=3600.0)[:4])  # an hour later only a few requests arrive
    assert stale <= set(model.actors)  # no maintenance sweep ran yet: still in memory
    model.snapshot(tmp_path / "snap")
    assert stale and not stale & set(model.actors)
    written = json.loads((tmp_path / "snap" / "state.json").read_text(encoding="utf-8"))["actors"]
    assert {(a["ip"], a["ua"]) for a in written} == set(model.actors)
    restored = StreamLearner.restore(tmp_path / "snap", settings(), robots=lambda host: ROBOTS)
    assert set(restored.actors) == set(model.actors) and restored.counters == model.counters


def test_version_1_snapshots_are_still_restored(tmp_path: Path) -> None:
    """A snapshot written before the compact format (signatures and pending keys in JSON) restores
    to the same learner: same scores and candidates on the next requests."""
    model = learner()
    _feed(model, _mixed(10))
    snap = tmp_path / "snap"
    model.snapshot(snap)
    state = json.loads((snap / "state.json").read_text(encoding="utf-8"))
    strings = StringTable.from_arrays(np.load(snap / "signatures.npz")).strings
    state["version"] = 1
    state["signatures"] = model.book.to_json()
    for actor in state["actors"]:
        actor["pending"] = [
            [[[strings[k] for k in part] for part in parts], t] for parts, t in actor["pending"]
        ]
    (snap / "signatures.npz").unlink()
    (snap / "state.json").write_text(json.dumps(state), encoding="utf-8")
    old = StreamLearner.restore(snap, settings(), robots=lambda host: ROBOTS)
    later = _mixed(3, start=4000)
    np.testing.assert_allclose(_feed(old, later), _feed(model, later), rtol=0, atol=1e-12)
    assert old.candidates() == model.candidates()


def test_snapshot_does_not_grow_with_every_sample(tmp_path: Path) -> None:
    """Size: the snapshot of a few hundred requests stays small (sparse sketch, compressed ids)."""
    model = learner()
    _feed(model, _mixed(12))
    model.snapshot(tmp_path / "snap")
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "snap").iterdir()}
    assert set(sizes) == {"trainer.npz", "scorer.npz", "signatures.npz", "state.json"}
    assert sum(sizes.values()) < 300_000, sizes  # dense sketches alone were 2 x 3 MB
