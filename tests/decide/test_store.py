"""The decision store never keeps a decision no rule may carry, and names the ones an older version kept."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from botguard.config import Allowlist, DecideSettings
from botguard.decide import Decision, DecisionSet, Match, active_decisions, record_decisions
from botguard.decide.store import DDL, dropped_decisions, load_decisions
from botguard.state import State

POLICY = DecideSettings()
NOW = datetime(2024, 3, 5, tzinfo=UTC)


def _old_ban(state: State, kind: str, value: str, ip: str | None = None) -> None:
    """A row as a version without the address check wrote it (active for a day)."""
    state.ensure_schema(DDL)
    with state.transaction() as conn:
        conn.execute(
            "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            ("block", f"{kind}|{ip or ''}|{value}", kind, value, ip, json.dumps(["old"]), "scan", NOW.isoformat(),
             NOW.isoformat(), (NOW + timedelta(days=1)).isoformat(), 1),
        )  # fmt: skip


def test_stored_bans_no_rule_may_carry_are_named_then_deleted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Zone-id, loopback and garbage bans in the state are named with why, never active, deleted on record."""
    with State(tmp_path / "s.db") as state:
        for value in ("fe80::1%eth0", "::1", "not-an-ip", "203.0.113.9"):
            _old_ban(state, "ip", value)
        _old_ban(state, "cidr", "fe80::/64")
        assert [(d.decision.match.value, d.reason) for d in dropped_decisions(state)] == [
            ("::1", "loopback address"), ("fe80::1%eth0", "IPv6 zone id"), ("not-an-ip", "not an IP address"),
            ("fe80::/64", "link-local network"),
        ]  # fmt: skip
        assert [d.match.value for d in active_decisions(state, NOW, Allowlist()).decisions] == ["203.0.113.9"]
        assert [key for _, key in load_decisions(state)] == ["ip||203.0.113.9"]
        active = record_decisions(state, DecisionSet(), NOW, POLICY, Allowlist())
        assert [d.match.value for d in active.decisions] == ["203.0.113.9"]
        assert dropped_decisions(state) == ()
        assert state.conn.execute("SELECT count(*) FROM decisions").fetchone() == (1,)


def test_fresh_decisions_no_rule_may_carry_are_not_stored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A model rule on a loopback network (or any builder's zone id) never reaches the state."""
    fresh = DecisionSet.of([
        Decision("block", Match("cidr", "127.0.0.0/24"), ("model",), "model", NOW, NOW),
        Decision("block", Match("ip", "fe80::1%eth0"), ("scan",), "scan", NOW, NOW),
        Decision("block", Match("ip", "198.51.100.4"), ("scan",), "scan", NOW, NOW),
    ])  # fmt: skip
    with State(tmp_path / "s.db") as state:
        active = record_decisions(state, fresh, NOW, POLICY, Allowlist())
        assert [d.match.value for d in active.decisions] == ["198.51.100.4"]
        assert [d.match.value for d in load_decisions(state).values()] == ["198.51.100.4"]
        assert state.conn.execute("SELECT count(*) FROM decisions").fetchone() == (1,)


def _old_agent_rule(state: State, kind: str, value: str, reason: str = "old") -> None:
    """A stored agent rule as an older version (or a hand-edited database) may hold."""
    state.ensure_schema(DDL)
    with state.transaction() as conn:
        conn.execute(
            "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            ("block", Match(kind, value).key, kind, value, None, json.dumps([reason]), "scan", NOW.isoformat(),
             NOW.isoformat(), (NOW + timedelta(days=1)).isoformat(), 1),
        )  # fmt: skip


def test_stored_agent_rules_no_server_can_carry_are_named_then_deleted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """CR/LF agents, empty agents and tokens today's rules refuse are dropped, with why; the rest stays."""
    declared = "self-declared bot no catalogue entry verifies: 1 clients, 2 requests"
    with State(tmp_path / "s.db") as state:
        _old_agent_rule(state, "ua_exact", "evil\r\nbot")
        _old_agent_rule(state, "ua_pattern", "Evil\nBot")
        _old_agent_rule(state, "ua_pattern", " \t")
        _old_agent_rule(state, "ua_exact", "")
        _old_agent_rule(state, "ua_pattern", "Weixin", declared)  # WeChat's in-app browser says it
        _old_agent_rule(state, "ua_pattern", "Mozilla", "crawler X verdict block")
        _old_agent_rule(state, "ua_pattern", "EvilBot", declared)
        _old_agent_rule(state, "ua_exact", "Weixin/1.0 (+http://evil1.example/bot)", declared)
        assert sorted((d.decision.match.value, d.reason) for d in dropped_decisions(state)) == [
            ("", "empty user agent"), (" \t", "empty user agent"), ("Evil\nBot", "user agent with CR/LF"),
            ("Mozilla", "a token browsers or good bots carry"), ("Weixin", "a name a person's agent may hold"),
            ("evil\r\nbot", "user agent with CR/LF"),
        ]  # fmt: skip
        kept = ["EvilBot", "Weixin/1.0 (+http://evil1.example/bot)"]
        assert [d.match.value for d in active_decisions(state, NOW, Allowlist()).decisions] == kept
        record_decisions(state, DecisionSet(), NOW, POLICY, Allowlist())
        assert dropped_decisions(state) == ()
        assert sorted(v for (v,) in state.conn.execute("SELECT value FROM decisions")) == kept
