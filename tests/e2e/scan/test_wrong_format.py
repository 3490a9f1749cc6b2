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
