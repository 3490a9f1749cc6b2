"""Log lines on a Redis stream: ``botguard ship`` puts them there, ``botguard watch --from``
workers take them, as members of one consumer group.

Why a stream: several web servers write logs and one or more botguard workers read them. Each
entry (one log line) is handed to one worker (``XREADGROUP``) and stays pending until that
worker has processed it; a dead worker's pending entries are claimed by another (``XAUTOCLAIM``)
once idle for ``claim_idle`` seconds.

Exactly once per line: a worker acknowledges a processed chunk and adds its counts to the
group's totals in one server-side script (atomic), entry by entry. An entry another worker
already acknowledged (claimed from a slow worker that then finished it too) acknowledges as 0
and is not counted again; a worker killed before its script ran counted nothing, and whoever
claims its entries counts them. Acknowledged entries are deleted, so the stream holds only the
lines still to do: give each botguard group a stream of its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from botguard.errors import BotguardError, UsageError
from botguard.logs._malformed import MAX_LINE_BYTES

if TYPE_CHECKING:
    from botguard.logs.follow import Totals
    from botguard.logs.records import Batch

__all__ = [
    "PASSWORD_ENV", "BusAddress", "BusChunk", "RedisPublisher", "RedisSource", "bus_address", "publisher",
    "source",
]  # fmt: skip

#: The stream entry's field holding the line (raw bytes, without its newline).
LINE_FIELD = b"l"
_STREAM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._-]{0,199}")
_DEFAULT_PORTS = {"redis": 6379, "kafka": 9092}

#: Acknowledge each entry, delete it, and count the ones this call acknowledged (see the module
#: docstring). KEYS: stream, totals hash; ARGV: group, then (entry id, 1 if parsed else 0) pairs.
_ACK_AND_COUNT = """
local lines, parsed = 0, 0
for i = 2, #ARGV, 2 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    lines = lines + 1
    parsed = parsed + tonumber(ARGV[i + 1])
  end
end
if lines > 0 then
  redis.call('HINCRBY', KEYS[2], 'lines', lines)
  redis.call('HINCRBY', KEYS[2], 'parsed', parsed)
  redis.call('HINCRBY', KEYS[2], 'malformed', lines - parsed)
