"""`botguard ... | head`: a reader that goes away early ends the command quietly, as for any Unix tool.

Each test runs the real command (``python -m botguard``) with its stdout a real pipe into
``head -1``, producing far more output than the pipe holds, so the write after head exits fails.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from botguard.model.store import CandidateStore
from botguard.state import State
from tests.model.test_candidates_store import candidate

ROOT = Path(__file__).resolve().parents[2]
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
QUIET = (0, 141)  # 141: killed by SIGPIPE, what a shell reports for `yes | head -1`


def piped_into_head(*args: str) -> tuple[int, bytes, bytes]:
    """(botguard's exit code, what head printed, botguard's stderr) of ``botguard ARGS | head -1``."""
    botguard = subprocess.Popen(
        [sys.executable, "-m", "botguard", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    assert botguard.stdout is not None and botguard.stderr is not None
    head = subprocess.run(["head", "-1"], stdin=botguard.stdout, capture_output=True, check=True, timeout=120)
    botguard.stdout.close()  # only head holds the read end now: its exit closes the pipe
    err = botguard.stderr.read()
    return botguard.wait(timeout=120), head.stdout, err


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6,000 clients: every report format prints far more than a pipe buffer (64 KiB)."""
    path = tmp_path_factory.mktemp("log") / "access.log"
    lines = (
        f'10.{i // 250}.{i % 250}.7 - - [04/Mar/2024:10:00:{i % 60:02d} +0000] "GET /p/{i} HTTP/1.1" 200 5 "-" "{CHROME}"\n'
        for i in range(6000)
    )
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_scan_into_head_ends_quietly(big_log: Path, fmt: str) -> None:
    code, head, err = piped_into_head(
        "scan", str(big_log), "--no-save", "--no-dns", "--no-model", "--format", fmt, "--top", "6000"
    )
    assert head, "head printed the first line"
    assert (code, err) == (0, b""), err.decode(errors="replace")


def test_scan_keeps_its_fail_on_code_when_the_reader_leaves(big_log: Path, tmp_path: Path) -> None:
    """The scan was done before the pipe closed: `--fail-on block` still reports what it found (3)."""
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: *\nDisallow: /\n", encoding="utf-8")
    hits = "".join(
        f'192.0.2.9 - - [04/Mar/2024:10:{i // 60:02d}:{i % 60:02d} +0000] "GET /x/{i} HTTP/1.1" 200 5 "-" "EvilBot/1.0"\n'
        for i in range(600)
    )
    log = tmp_path / "access.log"
    log.write_text(big_log.read_text(encoding="utf-8") + hits, encoding="utf-8")
    args = ("scan", str(log), "--robots", str(robots), "--no-save", "--no-dns", "--no-model", "--format", "json",
            "--fail-on", "block")  # fmt: skip
    unpiped = subprocess.run(
        [sys.executable, "-m", "botguard", *args], capture_output=True, cwd=ROOT, check=False
    )
    assert unpiped.returncode == 3, unpiped.stderr
    code, head, err = piped_into_head(*args)
    assert head
    assert (code, err) == (3, b""), err.decode(errors="replace")


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_candidates_list_into_head_ends_quietly(tmp_path: Path, fmt: str) -> None:
    db = tmp_path / "state.db"
    with State(db) as state:
        CandidateStore(state).upsert(
            [candidate(f"ua_tok=scraper{i}", value=f"scraper{i}") for i in range(3000)], now=datetime.now(UTC)
        )
    code, head, err = piped_into_head("candidates", "list", "--format", fmt, "--state", str(db))
    assert head
    assert (code, err) == (0, b""), err.decode(errors="replace")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_robots_check_into_head_ends_quietly(tmp_path: Path, fmt: str) -> None:
    robots = tmp_path / "robots.txt"
    robots.write_text("User-agent: *\nDisallow: /private/\n", encoding="utf-8")
    urls = [f"https://example.com/private/page-{i}" for i in range(8000)]
    code, head, err = piped_into_head("robots", "check", "--robots", str(robots), "--agent", "Googlebot",
                                      "--format", fmt, *urls)  # fmt: skip
    assert head
    assert (code, err) == (0, b""), err.decode(errors="replace")
