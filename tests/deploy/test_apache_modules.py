"""deploy-rules on a real Apache that lacks the modules the challenge routing needs: the routing is
inert inside <IfModule> there, so the run says so in one warning line (the missing modules and
the a2enmod that fixes it) and the block rules still deploy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import BYTESPIDER, Site
from tests.deploy.test_challenge_deploy import _challenge_scan
from tests.deploy.test_fan_out import _empty_rules
from tests.helpers import Result, run_cli
from tests.render.servers import CHROME, MODULES, Server, running, write_apache_conf


def _with_modules(*modules: str) -> Callable[[str, Path, int], None]:
    """The minimal Apache site with ``modules`` loaded too."""

    def write(kind: str, prefix: Path, port: int) -> None:
        write_apache_conf(prefix, port)
        conf = prefix / "apache2.conf"
        loads = "".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so\n" for m in modules)
        conf.write_text(conf.read_text().replace("Listen ", loads + "Listen ", 1))

    return write


def _deploy(srv: Server, tmp_path: Path) -> Result:
    (tmp_path / "scan.json").write_text(json.dumps(_challenge_scan()))
    conf = {"deploy": {"apache": {"validate": srv.validate, "reload": srv.reload}},
            "serve": {"listen": "127.0.0.1:1"}}  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    return run_cli("deploy-rules", "--from", str(tmp_path / "scan.json"), "--apache-dir", str(srv.rules),
                   "--config", str(tmp_path / "c.yaml"), "--state", str(tmp_path / "s.db"))  # fmt: skip


def _module_warnings(r: Result) -> list[str]:
    return [line for line in r.stderr.splitlines() if "Apache does not load" in line]


@pytest.mark.parametrize(
    ("loaded", "missing"),
    [((), "rewrite, proxy, proxy_http, headers"), (("rewrite", "proxy"), "proxy_http, headers")],
)
def test_missing_modules_are_one_warning_and_the_block_rules_deploy(
    loaded: tuple[str, ...], missing: str, tmp_path: Path
) -> None:
    with running("apache", _empty_rules("apache"), site=_with_modules(*loaded)) as srv:
        r = _deploy(srv, tmp_path)
        assert r.exit_code == 0, r.output
        assert _module_warnings(r) == [
            f"botguard: warning: apache: Apache does not load {missing}: the challenge routing is off there "
            "(challenged clients get the content; the block rules apply); enable them with "
            f"`a2enmod {missing.replace(',', '')}` and reload Apache"
        ], r.stderr
        assert (srv.rules / "botguard_challenge.conf").exists()
        assert Site(srv, tmp_path, tmp_path, tmp_path).eventually(lambda: srv.get(ua=BYTESPIDER), 403) == 403
        assert srv.get(ua=CHROME) == 200


def test_no_warning_when_apache_loads_them(tmp_path: Path) -> None:
    with running("apache", _empty_rules("apache"), site=_with_modules("rewrite", "proxy", "proxy_http",
                                                                      "headers")) as srv:  # fmt: skip
        r = _deploy(srv, tmp_path)
        assert r.exit_code == 0, r.output
        assert _module_warnings(r) == [], r.stderr
        assert "updated botguard.conf, botguard_challenge.conf" in r.stdout, r.output
