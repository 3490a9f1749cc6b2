"""`botguard watch`: follower -> parsers -> online learner -> candidate store, exact across kills."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from botguard.model.store import CandidateStore
from botguard.state import State
from tests.e2e.traffic import write
from tests.helpers import run_cli

BOTGUARD = [sys.executable, "-m", "botguard"]


def totals(db: Path) -> tuple[int, int, int]:
    """(lines, parsed, malformed) recorded for every watched path."""
    if not db.exists():
        return (0, 0, 0)
    with sqlite3.connect(db) as conn:
        try:
            row = conn.execute("SELECT sum(lines), sum(parsed), sum(malformed) FROM watch_totals").fetchone()
        except sqlite3.OperationalError:  # the table is not created yet
            return (0, 0, 0)
    return tuple(value or 0 for value in row)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """The e2e log: people, Googlebot, known scrapers, and NovaScrape (novel, rotating hosting IPs,
    ignores robots.txt) from one hour in."""
    log, robots, _ = write(tmp_path_factory.mktemp("traffic"))
    return log, robots, log.read_text().splitlines(keepends=True)


def test_once_proposes_the_novel_family_and_resumes(
    tmp_path: Path, traffic: tuple[Path, Path, list[str]]
) -> None:
    """--once on a log where a novel crawler family ignores robots.txt from rotating IPs: a candidate
    for it lands in the state DB and is printed once; a second run reads only what was appended."""
    _, robots, lines = traffic
    log, db = tmp_path / "access.log", tmp_path / "state.db"
    log.write_text("".join(lines))
    args = ("watch", str(log), "--robots", str(robots), "--state", str(db), "--once", "--no-dns")
    r = run_cli(*args)
    assert r.exit_code == 0, r.output
    assert "candidate ua_tok=novascrape:" in r.stdout
    assert f"{len(lines)} lines ({len(lines)} parsed, 0 malformed)" in r.stderr
    with State(db) as state:
        stored = {s.candidate.signature: s for s in CandidateStore(state).list()}
    assert stored["ua_tok=novascrape"].candidate.match_value == "novascrape"
    assert "ua_fam=novascrape" not in stored  # one candidate per agent
    assert not any("googlebot" in sig or "chrome" in sig or "mozilla" in sig for sig in stored)
    assert (tmp_path / "state.model" / "state.json").is_file(), "snapshot taken on exit"

    with open(log, "a") as handle:
        handle.write("garbage\n" + lines[-1])
    again = run_cli(*args, "--format", "json")
    assert again.exit_code == 0, again.output
    assert again.stdout == "", "known candidates are not announced again"
    assert "2 lines (1 parsed, 1 malformed)" in again.stderr
    assert totals(db) == (len(lines) + 2, len(lines) + 1, 1)


def test_json_output_is_ndjson_of_candidates(tmp_path: Path, traffic: tuple[Path, Path, list[str]]) -> None:
    """--format json prints one RuleCandidate object per line."""
    log, robots, _ = traffic
    r = run_cli("watch", str(log), "--robots", str(robots), "--state", str(tmp_path / "s.db"), "--once",
                "--format", "json", "--no-dns")  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows and {"signature", "match_kind", "match_value", "action", "explanation"} <= set(rows[0])
    assert "ua_tok=novascrape" in {row["signature"] for row in rows}


def test_compressed_paths_skipped_and_stdin_refused(tmp_path: Path) -> None:
    """A glob's .gz rotations are skipped with a note; `-` is a usage error (exit 2)."""
    (tmp_path / "access.log.1.gz").write_bytes(b"\x1f\x8b")
    r = run_cli("watch", str(tmp_path / "access.log.1.gz"), "--state", str(tmp_path / "s.db"), "--once")
    assert r.exit_code == 2 and "skipping compressed" in r.stderr and "no live log" in r.stderr
    assert run_cli("watch", "-", "--once").exit_code == 2


