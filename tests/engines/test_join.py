"""Joining segments is associative in log order: whatever cuts the logs are read in, whatever tree
the segments are joined in (and in whatever order a group arrives), the root is the partial the
scan of each file whole gives, malformed-line examples and warnings included. No engine here:
the pieces are read by the function the workers run."""

from __future__ import annotations

import gzip
import itertools
import pickle
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botguard.catalog import load_catalog
from botguard.config import Settings
from botguard.engines import Job
from botguard.engines._spark import _arrow_join
from botguard.engines.join import finish, join_all
from botguard.engines.pieces import plan
from botguard.engines.records import EngineError, Piece, Segment
from botguard.engines.work import piece_segment
from botguard.judge import Partial
from botguard.logs import file_format
from botguard.robots.sources import RobotsOption, RobotsSources
from tests.judge.test_partial import same_partial

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Logs:
    """Four files scanned together: the example log with junk and blank lines scattered in it,
    a file mostly junk (its warning), a gzipped file (read whole) and another plain one."""

    def __init__(self, out: Path) -> None:
        lines = (EXAMPLES / "access.log").read_bytes().splitlines(keepends=True)
        first = [b"junk %d\n" % n if n % 200 == 7 else b"\n" if n % 500 == 11 else line
                 for n, line in enumerate(lines[:1200])]  # fmt: skip
        files = {
            "a.log": b"".join(first),
            "b.log": b"".join(lines[1200:1215]) + b"".join(b"not a log line %d\n" % n for n in range(50)),
            "c.log.gz": gzip.compress(b"".join(lines[1215:1800])),
            "d.log": b"".join(
                b"bad %d\n" % n if n % 97 == 5 else line for n, line in enumerate(lines[1800:])
            ),
        }
        self.paths = []
        for name, data in files.items():
            (out / name).write_bytes(data)
            self.paths.append(str(out / name))
        self.starts = {
            path: [0, *itertools.accumulate(len(line) for line in data.splitlines(keepends=True))][:-1]
            for path, data in zip(self.paths, files.values(), strict=True)
        }
        robots = RobotsSources(RobotsOption(default=str(EXAMPLES / "robots.txt")))
        self.job = Job(load_catalog(), robots, Settings(), per_host=False)
        self.leaves: dict[Piece, Segment] = {}

    def leaf(self, piece: Piece) -> Segment:
        if piece not in self.leaves:
            self.leaves[piece] = piece_segment(self.job, piece)
        return self.leaves[piece]

    def pieces(self, cuts: dict[str, list[int]]) -> list[Piece]:
        """The files cut before the lines numbered in ``cuts`` (as plan() cuts: a file in one
        piece is read whole, a compressed one always)."""
        pieces: list[Piece] = []
        for number, path in enumerate(self.paths):
            starts = self.starts[path]
            at = sorted({starts[n % len(starts)] for n in cuts.get(path, [])} - {0})
            if path.endswith(".gz") or not at:
                size = None if path.endswith(".gz") else Path(path).stat().st_size
                pieces.append(Piece(number, 0, path, 0, size, True, None, True))
                continue
            fmt = file_format(path, None).name
            bounds = [0, *at, Path(path).stat().st_size]
            pieces.extend(
                Piece(number, index, path, start, end, False, fmt, end == bounds[-1])
                for index, (start, end) in enumerate(itertools.pairwise(bounds))
            )
        return pieces


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Logs:
    return Logs(tmp_path_factory.mktemp("join"))


@pytest.fixture(scope="module")
def whole(logs: Logs) -> Partial:
    """Each file read whole by one worker, joined in order: what the single-machine scan merges."""
    pieces = plan(logs.paths, None, None, 1 << 30)
    assert all(piece.whole for piece in pieces)
    return finish(join_all([logs.leaf(piece) for piece in pieces], None), pieces)


