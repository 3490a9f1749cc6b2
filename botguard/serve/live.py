"""The report, live: ``botguard serve`` shows the HTML report of the latest scan at
``/.botguard/report`` with a panel fed by server-sent events.

What the panel shows comes from what serve sees: the access logs it follows (``--live-log``,
read from their end, read-only: ``botguard watch`` keeps its own offsets), its own challenge
outcomes, and the rule candidates ``botguard watch`` stores in the state database, which the
page can approve or reject.

Access. The report holds the log's addresses and agents, and its buttons change what is
deployed, so every route wants the admin token (``serve-admin.token`` beside the state
database, mode 0600, made on first start): the login form exchanges it for a session cookie
(``HttpOnly; SameSite=Strict``, path ``/.botguard/report``). A review is a POST with the
page's CSRF token in the ``X-Botguard-CSRF`` header and an ``Origin`` equal to serve's own.
Requests that came through the web server's botguard include (they carry ``X-Botguard-Bind``:
the public site proxies ``/.botguard/`` to serve) get 404: the report answers only on serve's
own address, loopback by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import polars as pl
from aiohttp import web

from botguard.errors import BotguardError, Location
from botguard.keyring import read_private, write_private
from botguard.serve.records import ServeError
from botguard.text import printable

__all__ = ["ADMIN_FILE", "LiveReport", "LiveView", "add_report_routes", "admin_token", "follow_logs"]

ADMIN_FILE = "serve-admin.token"
REPORT = "/.botguard/report"
#: Seconds of log time the panel covers ("now"), and how often it is sent.
WINDOW = 300.0
INTERVAL = 1.0
#: Clients and candidates the panel lists at most.
TOP = 20
SESSION_SECONDS = 12 * 3600


def admin_token(path: Path) -> str:
    """The admin token at ``path``, made (mode 0600) when there is none; a file others can
    read is refused, as the pass secret is."""
    if not path.exists():  # a second serve starting at the same moment keeps the first one's
        write_private(path, secrets.token_urlsafe(32) + "\n", "the admin token", exclusive=True)
    token = read_private(path, "admin token").strip()
    if len(token) < 16:
        raise ServeError("admin token is shorter than 16 characters", Location(str(path)))
    return token


def _derived(token: str, purpose: str) -> str:
    return hmac.new(token.encode("utf-8"), purpose.encode("ascii"), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------- what serve sees


class LiveView:
    """The requests of the last :data:`WINDOW` seconds of log time, summarised on demand.

    ``add`` is called by the follower thread, ``snapshot`` by the event stream: both under a lock.
    """

    def __init__(self, classify: Callable[[list[str]], list[Any]], window: float = WINDOW) -> None:
        self._classify = classify
        self._window = window
        self._lock = threading.Lock()
        self._frames: deque[pl.DataFrame] = deque()
        self._who: dict[str, tuple[str | None, str | None]] = {}  # agent -> (crawler, operator)
        self.lines = 0
        self.newest: datetime | None = None

    def add(self, requests: pl.DataFrame, lines: int) -> None:
        """Take one parsed batch (``ip``, ``time``, ``user_agent``) and the lines it came from."""
        rows = requests.select("ip", "time", pl.col("user_agent").fill_null(""))
        agents = [a for a in rows.get_column("user_agent").unique().to_list() if a not in self._who]
        for agent, crawler in zip(agents, self._classify(agents), strict=True):
            self._who[agent] = (crawler.name, crawler.operator) if crawler is not None else (None, None)
        with self._lock:
            self.lines += lines
            newest = _latest(rows)
            if newest is not None:
                self.newest = newest if self.newest is None else max(newest, self.newest)
                self._frames.append(rows)
            while self._frames and self.newest is not None:
                oldest = _latest(self._frames[0])  # the frame's newest line leaves the window last
                if oldest is None or (self.newest - oldest).total_seconds() <= self._window:
                    break
                self._frames.popleft()

    def snapshot(self) -> dict[str, Any]:
        """Who crawls now (the busiest clients of the window) and requests per minute per operator."""
        with self._lock:
            frames, newest, lines = list(self._frames), self.newest, self.lines
        out: dict[str, Any] = {"lines": lines, "window": int(self._window), "clients": [], "operators": []}
        out["now"] = (newest or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S")
        if not frames or newest is None:
            return out
        recent = pl.concat(frames).filter(pl.col("time") >= newest - pl.duration(seconds=self._window))
        busiest = (
            recent.group_by("ip", "user_agent").len().sort(["len", "ip"], descending=[True, False]).head(TOP)
        )
        for ip, agent, n in busiest.iter_rows():
            crawler = self._who.get(agent, (None, None))[0]
            out["clients"].append(
                {"ip": ip, "who": crawler or printable(agent or "(no user agent)", 100), "requests": n}
            )
        operators: Counter[str] = Counter()
        for agent, n in recent.group_by("user_agent").len().iter_rows():
            operators[self._who.get(agent, (None, None))[1] or "(no catalogue entry)"] += n
        minutes = self._window / 60
        out["operators"] = [
            {"operator": name, "per_minute": round(n / minutes, 2)} for name, n in operators.most_common(TOP)
        ]
        return out


def _latest(rows: pl.DataFrame) -> datetime | None:
    """The newest time of a parsed batch (None when it has no line with a time)."""
    value = rows.get_column("time").max() if rows.height else None
    return value if isinstance(value, datetime) else None


def follow_logs(
    paths: Sequence[str],
    view: LiveView,
    stop: threading.Event,
    log: TextIO,
    *,
    log_format: str | None = None,
    json_fields: dict[str, str] | None = None,
    interval: float = INTERVAL,
) -> threading.Thread:
    """Start a thread reading what is appended to ``paths`` (from their end) into ``view``."""
    from botguard.logs.chunks import ChunkParser
    from botguard.logs.follow import LogFollower

    def run() -> None:
        try:
            parser = ChunkParser(log_format, json_fields)
            with LogFollower(list(paths), from_end=True) as follower:
                while not stop.is_set():
                    for chunk in follower.poll():
                        batch = parser.parse(chunk)
                        view.add(batch.requests, batch.stats.lines)
                        follower.commit(chunk)
                    stop.wait(interval)
        except (BotguardError, OSError) as exc:  # the challenge tier goes on without the live panel
            log.write(json.dumps({"event": "live-log-stopped", "error": str(exc)}) + "\n")
            log.flush()

    thread = threading.Thread(target=run, name="botguard-live-logs", daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------------------- the routes


@dataclass
class LiveReport:
    """Everything the report routes need: the state database, the settings the rules preview
    judges by, the admin token, the live view (None: no followed log) and serve's own counts."""

    state_path: str | None
    settings: Any  # botguard.config.Settings
    token: str
    view: LiveView | None = None
    outcomes: Counter[str] = field(default_factory=Counter)
    interval: float = INTERVAL
    _page: tuple[int | None, bytes] | None = None

    @property
    def session(self) -> str:
        return _derived(self.token, "botguard report session")

    @property
    def csrf(self) -> str:
        return _derived(self.token, "botguard report csrf")


