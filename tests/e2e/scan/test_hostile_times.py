"""One log line whose time is a real date polars can hold but Python cannot (year 0, or past
9999-12-31 once the offset is applied) must not end the scan with a traceback.

Hostile review: such a line used to end ``botguard scan`` with ``ValueError: year 0 is out of
range`` (or ``OverflowError``) from the first conversion to a Python datetime: exit 1, nothing
scanned, and every later cron run over that log failed too. Times outside 0001-01-01..9999-12-31
UTC are now bad timestamps (``_columns.parse_time``; the compiled parser leaves them to it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VALID = '1.2.3.4 - - [04/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"\n'


@pytest.mark.parametrize(
    "logged", ["01/Jan/0000:00:00:00 +0000", "01/Jan/0001:00:00:00 +1400", "31/Dec/9999:23:59:59 -1400"]
)
def test_a_time_python_cannot_hold_is_no_traceback(tmp_path: Path, logged: str) -> None:
    """The scan ends normally (exit 0, JSON on stdout, no traceback); the other line is scanned
    and the hostile one counted as malformed."""
    log = tmp_path / "access.log"
    log.write_text(VALID + f'5.6.7.8 - - [{logged}] "GET / HTTP/1.1" 200 5 "-" "curl/8"\n')
    env = dict(os.environ, BOTGUARD_NO_DAEMON="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    argv = [sys.executable, "-m", "botguard", "scan", str(log), "--format", "json", "--no-save", "--no-dns"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    assert done.returncode == 0, done.stderr[-600:]
    ips = {client["ip"] for client in json.loads(done.stdout)["clients"]}
    assert ips == {"1.2.3.4"}
    assert json.loads(done.stdout)["summary"]["malformed"] == 1
