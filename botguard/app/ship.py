"""``botguard ship PATH... --to redis://HOST:PORT/STREAM|kafka://HOST:PORT/TOPIC``: tail log files into a bus.

The small producer for ``botguard watch --from``: the files are followed as watch follows them
(rotation-aware, offsets in the state database) and each chunk of lines goes onto the stream in
one transaction before its offset is committed. A ship killed between the two sends that chunk
again when it restarts (at least once): give it a state database of its own. Kafka messages are
keyed by the line's client address (read with the scan's parsers), so one client's lines stay on
one partition and reach one worker.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from botguard.app.env import Env
from botguard.app.watch import live_paths, stop_on_signals
from botguard.logs.bus import bus_address, publisher
from botguard.logs.chunks import ChunkParser
from botguard.logs.follow import Chunk, LogFollower
from botguard.text import printable

__all__ = ["ShipReport", "ShipRequest", "run_ship"]


@dataclass(frozen=True, slots=True)
class ShipRequest:
    """The files to tail and the stream to feed."""

    paths: tuple[str, ...]
    to: str
    interval: float = 1.0
    once: bool = False
    from_end: bool = False
    log_format: str | None = None  # to find each line's client address (Kafka's key); None: detected


@dataclass(frozen=True, slots=True)
class ShipReport:
    """Lines put on the stream by this run."""

    lines: int = 0


def run_ship(request: ShipRequest, env: Env, *, stop: threading.Event | None = None) -> ShipReport:
    """Ship until ``stop`` (or a signal), or what the files hold now with ``once``."""
    address = bus_address(request.to, env.environ)
    paths = live_paths(request.paths, env)
    stop = stop if stop is not None else threading.Event()
    out = publisher(address)
    try:
        with (
            env.open_state() as state,
            LogFollower(paths, state=state, from_end=request.from_end) as follower,
            stop_on_signals(stop),
        ):
            shipped = _loop(request, env, follower, out, stop)
    finally:
        out.close()
    env.log(f"ship: {shipped} lines to {address.url}")
    return ShipReport(shipped)


def _loop(request: ShipRequest, env: Env, follower: LogFollower, out: Any, stop: threading.Event) -> int:
    shipped = 0
    keys = ChunkParser(request.log_format) if getattr(out, "keyed", False) else None
    while True:
        started = time.monotonic()
        for chunk in follower.drain() if request.once else follower.poll():
            # lines end at "\n" as scan reads them (bytes.splitlines also cuts at a lone "\r")
            lines = [line.removesuffix(b"\r") for line in chunk.data.split(b"\n")[:-1]]
            if keys is None:
                out.publish(lines)
            else:
                out.publish(lines, _client_keys(keys, chunk))
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


def _client_keys(parser: ChunkParser, chunk: Chunk) -> list[bytes | None]:
    """Each line's client address (Kafka's partition key), None for a line no parser reads."""
    keys: list[bytes | None] = [None] * chunk.lines
    rows = parser.parse(chunk).requests.select("line_no", "ip").iter_rows()
    for line_no, ip in rows:
        index = line_no - chunk.first_line_no
        if 0 <= index < len(keys) and ip:
            keys[index] = str(ip).encode()
    return keys
