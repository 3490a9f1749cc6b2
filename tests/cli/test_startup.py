"""What a command pays to start: the first command of a process loads its verb's modules with
the garbage collector paused, then freezes them out of its sight, and the collector runs again
as the caller left it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Runs one command whose verb module is not loaded yet (`scan --help` loads botguard.cli.scan and
# with it polars and the pipeline), then reports what the collector did meanwhile.
PROBE = """
import gc, json, sys
from botguard.cli import main
{setup}
before = sum(gen["collections"] for gen in gc.get_stats())
frozen = gc.get_freeze_count()
main(["scan", "--help"])
print(json.dumps({{
    "collections": sum(gen["collections"] for gen in gc.get_stats()) - before,
    "frozen": gc.get_freeze_count() - frozen,
    "enabled": gc.isenabled(),
    "loaded": "botguard.cli.scan" in sys.modules,
}}))
"""


def probe(setup: str = "") -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_first_command_loads_its_modules_without_a_collection_then_freezes_them() -> None:
    seen = probe()
    assert seen["loaded"]
    assert seen["collections"] == 0
    assert int(seen["frozen"]) > 20_000  # polars', click's and botguard's objects
    assert seen["enabled"] is True


def test_a_caller_that_turned_the_collector_off_finds_it_off() -> None:
    seen = probe("gc.disable()")
    assert seen["loaded"] and seen["enabled"] is False