end
return lines
"""


#: The environment variable holding the Redis password (``AUTH``; with a user in the URL, an
#: ACL user's). Never the URL: a command line shows in every process list.
PASSWORD_ENV = "BOTGUARD_BUS_PASSWORD"


@dataclass(frozen=True, slots=True)
class BusAddress:
    """``redis://[USER@]HOST:PORT/STREAM`` or ``kafka://HOST:PORT/TOPIC``, checked (no I/O), and
    the password to give Redis (from :data:`PASSWORD_ENV`)."""

    host: str
    port: int
    stream: str  # the Redis stream, or the Kafka topic
    scheme: str = "redis"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}/{self.stream}"


def bus_address(url: str, environ: Mapping[str, str] | None = None) -> BusAddress:
    """Parse a bus URL, with the password ``environ`` holds; a clear usage error for anything else.

    Why a password: whoever can write to the stream writes the log lines the workers learn
    from (forged lines could frame any address), and whoever can read it reads every request.

    Examples:
        >>> bus_address("redis://10.0.0.5:6380/access").url
        'redis://10.0.0.5:6380/access'
        >>> bus_address("kafka://broker/access").url
        'kafka://broker:9092/access'
        >>> bus_address("amqp://broker/access")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        botguard.errors.UsageError: unsupported bus 'amqp://broker/access': expected redis://... or ...
    """
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        parts, port = None, 0
    stream = parts.path.removeprefix("/") if parts else ""
    if (
        parts is None
        or parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        raise UsageError(
            f"unsupported bus {url!r}: expected redis://HOST:PORT/STREAM or kafka://HOST:PORT/TOPIC"
        )
    if parts.password is not None:
        raise UsageError(f"a password in the bus URL shows in every process list: set {PASSWORD_ENV} instead")
    if not _STREAM_NAME.fullmatch(stream):
        raise UsageError(f"bad stream name {stream!r} in {url!r}: use A-Z, a-z, 0-9, ':', '.', '_', '-'")
    password = (environ or {}).get(PASSWORD_ENV) or None
    if parts.scheme == "kafka" and (parts.username or password):
        raise UsageError(
            f"botguard does not authenticate to Kafka (a user in the URL or {PASSWORD_ENV}): keep the"
            " broker on a network only the shippers and workers reach"
        )
    return BusAddress(parts.hostname, port, stream, parts.scheme, parts.username or None, password)


@dataclass(frozen=True, slots=True)
class BusChunk:
    """Entries read together: their lines (one per entry, newline-terminated) and their ids.

    Line ``first_line_no + i`` of ``data`` is entry ``ids[i]``: rows the parser returns carry
    that number, which is how each entry learns whether it parsed.
    """

    path: str  # the stream's URL: what the rows give as their source
    data: bytes
    ids: tuple[Any, ...]  # Redis entry ids; Kafka (partition, offset) pairs
    first_line_no: int = 1

    @property
    def lines(self) -> int:
        return len(self.ids)


def _client(address: BusAddress) -> Any:
    """A Redis connection (the ``redis`` package is the optional extra ``botguard[redis]``)."""
    try:
        import redis
    except ImportError:
        raise UsageError("the Redis bus needs the redis package: pip install 'botguard[redis]'") from None
    return redis.Redis(
        host=address.host, port=address.port, username=address.username, password=address.password,
        socket_timeout=30, socket_connect_timeout=10,
    )  # fmt: skip


def _unreachable(address: BusAddress, exc: Exception) -> BotguardError:
    """One line; when the server wants a password (or another one), which variable gives it."""
    said = str(exc)
    if "auth" in said.lower():
        unset = "" if address.password else " is not set"
        said += f" (the server asks for a password: {PASSWORD_ENV}{unset})"
    return BotguardError(f"cannot use the bus {address.url}: {said}")


def entry_line(value: bytes | None) -> bytes:
    """A bus entry's line, on one line whatever a producer put in it (a newline would split it),
    and cut as the file follower cuts an endless line (the parser counts it ``too_long``)."""
    line = (value or b"")[: MAX_LINE_BYTES + 1]
    return line.replace(b"\r", b"\\x0d").replace(b"\n", b"\\x0a")


def _line(fields: dict[bytes, bytes] | None) -> bytes:
    return entry_line((fields or {}).get(LINE_FIELD))


class RedisSource:
    """A consumer group's member: chunks of entries in, acknowledged once processed.

    It offers what ``botguard watch`` needs of a log follower (``poll``/``drain``, ``commit``,
    ``save``, ``take_events``, ``totals``), so the watch loop runs unchanged over a bus.
    """

    def __init__(
        self, address: BusAddress, group: str, consumer: str, *,
        chunk_lines: int = 2000, claim_idle: float = 30.0, max_chunks: int = 50, from_end: bool = False,
    ) -> None:  # fmt: skip
        self.address, self.group = address, group
        self.consumer = consumer
        self._chunk_lines, self._claim_ms, self._max_chunks = chunk_lines, int(claim_idle * 1000), max_chunks
        self._events: list[str] = []
        self._redis = _client(address)
        self._totals_key = f"botguard:totals:{group}:{address.stream}"
        try:
            # a new group starts at the stream's first entry, or after its last with from_end
            self._redis.xgroup_create(address.stream, group, id="$" if from_end else "0", mkstream=True)
        except Exception as exc:  # redis.ResponseError BUSYGROUP: the group exists, as expected
            if "BUSYGROUP" not in str(exc):
                raise _unreachable(address, exc) from None
        self._ack = self._redis.register_script(_ACK_AND_COUNT)

    # ------------------------------------------------------------------ reading

    def poll(self) -> Iterator[BusChunk]:
        """What is there now: idle entries of dead members first, then new ones (bounded, so
        the watch loop's status and snapshots still come round under a steady flow)."""
        for _ in range(self._max_chunks):
            try:
                chunk = self._claimed() or self._new()
            except Exception as exc:  # the connection dropped: nothing acknowledged, retry next poll
                if not _is_redis_error(exc):
                    raise
                self._events.append(f"bus {self.address.url}: {exc}; retrying")
                return
            if chunk is None:
                return
            yield chunk

    def drain(self) -> Iterator[BusChunk]:
        """Until the group has nothing new and nothing pending (``--once``): pending entries of a
        member that died are claimed once idle, so this waits for them at most ``claim_idle``."""
        while True:
            got = False
            for chunk in self.poll():
                got = True
                yield chunk
            if not got:
                if self.pending() == 0:
                    return
                time.sleep(min(0.2, self._claim_ms / 4000))

    def pending(self) -> int:
        """Entries delivered to some member and not acknowledged yet."""
        return int(self._redis.xpending(self.address.stream, self.group)["pending"])

    def _claimed(self) -> BusChunk | None:
        stream = self.address.stream
        reply = self._redis.xautoclaim(
            stream, self.group, self.consumer, self._claim_ms, "0-0", count=self._chunk_lines
        )
        entries = [(i, f) for i, f in reply[1] if f is not None]
        if not entries:
            return None
        self._events.append(f"claimed {len(entries)} pending lines idle for over {self._claim_ms / 1000:g} s")
        return self._chunk(entries)

    def _new(self) -> BusChunk | None:
        reply = self._redis.xreadgroup(
            self.group, self.consumer, {self.address.stream: ">"}, count=self._chunk_lines
        )
        entries = reply[0][1] if reply else []
        return self._chunk(entries) if entries else None

    def _chunk(self, entries: Sequence[tuple[bytes, dict[bytes, bytes]]]) -> BusChunk:
        data = b"".join(_line(fields) + b"\n" for _, fields in entries)
        return BusChunk(self.address.url, data, tuple(entry_id for entry_id, _ in entries))

    # ------------------------------------------------------------------ committing

    def commit(self, chunk: BusChunk, batch: Batch) -> int:
        """Acknowledge ``chunk`` and count it, atomically; returns the lines counted now (fewer
        than the chunk's when another member had finished some of them first)."""
        parsed = set(batch.requests["line_no"].to_list()) if batch.requests.height else set()
        args: list[Any] = [self.group]
        for number, entry_id in enumerate(chunk.ids, start=chunk.first_line_no):
            args += [entry_id, 1 if number in parsed else 0]
        try:
            return int(self._ack(keys=[self.address.stream, self._totals_key], args=args))
        except Exception as exc:  # not acknowledged: the entries stay pending and are claimed again
            if not _is_redis_error(exc):
                raise
            self._events.append(
                f"bus {self.address.url}: acknowledging failed ({exc}); the lines will be redone"
            )
            return 0

    def save(self) -> None:
        """Nothing to do: every commit is already durable on the server."""

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events

    def totals(self) -> dict[str, Totals]:
        """The group's counts: every line acknowledged by any member, once."""
        from botguard.logs.follow import Totals

        raw = self._redis.hgetall(self._totals_key)
        counts = {key.decode(): int(value) for key, value in raw.items()}
        return {
            self.address.url: Totals(
                counts.get("lines", 0), counts.get("parsed", 0), counts.get("malformed", 0)
            )
        }

    def close(self) -> None:
        self._redis.close()

    def __enter__(self) -> RedisSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RedisPublisher:
    """Puts log lines on the stream, a chunk at a time in one transaction (all or none)."""

    def __init__(self, address: BusAddress) -> None:
        self.address = address
        self._redis = _client(address)
        try:
            self._redis.ping()
        except Exception as exc:
            raise _unreachable(address, exc) from None

    def publish(self, lines: Sequence[bytes]) -> None:
        """Append ``lines`` (each without its newline)."""
        if not lines:
            return
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                for line in lines:
                    pipe.xadd(self.address.stream, {LINE_FIELD: line})
                pipe.execute()
        except Exception as exc:
            raise _unreachable(self.address, exc) from None

    def close(self) -> None:
        self._redis.close()


def source(address: BusAddress, group: str, consumer: str, *, claim_idle: float, from_end: bool) -> Any:
    """The member of ``group`` reading ``address`` (Redis or Kafka), connected."""
    if address.scheme == "kafka":
        from botguard.logs.kafka import KafkaSource

        return KafkaSource(address, group, consumer, from_end=from_end)
    return RedisSource(address, group, consumer, claim_idle=claim_idle, from_end=from_end)


def publisher(address: BusAddress) -> Any:
    """What ``ship`` writes lines with (Redis or Kafka), connected."""
    if address.scheme == "kafka":
        from botguard.logs.kafka import KafkaPublisher

        return KafkaPublisher(address)
    return RedisPublisher(address)


def _is_redis_error(exc: Exception) -> bool:
    """A connection or server error (the redis package is imported lazily, so check by module)."""
    return type(exc).__module__.startswith("redis")
