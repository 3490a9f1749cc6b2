"""The shared delta directory: peers' deltas applied in order, bases for newcomers, own files pruned."""

from __future__ import annotations

import os
import threading
import tracemalloc
import zipfile
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


def _deflate_bomb(path: Path, floats: int) -> None:
    """An archive like a delta file whose weights deflate from ``floats`` zeros (written in pieces)."""
    empty: dict[str, np.ndarray] = {
        "keys_blob": np.zeros(0, dtype=np.uint8),
        "keys_end": np.zeros(0, dtype=np.int64),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for prefix in ("keys", "tomb"):
            for suffix, array in (("_blob", empty["keys_blob"]), ("_end", empty["keys_end"])):
                with archive.open(f"{prefix}{suffix}.npy", "w") as out:
                    np.save(out, array)
        with archive.open("weights.npy", "w", force_zip64=True) as out:
            header = {"descr": "<f8", "fortran_order": False, "shape": (floats,)}
            np.lib.format.write_array_header_1_0(out, header)
            zeros = bytes(1 << 20)
            for _ in range(floats * 8 // len(zeros)):
                out.write(zeros)


def _reads_within(log: DeltaLog, seconds: float) -> dict[str, float]:
    """:func:`_applied`, failing instead of hanging when a read blocks."""
    done: dict[str, float] = {}
    reader = threading.Thread(target=lambda: done.update(_applied(log)), daemon=True)
    reader.start()
    reader.join(seconds)
    assert not reader.is_alive(), "reading the delta directory blocked"
    return done


@pytest.mark.parametrize("what", ["fifo", "bare-array", "deflate-bomb"])
def test_a_peer_file_that_is_no_archive_of_arrays_is_skipped_at_once(tmp_path: Path, what: str) -> None:
    """Under a delta file's name, a FIFO (would block a reader forever), one bare .npy array (not an
    archive: used to raise past the skip) or deflated zeros that unpack to 400 MB (no worker
    compresses its files): skipped with a warning, read without blocking or that memory."""
    evil = tmp_path / "evil.000000000001.delta.npz"
    if what == "fifo":
        os.mkfifo(evil)
    elif what == "bare-array":
        with evil.open("wb") as out:
            np.save(out, np.arange(3.0))
    else:
        _deflate_bomb(evil, 50_000_000)
        assert evil.stat().st_size < 2_000_000
    DeltaLog(tmp_path, "y", ParamTable().full_delta).publish(_delta(k=1.0))
    reader = DeltaLog(tmp_path, "b", ParamTable().full_delta)
    tracemalloc.start()
    try:
        assert _reads_within(reader, 20) == {"k": 1.0}
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000, peak
    assert len(reader.warnings) == 1 and "evil.000000000001.delta.npz" in reader.warnings[0]
