"""Malformed lines are counted exactly, with one reason each, and never become rows."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.logs import read_batches
from botguard.logs._malformed import MAX_LINE_BYTES, short_lines
from botguard.logs.formats import FORMATS
from botguard.logs.readers import split_lines
from botguard.logs.records import ParseStats

from .conftest import FIXTURES, parse

GARBAGE = FIXTURES / "garbage.log"
EXPECTED_REASONS = {
    "empty": 2,
    "unterminated_quote": 2,
    "format_mismatch": 3,
    "binary": 2,
    "too_long": 1,
    "bad_timestamp": 1,
    "comment": 1,
}


def _read(path, **kwargs) -> tuple[list, ParseStats]:
    total = ParseStats()
    rows = []
    for batch in read_batches([str(path)], "combined", **kwargs):
        total.merge(batch.stats)
        rows.extend(batch.requests.iter_rows(named=True))
    return rows, total


@pytest.mark.parametrize("chunk_bytes", [16 * 1024 * 1024, 4096, 97])
def test_garbage_corpus_exact_counts(chunk_bytes):
    """Every garbage line is counted once with its reason, whatever the read block size."""
    rows, stats = _read(GARBAGE, chunk_bytes=chunk_bytes)
    assert (stats.lines, stats.parsed, stats.malformed, stats.invalid_requests) == (16, 4, 12, 1)
    assert dict(stats.malformed_by_reason) == EXPECTED_REASONS
    assert [r["line_no"] for r in rows] == [1, 7, 12, 13]
    assert rows[1]["user_agent"] == r"Mozilla/5.0 \xff\xfe"  # invalid UTF-8 read as its escape, line kept
    assert rows[3]["user_agent"] == "Mozilla/5.0"  # CRLF stripped


def test_examples_are_located_and_truncated():
    """Examples name file and line; long text is cut to about 300 characters."""
    _, stats = _read(GARBAGE)
    by_line = {line_no: text for source, line_no, text in stats.malformed_examples}
    assert {source for source, _, _ in stats.malformed_examples} == {str(GARBAGE)}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 8, 9, 10, 11, 14, 15, 16]
    assert by_line[4].endswith('"GET /index.ht')
    assert len(by_line[9]) <= 301 and by_line[9].endswith("…")


def test_endless_line_is_one_too_long_line(tmp_path):
    """A line longer than any block is cut, counted once as too_long, and reading continues."""
    good = b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"\n'
    path = tmp_path / "endless.log"
    path.write_bytes(good + b"x" * 300_000 + b"\n" + good)
    rows, stats = _read(path, chunk_bytes=1000)
    assert (stats.lines, stats.parsed, dict(stats.malformed_by_reason)) == (3, 2, {"too_long": 1})
    assert [r["line_no"] for r in rows] == [1, 3]


def test_malformed_lines_never_become_rows():
    """Parsed + malformed == lines, and no malformed line number appears among the rows."""
    lines = GARBAGE.read_bytes().decode("utf-8", "replace").split("\n")[:-1]
    rows, stats = parse(lines)
    assert stats.parsed + stats.malformed == stats.lines == len(lines)
    bad = {line_no for _, line_no, _ in stats.malformed_examples}
    assert bad.isdisjoint(rows["line_no"].to_list())


def test_reason_counts_merge_across_batches():
    """Stats merged over small batches equal the stats of one batch."""
    _, small = _read(GARBAGE, batch_lines=3)
    _, whole = _read(GARBAGE)
    assert (small.lines, small.parsed, small.malformed, small.malformed_by_reason) == (
        whole.lines,
        whole.parsed,
        whole.malformed,
        whole.malformed_by_reason,
    )
    assert isinstance(small.malformed_by_reason, Counter)


def _line_of(length: int) -> bytes:
    """A combined line of exactly ``length`` bytes (the agent padded)."""
    head = b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /x HTTP/1.1" 200 5 "-" "'
    return head + b"a" * (length - len(head) - 1) + b'"'


@pytest.mark.parametrize("cut", [0, 1, 5, 9, 10, 11, 50])
@pytest.mark.parametrize(
    "length",
    [
        MAX_LINE_BYTES // 2 - 1,
        MAX_LINE_BYTES // 2 + 1,
        MAX_LINE_BYTES - 9,
        MAX_LINE_BYTES,
        MAX_LINE_BYTES + 1,
    ],
)
def test_lines_near_the_length_limit_read_the_same_from_a_block_and_as_lines(length, cut):
    """The block path leaves its per-row size check out when :func:`short_lines` vouches for
    the block: around both halves of the limit it still agrees with the line path, and a line
    one byte too long is too_long either way."""
    short = _line_of(200)
    data = short + b"\n" + b"b" * cut + _line_of(length)[cut:] + b"\n" + short + b"\n"
    fmt = FORMATS["combined"]
    by_block = fmt.parse_block(data, source="f", first_line_no=1)
    by_lines = fmt.parse_batch(split_lines(data), source="f", first_line_no=1)
    assert by_block[0].equals(by_lines[0]) and by_block[1] == by_lines[1]
    assert by_block[1].malformed_by_reason.get("too_long", 0) == (length > MAX_LINE_BYTES)


@settings(max_examples=200, deadline=None)
@given(
    lengths=st.lists(st.integers(0, MAX_LINE_BYTES + 2), min_size=1, max_size=8), shift=st.integers(0, 4096)
)
def test_short_lines_never_vouches_for_a_block_with_a_long_line(lengths, shift):
    """short_lines(data) is True only when every line is at most half the limit, and it is True
    for a block of ordinary lines (else it would save nothing)."""
    data = b"x" * shift + b"\n" + b"".join(b"y" * n + b"\n" for n in lengths)
    longest = max([shift, *lengths])
    if short_lines(data):
        assert longest <= MAX_LINE_BYTES // 2
    if longest < MAX_LINE_BYTES // 4:
        assert short_lines(data)
