"""Real nginx and Apache under a temporary prefix on a 127.0.0.1 high port (notes/webservers.md 2, 4).

A missing server binary is a test failure, never a skip: CI installs both (``.ci/run``).

Clients: a request from a loopback address (127.0.0.0/8) is sent from that address. No rule may
name a loopback address from a log (botguard.addresses), so a test that blocks a client by
address uses a public test address (``203.0.113.2``): the request comes from 127.0.0.1 with
``X-Forwarded-For: 203.0.113.2``, which both servers trust from 127.0.0.0/8 only (nginx
``real_ip_header``, Apache ``mod_remoteip``), as a site behind a proxy or CDN does. The rules then
see the forwarded address as the client's, as they see a real client's address.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = "/usr/lib/apache2/modules"

NGINX_CONF = """\
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
pcre_jit on;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path tmp/body;  proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;   uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
    set_real_ip_from 127.0.0.0/8;
    real_ip_header X-Forwarded-For;
    include botguard/botguard_http.conf;
    server {{
        listen 127.0.0.1:{port};
        root html;
        include botguard/botguard_server.conf;
        location / {{ try_files $uri =404; }}
    }}
}}
"""

APACHE_CONF = """\
ServerRoot "{prefix}"
DefaultRuntimeDir run
PidFile run/apache2.pid
ErrorLog logs/error.log
LogLevel warn
LoadModule mpm_event_module   {modules}/mod_mpm_event.so
LoadModule authz_core_module  {modules}/mod_authz_core.so
LoadModule authz_host_module  {modules}/mod_authz_host.so
LoadModule setenvif_module    {modules}/mod_setenvif.so
LoadModule remoteip_module    {modules}/mod_remoteip.so
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.0/8
{user}
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
DocumentRoot "{prefix}/htdocs"
<Directory "{prefix}/htdocs">
    Require all granted
