"""Shared helpers for the logs tests: parse lines with a named format, in one call."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from botguard.logs import FORMATS, resolve_format
from botguard.logs.records import ParseStats

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_LOGS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "access-logs"


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