def _tree(segments: list[Segment], data: st.DataObject) -> Segment:
    """``segments`` joined in a random tree: consecutive groups of random sizes, level by level."""
    while len(segments) > 1:
        groups, at = [], 0
        while at < len(segments):
            size = data.draw(st.integers(min_value=1, max_value=len(segments) - at))
            if at == 0 and size == len(segments) and len(segments) > 2:
                size -= 1  # at least two groups below the root now and then: a deeper tree
            groups.append(segments[at : at + size])
            at += size
        if len(groups) == len(segments):  # all single: join the first two, so the tree ends
            groups[:2] = [groups[0] + groups[1]]
        segments = [join_all(group, None) for group in groups]
    return segments[0]


def _stats(part: Partial) -> tuple[Any, ...]:
    s = part.stats
    return (s.lines, s.parsed, s.malformed, s.invalid_requests, dict(s.malformed_by_reason),
            s.malformed_examples, s.warnings)  # fmt: skip


def test_the_logs_hold_what_the_join_must_put_right(whole: Partial) -> None:
    """The case is not trivial: over 20 malformed-line examples from two files (the cap), a
    file mostly malformed (its warning) and clients with Crawl-delay intervals to count."""
    examples = whole.stats.malformed_examples
    assert len(examples) == 20 and len({source for source, _, _ in examples}) == 2
    assert any("b.log" in warning and "malformed" in warning for warning in whole.stats.warnings)
    assert whole.clients.get_column("fast_gaps").sum() > 0


@given(
    cuts=st.dictionaries(
        st.sampled_from(["a.log", "b.log", "d.log"]), st.lists(st.integers(0, 2000), max_size=6)
    ),
    data=st.data(),
)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_cuts_joined_in_any_tree_are_the_whole(
    logs: Logs, whole: Partial, cuts: dict[str, list[int]], data: st.DataObject
) -> None:
    """Cut the files anywhere, join the pieces in any tree in log order: the scan of the whole
    files, examples numbered from each file's start, the warning once, in its place."""
    pieces = logs.pieces({str(Path(logs.paths[0]).parent / name): lines for name, lines in cuts.items()})
    root = finish(_tree([logs.leaf(piece) for piece in pieces], data), pieces)
    assert same_partial(root, whole)
    assert _stats(root) == _stats(whole)


def test_a_group_arriving_in_any_order_is_joined_in_log_order(logs: Logs, whole: Partial) -> None:
    """Spark's shuffle delivers a round's group in any order: the task puts it back in order."""
    pieces = logs.pieces({logs.paths[0]: [100, 400, 800], logs.paths[3]: [300]})
    rows = [(index, piece_segment(logs.job, piece)) for index, piece in enumerate(pieces)]
    random.Random(7).shuffle(rows)
    table = pa.table({"number": [0] * len(rows), "segment": [pickle.dumps(s) for _, s in rows]})
    joined = pickle.loads(_arrow_join(None, table).column("segment")[0].as_py())
    assert same_partial(finish(joined, pieces), whole)
    assert _stats(finish(joined, pieces)) == _stats(whole)


def test_segments_out_of_log_order_are_refused(logs: Logs) -> None:
    pieces = logs.pieces({logs.paths[0]: [100, 400]})
    a, b, c = (logs.leaf(piece) for piece in pieces[:3])
    with pytest.raises(EngineError, match="out of log order"):
        join_all([a, c, b], None)
    with pytest.raises(EngineError, match="no result for bytes"):
        finish(join_all([a, b], None), pieces)


def test_a_pieces_error_stands_for_the_segment(logs: Logs, tmp_path: Path) -> None:
    """A worker's error (its file gone) is the joined segment's, the first in log order."""
    gone = Piece(0, 0, str(tmp_path / "gone.log"), 0, 10, True, None, True)
    later = Piece(1, 0, logs.paths[1], 0, Path(logs.paths[1]).stat().st_size, True, None, True)
    failed = join_all([piece_segment(logs.job, gone), logs.leaf(later)], None)
    with pytest.raises(EngineError, match=r"gone\.log"):
        finish(failed, [gone, later])