def _spawn(log: Path, db: Path, robots: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*BOTGUARD, "watch", str(log), "--robots", str(robots), "--state", str(db), "--interval", "0.05", "--no-dns"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _wait(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_sigkill_mid_stream_then_restart_loses_and_repeats_nothing(
    tmp_path: Path, traffic: tuple[Path, Path, list[str]]
) -> None:
    """Kill -9 while lines are being appended and the log rotated (rename, then copytruncate);
    after a restart the number of parsed requests recorded equals the lines written."""
    _, robots, lines = traffic
    log, db = tmp_path / "access.log", tmp_path / "state.db"
    pieces = [lines[i : i + 400] for i in range(0, len(lines), 400)]
    proc = _spawn(log, db, robots)
    written = 0
    try:
        for n, piece in enumerate(pieces):
            if n == len(pieces) // 3:
                os.rename(log, f"{log}.1")  # rename rotation while watch runs
            if n == 2 * len(pieces) // 3:  # copytruncate (the old .1 is compressed away first)
                os.rename(f"{log}.1", f"{log}.2")
                log.with_name("access.log.1").write_bytes(log.read_bytes())
                os.truncate(log, 0)
            with open(log, "a") as handle:
                handle.write("".join(piece))
            written += len(piece)
            if n == 0:  # a first start reads the live file only: let it start before any rotation
                _wait(lambda: totals(db)[0] > 0)
            if n == len(pieces) // 2:  # mid-stream: some lines processed, more on the way
                _wait(lambda: totals(db)[0] > 0)
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                assert 0 < totals(db)[0] < len(lines)
                proc = _spawn(log, db, robots)
            time.sleep(0.02)
        _wait(lambda: totals(db)[0] >= len(lines))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert totals(db) == (len(lines), len(lines), 0)
    assert (tmp_path / "state.model" / "state.json").is_file(), "SIGTERM saved a snapshot"
    # And a later --once finds nothing new.
    r = subprocess.run([*BOTGUARD, "watch", str(log), "--state", str(db), "--once", "--no-dns"],
                       check=False, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert totals(db) == (len(lines), len(lines), 0)


def test_directory_refused_missing_file_waited_for(tmp_path: Path) -> None:
    """A directory is a usage error; a log that does not exist yet is announced and waited for."""
    r = run_cli("watch", str(tmp_path), "--state", str(tmp_path / "s.db"), "--once")
    assert r.exit_code == 2 and "is a directory" in r.stderr
    r = run_cli("watch", str(tmp_path / "later.log"), "--state", str(tmp_path / "s.db"), "--once", "--no-dns")
    assert r.exit_code == 0, r.output
    assert "does not exist yet; waiting for it" in r.stderr and "0 lines" in r.stderr


def test_robots_over_500_kib_is_announced(tmp_path: Path) -> None:
    """watch reads robots.txt as scan does: the first 500 KiB, and it says so on stderr."""
    robots = tmp_path / "robots.txt"
    robots.write_bytes(b"User-agent: *\nDisallow: /cart\n" + b"# padding\n" * (60 * 1024))
    log = tmp_path / "access.log"
    log.write_text("")
    r = run_cli(
        "watch", str(log), "--robots", str(robots), "--state", str(tmp_path / "s.db"), "--once", "--no-dns"
    )
    assert r.exit_code == 0, r.output
    assert f"watch: warning: {robots}: only the first 500 KiB of 600 KiB is read" in r.stderr


def test_auto_deploy_puts_new_candidates_on_the_server(
    tmp_path: Path, traffic: tuple[Path, Path, list[str]]
) -> None:
    """With model.auto_deploy, a new proposal goes through deploy-rules' code at once: the nginx
    rule file names the novel family (validate/reload skipped here: the deploy tests run real servers)."""
    log, robots, _ = traffic
    db, nginx = tmp_path / "state.db", tmp_path / "nginx"
    nginx.mkdir()
    config = tmp_path / "botguard.yaml"
    config.write_text(
        "model: {auto_deploy: true}\n"
        f"deploy: {{nginx: {{dir: '{nginx}', validate: [], reload: []}}, apache: {{validate: [], reload: []}},"
        f" lock: '{tmp_path / 'deploy.lock'}'}}\n"
    )
    scan = run_cli("scan", str(log), "--robots", str(robots), "--state", str(db), "--config", str(config),
                   "--no-dns", "--format", "json", "-o", str(tmp_path / "scan.json"))  # fmt: skip
    assert scan.exit_code == 0, scan.output
    r = run_cli("watch", str(log), "--robots", str(robots), "--state", str(db), "--config", str(config), "--once",
                "--no-dns")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "watch: auto-deploy: nginx updated" in r.stderr, r.output
    assert "novascrape" in (nginx / "botguard_http.conf").read_text().lower()


def test_auto_deploy_failure_is_reported_not_fatal(
    tmp_path: Path, traffic: tuple[Path, Path, list[str]]
) -> None:
    """No scan to deploy from: the failure is one stderr line and watch still exits 0."""
    log, robots, _ = traffic
    config = tmp_path / "botguard.yaml"
    config.write_text("model: {auto_deploy: true}\n")
    r = run_cli("watch", str(log), "--robots", str(robots), "--state", str(tmp_path / "s.db"), "--config",
                str(config), "--once", "--no-dns")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "watch: auto-deploy failed:" in r.stderr


def test_damaged_snapshot_is_one_error_line(tmp_path: Path, traffic: tuple[Path, Path, list[str]]) -> None:
    """A snapshot that cannot be read stops watch with exit 1 and a reason, not a traceback."""
    log = traffic[0]
    snapshots = tmp_path / "model"
    snapshots.mkdir()
    (snapshots / "state.json").write_text('{"version": 999}')
    r = run_cli("watch", str(log), "--state", str(tmp_path / "s.db"), "--snapshot-dir", str(snapshots), "--once",
                "--no-dns")  # fmt: skip
    assert r.exit_code == 1, r.output
    assert "cannot restore the model snapshot" in r.stderr and "Traceback" not in r.stderr


def test_snapshot_interval_comes_from_the_flag_else_the_config(tmp_path: Path) -> None:
    """`--snapshot-every` wins; without it the config's model.snapshot_every is used (it was
    validated and documented but ignored)."""
    from botguard.app.watch import WatchRequest, _snapshot_every
    from botguard.config import load_settings

    config = tmp_path / "botguard.yaml"
    config.write_text("model:\n  snapshot_every: 120\n", encoding="utf-8")
    settings = load_settings(str(config))
    assert _snapshot_every(WatchRequest(paths=("x.log",), settings=settings)) == 120
    assert _snapshot_every(WatchRequest(paths=("x.log",), settings=settings, snapshot_every=30)) == 30
    assert _snapshot_every(WatchRequest(paths=("x.log",), settings=load_settings(None))) == 900
