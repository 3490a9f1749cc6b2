"""Readers: compression by magic bytes, stdin, rotated sets oldest first, block boundaries."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botguard.errors import InputError, UsageError
from botguard.logs import read_batches
from botguard.logs.readers import order_paths
from botguard.logs.records import ParseStats

LINE = '1.2.3.4 - - [17/May/2015:10:0{n}:00 +0000] "GET /{n} HTTP/1.1" 200 5 "-" "ua"\n'


def log_bytes(*numbers: int) -> bytes:
    return "".join(LINE.format(n=n) for n in numbers).encode()


def targets(paths, **kwargs) -> list[tuple[str, int, str]]:
    out = []
    for batch in read_batches([str(p) for p in paths], **kwargs):
        out.extend(batch.requests.select("source", "line_no", "target").iter_rows())
    return out


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gz", "bz2", "xz"])
@pytest.mark.parametrize("name", ["access.log.1.gz", "renamed-without-suffix.log"])
def test_compressed_by_magic_bytes(tmp_path, compress, name):
    """gzip, bzip2 and xz are read transparently, recognised by content not suffix."""
    path = tmp_path / name
    path.write_bytes(compress(log_bytes(1, 2, 3)))
    assert [t for _, _, t in targets([path])] == ["/1", "/2", "/3"]


def test_multi_member_gzip(tmp_path):
    """Concatenated gzip members (as `cat a.gz b.gz` produces) are read whole."""
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(log_bytes(1)) + gzip.compress(log_bytes(2)))
    assert [t for _, _, t in targets([path])] == ["/1", "/2"]


def test_stdin(monkeypatch):
    """'-' reads standard input."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(log_bytes(1, 2))))
    assert targets(["-"]) == [("-", 1, "/1"), ("-", 2, "/2")]


