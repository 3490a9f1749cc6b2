"""The fetcher against a real HTTP server on 127.0.0.1 (http.server in a thread)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from botguard.robots.fetch import FetchSettings, effective_robots, fetch_robots, scan_fetcher
from botguard.robots.history import RobotsHistory
from botguard.state import State
from tests.helpers import serve_http

BODY = b"User-agent: *\nDisallow: /private/\n"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class _Handler(BaseHTTPRequestHandler):
    """Routes: /ok, /redirect/<n> (n hops then /ok), /status/<code>, /slow, /big, /toggle."""

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts[0] == "ok" or (parts[0] == "toggle" and self.server.toggle_ok):  # type: ignore[attr-defined]
            self._send(200, BODY)
        elif parts[0] == "toggle":
            self._send(503, b"down")
        elif parts[0] == "redirect":
            hops = int(parts[1])
            self.send_response(302)
            self.send_header("Location", "/ok/robots.txt" if hops <= 1 else f"/redirect/{hops - 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts[0] == "status":
            self._send(int(parts[1]), b"error page")
        elif parts[0] == "slow":
            time.sleep(1.5)
            self._send(200, BODY)
        elif parts[0] == "big":
            self._send(200, b"User-agent: *\n" + b"Disallow: /x\n" * 60_000)
        else:
            self._send(404, b"nope")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    with serve_http(_Handler) as httpd:
        httpd.toggle_ok = True  # type: ignore[attr-defined]
        yield httpd


def _url(server: ThreadingHTTPServer, path: str) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


FAST = FetchSettings(connect_timeout=2, read_timeout=0.5, total_timeout=5)


def test_ok(server: ThreadingHTTPServer) -> None:
    """200: the body, not truncated."""
    result = fetch_robots(_url(server, "/ok/robots.txt"), settings=FAST)
    assert (result.kind, result.status, result.body, result.truncated) == ("ok", 200, BODY, False)
    assert not effective_robots(result).is_allowed("x", "/private/a")


def test_five_redirects_are_followed(server: ThreadingHTTPServer) -> None:
    """Up to 5 redirect hops reach the body."""
    result = fetch_robots(_url(server, "/redirect/5"), settings=FAST)
    assert (result.kind, result.redirects, result.body) == ("ok", 5, BODY)
    assert result.final_url and result.final_url.endswith("/ok/robots.txt")


def test_six_redirects_mean_unavailable(server: ThreadingHTTPServer) -> None:
    """More than 5 redirects: unavailable, treated like a 4xx (allow all)."""
    result = fetch_robots(_url(server, "/redirect/6"), settings=FAST)
    assert result.kind == "allow-all" and "redirects" in (result.error or "")
    assert effective_robots(result).is_allowed("x", "/private/a")


@pytest.mark.parametrize("code", [404, 403, 410])
def test_4xx_allows_all(server: ThreadingHTTPServer, code: int) -> None:
    """4xx: no robots.txt, everything allowed."""
    result = fetch_robots(_url(server, f"/status/{code}"), settings=FAST)
    assert (result.kind, result.status) == ("allow-all", code)


@pytest.mark.parametrize("code", [500, 503, 429])
def test_5xx_disallows_all_without_cache(server: ThreadingHTTPServer, code: int) -> None:
    """5xx (and 429): unreachable, complete disallow when nothing is cached."""
    result = fetch_robots(_url(server, f"/status/{code}"), settings=FAST)
    assert (result.kind, result.status) == ("disallow-all", code)
    assert not effective_robots(result).is_allowed("x", "/")


def test_timeout_disallows_all(server: ThreadingHTTPServer) -> None:
    """A server slower than the read timeout is unreachable."""
    result = fetch_robots(_url(server, "/slow"), settings=FAST)
    assert result.kind == "disallow-all" and "Timeout" in (result.error or "")


def test_connection_refused_disallows_all() -> None:
    """Nothing listening: unreachable."""
    result = fetch_robots("http://127.0.0.1:9/robots.txt", settings=FAST)
    assert result.kind == "disallow-all" and result.status is None


def test_oversize_is_truncated_at_500_kib(server: ThreadingHTTPServer) -> None:
    """Bodies are cut at 500 KiB and flagged."""
    result = fetch_robots(_url(server, "/big"), settings=FAST)
    assert result.kind == "ok" and result.truncated and len(result.body) == 500 * 1024


def test_cache_fallback_within_24h(server: ThreadingHTTPServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """5xx with a copy fetched < 24 h ago: the copy is used; after 24 h: disallow all."""
    history = RobotsHistory(State(tmp_path / "state.db"))
    url = _url(server, "/toggle/robots.txt")
    server.toggle_ok = True  # type: ignore[attr-defined]
    history.record_fetch(fetch_robots(url, settings=FAST, now=lambda: T0))
    server.toggle_ok = False  # type: ignore[attr-defined]
    try:
        soon = fetch_robots(url, settings=FAST, cache=history, now=lambda: T0 + timedelta(hours=23))
        late = fetch_robots(url, settings=FAST, cache=history, now=lambda: T0 + timedelta(hours=25))
    finally:
        server.toggle_ok = True  # type: ignore[attr-defined]
    assert (soon.kind, soon.body, soon.status) == ("cached", BODY, 503)
    assert late.kind == "disallow-all"
    assert history.record_fetch(soon) is None  # our failed fetch is not a version
    assert len(history.versions(f"127.0.0.1:{server.server_address[1]}")) == 1


def test_scan_fetcher_records_history(server: ThreadingHTTPServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """scan_fetcher fetches, stores a version and returns the host's timeline of versions."""
    with State(tmp_path / "state.db") as state:
        fetch = scan_fetcher(state, settings=FAST)
        robots = fetch(_url(server, "/ok/robots.txt"))
        assert robots is not None and not robots.latest.is_allowed("x", "/private/")
        assert robots.allowed_many(0, "x", ["/private/", "/public"]) == [False, True]
        cached = fetch(_url(server, "/status/500"))  # same host: the recorded version still judges
        assert cached is not None and not cached.latest.is_allowed("x", "/private/")
        assert fetch("http://127.0.0.1:9/robots.txt") is None  # unreachable, nothing cached
        history = RobotsHistory(state)
        assert [v.body for v in history.versions(f"127.0.0.1:{server.server_address[1]}")] == [BODY]
