"""A running nginx or Apache with empty botguard rules, a scan document and a config pointing at both."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from botguard.decide import DecisionSet
from botguard.render.apache import ApacheRenderer
from botguard.render.nginx import NginxRenderer
from tests.judge.scans import T, client_value, crawler_value, scan_value
from tests.render.servers import Server, running

BYTESPIDER = "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)"
#: The automated browser the scan blocks by address: a public test address, since no rule may
#: name a loopback one (the test servers see it through X-Forwarded-For: tests/render/servers.py).
BLOCKED_IP = "203.0.113.2"


def client(ip: str, ua: str, crawler: str | None, category: str, verdict: str, requests: int = 5) -> dict:
    return client_value(ip, ua, verdict, crawler=crawler, category=category, requests=requests,
                        reasons=[f"test {verdict}"])  # fmt: skip


def scan_doc(*, with_ip_block: bool, last_seen: str = T) -> dict:
    """Bytespider blocked by verdict; optionally an automated browser at :data:`BLOCKED_IP` too."""
    clients = [
        client("127.0.0.3", BYTESPIDER, "Bytespider", "ai-training", "block"),
        client("127.0.0.1", "Mozilla/5.0 Chrome/131.0", None, "human", "allow", 40),
    ]
    if with_ip_block:
        clients.append(client(BLOCKED_IP, "Mozilla/5.0 Chrome/131.0", None, "automated", "block"))
    for c in clients:
        c["last_seen"] = last_seen
    return {
        "summary": scan_value(clients)["summary"] | {"lines": 50, "parsed": 50},
        "clients": clients,
        "crawlers": [crawler_value("Bytespider", "block", operator="ByteDance", category="ai-training",
                                   requests=5, disallowed_requests=5, compliance=0.0)],
    }  # fmt: skip


@dataclass
class Site:
    """A server plus the files a deploy-rules run needs."""

    server: Server
    tmp: Path
    config: Path
    state: Path

    def scan(self, name: str, doc: dict) -> Path:
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(doc))
        return path

    def args(self, scan: Path, *extra: str) -> list[str]:
        option = "--nginx-dir" if self.server.kind == "nginx" else "--apache-dir"
        return ["deploy-rules", "--from", str(scan), option, str(self.server.rules), "--config", str(self.config),
                "--state", str(self.state), *extra]  # fmt: skip

    def eventually(self, probe: Callable[[], int], want: int, timeout: float = 10.0, stable: int = 10) -> int:
        """Poll until ``probe()`` returns ``want`` ``stable`` times in a row: after a reload the old
        workers keep accepting connections for a moment, so one new answer is not enough."""
        deadline = time.monotonic() + timeout
        streak, got = 0, probe()
        while time.monotonic() < deadline:
            streak = streak + 1 if got == want else 0
            if streak >= stable:
                break
            time.sleep(0.02)
            got = probe()
        return got


def write_config(path: Path, kind: str, server: Server, **override: list[str]) -> None:
    target = {
        "validate": override.get("validate", server.validate),
        "reload": override.get("reload", server.reload),
    }
    other = "apache" if kind == "nginx" else "nginx"
    conf = {
        "deploy": {
            kind: target,
            other: {"validate": [], "reload": []},
            "lock": str(path.parent / "deploy.lock"),
        }
    }
    path.write_text(yaml.safe_dump(conf))


@pytest.fixture(params=["nginx", "apache"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    kind = request.param
    renderer = NginxRenderer() if kind == "nginx" else ApacheRenderer()
    files = {f.name: f.text for f in renderer.render(DecisionSet())}
    with running(kind, files) as server:
        config = tmp_path / "botguard.yaml"
        write_config(config, kind, server)
        yield Site(server, tmp_path, config, tmp_path / "state.db")
