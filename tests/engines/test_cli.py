"""`botguard scan --engine`: what a user sees when an engine is missing or fails (one line, no
traceback, exit 2 for a missing extra or a wrong option, exit 1 for an engine failure)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import dask.config
import pytest

from tests.engines.conftest import Case
from tests.helpers import run_cli
from tests.judge.scans import canonical

ROOT = Path(__file__).resolve().parents[2]
LOG, ROBOTS = str(ROOT / "examples" / "access.log"), str(ROOT / "examples" / "robots.txt")
BOTGUARD = [sys.executable, "-m", "botguard"]


def _one_line(stderr: str, text: str) -> None:
    lines = [line for line in stderr.splitlines() if line.startswith("botguard")]
    assert len(lines) == 1 and text in lines[0], stderr
    assert "Traceback" not in stderr, stderr


@pytest.mark.parametrize(
    ("engine", "modules"),
    [("spark", ["pyspark", "pyspark.sql"]), ("dask", ["dask", "dask.bag", "distributed"])],
)
def test_an_engine_not_installed_is_one_line_naming_the_extra(
    engine: str, modules: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # what an install without the extra imports
    r = run_cli("scan", LOG, "--robots", ROBOTS, "--no-save", "--engine", engine)
    assert r.exit_code == 2
    _one_line(r.stderr, f"pip install 'botguard[{engine}]'")


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--scheduler", "tcp://10.0.0.5:8786"], "--scheduler and --piece-mib need --engine"),
        (["--engine", "dask", "--fetch-robots"], "--engine needs robots.txt files"),
        (["--engine", "dask", "--piece-mib", "0"], "--piece-mib must be at least 1"),
        (["--engine", "dask", "--campaigns"], "--engine cannot replay every request"),
    ],
)
def test_engine_options_that_cannot_work_are_usage_errors(args: list[str], text: str) -> None:
    robots = [] if "--fetch-robots" in args else ["--robots", ROBOTS]
    r = run_cli("scan", LOG, *robots, "--no-save", *args)
    assert r.exit_code == 2
    _one_line(r.stderr, text)


def test_an_unreachable_dask_scheduler_is_one_line_exit_1() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        r = run_cli("scan", LOG, "--robots", ROBOTS, "--no-save", "--engine", "dask",
                    "--scheduler", f"tcp://127.0.0.1:{port}")  # fmt: skip
    assert r.exit_code == 1
    _one_line(r.stderr, "botguard: error: dask: ")


@pytest.mark.slow
def test_a_spark_master_that_cannot_be_used_is_one_line_exit_1() -> None:
    """The JVM starts and refuses the master URL: the scan says so in one line (Spark's own
    log lines aside), in a process of its own (a failed Spark context stays in its JVM)."""
    r = subprocess.run(
        [*BOTGUARD, "scan", LOG, "--robots", ROBOTS, "--no-save", "--engine", "spark",
         "--scheduler", "nonsense://nowhere"],
        check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    _one_line(r.stderr, "botguard: error: spark: ")


@pytest.mark.slow
def test_the_cli_with_a_cluster_of_its_own_prints_the_single_machine_scan(cases: dict[str, Case]) -> None:
    """`botguard scan --engine dask` without --scheduler starts a LocalCluster, scans, closes it:
    the same JSON and the same warning lines as without --engine."""
    case = cases["rotated"]
    base = [*BOTGUARD, "scan", *map(str, case.paths), "--robots", str(case.robots), "--no-save", "--no-dns",
            "--format", "json"]  # fmt: skip
    single = subprocess.run(base, check=False, capture_output=True, text=True, timeout=300)
    dask_run = subprocess.run(
        [*base, "--engine", "dask", "--piece-mib", "1"],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert single.returncode == 0 and dask_run.returncode == 0, dask_run.stderr
    assert canonical(dask_run.stdout) == canonical(single.stdout)
    warned = [line for line in dask_run.stderr.splitlines() if line.startswith("botguard: warning:")]
    assert warned == [line for line in single.stderr.splitlines() if line.startswith("botguard:")]
    assert len(warned) == 1 and "other.log: 40,000 of 40,300 lines" in warned[0]


@pytest.mark.slow
def test_the_cli_with_a_spark_session_of_its_own_prints_the_single_machine_scan(tmp_path: Path) -> None:
    """`botguard scan --engine spark` outside spark-submit and without --scheduler starts a local
    session whose executors run this Python (botguard is there), scans, stops it."""
    base = [*BOTGUARD, "scan", LOG, "--robots", ROBOTS, "--no-save", "--no-dns", "--format", "json"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_PYTHON", "PYSPARK_GATEWAY_PORT")}
    single = subprocess.run(base, check=False, capture_output=True, text=True, timeout=300)
    spark = subprocess.run(
        [*base, "--engine", "spark", "--piece-mib", "1"], check=False, capture_output=True, text=True,
        timeout=600, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert single.returncode == 0 and spark.returncode == 0, spark.stderr
    assert canonical(spark.stdout) == canonical(single.stdout)
