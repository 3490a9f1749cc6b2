"""``receive-rules`` takes decisions, never rule text: the host renders its own files with botguard's
renderers (the bytes the sender would render), so a request can only take access away, whatever
its fields hold. On real nginx and Apache sites with their own protections, behind a real sshd
whose key is forced to ``receive-rules --config HOST.yaml``."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from botguard.config import ServeSettings
from botguard.decide.records import Decision, DecisionSet, Match
from botguard.deploy.records import RemoteTarget, Rendering
from botguard.deploy.ssh import deploy_over_ssh, request_text
from botguard.keyring import Key, Keyring, keyring_text
from botguard.render import renderers
from tests.deploy.sshd import Sshd, running_sshd
from tests.deploy.test_fan_out import _empty_rules, _snapshot
from tests.helpers import run_cli
from tests.render.servers import AUTHORIZATION, CHROME, Server, protected_site, running

RING = Keyring((Key("0123abcd", "ab" * 32, 1.0), Key("89abcdef", "cd" * 32, 0.0)))

#: Agents that try to end a token, a line, a block or a directive in a server's configuration, or
#: to start a comment: each rule must match exactly that agent and nothing else.
HOSTILE_AGENTS = (
    'Evil" 1; } location ~ / { return 200; } #',
    "Evil\\x22; allow all; \\",
    "Evil'; satisfy any; }",
    "Evil#{ Require all granted }",
    "Evil\u2028Require all granted\u2029",
    "Evil\x00allow all;",
    'Evil\\\\";}#',
)
#: An agent with a line break cannot occur in one header line: no rule may carry it.
NEWLINE_AGENT = "Evil\nallow all;"
#: An allowlisted agent as hostile: allowlisting exempts from botguard's rules, nothing more.
ALLOWED_AGENT = "Friendly'; satisfy any; allow all; }#"


def hostile_decisions() -> DecisionSet:
    """Blocks and challenges for the hostile agents (exact, substring, with an address) and an
    allowlist entry naming one, as a compromised sender could make them."""
    out = [Decision("block", Match("ua_exact", agent), ("test",)) for agent in HOSTILE_AGENTS]
    out += [Decision("challenge", Match("ua_exact", agent + " c"), ("test",)) for agent in HOSTILE_AGENTS]
    out += [
        Decision("block", Match("ua_pattern", 'EvilBot"; allow all; #'), ("test",), "model"),
        Decision("block", Match("client", HOSTILE_AGENTS[1], "203.0.113.5"), ("test",)),
        Decision("challenge", Match("cidr", "198.51.100.0/24"), ("test",)),
        Decision("allow", Match("ua_pattern", ALLOWED_AGENT), ("allowlist",), "config"),
        Decision("block", Match("asn", "AS64496"), ("test",)),
    ]
    return DecisionSet.of(out)


def remote(directory: Path, server: str, rendering: Rendering, **over: object) -> RemoteTarget:
    """The target a deploy-rules run would send a request for (``directory`` on this machine)."""
    fields: dict = {"validate": (), "reload": (), "secret": None, "probe": None} | over
    return RemoteTarget(
        "web", f"ssh://u@h:22{directory}", "u@h", 22, str(directory), server, rendering,
        fields["validate"], fields["reload"], fields["probe"], secret=fields["secret"],
    )  # fmt: skip


def request(
    directory: Path, kind: str = "nginx", chosen: DecisionSet | None = None, /, **over: object
) -> dict:
    """A request as deploy-rules sends it (then changed as the test says), as JSON values."""
    rendering = Rendering(2, 4, ServeSettings(), RING)
    sent = request_text(remote(directory, kind, rendering), chosen or DecisionSet(), reload=False,
                        dry_run=False)  # fmt: skip
    return json.loads(sent) | over


@pytest.mark.parametrize("server", ["nginx", "apache"])
@pytest.mark.parametrize("routing", [True, False], ids=["routing", "block-only"])
def test_the_host_renders_the_bytes_the_sender_renders(tmp_path: Path, server: str, routing: bool) -> None:
    """Decisions with hostile agents, the sender's throttle policy, serve settings and keyring in,
    the host's files out: byte for byte what botguard renders here from the same inputs; the
    routing files 0600."""
    serve = ServeSettings(listen="127.0.0.1:9911", timeout=1.5, bind="network", fail_open=False)
    rendering = Rendering(5, 9, serve, RING if routing else None)
    decisions = hostile_decisions()
    sent = request_text(remote(tmp_path, server, rendering), decisions, reload=False, dry_run=False)
    r = run_cli("receive-rules", stdin=sent)
    assert r.exit_code == 0, r.output
    local = renderers(5, 9, keyring=RING if routing else None, serve=serve)[server].render(decisions)
    assert _snapshot(tmp_path) == {f.name: f.text.encode("ascii") for f in local}
    assert len(local) == {("nginx", True): 4, ("nginx", False): 2, ("apache", True): 2}.get(
        (server, routing), 1
    )
    for f in local:
        mode = stat.S_IMODE((tmp_path / f.name).stat().st_mode)
        assert (mode == 0o600) == f.secret, f.name
    assert sorted(json.loads(r.stdout)["changed"]) == sorted(f.name for f in local)


def test_an_old_senders_rendered_files_are_refused_naming_the_format(tmp_path: Path) -> None:
    """A request of botguard's earlier format (rendered files) or of another format number: one
    line naming both formats, exit 1, nothing written."""
    old = {"name": "h", "server": "nginx", "dir": str(tmp_path), "validate": [], "reload": [], "probe": None,
           "files": [{"name": "botguard_server.conf", "text": "allow all;\n"}], "reload_enabled": False,
           "dry_run": False}  # fmt: skip
    r = run_cli("receive-rules", stdin=json.dumps(old))
    assert r.exit_code == 1, r.output
    assert (
        r.stderr.count("\n") == 1 and "format 1 (rendered files" in r.stderr and "takes format 2" in r.stderr
    )
    r = run_cli("receive-rules", stdin=json.dumps(request(tmp_path, format=3, botguard="9.9")))
    assert r.exit_code == 1 and "format '3' sent by botguard 9.9" in r.stderr and "takes format 2" in r.stderr
    assert list(tmp_path.iterdir()) == []


def _decision(**over: object) -> list[dict]:
    base = request(Path("/"), "nginx", DecisionSet((Decision("block", Match("ua_exact", "EvilBot/1.0")),)))
    return [base["decisions"][0] | over]


SMUGGLED = [
    pytest.param({"files": [{"name": "botguard_server.conf", "text": "allow all;\n"}]}, "unknown key 'files'",
                 id="files-beside-decisions"),
    pytest.param({"decisions": _decision(value=NEWLINE_AGENT)}, "user agent with CR/LF", id="agent-newline"),
    pytest.param({"decisions": _decision(value="Evil\ud800")}, "lone surrogate", id="agent-not-bytes"),
    pytest.param({"decisions": _decision(kind="ip", value="192.0.2.1; allow all")}, "not an IP address",
                 id="address"),
    pytest.param({"decisions": _decision(kind="cidr", value="192.0.2.0/24 1; } #")}, "not an IP network",
                 id="network"),
    pytest.param({"decisions": _decision(kind="client", ip="203.0.113.5 1; }")}, "not an IP address",
                 id="client-address"),
    pytest.param({"decisions": _decision(kind="ip", value="fe80::1%eth0;allow")}, "IPv6 zone id", id="zone"),
    pytest.param({"decisions": _decision(action="grant")}, "'grant' is not one of", id="action"),
    pytest.param({"decisions": _decision(kind="raw")}, "'raw' is not one of", id="kind"),
    pytest.param({"decisions": _decision(text="allow all;")}, "unknown field 'text'", id="decision-field"),
    pytest.param({"decisions": _decision(ip="192.0.2.1")}, "a client match has an address", id="stray-ip"),
    pytest.param({"decisions": _decision(kind="ua_pattern", value="Mozilla")}, "a token browsers",
                 id="token-people-carry"),
    pytest.param({"decisions": "allow all;"}, "decisions: expected a list", id="decisions-text"),
    pytest.param({"settings": {"decide": {"throttle_rate": "2r/s; allow all", "throttle_burst": 4},
                               "serve": {"listen": "127.0.0.1:8787", "timeout": 2.0, "bind": "address"}}},
                 "expected an integer", id="rate"),
    pytest.param({"settings": {"decide": {"throttle_rate": 2, "throttle_burst": 4},
                               "serve": {"listen": "127.0.0.1:1; } location / { proxy_pass http://evil; } #",
                                         "timeout": 2.0, "bind": "address"}}}, "expected HOST:PORT", id="listen"),
    pytest.param({"settings": {"decide": {"throttle_rate": 2, "throttle_burst": 4},
                               "serve": {"listen": "127.0.0.1:8787", "timeout": 2.0, "bind": "any; allow all"}}},
                 "serve.bind", id="bind"),
    pytest.param({"settings": {"decide": {"throttle_rate": 2, "throttle_burst": 4},
                               "serve": {"timeout": 2.0, "bind": "address"}}}, "no 'listen'", id="no-listen"),
    pytest.param({"settings": {"decide": {"throttle_rate": 2, "throttle_burst": 4},
                               "serve": {"listen": "127.0.0.1:8787", "timeout": 2.0, "bind": "address",
                                         "fail_open": "yes; allow all"}}}, "serve.fail_open", id="fail-open"),
    pytest.param({"keyring": keyring_text(RING).replace("ab" * 32, "ab;allow all;" + "a" * 51)},
                 "malformed key", id="keyring"),
    pytest.param({"name": "web\nbotguard: error: all fine"}, "not one a configuration may give", id="name"),
    pytest.param({"server": "cloudflare"}, "unknown server 'cloudflare'", id="server"),
    pytest.param({"format": True}, "format 'True'", id="format-bool"),
]  # fmt: skip


@pytest.mark.parametrize(("over", "message"), SMUGGLED)
def test_a_request_smuggling_text_in_any_field_is_refused(
    tmp_path: Path, over: dict[str, object], message: str
) -> None:
    """Rule text beside the decisions, agents or addresses no rule can carry, unknown actions,
    kinds or fields, settings and keys that are not what a config file or keyring may hold, a
    host name with a line break: one line naming it, exit 1, nothing written, no traceback."""
    r = run_cli("receive-rules", stdin=json.dumps(request(tmp_path, **over)))
    assert r.exit_code == 1 and r.stderr.startswith("botguard: error: bad receive-rules request"), r.output
    assert message in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert list(tmp_path.iterdir()) == []


def _host_config(path: Path, rules: Path, **more: object) -> Path:
    conf = {"deploy": {"nginx": {"dir": str(rules), "validate": [], "reload": []}}} | more
    path.write_text(yaml.safe_dump(conf))
    return path


def test_with_its_configuration_the_host_routes_to_its_own_serve(tmp_path: Path) -> None:
    """With --config the challenge routing goes to the host's serve (its listen, timeout and
    bind), whatever serve the request names: a sender cannot proxy challenged clients, or
    /.botguard/, to a server of its own. The outcome says so in a warning."""
    rules = tmp_path / "rules"
    rules.mkdir()
    config = _host_config(tmp_path / "host.yaml", rules, serve={"listen": "127.0.0.1:7001", "timeout": 3.0})
    evil = {"decide": {"throttle_rate": 2, "throttle_burst": 4},
            "serve": {"listen": "192.0.2.66:80", "timeout": 60, "bind": "network"}}  # fmt: skip
    r = run_cli("receive-rules", "--config", str(config), stdin=json.dumps(request(rules, settings=evil)))
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["warnings"] == [
        "web: challenged clients here go to this host's serve at 127.0.0.1:7001 (timeout 3 s, bind address: its"
        " own configuration), not 192.0.2.66:80 (timeout 60 s, bind network) as sent"
    ]
    routing = (rules / "botguard_challenge_http.conf").read_text() + (
        rules / "botguard_challenge_server.conf"
    ).read_text()
    assert "192.0.2.66" not in routing and "server 127.0.0.1:7001;" in routing
    assert "proxy_read_timeout 3000ms;" in routing and "$1;" not in routing  # bind: address
    host = renderers(2, 4, keyring=RING, serve=ServeSettings(listen="127.0.0.1:7001", timeout=3.0))["nginx"]
    assert _snapshot(rules) == {f.name: f.text.encode() for f in host.render(DecisionSet())}


def test_with_its_configuration_the_keyring_goes_only_where_its_serve_reads_it(tmp_path: Path) -> None:
    """With --config a request naming another file for the keyring (a file root may write: here a
    stand-in for /etc/sudoers.d or authorized_keys) is refused and nothing is written; the
    file the host's serve reads (serve.secret_path) gets it, 0600."""
    rules, victim = tmp_path / "rules", tmp_path / "victim"
    rules.mkdir()
    victim.write_text("root ALL=(ALL) ALL\n")
    own = tmp_path / "serve" / "serve-secret.json"
    config = _host_config(tmp_path / "host.yaml", rules, serve={"secret_path": str(own)})
    r = run_cli(
        "receive-rules", "--config", str(config), stdin=json.dumps(request(rules, secret=str(victim)))
    )
    assert r.exit_code == 1 and "serve reads its keyring from" in r.stderr and str(own) in r.stderr, r.output
    assert victim.read_text() == "root ALL=(ALL) ALL\n" and list(rules.iterdir()) == [] and not own.exists()
    r = run_cli("receive-rules", "--config", str(config), stdin=json.dumps(request(rules, secret=str(own))))
    assert r.exit_code == 0 and json.loads(r.stdout)["secret_copied"], r.output
    assert own.read_text() == keyring_text(RING) and stat.S_IMODE(own.stat().st_mode) == 0o600


