"""Never-crash checks over real access logs: Elastic's (bundled, Apache-2.0) and, where the
shared reference data is present, the GPL samples of Matomo and fail2ban (never copied here).
"""

from __future__ import annotations

import pytest

from botguard.errors import InputError, UsageError
from botguard.logs import read_batches
from botguard.logs.records import ParseStats
from tests.helpers import gpl_absent

from .conftest import ELASTIC, GPL_LOG_DIRS, log_bytes, real_logs

FILES: list = real_logs()
if len(FILES) == 1:  # only the bundled log: say why the GPL samples are not read
    reason = "; ".join(gpl_absent("access-logs", name) for name in GPL_LOG_DIRS)
    FILES.append(pytest.param(None, marks=pytest.mark.skip(reason=reason), id="gpl-samples"))


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
    """Whatever the explicit format, every line is parsed or counted as malformed, or the
    format is refused in one line because it drops the referer and agent the lines carry."""
    try:
        stats = _total([path], log_format)
    except UsageError as exc:
        assert log_format == "common" and path.name in str(exc)
        assert str(exc).startswith("--log-format common has no referer or user agent, but ")
        return
    assert stats.parsed + stats.malformed == stats.lines == len(log_bytes(path).splitlines())


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
    stats = _total([ELASTIC])
    assert (stats.lines, stats.parsed, stats.malformed) == (10_000, 9_999, 1)
    assert dict(stats.malformed_by_reason) == {"unterminated_quote": 1}
