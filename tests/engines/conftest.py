"""Logs the engine tests scan three ways (single machine, Spark, Dask), and the scan they compare.

Cases: the bundled example log; a generated day rotated into three files (the oldest gzipped)
beside a log that is mostly junk after its first lines (the "most lines are malformed"
warning weighs the whole file); a generated 60k-line log. Pieces are small, so every file but
the compressed one is cut many times.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from botguard.app import Env, ScanRequest, run_scan
from botguard.catalog import load_catalog
from botguard.config import Settings, load_settings
from botguard.engines import EngineOptions, Job
from botguard.engines.records import FAN_IN
from botguard.judge.values import traffic_value
from botguard.robots.sources import RobotsOption, RobotsSources
from tests.helpers import generated_day
from tests.judge.scans import canonical, scan_json

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Case:
    """Log files to scan together, their robots.txt, and the piece size the engines cut them at."""

    paths: tuple[Path, ...]
    robots: Path
    piece_bytes: int


def scan_doc(
    case: Case, engine: str | None = None, scheduler: str | None = None, fan_in: int = FAN_IN
) -> dict[str, Any]:
    """The scan JSON (ordering aside) of ``case`` on one machine or on ``engine`` (its pieces
    joined on the workers ``fan_in`` at a time), with what the JSON leaves out: every client
    column (the model's inputs too), the malformed-line examples, the warnings and the traffic
    summary the reports draw."""
    request = ScanRequest(
        paths=tuple(str(p) for p in case.paths), settings=load_settings(str(EXAMPLES / "botguard.yaml")),
        robots=RobotsOption(default=str(case.robots)), save=False, dns=False,
        engine=EngineOptions(engine, scheduler, case.piece_bytes, fan_in) if engine else None,
    )  # fmt: skip
    result = run_scan(request, Env()).result
    doc = canonical(scan_json(result))
    doc["client_rows"] = result.clients.sort("ip", "user_agent").to_dicts()
    doc["examples"] = list(result.malformed_examples)
    doc["warnings"] = list(result.warnings)
    doc["traffic"] = traffic_value(result.traffic) if result.traffic is not None else None
    return doc


def engine_job(case: Case) -> Job:
    """What every worker gets for ``case`` (default settings, the case's robots.txt)."""
    return Job(
        load_catalog(), RobotsSources(RobotsOption(default=str(case.robots))), Settings(), per_host=False
    )


def _generated(out: Path, lines: int, seed: int) -> tuple[list[bytes], Path]:
    log, robots = out / f"gen{seed}.log", out / f"robots{seed}.txt"
    generated_day(log, robots, lines=lines, seed=seed)
    return log.read_bytes().splitlines(keepends=True), robots


@pytest.fixture(scope="session")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    out = tmp_path_factory.mktemp("engine-logs")
    day, day_robots = _generated(out, 24_000, 3)
    rotated = out / "rotated"
    rotated.mkdir()
    (rotated / "access.log.2.gz").write_bytes(gzip.compress(b"".join(day[:8000])))
    (rotated / "access.log.1").write_bytes(b"".join(day[8000:16000]))
    (rotated / "access.log").write_bytes(b"".join(day[16000:]))
    junk = rotated / "other.log"
    junk.write_bytes(b"".join(day[:300]) + b"".join(b"junk line %d\n" % n for n in range(40_000)))
    big, big_robots = _generated(out, 60_000, 5)
    del big
    return {
        "example": Case((EXAMPLES / "access.log",), EXAMPLES / "robots.txt", 64 * 1024),
        "rotated": Case(
            tuple(rotated / name for name in ("access.log", "other.log", "access.log.1", "access.log.2.gz")),
            day_robots,
            256 * 1024,
        ),
        "60k": Case((out / "gen5.log",), big_robots, 1024 * 1024),
    }


@pytest.fixture(scope="session")
def single(cases: dict[str, Case]) -> dict[str, dict[str, Any]]:
    """Each case scanned on this machine alone: what the engines must give."""
    return {name: scan_doc(case) for name, case in cases.items()}
