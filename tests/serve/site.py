"""A test site on real nginx / Apache with the generated challenge files, and serve beside it.

The site trusts ``X-Forwarded-For`` from 127.0.0.1 (nginx realip, Apache remoteip) so a test
can be any client address; the generated files themselves never read that header.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from botguard.config import ServeSettings
from botguard.decide.records import DecisionSet
from botguard.keyring import Keyring, load_or_create
from botguard.render.apache import ApacheRenderer
from botguard.render.challenge import render_apache, render_nginx, write_files
from botguard.render.nginx import NginxRenderer
from botguard.render.records import ChallengeTargets
from botguard.serve._tokens import leading_zero_bits
from tests.render.servers import APACHE, MODULES, NGINX, check, free_port, make_prefix, stop_server

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
CHALLENGED_NET = "198.51.100.0/24"
CHALLENGED_IP = "198.51.100.7"
NEIGHBOUR_IP = "198.51.100.8"  # same /24
OTHER_IP = "203.0.113.9"  # not challenged
CHALLENGED_AGENT = "EvilScraper/1.0"
CONTENT = "the real content\n"

NGINX_SITE = """\
worker_processes 1;
pcre_jit on;
pid logs/nginx.pid;
error_log logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path tmp/body;  proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;   uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
    include botguard/botguard_http.conf;
    include botguard/botguard_challenge_http.conf;
    server {{
        listen 127.0.0.1:{port};
        root html;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        include botguard/botguard_server.conf;            # block rules first (see README)
        include botguard/botguard_challenge_server.conf;
        location / {{ try_files $uri $uri/ =404; }}
    }}
}}
"""


def nginx_site(port: int, challenge: bool = True) -> str:
    """The test site's nginx.conf, with or without botguard's includes (the bench's baseline)."""
    text = NGINX_SITE.format(port=port)
    return (
        text
        if challenge
        else "".join(line + "\n" for line in text.splitlines() if "include botguard" not in line)
    )


APACHE_SITE = """\
ServerRoot "{prefix}"
DefaultRuntimeDir run
PidFile run/apache2.pid
ErrorLog logs/error.log
LogLevel warn
{modules}
{user}
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
DocumentRoot "{prefix}/htdocs"
DirectoryIndex index.html
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.1
<Directory "{prefix}/htdocs">
    Require all granted
</Directory>
Include botguard/*.conf
"""
APACHE_MODULES = ("mpm_event", "authz_core", "authz_host", "setenvif", "rewrite", "proxy", "proxy_http", "headers",
                  "remoteip", "dir")  # fmt: skip


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str

    @property
    def challenged(self) -> bool:
        return self.status == 403 and 'id="bg-data"' in self.body

    def challenge(self) -> dict[str, object]:
        match = re.search(r'<script type="application/json" id="bg-data">(.*?)</script>', self.body)
        assert match, self.body[:300]
        return json.loads(match[1])

    def cookies(self) -> dict[str, str]:
        pairs = [h.split(";", 1)[0].split("=", 1) for h in self.headers.get_all("Set-Cookie") or []]
        return dict(pairs)  # type: ignore[arg-type]


def request(port: int, path: str = "/index.html", ip: str = OTHER_IP, ua: str | bytes | None = CHROME,
            cookies: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> Reply:  # fmt: skip
    """One request as client ``ip`` (X-Forwarded-For) with raw-byte agent and cookies."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.putheader("X-Forwarded-For", ip)
        if ua is not None:
            conn.putheader(
                b"User-Agent", ua if isinstance(ua, bytes) else ua.encode("utf-8", "surrogateescape")
            )
        if cookies:
            conn.putheader("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def solve(challenge: str, difficulty: int) -> str:
    counter = 0
    while leading_zero_bits(hashlib.sha256(f"{challenge}:{counter}".encode()).digest()) < difficulty:
        counter += 1
    return str(counter)


def pass_for(port: int, ip: str, ua: str | bytes = CHROME, path: str = "/index.html") -> dict[str, str]:
    """Get challenged, solve it in Python, verify through the web server: the pass cookies."""
    page = request(port, path, ip, ua)
    assert page.challenged, (page.status, page.body[:200])
    data = page.challenge()
    counter = solve(str(data["challenge"]), int(data["difficulty"]))  # type: ignore[call-overload]
    body = json.dumps({"challenge": data["challenge"], "counter": counter}).encode()
    verified = request(port, "/.botguard/verify", ip, ua, method="POST", body=body)
    assert verified.status == 200, (verified.status, verified.body)
    return verified.cookies()


@dataclass
class Serve:
    """``botguard serve`` in a subprocess (the real CLI), on a port or a unix socket."""

    listen: str
    state: Path
    config: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)
    extra: tuple[str, ...] = ()  # more options (e.g. --live-log FILE)

    def __post_init__(self) -> None:
        self.log = self.state.parent / "serve-access.log"

    def start(self) -> None:
        argv = [sys.executable, "-m", "botguard", "serve", "--listen", self.listen, "--state",
                str(self.state), "--config", str(self.config), "--access-log", str(self.log), *self.extra]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                if self.listen.startswith("unix:"):
                    conn.sock = socket.socket(socket.AF_UNIX)
                    conn.sock.connect(self.listen.removeprefix("unix:"))
                conn.request("GET", "/.botguard/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("serve did not answer within 20 s")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1]) if not self.listen.startswith("unix:") else 0

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(10)
        self.proc = None
        return code


@dataclass
class Site:
    """A running web server with the challenge include, and the serve it talks to."""

    kind: str
    prefix: Path
    port: int
    proc: subprocess.Popen[bytes]
    serve: Serve
    settings: ServeSettings
    targets: ChallengeTargets

    @property
    def ring(self) -> Keyring:
        return load_or_create(self.serve.state.parent / "serve-secret.json", time.time())

    def validate(self) -> subprocess.CompletedProcess[str]:
        return check(_commands(self.kind, self.prefix)[0])

    def rerender(self, ring: Keyring | None = None) -> None:
        """Write the files again (e.g. after a rotation) and reload the server."""
        _write(self.kind, self.prefix, self.targets, self.settings, ring or self.ring)
        old = _children(self.proc.pid)
        result = check(_commands(self.kind, self.prefix)[1])
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 15  # the old workers (old config) are gone, new ones answer
        while time.monotonic() < deadline and (
            old & _children(self.proc.pid) or not _children(self.proc.pid)
        ):
            time.sleep(0.05)
        _wait_up(self.port, self.proc)

    def get(self, path: str = "/index.html", **kwargs: object) -> Reply:
        return request(self.port, path, **kwargs)  # type: ignore[arg-type]


def _children(pid: int) -> set[int]:
    """Worker processes of a server's master process."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.update(int(child) for child in children)
    return found


def _commands(kind: str, prefix: Path) -> tuple[list[str], list[str], list[str]]:
    if kind == "nginx":
        base = [NGINX, "-p", f"{prefix}/", "-c", f"{prefix}/nginx.conf"]
        return base + ["-t", "-q"], base + ["-s", "reload"], base + ["-g", "daemon off;"]
    base = [APACHE, "-d", str(prefix), "-f", f"{prefix}/apache2.conf"]
    return base + ["-t"], base + ["-k", "graceful"], base + ["-DFOREGROUND"]


def _write(
    kind: str, prefix: Path, targets: ChallengeTargets, settings: ServeSettings, ring: Keyring
) -> None:
    render = render_nginx if kind == "nginx" else render_apache
    write_files(prefix / "botguard", render(targets, settings, ring))


def _docroot(prefix: Path) -> None:
    for root in (prefix / "html", prefix / "htdocs"):
        (root / "index.html").write_text(CONTENT)
        (root / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
        (root / "dir").mkdir(exist_ok=True)
        (root / "dir" / "index.html").write_text("dir " + CONTENT)
        for sub in (root, root / "dir"):
            os.chmod(sub, 0o755)


@contextmanager
def site(kind: str, tmp: Path, settings: ServeSettings | None = None, targets: ChallengeTargets | None = None,
         start_serve: bool = True, unix: bool = False, blocks: DecisionSet | None = None) -> Iterator[Site]:  # fmt: skip
    """nginx or Apache on a free port with the block rules (``blocks``, default none) and the
    challenge files, serve on another port."""
    serve_port, port, prefix = free_port(), free_port(), make_prefix(kind)
    listen = f"unix:{prefix}/run/serve.sock" if unix else f"127.0.0.1:{serve_port}"  # prefix: 0755
    # 5 s: a loaded CI machine must not turn a slow verification into a fail-open
    settings = replace(settings or ServeSettings(difficulty=8, timeout=5.0), listen=listen)
    targets = targets or ChallengeTargets((CHALLENGED_NET,), (CHALLENGED_AGENT,))
    state = tmp / "state.db"
    config = tmp / "botguard.yaml"
    config.write_text(
        "serve:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in _serve_yaml(settings).items())
    )
    serve = Serve(listen, state, config)
    ring = load_or_create(tmp / "serve-secret.json", time.time())
    _docroot(prefix)
    renderer = NginxRenderer() if kind == "nginx" else ApacheRenderer()
    write_files(prefix / "botguard", renderer.render(blocks or DecisionSet()))
    _write(kind, prefix, targets, settings, ring)
    write_site(kind, prefix, port)
    validate, _, start = _commands(kind, prefix)
    result = check(validate)
    assert result.returncode == 0, result.stderr
    proc = subprocess.Popen(start, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    running = Site(kind, prefix, port, proc, serve, settings, targets)
    try:
        _wait_up(port, proc)
        if start_serve:
            serve.start()
        yield running
    finally:
        if serve.proc is not None:
            serve.stop(signal.SIGKILL)
        stop_server(kind, proc, prefix)


def write_site(kind: str, prefix: Path, port: int) -> None:
    """The test site's configuration, including the block rules and the challenge routing (also a
    config writer for ``tests.render.servers.running``)."""
    if kind == "nginx":
        (prefix / "nginx.conf").write_text(nginx_site(port))
    else:
        modules = "\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in APACHE_MODULES)
        user = "User nobody\nGroup nogroup" if os.geteuid() == 0 else ""
        (prefix / "apache2.conf").write_text(
            APACHE_SITE.format(prefix=prefix, modules=modules, user=user, port=port)
        )


def _serve_yaml(settings: ServeSettings) -> dict[str, object]:
    return {"difficulty": settings.difficulty, "cookie_lifetime": settings.cookie_lifetime, "bind": settings.bind,
            "timeout": settings.timeout, "challenge_lifetime": settings.challenge_lifetime}  # fmt: skip


def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            request(port, "/robots.txt")
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("server did not answer within 10 s")
