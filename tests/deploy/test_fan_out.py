"""deploy-rules fanning one decision set out to several real servers (``deploy.hosts``)."""

from __future__ import annotations

import json
import signal
import stat
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import yaml

from botguard.config import ServeSettings, load_settings
from botguard.decide import DecisionSet
from botguard.keyring import Key, Keyring
from botguard.render.apache import ApacheRenderer
from botguard.render.challenge import render_apache, render_nginx
from botguard.render.nginx import NginxRenderer
from botguard.render.records import ChallengeTargets
from tests.deploy.conftest import BYTESPIDER, Site, scan_doc
from tests.deploy.test_challenge_deploy import CHALLENGED_IP, _challenge_scan
from tests.deploy.test_challenge_deploy import CHROME as BROWSER
from tests.helpers import run_cli
from tests.render.servers import CHROME, Server, free_port, running
from tests.serve.site import OTHER_IP, Serve, pass_for, request, write_site

#: Three hosts: two nginx and one Apache, each with its own rules directory.
KINDS = (("web1", "nginx"), ("web2", "nginx"), ("web3", "apache"))


def _empty_rules(kind: str) -> dict[str, str]:
    renderer = NginxRenderer() if kind == "nginx" else ApacheRenderer()
    return {f.name: f.text for f in renderer.render(DecisionSet())}


@pytest.fixture
def hosts() -> Iterator[dict[str, Server]]:
    with ExitStack() as stack:
        yield {name: stack.enter_context(running(kind, _empty_rules(kind))) for name, kind in KINDS}


def _config(path: Path, servers: dict[str, Server], serve: dict | None = None) -> Path:
    conf: dict = {
        "deploy": {
            "lock": str(path.parent / "deploy.lock"),
            "hosts": [
                {"name": name, "server": srv.kind, "dir": str(srv.rules), "validate": srv.validate,
                 "reload": srv.reload}
                for name, srv in servers.items()
            ],
        }
    }  # fmt: skip
    if serve:
        conf["serve"] = serve
    path.write_text(yaml.safe_dump(conf))
    return path


def _deploy(tmp_path: Path, config: Path, doc: dict | None = None) -> tuple[int, str, str]:
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps(doc or scan_doc(with_ip_block=False)))
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


def test_a_host_secret_is_an_absolute_path(tmp_path: Path) -> None:
    """``secret`` names a file on the host: a relative one is a config error naming the key."""
    config = tmp_path / "c.yaml"
    config.write_text("deploy:\n  hosts:\n    - {name: a, server: nginx, dir: /srv/a, secret: serve.json}\n")
    r = run_cli("deploy-rules", "--config", str(config), "--state", str(tmp_path / "s.db"))
    assert r.exit_code == 2, r.output
    assert "deploy.hosts[0].secret: expected an absolute path, got 'serve.json'" in r.stderr, r.output


# ---------------------------------------------------------------- the challenge tier on every host

#: Keys the hosts' routing starts with (it challenges nobody yet): the first deploy brings serve's.
_START_RING = Keyring((Key("00000000", "0" * 64, 0.0),))


def routed_rules(kind: str) -> dict[str, str]:
    """Empty block rules and an empty challenge routing, for a site that includes both."""
    render = render_nginx if kind == "nginx" else render_apache
    routing = render(ChallengeTargets(), ServeSettings(), _START_RING)
    return _empty_rules(kind) | {f.name: f.text for f in routing}


@contextmanager
def serving(tmp: Path) -> Iterator[Serve]:
    """``botguard serve`` on this machine, the one every host's routing sends challenged clients to."""
    home = tmp / "serve"
    home.mkdir()
    config = home / "botguard.yaml"
    config.write_text("serve:\n  difficulty: 8\n  timeout: 5.0\n")
    serve = Serve(f"127.0.0.1:{free_port()}", home / "state.db", config)
    serve.start()
    try:
        yield serve
    finally:
        serve.stop(signal.SIGKILL)


def serve_settings(serve: Serve) -> dict:
    """deploy-rules' ``serve:`` section for that serve: its address and its keyring."""
    return {
        "listen": serve.listen,
        "timeout": 5.0,
        "secret_path": str(serve.state.parent / "serve-secret.json"),
    }


