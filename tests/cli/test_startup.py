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


# Runs a 100-line scan with the model step as a cron job does, in a process of its own, and
# reports what the collector did while the model's modules (imported by the scan only when it
# runs the model) loaded, and whether they are out of its sight afterwards.
MODEL_PROBE = """
import gc, json, sys
collections_while_loading = 0
def seen(phase, info):
    global collections_while_loading
    model = sys.modules.get("botguard.model")
    if phase == "start" and model is not None and getattr(model.__spec__, "_initializing", False):
        collections_while_loading += 1
gc.callbacks.append(seen)
from botguard.cli import main
log, robots, state, out = sys.argv[1:5]
code = main(["scan", log, "--robots", robots, "--no-dns", "--format", "json", "--output", out, "--state", state])
import numpy, botguard.model.stream
tracked = {id(o) for o in gc.get_objects()}
print(json.dumps({
    "code": code,
    "collections_while_loading": collections_while_loading,
    "tracked": [name for name in ("numpy", "botguard.model.stream") if id(vars(sys.modules[name])) in tracked],
}))
"""


def test_the_model_step_loads_its_modules_without_a_collection_then_freezes_them(tmp_path: Path) -> None:
    """numpy and the learner are imported by a scan only when it runs the model, after the verb's
    modules were frozen: they load with the collector paused too, and are frozen after."""
    log = tmp_path / "small.log"
    log.write_bytes(b"".join((ROOT / "examples" / "access.log").read_bytes().splitlines(keepends=True)[:100]))
    argv = [
        str(log),
        str(ROOT / "examples" / "robots.txt"),
        str(tmp_path / "state.db"),
        str(tmp_path / "out.json"),
    ]
    done = subprocess.run(
        [sys.executable, "-c", MODEL_PROBE, *argv], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0, done.stderr
    assert seen["collections_while_loading"] == 0
    assert seen["tracked"] == []
