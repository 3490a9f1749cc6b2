"""deploy-rules to hosts over SSH (a real sshd on 127.0.0.1): botguard on the host receives the
decisions, renders its files and runs the deploy transaction there."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import BYTESPIDER, scan_doc
from tests.deploy.sshd import Sshd, running_sshd
from tests.deploy.test_challenge_deploy import _challenge_scan
from tests.deploy.test_fan_out import (
    _empty_rules,
    _enforced,
    _snapshot,
    challenged,
    passes_everywhere,
    routed_rules,
    routing_modes,
    serve_settings,
    serving,
)
from tests.deploy.test_receive import request
from tests.helpers import run_cli
from tests.render.servers import CHROME, Server, running
from tests.serve.site import write_site

#: botguard "on the host": the same machine, the test's own interpreter.
HOST_BOTGUARD = [sys.executable, "-m", "botguard"]


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture
def servers() -> Iterator[dict[str, Server]]:
    kinds = (("local", "nginx"), ("remote-nginx", "nginx"), ("remote-apache", "apache"))
    with ExitStack() as stack:
        yield {name: stack.enter_context(running(kind, _empty_rules(kind))) for name, kind in kinds}


def _config(tmp_path: Path, servers: dict[str, Server], sshd: Sshd) -> Path:
    hosts = []
    for name, srv in servers.items():
        host = {"name": name, "server": srv.kind, "validate": srv.validate, "reload": srv.reload}
        if name == "local":
            host["dir"] = str(srv.rules)
        else:
            host |= {"dir": sshd.url(srv.rules), "ssh": sshd.ssh, "botguard": HOST_BOTGUARD}
        hosts.append(host)
    path = tmp_path / "botguard.yaml"
    path.write_text(yaml.safe_dump({"deploy": {"lock": str(tmp_path / "deploy.lock"), "hosts": hosts}}))
    return path


def _deploy(tmp_path: Path, config: Path, *extra: str, doc: dict | None = None) -> tuple[int, str, str]:
    scan = tmp_path / "scan.json"
    scan.write_text(json.dumps(doc or scan_doc(with_ip_block=False)))
    r = run_cli("deploy-rules", "--from", str(scan), "--config", str(config), "--state", str(tmp_path / "s.db"),
                *extra)  # fmt: skip
    return r.exit_code, r.stdout, r.stderr


def test_rules_reach_hosts_over_ssh(servers: dict[str, Server], sshd: Sshd, tmp_path: Path) -> None:
    """A dry run diffs on each host and changes nothing; the run updates and reloads all three
    (two through sshd); a second run finds nothing to change."""
    config = _config(tmp_path, servers, sshd)
    code, out, err = _deploy(tmp_path, config, "--dry-run")
    assert code == 0, out + err
    assert f"remote-apache: would change botguard.conf ({sshd.url(servers['remote-apache'].rules)})" in out, (
        out
    )
    assert servers["remote-nginx"].get(ua=BYTESPIDER) == 200
    code, out, err = _deploy(tmp_path, config)
    assert code == 0, out + err
    for name, srv in servers.items():
        assert f"{name}: updated" in out, out
        assert _enforced(srv, tmp_path, 403) == 403, name
        assert srv.get(ua=CHROME) == 200
    # rendered here and rendered on the host from the decisions sent: the same bytes
    assert _snapshot(servers["remote-nginx"].rules) == _snapshot(servers["local"].rules)
    code, out, err = _deploy(tmp_path, config)
    assert code == 0 and out.count(": unchanged, not reloaded") == 3, out + err


def test_a_broken_remote_host_is_named_and_keeps_its_rules(
    servers: dict[str, Server], sshd: Sshd, tmp_path: Path
) -> None:
    """The Apache host's own configuration is broken: its validation (run on the host) fails,
    its files are put back there; the error line names it with Apache's reason; the others deploy."""
    broken = servers["remote-apache"]
    conf = broken.prefix / "apache2.conf"
    conf.write_text(conf.read_text() + "\nBrokenDirective on\n")
    before = _snapshot(broken.rules)
    code, out, err = _deploy(tmp_path, _config(tmp_path, servers, sshd))
    assert code == 1, out + err
    errors = [line for line in err.splitlines() if line.startswith("botguard: error:")]
    assert len(errors) == 1 and errors[0].startswith("botguard: error: remote-apache: validation failed"), err
    assert "'BrokenDirective'" in errors[0], err
    assert "partial: 2 of 3 targets deployed" in err
    staged = [p.name for p in broken.rules.iterdir() if p.name.endswith(("-new", "-old", ".journal"))]
    assert _snapshot(broken.rules) == before and staged == []
    assert broken.get(ua=BYTESPIDER) == 200
    for name in ("local", "remote-nginx"):
        assert _enforced(servers[name], tmp_path, 403) == 403, name


