"""Suite-wide fixtures."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The suite keeps botguard's start-up cache (botguard.cache) in a directory of its own,
    never the user's, shared by the session's in-process and subprocess scans."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture(autouse=True, scope="session")
def _no_resident_server() -> Iterator[None]:
    """Commands the suite runs never go to a resident server the user may have started
    (``botguard daemon``): tests/resident starts its own and lets its clients use it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BOTGUARD_NO_DAEMON", "1")
        yield


@pytest.fixture(autouse=True, scope="session")
def _no_internet_dns() -> Iterator[None]:
    """Scans in tests never ask a real resolver: "the system's nameservers" become a closed
    local UDP port (lookups fail at once, inconclusive). Session-scoped so module-scoped scan
    fixtures are covered too. Tests that need DNS start their own server on 127.0.0.1 and name
    it in the config (identity.dns_nameservers / dns_port) or build a DnsResolver for it."""
    from botguard.identity import setup

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(setup, "system_nameservers", lambda: (("127.0.0.1",), closed_port))
        yield
