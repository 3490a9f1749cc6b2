"""What a small scan pays to start: each shipped table is loaded once per scan, and no module
only another kind of scan or another verb needs is imported."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import botguard.catalog.loader
import botguard.identity.asn
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
LOG, ROBOTS = ROOT / "examples" / "access.log", ROOT / "examples" / "robots.txt"


def test_a_scan_with_the_model_loads_the_catalogue_and_the_asn_table_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The model's client pass takes the scan's catalogue and reads the judged clients' networks:
    loading either again would cost ~45 ms of a small scan's start and change nothing."""
    loads: Counter[str] = Counter()

    def counted(module: Any) -> None:
        real: Callable[..., Any] = module.cached

        def spy(name: str, *args: Any, **kwargs: Any) -> Any:
            loads[name] += 1
            return real(name, *args, **kwargs)

        monkeypatch.setattr(module, "cached", spy)

    counted(botguard.catalog.loader)
    counted(botguard.identity.asn)
    out = tmp_path / "scan.json"
    r = run_cli(
        "scan", str(LOG), "--robots", str(ROBOTS), "--no-dns", "--format", "json", "--output", str(out),
        "--state", str(tmp_path / "state.db"),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["summary"]["model"]["clients_scored"] > 0
    assert loads == {"catalog": 1, "asn": 1}


# Scans 100 lines as a cron job does (identity and model on, state kept), in a process of its
# own, then prints which of the named modules that scan imported.
SMALL_SCAN = """
import json, sys
from botguard.cli import main
log, robots, state, out, names = sys.argv[1:6]
code = main(["scan", log, "--robots", robots, "--no-dns", "--format", "json", "--output", out, "--state", state])
print(json.dumps({"code": code, "loaded": sorted(n for n in names.split(",") if n in sys.modules)}))
"""


def _small_scan_imports(tmp_path: Path, names: list[str]) -> list[str]:
    log = tmp_path / "small.log"
    log.write_bytes(b"".join(LOG.read_bytes().splitlines(keepends=True)[:100]))
    argv = [str(log), str(ROBOTS), str(tmp_path / "state.db"), str(tmp_path / "out.json"), ",".join(names)]
    done = subprocess.run(
        [sys.executable, "-c", SMALL_SCAN, *argv], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0, done.stderr
    return list(seen["loaded"])


def test_a_scan_on_one_machine_does_not_import_the_engines_pieces_or_joins(tmp_path: Path) -> None:
    """Cutting files into pieces and joining the pieces' partials is Spark's and Dask's work
    (``--engine``): a small scan does not load it."""
    engines = ["botguard.engines.join", "botguard.engines.pieces", "botguard.engines.work"]
    assert _small_scan_imports(tmp_path, engines) == []


def test_a_small_scan_does_not_import_what_only_other_work_needs(tmp_path: Path) -> None:
    """HTTP (robots.txt fetching, Cloudflare), DNS (``--no-dns``), terminal styling, Spark and
    Dask, and the verbs that write or deploy rules are imported by what uses them, not by a scan."""
    others = ["requests", "dns", "rich", "pyspark", "dask", "cloudflare", "botguard.deploy", "botguard.render",
              "botguard.serve"]  # fmt: skip
    assert _small_scan_imports(tmp_path, others) == []


def test_a_small_scan_does_not_import_the_engines_records_or_the_decision_store(tmp_path: Path) -> None:
    """``--engine``'s records load when a scan names an engine, and the decision builder, store,
    expiry and their checks are deploy-rules' and report's: the model step takes only a rule's
    match from botguard.decide."""
    unused = ["botguard.engines.records", "botguard.decide.build", "botguard.decide.store",
              "botguard.decide.values", "botguard.decide.expiry"]  # fmt: skip
    assert _small_scan_imports(tmp_path, [*unused, "botguard.decide.match"]) == ["botguard.decide.match"]