def test_an_unreachable_host_is_one_line(servers: dict[str, Server], sshd: Sshd, tmp_path: Path) -> None:
    """ssh cannot log in (wrong key): the host is named with ssh's reason; the others deploy."""
    config = _config(tmp_path, servers, sshd)
    conf = yaml.safe_load(config.read_text())
    wrong = tmp_path / "wrong_key"
    conf["deploy"]["hosts"][1]["ssh"] = [*sshd.ssh[:3], str(wrong), *sshd.ssh[4:]]
    wrong.write_text("")
    config.write_text(yaml.safe_dump(conf))
    code, out, err = _deploy(tmp_path, config)
    assert code == 1, out + err
    errors = [line for line in err.splitlines() if line.startswith("botguard: error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "botguard: error: remote-nginx: ssh failed (exit 255)"
    ), err
    assert _enforced(servers["remote-apache"], tmp_path, 403) == 403


def test_receive_rules_refuses_a_bad_request(tmp_path: Path) -> None:
    """Garbage or JSON that is no request on standard input: one line, exit 1, nothing written."""
    for text in ("{not json", "[]", '"allow all;"'):
        r = run_cli("receive-rules", stdin=text)
        assert r.exit_code == 1 and r.stderr.startswith("botguard: error: bad receive-rules request"), (
            r.output
        )
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"validate": ["nginx\x00", "-t"]}, "NUL"),
        ({"probe": "file:///etc/passwd"}, "not an http(s) URL"),
        ({"dir": "relative/dir"}, "not an absolute path"),
        ({"secret": "relative/serve-secret.json"}, "not absolute"),
        ({"secret": "/var/lib/botguard/serve-secret.json", "keyring": None}, "no keyring to copy"),
    ],
)
def test_receive_rules_refuses_what_deploy_rules_never_sends(
    tmp_path: Path, over: dict[str, object], message: str
) -> None:
    """A NUL, a probe that is not http(s), a relative directory or keyring path, a keyring path
    without a keyring: one line, exit 1, nothing written (no traceback)."""
    r = run_cli("receive-rules", stdin=json.dumps(request(tmp_path, **over)))
    assert r.exit_code == 1 and r.stderr.startswith("botguard: error: bad receive-rules request"), r.output
    assert message in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_key_forced_to_receive_rules_deploys_only_where_and_how_the_host_says(
    sshd: Sshd, tmp_path: Path
) -> None:
    """The host's authorized_keys forces ``receive-rules --config HOST.yaml``: a deploy-rules run
    reaches the host's rules directory and is validated and reloaded with the host's commands
    (the commands it sent never run); a request for another directory is refused there."""
    with running("nginx", _empty_rules("nginx")) as srv:
        host = tmp_path / "host.yaml"
        host.write_text(yaml.safe_dump({"deploy": {"nginx": {"dir": str(srv.rules), "validate": srv.validate,
                                                             "reload": srv.reload}}}))  # fmt: skip
        forced = f'command="{sys.executable} -m botguard receive-rules --config {host}",restrict '
        keys = Path(sshd.ssh[sshd.ssh.index("-i") + 1] + ".pub").read_text()
        (Path(sshd.ssh[sshd.ssh.index("-i") + 1]).parent / "authorized_keys").write_text(forced + keys)
        pwned = tmp_path / "pwned"
        sent = ["sh", "-c", f"touch {pwned}"]
        config = tmp_path / "botguard.yaml"
        config.write_text(yaml.safe_dump({"deploy": {"lock": str(tmp_path / "deploy.lock"), "hosts": [
            {"name": "web", "server": "nginx", "dir": sshd.url(srv.rules), "ssh": sshd.ssh,
             "botguard": HOST_BOTGUARD, "validate": sent, "reload": sent}]}}))  # fmt: skip
        code, out, err = _deploy(tmp_path, config)
        assert code == 0 and "web: updated" in out, out + err
        assert _enforced(srv, tmp_path, 403) == 403 and srv.get(ua=CHROME) == 200
        assert not pwned.exists()
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        login = [*sshd.ssh, "-p", str(sshd.port), f"{sshd.user}@127.0.0.1", "anything"]
        sent = json.dumps(request(elsewhere))
        done = subprocess.run(login, input=sent, capture_output=True, text=True, check=False)
        assert done.returncode == 1 and "names no nginx rules directory" in done.stderr, done.stderr
        assert list(elsewhere.iterdir()) == [] and not pwned.exists()


