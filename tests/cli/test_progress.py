"""The scan's progress bar: drawn on a terminal (stderr a real pty), never into a pipe or a file.

The real command in a subprocess; the bar is transient, so what the terminal received is read
from the pty's other end.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from botguard.cli._progress import estimate_lines

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _scan(tmp: Path, log: Path, stderr: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "botguard", "scan", str(log), "--robots", str(EXAMPLES / "robots.txt"),
            "--no-dns", "--no-save", "--format", "json", "-o", str(tmp / "scan.json")]  # fmt: skip
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT, env=env)


def _big_log(tmp: Path) -> Path:
    """The example's day eight times over: long enough for the bar to be drawn a few times."""
    log = tmp / "access.log"
    log.write_bytes((EXAMPLES / "access.log").read_bytes() * 8)
    return log


def test_bar_on_a_terminal(tmp_path: Path) -> None:
    log = _big_log(tmp_path)
    master, slave = pty.openpty()
    proc = _scan(tmp_path, log, slave)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(60) == 0
    text = seen.decode("utf-8", "replace")
    assert "scanning" in text and "%" in text and "lines" in text, text[-500:]


def test_no_bar_in_a_pipe(tmp_path: Path) -> None:
    proc = _scan(tmp_path, _big_log(tmp_path), subprocess.PIPE)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert b"scanning" not in err and b"\x1b[" not in err


def test_line_estimate_from_file_sizes(tmp_path: Path) -> None:
    """Within a few percent of the real count (the bar's length), none for stdin or an archive."""
    log = _big_log(tmp_path)
    real = log.read_bytes().count(b"\n")
    estimate = estimate_lines([str(log), str(EXAMPLES / "access.log")])
    assert estimate is not None and abs(estimate - real * 9 / 8) / (real * 9 / 8) < 0.05
    assert estimate_lines(["-"]) is None and estimate_lines([str(log) + ".gz"]) is None
