"""The compiled reader (botguard/logs/_fastparse.c) against the polars path it speeds up.

The polars path is the oracle: for every block, the kernel's rows merged with the polars
path's rows of the lines it handed back must equal the polars path's rows of the whole block,
and so must the counts (ParseStats, malformed examples included). Each corpus also says how
many lines the kernel took itself, so a kernel that handed every line back would fail too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TypeVar

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from botguard import native
from botguard.logs.formats import FORMATS
from botguard.logs.records import ParseStats
from botguard.logs.text import TemplateFormat
from tests.helpers import generated_day, native_off, run_cli

from .conftest import ELASTIC, log_bytes, real_logs

FAST_FORMATS = ("common", "combined", "vhost_combined")
ROOT = Path(__file__).resolve().parents[2]


def both(data: bytes, fmt: str = "combined", first_line_no: int = 1) -> tuple[pl.DataFrame, ParseStats]:
    """The kernel's parse of ``data``, checked equal to the polars path's (frame and counts)."""
    log_format = FORMATS[fmt]
    with native_off(True):
        expected, expected_stats = log_format.parse_block(data, source="t.log", first_line_no=first_line_no)
    with native_off(False):
        got, stats = log_format.parse_block(data, source="t.log", first_line_no=first_line_no)
    assert_frame_equal(got, expected)
    assert stats == expected_stats
    return got, stats


def taken(data: bytes, fmt: str = "combined") -> int:
    """How many lines of ``data`` the kernel reads itself."""
    log_format = FORMATS[fmt]
    assert isinstance(log_format, TemplateFormat)
    kernel = log_format.fast_reader()
    assert kernel is not None
    layout = {"common": kernel.COMMON, "combined": kernel.COMBINED, "vhost_combined": kernel.VHOST_COMBINED}
    return kernel.parse(data, 1, layout[fmt])[0].rows


def test_the_kernel_is_built():
    """The test venv compiled the kernel: CI proves the fast path runs instead of skipping it."""
    assert native.kernel("logs._fastparse") is not None, (
        "botguard/logs/_fastparse.c was not compiled: install gcc and python3-dev, then `make` again"
    )
    assert all(FORMATS[name].fast_reader() is not None for name in FAST_FORMATS)  # type: ignore[attr-defined]


def test_the_kernel_can_be_turned_off():
    """BOTGUARD_NO_NATIVE=1: the built-in formats read with the polars path alone."""
    with native_off(True):
        assert all(FORMATS[name].fast_reader() is None for name in FAST_FORMATS)  # type: ignore[attr-defined]


def test_elastic_log_equal():
    """Elastic's 10,000-line Apache log: the same rows and counts; every line but the one cut
    in its agent (malformed) read by the kernel, Apache's \\xHH escapes included."""
    data = log_bytes(ELASTIC)
    _, stats = both(data, first_line_no=7)
    assert (stats.lines, stats.parsed) == (10_000, 9_999)
    assert taken(data) == 9_999


