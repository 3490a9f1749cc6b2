"""While challenge routing fails open, serve being down sends a challenged client back to its
request by an internal redirect, which a site's internal-only paths admit. deploy-rules names
each such path in the live configuration (real nginx and Apache) unless serve.fail_open is off."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import client, scan_doc
from tests.deploy.test_include_order import APACHE_MODULES, APACHE_SITE, CHALLENGED_IP, CHROME, _files, _line
from tests.helpers import Result, run_cli
from tests.render.servers import MODULES, NGINX_CONF, Server, _apache_user, running

NGINX_INTERNAL = "location /protected/ { internal; }"
APACHE_GUARD = "RewriteCond %{ENV:REDIRECT_STATUS} ^$"


def _nginx_site(kind: str, prefix: Path, port: int) -> None:
    text = NGINX_CONF.format(port=port, connections=64)
    text = text.replace("include botguard/botguard_http.conf;", "include botguard/*_http.conf;")
    text = text.replace(
        "        include botguard/botguard_server.conf;\n",
        f"        include botguard/*_server.conf;\n        {NGINX_INTERNAL}\n",
    )
    (prefix / "nginx.conf").write_text(text)


def _apache_site(kind: str, prefix: Path, port: int) -> None:
    modules = "\n".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so" for m in APACHE_MODULES)
    after = f"    RewriteEngine On\n    {APACHE_GUARD}\n    RewriteRule ^/protected/ - [F]\n"
    (prefix / "apache2.conf").write_text(
        APACHE_SITE.format(
            prefix=prefix, port=port, modules=modules, user=_apache_user(), before="", after=after
        )
    )


def _deploy(server: Server, tmp_path: Path, fail_open: bool) -> Result:
    doc = scan_doc(with_ip_block=True)
    doc["clients"].append(client(CHALLENGED_IP, CHROME, None, "automated", "challenge"))
    (tmp_path / "scan.json").write_text(json.dumps(doc))
    conf = {"deploy": {server.kind: {"validate": server.validate, "reload": server.reload},
                       "lock": str(tmp_path / "deploy.lock")},
            "serve": {"listen": "127.0.0.1:1", "fail_open": fail_open}}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    option = "--nginx-dir" if server.kind == "nginx" else "--apache-dir"
    return run_cli("deploy-rules", "--from", str(tmp_path / "scan.json"), option, str(server.rules),
                   "--config", str(tmp_path / "c.yaml"), "--state", str(tmp_path / "s.db"))  # fmt: skip


@pytest.mark.parametrize("fail_open", [True, False], ids=["fail-open", "fail-closed"])
@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_internal_only_paths_are_named_while_the_routing_fails_open(
    kind: str, fail_open: bool, tmp_path: Path
) -> None:
    site, rule = (_nginx_site, NGINX_INTERNAL) if kind == "nginx" else (_apache_site, APACHE_GUARD)
    conf = "nginx.conf" if kind == "nginx" else "apache2.conf"
    with running(kind, _files(kind), site) as server:
        r = _deploy(server, tmp_path, fail_open)
        assert r.exit_code == 0, r.output
        warnings = [line for line in r.stderr.splitlines() if "admits internal redirects only" in line]
        meanwhile = "the content" if fail_open else "a 503 (serve.fail_open: false)"
        assert f"challenged clients get {meanwhile} until it runs" in r.stderr, r.output
        if not fail_open:
            assert warnings == [], r.output
            return
        assert len(warnings) == 1, r.output
        where = f"{server.prefix}/{conf}:{_line(server.prefix / conf, rule.split('{')[0].strip())}:"
        assert where in warnings[0] and "serve.fail_open: false" in warnings[0], warnings
        assert rule.split("{")[0].strip() in warnings[0], warnings
