"""`botguard watch PATH...`: follow access logs live and let the online model propose rules.

Pipeline per chunk of new lines: :class:`~botguard.logs.follow.LogFollower` -> the scan's
parsers (:class:`~botguard.logs.chunks.ChunkParser`) -> ``StreamLearner.observe`` ->
``learner.candidates()`` -> :class:`~botguard.model.store.CandidateStore` -> commit the offset.
The offset is committed last, so a crash re-reads the chunk being processed and never skips one.
The model is snapshotted every ``--snapshot-every`` seconds and on SIGTERM/SIGINT (exit 0).
Candidates are only proposed here; ``botguard candidates approve`` and ``deploy-rules`` act.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from botguard.cli._options import common_options
from botguard.config import Settings, load_settings
from botguard.errors import BotguardError, ExitStatus, Location, UsageError
from botguard.logs.chunks import ChunkParser
from botguard.logs.follow import LogFollower, is_compressed_name
from botguard.logs.records import ParseStats
from botguard.model.records import RuleCandidate
from botguard.report._safe import printable
from botguard.scan import RobotsOption, RobotsSources, parse_robots_option
from botguard.state import State


@click.command("watch")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--robots", "robots", multiple=True, metavar="FILE|HOST=FILE", help="robots.txt to judge against."
)
@click.option(
    "--log-format", metavar="FMT", help="combined|common|vhost_combined|json or an nginx log_format."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Candidates on stdout as readable lines or NDJSON.")  # fmt: skip
@common_options
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds between polls.",
)
@click.option("--once", is_flag=True, help="Process what the logs hold now, then exit (tests, cron).")
@click.option(
    "--from-end", is_flag=True, help="Skip the lines a log already holds the first time it is seen."
)
@click.option(
    "--snapshot-dir", metavar="DIR", help="Model snapshots (default: STATE.model beside the state DB)."
)
@click.option(
    "--snapshot-every",
    type=click.FloatRange(min=1),
    default=None,
    metavar="S",
    help="Seconds between model snapshots (also taken on exit; default: model.snapshot_every, 900).",
)
@click.option(
    "--no-dns", is_flag=True, help="Accepted for symmetry with scan: watch never does DNS in the stream."
)
def command(
    paths: tuple[str, ...], robots: tuple[str, ...], log_format: str | None, fmt: str, config_path: str | None,
    state_path: str | None, interval: float, once: bool, from_end: bool, snapshot_dir: str | None,
    snapshot_every: float | None, no_dns: bool,
) -> int:  # fmt: skip
    """Follow access logs like tail -F (rotation-aware) and learn new crawler signatures."""
    request = WatchRequest(
        paths=paths, settings=load_settings(config_path), robots=parse_robots_option(robots, False),
        log_format=log_format, state_path=state_path, interval=interval, once=once, from_end=from_end,
        snapshot_dir=snapshot_dir, snapshot_every=snapshot_every, json_output=fmt == "json",
    )  # fmt: skip
    return run_watch(request, out=sys.stdout, err=sys.stderr)


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """Everything one watch needs, validated by the caller."""

    paths: tuple[str, ...]
    settings: Settings
    robots: RobotsOption = field(default_factory=RobotsOption)
    log_format: str | None = None
    state_path: str | None = None
    interval: float = 1.0
    once: bool = False
    from_end: bool = False
    snapshot_dir: str | None = None
    snapshot_every: float | None = None  # seconds; None: the config's model.snapshot_every (900)
    json_output: bool = False


@dataclass(slots=True)
class _Tick:
    """What one interval processed (the status line)."""

    lines: int = 0
    parsed: int = 0
    malformed: int = 0
    new_candidates: int = 0

    def add(self, stats: ParseStats, new: int) -> None:
        self.lines += stats.lines
        self.parsed += stats.parsed
        self.malformed += stats.malformed
        self.new_candidates += new


def _snapshot_every(request: WatchRequest) -> float:
    """Seconds between snapshots (what a hard kill may cost the model): the flag, else the config."""
    return request.snapshot_every or request.settings.model.snapshot_every


def run_watch(request: WatchRequest, *, out: TextIO, err: TextIO, stop: threading.Event | None = None) -> int:
    """Follow, learn and propose until ``stop`` is set (or a signal), or once with ``once``."""
    paths = _live_paths(request.paths, err)
    stop = stop if stop is not None else threading.Event()
    with (
        State(request.state_path) as state,
        LogFollower(paths, state=state, from_end=request.from_end) as follower,
    ):
        parser = ChunkParser(
            request.log_format or request.settings.log_format, request.settings.json_fields or None
        )
        snapshots = Path(request.snapshot_dir) if request.snapshot_dir else _default_snapshots(state)
        learner = _learner(request, state, snapshots, err)
        proposer = _Proposer(state, out, request.json_output)
        with _stop_on_signals(stop):
            _loop(request, follower, parser, learner, proposer, stop, err, snapshots)
    return ExitStatus.OK


def _loop(
    request: WatchRequest, follower: LogFollower, parser: ChunkParser, learner: Any, proposer: _Proposer,
    stop: threading.Event, err: TextIO, snapshots: Path,
) -> None:  # fmt: skip
    next_snapshot = time.monotonic() + _snapshot_every(request)
    while True:
        started, tick = time.monotonic(), _Tick()
        for chunk in follower.drain() if request.once else follower.poll():
            batch = parser.parse(chunk)
            if batch.requests.height:
                learner.observe(batch.requests)
            new = proposer.propose(learner.candidates())
            follower.commit(chunk, batch.stats)  # last: a crash before it re-reads this chunk
            tick.add(batch.stats, new)
            if stop.is_set():
                break
        follower.save()
        for event in follower.take_events():
            click.echo(f"watch: {printable(event)}", file=err)
        if tick.lines or tick.new_candidates or request.once:
            click.echo(_status(tick, follower), file=err)
        if tick.new_candidates and request.settings.model.auto_deploy:
            _auto_deploy(request, err)
        finishing = request.once or stop.is_set()
        if finishing or time.monotonic() >= next_snapshot:
            learner.snapshot(snapshots)
            next_snapshot = time.monotonic() + _snapshot_every(request)
        if finishing:
            return
        stop.wait(max(0.0, request.interval - (time.monotonic() - started)))


class _Proposer:
    """Stores what the learner proposes and prints each signature the first time it qualifies."""

    def __init__(self, state: State, out: TextIO, json_output: bool) -> None:
        from botguard.model.store import CandidateStore

        self._store = CandidateStore(state)
        self._out = out
        self._json = json_output
        self._known: set[str] = set()

    def propose(self, candidates: list[RuleCandidate]) -> int:
        """Upsert ``candidates``; print and count those the store did not hold before."""
        if not candidates:
            return 0
        new = [
            c for c in candidates if c.signature not in self._known and self._store.get(c.signature) is None
        ]
        self._store.upsert(candidates)
        self._known.update(c.signature for c in candidates)
        for candidate in new:
            self._out.write(
                (json.dumps(asdict(candidate)) if self._json else candidate_line(candidate)) + "\n"
            )
        if new:
            self._out.flush()
        return len(new)


def candidate_line(candidate: RuleCandidate) -> str:
    """One readable line per proposal; log-controlled text shown through ``printable``.

    Examples:
        >>> c = RuleCandidate("ua_tok=nova\\x1b[2J", "ua_pattern", "nova", "block", 0.97, 0.95, 420, 12,
        ...                   0.0, 60.0, 300, explanation=(("ua_tok=nova", 2.1), ("asn_type=hosting", 1.4)))
        >>> candidate_line(c)
        'candidate ua_tok=nova\\\\x1b[2J: block ua_pattern "nova" (score 0.97, bad-rate lcb 0.95, 420 requests, 12 IPs; ua_tok=nova +2.10, asn_type=hosting +1.40)'
    """
    why = ", ".join(f"{printable(name, 60)} {value:+.2f}" for name, value in candidate.explanation[:5])
    evidence = (
        f"score {candidate.score:.2f}, bad-rate lcb {candidate.bad_rate_lcb:.2f}, "
        f"{candidate.support_requests} requests, {candidate.support_ips} IPs"
    )
    return (
        f"candidate {printable(candidate.signature, 120)}: {candidate.action} {candidate.match_kind} "
        f'"{printable(candidate.match_value, 120)}" ({evidence}{"; " + why if why else ""})'
    )


def _auto_deploy(request: WatchRequest, err: TextIO) -> None:
    """``model.auto_deploy``: put new proposals on the configured servers now, with deploy-rules'
    own code (latest scan + candidates, validate, swap, reload, roll back on failure).

    A failed deploy is reported and watching goes on: the next new candidate tries again.
    """
    from botguard.deploy import DeployRequest, run_deploy

    try:
        report = run_deploy(
            DeployRequest(request.settings, now=datetime.now(UTC), state_path=request.state_path)
        )
    except BotguardError as exc:
        click.echo(f"watch: auto-deploy failed: {printable(str(exc))}", file=err)
        return
    for outcome in report.outcomes:
        click.echo(
            f"watch: auto-deploy: {outcome.target} {outcome.summary} ({printable(str(outcome.dir))})",
            file=err,
        )
    for error in report.errors:
        click.echo(f"watch: auto-deploy failed: {printable(error)}", file=err)


def _status(tick: _Tick, follower: LogFollower) -> str:
    totals = follower.totals()
    lines = sum(t.lines for t in totals.values())
    return (
        f"watch: {tick.lines} lines ({tick.parsed} parsed, {tick.malformed} malformed), "
        f"{tick.new_candidates} new candidates; {lines} lines in total"
    )


def _live_paths(paths: tuple[str, ...], err: TextIO) -> list[str]:
    """The paths to follow: compressed rotations are old news and are skipped (a glob brings them)."""
    live = []
    for path in paths:
        if path == "-":
            raise UsageError("watch follows files; to read standard input use `botguard scan -`")
        if is_compressed_name(path):
            click.echo(
                f"watch: skipping compressed {printable(path)} (only live logs are followed)", file=err
            )
            continue
        if os.path.isdir(path):
            raise UsageError(f"{path} is a directory (pass the log files, e.g. a glob)")
        if not os.path.exists(path):
            click.echo(f"watch: {printable(path)} does not exist yet; waiting for it", file=err)
        live.append(path)
    if not live:
        raise UsageError("no live log file to follow")
    return live


def _default_snapshots(state: State) -> Path:
    return state.path.with_name(state.path.stem + ".model")


def _learner(request: WatchRequest, state: State, snapshots: Path, err: TextIO) -> Any:
    """The stream learner: restored from its last snapshot, else fresh from the configuration."""
    from botguard.model.stream import StreamLearner

    robots = RobotsSources(request.robots)
    for warning in robots.warnings:
        click.echo(f"watch: warning: {printable(warning)}", file=err)
    try:
        return StreamLearner.restore(snapshots, request.settings, robots=robots, state=state)
    except FileNotFoundError:  # first run: no snapshot yet
        return StreamLearner.from_config(request.settings, robots=robots, state=state)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # damaged, or written by another version
        raise BotguardError(
            f"cannot restore the model snapshot ({exc}); move it away to start a fresh model",
            Location(str(snapshots)),
        ) from exc


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT end the loop after the current chunk (offsets and snapshot saved)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
