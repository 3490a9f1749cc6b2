"""bench/bench_deploy.py runs end to end (tiny sizes; the targets are checked by the real bench)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_deploy_smoke() -> None:
    """With 200 UA + 200 IP rules the bench reports a ratio and reload times."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench/bench_deploy.py"), "--ua", "200", "--ip", "200", "--duration", "1",
         "--repeat", "1"], capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert "ratio" in done.stdout and "kill -HUP master  -> new rule enforced" in done.stdout, done.stdout
