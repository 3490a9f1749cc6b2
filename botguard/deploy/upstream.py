"""Is the challenge tier's upstream up? One ``GET /.botguard/healthz`` on serve's listen address,
without aiohttp: deploy-rules asks before it routes challenged clients there, to say so when
nobody answers."""

from __future__ import annotations

import http.client
import socket

__all__ = ["serve_answers"]


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (``unix:/path``)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def serve_answers(listen: str, timeout: float = 1.0) -> bool:
    """True when serve at ``listen`` (``HOST:PORT`` or ``unix:/path``) answers its health check."""
    if listen.startswith("unix:"):
        conn: http.client.HTTPConnection = _UnixConnection(listen.removeprefix("unix:"), timeout)
    else:
        host, port = listen.rsplit(":", 1)
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
    try:
        conn.request("GET", "/.botguard/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
