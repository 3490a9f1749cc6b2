"""One learner: `botguard scan` over a log and `botguard watch` having followed the same log reach
the same model state (scores, raises, candidates), on a generated day (bench/gen_day.py).

The scan reads the log in the reader's batches; the watch reads it in chunks of a few megabytes and writes a
snapshot at the end; a third learner is fed odd slices with a snapshot and restore in the middle.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from botguard.app import Env, ScanRequest, run_scan
from botguard.config import load_settings
from botguard.logs import read_batches
from botguard.model import replay
from botguard.model.stream import StreamLearner
from botguard.robots.sources import RobotsSources, parse_robots_option
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """40k lines of a generated day (dev seed 12) with its robots.txt and config."""
    tmp = tmp_path_factory.mktemp("day")
    log = tmp / "access.log"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gen_day.py"), "--out", str(log), "--lines", "40000", "--seed", "12"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return {
        "log": log,
        "robots": Path(f"{log}.robots.txt"),
        "config": Path(f"{log}.botguard.yaml"),
        "tmp": tmp,
    }


def _state(learner: StreamLearner) -> tuple[Any, Any, Any]:
    return (
        learner.campaigns.scores,
        learner.raises(),
        sorted((c.signature, c.proposed_at, c.support_requests) for c in learner.candidates()),
    )


@pytest.fixture(scope="module")
def scanned(day: dict[str, Path]) -> tuple[Any, StreamLearner]:
    """The scan's result and the learner its model step ran."""
    seen: list[StreamLearner] = []
    original = replay.ScanReplay.outcome

    def outcome(self: replay.ScanReplay, clients: Any) -> replay.ModelOutcome:
        seen.append(self.learner)
        return original(self, clients)

    replay.ScanReplay.outcome = outcome  # type: ignore[method-assign]
    try:
        request = ScanRequest(
            paths=(str(day["log"]),), settings=load_settings(day["config"]), save=False, dns=False,
            campaigns=True, robots=parse_robots_option((str(day["robots"]),), False),
        )  # fmt: skip
        result = run_scan(request, Env()).result
    finally:
        replay.ScanReplay.outcome = original  # type: ignore[method-assign]
    return result, seen[0]


def test_scan_and_watch_reach_the_same_state(
    day: dict[str, Path], scanned: tuple[Any, StreamLearner]
) -> None:
    """Same scores for every client, same raises, same candidates; the scan's clients carry the
    watch's scores and raise exactly the clients the watch's learner raised."""
    result, learner = scanned
    db = day["tmp"] / "state.db"
    r = run_cli("watch", str(day["log"]), "--once", "--state", str(db), "--robots", str(day["robots"]),
                "--config", str(day["config"]), "--format", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    robots = RobotsSources(parse_robots_option((str(day["robots"]),), False))
    watched = StreamLearner.restore(db.with_name("state.model"), load_settings(day["config"]), robots=robots)
    assert watched.counters.events == learner.counters.events > 30_000
    scan_state, watch_state = _state(learner), _state(watched)
    assert scan_state == watch_state
    assert len(watch_state[1]) > 20 and watch_state[2]  # the day has campaigns: raises and candidates
    scores = watch_state[0]
    for row in result.clients.select("ip", "user_agent", "model_score", "reasons").iter_rows(named=True):
        want = scores.get((row["ip"], row["user_agent"] or ""))
        assert row["model_score"] == (None if want is None else round(want[0], 4))
    raised = {(r["ip"], r["user_agent"]) for r in result.clients.iter_rows(named=True)
              if any(x.startswith(("model: campaign", "model: walks")) for x in r["reasons"])}  # fmt: skip
    assert raised and raised <= set(watch_state[1])


def test_slices_and_a_restart_do_not_change_the_state(
    day: dict[str, Path], scanned: tuple[Any, StreamLearner], tmp_path: Path
) -> None:
    """The log fed in odd slices (1,237 rows), with a snapshot and a restore halfway, ends where the
    scan's single pass ended."""
    settings = load_settings(day["config"])
    robots = RobotsSources(parse_robots_option((str(day["robots"]),), False))
    frame = pl.concat([b.requests for b in read_batches([str(day["log"])])])
    first = StreamLearner.from_config(settings, robots=robots)
    half = frame.height // 2
    for start in range(0, half, 1237):
        first.observe(frame.slice(start, min(1237, half - start)))
    first.snapshot(tmp_path / "snap")
    second = StreamLearner.restore(tmp_path / "snap", settings, robots=robots)
    for start in range(half, frame.height, 1237):
        second.observe(frame.slice(start, min(1237, frame.height - start)))
    assert _state(second) == _state(scanned[1])
