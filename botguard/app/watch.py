"""``botguard watch PATH...`` (or ``--from BUS``): follow access logs, let the model propose rules.

Pipeline per chunk of new lines: :class:`~botguard.logs.follow.LogFollower` -> the scan's
parsers (:class:`~botguard.logs.chunks.ChunkParser`) -> ``StreamLearner.observe`` ->
``learner.candidates()`` -> :class:`~botguard.model.store.CandidateStore` -> commit the offset.
The offset is committed last, so a crash re-reads the chunk being processed and never skips one.
With ``--from redis://...`` the lines come from a stream instead (:mod:`botguard.logs.bus`): the
worker is one member of a consumer group, and the commit acknowledges the chunk's entries.
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
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from botguard.app.env import Env
from botguard.config import Settings
from botguard.errors import BotguardError, Location, UsageError
from botguard.logs.chunks import ChunkParser, LineBlock
from botguard.logs.follow import Chunk, LogFollower, Totals, is_compressed_name
from botguard.logs.records import Batch, ParseStats
from botguard.model.records import RuleCandidate
from botguard.robots.sources import RobotsOption, RobotsSources
from botguard.state import State
from botguard.text import printable

if TYPE_CHECKING:
    from botguard.model.deltalog import DeltaLog

__all__ = ["WatchReport", "WatchRequest", "candidate_line", "live_paths", "run_watch", "stop_on_signals"]


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
    bus: str | None = None  # read redis://HOST:PORT/STREAM instead of files (botguard.logs.bus)
    group: str = "botguard"  # the bus's consumer group: workers in one group share the lines
    consumer: str | None = None  # this worker's name in the group; None: HOST-PID
    claim_idle: float = 30.0  # seconds a line stays with a silent worker before another takes it
    deltas: str | None = None  # a directory shared by the group's workers: model deltas in and out


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
    stop = stop if stop is not None else threading.Event()
    with env.open_state() as state, _source(request, env, state) as source:
        parser = ChunkParser(
            request.log_format or request.settings.log_format, request.settings.json_fields or None
        )
        snapshots = Path(request.snapshot_dir) if request.snapshot_dir else _default_snapshots(state)
        learner = _learner(request, state, snapshots, env)
        peers = _peers(request, learner)
        proposer = _Proposer(state, env.stdout, request.json_output)
        with stop_on_signals(stop):
            total = _loop(request, env, source, parser, (learner, peers), proposer, stop, snapshots)
    return WatchReport(total.lines, total.parsed, total.malformed, total.new_candidates)


class _Source(Protocol):
    """Where lines come from: followed files or a bus (:mod:`botguard.logs.bus`)."""

    def poll(self) -> Iterator[LineBlock]: ...
    def drain(self) -> Iterator[LineBlock]: ...
    def commit(self, chunk: Any, batch: Batch) -> object: ...
    def save(self) -> None: ...
    def take_events(self) -> list[str]: ...
    def totals(self) -> dict[str, Totals]: ...


class _Files:
    """The followed log files as a :class:`_Source` (offsets and counts in the state database)."""

    def __init__(self, follower: LogFollower) -> None:
        self._follower = follower
        self.poll, self.drain, self.save = follower.poll, follower.drain, follower.save
        self.take_events, self.totals = follower.take_events, follower.totals

    def commit(self, chunk: Chunk, batch: Batch) -> None:
        self._follower.commit(chunk, batch.stats)


@contextmanager
def _source(request: WatchRequest, env: Env, state: State) -> Iterator[_Source]:
    """The files named, or the bus of ``--from`` (one or the other)."""
    if request.bus is not None:
        if request.paths:
            raise UsageError("watch reads log files or a bus (--from), not both")
        from botguard.logs.bus import bus_address, source
        from botguard.model.deltalog import WORKER_NAME

        address = bus_address(request.bus, env.environ)
        if not WORKER_NAME.fullmatch(request.group):
            raise UsageError(
                f"bad group name {request.group!r}: use A-Z, a-z, 0-9, '.', '_', '-' (at most 100)"
            )
        member = source(
            address,
            request.group,
            worker_name(request),
            claim_idle=request.claim_idle,
            from_end=request.from_end,
        )
        with member:
            yield member
        return
    with LogFollower(live_paths(request.paths, env), state=state, from_end=request.from_end) as follower:
        yield _Files(follower)


def worker_name(request: WatchRequest) -> str:
    """This worker's name in the group and in the delta directory: ``--consumer``, else HOST-PID."""
    from botguard.model.deltalog import WORKER_NAME

    name = request.consumer or f"{socket.gethostname()}-{os.getpid()}"
    if not WORKER_NAME.fullmatch(name):
        raise UsageError(f"bad worker name {name!r}: use A-Z, a-z, 0-9, '.', '_', '-' (at most 100)")
    return name


def _peers(request: WatchRequest, learner: Any) -> DeltaLog | None:
    """``--deltas DIR``: publish this worker's deltas there and apply the other workers'."""
    if request.deltas is None:
        return None
    from botguard.model.deltalog import DeltaLog

    log = DeltaLog(Path(request.deltas), worker_name(request), learner.trainer.table.full_delta)
    learner.share_deltas(log.publish)
    return log


def _exchange(env: Env, learner: Any, peers: DeltaLog | None, *, publish: bool) -> None:
    """Apply the other workers' new deltas; before a snapshot, first publish what this worker's
    trainer learned since its last publication (so a snapshot holds what the others were sent)."""
    if peers is None:
        return
    if publish:
        learner.publish()
    for delta in peers.new_deltas():
        learner.apply_peer_delta(delta)
    for warning in peers.warnings:
        env.log(f"watch: warning: {printable(warning)}")
    peers.warnings.clear()


def _loop(
    request: WatchRequest, env: Env, follower: _Source, parser: ChunkParser,
    model: tuple[Any, DeltaLog | None], proposer: _Proposer, stop: threading.Event, snapshots: Path,
) -> _Tick:  # fmt: skip
    next_snapshot, total = time.monotonic() + _snapshot_every(request), _Tick()
    learner, peers = model
    while True:
        started, tick = time.monotonic(), _Tick()
        _exchange(env, learner, peers, publish=False)
        for chunk in follower.drain() if request.once else follower.poll():
            batch = parser.parse(chunk)
            for warning in batch.stats.warnings:
                env.log(f"watch: warning: {printable(warning)}")
            if batch.requests.height:
                learner.observe(batch.requests)
            new = proposer.propose(learner.candidates())
            follower.commit(chunk, batch)  # last: a crash before it re-reads this chunk
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
            _exchange(env, learner, peers, publish=True)
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


def _status(tick: _Tick, follower: _Source) -> str:
    totals = follower.totals()
    lines = sum(t.lines for t in totals.values())
    return (
        f"watch: {tick.lines} lines ({tick.parsed} parsed, {tick.malformed} malformed), "
        f"{tick.new_candidates} new candidates; {lines} lines in total"
    )


def live_paths(paths: tuple[str, ...], env: Env) -> list[str]:
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
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
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