def test_gzipped_stdin(monkeypatch):
    """Compressed stdin is recognised by its magic bytes too."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(log_bytes(4)))))
    assert [t for _, _, t in targets(["-"])] == ["/4"]


def test_rotated_set_read_oldest_first(tmp_path):
    """access.log.2.gz, then .1, then the live file, whatever order they are given in."""
    (tmp_path / "access.log").write_bytes(log_bytes(5))
    (tmp_path / "access.log.1").write_bytes(log_bytes(4))
    (tmp_path / "access.log.2.gz").write_bytes(gzip.compress(log_bytes(3)))
    (tmp_path / "access.log.10.gz").write_bytes(gzip.compress(log_bytes(1)))
    given = [
        tmp_path / "access.log",
        tmp_path / "access.log.2.gz",
        tmp_path / "access.log.10.gz",
        tmp_path / "access.log.1",
    ]
    assert [t for _, _, t in targets(given)] == ["/1", "/3", "/4", "/5"]


@pytest.mark.parametrize(
    "given, expected",
    [
        (["a.log", "a.log.1"], ["a.log.1", "a.log"]),
        (
            ["x/a.log.2.gz", "b.log", "x/a.log", "x/a.log.1"],
            ["x/a.log.2.gz", "x/a.log.1", "x/a.log", "b.log"],
        ),
        (
            ["a.log-20240102.gz", "a.log", "a.log-20240101.gz"],
            ["a.log-20240101.gz", "a.log-20240102.gz", "a.log"],
        ),
        (["site-2.log", "site-1.log"], ["site-2.log", "site-1.log"]),
        (["a.log", "a.log"], ["a.log"]),
        (["-", "a.log"], ["-", "a.log"]),
    ],
)
def test_order_paths(given, expected):
    """Rotation order table: numbered highest first, dated oldest first, live last; sets keep order."""
    assert order_paths(given) == expected


def test_line_numbers_per_file_across_blocks_and_batches(tmp_path):
    """Line numbers restart per file and stay exact across read blocks and batches."""
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(log_bytes(*range(10)))
    b.write_bytes(log_bytes(1, 2))
    got = targets([a, b], chunk_bytes=100, batch_lines=3)
    assert [(s[-5:], n) for s, n, _ in got] == [("a.log", i) for i in range(1, 11)] + [
        ("b.log", 1),
        ("b.log", 2),
    ]


def test_batch_size_is_bounded(tmp_path):
    """No batch holds more than batch_lines lines."""
    path = tmp_path / "a.log"
    path.write_bytes(log_bytes(*range(10)) * 10)
    sizes = [b.stats.lines for b in read_batches([str(path)], batch_lines=7)]
    assert max(sizes) <= 7 and sum(sizes) == 100


def test_no_trailing_newline_and_crlf(tmp_path):
    """The last line needs no newline; CRLF line ends are accepted."""
    path = tmp_path / "a.log"
    path.write_bytes(log_bytes(1).replace(b"\n", b"\r\n") + log_bytes(2).rstrip(b"\n"))
    assert [t for _, _, t in targets([path])] == ["/1", "/2"]


def test_empty_file(tmp_path):
    """An empty file yields no batch and no error."""
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert list(read_batches([str(path)])) == []


def test_blank_only_file_counts_lines(tmp_path):
    """A file of blank lines is read (no detection error): every line is malformed 'empty'."""
    path = tmp_path / "blank.log"
    path.write_bytes(b"\n\n  \n")
    (batch,) = read_batches([str(path)])
    assert (batch.stats.lines, batch.stats.malformed, dict(batch.stats.malformed_by_reason)) == (
        3,
        3,
        {"empty": 3},
    )


def test_missing_file_fails_before_any_batch(tmp_path):
    """An unreadable path raises InputError when read_batches is called, naming the file."""
    good = tmp_path / "a.log"
    good.write_bytes(log_bytes(1))
    with pytest.raises(InputError, match=r"no such file in .*missing\.log"):
        read_batches([str(good), str(tmp_path / "missing.log")])


def test_directory_is_an_input_error(tmp_path):
    """A directory is not expanded here (the caller globs): a clear InputError."""
    with pytest.raises(InputError, match="is a directory"):
        read_batches([str(tmp_path)])


def test_unknown_format_name_is_a_usage_error(tmp_path):
    """An unknown format name is a UsageError with a one-line reason listing known names."""
    with pytest.raises(UsageError, match=r"unknown log format 'apache2' \(known: combined, common"):
        read_batches([str(tmp_path)], "apache2")


def test_zstd_is_refused_clearly(tmp_path):
    """zstd content gets a one-line InputError with the workaround."""
    path = tmp_path / "a.log.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 20)
    with pytest.raises(InputError, match="zstd"):
        list(read_batches([str(path)]))


def test_truncated_gzip_keeps_its_lines_and_warns(tmp_path):
    """A cut .gz gives every whole line before the cut (across small blocks) and one warning
    naming the file and the line it stopped at; the cut line itself is dropped, not malformed."""
    whole = gzip.compress(b"".join(log_bytes(n % 10) for n in range(3000)))
    path = tmp_path / "a.log.gz"
    path.write_bytes(whole[: len(whole) // 2])
    readable = zlib.decompressobj(wbits=31).decompress(path.read_bytes()).count(b"\n")
    assert 0 < readable < 3000
    stats = ParseStats()
    for batch in read_batches([str(path)], chunk_bytes=1000):
        stats.merge(batch.stats)
    assert (stats.lines, stats.parsed) == (readable, readable)
    assert stats.warnings == [
        f"{path}:{readable + 1}: truncated or corrupt compressed data (Compressed file ended before the "
        "end-of-stream marker was reached); the rest of this file could not be read"
    ]


def test_stopping_early_releases_the_reader(tmp_path):
    """Abandoning the iterator part-way neither hangs nor leaks the reader thread."""
    import threading

    path = tmp_path / "a.log"
    path.write_bytes(log_bytes(*range(10)) * 200)
    batches = read_batches([str(path)], chunk_bytes=1000)
    next(batches)
    batches.close()
    assert not [t for t in threading.enumerate() if t.name == "botguard-reader"]


def test_a_block_parsed_in_pieces_is_the_batch_parsed_whole(tmp_path, monkeypatch):
    """A block is parsed a few KiB at a time (bounded working memory) and handed on as one
    batch: the same rows, line numbers, counts and first malformed examples as a parse of the
    whole block at once, with malformed lines on both sides of every cut."""
    from botguard import logs
    from botguard.logs.formats import FORMATS

    lines = [
        LINE.format(n=n % 10).replace("GET /", f"GET /p{n}/", 1) if n % 37 else f"junk line {n}\n"
        for n in range(3000)
    ]
    data = "".join(lines).encode()
    whole_rows, whole = FORMATS["combined"].parse_block(data, source="x.log", first_line_no=1)
    monkeypatch.setattr(logs, "PARSE_BYTES", 4096)  # ~45 lines a piece: ~60 pieces
    [batch] = list(logs.parse_block(FORMATS["combined"], data, "x.log", 1, 500_000))
    assert batch.requests.equals(whole_rows)
    assert batch.requests["line_no"].is_sorted() and batch.requests.height == whole.parsed
    assert (batch.stats.lines, batch.stats.parsed, batch.stats.malformed) == (3000, whole.parsed, 82)
    assert batch.stats.malformed_by_reason == whole.malformed_by_reason
    assert batch.stats.malformed_examples == whole.malformed_examples
    assert [n for _, n, _ in batch.stats.malformed_examples] == [1 + 37 * i for i in range(20)]


_PIECES = st.lists(
    st.sampled_from([b"", b"a", b"bc\r", b"\xff\xfe", b"x" * 40, b'"q"', b"y" * 300]), max_size=30
)


@settings(max_examples=150, deadline=None)
@given(lines=_PIECES, chunk=st.sampled_from([1, 7, 41, 64, 301, 4096]), last_newline=st.booleans())
def test_blocks_are_the_bytes_cut_at_newlines_whatever_the_read_size(lines, chunk, last_newline):
    """Blocks put back together are the input, each one whole lines (reads that end at a
    newline, inside a line, or inside a line already carried over from the read before)."""
    from botguard.logs.readers import iter_blocks

    data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    blocks = list(iter_blocks(io.BytesIO(data), chunk, "x.log"))
    assert b"".join(blocks) == data
    assert all(block.endswith(b"\n") for block in blocks[:-1])
    assert all(blocks)


def test_a_line_longer_than_the_limit_is_cut_and_the_rest_skipped():
    """Leniency: a line that outgrows the limit across reads is cut to the limit plus one byte
    (the parser's too_long), the rest of it is skipped, and the lines around it come through
    whole."""
    from botguard.logs._malformed import MAX_LINE_BYTES
    from botguard.logs.readers import iter_blocks

    data = b"first\n" + b"z" * (MAX_LINE_BYTES * 2) + b"\nlast\n"
    for chunk in (1000, MAX_LINE_BYTES // 3):
        text = b"".join(iter_blocks(io.BytesIO(data), chunk, "x.log"))
        assert text.split(b"\n") == [b"first", b"z" * (MAX_LINE_BYTES + 1), b"last", b""], chunk
