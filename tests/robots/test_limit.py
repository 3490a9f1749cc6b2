"""The 500 KiB a crawler reads of a robots.txt, for local files as for fetched ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from botguard.errors import InputError
from botguard.robots import RobotsTxt, fetch, limit
from botguard.robots.records import Truncation

from . import gen

KIB = 1024


def _padded(tail: bytes, fill_to: int = limit.MAX_BYTES - 20) -> bytes:
    return gen.padded(b"User-agent: *\nDisallow: /cart\n", tail, fill_to)


def test_fetch_and_local_files_share_one_limit() -> None:
    """The fetcher's cap is the same 500 KiB constant local files are cut at."""
    assert limit.MAX_BYTES == 500 * KIB
    assert fetch.FetchSettings().max_bytes is limit.MAX_BYTES


def test_body_within_the_limit_is_kept_whole() -> None:
    """Exactly 500 KiB is not cut, and nothing is reported."""
    body = _padded(b"", limit.MAX_BYTES)
    assert len(body) == limit.MAX_BYTES
    assert limit.cut(body) == (body, None)


def test_600_kib_is_cut_at_500_kib_mid_line() -> None:
    """A line that straddles the limit is kept up to the cut, as Google's crawler reads it."""
    body = _padded(b"Disallow: /private-area\n" + b"Disallow: /\n" * (100 * KIB // 12))
    assert len(body) >= 600 * KIB
    kept, truncation = limit.cut(body, len(body))
    assert len(kept) == limit.MAX_BYTES
    assert kept.endswith(b"\nDisallow: /private-a")
    assert truncation == Truncation(len(body), limit.MAX_BYTES, kept.count(b"\n") + 1, True)
    robots = RobotsTxt.parse(kept)
    last = robots.explain("FooBot", "/private-a")
    assert last is not None and last.line == truncation.line and last.pattern == "/private-a"
    assert robots.is_allowed("FooBot", "/elsewhere")  # the Disallow: / lines past the cut are ignored


@pytest.mark.parametrize(
    ("last", "rest", "partial"),
    [
        (b"Disallow: /ab", b"\nDisallow: /", False),  # the limit falls right before the line end
        (b"Disallow: /ab\r", b"\nDisallow: /", False),  # between CR and LF: one line end, complete
        (b"Disallow: /ab", b"c\nDisallow: /", True),
    ],
)
def test_where_the_limit_falls(last: bytes, rest: bytes, partial: bool) -> None:
    """The last line read is partial only when the limit falls inside it."""
    body = _padded(last + rest, limit.MAX_BYTES - len(last))
    kept, truncation = limit.cut(body)
    assert kept.endswith(b"\n" + last)
    assert truncation is not None and truncation.partial is partial and truncation.size is None
    assert truncation.line == len(kept.splitlines())
    assert ("is cut at the limit" in str(truncation)) is partial


def test_read_robots_reads_only_what_counts(tmp_path: Path) -> None:
    """A 10 MiB file: 500 KiB read, its whole size named in the message."""
    path = tmp_path / "robots.txt"
    path.write_bytes(_padded(b"Disallow: /x\n" * (10 * 1024 * KIB // 13))[: 10 * 1024 * KIB])
    body, truncation = limit.read_robots(str(path))
    assert len(body) == limit.MAX_BYTES
    assert truncation is not None and truncation.size == path.stat().st_size
    assert str(truncation).startswith("only the first 500 KiB of 10.0 MiB is read, as Google reads it: ")


def test_read_robots_small_file_and_missing_file(tmp_path: Path) -> None:
    """A small file is read whole with no truncation; a missing one is a one-line input error."""
    path = tmp_path / "robots.txt"
    path.write_bytes(b"User-agent: *\nDisallow: /\n")
    assert limit.read_robots(str(path)) == (path.read_bytes(), None)
    with pytest.raises(InputError, match=r"cannot read robots\.txt: No such file"):
        limit.read_robots(str(tmp_path / "missing.txt"))