@pytest.mark.parametrize("path", real_logs(), ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", FAST_FORMATS)
def test_real_logs_equal(path: Path, fmt: str):
    """Every real log the tests can read, read as each built-in format: the same rows and counts."""
    both(log_bytes(path), fmt)


def test_example_log_equal():
    """The bundled example log, whole and cut in the middle of a line."""
    data = (ROOT / "examples" / "access.log").read_bytes()
    _, stats = both(data)
    assert taken(data) > 0.9 * stats.lines
    for fmt in FAST_FORMATS:
        both(data[: len(data) // 2], fmt, first_line_no=100)


@pytest.fixture(scope="module")
def bench_slice(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """20,000 lines of the bench log's generator (its scanners, TLS junk and IPv6 included)."""
    folder = tmp_path_factory.mktemp("bench")
    generated_day(folder / "access.log", folder / "robots.txt", lines=20_000, seed=1)
    return (folder / "access.log").read_bytes()


def test_bench_slice_equal(bench_slice: bytes):
    """The generator's log: the same rows and counts, at least 99.9% of lines read by the kernel."""
    _, stats = both(bench_slice, first_line_no=1_000_001)
    assert stats.lines >= 20_000
    assert taken(bench_slice) >= 0.999 * stats.lines


def test_bench_slice_through_the_reader_equal(bench_slice: bytes, tmp_path: Path):
    """``botguard scan`` gives the same JSON with the kernel and with BOTGUARD_NO_NATIVE=1."""
    bench = str(ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    from scan_equal import canonical

    log = tmp_path / "access.log"
    log.write_bytes(bench_slice + (ROOT / "examples" / "access.log").read_bytes())
    docs = []
    for off in (False, True):
        with native_off(off):
            r = run_cli("scan", str(log), "--format", "json", "--no-dns", "--no-save")
        assert r.exit_code == 0, r.output
        docs.append(canonical(json.loads(r.stdout)))
    assert docs[0] == docs[1]


T = "[17/May/2015:10:05:03 +0000]"
TAKEN = [
    f'1.2.3.4 - - {T} "GET /a?b=1 HTTP/1.1" 200 5 "-" "curl/8"',
    f'1.2.3.4 - bob {T} "POST / HTTP/2" 404 - "http://r/" "-"',
    f'2001:db8::1 - - {T} "GET / HTTP/1.0" 301 0 "" ""',
    f'0.0.0.0 - - {T} "" 400 0 "-" "-"',
    f'1.2.3.4 - - {T} "SSH-2.0-Go" 400 157 "-" "-"',
    f'1.2.3.4 - - {T} "\\x16\\x03\\x01 x" 400 157 "-" "a\\x0Ab"',
    f'1.2.3.4 - - [29/Feb/2024:23:59:59 -1159] "GET / HTTP/1.1" 599 {"9" * 18} "-" "ua"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 100 007 "-" "ua \\\\ \\x22 inside"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua" "-"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua" 0.003 "a" "b" "c\\" "d" e\\',
]
LEFT = [
    f'01.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"',
    f'256.1.1.1 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"',
    f'2001:DB8::1 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"',
    f'::ffff:1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"',
    f'fe80::1%eth0 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [31/Feb/2024:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [29/Feb/2023:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [17/May/2015:24:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [17/May/2015:10:05:60 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [17/May/2015:10:05:03 +2400] "GET / HTTP/1.1" 200 5 "-" "ua"',
    '1.2.3.4 - - [17/may/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "ua"',
    f'1.2.3.4 - - {T} "GET http://x/y HTTP/1.1" 200 5 "-" "ua"',
    f'1.2.3.4 - - {T} "GET  / HTTP/1.1" 200 5 "-" "ua"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 099 5 "-" "ua"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 {"9" * 19} "-" "ua"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua\\\\"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua \\"quoted\\" inside"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua\x00"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua\r"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ué"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"\t0.003',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua""-"',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua" é',
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "{"x" * 20_000}"',
    f'1.2.3.4  - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"',
]


@pytest.mark.parametrize("line", TAKEN, ids=range(len(TAKEN)))
def test_lines_the_kernel_takes(line: str):
    """Lines nginx and Apache write: taken by the kernel, with the polars path's columns."""
    data = line.encode() + b"\n"
    assert taken(data) == 1
    rows, _ = both(data)
    assert rows.height == 1


@pytest.mark.parametrize("line", LEFT, ids=range(len(LEFT)))
def test_lines_the_kernel_leaves(line: str):
    """Near-valid lines (a date that does not exist, a non-canonical address, an escaped closing
    quote, odd spacing, a CR, a NUL, non-ASCII, odd appended fields, a long agent) are handed back."""
    data = line.encode() + b"\n"
    assert taken(data) == 0
    both(data)


def test_vhost_hosts():
    """vhost_combined: the host lower-cased without its port; "-" and an empty name are null."""
    lines = [
        f'{host} 1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"'
        for host in ("WWW.Example.com:8080", "a.b", "-", "-:80", ":443", "x_y-z.COM:")
    ]
    data = "\n".join(lines).encode() + b"\n"
    assert taken(data, "vhost_combined") == len(lines)
    rows, _ = both(data, "vhost_combined")
    assert rows["host"].to_list() == ["www.example.com", "a.b", None, None, None, "x_y-z.com"]


def test_a_block_cut_mid_line():
    """The last line of a block without its newline is handed back (the polars path reads it)."""
    line = f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"'.encode()
    data = line + b"\n" + line
    assert taken(data) == 1
    rows, stats = both(data)
    assert (rows.height, stats.lines) == (2, 2)


# --- hostile lines, generated ------------------------------------------------------------
# Each field is valid 19 times in 20 and hostile otherwise, so a generated line is often
# one the kernel takes, or one field away from it (a kernel that took too much fails here).

V = TypeVar("V")
HOSTILE_TEXT = st.text(st.sampled_from('ab -"\\\x00\r\t\x1f\x7fé/?=%:[]x'), max_size=12)
PRINTABLE = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"'), max_size=40
)


def field(
    valid: st.SearchStrategy[V], hostile: st.SearchStrategy[V], *, text: bool = True
) -> st.SearchStrategy[V]:
    """``valid`` 19 times in 20, else ``hostile`` (or, for a ``text`` field, hostile text)."""
    bad = st.one_of(hostile, HOSTILE_TEXT) if text else hostile
    return st.integers(0, 19).flatmap(lambda n: bad if n == 0 else valid)  # type: ignore[arg-type]


IPV4 = st.lists(st.integers(0, 255), min_size=4, max_size=4).map(lambda o: ".".join(map(str, o)))
BAD_IPV4 = st.lists(st.sampled_from(["0", "01", "00", "255", "256", "999", "1"]), min_size=3, max_size=5).map(
    ".".join
)
IPV6 = st.sampled_from(
    ["2001:db8::1", "1:2:3:4:5:6:7:8", "1:0:0:2::3", "2001:db8:0:1:1:1:1:1", "1:2:3:4:5:6:7::",
     "2a00:23c7:3ce4:c33e:7632:9a4d:ff42:c16", "fe80::1"]
)  # fmt: skip
BAD_IPV6 = st.sampled_from(
    ["2001:DB8::1", "2001:db8:0:0:0:0:0:1", "2001:db8::0:1", "::1", "::", "::2", "::ffff:1.2.3.4", "::1.2.3.4",
     "fe80::1%eth0", "1::2:0:0:3", "12345::1", "a:b", "0:0:1::", "1:2:3:4:5:6:7:8:9"]
)  # fmt: skip
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@st.composite
def times(draw: st.DrawFn) -> str:
    """Real times "dd/Mon/yyyy:HH:MM:SS +hhmm", or near ones: 31/Feb, 24:00, :60, +2400 ..."""
    sloppy = draw(st.integers(0, 7)) == 0
    day = draw(st.integers(0, 32) if sloppy else st.integers(1, 28))
    hour, minute, second = (draw(st.integers(0, n + (2 if sloppy else 0))) for n in (23, 59, 59))
    month = draw(st.sampled_from(MONTHS + (["may", "Foo"] if sloppy else [])))
    year = draw(st.sampled_from([1000, 1970, 2000, 2023, 2024, 2100, 9999] + ([999] if sloppy else [])))
    sign = draw(st.sampled_from("+-" + (" " if sloppy else "")))
    offset = f"{draw(st.integers(0, 25 if sloppy else 23)):02d}{draw(st.sampled_from([0, 30, 59] + ([60, 99] if sloppy else []))):02d}"
    return f"{day:02d}/{month}/{year:04d}:{hour:02d}:{minute:02d}:{second:02d} {sign}{offset}"


TARGET = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'), max_size=30)


@st.composite
def requests(draw: st.DrawFn) -> str:
    """ "METHOD /target HTTP/x.y", or near it, or what scanners send instead."""
    method = draw(field(st.sampled_from(["GET", "POST", "PROPFIND", "M-_", "A" * 32]), st.sampled_from(
        ["get", "G3T", "", "CONNECT", "A" * 33])))  # fmt: skip
    target = draw(
        field(TARGET.map(lambda t: "/" + t), st.sampled_from(["http://x/y", "*", "", "/a b", "/\\x"]))
    )
    protocol = draw(field(st.sampled_from(["HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/1.0"]), st.sampled_from(
        ["HTTP/1.", "HTTP/11", "http/1.1", ""])))  # fmt: skip
    gap = draw(field(st.just(" "), st.sampled_from(["  ", "\t"])))
    shaped = gap.join(part for part in (method, target, protocol) if part or draw(st.booleans()))
    return draw(field(st.just(shaped), st.sampled_from(["", "-", "SSH-2.0-Go", "\\x16\\x03\\x01 x"])))


@st.composite
def lines(draw: st.DrawFn, fmt: str) -> bytes:
    """One line of ``fmt`` (a built-in format), hostile in a field now and then."""
    ip = draw(field(st.one_of(IPV4, IPV6), st.one_of(BAD_IPV4, BAD_IPV6)))
    ident = draw(field(st.sampled_from(["-", "bob"]), st.sampled_from(["", "a b", '"'])))
    user = draw(field(st.sampled_from(["-", "u", "[x]"]), st.just("")))
    status = draw(field(st.integers(100, 999).map(str), st.sampled_from(["000", "099", "-", "20", "2000"])))
    size = draw(field(st.integers(0, 10**18 - 1).map(str) | st.just("-"), st.sampled_from(
        ["007", "9" * 19, "", "-1"])))  # fmt: skip
    line = f'{ip} {ident} {user} [{draw(field(times(), st.just("")))}] "{draw(requests())}" {status} {size}'
    headers = draw(field(st.just(fmt != "common"), st.booleans(), text=False))
    if headers:
        referer, agent = (
            draw(field(PRINTABLE, st.sampled_from(["a\\", "\\", "x" * 17_000, "é"]))) for _ in range(2)
        )
        line += f' "{referer}" "{agent}"'
    host = draw(field(st.sampled_from(["www.example.com", "Example.COM:8080", "-", ":80", "x-y_z"]), st.sampled_from(
        ["a:b", "[::1]:443", "", "é"])))  # fmt: skip
    if draw(field(st.just(fmt == "vhost_combined"), st.booleans(), text=False)):
        line = f"{host} {line}"
    line += draw(st.sampled_from(["", "", "", ' "-"', " 0.003", ' "a" "b\\" "c" "d"']))
    line += draw(field(st.just(""), st.sampled_from(['"x"', "\r", " ", "\t1", " é"])))
    raw = line.encode("utf-8")
    hostile = st.one_of(st.just(raw.replace("é".encode(), b"\xe9")), st.binary(max_size=40))
    return draw(field(st.just(raw), hostile, text=False))


@st.composite
def blocks(draw: st.DrawFn) -> tuple[str, bytes]:
    """(format, a block of its lines), the block cut before its end now and then."""
    fmt = draw(st.sampled_from(FAST_FORMATS))
    newline = draw(field(st.just(b"\n"), st.just(b"\r\n"), text=False))
    data = newline.join(draw(st.lists(lines(fmt), min_size=1, max_size=12))) + newline
    cut = draw(field(st.just(0), st.integers(1, 5), text=False))
    return fmt, data[: len(data) - cut]


@given(blocks())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_blocks_equal(block: tuple[str, bytes]):
    """Generated blocks of valid, near-valid and hostile lines, some cut mid-line: the same rows
    and counts with the kernel as without it, in every built-in format."""
    fmt, data = block
    both(data, fmt, first_line_no=3)


def test_generated_lines_are_often_taken():
    """The generator above makes lines the kernel takes (else it would test only hand-backs)."""
    counts = {"lines": 0, "taken": 0}

    @given(blocks())
    @settings(max_examples=100, deadline=None, database=None)
    def count(block: tuple[str, bytes]) -> None:
        fmt, data = block
        counts["lines"] += data.count(b"\n")
        counts["taken"] += taken(data, fmt)

    count()
    assert counts["taken"] > 0.1 * counts["lines"]
