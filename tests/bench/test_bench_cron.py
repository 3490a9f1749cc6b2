"""The cron benchmark's harness: its children run as an installed botguard under cron does."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_cron() -> ModuleType:
    """bench/bench_cron.py imported from its path (it imports its neighbours from bench/ itself)."""
    spec = importlib.util.spec_from_file_location("bench_cron", ROOT / "bench" / "bench_cron.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHILD = """
import os, sys
from pathlib import Path
Path(sys.argv[1]).write_text(f"{sys.flags.dont_write_bytecode} {os.environ.get('XDG_CACHE_HOME', '')}")
"""


def test_a_timed_cron_run_writes_bytecode_and_has_a_cache_of_its_own(
    bench_cron: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shell that sets PYTHONDONTWRITEBYTECODE (as the engineers' shells do) made every timed run
    compile each botguard module again, ~0.13 s of CPU a run that no installed botguard pays,
    counted as the run's imports."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    seen = tmp_path / "seen.txt"
    _wall, _cpu, _rss, code = bench_cron.timed([sys.executable, "-c", CHILD, str(seen)], tmp_path)
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    flag, cache = seen.read_text().split(" ", 1)
    assert flag == "0"
    assert Path(cache).is_relative_to(tmp_path)


def _report(path: Path, clients: list[dict]) -> Path:
    path.write_text(json.dumps({"summary": {}, "clients": clients, "crawlers": []}))
    return path


def test_the_last_runs_clients_are_counted_by_what_changed(bench_cron: ModuleType, tmp_path: Path) -> None:
    """What a cron run could keep of the run before's report: lines the same, lines whose only
    change is the model's score (the client pass scores every client again each run), other
    changes, new clients; a client gone since is not counted."""
    base = {"ip": "192.0.2.1", "user_agent": "a", "verdict": "allow", "model_score": 0.1}
    before = _report(tmp_path / "before.json", [
        base, {**base, "ip": "192.0.2.2"}, {**base, "ip": "192.0.2.3"}, {**base, "ip": "192.0.2.9"},
    ])  # fmt: skip
    after = _report(tmp_path / "after.json", [
        base, {**base, "ip": "192.0.2.2", "model_score": 0.2},
        {**base, "ip": "192.0.2.3", "verdict": "block", "model_score": 0.3},
        {**base, "ip": "192.0.2.4"}, {**base, "ip": "192.0.2.5", "user_agent": None},
    ])  # fmt: skip
    assert bench_cron.changed_rows(before, after) == "same 1, only model_score 1, other values 1, new 2"
