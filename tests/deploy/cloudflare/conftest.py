"""Fixtures: a fresh fake Cloudflare API on 127.0.0.1 per test, and an SDK client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deploy.cloudflare.fakecf import PHASE, TOKEN, FakeServer, FakeState

ACCOUNT = "a" * 32
ZONE = "f" * 32


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer(FakeState()).start()
    try:
        yield server
    finally:
        server.stop()


def seed_foreign(state: FakeState) -> list[dict]:
    """A zone entrypoint with two user rules, one of them mentioning botguard (foreign ref)."""
    rules = [
        {
            "id": "1" * 32,
            "ref": "user-geo",
            "action": "block",
            "expression": 'ip.src.country eq "XX"',
            "description": "user: geo block",
            "enabled": True,
            "version": "1",
            "last_updated": "2025-01-01T00:00:00Z",
        },
        {
            "id": "2" * 32,
            "ref": "mine",
            "action": "skip",
            "expression": 'http.request.uri.path eq "/health"',
            "description": "botguard exception by hand",
            "enabled": True,
            "version": "1",
            "action_parameters": {"ruleset": "current"},
            "last_updated": "2025-01-01T00:00:00Z",
        },
    ]
    state.entrypoints[ZONE] = {
        "id": "e" * 32,
        "kind": "zone",
        "name": "default",
        "phase": PHASE,
        "version": "1",
        "last_updated": "2025-01-01T00:00:00Z",
        "description": "",
        "rules": rules,
    }
    return rules


__all__ = ["ACCOUNT", "TOKEN", "ZONE", "seed_foreign"]