@pytest.fixture
def routed_servers() -> Iterator[dict[str, Server]]:
    """The three servers of :func:`servers`, their sites including the challenge routing."""
    kinds = (("local", "nginx"), ("remote-nginx", "nginx"), ("remote-apache", "apache"))
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(running(kind, routed_rules(kind), site=write_site))
            for name, kind in kinds
        }


def test_the_challenge_and_its_secret_reach_hosts_over_ssh(
    routed_servers: dict[str, Server], sshd: Sshd, tmp_path: Path
) -> None:
    """Over ssh too: the routing files arrive 0600 and a dry run never shows their keys; the
    challenged client is challenged by every host and one pass opens them all. remote-nginx names
    its serve's keyring (`secret`): the host writes it there, 0600. remote-apache names none: one
    warning says its serve must have this machine's secret."""
    secret = tmp_path / "remote-serve" / "serve-secret.json"
    with serving(tmp_path) as serve:
        config = _config(tmp_path, routed_servers, sshd)
        conf = yaml.safe_load(config.read_text())
        conf["serve"] = serve_settings(serve)
        conf["deploy"]["hosts"][1]["secret"] = str(secret)
        config.write_text(yaml.safe_dump(conf))
        keyring = Path(conf["serve"]["secret_path"]).read_text()
        keys = [k["secret"] for k in json.loads(keyring)["keys"]]
        code, out, err = _deploy(tmp_path, config, "--dry-run", doc=_challenge_scan())
        assert code == 0 and out.count("holds secrets: not shown") == 5, out + err
        assert not any(key in out + err for key in keys) and not secret.exists()
        code, out, err = _deploy(tmp_path, config, doc=_challenge_scan())
        assert code == 0, out + err
        for name, srv in routed_servers.items():
            assert routing_modes(srv) == {0o600}, name
            assert challenged(srv, tmp_path), name
        passes_everywhere(routed_servers)
        assert secret.read_text() == keyring and stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert "remote-nginx: updated" in out and out.count("copied the pass secret to its serve") == 1, out
        warnings = [line for line in err.splitlines() if "must sign with this machine's pass secret" in line]
        assert len(warnings) == 1 and warnings[0].startswith("botguard: warning: remote-apache: "), err


def test_a_remote_apache_without_the_modules_is_named_in_a_warning(
    servers: dict[str, Server], sshd: Sshd, tmp_path: Path
) -> None:
    """The hosts' Apache loads no rewrite/proxy/headers: receive-rules finds out on the host and
    the warning comes back naming it; its block rules deploy all the same."""
    config = _config(tmp_path, servers, sshd)
    code, out, err = _deploy(tmp_path, config, doc=_challenge_scan())
    assert code == 0, out + err
    warnings = [line for line in err.splitlines() if "Apache does not load" in line]
    assert warnings == [
        "botguard: warning: remote-apache: Apache does not load rewrite, proxy, proxy_http, headers: the "
        "challenge routing is off there (challenged clients get the content; the block rules apply); enable "
        "them with `a2enmod rewrite proxy proxy_http headers` and reload Apache"
    ], err
    assert _enforced(servers["remote-apache"], tmp_path, 403) == 403
