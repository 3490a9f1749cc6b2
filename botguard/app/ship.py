"""``botguard ship PATH... --to redis://HOST:PORT/STREAM``: tail log files into a stream.

The small producer for ``botguard watch --from``: the files are followed as watch follows them
(rotation-aware, offsets in the state database) and each chunk of lines goes onto the stream in
one transaction before its offset is committed. A ship killed between the two sends that chunk
again when it restarts (at least once): give it a state database of its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from botguard.app.env import Env
from botguard.app.watch import live_paths, stop_on_signals
from botguard.logs.bus import RedisPublisher, bus_address
from botguard.logs.follow import LogFollower
from botguard.report._safe import printable

__all__ = ["ShipReport", "ShipRequest", "run_ship"]


@dataclass(frozen=True, slots=True)
class ShipRequest:
    """The files to tail and the stream to feed."""

    paths: tuple[str, ...]
    to: str
    interval: float = 1.0
    once: bool = False
    from_end: bool = False


@dataclass(frozen=True, slots=True)
class ShipReport:
    """Lines put on the stream by this run."""

    lines: int = 0


def run_ship(request: ShipRequest, env: Env, *, stop: threading.Event | None = None) -> ShipReport:
    """Ship until ``stop`` (or a signal), or what the files hold now with ``once``."""
    address = bus_address(request.to)
    paths = live_paths(request.paths, env)
    stop = stop if stop is not None else threading.Event()
    publisher = RedisPublisher(address)
    try:
        with (
            env.open_state() as state,
            LogFollower(paths, state=state, from_end=request.from_end) as follower,
            stop_on_signals(stop),
        ):
            shipped = _loop(request, env, follower, publisher, stop)
    finally:
        publisher.close()
    env.log(f"ship: {shipped} lines to {address.url}")
    return ShipReport(shipped)


def _loop(
    request: ShipRequest, env: Env, follower: LogFollower, publisher: RedisPublisher, stop: threading.Event
) -> int:
    shipped = 0
    while True:
        started = time.monotonic()
        for chunk in follower.drain() if request.once else follower.poll():
            publisher.publish(chunk.data.splitlines())
            follower.commit(chunk)  # after the stream has the lines: a crash sends them again
            shipped += chunk.lines
            if stop.is_set():
                break
        follower.save()
        for event in follower.take_events():
            env.log(f"ship: {printable(event)}")
        if request.once or stop.is_set():
            return shipped
        stop.wait(max(0.0, request.interval - (time.monotonic() - started)))
