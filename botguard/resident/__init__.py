"""Resident stage: ``botguard daemon``, a server that keeps botguard's scan path imported and
runs each ``botguard scan`` in a forked child (see ``README.md`` beside this file).

The client (:mod:`botguard.resident.client`) runs before anything heavy is imported, so this
door imports nothing itself: each name is loaded on first use (PEP 562).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own costs the client ~10 ms: mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ResidentError", "ServerStatus", "Start", "mismatch", "run_daemon", "served", "server_status",
    "socket_path", "stop_server",
]  # fmt: skip

_HOMES = {
    "ResidentError": "records", "ServerStatus": "records", "Start": "records", "mismatch": "records",
    "run_daemon": "server", "server_status": "server", "stop_server": "server", "served": "client",
    "socket_path": "_wire",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOMES:  # e.g. the import system asking for a submodule: not worth a module load
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from botguard.loading import lazy_attribute

    return lazy_attribute(__name__, _HOMES, name)