</Directory>
Include botguard/*.conf
"""

# A site with its own protections, to show botguard's rules only ever take access away. Paths:
# /denied/ (deny all), /password/ (Basic auth), /htaccess/ (Basic auth from .htaccess, Apache),
# /location-denied/ and /location-local/ (Apache <Location>: all denied / 127.0.0.1 only), and a
# second site, Host local.test, served to 127.0.0.1 only.
PROTECTED_NGINX_CONF = """\
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
pcre_jit on;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path tmp/body;  proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;   uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
    set_real_ip_from 127.0.0.0/8;
    real_ip_header X-Forwarded-For;
    include botguard/botguard_http.conf;
    server {{
        listen 127.0.0.1:{port};
        server_name 127.0.0.1;
        root html;
        include botguard/botguard_server.conf;
        location / {{ try_files $uri =404; }}
        location /denied/ {{ deny all; }}
        location /password/ {{ auth_basic "password"; auth_basic_user_file {prefix}/htpasswd; }}
        location /location-local/ {{ allow 127.0.0.1; deny all; }}
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name local.test;
        root localsite;
        allow 127.0.0.1;
        deny all;
        include botguard/botguard_server.conf;
        location / {{ try_files $uri =404; }}
    }}
}}
"""

PROTECTED_APACHE_CONF = """\
ServerRoot "{prefix}"
DefaultRuntimeDir run
PidFile run/apache2.pid
ErrorLog logs/error.log
LogLevel warn
{modules}
RemoteIPHeader X-Forwarded-For
RemoteIPInternalProxy 127.0.0.0/8
{user}
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
{server_include}
<VirtualHost 127.0.0.1:{port}>
    ServerName 127.0.0.1
    DocumentRoot "{prefix}/htdocs"
    <Directory "{prefix}/htdocs">
        AllowOverride AuthConfig
        Require all granted
    </Directory>
    <Directory "{prefix}/htdocs/denied">
        Require all denied
    </Directory>
    <Directory "{prefix}/htdocs/password">
        AuthType Basic
        AuthName "password"
        AuthUserFile "{prefix}/htpasswd"
        Require valid-user
    </Directory>
    <Location "/location-denied">
        Require all denied
    </Location>
    <Location "/location-local">
        Require ip 127.0.0.1
    </Location>
{vhost_include}
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName local.test
    DocumentRoot "{prefix}/localsite"
    <Directory "{prefix}/localsite">
        Require ip 127.0.0.1
    </Directory>
{vhost_include}
</VirtualHost>
"""

HTACCESS = """\
AuthType Basic
AuthName "htaccess"
AuthUserFile "{prefix}/htpasswd"
Require valid-user
"""

PROTECTED_DIRS = ("denied", "password", "htaccess", "location-denied", "location-local")
USER, PASSWORD = "alice", "s3cret"
AUTHORIZATION = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PROTECTED_MODULES = ("mpm_event", "authz_core", "authz_host", "setenvif", "authn_core", "authn_file", "auth_basic",
                     "authz_user", "remoteip")  # fmt: skip

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(
    port: int,
    path: str = "/index.html",
    ua: str | bytes | None = CHROME,
    source: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
) -> int:
    """Status of one GET from ``source`` (see the module doc); the UA is sent as raw bytes (UTF-8, or
    the log's own bytes)."""
    headers = headers or {}
    local = ipaddress.ip_address(source).is_loopback
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source if local else "127.0.0.1", 0)
    )
    try:
        conn.putrequest("GET", path, skip_host="Host" in headers, skip_accept_encoding=True)
        if not local:
            conn.putheader("X-Forwarded-For", source)
        if ua is not None:
            raw = ua if isinstance(ua, bytes) else ua.encode("utf-8", "surrogateescape")
            conn.putheader(b"User-Agent", raw)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _wait_ok(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            get(port, "/robots.txt")
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("server did not answer within 10 s")


@dataclass
class Server:
    """A running server: its prefix, rule directory, port and the argv lists deploy needs."""

    kind: str
    prefix: Path
    port: int
    proc: subprocess.Popen[bytes]
    validate: list[str]
    reload: list[str]

    @property
    def rules(self) -> Path:
        return self.prefix / "botguard"

    def get(
        self,
        path: str = "/index.html",
        ua: str | bytes | None = CHROME,
        source: str = "127.0.0.1",
        headers: dict[str, str] | None = None,
    ) -> int:
        return get(self.port, path, ua, source, headers)

    def reload_now(self) -> None:
        """Reload, and return once every worker that served the old configuration is gone and
        a new one runs: a fixed sleep let an old worker answer the next request under load."""
        old = workers(self.proc.pid)
        subprocess.run(self.reload, check=True, capture_output=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = workers(self.proc.pid)
            if now and not now & old:
                return
            time.sleep(0.02)
        raise AssertionError(f"{self.kind}: the old workers {sorted(old)} still run 30 s after a reload")


def workers(master: int) -> set[int]:
    """The child processes of a server's master process (Linux /proc)."""
    try:
        listed = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        return set()
    return {int(pid) for pid in listed.split()}


@contextmanager
def scratch_prefix(kind: str) -> Iterator[Path]:
    """A prefix (see :func:`make_prefix`) removed afterwards."""
    prefix = make_prefix(kind)
    try:
        yield prefix
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def make_prefix(kind: str) -> Path:
    prefix = Path(tempfile.mkdtemp(prefix=f"botguard-{kind}-"))
    os.chmod(prefix, 0o755)  # as root, workers run as nobody and must read the docroot
    for sub in ("logs", "tmp", "botguard", "html", "htdocs", "run"):
        (prefix / sub).mkdir()
        os.chmod(prefix / sub, 0o755)
    for docroot in ("html", "htdocs"):
        (prefix / docroot / "index.html").write_text("ok\n")
        (prefix / docroot / "robots.txt").write_text("User-agent: *\nDisallow: /\n")
    return prefix


def nginx_commands(prefix: Path) -> tuple[list[str], list[str]]:
    base = [NGINX, "-p", f"{prefix}/", "-c", f"{prefix}/nginx.conf"]
    return base + ["-t", "-q"], base + ["-s", "reload"]


def apache_commands(prefix: Path) -> tuple[list[str], list[str], list[str]]:
    base = [APACHE, "-d", str(prefix), "-f", f"{prefix}/apache2.conf"]
    return base + ["-t"], base + ["-k", "graceful"], base + ["-DFOREGROUND"]


def write_nginx_conf(prefix: Path, port: int) -> None:
    (prefix / "nginx.conf").write_text(NGINX_CONF.format(port=port, connections=1024))


def write_apache_conf(prefix: Path, port: int) -> None:
    (prefix / "apache2.conf").write_text(
        APACHE_CONF.format(prefix=prefix, modules=MODULES, port=port, user=_apache_user())
    )


def _apache_user() -> str:
    """As root, Apache's children must drop to an unprivileged user."""
    return "User nobody\nGroup nogroup" if os.geteuid() == 0 else ""


def protected_site(include: str = "vhost") -> Callable[[str, Path, int], None]:
    """A config writer for :func:`running`: the protected site, Apache including botguard's file
    at the end of each <VirtualHost> (``vhost``) or once before them (``server``, like a2enconf)."""
    if include not in ("vhost", "server"):
        raise ValueError(include)

    def write(kind: str, prefix: Path, port: int) -> None:
        for docroot in ("html", "htdocs"):
            for sub in PROTECTED_DIRS:
                (prefix / docroot / sub).mkdir()
                os.chmod(prefix / docroot / sub, 0o755)
                (prefix / docroot / sub / "f.txt").write_text(f"{sub}\n")
        (prefix / "htdocs" / "htaccess" / ".htaccess").write_text(HTACCESS.format(prefix=prefix))
        (prefix / "localsite").mkdir()
        os.chmod(prefix / "localsite", 0o755)
        for name in ("index.html", "robots.txt"):
            shutil.copy(prefix / "html" / name, prefix / "localsite" / name)
        # {SHA} (base64 SHA-1) is a password format both nginx and Apache read, without htpasswd
        digest = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()
        (prefix / "htpasswd").write_text(f"{USER}:{{SHA}}{digest}\n")
        os.chmod(prefix / "htpasswd", 0o644)
        if kind == "nginx":
            (prefix / "nginx.conf").write_text(PROTECTED_NGINX_CONF.format(prefix=prefix, port=port))
            return
        line = "Include botguard/*.conf"
        (prefix / "apache2.conf").write_text(
            PROTECTED_APACHE_CONF.format(
                prefix=prefix, port=port, user=_apache_user(),
                modules="\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in PROTECTED_MODULES),
                server_include=line if include == "server" else "",
                vhost_include="    " + line if include == "vhost" else "",
            )
        )  # fmt: skip

    return write


def check(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def running(
    kind: str, files: dict[str, str], site: Callable[[str, Path, int], None] | None = None
) -> Iterator[Server]:
    """Start ``kind`` (nginx|apache) with these rule files in PREFIX/botguard; stop it afterwards.

    ``site(kind, prefix, port)`` writes the server's configuration (default: the minimal
    fixture of notes/webservers.md), e.g. :func:`protected_site`.
    """
    prefix, port = make_prefix(kind), free_port()
    for name, text in files.items():
        (prefix / "botguard" / name).write_text(text)
    if site is not None:
        site(kind, prefix, port)
    elif kind == "nginx":
        write_nginx_conf(prefix, port)
    else:
        write_apache_conf(prefix, port)
    if kind == "nginx":
        validate, reload = nginx_commands(prefix)
        start = [NGINX, "-p", f"{prefix}/", "-c", f"{prefix}/nginx.conf", "-g", "daemon off;"]
    else:
        validate, reload, start = apache_commands(prefix)
    result = check(validate)
    assert result.returncode == 0, result.stderr
    proc = subprocess.Popen(start, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_ok(port, proc)
        yield Server(kind, prefix, port, proc, validate, reload)
    finally:
        stop_server(kind, proc, prefix)


def stop_server(kind: str, proc: subprocess.Popen[bytes], prefix: Path) -> None:
    """Stop a test server gracefully (nginx: SIGQUIT, Apache: SIGTERM), killing it if it hangs,
    and remove its prefix."""
    proc.send_signal(signal.SIGQUIT if kind == "nginx" else signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    shutil.rmtree(prefix, ignore_errors=True)
