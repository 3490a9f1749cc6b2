"""`scan --fetch-robots`: each virtual host's robots.txt fetched from a real local HTTP server."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from botguard.app import Env, ScanRequest, run_scan
from botguard.config import load_settings
from botguard.report.json import write_json
from botguard.robots.history import RobotsHistory
from botguard.robots.sources import RobotsOption
from botguard.state import State
from tests.helpers import run_cli, serve_http

ROBOTS = b"User-agent: GPTBot\nDisallow: /private/\n"
GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


class _Robots(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/robots.txt":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(ROBOTS)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture()
def server() -> Iterator[int]:
    with serve_http(_Robots) as httpd:
        yield httpd.server_address[1]


class _Loopback(HTTPAdapter):
    """Sends every request for a test host name to a port on 127.0.0.1 (tests never leave loopback)."""

    def __init__(self, ports: dict[str, int]) -> None:
        super().__init__(max_retries=0)
        self.ports = ports

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        url = urlsplit(request.url or "")
        port = self.ports[url.hostname or ""]
        request.url = urlunsplit(("http", f"127.0.0.1:{port}", url.path, url.query, ""))
        return super().send(request, **kwargs)


class _NoTls(HTTPAdapter):
    """An HTTPS that never answers (an HTTP-only site)."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        raise requests.ConnectionError("connection refused")


def _scan(log: Path, state: Path, ports: dict[str, int], *, https: bool = True) -> dict[str, Any]:
    session = requests.Session()
    adapter = _Loopback(ports)
    session.mount("http://", adapter)
    session.mount("https://", adapter if https else _NoTls())
    request = ScanRequest(paths=(str(log),), settings=load_settings(), robots=RobotsOption(fetch=True),
                          log_format="vhost_combined")  # fmt: skip
    result = run_scan(request, Env(state_path=str(state), http=session)).result
    out = io.StringIO()
    write_json(result, out)
    return json.loads(out.getvalue())


def _log(tmp_path: Path, host: str) -> Path:
    log = tmp_path / "vhost.log"
    log.write_text(
        f'{host}:443 203.0.113.9 - - [04/Mar/2024:10:00:00 +0100] "GET /private/a HTTP/1.1" 200 5 "-" "{GPTBOT}"\n'
        f'{host}:443 203.0.113.9 - - [04/Mar/2024:10:00:01 +0100] "GET /public/b HTTP/1.1" 200 5 "-" "{GPTBOT}"\n'
    )
    return log


def test_fetched_robots_judges_and_is_recorded(server: int, tmp_path: Path) -> None:
    """The vhost's robots.txt is fetched over real HTTP, used for judging, and kept in history."""
    state = tmp_path / "state.db"
    doc = _scan(_log(tmp_path, "site.test"), state, {"site.test": server})
    (gpt,) = doc["clients"]
    assert gpt["disallowed_requests"] == 1
    assert gpt["compliance"] == 0.5
    assert gpt["evidence"][0]["rule"] == "Disallow: /private/"
    assert doc["summary"]["robots"] == {"site.test": "https://site.test/robots.txt"}
    with State(state) as opened:
        versions = RobotsHistory(opened).versions("site.test")
    assert len(versions) == 1


def test_http_only_site_is_named_by_the_url_that_answered(server: int, tmp_path: Path) -> None:
    """No answer over HTTPS, robots.txt over HTTP: judged by it, and the summary names http://."""
    doc = _scan(_log(tmp_path, "site.test"), tmp_path / "s.db", {"site.test": server}, https=False)
    (gpt,) = doc["clients"]
    assert gpt["disallowed_requests"] == 1
    assert doc["summary"]["robots"] == {"site.test": "http://site.test/robots.txt"}


def test_unreachable_host_judges_nothing(tmp_path: Path) -> None:
    """A host whose robots.txt cannot be fetched: nobody is accused on the strength of our failure."""
    doc = _scan(_log(tmp_path, "down.test"), tmp_path / "s.db", {"down.test": 1})  # port 1: refused
    (gpt,) = doc["clients"]
    assert gpt["compliance"] is None
    assert gpt["disallowed_requests"] == 0
    assert gpt["verdict"] != "block"
    assert doc["summary"]["robots"] == {"down.test": "unavailable"}