# ---------------------------------------------------------------- real servers behind a real sshd


@pytest.fixture
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def _force(sshd: Sshd, host_config: Path) -> list[str]:
    """Restrict the test key to ``receive-rules --config HOST.yaml``; the login argv that uses it."""
    key = Path(sshd.ssh[sshd.ssh.index("-i") + 1])
    forced = f'command="{sys.executable} -m botguard receive-rules --config {host_config}",restrict '
    (key.parent / "authorized_keys").write_text(forced + Path(f"{key}.pub").read_text())
    return [*sshd.ssh, "-p", str(sshd.port), f"{sshd.user}@127.0.0.1", "anything"]


def _site_holds(srv: Server) -> None:
    """The site's own protections: a denied path 403, a password path 401 (200 with the password;
    Apache: also a <Location> denied, a password in .htaccess), whoever asks: an allowlisted
    agent, a client botguard has no rule for."""
    for ua in (CHROME, ALLOWED_AGENT):
        assert srv.get("/denied/f.txt", ua=ua) == 403, ua
        assert srv.get("/password/f.txt", ua=ua) == 401, ua
        if srv.kind == "apache":
            assert srv.get("/location-denied/f.txt", ua=ua) == 403, ua
            assert srv.get("/htaccess/f.txt", ua=ua) == 401, ua
        assert srv.get("/password/f.txt", ua=ua, headers={"Authorization": AUTHORIZATION}) == 200, ua
        assert srv.get("/index.html", ua=ua) == 200, ua


