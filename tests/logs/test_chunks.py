"""Chunks of followed lines become request batches with the scan's parsers; junk is counted."""

from __future__ import annotations

from pathlib import Path

from botguard.logs.chunks import ChunkParser
from botguard.logs.follow import LogFollower
from botguard.logs.records import REQUEST_SCHEMA

LINE = (
    '203.0.{h}.{l} - - [26/Nov/2026:00:00:{s:02d} +0000] "GET /p/{n} HTTP/1.1" 200 512 "-" "NovaScrape/1.0"\n'
)


def line(n: int, s: int) -> str:
    """Line ``n`` of a followed log, from address 203.0.113.n (n < 256) on: every address a real one."""
    return LINE.format(n=n, s=s, h=113 + n // 256, l=n % 256)


def test_chunks_parse_to_request_schema_with_file_line_numbers(tmp_path: Path) -> None:
    """Rows carry the watched path and the line numbers of the file, across chunks."""
    log = tmp_path / "access.log"
    log.write_text("".join(line(n, n % 60) for n in range(1, 301)))
    follower, parser = LogFollower([str(log)], chunk_bytes=2000), ChunkParser()
    batches = [parser.parse(chunk) for chunk in follower.poll()]
    assert len(batches) > 5
    requests = [b.requests for b in batches]
    assert all(dict(r.schema) == REQUEST_SCHEMA for r in requests)
    line_nos = [n for r in requests for n in r["line_no"].to_list()]
    assert line_nos == list(range(1, 301))
    assert {s for r in requests for s in r["source"].to_list()} == {str(log)}
    assert sum(b.stats.parsed for b in batches) == 300


def test_malformed_lines_counted_never_raised(tmp_path: Path) -> None:
    """Garbage, binary and over-long junk in a followed log is counted as malformed, with reasons."""
    log = tmp_path / "access.log"
    log.write_bytes(line(1, 1).encode() + b"garbage here\n\x00\x01\x02\n" + line(2, 2).encode())
    parser = ChunkParser()
    (batch,) = [parser.parse(chunk) for chunk in LogFollower([str(log)]).poll()]
    assert (batch.stats.lines, batch.stats.parsed, batch.stats.malformed) == (4, 2, 2)
    assert batch.requests["line_no"].to_list() == [1, 4]


def test_detection_waits_for_a_readable_chunk(tmp_path: Path) -> None:
    """A first chunk no format reads is counted malformed; the next chunk is detected and parsed."""
    log = tmp_path / "access.log"
    log.write_text("junk 1\njunk 2\n")
    follower, parser = LogFollower([str(log)]), ChunkParser()
    (first,) = [parser.parse(chunk) for chunk in follower.poll()]
    assert (first.stats.parsed, first.stats.malformed) == (0, 2)
    with open(log, "a") as handle:
        handle.write(line(7, 7))
    (second,) = [parser.parse(chunk) for chunk in follower.poll()]
    assert second.stats.parsed == 1 and second.requests["user_agent"].to_list() == ["NovaScrape/1.0"]


def test_fixed_log_format(tmp_path: Path) -> None:
    """--log-format is used as given (common reads the combined line without its user agent)."""
    log = tmp_path / "access.log"
    log.write_text(line(1, 1))
    (batch,) = [ChunkParser("common").parse(chunk) for chunk in LogFollower([str(log)]).poll()]
    assert batch.stats.parsed == 1 and batch.requests["user_agent"].to_list() == [None]


BARE = '203.0.113.{n} - - [26/Nov/2026:00:00:{n:02d} +0000] "GET /p HTTP/1.1" 200 5 "-" "Bot ("{n}")"{end}\n'


def test_bare_quotes_in_a_followed_log_keep_their_agents(tmp_path: Path) -> None:
    """A followed log whose agents hold bare quotes is detected as combined, agents as logged."""
    log = tmp_path / "access.log"
    log.write_text("".join(BARE.format(n=n, end="") for n in range(1, 11)))
    (batch,) = [ChunkParser().parse(chunk) for chunk in LogFollower([str(log)]).poll()]
    assert (batch.stats.parsed, batch.stats.warnings) == (10, [])
    assert batch.requests["user_agent"].to_list() == [f'Bot ("{n}")' for n in range(1, 11)]


def test_dropped_headers_are_said_once_per_followed_file(tmp_path: Path) -> None:
    """Lines that carry a referer and agent read by a format without them (common: detected, as
    no combined rule reads them, or given): one warning with the first chunk read, none after."""
    for name, parser in (("detected.log", ChunkParser()), ("given.log", ChunkParser("common"))):
        log = tmp_path / name
        log.write_text("".join(BARE.format(n=n, end="x") for n in range(1, 11)))
        follower = LogFollower([str(log)])
        (first,) = [parser.parse(chunk) for chunk in follower.poll()]
        assert first.stats.parsed == 10 and len(first.stats.warnings) == 1
        assert first.stats.warnings[0].startswith(
            f"{log}: read as common, which has no referer or user agent"
        )
        with open(log, "a") as handle:
            handle.write(BARE.format(n=11, end="x"))
        (second,) = [parser.parse(chunk) for chunk in follower.poll()]
        assert (second.stats.parsed, second.stats.warnings) == (1, [])
