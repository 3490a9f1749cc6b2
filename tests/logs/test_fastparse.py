"""The compiled reader (botguard/logs/_fastparse.c) against the polars path it speeds up.

The polars path is the oracle: for every block, the kernel's rows merged with the polars
path's rows of the lines it handed back must equal the polars path's rows of the whole block,
and so must the counts (ParseStats, malformed examples included).
"""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from botguard import native
from botguard.logs.formats import FORMATS
from botguard.logs.records import ParseStats

from .conftest import ELASTIC, log_bytes

FAST_FORMATS = ("common", "combined", "vhost_combined")


def both(
    monkeypatch: pytest.MonkeyPatch, data: bytes, fmt: str = "combined", first_line_no: int = 1
) -> tuple[pl.DataFrame, ParseStats]:
    """The kernel's parse of ``data``, checked equal to the polars path's (frame and counts)."""
    log_format = FORMATS[fmt]
    with monkeypatch.context() as patch:
        patch.setenv(native.DISABLE_VARIABLE, "1")
        expected, expected_stats = log_format.parse_block(data, source="t.log", first_line_no=first_line_no)
    with monkeypatch.context() as patch:
        patch.delenv(native.DISABLE_VARIABLE, raising=False)
        got, stats = log_format.parse_block(data, source="t.log", first_line_no=first_line_no)
    assert_frame_equal(got, expected)
    assert stats == expected_stats
    return got, stats


def taken(data: bytes, fmt: str = "combined") -> int:
    """How many lines of ``data`` the kernel reads itself."""
    kernel = native.kernel("logs._fastparse")
    assert kernel is not None
    layout = {"common": kernel.COMMON, "combined": kernel.COMBINED, "vhost_combined": kernel.VHOST_COMBINED}
    return kernel.parse(data, 1, layout[fmt])[0].rows


def test_the_kernel_is_built():
    """The test venv compiled the kernel: CI proves the fast path runs instead of skipping it."""
    assert native.kernel("logs._fastparse") is not None


def test_real_log_equal(monkeypatch):
    """Elastic's 10,000-line Apache log: the same rows and counts, most lines read by the kernel."""
    data = log_bytes(ELASTIC)
    _, stats = both(monkeypatch, data, first_line_no=7)
    assert stats.lines == 10_000
    assert taken(data) > 9_000
