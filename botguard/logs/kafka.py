"""Log lines on a Kafka topic (``kafka://HOST:PORT/TOPIC``): ``ship`` produces them keyed by the
client address, ``watch --from`` workers consume them as members of one consumer group.

Why keyed: Kafka hashes the key to a partition and gives each partition to one member, so all
of a client's lines reach the same worker, whose model then sees the client's whole behaviour.
Offsets are committed only after a chunk is processed (as file offsets are): a worker killed
mid-chunk leaves them uncommitted, and the member that takes over its partitions reads those
lines again. That is at least once; the counts each worker reports are its own (Kafka has no
place to add them atomically with the offsets, which the Redis bus has: see ``bus.py``).

The client is ``confluent-kafka`` (librdkafka), the optional extra ``botguard[kafka]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botguard.errors import BotguardError, UsageError
from botguard.logs.bus import BusAddress, BusChunk, entry_line

if TYPE_CHECKING:
    from botguard.logs.follow import Totals
    from botguard.logs.records import Batch

__all__ = ["KafkaPublisher", "KafkaSource"]

#: How long a member may stay silent before the group gives its partitions to the others.
SESSION_TIMEOUT_MS = 10_000


def _kafka() -> Any:
    try:
        import confluent_kafka
    except ImportError:
        raise UsageError("the Kafka bus needs confluent-kafka: pip install 'botguard[kafka]'") from None
    return confluent_kafka


class KafkaSource:
    """A consumer group's member: chunks of messages in, offsets committed once processed."""

    def __init__(
        self, address: BusAddress, group: str, consumer: str, *, chunk_lines: int = 2000,
        max_chunks: int = 50, from_end: bool = False,
    ) -> None:  # fmt: skip
        kafka = _kafka()
        self.address, self._chunk_lines, self._max_chunks = address, chunk_lines, max_chunks
        self._events: list[str] = []
        self._lines = self._parsed = 0
        self._at_end: set[int] = set()
        self._consumer = kafka.Consumer({
            "bootstrap.servers": f"{address.host}:{address.port}", "group.id": group, "client.id": consumer,
            "enable.auto.commit": False, "auto.offset.reset": "latest" if from_end else "earliest",
            "enable.partition.eof": True, "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": SESSION_TIMEOUT_MS // 10, "log_level": 0,
        })  # fmt: skip
        self._kafka = kafka
        try:
            self._consumer.list_topics(address.stream, timeout=10)
        except kafka.KafkaException as exc:
            self._consumer.close()
            raise BotguardError(f"cannot use the bus {address.url}: {exc.args[0].str()}") from None
        self._consumer.subscribe([address.stream], on_assign=self._assigned)

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        self._at_end.difference_update(p.partition for p in partitions)

    def poll(self) -> Iterator[BusChunk]:
        """What the assigned partitions hold now (bounded, so the watch loop comes round)."""
        for _ in range(self._max_chunks):
            messages = self._consumer.consume(num_messages=self._chunk_lines, timeout=0.2)
            lines, ids = [], []
            for message in messages:
                error = message.error()
                if error is None:
                    lines.append(entry_line(message.value()) + b"\n")
                    ids.append((message.partition(), message.offset()))
                    self._at_end.discard(message.partition())
                elif error.code() == self._kafka.KafkaError._PARTITION_EOF:
                    self._at_end.add(message.partition())
                else:
                    self._events.append(f"bus {self.address.url}: {error.str()}")
            if not ids:
                return
            yield BusChunk(self.address.url, b"".join(lines), tuple(ids))

    def drain(self) -> Iterator[BusChunk]:
        """Until this member has partitions and has read each to its end (``--once``)."""
        while True:
            yield from self.poll()
            assigned = {p.partition for p in self._consumer.assignment()}
            if assigned and assigned <= self._at_end:
                return

    def commit(self, chunk: BusChunk, batch: Batch) -> int:
        """Commit the chunk's offsets (each partition's last + 1); a member that lost its
        partitions meanwhile cannot, and their new owner reads those lines again."""
        last: dict[int, int] = {}
        for partition, offset in chunk.ids:
            last[partition] = max(offset, last.get(partition, -1))
        offsets = [self._kafka.TopicPartition(self.address.stream, p, o + 1) for p, o in last.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except self._kafka.KafkaException as exc:
            self._events.append(
                f"bus {self.address.url}: commit failed ({exc.args[0].str()}); the lines will be redone"
            )
            return 0
        self._lines += chunk.lines
        self._parsed += batch.requests.height
        return chunk.lines

    def save(self) -> None:
        """Nothing to do: every commit is already on the broker."""

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events

    def totals(self) -> dict[str, Totals]:
        """This member's counts since it started (see the module docstring)."""
        from botguard.logs.follow import Totals

        return {self.address.url: Totals(self._lines, self._parsed, self._lines - self._parsed)}

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> KafkaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class KafkaPublisher:
    """Produces log lines keyed by their client address (all of a client's lines: one partition)."""

    keyed = True

    def __init__(self, address: BusAddress) -> None:
        kafka = _kafka()
        self.address = address
        self._producer = kafka.Producer(
            {"bootstrap.servers": f"{address.host}:{address.port}", "log_level": 0}
        )
        try:
            self._producer.list_topics(address.stream, timeout=10)
        except kafka.KafkaException as exc:
            raise BotguardError(f"cannot use the bus {address.url}: {exc.args[0].str()}") from None

    def publish(self, lines: Sequence[bytes], keys: Sequence[bytes | None] = ()) -> None:
        """Produce ``lines`` and wait until the broker has them all."""
        failed: list[str] = []

        def delivered(error: Any, message: Any) -> None:
            if error is not None:
                failed.append(error.str())

        for i, line in enumerate(lines):
            key = keys[i] if i < len(keys) else None
            while True:
                try:
                    self._producer.produce(self.address.stream, value=line, key=key, on_delivery=delivered)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.1)
        if self._producer.flush(60) or failed:
            raise BotguardError(
                f"cannot use the bus {self.address.url}: {failed[0] if failed else 'flush timed out'}"
            )

    def close(self) -> None:
        self._producer.flush(10)
