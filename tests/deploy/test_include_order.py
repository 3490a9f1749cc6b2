"""A site's own server-level rewrite written before botguard's include ends the server's rewrite
rules there: the requests it matches skip botguard. deploy-rules reads the live configuration
after a deploy and names each such directive (real nginx and Apache)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from botguard.decide import DecisionSet
from botguard.render.apache import ApacheRenderer
from botguard.render.nginx import NginxRenderer
from tests.deploy.conftest import BLOCKED_IP, client, scan_doc
from tests.helpers import Result, run_cli
from tests.render.servers import MODULES, NGINX_CONF, Server, _apache_user, running

SITE_REWRITE = "rewrite ^/app/(.*)$ /index.html last;"
CHALLENGED_IP = "198.51.100.7"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
APACHE_SITE = """\
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
<VirtualHost 127.0.0.1:{port}>
    DocumentRoot "{prefix}/htdocs"
    <Directory "{prefix}/htdocs">
        Require all granted
    </Directory>
{before}    Include botguard/*.conf
{after}</VirtualHost>
"""
APACHE_MODULES = ("mpm_event", "authz_core", "authz_host", "setenvif", "remoteip", "rewrite", "proxy", "proxy_http",
                  "headers")  # fmt: skip
APACHE_REWRITE = "    RewriteEngine On\n    RewriteRule ^/app/(.*)$ /index.html [L]\n"


def _nginx_site(rewrite_first: bool):  # type: ignore[no-untyped-def]
    def write(kind: str, prefix: Path, port: int) -> None:
        include = "        include botguard/botguard_server.conf;\n"
        rewrite = f"        {SITE_REWRITE}\n"
        text = NGINX_CONF.format(port=port, connections=64)
        assert include in text
        (prefix / "nginx.conf").write_text(
            text.replace(include, rewrite + include if rewrite_first else include + rewrite)
        )

    return write


def _apache_site(rewrite_first: bool):  # type: ignore[no-untyped-def]
    def write(kind: str, prefix: Path, port: int) -> None:
        modules = "\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in APACHE_MODULES)
        before, after = (APACHE_REWRITE, "") if rewrite_first else ("", APACHE_REWRITE)
        (prefix / "apache2.conf").write_text(
            APACHE_SITE.format(prefix=prefix, port=port, modules=modules, user=_apache_user(), before=before,
                               after=after)
        )  # fmt: skip

    return write


def _deploy(server: Server, tmp_path: Path) -> Result:
    doc = scan_doc(with_ip_block=True)
    doc["clients"].append(client(CHALLENGED_IP, CHROME, None, "automated", "challenge"))
    (tmp_path / "scan.json").write_text(json.dumps(doc))
    # serve is not running (port 1): a challenged request the routing reaches gets the proxy error
    conf = {"deploy": {server.kind: {"validate": server.validate, "reload": server.reload},
                       "lock": str(tmp_path / "deploy.lock")}, "serve": {"listen": "127.0.0.1:1"}}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    option = "--nginx-dir" if server.kind == "nginx" else "--apache-dir"
    return run_cli("deploy-rules", "--from", str(tmp_path / "scan.json"), option, str(server.rules),
                   "--config", str(tmp_path / "c.yaml"), "--state", str(tmp_path / "s.db"))  # fmt: skip


def _line(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _files(kind: str) -> dict[str, str]:
    renderer = NginxRenderer() if kind == "nginx" else ApacheRenderer()
    return {f.name: f.text for f in renderer.render(DecisionSet())}


def test_a_site_rewrite_before_the_nginx_include_is_named(tmp_path: Path) -> None:
    """nginx: a blocked client gets /app/x (the site's rewrite ends the server-level rewrites before
    botguard's 403): the deploy warns, naming the file, line and directive."""
    with running("nginx", _files("nginx"), _nginx_site(rewrite_first=True)) as server:
        r = _deploy(server, tmp_path)
        assert r.exit_code == 0, r.output
        server.reload_now()
        assert server.get("/index.html", source=BLOCKED_IP) == 403
        assert server.get("/app/x", source=BLOCKED_IP) == 200  # what the warning is about
        warnings = [line for line in r.stderr.splitlines() if "comes before" in line]
        assert len(warnings) == 1, r.output
        assert (
            f"{server.prefix}/nginx.conf:{_line(server.prefix / 'nginx.conf', SITE_REWRITE)}:" in warnings[0]
        )
        assert SITE_REWRITE in warnings[0], warnings
        assert "botguard_server.conf" in warnings[0] and "put the include first" in warnings[0], warnings


def test_a_site_rewrite_before_the_apache_challenge_include_is_named(tmp_path: Path) -> None:
    """Apache: the site's RewriteRule [L] before the include skips the challenge routing (a mod_rewrite
    rule) for /app/x; the block rules (an <If>) still hold. The deploy names the RewriteRule."""
    with running("apache", _files("apache"), _apache_site(rewrite_first=True)) as server:
        r = _deploy(server, tmp_path)
        assert r.exit_code == 0, r.output
        server.reload_now()
        assert server.get("/app/x", source=BLOCKED_IP) == 403
        assert server.get("/index.html", source=CHALLENGED_IP) == 503  # routed to serve (down)
        assert server.get("/app/x", source=CHALLENGED_IP) == 200  # what the warning is about
        warnings = [line for line in r.stderr.splitlines() if "comes before" in line]
        assert len(warnings) == 1, r.output
        assert (
            f"{server.prefix}/apache2.conf:{_line(server.prefix / 'apache2.conf', 'RewriteRule')}:"
            in warnings[0]
        )
        assert "RewriteRule ^/app/(.*)$ /index.html [L]" in warnings[0], warnings
        assert "`Include botguard/*.conf`" in warnings[0] and "put the Include first" in warnings[0], warnings


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_botguard_first_holds_and_says_nothing(kind: str, tmp_path: Path) -> None:
    """The documented order (botguard's include before the site's own rewrites): every path is blocked
    or challenged, and the deploy has nothing to say about it."""
    site = _nginx_site(rewrite_first=False) if kind == "nginx" else _apache_site(rewrite_first=False)
    with running(kind, _files(kind), site) as server:
        r = _deploy(server, tmp_path)
        assert r.exit_code == 0 and "comes before" not in r.stderr, r.output
        server.reload_now()
        assert server.get("/app/x", source=BLOCKED_IP) == 403
        if kind == "apache":  # nginx serves the content with its own status while serve is down
            assert server.get("/app/x", source=CHALLENGED_IP) == 503  # routed to serve


NGINX_CASES = {
    "rewrite last": ("rewrite ^/a$ /b last;", 1),
    "rewrite break": ("rewrite ^/a$ /b break;", 1),
    "break": ("break;", 1),
    "if holding a rewrite": ("if ($arg_x) {\n  rewrite ^ /b last; # one\n}", 1),
    "comment inside the directive": ("rewrite ^/a$ /b # a comment\n  last;", 1),
    "quoted": ('rewrite "^/a{2}$" "/b" last;', 1),
    "rewrite going on": ("rewrite ^/a$ /b;", 0),
    "redirect": ("rewrite ^/a$ https://example.org/ permanent;", 0),
    "return": ("return 301 https://example.org$request_uri;", 0),
    "if returning": ("if ($host = x) { return 404; }", 0),
    "set": ("set $x 1;", 0),
    "commented out": ("# rewrite ^/a$ /b last;", 0),
}


@pytest.mark.parametrize("case", NGINX_CASES, ids=list(NGINX_CASES))
def test_which_nginx_directives_before_the_include_are_named(case: str, tmp_path: Path) -> None:
    """Only what ends the server-level rewrites and serves a page; a location's own rewrites and a
    server without botguard's include are not the include's business."""
    from botguard.deploy.placement import placement_warnings
    from botguard.deploy.records import Target
    from botguard.render.records import RuleFile
    from tests.render.servers import NGINX

    directive, expected = NGINX_CASES[case]
    (tmp_path / "botguard").mkdir()
    (tmp_path / "botguard" / "botguard_server.conf").write_text("")
    (tmp_path / "nginx.conf").write_text(
        "pid nginx.pid;\nerror_log stderr;\nevents {}\nhttp {\n  access_log off;\n"
        "  server {\n    listen 127.0.0.1:1;\n    location /x { rewrite ^ /y last; }\n"
        f"    {directive}\n    include botguard/*.conf;\n    rewrite ^/after$ /b last;\n  }}\n"
        "  server {\n    listen 127.0.0.1:2;\n    rewrite ^ /b last;\n  }\n}\n"
    )
    validate = (NGINX, "-t", "-q", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"))
    target = Target("nginx", tmp_path / "botguard", NginxRenderer(), validate, ())
    warnings = placement_warnings(target, (RuleFile("botguard_server.conf", ""),))
    assert len(warnings) == expected, warnings
    if expected:
        assert f"{tmp_path}/nginx.conf:9:" in warnings[0] and "`include botguard/*.conf`" in warnings[0], (
            warnings
        )


APACHE_CASES = {
    "L": ("RewriteRule ^/a$ /b [L]", 1),
    "END and QSA": ("RewriteRule ^/a$ /b [QSA,END]", 1),
    "inside IfModule": ("<IfModule rewrite_module>\n    RewriteRule ^/a$ /b [last]\n    </IfModule>", 1),
    "continued line": ("RewriteRule ^/a$ \\\n      /b [L]", 1),
    "no flag": ("RewriteRule ^/a$ /b", 0),
    "redirect": ("RewriteRule ^/a$ https://example.org/ [R=301,L]", 0),
    "forbidden": ("RewriteRule ^/a$ - [F,L]", 0),
    "per directory": ('<Directory "/tmp">\n    RewriteRule ^a$ /b [L]\n    </Directory>', 0),
    "commented out": ("# RewriteRule ^/a$ /b [L]", 0),
}


@pytest.mark.parametrize("case", APACHE_CASES, ids=list(APACHE_CASES))
def test_which_apache_rules_before_the_include_are_named(case: str, tmp_path: Path) -> None:
    """A server-level RewriteRule that ends the rules and serves a page, in the include's own
    context (the server's rules are not a virtual host's)."""
    from botguard.deploy.placement import placement_warnings
    from botguard.deploy.records import Target
    from botguard.render.challenge import APACHE_FILE
    from botguard.render.records import RuleFile
    from tests.render.servers import APACHE

    rule, expected = APACHE_CASES[case]
    (tmp_path / "botguard").mkdir()
    (tmp_path / "botguard" / APACHE_FILE).write_text("")
    modules = "\n".join(
        f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in ("mpm_event", "authz_core", "rewrite")
    )
    (tmp_path / "apache2.conf").write_text(
        f'ServerRoot "{tmp_path}"\nDefaultRuntimeDir {tmp_path}\nPidFile {tmp_path}/a.pid\n{modules}\n'
        "Listen 127.0.0.1:1\nServerName 127.0.0.1\nRewriteEngine On\nRewriteRule ^/server$ /b [L]\n"
        f"<VirtualHost 127.0.0.1:1>\n    RewriteEngine On\n    {rule}\n    Include botguard/*.conf\n</VirtualHost>\n"
    )
    validate = (APACHE, "-d", str(tmp_path), "-f", str(tmp_path / "apache2.conf"), "-t")
    target = Target("apache", tmp_path / "botguard", ApacheRenderer(), validate, ())
    warnings = placement_warnings(target, (RuleFile(APACHE_FILE, ""),))
    assert len(warnings) == expected, warnings
    if expected:
        assert f"{tmp_path}/apache2.conf:" in warnings[0] and "same <VirtualHost>" in warnings[0], warnings