_LOGIN_STYLE = (
    "body{font:16px system-ui,sans-serif;margin:12vh auto;max-width:30em;padding:0 1em}input{font:inherit}"
)
_LOGIN = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>botguard report</title>'
    "<style>{style}</style></head><body><h1>botguard report</h1><p>{message}</p>"
    f'<form method="post" action="{REPORT}/login"><label>Admin token <input name="token" type="password" '
    'autocomplete="current-password" required></label> <button type="submit">Open</button></form>'
    "<p><small>The token is in <code>serve-admin.token</code> beside the state database.</small></p>"
    "</body></html>"
)


def _login_page(message: str, status: int) -> web.Response:
    from botguard.web import csp_hash

    policy = (f"default-src 'none'; style-src {csp_hash(_LOGIN_STYLE)}; form-action 'self'; base-uri 'none'; "
              "frame-ancestors 'none'")  # fmt: skip
    body = _LOGIN.format(style=_LOGIN_STYLE, message=message)
    return web.Response(status=status, text=body, content_type="text/html", headers=_headers(policy))


def _headers(policy: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": policy, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin", "X-Robots-Tag": "noindex",
    }  # fmt: skip


def _public(request: web.Request) -> bool:
    """True when the request came through the web server's include (the public site)."""
    return "X-Botguard-Bind" in request.headers or "X-Botguard-Client" in request.headers


def _same_secret(given: str, secret: str) -> bool:
    """A constant-time comparison that any text a client sends can go through (compare_digest
    raises TypeError on non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret.encode("ascii"))


def _signed_in(request: web.Request, live: LiveReport) -> bool:
    return _same_secret(request.cookies.get("bg_admin", ""), live.session)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is not None and origin == f"{request.scheme}://{request.host}"


def _render_page(live: LiveReport) -> tuple[int | None, bytes]:
    """The latest scan's report with the live panel (rendered once per stored scan)."""
    from botguard.app.env import Env
    from botguard.app.report import ReportRequest, run_report
    from botguard.errors import UsageError
    from botguard.judge.store import latest_scan_id
    from botguard.report import write_html
    from botguard.report.records import LivePage
    from botguard.state import State

    with State(live.state_path) as state:
        scan_id = latest_scan_id(state)
    if live._page is not None and live._page[0] == scan_id:
        return live._page
    page = LivePage(f"{REPORT}/events", f"{REPORT}/candidates/{{review}}", live.csrf)
    out = io.StringIO()
    try:
        report = run_report(ReportRequest(live.settings), Env(state_path=live.state_path))
        write_html(report.result, out, preview=report.preview, live=page)
    except UsageError:  # no scan stored yet: the live panel alone
        write_html(_no_scan(), out, live=page)
    live._page = (scan_id, out.getvalue().encode("utf-8"))
    return live._page


