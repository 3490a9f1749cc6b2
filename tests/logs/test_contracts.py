"""Contract checks run over every registered format (no opt-out list).

Each check is a plain function ``check_*(fmt)``; the test matrix is (format x check) with ids
like ``combined:check_garbage_is_counted_never_raised``.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.logs.escapes import escape_raw_bytes
from botguard.logs.formats import FORMATS, BlockFormat, LogFormat
from botguard.logs.readers import split_lines
from botguard.logs.records import REQUEST_SCHEMA

from .conftest import FIXTURES, log_bytes, real_logs

GARBAGE = (FIXTURES / "garbage.log").read_bytes().decode("utf-8", "replace").split("\n") + [
    "{",
    "{}",
    "[]",
    '{"a": [1, 2',
    "null",
    '"just a string"',
    "\x00",
    "\ufffd" * 10,
    '"' * 7,
    "\\",
    '{"request": {"x": 1}}',
]


def _parse(fmt: LogFormat, lines: list[str | None]):
    return fmt.parse_batch(pl.Series(lines, dtype=pl.String), source="c.log", first_line_no=5)


def check_satisfies_protocol(fmt: LogFormat) -> None:
    assert isinstance(fmt, LogFormat)
    assert FORMATS[fmt.name] is fmt and fmt.description


def check_garbage_is_counted_never_raised(fmt: LogFormat) -> None:
    rows, stats = _parse(fmt, GARBAGE)
    assert stats.lines == len(GARBAGE) == stats.parsed + stats.malformed
    assert stats.malformed == sum(stats.malformed_by_reason.values())
    assert rows.height == stats.parsed


def check_schema_is_exact(fmt: LogFormat) -> None:
    rows, _ = _parse(fmt, GARBAGE)
    assert rows.schema == pl.Schema(REQUEST_SCHEMA)


def check_empty_batch(fmt: LogFormat) -> None:
    rows, stats = _parse(fmt, [])
    assert (rows.height, stats.lines, stats.parsed, stats.malformed) == (0, 0, 0, 0)
    assert rows.schema == pl.Schema(REQUEST_SCHEMA)


def check_blank_and_null_lines_are_empty(fmt: LogFormat) -> None:
    _, stats = _parse(fmt, ["", None, "  "])
    assert dict(stats.malformed_by_reason) == {"empty": 3}


def check_line_numbers_follow_first_line_no(fmt: LogFormat) -> None:
    _, stats = _parse(fmt, ["x", "y"])
    assert sorted(n for _, n, _ in stats.malformed_examples) == [5, 6]


def check_block_equals_lines(fmt: LogFormat) -> None:
    """A BlockFormat's parse_block gives exactly what parse_batch gives on the same lines (the
    block as the file holds it, the lines with bytes that are not UTF-8 escaped)."""
    if not isinstance(fmt, BlockFormat):
        return  # capability not offered: the reader uses parse_batch
    blocks = [(FIXTURES / "garbage.log").read_bytes(), b'\r\n\n \n"\n' + b'" ' * 40 + b"\n"]
    blocks += [log_bytes(p) for p in real_logs()]
    for block in blocks:
        data = block if block.endswith(b"\n") else block + b"\n"
        by_block = fmt.parse_block(data, source="b", first_line_no=3)
        by_lines = fmt.parse_batch(split_lines(escape_raw_bytes(data)), source="b", first_line_no=3)
        assert by_block[0].equals(by_lines[0])
        assert by_block[1] == by_lines[1]


CHECKS = [
    check_block_equals_lines,
    check_satisfies_protocol,
    check_garbage_is_counted_never_raised,
    check_schema_is_exact,
    check_empty_batch,
    check_blank_and_null_lines_are_empty,
    check_line_numbers_follow_first_line_no,
]


@pytest.mark.parametrize(
    "fmt, check",
    [(fmt, check) for fmt in FORMATS.values() for check in CHECKS],
    ids=[f"{name}:{check.__name__}" for name in FORMATS for check in CHECKS],
)
def test_contract(fmt, check):
    check(fmt)


def test_registry_has_the_documented_formats():
    """The formats the CLI documents are registered."""
    assert {"combined", "common", "vhost_combined", "json"} <= set(FORMATS)


@pytest.mark.parametrize("name", list(FORMATS))
@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.text(min_size=0, max_size=120), max_size=8))
def test_fuzz_never_raises(name, lines):
    """Arbitrary text never raises and every line is accounted for."""
    rows, stats = FORMATS[name].parse_batch(pl.Series(lines, dtype=pl.String), source="f")
    assert stats.parsed + stats.malformed == stats.lines == len(lines) and rows.height == stats.parsed


LOGGISH = st.text(alphabet='ab1 "\\[]-:/\r\x1f\x00é', max_size=60)
COMBINED_LINE = '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /{a} HTTP/1.1" 200 5 "{b}" "{c}"{d}'


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if isinstance(f, BlockFormat)])
@settings(max_examples=80, deadline=None)
@given(
    parts=st.lists(st.tuples(LOGGISH, LOGGISH, LOGGISH, LOGGISH), max_size=6),
    junk=st.lists(LOGGISH, max_size=3),
)
def test_fuzz_block_equals_lines(name, parts, junk):
    """parse_block and parse_batch agree on near-miss lines (quotes, backslashes, CR, 0x1F)."""
    lines = [COMBINED_LINE.format(a=a, b=b, c=c, d=d).replace("\n", " ") for a, b, c, d in parts] + [
        j.replace("\n", " ") for j in junk
    ]
    data = "".join(f"{line}\n" for line in lines).encode()
    fmt = FORMATS[name]
    by_block = fmt.parse_block(data, source="f", first_line_no=1)
    by_lines = fmt.parse_batch(split_lines(data), source="f", first_line_no=1)
    assert by_block[0].equals(by_lines[0])
    assert by_block[1] == by_lines[1]


RAW = st.sampled_from(
    [b"a", b" ", b'"', b"\\", b"\xc3\xbc", b"\xff", b"\xc3", b"\x80", b"\xf0\x9f\x98\x80", b"\xef\xbf\xbd"]
)


@pytest.mark.parametrize("name", [n for n, f in FORMATS.items() if isinstance(f, BlockFormat)])
@settings(max_examples=60, deadline=None)
@given(
    fields=st.lists(st.tuples(st.lists(RAW, max_size=6), st.lists(RAW, max_size=6)), min_size=1, max_size=6)
)
def test_a_block_with_bytes_that_are_not_utf8_reads_as_their_escapes(name, fields):
    """parse_block is handed the file's bytes: those that are not UTF-8 come out as the escapes
    the line path reads (never U+FFFD), the rest of the block as it is."""
    lines = [
        b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /x HTTP/1.1" 200 5 "%s" "%s"'
        % (b"".join(r), b"".join(a))
        for r, a in fields
    ]
    data = b"".join(line + b"\n" for line in lines)
    fmt = FORMATS[name]
    by_block = fmt.parse_block(data, source="f", first_line_no=1)
    by_lines = fmt.parse_batch(split_lines(escape_raw_bytes(data)), source="f", first_line_no=1)
    assert by_block[0].equals(by_lines[0])
    assert by_block[1] == by_lines[1]
