"""``botguard watch PATH...``: follow access logs live and let the online model propose rules.

Pipeline per chunk of new lines: :class:`~botguard.logs.follow.LogFollower` -> the scan's
parsers (:class:`~botguard.logs.chunks.ChunkParser`) -> ``StreamLearner.observe`` ->
``learner.candidates()`` -> :class:`~botguard.model.store.CandidateStore` -> commit the offset.
The offset is committed last, so a crash re-reads the chunk being processed and never skips one.
The model is snapshotted every ``snapshot_every`` seconds and on SIGTERM/SIGINT (a normal end).
Candidates are only proposed here; ``botguard candidates approve`` and ``deploy-rules`` act
(or ``model.auto_deploy``, which runs deploy-rules' own code after each new proposal).

Watch streams: each new candidate goes to ``Env.stdout`` as it is proposed, status lines to
``Env.log``; the :class:`WatchReport` it returns at the end holds the totals.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from botguard.app.env import Env
from botguard.config import Settings
from botguard.errors import BotguardError, Location, UsageError
from botguard.logs.chunks import ChunkParser
from botguard.logs.follow import LogFollower, is_compressed_name
from botguard.logs.records import ParseStats
from botguard.model.records import RuleCandidate
from botguard.robots.sources import RobotsOption, RobotsSources
from botguard.state import State
from botguard.text import printable

__all__ = ["WatchReport", "WatchRequest", "candidate_line", "run_watch"]


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """Everything one watch needs, validated by the caller."""

    paths: tuple[str, ...]
    settings: Settings
    robots: RobotsOption = field(default_factory=RobotsOption)
    log_format: str | None = None
    interval: float = 1.0
    once: bool = False
    from_end: bool = False
    snapshot_dir: str | None = None
    snapshot_every: float | None = None  # seconds; None: the config's model.snapshot_every (900)
    json_output: bool = False


@dataclass(frozen=True, slots=True)
class WatchReport:
    """What the whole watch processed (each interval's share was logged as it went)."""

    lines: int = 0
    parsed: int = 0
    malformed: int = 0
    new_candidates: int = 0


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


def run_watch(request: WatchRequest, env: Env, *, stop: threading.Event | None = None) -> WatchReport:
    """Follow, learn and propose until ``stop`` is set (or a signal), or once with ``once``."""
    paths = _live_paths(request.paths, env)
    stop = stop if stop is not None else threading.Event()
    with (
        env.open_state() as state,
        LogFollower(paths, state=state, from_end=request.from_end) as follower,
    ):
        parser = ChunkParser(
            request.log_format or request.settings.log_format, request.settings.json_fields or None
        )
        snapshots = Path(request.snapshot_dir) if request.snapshot_dir else _default_snapshots(state)
        learner = _learner(request, state, snapshots, env)
        proposer = _Proposer(state, env.stdout, request.json_output)
        with _stop_on_signals(stop):
            total = _loop(request, env, follower, parser, learner, proposer, stop, snapshots)
    return WatchReport(total.lines, total.parsed, total.malformed, total.new_candidates)


def _loop(
    request: WatchRequest, env: Env, follower: LogFollower, parser: ChunkParser, learner: Any,
    proposer: _Proposer, stop: threading.Event, snapshots: Path,
) -> _Tick:  # fmt: skip
    next_snapshot, total = time.monotonic() + _snapshot_every(request), _Tick()
    while True:
        started, tick = time.monotonic(), _Tick()
        for chunk in follower.drain() if request.once else follower.poll():
            batch = parser.parse(chunk)
            if batch.requests.height:
                learner.observe(batch.requests)
            new = proposer.propose(learner.candidates())
            follower.commit(chunk, batch.stats)  # last: a crash before it re-reads this chunk
            tick.add(batch.stats, new)
            total.add(batch.stats, new)
            if stop.is_set():
                break
        follower.save()
        for event in follower.take_events():
            env.log(f"watch: {printable(event)}")
        if tick.lines or tick.new_candidates or request.once:
            env.log(_status(tick, follower))
        if tick.new_candidates and request.settings.model.auto_deploy:
            _auto_deploy(request, env)
        finishing = request.once or stop.is_set()
        if finishing or time.monotonic() >= next_snapshot:
            learner.snapshot(snapshots)
            next_snapshot = time.monotonic() + _snapshot_every(request)
        if finishing:
            return total
        stop.wait(max(0.0, request.interval - (time.monotonic() - started)))


class _Proposer:
    """Stores what the learner proposes and prints each signature the first time it qualifies."""

    def __init__(self, state: State, out: TextIO | None, json_output: bool) -> None:
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
        if self._out is not None and new:
            for candidate in new:
                self._out.write(
                    (json.dumps(asdict(candidate)) if self._json else candidate_line(candidate)) + "\n"
                )
            self._out.flush()
        return len(new)


def candidate_line(candidate: RuleCandidate) -> str:
    """One readable line per proposal; log-controlled text shown through ``printable``.

    Examples:
        >>> c = RuleCandidate("ua_tok=nova\\x1b[2J", "ua_pattern", "nova", "block", 0.97, 0.95, 420, 12,
        ...                   0.0, 60.0, 300, explanation=(("ua_tok=nova", 2.1), ("asn_type=hosting", 1.4)))
        >>> print(candidate_line(c))  # doctest: +NORMALIZE_WHITESPACE
        candidate ua_tok=nova\\x1b[2J: block ua_pattern "nova" (score 0.97, bad-rate lcb 0.95, 420 requests,
        12 IPs; ua_tok=nova +2.10, asn_type=hosting +1.40)
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


def _auto_deploy(request: WatchRequest, env: Env) -> None:
    """``model.auto_deploy``: put new proposals on the configured servers now, with deploy-rules'
    own code (latest scan + candidates, validate, swap, reload, roll back on failure).

    A failed deploy is reported and watching goes on: the next new candidate tries again.
    """
    from botguard.app.deploy import DeployRequest, run_deploy

    try:
        report = run_deploy(DeployRequest(request.settings), env)
    except BotguardError as exc:
        env.log(f"watch: auto-deploy failed: {printable(str(exc))}")
        return
    for outcome in report.outcomes:
        env.log(f"watch: auto-deploy: {outcome.target} {outcome.summary} ({printable(str(outcome.dir))})")
    for error in report.errors:
        env.log(f"watch: auto-deploy failed: {printable(error)}")


def _status(tick: _Tick, follower: LogFollower) -> str:
    totals = follower.totals()
    lines = sum(t.lines for t in totals.values())
    return (
        f"watch: {tick.lines} lines ({tick.parsed} parsed, {tick.malformed} malformed), "
        f"{tick.new_candidates} new candidates; {lines} lines in total"
    )


def _live_paths(paths: tuple[str, ...], env: Env) -> list[str]:
    """The paths to follow: compressed rotations are old news and are skipped (a glob brings them)."""
    live = []
    for path in paths:
        if path == "-":
            raise UsageError("watch follows files; to read standard input use `botguard scan -`")
        if is_compressed_name(path):
            env.log(f"watch: skipping compressed {printable(path)} (only live logs are followed)")
            continue
        if os.path.isdir(path):
            raise UsageError(f"{path} is a directory (pass the log files, e.g. a glob)")
        if not os.path.exists(path):
            env.log(f"watch: {printable(path)} does not exist yet; waiting for it")
        live.append(path)
    if not live:
        raise UsageError("no live log file to follow")
    return live


def _default_snapshots(state: State) -> Path:
    return state.path.with_name(state.path.stem + ".model")


def _learner(request: WatchRequest, state: State, snapshots: Path, env: Env) -> Any:
    """The stream learner: restored from its last snapshot, else fresh from the configuration."""
    from botguard.model.stream import StreamLearner

    robots = RobotsSources(request.robots)
    for warning in robots.warnings:
        env.log(f"watch: warning: {printable(warning)}")
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
    """SIGTERM and SIGINT end the loop after the current chunk (offsets and snapshot saved).

    Only in the main thread (a command-line run): a service running watch in a thread stops it
    through ``stop``.
    """
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
