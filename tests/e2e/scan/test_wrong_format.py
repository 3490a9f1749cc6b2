"""A log read with the wrong format is said so on stderr, with the format its lines would match.

Before this, `--log-format vhost_combined` on a combined log scanned 100% malformed lines and
exited 0 without a word: an empty report that looks like a quiet day.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "access.log"  # 3,600 combined lines
NGINX_JSON = ROOT / "tests" / "logs" / "fixtures" / "nginx.json.log"


def scan(path: Path, *extra: str) -> tuple[int, dict, str]:
    r = run_cli("scan", str(path), "--no-save", "--no-dns", "--no-model", "--format", "json", *extra)
    return r.exit_code, json.loads(r.stdout), r.stderr


def test_vhost_combined_on_a_combined_log_names_combined() -> None:
    code, doc, err = scan(EXAMPLE, "--log-format", "vhost_combined")
    assert code == 0
    assert doc["summary"]["malformed"] == doc["summary"]["lines"] == 3600
    assert err == (
        f"botguard: warning: {EXAMPLE}: 3,600 of 3,600 lines (100%) are malformed when read as "
        "vhost_combined; its first lines read as combined (--log-format combined)\n"
    )


def test_combined_on_a_json_log_names_json(tmp_path: Path) -> None:
    log = tmp_path / "access.json"
    log.write_bytes(NGINX_JSON.read_bytes())
    code, doc, err = scan(log, "--log-format", "combined")
    assert code == 0
    assert doc["summary"]["malformed"] * 2 > doc["summary"]["lines"]
    assert err.count("\n") == 1 and err.startswith(f"botguard: warning: {log}: "), err
    assert err.endswith("; its first lines read as json (--log-format json)\n"), err


def test_mostly_junk_without_a_better_format_says_so(tmp_path: Path) -> None:
    """Detection chose combined from the first line; the junk after it fits no format either."""
    log = tmp_path / "access.log"
    first = EXAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[0]
    log.write_text(first + "".join(f"<junk {i} without any shape>\n" for i in range(9)), encoding="utf-8")
    code, doc, err = scan(log)
    assert code == 0 and doc["summary"]["malformed"] == 9
    assert err == (
        f"botguard: warning: {log}: 9 of 10 lines (90%) are malformed when read as combined; "
        "no other known format reads them better (--show-malformed N prints some)\n"
    )


GOOD = '203.0.113.{n} - - [04/Mar/2024:10:00:00 +0000] "GET /{n} HTTP/1.1" 200 5 "-" "curl/8.5"\n'


@pytest.mark.parametrize(("junk", "warned"), [(0, False), (1, False), (10, False), (11, True)])
def test_warning_starts_past_half_of_the_lines(tmp_path: Path, junk: int, warned: bool) -> None:
    """10 good lines and 10 junk lines are half: quiet; 11 junk lines are more than half."""
    log = tmp_path / "access.log"
    log.write_text("".join(GOOD.format(n=n) for n in range(10)) + "junk\n" * junk, encoding="utf-8")
    code, doc, err = scan(log)
    assert (code, doc["summary"]["malformed"]) == (0, junk)
    assert bool(err) is warned, err
    if warned:
        assert f": {junk} of {junk + 10} lines (52%) are malformed when read as combined;" in err


def test_each_file_is_judged_on_its_own(tmp_path: Path) -> None:
    """A good file does not hide a wrong one: the warning names only the file that failed."""
    log = tmp_path / "other.log"
    log.write_bytes(NGINX_JSON.read_bytes())
    r = run_cli("scan", str(EXAMPLE), str(log), "--log-format", "combined", "--no-save", "--no-dns",
                "--no-model", "--format", "json")  # fmt: skip
    assert r.exit_code == 0
    assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"botguard: warning: {log}: "), r.stderr


BARE = (
    '198.51.100.{n} - - [04/Mar/2024:10:00:{s:02} +0000] "GET /p/{n} HTTP/1.1" 200 5 '
    '"https://www.google.com/search?q="w{n}"" "Mozilla/5.0 (compatible; "Scanner"/1.0)"{end}\n'
)


def _bare_log(tmp_path: Path, end: str = "") -> Path:
    log = tmp_path / "cdn.log"
    log.write_text("".join(BARE.format(n=n, s=n % 60, end=end) for n in range(40)), encoding="utf-8")
    return log


def test_bare_quotes_in_the_headers_are_read_as_combined_quietly(tmp_path: Path) -> None:
    """A CDN-style log with unescaped quotes in referer and agent: detected as combined, every
    agent kept, nothing malformed, nothing on stderr (it was read as common: agents lost)."""
    code, doc, err = scan(_bare_log(tmp_path))
    assert (code, err, doc["summary"]["malformed"]) == (0, "", 0)
    assert {c["user_agent"] for c in doc["clients"]} == {'Mozilla/5.0 (compatible; "Scanner"/1.0)'}


def test_a_pinned_format_without_the_headers_the_lines_carry_is_refused(tmp_path: Path) -> None:
    """--log-format common on such a log: exit 2 and one line naming the format that reads them."""
    log = _bare_log(tmp_path)
    r = run_cli("scan", str(log), "--log-format", "common", "--no-save", "--no-dns", "--format", "json")
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (
        "botguard: error: --log-format common has no referer or user agent, but 40 of the first 40 lines "
        f'of {log} carry them ("..." "..." after the status and bytes): its clients would be judged '
        "without them; --log-format combined reads 40 of those lines (the rest count as malformed), or "
        "pass an nginx log_format string naming $http_referer and $http_user_agent\n"
    )


def test_a_detected_format_without_the_headers_the_lines_carry_is_said(tmp_path: Path) -> None:
    """Lines no combined rule reads (text glued after the agent) but common does: the scan runs,
    and one stderr line says what is lost and which format reads the lines."""
    log = _bare_log(tmp_path, end="x")
    code, doc, err = scan(log)
    assert (code, doc["summary"]["parsed"]) == (0, 40)
    assert {c["user_agent"] for c in doc["clients"]} == {None}
    assert err == (
        f"botguard: warning: {log}: read as common, which has no referer or user agent, though 40 of its "
        'first 40 lines carry them ("..." "..." after the status and bytes): its clients are judged '
        "without them; pass --log-format with an nginx log_format string naming $http_referer and "
        "$http_user_agent\n"
    )