def _no_scan() -> Any:
    from botguard.judge.records import CLIENT_SCHEMA, ScanResult, ScanSummary

    summary = ScanSummary(0, 0, 0, 0, 0, None, None, {})
    warning = (
        "No scan is stored yet: run botguard scan with this state database; the live panel works meanwhile."
    )
    return ScanResult(summary, pl.DataFrame(schema=CLIENT_SCHEMA), (), warnings=(warning,))


def _candidates(live: LiveReport) -> list[dict[str, Any]]:
    """The model's candidates not rejected, newest proposal first."""
    from botguard.model.store import CandidateStore
    from botguard.state import State

    with State(live.state_path) as state:
        stored = [c for c in CandidateStore(state).list() if c.status != "rejected"][:TOP]
    return [
        {"signature": s.candidate.signature, "status": s.status,
         "rule": printable(f"{s.candidate.action} {s.candidate.match_kind} {s.candidate.match_value}"),
         "support_requests": s.candidate.support_requests}
        for s in stored
    ]  # fmt: skip


def _idle() -> dict[str, Any]:
    """The panel's state when serve follows no log."""
    return {"lines": 0, "window": int(WINDOW), "now": "", "clients": [], "operators": []}


def add_report_routes(router: web.UrlDispatcher, live: LiveReport, stopping: asyncio.Event) -> None:
    """The report's routes (see the module docstring); ``stopping`` ends the event streams."""
    from botguard.report.html import csp

    async def page(request: web.Request) -> web.Response:
        if _public(request):
            raise web.HTTPNotFound()
        if not _signed_in(request, live):
            request["outcome"] = "report-login"
            return _login_page("Enter the admin token to open the report.", 401)
        _, body = await asyncio.to_thread(_render_page, live)
        request["outcome"] = "report"
        return web.Response(body=body, content_type="text/html", charset="utf-8",
                            headers=_headers(csp(live=True) + "; frame-ancestors 'none'"))  # fmt: skip

    async def login(request: web.Request) -> web.Response:
        if _public(request):
            raise web.HTTPNotFound()
        if not _same_origin(request):
            request["outcome"] = "report-cross-origin"
            return _login_page("Refused: the form was not sent from this page.", 403)
        form = await request.post()
        if not _same_secret(str(form.get("token", "")).strip(), live.token):
            request["outcome"] = "report-bad-token"
            return _login_page("Wrong token.", 403)
        response = web.HTTPSeeOther(REPORT)
        response.set_cookie("bg_admin", live.session, max_age=SESSION_SECONDS, path=REPORT, httponly=True,
                            samesite="Strict", secure=request.secure)  # fmt: skip
        request["outcome"] = "report-signed-in"
        return response

    async def events(request: web.Request) -> web.StreamResponse:
        if _public(request):
            raise web.HTTPNotFound()
        if not _signed_in(request, live):
            raise web.HTTPUnauthorized()
        request["outcome"] = "report-events"
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        ticks = 0
        candidates: list[dict[str, Any]] = []
        while not stopping.is_set():
            if ticks % 5 == 0:
                candidates = await asyncio.to_thread(_candidates, live)
            state = live.view.snapshot() if live.view is not None else _idle()
            state["candidates"] = candidates
            state["challenge"] = dict(live.outcomes)
            try:
                await response.write(b"event: state\ndata: " + json.dumps(state).encode("utf-8") + b"\n\n")
            except (ConnectionResetError, RuntimeError):
                break  # the page went away
            ticks += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), live.interval)
        return response

    async def review(request: web.Request) -> web.Response:
        if _public(request):
            raise web.HTTPNotFound()
        csrf = request.headers.get("X-Botguard-CSRF", "")
        if not (_signed_in(request, live) and _same_origin(request) and _same_secret(csrf, live.csrf)):
            request["outcome"] = "report-review-refused"
            return web.json_response(
                {"ok": False, "error": "not signed in, or not from the report page"}, status=403
            )
        verdict = request.match_info["review"]
        try:
            body = await request.json()
            signatures = tuple(str(s) for s in body["signatures"])
        except (ValueError, KeyError, TypeError, RecursionError):  # deep nesting: json's own limit
            return web.json_response({"ok": False, "error": "malformed"}, status=400)
        from botguard.app.candidates import CandidatesReviewRequest, run_candidates_review
        from botguard.app.env import Env

        try:
            review_request = CandidatesReviewRequest(verdict, signatures)
            env = Env(state_path=live.state_path)
            done = await asyncio.to_thread(run_candidates_review, review_request, env)
        except BotguardError as exc:
            request["outcome"] = "report-review-error"
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        request["outcome"] = f"report-{verdict}"
        return web.json_response({"ok": True, "changed": [c.candidate.signature for c in done.changed]})

    router.add_get(REPORT, page)
    router.add_post(f"{REPORT}/login", login)
    router.add_get(f"{REPORT}/events", events)
    router.add_post(REPORT + "/candidates/{review:approve|reject}", review)
