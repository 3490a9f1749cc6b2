"""Shared helpers for the logs tests: parse lines with a named format, in one call."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from botguard.logs.formats import FORMATS, resolve_format
from botguard.logs.records import ParseStats
from tests.helpers import SHARED_DATA, TEST_DATA

FIXTURES = Path(__file__).parent / "fixtures"
#: Elastic's 10,000-line Apache log (Apache-2.0), bundled gzip-compressed (tests/data/SOURCES.md).
ELASTIC = TEST_DATA / "access-logs" / "elastic-examples.apache_logs.log.gz"
#: fail2ban's and Matomo's sample logs: GPL, read from the shared reference data, never copied.
GPL_LOG_DIRS = ("fail2ban-test-logs", "matomo-format-samples")


def real_logs() -> list[Path]:
    """Every real access log the tests can read: the bundled ones, and the GPL samples where present."""
    gpl = [SHARED_DATA / "access-logs" / name for name in GPL_LOG_DIRS]
    return [ELASTIC, *sorted(p for d in gpl if d.is_dir() for p in d.iterdir() if p.is_file())]


def log_bytes(path: Path) -> bytes:
    """The content of a log file as written by its server (bundled logs may be gzip-compressed)."""
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def parse(lines: list[str], fmt: str = "combined", source: str = "t.log") -> tuple[pl.DataFrame, ParseStats]:
    """Rows and stats of ``lines`` read with format ``fmt`` (a name or an nginx log_format)."""
    log_format = FORMATS[fmt] if fmt in FORMATS else resolve_format(fmt)
    return log_format.parse_batch(pl.Series(lines, dtype=pl.String), source=source)


def one(line: str, fmt: str = "combined") -> dict:
    """The single parsed row of ``line`` as a dict (fails if the line was not parsed)."""
    rows, stats = parse([line], fmt)
    assert stats.parsed == 1, (stats, line)
    return rows.row(0, named=True)


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
