"""``botguard serve``: the aiohttp application and the verb that runs it.

Routes (everything under the reserved prefix ``/.botguard/``):

* ``/.botguard/gate`` (any method): the web server sends a challenged client without a valid
  pass here, keeping the client's request line in ``X-Botguard-Request``: the challenge page
  (403, so no program mistakes it for the content);
* ``POST /.botguard/verify``: ``{"challenge", "counter"}`` -> the pass cookies (200) or a reason (403);
* ``GET /.botguard/healthz``: 200 while the keyring is readable;
* ``/.botguard/report`` (and below): the report, live, for the admin only (:mod:`botguard.serve.live`).

The client's identity comes from headers the web server's generated include sets, replacing any
a client sent: ``X-Botguard-Bind`` (the address or its network, as the server hashes it),
``X-Botguard-UA`` (the agent, byte for byte), ``X-Botguard-Client`` (the address, for the log)
and ``X-Botguard-Scheme``. A request without a binding did not come through that include: 400.
So serve belongs on loopback or a unix socket (another address gets a warning at start).

Every request gets one JSON line in the access log (time, client, method, route, status,
outcome, ms); never a cookie, a challenge or a secret.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from botguard.config import ServeSettings
from botguard.keyring import GRACE, Keyring, KeyringError, load, load_or_create, rotate, secret_path
from botguard.serve._page import CSP, page, safe_return_path
from botguard.serve._tokens import ChallengeRefused, issue, pass_cookies, verify
from botguard.serve.live import ADMIN_FILE, LiveReport, LiveView, add_report_routes, admin_token, follow_logs
from botguard.serve.records import ServeError, ServeReport, ServeRequest
from botguard.text import printable

__all__ = ["ServeEnv", "create_app", "run_serve"]

PREFIX = "/.botguard/"
_BIND = re.compile(r"[0-9A-Fa-f:.]{1,45}")
_PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class ServeEnv:
    """What serve takes from its surroundings: the clock and where access-log lines go."""

    clock: Callable[[], float] = time.time
    log: TextIO = field(default_factory=lambda: sys.stderr)


class _Keys:
    """The keyring, re-read when its file changes (a rotation), checked at most once a second."""

    def __init__(self, path: Path, ring: Keyring, clock: Callable[[], float], log: TextIO) -> None:
        self.path, self.ring, self.clock, self.log = path, ring, clock, log
        self._checked = clock()
        self._mtime = path.stat().st_mtime_ns

    def current(self) -> Keyring:
        now = self.clock()
        if now - self._checked >= 1.0:
            self._checked = now
            try:
                mtime = self.path.stat().st_mtime_ns
                if mtime != self._mtime:
                    self.ring, self._mtime = load(self.path), mtime
            except (OSError, KeyringError) as exc:  # keep serving with the keys it has; say why
                _event(self.log, {"event": "keyring-unreadable", "error": str(exc)})
        return self.ring


@dataclass(frozen=True, slots=True)
class _Client:
    """Who is asking, as the web server described it."""

    bind: str
    agent: str
    secure: bool


def _client(request: web.Request) -> _Client | None:
    bind = request.headers.get("X-Botguard-Bind", "")
    if not _BIND.fullmatch(bind):
        return None
    return _Client(
        bind, request.headers.get("X-Botguard-UA", ""), request.headers.get("X-Botguard-Scheme") == "https"
    )


def _client_address(request: web.Request) -> str:
    claimed = request.headers.get("X-Botguard-Client", "")
    try:
        return str(ipaddress.ip_address(claimed))
    except ValueError:
        return request.remote or "-"


def _no_binding(request: web.Request) -> web.Response:
    request["outcome"] = "no-binding"
    return web.Response(
        status=400, text="botguard serve answers only through the web server's botguard include\n"
    )


def _return_target(request_line: str) -> str:
    """The path of ``METHOD TARGET PROTOCOL`` (nginx ``$request``, Apache ``%{THE_REQUEST}``)."""
    parts = request_line.split(" ")
    return parts[1] if len(parts) == 3 else ""


def create_app(
    settings: ServeSettings, keys_path: Path, env: ServeEnv, live: LiveReport | None = None
) -> web.Application:
    """The application; the keyring at ``keys_path`` must exist (see :func:`load_or_create`).
    With ``live`` it also serves the report (:mod:`botguard.serve.live`)."""
    keys = _Keys(keys_path, load(keys_path), env.clock, env.log)

    async def gate(request: web.Request) -> web.Response:
        client = _client(request)
        if client is None:
            return _no_binding(request)
        now = env.clock()
        key = keys.current().signing(now, GRACE)
        token = issue(key, client.bind, client.agent, settings.difficulty, now, settings.challenge_lifetime)
        back = safe_return_path(_return_target(request.headers.get("X-Botguard-Request", "")))
        request["outcome"] = "challenged"
        body = b"" if request.method == "HEAD" else page(token, settings.difficulty, back)
        return web.Response(status=403, body=body, headers=_PAGE_HEADERS)

    async def check(request: web.Request) -> web.Response:
        client = _client(request)
        if client is None:
            return _no_binding(request)
        try:
            body = await request.json()
            challenge, counter = body["challenge"], body["counter"]
            if not isinstance(challenge, str) or not isinstance(counter, str):
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError):  # deep nesting: json's own limit
            request["outcome"] = "malformed"
            return web.json_response({"ok": False, "reason": "malformed"}, status=400)
        now = env.clock()
        try:
            key = verify(
                challenge, counter, client.bind, client.agent, keys.current(), now, settings.difficulty
            )
        except ChallengeRefused as refused:
            request["outcome"] = f"refused: {refused.message}"
            return web.json_response({"ok": False, "reason": refused.message}, status=403)
        cookies = pass_cookies(key, client.bind, client.agent, int(now + settings.cookie_lifetime))
        # the values are our own base64url/hex/digits: written directly (SimpleCookie is the slow part)
        attributes = f"; Max-Age={int(settings.cookie_lifetime)}; Path=/; HttpOnly; SameSite=Lax"
        attributes += "; Secure" if client.secure else ""
        headers = [("Set-Cookie", f"{name}={value}{attributes}") for name, value in cookies.as_dict().items()]
        response = web.Response(
            body=b'{"ok": true}', content_type="application/json", headers=CIMultiDict(headers)
        )
        request["outcome"] = "passed"
        return response

    async def healthz(request: web.Request) -> web.Response:
        request["outcome"] = "ok"
        return web.json_response({"status": "ok", "keys": len(keys.current().keys)})

    async def not_found(request: web.Request) -> web.Response:
        request["outcome"] = "not-found"
        return web.Response(status=404, text="not found\n")

    app = web.Application(middlewares=[_access_log(env, live)], client_max_size=4096)
    app.router.add_route("*", PREFIX + "gate", gate)
    app.router.add_post(PREFIX + "verify", check)
    app.router.add_get(PREFIX + "healthz", healthz)
    if live is not None:
        stopping = asyncio.Event()

        async def stop_streams(_: web.Application) -> None:
            stopping.set()

        app.on_shutdown.append(stop_streams)
        add_report_routes(app.router, live, stopping)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


#: Outcomes the live report counts: what the challenge tier did.
_COUNTED = ("challenged", "passed", "refused")


def _access_log(
    env: ServeEnv, live: LiveReport | None = None
) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as answer:  # aiohttp's own answers (413: a body over 4 KiB)
            request.setdefault("outcome", f"http-{answer.status}")
            _log_request(env, live, request, answer.status, started)
            raise
        _log_request(env, live, request, response.status, started)
        return response

    return middleware


def _log_request(
    env: ServeEnv, live: LiveReport | None, request: web.Request, status: int, started: float
) -> None:
    """The request's access-log line; the live report counts what the challenge tier did."""
    line = {
        "time": datetime.fromtimestamp(env.clock(), UTC).isoformat(timespec="milliseconds"),
        "client": _client_address(request),
        "method": request.method[:16],
        "route": request.match_info.route.resource.canonical if request.match_info.route.resource else "-",
        "status": status,
        "outcome": request.get("outcome", "-"),
        "ms": round((time.perf_counter() - started) * 1000, 2),
    }
    _event(env.log, line)
    outcome = str(line["outcome"]).split(":")[0]
    if live is not None and outcome in _COUNTED:
        live.outcomes[outcome] += 1


