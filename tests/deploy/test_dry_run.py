"""--dry-run impact preview and the no-server paths of deploy-rules."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from botguard.decide import Decision, DecisionSet, Match
from botguard.deploy import impact
from botguard.judge.records import ClientVerdict
from tests.deploy.conftest import client, scan_doc
from tests.helpers import run_cli
from tests.judge.scans import client_records


def _setup(tmp_path: Path, doc: dict) -> list[str]:
    (tmp_path / "rules").mkdir()
    (tmp_path / "scan.json").write_text(json.dumps(doc))
    conf = {"deploy": {"nginx": {"validate": [], "reload": []}, "apache": {"validate": [], "reload": []}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    return ["deploy-rules", "--from", str(tmp_path / "scan.json"), "--nginx-dir", str(tmp_path / "rules"),
            "--config", str(tmp_path / "c.yaml"), "--state", str(tmp_path / "s.db")]  # fmt: skip


def test_warns_loudly_when_a_human_or_verified_bot_would_be_blocked(tmp_path: Path) -> None:
    """A blocked human and a blocked verified Googlebot both appear in a WARNING."""
    doc = scan_doc(with_ip_block=False)
    doc["clients"].append(client("198.51.100.4", "Mozilla/5.0 Firefox/133.0", None, "human", "block"))
    doc["clients"].append(dict(client("66.249.66.1", "Googlebot/2.1", "Googlebot", "search-engine", "block"),
                               verified=True))  # fmt: skip
    r = run_cli(*_setup(tmp_path, doc), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "WARNING" in r.stderr and "198.51.100.4" in r.stderr and "66.249.66.1" in r.stderr, r.output
    assert "verified good bots  clients 1/1" in r.stdout, r.output
    assert not list((tmp_path / "rules").iterdir())


def test_first_run_writes_files_then_nothing_changes(tmp_path: Path) -> None:
    """Without server commands: files written once; the rerun reports unchanged."""
    args = _setup(tmp_path, scan_doc(with_ip_block=True))
    first = run_cli(*args)
    assert first.exit_code == 0 and "updated botguard_http.conf, botguard_server.conf" in first.stdout, (
        first.output
    )
    again = run_cli(*args)
    assert again.exit_code == 0 and "unchanged" in again.stdout, again.output


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    """No target, or no scan anywhere: exit 2 with a one-line reason."""
    r = run_cli("deploy-rules", "--state", str(tmp_path / "s.db"), "--nginx-dir", str(tmp_path))
    assert r.exit_code == 2 and "run `botguard scan` first" in r.stderr, r.output
    r = run_cli("deploy-rules", "--state", str(tmp_path / "s.db"))
    assert r.exit_code == 2 and "nothing to deploy to" in r.stderr, r.output


def test_missing_rule_directory_is_a_runtime_error(tmp_path: Path) -> None:
    args = _setup(tmp_path, scan_doc(with_ip_block=True))
    args[args.index("--nginx-dir") + 1] = str(tmp_path / "nope")
    r = run_cli(*args)
    assert r.exit_code == 1 and "does not exist" in r.stderr, r.output


def test_impact_allow_wins_and_groups() -> None:
    """An allowlisted IP is not counted as blocked; groups split humans / verified / crawlers."""
    ds = DecisionSet.of(
        [Decision("block", Match("ip", "10.0.0.1")), Decision("allow", Match("cidr", "10.0.0.0/8"))]
    )
    rows = {
        r.group: r for r in impact(client_records(client("10.0.0.1", "x", None, "human", "block")), ds).rows
    }
    assert rows["humans"].clients == 1 and rows["humans"].blocked_clients == 0


def test_state_scan_is_used_without_from(tmp_path: Path) -> None:
    """deploy-rules acts on the latest scan stored by `botguard scan`."""
    root = Path(__file__).resolve().parents[2]
    state = str(tmp_path / "s.db")
    r = run_cli("scan", str(root / "examples/access.log"), "--robots", str(root / "examples/robots.txt"),
                "--state", state, "--format", "json", "-o", str(tmp_path / "out.json"))  # fmt: skip
    assert r.exit_code == 0, r.output
    args = _setup(tmp_path, {})
    args = [a for a in args if a not in ("--from", str(tmp_path / "scan.json"))]
    r = run_cli(*args, "--dry-run")
    assert r.exit_code == 0 and "Bytespider" in r.stdout, r.output


def test_fast_replay_agrees_with_reference_semantics() -> None:
    """The compiled replay gives the same blocked set as matching every decision one by one."""
    import random

    from botguard.decide import matches

    rng = random.Random(5)
    ds = DecisionSet.of([
        Decision("block", Match("ua_pattern", "EvilBot")), Decision("block", Match("ua_exact", " Exact/1 ")),
        Decision("block", Match("ip", "10.0.0.1")), Decision("block", Match("cidr", "10.1.0.0/16")),
        Decision("allow", Match("ua_pattern", "friend")), Decision("allow", Match("client", "EvilBot", "10.0.0.9")),
        Decision("allow", Match("cidr", "10.1.2.0/24")),
    ])  # fmt: skip
    agents = ["EvilBot", "x evilbot y", "exact/1", "Exact/1 more", "friend evilbot", "Chrome", "a.b(c)"]
    clients = client_records(*(client(f"10.{rng.choice([0, 1])}.{rng.choice([0, 2])}.{rng.choice([1, 9])}",
                                      rng.choice(agents), None, "unknown", "block") for _ in range(300)))  # fmt: skip

    def reference(c: ClientVerdict) -> bool:
        hit = [d for d in ds.decisions if matches(d.match, c.ip, c.user_agent)]
        return any(d.action == "block" for d in hit) and not any(d.action == "allow" for d in hit)

    want = sum(reference(c) for c in clients)
    got = {r.group: r for r in impact(clients, ds).rows}["crawlers"].blocked_clients
    assert got == want and 0 < want < 300


def test_impact_reads_agents_as_sent() -> None:
    """A log-escaped agent (``\\x22`` for a quote) is matched by the rule made for the real header."""
    ds = DecisionSet.of([Decision("block", Match("ua_exact", 'zz" 1; "~*" bot'))])
    logged = client("198.51.100.4", "zz\\x22 1; \\x22~*\\x22 bot", None, "unknown", "block")
    assert {r.group: r for r in impact(client_records(logged), ds).rows}["crawlers"].blocked_clients == 1
