"""Never-crash checks over real access logs from ../shared (read at run time, never copied).

The Matomo samples are LGPL/GPL and fail2ban's GPL: they stay in ../shared/data.
"""

from __future__ import annotations

import pytest

from botguard.errors import InputError
from botguard.logs import read_batches
from botguard.logs.records import ParseStats

from .conftest import SHARED_LOGS

FILES = sorted(p for p in SHARED_LOGS.rglob("*") if p.is_file()) if SHARED_LOGS.is_dir() else []
pytestmark = pytest.mark.skipif(not FILES, reason=f"shared access logs not found at {SHARED_LOGS}")


def _total(paths, log_format=None) -> ParseStats:
    total = ParseStats()
    for batch in read_batches([str(p) for p in paths], log_format):
        assert batch.requests.height == batch.stats.parsed
        assert batch.requests["line_no"].is_sorted()
        total.merge(batch.stats)
    return total


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("log_format", ["combined", "common", "vhost_combined", "json"])
def test_any_format_never_crashes(path, log_format):
    """Whatever the explicit format, every line is parsed or counted as malformed."""
    stats = _total([path], log_format)
    assert stats.parsed + stats.malformed == stats.lines == len(path.read_bytes().splitlines())


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_detection_never_crashes(path):
    """Detection either reads the file or says clearly that it cannot."""
    try:
        stats = _total([path])
    except InputError as exc:
        assert "pass --log-format" in str(exc) and path.name in str(exc)
    else:
        assert stats.parsed > 0


def test_elastic_apache_log_exact():
    """Elastic's 10,000-line apache log: one truncated line (unterminated quote), the rest parsed."""
    path = SHARED_LOGS / "elastic-examples.apache_logs.log"
    stats = _total([path])
    assert (stats.lines, stats.parsed, stats.malformed) == (10_000, 9_999, 1)
    assert dict(stats.malformed_by_reason) == {"unterminated_quote": 1}