def _event(log: TextIO, line: dict[str, object]) -> None:
    log.write(json.dumps(line) + "\n")
    log.flush()


def run_serve(request: ServeRequest, env: ServeEnv | None = None) -> ServeReport:
    """Rotate the keyring (``rotate_secret``) or serve until SIGINT/SIGTERM."""
    env = env or ServeEnv()
    settings = request.settings.serve
    listen = request.listen or settings.listen
    path = secret_path(request.settings.serve.secret_path, request.state_path)
    if request.rotate_secret:
        ring = rotate(path, env.clock(), settings.cookie_lifetime)
        return ServeReport(listen, str(path), ring.keys[0].id, rotated=True)
    ring = load_or_create(path, env.clock())
    token = admin_token(path.with_name(ADMIN_FILE))
    log_path = request.access_log or settings.access_log
    if log_path:
        try:
            log = open(log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise ServeError(f"cannot open access log: {exc.strerror}", None) from None
        env = ServeEnv(env.clock, log)
    stop = threading.Event()
    try:
        live = LiveReport(request.state_path, request.settings, token)
        if request.live_logs:
            from botguard.catalog import load_catalog

            live.view = LiveView(load_catalog().classify_many)
            follow_logs(request.live_logs, live.view, stop, env.log,
                        log_format=request.log_format or request.settings.log_format,
                        json_fields=dict(request.settings.json_fields) or None)  # fmt: skip
        app = create_app(settings, path, env, live)
        asyncio.run(_serve(app, listen, env.log))
    finally:
        stop.set()
        if log_path:
            env.log.close()
    return ServeReport(listen, str(path), ring.signing(env.clock(), GRACE).id)


class _OneLine(logging.Handler):
    """aiohttp's own error reports (a request it cannot parse: any client can send one) as one
    JSON line in serve's log, never a traceback on stderr."""

    def __init__(self, log: TextIO) -> None:
        super().__init__()
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        what = "bad-request" if isinstance(error, HttpProcessingError) else "error"
        detail = f"{type(error).__name__}: {error}" if error else record.getMessage()
        _event(self.log, {"event": what, "error": printable(detail.strip().splitlines()[0], 200)})


def _server_logger(log: TextIO) -> logging.Logger:
    logger = logging.getLogger("botguard.serve.http")
    logger.handlers, logger.propagate = [_OneLine(log)], False
    return logger


_BEYOND_LOOPBACK = (
    "serve listens on {listen}, beyond loopback: whoever reaches it can send the X-Botguard-* headers the "
    "web server sets and get passes for any address and agent (and the report's login); keep it on "
    "127.0.0.1 or a unix socket, or firewall the port to the web servers"
)


def _loopback(listen: str) -> bool:
    """A unix socket, ``localhost`` or a loopback address: only this machine can connect."""
    if listen.startswith("unix:"):
        return True
    host = listen.rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


async def _serve(app: web.Application, listen: str, log: TextIO) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, logger=_server_logger(log))
    await runner.setup()
    try:
        if listen.startswith("unix:"):
            site: web.BaseSite = web.UnixSite(runner, listen.removeprefix("unix:"))
        else:
            host, port = listen.rsplit(":", 1)
            site = web.TCPSite(runner, host.strip("[]"), int(port), reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise ServeError(f"cannot listen on {listen}: {exc.strerror}", None) from None
        if listen.startswith("unix:"):
            # the web server's workers (www-data, nobody) connect: as open as loopback TCP is
            Path(listen.removeprefix("unix:")).chmod(0o666)
        _event(log, {"event": "listening", "listen": listen, "report": PREFIX + "report"})
        if not _loopback(listen):
            _event(log, {"event": "warning", "warning": _BEYOND_LOOPBACK.format(listen=listen)})
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