def test_fetch_robots_cli_needs_no_robots_option(tmp_path: Path) -> None:
    """--fetch-robots and --robots exclude each other (exit 2 before any fetch)."""
    r = run_cli("scan", str(_log(tmp_path, "site.test")), "--fetch-robots", "--robots", "x.txt",
                "--state", str(tmp_path / "s.db"))  # fmt: skip
    assert r.exit_code == 2


def test_requests_are_judged_by_the_version_live_at_their_time(tmp_path: Path) -> None:
    """Two recorded versions: /a forbidden first, then /b. Each request is judged by the version(s)
    in effect at its time, with RFC 9309's 24 h cache grace after a change."""
    state = tmp_path / "state.db"
    with State(state) as opened:
        history = RobotsHistory(opened)
        t0 = datetime(2024, 3, 1, tzinfo=UTC)
        history.record("site.test", b"User-agent: *\nDisallow: /a\n", t0)
        history.record("site.test", b"User-agent: *\nDisallow: /a\n", t0 + timedelta(hours=1))
        history.record("site.test", b"User-agent: *\nDisallow: /b\n", t0 + timedelta(hours=26))
        timeline = history.timeline("site.test")
    assert timeline is not None

    def at(hours: float, path: str) -> str:
        when = (t0 + timedelta(hours=hours)).strftime("%d/%b/%Y:%H:%M:%S +0000")
        return f'site.test:443 203.0.113.9 - - [{when}] "GET {path} HTTP/1.1" 200 5 "-" "{GPTBOT}"\n'

    log = tmp_path / "vhost.log"
    log.write_text(
        at(0.5, "/a") + at(0.5, "/b")      # version 1 only: /a is a violation
        + at(30, "/a") + at(30, "/b")      # version 2 live, version 1 within 24 h grace: both allowed
        + at(60, "/a") + at(60, "/b")      # version 2 only: /b is a violation
    )  # fmt: skip
    offline = requests.Session()  # the site does not answer now: the recorded versions judge
    offline.mount("http://", _NoTls())
    offline.mount("https://", _NoTls())
    request = ScanRequest(paths=(str(log),), settings=load_settings(), robots=RobotsOption(fetch=True),
                          log_format="vhost_combined", save=False)  # fmt: skip
    result = run_scan(request, Env(state_path=str(state), http=offline)).result
    (gpt,) = result.client_rows()
    assert gpt.judged_requests == 6
    assert gpt.disallowed_requests == 2
    assert [(e.target, e.rule) for e in gpt.evidence] == [("/a", "Disallow: /a"), ("/b", "Disallow: /b")]


class _Recorder(BaseHTTPRequestHandler):
    """Answers every path with a robots.txt and records what was asked."""

    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).asked.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(ROBOTS)

    def log_message(self, *args: object) -> None:
        return


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}/internal/admin?x=", "http://127.0.0.1:{port}/latest/meta-data/#",
     "127.0.0.1:{port}#", "evil.example@127.0.0.1:{port}/x?", "127.0.0.1:{port}\\@evil.example"],
)  # fmt: skip
def test_a_logged_host_names_a_host_never_a_url(host: str, tmp_path: Path) -> None:
    """The host field is whatever the client sent as Host (nginx's $host keeps `?`, `#`, `@`): only
    `https://HOST/robots.txt` of a host name or address may be fetched, never a path, query,
    scheme or user it smuggles in (a request into the site's own network of the attacker's choice)."""
    _Recorder.asked = []
    with serve_http(_Recorder) as httpd:
        logged = host.format(port=httpd.server_address[1])
        log = tmp_path / "access.log"
        log.write_text(
            f'{logged} 203.0.113.9 - - [04/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n'
        )
        fmt = '$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
        r = run_cli("scan", str(log), "--fetch-robots", "--log-format", fmt, "--state", str(tmp_path / "s.db"),
                    "--no-dns", "--no-model", "--format", "json")  # fmt: skip
        assert r.exit_code == 0, r.output
    assert all(path == "/robots.txt" for path in _Recorder.asked), _Recorder.asked
