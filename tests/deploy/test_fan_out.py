"""deploy-rules fanning one decision set out to several real servers (``deploy.hosts``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from botguard.config import load_settings
from botguard.decide import DecisionSet
from botguard.render.apache import ApacheRenderer
from botguard.render.nginx import NginxRenderer
from tests.deploy.conftest import BYTESPIDER, Site, scan_doc
from tests.helpers import run_cli
from tests.render.servers import CHROME, Server, running

#: Three hosts: two nginx and one Apache, each with its own rules directory.
KINDS = (("web1", "nginx"), ("web2", "nginx"), ("web3", "apache"))


def _empty_rules(kind: str) -> dict[str, str]:
    renderer = NginxRenderer() if kind == "nginx" else ApacheRenderer()
    return {f.name: f.text for f in renderer.render(DecisionSet())}


@pytest.fixture
def hosts() -> Iterator[dict[str, Server]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(running(kind, _empty_rules(kind))) for name, kind in KINDS}


def _config(path: Path, servers: dict[str, Server]) -> Path:
    conf = {
        "deploy": {
            "lock": str(path.parent / "deploy.lock"),
            "hosts": [
                {"name": name, "server": srv.kind, "dir": str(srv.rules), "validate": srv.validate,
                 "reload": srv.reload}
                for name, srv in servers.items()
            ],
        }
    }  # fmt: skip
    path.write_text(yaml.safe_dump(conf))
    return path


def _deploy(tmp_path: Path, config: Path) -> tuple[int, str, str]:
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps(scan_doc(with_ip_block=False)))
    r = run_cli(
        "deploy-rules", "--from", str(scan), "--config", str(config), "--state", str(tmp_path / "s.db")
    )
    return r.exit_code, r.stdout, r.stderr


def _enforced(srv: Server, tmp_path: Path, want: int) -> int:
    return Site(srv, tmp_path, tmp_path, tmp_path).eventually(lambda: srv.get(ua=BYTESPIDER), want)


def _snapshot(rules: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in rules.iterdir() if not p.name.startswith(".")}


def test_every_host_gets_the_same_rules(hosts: dict[str, Server], tmp_path: Path) -> None:
    """One run updates and reloads all three servers; each then refuses the blocked crawler."""
    code, out, err = _deploy(tmp_path, _config(tmp_path / "botguard.yaml", hosts))
    assert code == 0, out + err
    for name, srv in hosts.items():
        assert f"{name}: updated" in out and "reloaded" in out, out
        assert _enforced(srv, tmp_path, 403) == 403, name
        assert srv.get(ua=CHROME) == 200


def test_one_broken_host_is_named_and_keeps_its_old_rules(hosts: dict[str, Server], tmp_path: Path) -> None:
    """web2's own configuration is broken: its validation fails, its previous rules stay in place
    and keep serving; web1 and web3 are updated; one error line names web2, the exit code is 1
    and a "partial" line says how many targets were deployed."""
    broken = hosts["web2"]
    conf = broken.prefix / "nginx.conf"
    conf.write_text(conf.read_text() + "\nbroken_directive;\n")
    before = _snapshot(broken.rules)
    code, out, err = _deploy(tmp_path, _config(tmp_path / "botguard.yaml", hosts))
    assert code == 1, out + err
    errors = [line for line in err.splitlines() if line.startswith("botguard: error:")]
    assert len(errors) == 1 and errors[0].startswith("botguard: error: web2: validation failed"), err
    assert "botguard: partial: 2 of 3 targets deployed" in err, err
    for name in ("web1", "web3"):
        assert _enforced(hosts[name], tmp_path, 403) == 403, name
    assert _snapshot(broken.rules) == before  # the old files are back
    assert broken.get(ua=BYTESPIDER) == 200  # and the running server still serves them
    assert broken.get(ua=CHROME) == 200


def test_a_missing_host_directory_fails_that_host_alone(hosts: dict[str, Server], tmp_path: Path) -> None:
    """A host whose shared directory is not mounted is named; the others deploy."""
    config = _config(tmp_path / "botguard.yaml", hosts)
    conf = yaml.safe_load(config.read_text())
    conf["deploy"]["hosts"][0]["dir"] = str(tmp_path / "not-mounted")
    config.write_text(yaml.safe_dump(conf))
    code, out, err = _deploy(tmp_path, config)
    assert code == 1 and "web1: rule directory does not exist" in err, out + err
    assert "partial: 2 of 3" in err
    assert _enforced(hosts["web3"], tmp_path, 403) == 403


def test_host_commands_default_to_the_server_kind(tmp_path: Path) -> None:
    """A host names only what differs: its validate and reload come from deploy.<server>."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "deploy:\n  apache: {validate: [apachectl, -t]}\n  hosts:\n"
        "    - {name: a, server: apache, dir: /srv/a}\n"
        "    - {name: n, server: nginx, dir: /srv/n, reload: [ssh, n, nginx, -s, reload]}\n"
    )
    a, n = load_settings(config).deploy.hosts
    assert (a.validate, a.reload) == (("apachectl", "-t"), ("apache2ctl", "graceful"))
    assert (n.validate, n.reload) == (("nginx", "-t", "-q"), ("ssh", "n", "nginx", "-s", "reload"))
