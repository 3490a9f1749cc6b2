"""`botguard scan` on real access logs: Elastic's (bundled, Apache-2.0) and fail2ban's samples
(GPL: read from the shared reference data where present, never copied).

Expected figures were counted independently with grep on the files (see each docstring).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import TEST_DATA, gpl_data, run_cli

ELASTIC = TEST_DATA / "access-logs" / "elastic-examples.apache_logs.log.gz"


@pytest.fixture(scope="module")
def elastic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state = tmp_path_factory.mktemp("state") / "s.db"
    r = run_cli("scan", str(ELASTIC), "--state", str(state), "--format", "json", "--show-malformed", "5")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    doc["stderr"] = r.stderr
    return doc


def test_elastic_lines(elastic: dict[str, Any]) -> None:
    """10,000 lines; line 8,899 is cut inside the user agent (no closing quote): malformed."""
    assert elastic["summary"]["lines"] == 10_000
    assert elastic["summary"]["parsed"] == 9_999
    assert elastic["summary"]["malformed"] == 1
    assert "elastic-examples.apache_logs.log.gz:8899" in elastic["stderr"]


def test_elastic_baiduspider(elastic: dict[str, Any]) -> None:
    """`grep Baiduspider | grep -v Baiduspider-image`: 83 lines from 74 IPs."""
    (baidu,) = [c for c in elastic["crawlers"] if c["name"] == "Baiduspider"]
    assert baidu["requests"] == 83
    assert baidu["ips"] == 74
    assert baidu["operator"] == "Baidu"
    assert baidu["category"] == "search-engine"


def test_elastic_without_robots_blocks_nobody(elastic: dict[str, Any]) -> None:
    """No robots.txt given: nothing is judged, nobody is blocked, browsers count as people."""
    verdicts = {c["verdict"] for c in elastic["clients"]}
    assert "block" not in verdicts
    humans = [c for c in elastic["clients"] if c["category"] == "human"]
    assert len(humans) > 1000
    assert all(c["verdict"] == "allow" for c in humans)


def test_fail2ban_fake_googlebot_is_identified_as_googlebot_claim(tmp_path: Path) -> None:
    """fail2ban's fake-Googlebot sample: the one parsable line claims Googlebot; the rest
    (fail2ban's own comment lines) are counted as malformed, not dropped silently."""
    path = gpl_data("access-logs", "fail2ban-test-logs", "apache-fakegooglebot.log")
    r = run_cli("scan", str(path), "--state", str(tmp_path / "s.db"), "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["summary"]["lines"] == len(path.read_bytes().splitlines())
    assert doc["summary"]["parsed"] + doc["summary"]["malformed"] == doc["summary"]["lines"]
    assert [c["crawler"] for c in doc["clients"]] == ["Googlebot"]


def test_error_log_is_refused_with_a_clear_reason(tmp_path: Path) -> None:
    """An Apache error log is not an access log: exit 1 (unreadable input) with a one-line reason."""
    path = gpl_data("access-logs", "fail2ban-test-logs", "apache-noscript.log")
    r = run_cli("scan", str(path), "--state", str(tmp_path / "s.db"))
    assert r.exit_code == 1, r.output
    assert "cannot recognise the log format" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
