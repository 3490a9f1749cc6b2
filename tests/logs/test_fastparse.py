"""The compiled reader (botguard/logs/_fastparse.c) against the polars path it speeds up.

The polars path is the oracle: for every block, the kernel's rows merged with the polars
path's rows of the lines it handed back must equal the polars path's rows of the whole block,
and so must the counts (ParseStats, malformed examples included). Each corpus also says how
many lines the kernel took itself, so a kernel that handed every line back would fail too.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from botguard import native
from botguard.logs.formats import FORMATS
from botguard.logs.records import ParseStats
from botguard.logs.text import TemplateFormat
from tests.helpers import generated_day, run_cli

from .conftest import ELASTIC, log_bytes, real_logs

FAST_FORMATS = ("common", "combined", "vhost_combined")
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def native_off(off: bool) -> Iterator[None]:
    """Run the block with the kernels turned off (``off``) or on, whatever the environment says."""
    before = os.environ.get(native.DISABLE_VARIABLE)
    os.environ[native.DISABLE_VARIABLE] = "1" if off else ""
    try:
        yield
    finally:
        if before is None:
            del os.environ[native.DISABLE_VARIABLE]
        else:
            os.environ[native.DISABLE_VARIABLE] = before


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
    assert native.kernel("logs._fastparse") is not None
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
    f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua" 0.003',
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
    quote, odd spacing, a CR, a NUL, non-ASCII, appended fields, a long agent) are handed back."""
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

OCTETS = st.sampled_from(["0", "1", "01", "9", "10", "99", "100", "199", "200", "249", "250", "255", "256", "999"])
IPV4 = st.lists(OCTETS, min_size=3, max_size=5).map(".".join)
IPV6 = st.sampled_from(
    ["2001:db8::1", "2001:DB8::1", "2001:db8:0:0:0:0:0:1", "2001:db8::0:1", "::1", "::", "::ffff:1.2.3.4",
     "::1.2.3.4", "fe80::1%eth0", "1:2:3:4:5:6:7:8", "1:0:0:2::3", "1::2:0:0:3", "2001:db8:0:1:1:1:1:1",
     "1:2:3:4:5:6:7::", "12345::1", "a:b", "2a00:23c7:3ce4:c33e:7632:9a4d:ff42:c16"]
)  # fmt: skip
TEXT = st.text(st.sampled_from('ab -"\\\x00\r\t\x1f\x7fé/?=%:[]x'), max_size=12)
FIELD = st.one_of(
    st.sampled_from(["-", "", "Mozilla/5.0 (X11)", "http://r.example/?q=1", "a\\", "a\\x0A", "x" * 17_000]),
    TEXT,
)
MONTHS = st.sampled_from(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "may", "Foo"])


@st.composite
def times(draw: st.DrawFn) -> str:
    """A time near "dd/Mon/yyyy:HH:MM:SS +hhmm": real dates, 31/Feb, 24:00, :60, +2400 ..."""
    day, hour, minute, second = (draw(st.integers(0, n)) for n in (32, 25, 61, 61))
    year = draw(st.sampled_from([999, 1000, 1970, 1999, 2000, 2023, 2024, 2100, 9999]))
    sign = draw(st.sampled_from("+- "))
    offset = f"{draw(st.integers(0, 25)):02d}{draw(st.sampled_from([0, 30, 59, 60, 99])):02d}"
    when = f"{day:02d}/{draw(MONTHS)}/{year:04d}:{hour:02d}:{minute:02d}:{second:02d} {sign}{offset}"
    return draw(st.one_of(st.just(when), TEXT))


@st.composite
def requests(draw: st.DrawFn) -> str:
    method = draw(st.sampled_from(["GET", "POST", "get", "G3T", "", "CONNECT", "A" * 33, "PROPFIND", "M-_"]))
    target = draw(st.sampled_from(["/", "/a?b=1", "http://x/y", "*", "", "/a b", "/\\x", "/%20", "x.com:443"]))
    protocol = draw(st.sampled_from(["HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/1.", "HTTP/11", "http/1.1", ""]))
    gap = draw(st.sampled_from([" ", " ", "  ", "\t"]))
    shaped = gap.join(part for part in (method, target, protocol) if part or draw(st.booleans()))
    return draw(st.one_of(st.just(shaped), st.sampled_from(["", "-", "SSH-2.0-Go", "\\x16\\x03\\x01"]), TEXT))


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    """One line shaped like the built-in formats, with hostile values in any field."""
    host = draw(st.sampled_from(["www.example.com", "Example.COM:8080", "-", ":80", "a:b", "[::1]:443", ""]))
    ip = draw(st.one_of(IPV4, IPV6, TEXT))
    ident, user = draw(st.sampled_from(["-", "bob", "", "a b"])), draw(st.sampled_from(["-", "u", "[x]"]))
    status = draw(st.sampled_from(["200", "404", "000", "099", "100", "999", "-", "20", "2000", "abc"]))
    size = draw(st.sampled_from(["0", "123", "-", "007", "9" * 18, "9" * 19, "", "-1"]))
    tail = draw(st.sampled_from(["", "", " 0.003", ' "x"', "\r", " "]))
    line = f'{ip} {ident} {user} [{draw(times())}] "{draw(requests())}" {status} {size}'
    if draw(st.booleans()):
        line += f' "{draw(FIELD)}" "{draw(FIELD)}"'
    if draw(st.booleans()):
        line = f"{host} {line}"
    raw = (line + tail).encode("utf-8")
    return draw(st.one_of(st.just(raw), st.just(raw.replace("é".encode(), b"\xe9")), st.binary(max_size=40)))


@given(
    st.lists(lines(), min_size=1, max_size=12),
    st.sampled_from(FAST_FORMATS),
    st.sampled_from(["\n", "\n", "\r\n"]),
    st.integers(0, 3),
)
@example([f'1.2.3.4 - - {T} "GET / HTTP/1.1" 200 5 "-" "ua"'.encode()], "combined", "\n", 0)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_blocks_equal(block: list[bytes], fmt: str, newline: str, cut: int):
    """Generated blocks of near-valid and hostile lines, some cut mid-line: the same rows and
    counts with the kernel as without it, in every built-in format."""
    data = newline.encode().join(block) + newline.encode()
    both(data[: len(data) - cut] if cut else data, fmt, first_line_no=3)
