"""The judge's aggregation does not depend on how the log is cut into batches."""

from __future__ import annotations

from pathlib import Path

from botguard.catalog import load_catalog
from botguard.config import Settings
from botguard.judge import ScanResult, judge_batches
from botguard.judge.values import client_json_frame
from botguard.logs import read_batches
from botguard.robots import RobotsTxt

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _scan(batch_lines: int) -> ScanResult:
    robots = RobotsTxt.parse((EXAMPLES / "robots.txt").read_bytes())
    batches = read_batches([str(EXAMPLES / "access.log")], "combined", batch_lines=batch_lines)
    return judge_batches(
        batches, load_catalog(), lambda host: robots, Settings(honeypots=("/internal/trap/",))
    )


def test_the_batch_size_changes_no_verdict_reason_or_count() -> None:
    """The example read in batches of 97 lines is judged exactly as read in one batch: a
    Crawl-delay interval that spans two batches counts like any other."""
    whole, cut = _scan(500_000), _scan(97)
    assert whole.summary == cut.summary
    assert client_json_frame(cut.clients).equals(client_json_frame(whole.clients))
    assert cut.crawlers == whole.crawlers
    reasons = whole.clients.get_column("reasons").explode().drop_nulls()
    assert reasons.str.starts_with("ignored Crawl-delay").any()  # the fact this is about is there
