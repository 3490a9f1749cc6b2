"""A real redis-server (the Debian package) on a free 127.0.0.1 port, nothing written to disk."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.render.servers import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass(frozen=True)
class RedisServer:
    port: int
    client: redis.Redis

    def url(self, stream: str) -> str:
        return f"redis://127.0.0.1:{self.port}/{stream}"

    def totals(self, stream: str, group: str = "botguard") -> dict[str, int]:
        raw = self.client.hgetall(f"botguard:totals:{group}:{stream}")
        return {key.decode(): int(value) for key, value in raw.items()}

    def pending(self, stream: str, group: str = "botguard") -> int:
        return int(self.client.xpending(stream, group)["pending"])


@contextmanager
def running_redis(workdir: Path, password: str | None = None) -> Iterator[RedisServer]:
    """Start redis-server (no persistence; with ``password``, clients must give it) and stop it
    afterwards."""
    if not Path(REDIS_SERVER).exists():
        pytest.fail("redis-server is missing: apt-get install redis-server (tools/system-packages)")
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), *(["--requirepass", password] if password else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port, password=password)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("redis-server did not start") from None
                time.sleep(0.02)
        yield RedisServer(port, client)
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
