"""`botguard ship` -> a real Kafka-protocol broker (Tansu) -> `botguard watch --from kafka://`
workers in one consumer group: lines keyed by client address, offsets committed after each
processed chunk, a killed worker's partitions taken over from its last commit."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.kafka_broker import Broker, running_broker
from tests.e2e.traffic import write
from tests.helpers import run_cli

BOTGUARD = [sys.executable, "-m", "botguard"]
PARTITIONS = 2


@pytest.fixture
def broker() -> Iterator[Broker]:
    with running_broker() as srv:
        srv.create("access", PARTITIONS)
        yield srv


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    log, robots, _ = write(tmp_path_factory.mktemp("traffic"))
    return log, robots, len(log.read_bytes().splitlines())


def _ship(broker: Broker, log: Path, tmp_path: Path) -> None:
    r = run_cli(
        "ship", str(log), "--to", broker.url("access"), "--state", str(tmp_path / "ship.db"), "--once"
    )
    assert r.exit_code == 0, r.output


def _worker(broker: Broker, tmp_path: Path, name: str, robots: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BOTGUARD, "watch", "--from", broker.url("access"), "--consumer", name, "--robots", str(robots),
         "--state", str(tmp_path / f"{name}.db"), "--interval", "0.05", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _ends(broker: Broker, lines: int) -> dict[int, int]:
    """Each partition's end offset (offsets start at 0 and have no gaps here)."""
    ends: dict[int, int] = {}
    for partition, offset, _, _ in broker.messages("access", lines):
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    return ends


def _counted(stderr: str) -> int:
    """The worker's own total from its last status line ("...; N lines in total")."""
    found = re.findall(r"(\d+) lines in total", stderr)
    return int(found[-1]) if found else 0


def test_lines_are_keyed_by_client_and_two_workers_read_them_all(
    broker: Broker, tmp_path: Path, traffic: tuple[Path, Path, int]
) -> None:
    """Every message's key is its line's client address (one client: one partition, one
    worker); two workers in one group read the topic to its end and commit every offset."""
    log, robots, lines = traffic
    _ship(broker, log, tmp_path)
    messages = broker.messages("access", lines)
    ends = _ends(broker, lines)
    assert len(messages) == lines and sum(ends.values()) == lines and len(ends) == PARTITIONS
    for _, _, key, value in messages:
        assert key == value.split(b" ", 1)[0]
    workers = [_worker(broker, tmp_path, name, robots, "--once") for name in ("a", "b")]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert broker.committed("access", "botguard", PARTITIONS) == ends
    assert sum(_counted(err) for _, err in outputs) >= lines  # at least once (a rebalance may redo a chunk)


def test_a_killed_worker_loses_no_line(
    broker: Broker, tmp_path: Path, traffic: tuple[Path, Path, int]
) -> None:
    """kill -9 a worker mid-stream: its uncommitted lines are read again by the member that
    takes its partitions, from the last committed offsets, and nothing after them is skipped."""
    log, robots, lines = traffic
    _ship(broker, log, tmp_path)
    first = _worker(broker, tmp_path, "first", robots)
    try:
        deadline = time.monotonic() + 120
        while sum(broker.committed("access", "botguard", PARTITIONS).values()) == 0:
            assert time.monotonic() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
        first.communicate()
    done = sum(broker.committed("access", "botguard", PARTITIONS).values())
    assert 0 < done < lines
    r = run_cli("watch", "--from", broker.url("access"), "--consumer", "second", "--robots", str(robots),
                "--state", str(tmp_path / "second.db"), "--once")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert broker.committed("access", "botguard", PARTITIONS) == _ends(broker, lines)
    assert _counted(r.stderr) == lines - done, r.output  # from the last commit on, each line once


def test_an_unreachable_broker_is_one_line(tmp_path: Path) -> None:
    r = run_cli("watch", "--from", "kafka://127.0.0.1:1/access", "--state", str(tmp_path / "s.db"), "--once")
    assert r.exit_code == 1 and r.stderr.startswith(
        "botguard: error: cannot use the bus kafka://127.0.0.1:1/access"
    )
    assert len(r.stderr.strip().splitlines()) == 1, r.output
