"""The report, live: ``botguard serve --live-log`` shows the latest scan's report at
/.botguard/report with a panel fed by server-sent events, for the admin only.

Real serve (the CLI in a subprocess), a real state database with a scan and a rule candidate,
headless Chromium signing in with the admin token; lines appended to the followed log appear
on the page; approve/reject goes through the page's button, and nothing else can review.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import Browser

from botguard.catalog import load_catalog
from botguard.model.store import CandidateStore
from botguard.serve.live import LiveView
from botguard.state import State
from tests.helpers import run_cli
from tests.model.test_candidates_store import candidate
from tests.render.servers import free_port
from tests.report.browser import screenshot, watch
from tests.serve.browser import chromium
from tests.serve.site import Serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REPORT = "/.botguard/report"
NEW_IP = "192.0.2.77"
AGENT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


@dataclass
class Live:
    serve: Serve
    log: Path
    token: str

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.serve.port}"

    def request(
        self, method: str, path: str, body: str | None = None, **headers: str
    ) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.serve.port, timeout=10)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read() if not path.endswith("/events") else None
        return response

    def session(self) -> str:
        """Sign in as the page's form does; the session cookie."""
        response = self.request("POST", f"{REPORT}/login", f"token={self.token}", Origin=self.origin,
                                **{"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert response.status == 303, response.status
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Path={REPORT}" in cookie
        return cookie.split(";", 1)[0]


def _line(ip: str, second: int, path: str, agent: str) -> str:
    return f'{ip} - - [06/Dec/2026:10:00:{second:02d} +0000] "GET {path} HTTP/1.1" 200 100 "-" "{agent}"\n'


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    state = tmp / "state.db"
    scanned = run_cli("scan", str(EXAMPLES / "access.log"), "--robots", str(EXAMPLES / "robots.txt"), "--config",
                      str(EXAMPLES / "botguard.yaml"), "--state", str(state), "--no-dns", "-o", str(tmp / "s.txt"))  # fmt: skip
    assert scanned.exit_code == 0, scanned.output
    with State(state) as db:
        CandidateStore(db).upsert([candidate()], now=datetime.now(UTC))
    log = tmp / "access.log"
    log.write_text(_line("198.51.100.1", 0, "/old", "Mozilla/5.0 old line"), encoding="utf-8")
    config = tmp / "botguard.yaml"
    config.write_text("serve:\n  timeout: 5.0\n", encoding="utf-8")
    serve = Serve(
        f"127.0.0.1:{free_port()}", state, config, extra=("--live-log", str(log), "--log-format", "combined")
    )
    serve.start()
    try:
        token = (tmp / "serve-admin.token").read_text(encoding="ascii").strip()
        assert (tmp / "serve-admin.token").stat().st_mode & 0o077 == 0
        yield Live(serve, log, token)
    finally:
        serve.stop()


def test_report_wants_the_admin(live: Live) -> None:
    """Without a session: a login page; through the public site: nothing; a wrong token or a
    form from elsewhere: refused."""
    page = live.request("GET", REPORT)
    assert page.status == 401 and "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert live.request("GET", REPORT, **{"X-Botguard-Bind": "198.51.100.0"}).status == 404
    assert live.request("GET", f"{REPORT}/events").status == 401
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (
        live.request("POST", f"{REPORT}/login", "token=wrong-token", Origin=live.origin, **form).status == 403
    )
    assert (
        live.request(
            "POST", f"{REPORT}/login", f"token={live.token}", Origin="http://evil.test", **form
        ).status
        == 403
    )
    assert live.request("POST", f"{REPORT}/login", f"token={live.token}", **form).status == 403  # no Origin
    cookie = live.session()
    assert live.request("GET", REPORT, Cookie=cookie).status == 200
    assert live.request("GET", REPORT, Cookie=cookie, **{"X-Botguard-Client": "1"}).status == 404


def test_review_needs_session_csrf_header_and_origin(live: Live) -> None:
    """A forged review (no CSRF header, a wrong one, another Origin, no session) changes nothing."""
    cookie = live.session()
    conn = http.client.HTTPConnection("127.0.0.1", live.serve.port, timeout=10)
    conn.request("GET", REPORT, headers={"Cookie": cookie})
    html = conn.getresponse().read().decode()
    csrf = json.loads(html.split('id="bg-page-data">', 1)[1].split("</script>", 1)[0])["live"]["csrf"]
    body = json.dumps({"signatures": [candidate().signature]})
    kinds = {"Content-Type": "application/json"}
    forged = [
        {"Cookie": cookie, "Origin": live.origin},
        {"Cookie": cookie, "Origin": live.origin, "X-Botguard-CSRF": "0" * len(csrf)},
        {"Cookie": cookie, "Origin": "http://evil.test", "X-Botguard-CSRF": csrf},
        {"Cookie": cookie, "X-Botguard-CSRF": csrf},
        {"Origin": live.origin, "X-Botguard-CSRF": csrf},
    ]
    for headers in forged:
        assert live.request("POST", f"{REPORT}/candidates/approve", body, **kinds, **headers).status == 403
    with State(live.serve.state) as db:
        assert CandidateStore(db).get(candidate().signature).status == "proposed"  # type: ignore[union-attr]


def test_live_page_updates_and_reviews_in_the_browser(live: Live) -> None:
    with chromium() as browser:
        _run_in_browser(browser, live)


def _run_in_browser(browser: Browser, live: Live) -> None:
    page = browser.new_page()
    seen = watch(page, allow_prefix=live.origin)
    page.goto(live.origin + REPORT)
    page.fill("input[name=token]", live.token)
    page.click("button[type=submit]")
    page.locator("#bg-clients-table[data-ready='1']").wait_for(timeout=20_000)
    page.locator("#bg-live-stamp", has_text="updated").wait_for(timeout=10_000)  # the stream is on
    assert page.locator("#bg-live-now tbody tr").count() == 0  # the old line was not replayed
    with live.log.open("a", encoding="utf-8") as out:
        out.writelines(_line(NEW_IP, s, f"/page/{s}", AGENT) for s in range(12))
    page.locator("#bg-live-now tbody tr", has_text=NEW_IP).wait_for(timeout=15_000)
    row = page.locator("#bg-live-now tbody tr", has_text=NEW_IP).inner_text()
    assert "GPTBot" in row and "12" in row
    assert "OpenAI" in page.inner_text("#bg-live-rates")
    # the candidate's approve button, through the page's own fetch (CSRF header, same origin)
    page.locator("#bg-live-candidates button", has_text="approve").first.click()
    page.locator("#bg-live-status", has_text="approved").wait_for(timeout=10_000)
    with State(live.serve.state) as db:
        assert CandidateStore(db).get(candidate().signature).status == "approved"  # type: ignore[union-attr]
    screenshot(page, "live")
    # the only error: the browser's note on the login page's 401
    assert [e for e in seen.errors if "status of 401" not in e] == [] and len(seen.errors) == 1
    assert (seen.csp, seen.dialogs, seen.requests) == ([], [], [])
    page.close()


def test_live_view_keeps_the_last_window_of_log_time() -> None:
    """Who crawls now is the last WINDOW seconds of log time: older batches leave, rates are per minute."""
    view = LiveView(load_catalog().classify_many, window=60.0)
    start = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)

    def batch(ip: str, agent: str, seconds: list[int]) -> pl.DataFrame:
        times = [start + timedelta(seconds=s) for s in seconds]
        return pl.DataFrame({"ip": [ip] * len(seconds), "time": times, "user_agent": [agent] * len(seconds)})

    view.add(batch("192.0.2.1", "curl/8.0", [0, 1, 2]), 3)
    view.add(batch(NEW_IP, AGENT, [100, 110, 120, 130]), 4)
    now = view.snapshot()
    assert now["lines"] == 7 and now["now"] == "2026-12-06 10:02:10"
    assert [(c["ip"], c["who"], c["requests"]) for c in now["clients"]] == [(NEW_IP, "GPTBot", 4)]
    assert now["operators"] == [{"operator": "OpenAI", "per_minute": 4.0}]


def test_candidate_rules_reach_the_panel_as_shown_text(tmp_path: Path) -> None:
    """A candidate learned from a log (its value is an agent's text) is sent to the page with
    bidi and control characters made visible, as every other text from the log is."""
    state = tmp_path / "state.db"
    with State(state) as db:
        CandidateStore(db).upsert([candidate(value="\u202eevil\x1b[2J")], now=datetime.now(UTC))
    config = tmp_path / "botguard.yaml"
    config.write_text("serve:\n  timeout: 5.0\n", encoding="utf-8")
    serve = Serve(f"127.0.0.1:{free_port()}", state, config)
    serve.start()
    try:
        live = Live(serve, tmp_path / "access.log", (tmp_path / "serve-admin.token").read_text().strip())
        events = live.request("GET", f"{REPORT}/events", Cookie=live.session())
        while not (line := events.readline()).startswith(b"data: "):
            pass
        rule = json.loads(line.removeprefix(b"data: "))["candidates"][0]["rule"]
        events.close()
    finally:
        serve.stop()
    assert rule == "block ua_pattern \\u202eevil\\x1b[2J"


def test_non_ascii_credentials_are_refused_not_a_crash(live: Live) -> None:
    """A session cookie, token or CSRF header with non-ASCII characters is a wrong one (401/403),
    not a 500 (hmac.compare_digest refuses non-ASCII str)."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    cookie = "bg_admin=" + "\u00e9t\u00e9".encode().decode("latin-1")
    assert live.request("GET", REPORT, Cookie=cookie).status == 401
    assert (
        live.request("POST", f"{REPORT}/login", "token=%C3%A9t%C3%A9", Origin=live.origin, **form).status
        == 403
    )
    csrf = {"X-Botguard-CSRF": "\u00e9".encode().decode("latin-1"), "Origin": live.origin}
    body = json.dumps({"signatures": ["x"]})
    assert (
        live.request("POST", f"{REPORT}/candidates/approve", body, Cookie=live.session(), **csrf).status
        == 403
    )
