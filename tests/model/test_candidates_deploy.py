"""Model candidates in deploy-rules: dry-run impact, allowlist wins, revocation, ASN, hostile tokens on real servers."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from botguard.decide import DecisionSet
from botguard.decide.agents import blockable_name
from botguard.model.store import CandidateStore
from botguard.render.apache import ApacheRenderer
from botguard.render.cloudflare import CloudflareRenderer
from botguard.render.nginx import NginxRenderer
from botguard.state import State
from tests.deploy.conftest import Site, client, scan_doc, site  # noqa: F401  (site: real-server fixture)
from tests.helpers import run_cli
from tests.model.test_candidates_store import candidate
from tests.render.hostile import FIXED
from tests.render.servers import CHROME, check
from tests.render.test_servers import GOOGLEBOT

NOVA = "Mozilla/5.0 (compatible; NovaScrape/1.0; +http://novascrape.example/bot)"


def _doc() -> dict:
    """The scan saw NovaScrape from three hosting IPs but had no rule for it (verdict allow)."""
    doc = scan_doc(with_ip_block=False)
    doc["clients"] += [client(f"203.0.113.{i}", NOVA, None, "automated", "allow", 30) for i in (7, 8, 9)]
    doc["clients"].append(
        dict(client("66.249.66.1", GOOGLEBOT, "Googlebot", "search-engine", "allow"), verified=True)
    )
    doc["clients"].append(client("198.51.100.4", CHROME, None, "human", "allow", 12))
    return doc


def _setup(tmp_path: Path, conf: dict | None = None) -> list[str]:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "scan.json").write_text(json.dumps(_doc()))
    base = {"deploy": {"nginx": {"validate": [], "reload": []}, "apache": {"validate": [], "reload": []}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**base, **(conf or {})}))
    return ["deploy-rules", "--from", str(tmp_path / "scan.json"), "--nginx-dir", str(tmp_path / "rules"),
            "--config", str(tmp_path / "c.yaml"), "--state", str(tmp_path / "s.db")]  # fmt: skip


def _propose(db: Path, *candidates: object, approve: bool = True, now: datetime | None = None) -> None:
    with State(db) as state:
        store = CandidateStore(state)
        store.upsert(list(candidates), now=now or datetime.now(UTC))  # type: ignore[arg-type]
        if approve:
            store.approve(*(c.signature for c in candidates))  # type: ignore[attr-defined]


def _http(tmp_path: Path) -> str:
    return (tmp_path / "rules" / "botguard_http.conf").read_text()


def test_dry_run_shows_the_scanned_clients_the_model_rules_would_block(tmp_path: Path) -> None:
    args = _setup(tmp_path)
    before = run_cli(*args, "--dry-run")
    assert "crawlers            clients 1/4" in before.stdout, before.output  # Bytespider only
    _propose(tmp_path / "s.db", candidate(value="NovaScrape"))
    r = run_cli(*args, "--dry-run")
    assert r.exit_code == 0, r.output
    assert "crawlers            clients 4/4, requests 95/95" in r.stdout, r.output
    assert "humans              clients 0/2" in r.stdout and "verified good bots  clients 0/1" in r.stdout
    assert "WARNING" not in r.stderr and "novascrape" in r.stdout.lower()  # in the diff
    model_part = r.stdout[r.stdout.index("the model's rules alone") :]
    assert "crawlers            clients 3/4, requests 90/95" in model_part, r.output  # not Bytespider
    assert "humans              clients 0/2" in model_part, r.output
    assert [line.split()[2] for line in model_part.splitlines() if "e.g." in line] == [
        "203.0.113.7", "203.0.113.8", "203.0.113.9"]  # fmt: skip
    assert "model's rules alone" not in before.stdout  # nothing approved: no such section
    assert not list((tmp_path / "rules").iterdir())
    # a model rule that would hit a person is flagged by name before anything is deployed
    _propose(tmp_path / "s.db", candidate("ip24=198.51.100", "cidr", "198.51.100.0/24"))
    r = run_cli(*args, "--dry-run")
    assert "WARNING" in r.stderr and "198.51.100.4" in r.stderr, r.output


def test_proposed_is_not_deployed_until_approved(tmp_path: Path) -> None:
    args = _setup(tmp_path)
    _propose(tmp_path / "s.db", candidate(value="NovaScrape"), approve=False)
    assert run_cli(*args).exit_code == 0
    assert "novascrape" not in _http(tmp_path).lower()
    assert (
        run_cli("candidates", "approve", "ua_tok=novascrape", "--state", str(tmp_path / "s.db")).exit_code
        == 0
    )
    r = run_cli(*args)
    assert r.exit_code == 0 and "updated botguard_http.conf" in r.stdout, r.output
    assert "NovaScrape".lower() in _http(tmp_path).lower()
    with sqlite3.connect(tmp_path / "s.db") as conn:  # recorded with the scan bans, under its own source
        rows = conn.execute(
            "SELECT kind, value, source, reasons FROM decisions WHERE source = 'model'"
        ).fetchall()
    assert [(k, v, s) for k, v, s, _ in rows] == [("ua_pattern", "NovaScrape", "model")]
    assert json.loads(rows[0][3])[0].startswith("model: ua_tok=novascrape +2.1")


def test_rejected_or_expired_model_rules_leave_at_the_next_run(tmp_path: Path) -> None:
    args = _setup(tmp_path)
    db = tmp_path / "s.db"
    _propose(db, candidate(value="NovaScrape"), candidate("ip24=203.0.113", "cidr", "203.0.113.0/24"))
    assert run_cli(*args).exit_code == 0
    assert "novascrape" in _http(tmp_path).lower() and "203.0.113.0/24" in _http(tmp_path)
    assert run_cli("candidates", "reject", "ua_tok=novascrape", "--state", str(db)).exit_code == 0
    with State(db) as state:  # the /24 last fired two days ago: past the default 24 h candidate_ttl
        state.conn.execute("UPDATE model_candidates SET last_proposed = ? WHERE signature = 'ip24=203.0.113'",
                           ((datetime.now(UTC) - timedelta(days=2)).isoformat(),))  # fmt: skip
    r = run_cli(*args)
    assert r.exit_code == 0 and "updated" in r.stdout, r.output
    assert "novascrape" not in _http(tmp_path).lower() and "203.0.113" not in _http(tmp_path)
    assert "bytespider" in _http(tmp_path).lower()  # scan bans untouched


def test_allowlist_wins_over_model_rules(tmp_path: Path) -> None:
    args = _setup(tmp_path, {"allowlist": {"user_agents": ["novascrape"], "ips": ["203.0.113.8"]}})
    _propose(
        tmp_path / "s.db",
        candidate(value="NovaScrape/1.0"),
        candidate("ip24=203.0.113", "cidr", "203.0.113.0/24"),
    )
    r = run_cli(*args, "--dry-run")
    assert r.exit_code == 0, r.output
    assert "crawlers            clients 1/4" in r.stdout, (
        r.output
    )  # only Bytespider: the allowlist covers NovaScrape
    assert run_cli(*args).exit_code == 0
    http = _http(tmp_path)
    assert "NovaScrape\\x2f1\\x2e0" not in http  # a UA rule the allowlist fully covers is dropped
    allow, block = http.index("$botguard_allow_ip"), http.index("$botguard_ip {")
    assert (
        "203.0.113.0/24 1;" in http[block:allow] and "203.0.113.8 1;" in http[allow:]
    )  # /24 kept, allow wins


def test_asn_rules_are_enforced_by_cloudflare_and_declared_unenforceable_elsewhere(tmp_path: Path) -> None:
    _propose(tmp_path / "s.db", candidate("asn=64500", "asn", "AS64500"))
    with State(tmp_path / "s.db") as state:
        decisions = DecisionSet.of(CandidateStore(state).decisions(object()))
    assert [d.match.value for d in decisions.decisions] == ["AS64500"]
    for renderer in (NginxRenderer(), ApacheRenderer()):
        text = "\n".join(f.text for f in renderer.render(decisions))
        assert "1 ASN decisions are not enforceable in this target." in text, renderer.name
    [cloudflare] = CloudflareRenderer().render(decisions)
    assert "ip.src.asnum in {64500}" in cloudflare.text


def _hostile_tokens() -> list[str]:
    """Hostile fixed strings that are still acceptable UA tokens (quotes, braces, `;`, `$`, `#`), each
    naming a bot as every token the learner proposes does (``decide.agents.candidate_tokens``)."""
    tokens = [b for t in FIXED if blockable_name(b := f"{t}bot") and t.strip(" \t") == t]
    assert any('"' in t for t in tokens) and any("{" in t for t in tokens) and any(";" in t for t in tokens)
    return tokens


def test_hostile_candidate_tokens_pass_the_real_server_and_block(site: Site) -> None:  # noqa: F811
    """Tokens from the hostile corpus, approved via the CLI and deployed: `-t` clean, each blocked, Chrome and
    Googlebot served."""
    tokens = _hostile_tokens()
    _propose(site.state, *[candidate(f"ua_tok={t}", value=t) for t in tokens], approve=False)
    r = run_cli("candidates", "approve", *[f"ua_tok={t}" for t in tokens], "--state", str(site.state))
    assert r.exit_code == 0, r.output
    r = run_cli(*site.args(site.scan("s", scan_doc(with_ip_block=False))))
    assert r.exit_code == 0 and "reloaded" in r.stdout, r.output
    validate = [a for a in site.server.validate if a != "-q"]
    result = check(validate)
    assert result.returncode == 0 and "[warn]" not in result.stderr, result.stderr
    assert site.eventually(lambda: site.server.get(ua=f"x {tokens[0]} y"), 403) == 403
    wrong = [(t, s) for t in tokens if (s := site.server.get(ua=f"Mozilla/5.0 ({t}) tail")) != 403]
    assert not wrong, wrong
    assert site.server.get(ua=CHROME) == 200 and site.server.get(ua=GOOGLEBOT) == 200
    assert site.server.get("/robots.txt", ua=tokens[0]) == 200


def test_auto_deploy_from_the_config_file_ships_proposed_candidates(tmp_path: Path) -> None:
    """`model: {auto_deploy: true}` in the YAML: proposed candidates deploy without review, rejected never."""
    args = _setup(tmp_path, {"model": {"auto_deploy": True}})
    _propose(tmp_path / "s.db", candidate(value="NovaScrape"), candidate("ip24=203.0.113", "cidr", "203.0.113.0/24"),
             approve=False)  # fmt: skip
    assert run_cli("candidates", "reject", "ip24=203.0.113", "--state", str(tmp_path / "s.db")).exit_code == 0
    r = run_cli(*args)
    assert r.exit_code == 0, r.output
    assert "novascrape" in _http(tmp_path).lower() and "203.0.113.0/24" not in _http(tmp_path)
    rows = run_cli("candidates", "list", "--format", "json", "--config", str(tmp_path / "c.yaml"),
                   "--state", str(tmp_path / "s.db"))  # fmt: skip
    why = {row["signature"]: row["why"] for row in json.loads(rows.stdout)["candidates"]}
    assert why == {"ua_tok=novascrape": "auto_deploy", "ip24=203.0.113": "rejected"}


def test_cloudflare_view_of_the_state_drops_rejected_model_rules(tmp_path: Path) -> None:
    """`botguard cloudflare apply` reads the stored decisions: a rejected model rule is not pushed again."""
    from botguard.app.deploy import current_decisions
    from botguard.config import load_settings
    from botguard.state import State

    args = _setup(tmp_path)
    db = tmp_path / "s.db"
    _propose(db, candidate(value="NovaScrape"))
    assert run_cli(*args).exit_code == 0
    settings, now = load_settings(tmp_path / "c.yaml"), datetime.now(UTC)
    with State(db) as state:
        stored = current_decisions(state, settings, now).decisions
    assert [d.match.value for d in stored if d.source == "model"] == ["NovaScrape"]
    assert run_cli("candidates", "reject", "ua_tok=novascrape", "--state", str(db)).exit_code == 0
    with State(db) as state:
        left = current_decisions(state, settings, now).decisions
    assert not any(d.source == "model" for d in left) and any("bytespider" in d.match.key for d in left)


WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN Weixin"
)


def test_an_approved_candidate_naming_a_persons_app_is_not_deployed(site: Site) -> None:  # noqa: F811
    """A candidate's token is checked at deploy time as a scan's self-chosen name is: it must name a
    bot or its operator's domain. An older version (or a hand-edited state) approved ``weixin``: WeChat
    users stay served on the real server, and `candidates list` says why it is not deployed."""
    _propose(site.state, candidate("ua_tok=weixin", value="weixin"), candidate(), approve=False)
    with sqlite3.connect(site.state) as conn:  # approved before today's check existed
        conn.execute("UPDATE model_candidates SET status = 'approved', reviewed_at = first_proposed")
    listed = run_cli("candidates", "list", "--format", "json", "--state", str(site.state))
    rows = {row["signature"]: row for row in json.loads(listed.stdout)["candidates"]}
    assert rows["ua_tok=weixin"]["deployed"] is False, rows["ua_tok=weixin"]
    assert rows["ua_tok=weixin"]["why"].startswith("unsafe"), rows["ua_tok=weixin"]
    assert rows["ua_tok=novascrape"]["deployed"] is True
    r = run_cli(*site.args(site.scan("s", scan_doc(with_ip_block=False))))
    assert r.exit_code == 0 and "reloaded" in r.stdout, r.output
    assert site.eventually(lambda: site.server.get(ua=NOVA), 403) == 403
    assert site.server.get(ua=WECHAT) == 200
