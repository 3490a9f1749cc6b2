"""Cutting logs into pieces: no line split, none read twice, compressed files whole."""

from __future__ import annotations

import gzip
import io
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botguard.engines.pieces import cut_points, plan
from botguard.errors import UsageError

LINE = b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.0"\n'


@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=30),
    last_newline=st.booleans(),
    piece_bytes=st.integers(min_value=1, max_value=120),
)
def test_pieces_cut_after_newlines_cover_the_file_once(
    lines: list[bytes], last_newline: bool, piece_bytes: int
) -> None:
    """Consecutive ranges from 0 to the end; each inner cut just after a newline; none empty."""
    data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    cuts = cut_points(io.BytesIO(data), len(data), piece_bytes)
    assert cuts[0] == 0 and cuts[-1] == len(data)
    assert all(a < b for a, b in itertools.pairwise(cuts)) or cuts == [0, 0]
    assert all(data[cut - 1 : cut] == b"\n" for cut in cuts[1:-1])
    # a piece ends at the first line end at or after its target: no piece is much bigger than asked
    for start, end in itertools.pairwise(cuts[:-1]):
        assert b"\n" not in data[start + piece_bytes - 1 : end - 1]


def test_plan_reads_a_compressed_file_whole_and_cuts_a_big_one(tmp_path: Path) -> None:
    small, packed, big = tmp_path / "small.log", tmp_path / "old.log.gz", tmp_path / "big.log"
    small.write_bytes(LINE * 3)
    packed.write_bytes(gzip.compress(LINE * 1000))
    big.write_bytes(LINE * 1000)
    pieces = plan([str(packed), str(small), str(big)], None, None, 10 * len(LINE))
    assert [(p.file, p.index, p.start, p.end, p.whole, p.log_format) for p in pieces[:2]] == [
        (0, 0, 0, None, True, None),
        (1, 0, 0, 3 * len(LINE), True, None),
    ]
    cut = pieces[2:]
    assert len(cut) == 100 and {p.log_format for p in cut} == {"combined"} and not any(p.whole for p in cut)
    assert [(p.start, p.end) for p in cut] == [
        (n * 10 * len(LINE), (n + 1) * 10 * len(LINE)) for n in range(100)
    ]


def test_plan_refuses_standard_input() -> None:
    with pytest.raises(UsageError, match="regular files"):
        plan(["-"], None, None, 1024)