def challenged(srv: Server, tmp_path: Path) -> bool:
    """The challenged client gets serve's challenge page here (after the reload settles)."""
    site = Site(srv, tmp_path, tmp_path, tmp_path)
    return site.eventually(lambda: int(request(srv.port, ip=CHALLENGED_IP, ua=BROWSER).challenged), 1) == 1


def routing_modes(srv: Server) -> set[int]:
    return {stat.S_IMODE(p.stat().st_mode) for p in srv.rules.glob("botguard_challenge*.conf")}


def passes_everywhere(servers: dict[str, Server]) -> None:
    """A pass earned through the first host opens every host (one keyring checks it everywhere)."""
    cookies = pass_for(next(iter(servers.values())).port, CHALLENGED_IP, BROWSER)
    for name, srv in servers.items():
        assert request(srv.port, ip=CHALLENGED_IP, ua=BROWSER, cookies=cookies).status == 200, name
        assert request(srv.port, ip=OTHER_IP, ua=BROWSER).status == 200, name


@pytest.fixture
def routed_hosts() -> Iterator[dict[str, Server]]:
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(running(kind, routed_rules(kind), site=write_site))
            for name, kind in KINDS
        }


def _config_with_web2_secret(
    tmp_path: Path, hosts: dict[str, Server], serve: Serve, web2_secret: Path
) -> Path:
    """The three routed hosts' configuration, with web2 naming the keyring of a serve of its own."""
    config = _config(tmp_path / "botguard.yaml", hosts, serve_settings(serve))
    conf = yaml.safe_load(config.read_text())
    conf["deploy"]["hosts"][1]["secret"] = str(web2_secret)
    config.write_text(yaml.safe_dump(conf))
    return config


def test_a_challenged_client_gets_the_challenge_on_every_host(
    routed_hosts: dict[str, Server], tmp_path: Path
) -> None:
    """Each host gets the challenge routing beside its block rules (0600: it holds the keys); the
    challenged client is sent to serve by all three, a pass from one opens all, the blocked crawler
    is still refused. web2 names the keyring of a serve of its own: it is copied there, once."""
    web2_secret = tmp_path / "web2-serve" / "serve-secret.json"
    with serving(tmp_path) as serve:
        config = _config_with_web2_secret(tmp_path, routed_hosts, serve, web2_secret)
        code, out, err = _deploy(tmp_path, config, _challenge_scan())
        assert code == 0, out + err
        for name, srv in routed_hosts.items():
            assert routing_modes(srv) == {0o600}, name
            assert challenged(srv, tmp_path), name
            assert srv.get(ua=BYTESPIDER) == 403, name
        passes_everywhere(routed_hosts)
        keyring = (serve.state.parent / "serve-secret.json").read_text()
        assert web2_secret.read_text() == keyring and stat.S_IMODE(web2_secret.stat().st_mode) == 0o600
        assert out.count("copied the pass secret to its serve") == 1 and "web2: updated" in out, out
        code, out, err = _deploy(tmp_path, config, _challenge_scan())
        assert code == 0 and out.count(": unchanged, not reloaded (") == 3, out + err


def test_a_broken_host_keeps_its_routing_and_its_serve_keeps_its_keyring(
    routed_hosts: dict[str, Server], tmp_path: Path
) -> None:
    """web2's configuration is broken: its block rules and routing are put back, the keyring is
    not copied to its serve (its old files would not check it); web1 and web3 challenge."""
    web2_secret = tmp_path / "web2-serve" / "serve-secret.json"
    broken = routed_hosts["web2"]
    conf_file = broken.prefix / "nginx.conf"
    conf_file.write_text(conf_file.read_text() + "\nbroken_directive;\n")
    before = _snapshot(broken.rules)
    with serving(tmp_path) as serve:
        config = _config_with_web2_secret(tmp_path, routed_hosts, serve, web2_secret)
        code, out, err = _deploy(tmp_path, config, _challenge_scan())
        assert code == 1 and "botguard: error: web2: validation failed" in err, out + err
        assert _snapshot(broken.rules) == before and not web2_secret.exists()
        assert not request(broken.port, ip=CHALLENGED_IP, ua=BROWSER).challenged
        for name in ("web1", "web3"):
            assert challenged(routed_hosts[name], tmp_path), name
