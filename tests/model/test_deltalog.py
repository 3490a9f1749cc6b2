"""The shared delta directory: peers' deltas applied in order, bases for newcomers, own files pruned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from botguard.model.deltalog import DeltaLog
from botguard.model.records import Delta
from botguard.model.table import ParamTable


def _delta(**weights: float) -> Delta:
    return Delta(tuple(weights), np.array(list(weights.values()), dtype=np.float64), ())


def _applied(log: DeltaLog) -> dict[str, float]:
    table = ParamTable()
    for delta in log.new_deltas():
        table.apply_delta(delta)
    return {key: float(table.w[row]) for key, row in table.index.items()}


def test_a_peer_applies_the_others_deltas_in_order_and_only_once(tmp_path: Path) -> None:
    trainer = ParamTable()
    a = DeltaLog(tmp_path, "a", trainer.full_delta)
    b = DeltaLog(tmp_path, "b", ParamTable().full_delta)
    a.publish(_delta(x=1.0, y=2.0))
    a.publish(_delta(x=3.0))
    assert _applied(b) == {"x": 3.0, "y": 2.0}  # the later value wins
    assert _applied(b) == {}  # nothing new
    assert _applied(a) == {}  # a worker never reads its own files
    a.publish(_delta(z=-1.0))
    assert _applied(b) == {"z": -1.0}


def test_a_newcomer_starts_from_the_latest_base_and_old_files_go(tmp_path: Path) -> None:
    """Every base_every-th publication is the whole table; the publisher's older files are
    removed, and a worker that starts later gets the same weights from the base onwards."""
    trainer = ParamTable()
    a = DeltaLog(tmp_path, "a", trainer.full_delta, base_every=3)
    for step in range(1, 6):
        delta = _delta(**{f"k{step}": float(step)})
        trainer.apply_delta(delta)  # what the trainer holds, and what it publishes
        a.publish(delta)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a.000000000003.base.npz", "a.000000000004.delta.npz", "a.000000000005.delta.npz"]
    late = DeltaLog(tmp_path, "late", ParamTable().full_delta)
    assert _applied(late) == {f"k{step}": float(step) for step in range(1, 6)}


def test_a_restarted_worker_continues_its_sequence(tmp_path: Path) -> None:
    DeltaLog(tmp_path, "a", ParamTable().full_delta).publish(_delta(x=1.0))
    again = DeltaLog(tmp_path, "a", ParamTable().full_delta)
    again.publish(_delta(x=2.0))
    assert _applied(DeltaLog(tmp_path, "b", ParamTable().full_delta)) == {"x": 2.0}


def test_names_that_are_not_file_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad worker name"):
        DeltaLog(tmp_path, "../evil", ParamTable().full_delta)


def test_an_unreadable_peer_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """Junk under a delta file's name (nothing botguard writes) never stops a worker."""
    (tmp_path / "x.000000000001.delta.npz").write_bytes(b"not a zip")
    DeltaLog(tmp_path, "y", ParamTable().full_delta).publish(_delta(k=1.0))
    reader = DeltaLog(tmp_path, "b", ParamTable().full_delta)
    assert _applied(reader) == {"k": 1.0}
    assert len(reader.warnings) == 1 and "x.000000000001.delta.npz" in reader.warnings[0]


def _hostile(path: Path, how: str) -> None:
    """A peer file that np.savez could write but no worker does."""
    keys = {"keys_blob": np.frombuffer(b"ab", dtype=np.uint8), "keys_end": np.array([1, 2])}
    tomb = {"tomb_blob": np.zeros(0, dtype=np.uint8), "tomb_end": np.zeros(0, dtype=np.int64)}
    weights = {
        "nan": np.array([np.nan, 1.0]), "inf": np.array([np.inf, -np.inf]),
        "short": np.array([1.0]), "matrix": np.ones((2, 2)), "text": np.array(["1", "2"]),
    }  # fmt: skip
    arrays: dict[str, object] = {**keys, **tomb, "weights": weights.get(how, np.array([1.0, 2.0]))}
    if how == "pickle":
        arrays["weights"] = np.array([{"__reduce__": "os.system"}, 1], dtype=object)
    if how == "ends":
        arrays["keys_end"] = np.array([[1, 2]])
    if how == "beyond":
        arrays["keys_end"] = np.array([1, 10**9])
    with path.open("wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]


HOSTILE = ["nan", "inf", "short", "matrix", "text", "pickle", "ends", "beyond"]


@pytest.mark.parametrize("how", HOSTILE)
def test_a_hostile_peer_file_is_skipped_and_changes_no_weight(tmp_path: Path, how: str) -> None:
    """A delta with NaN or infinite weights, lengths that disagree, a pickle, or string
    offsets past the data is skipped with a warning: the scorer keeps only what peers really learned."""
    _hostile(tmp_path / "evil.000000000001.delta.npz", how)
    DeltaLog(tmp_path, "y", ParamTable().full_delta).publish(_delta(k=1.0))
    reader = DeltaLog(tmp_path, "b", ParamTable().full_delta)
    assert _applied(reader) == {"k": 1.0}
    assert len(reader.warnings) == 1 and "evil.000000000001.delta.npz" in reader.warnings[0]