#: What a compromised sender would put in a botguard include to open the site's protected paths
#: (it passes the server's own check: nginx -t / apache2 -t).
WIDENING = {
    "nginx": ("botguard_server.conf", "location ~ ^/(denied|password)/ {\n    allow all;\n    satisfy any;\n"
                                      "    return 200 'open';\n}\n"),
    "apache": ("botguard.conf", '<Location "/denied">\n    Require all granted\n</Location>\n'
                                '<Location "/password">\n    Require all granted\n</Location>\n'),
}  # fmt: skip


#: The smuggling attempts also sent through sshd (each is a botguard start on the "host"; every one
#: of SMUGGLED is refused by the same code in-process above).
OVER_SSH = ("files-beside-decisions", "agent-newline", "network", "listen", "keyring", "name", "server")


@pytest.mark.parametrize("kind", ["nginx", "apache"])
def test_a_key_forced_to_receive_rules_can_only_take_access_away(
    sshd: Sshd, tmp_path: Path, kind: str
) -> None:
    """Through the forced key, on a site with a denied and a password path: rendered text that
    would open them (the old request format) and smuggling in every field are refused there and
    change nothing; decisions with hostile agents deploy inert (each blocks exactly its agent),
    and an allowlist naming everyone still leaves the site's own 403 and 401 in place."""
    with running(kind, _empty_rules(kind), site=protected_site()) as srv:
        host = tmp_path / "host.yaml"
        host.write_text(yaml.safe_dump({"deploy": {kind: {"dir": str(srv.rules), "validate": srv.validate,
                                                          "reload": srv.reload}}}))  # fmt: skip
        login = _force(sshd, host)
        _site_holds(srv)
        before = _snapshot(srv.rules)
        name, text = WIDENING[kind]
        old = {"name": "web", "server": kind, "dir": str(srv.rules), "validate": [], "reload": [], "probe": None,
               "files": [{"name": name, "text": text}], "reload_enabled": True, "dry_run": False}  # fmt: skip
        attacks = [json.dumps(old)] + [
            json.dumps(request(srv.rules, kind, **p.values[0]))  # type: ignore[arg-type]
            for p in SMUGGLED
            if p.id in OVER_SSH
        ]
        for attack in attacks:
            done = subprocess.run(login, input=attack, capture_output=True, text=True, check=False)
            assert done.returncode == 1 and "bad receive-rules request" in done.stderr, done.stderr
        assert _snapshot(srv.rules) == before
        srv.reload_now()
        _site_holds(srv)

        sent = request(srv.rules, kind, hostile_decisions(), reload_enabled=True)
        done = subprocess.run(login, input=json.dumps(sent), capture_output=True, text=True, check=False)
        assert done.returncode == 0 and json.loads(done.stdout)["reloaded"], done.stderr
        srv.reload_now()
        for agent in HOSTILE_AGENTS:
            if "\x00" not in agent:  # no header line holds a NUL
                assert srv.get(ua=agent) == 403, agent
                assert srv.get(ua=agent + "x") == 200, agent
        _site_holds(srv)

        everyone = DecisionSet.of([
            Decision("allow", Match("cidr", "0.0.0.0/1"), ("allowlist",), "config"),
            Decision("allow", Match("cidr", "128.0.0.0/1"), ("allowlist",), "config"),
            Decision("allow", Match("ua_pattern", "Mozilla"), ("allowlist",), "config"),
            Decision("allow", Match("ua_pattern", "Evil"), ("allowlist",), "config"),
        ])  # fmt: skip
        sent = request(srv.rules, kind, everyone, reload_enabled=True)
        done = subprocess.run(login, input=json.dumps(sent), capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        srv.reload_now()
        _site_holds(srv)


def test_what_a_host_answers_is_shown_printable(tmp_path: Path) -> None:
    """A host that is not what it should be answers with escape sequences in its diff and file
    names (clearing the operator's screen, hiding lines): they reach this machine as text."""
    answer = {"changed": ["botguard.conf\x1b]52;c;ZXZpbA==\x07"], "diff": "+ok\n\x1b[2J\x1b[1A+\u202eevil\n",
              "validated": True, "reloaded": True, "recovered": False, "warnings": ["\x1b[31mred"]}  # fmt: skip
    script = tmp_path / "host.sh"
    script.write_text(f"cat >/dev/null\nprintf '%s' '{json.dumps(answer)}'\n")
    target = replace(remote(tmp_path, "nginx", Rendering(2, 4, ServeSettings())), ssh=("sh", str(script)))
    outcome = deploy_over_ssh(target, DecisionSet())
    shown = outcome.diff + "".join(outcome.changed) + "".join(outcome.warnings)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown, shown
    assert outcome.diff.split("\n") == ["+ok", "\\x1b[2J\\x1b[1A+\\u202eevil", ""]
