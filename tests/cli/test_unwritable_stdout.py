"""A scan whose stdout is closed (`>&-`) or on a full disk ends with one line on stderr and
exit 1, never a traceback (STYLE: no traceback ever reaches a user). Found by a hostile review."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOG = ROOT / "examples" / "access.log"


@pytest.mark.parametrize("redirect", [">&-", ">/dev/full"])
def test_an_unwritable_stdout_is_one_line_and_exit_1(redirect: str) -> None:
    if redirect == ">/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    python = f"{sys.executable} -m botguard scan {LOG} --no-save --no-dns --no-identity --no-model"
    done = subprocess.run(
        ["sh", "-c", f"{python} {redirect}"], env={**os.environ, "BOTGUARD_NO_DAEMON": "1"},
        capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert b"Traceback" not in done.stderr and done.stderr.count(b"\n") == 1, done.stderr
