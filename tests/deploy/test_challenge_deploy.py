"""deploy-rules with challenge decisions: the preview, serve's secret, the routing files beside the block rules."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import yaml

from tests.deploy.conftest import client, scan_doc
from tests.helpers import Result, run_cli

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
CHALLENGED_IP = "198.51.100.7"
CHALLENGE_FILES = ("botguard_challenge_http.conf", "botguard_challenge_server.conf")


def _challenge_scan(*extra: dict) -> dict:
    doc = scan_doc(with_ip_block=True)
    doc["clients"] += [client(CHALLENGED_IP, CHROME, None, "automated", "challenge"), *extra]
    return doc


def _deploy(tmp_path: Path, doc: dict, *extra: str) -> Result:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "scan.json").write_text(json.dumps(doc))
    conf = {"deploy": {"nginx": {"validate": [], "reload": []}}, "serve": {"listen": "127.0.0.1:1"}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    return run_cli("deploy-rules", "--from", str(tmp_path / "scan.json"), "--nginx-dir", str(tmp_path / "rules"),
                   "--config", str(tmp_path / "c.yaml"), "--state", str(tmp_path / "s.db"), *extra)  # fmt: skip


def test_dry_run_previews_the_challenge_tier_and_writes_nothing(tmp_path: Path) -> None:
    """'N clients would be challenged; M of them look like people'; the secret it would create; no file."""
    person_behind_a_rule = client(CHALLENGED_IP, "Mozilla/5.0 Firefox/146.0", None, "browser", "monitor")
    r = _deploy(tmp_path, _challenge_scan(person_behind_a_rule), "--dry-run")
    assert r.exit_code == 0, r.output
    assert "decisions: 2 block, 1 challenge, 0 throttle" in r.stdout, r.output
    assert "challenge: 2 clients would be challenged; 1 of them look like people" in r.stdout, r.output
    assert "would create the pass secret" in r.stdout, r.output
    assert "holds secrets: not shown" in r.stdout and "map $cookie_bg_k" not in r.stdout, r.output
    assert "botguard serve does not answer at 127.0.0.1:1" in r.stderr, r.output
    assert list((tmp_path / "rules").iterdir()) == [] and not (tmp_path / "serve-secret.json").exists()


def test_deploy_creates_the_secret_and_writes_the_routing_files_0600(tmp_path: Path) -> None:
    """The first run with challenges creates serve's keyring (0600); the routing files carry its
    keys, so they are 0600 too; a second run over the same scan changes nothing."""
    r = _deploy(tmp_path, _challenge_scan())
    assert r.exit_code == 0, r.output
    assert "created the pass secret" in r.stdout, r.output
    secret = tmp_path / "serve-secret.json"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    rules = tmp_path / "rules"
    for name in CHALLENGE_FILES:
        assert stat.S_IMODE((rules / name).stat().st_mode) == 0o600, name
    http = (rules / "botguard_challenge_http.conf").read_text()
    key = json.loads(secret.read_text())
    assert CHALLENGED_IP in http and all(k["secret"] in http for k in key["keys"])
    again = _deploy(tmp_path, _challenge_scan())
    assert again.exit_code == 0 and "created the pass secret" not in again.stdout, again.output
    assert "unchanged" in again.stdout, again.output


def test_without_challenges_or_a_secret_no_challenge_files_are_made(tmp_path: Path) -> None:
    r = _deploy(tmp_path, scan_doc(with_ip_block=True))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "rules").iterdir() if not p.name.startswith(".")) == [
        "botguard_http.conf",
        "botguard_server.conf",
    ]
    assert not (tmp_path / "serve-secret.json").exists() and "challenge:" not in r.stdout


def test_a_challenge_goes_away_with_its_verdict(tmp_path: Path) -> None:
    """The next scan sees the client browse like a person: its challenge leaves the files."""
    assert _deploy(tmp_path, _challenge_scan()).exit_code == 0
    doc = scan_doc(with_ip_block=True)
    doc["clients"].append(
        client(CHALLENGED_IP, CHROME, None, "human", "allow") | {"last_seen": "2024-03-04T12:00:00Z"}
    )
    r = _deploy(tmp_path, doc)
    assert r.exit_code == 0 and "0 challenge" in r.stdout, r.output
    assert CHALLENGED_IP not in (tmp_path / "rules" / "botguard_challenge_http.conf").read_text()
