"""A snapshot whose signature columns hold bad string ids or wrong lengths is refused, in one line.

A hostile reviewer's test. The snapshot directory beside the state database (``STATE.model``)
is read back by ``botguard watch``; whoever can write it can hand the learner any arrays.
Unchecked, an id past the string table (or a column shorter than ``sig_key``) raised IndexError,
which ``watch`` does not turn into its one-line error (it maps OSError, ValueError, KeyError and
TypeError), so a traceback reached the user; a negative id silently named another string
(Python's negative index), and run lengths (``sig_ips_n``) adding up past their column were cut
short without a word. Restoring refuses each with an error ``watch`` reports in one line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from botguard.model.stream import StreamLearner
from botguard.model.table import load_arrays, save_arrays
from tests.model.streamkit import ROBOTS, learner, settings
from tests.model.test_model_stream import _feed, _mixed

#: What ``botguard watch`` (app/watch.py ``_learner``) reports as "cannot restore the model snapshot".
REPORTED = (OSError, ValueError, KeyError, TypeError)


def _crafted(arrays: dict[str, np.ndarray], column: str, how: str) -> np.ndarray:
    values = arrays[column].copy()
    if how == "past the table":
        values[:] = 10**9
    elif how == "negative":
        values[:] = -1
    elif how == "one short":
        values = values[:-1]
    elif how == "runs past the column":
        values[0] += 10**6
    return values


@pytest.mark.parametrize(
    "column, how",
    [
        ("sig_key", "past the table"),
        ("sig_ips", "past the table"),
        ("sig_agents", "negative"),
        ("sig_ips", "negative"),
        ("sig_last_seen", "one short"),
        ("sig_ips_n", "runs past the column"),
    ],
)
def test_a_snapshot_with_bad_signature_ids_is_refused(tmp_path: Path, column: str, how: str) -> None:
    model = learner()
    _feed(model, _mixed(6))
    assert len(model.book) > 0
    model.snapshot(tmp_path / "snap")
    path = tmp_path / "snap" / "signatures.npz"
    arrays = dict(load_arrays(path))
    assert arrays[column].size > 0
    arrays[column] = _crafted(arrays, column, how)
    save_arrays(path, arrays, compress=True)
    with pytest.raises(REPORTED):
        StreamLearner.restore(tmp_path / "snap", settings(), robots=lambda host: ROBOTS)


def test_an_untouched_snapshot_restores(tmp_path: Path) -> None:
    """The cases above fail for their crafted column, not for a snapshot that never restores."""
    model = learner()
    _feed(model, _mixed(6))
    model.snapshot(tmp_path / "snap")
    back = StreamLearner.restore(tmp_path / "snap", settings(), robots=lambda host: ROBOTS)
    assert back.book.to_json() == model.book.to_json()
