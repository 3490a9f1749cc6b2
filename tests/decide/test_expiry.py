"""Ban expiry, renewal and fail2ban-style escalation, in the state database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from botguard.config import Allowlist, DecideSettings
from botguard.decide import (
    Decision,
    DecisionSet,
    Match,
    active_decisions,
    record_decisions,
)
from botguard.state import State

POLICY = DecideSettings(bantime=3600, bantime_factor=2, bantime_max=4 * 3600)
NOW = datetime(2024, 3, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)


def seen(last: datetime) -> DecisionSet:
    return DecisionSet.of([Decision("block", Match("ip", "203.0.113.9"), ("r",), "scan", last - HOUR, last)])


def test_first_ban_then_expiry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A first offence lasts bantime, then the rule disappears."""
    with State(tmp_path / "s.db") as state:
        active = record_decisions(state, seen(NOW), NOW, POLICY, Allowlist())
        assert [d.expires_at for d in active.decisions] == [NOW + HOUR]
        assert len(active_decisions(state, NOW + 2 * HOUR, Allowlist())) == 0


def test_same_evidence_is_idempotent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Re-running over the same scan changes nothing (cron)."""
    with State(tmp_path / "s.db") as state:
        first = record_decisions(state, seen(NOW), NOW, POLICY, Allowlist())
        again = record_decisions(state, seen(NOW), NOW + timedelta(minutes=30), POLICY, Allowlist())
        assert first == again


def test_repeat_offences_escalate_and_cap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Back after expiry: 1 h, 2 h, 4 h, 4 h (capped)."""
    with State(tmp_path / "s.db") as state:
        t, lengths = NOW, []
        for _ in range(4):
            (d,) = record_decisions(state, seen(t), t, POLICY, Allowlist()).decisions
            lengths.append((d.expires_at - t) / HOUR)
            t = d.expires_at + HOUR
        assert lengths == [1, 2, 4, 4]


def test_activity_during_a_ban_renews_without_escalating(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """New evidence while banned: the ban restarts at the same length."""
    with State(tmp_path / "s.db") as state:
        record_decisions(state, seen(NOW), NOW, POLICY, Allowlist())
        later = NOW + timedelta(minutes=50)
        (d,) = record_decisions(state, seen(later), later, POLICY, Allowlist()).decisions
        assert (d.offences, d.expires_at) == (1, later + HOUR)


def test_allowlist_added_later_wins_over_a_stored_ban(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Allowlisting a banned IP lifts the ban at once."""
    import ipaddress

    with State(tmp_path / "s.db") as state:
        record_decisions(state, seen(NOW), NOW, POLICY, Allowlist())
        allow = Allowlist(networks=(ipaddress.ip_network("203.0.113.0/24"),))
        assert [d.action for d in active_decisions(state, NOW, allow).decisions] == ["allow"]


def test_history_is_forgotten_after_bantime_max(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Back long after bantime_max: the row was pruned, so it is a first offence again."""
    from botguard.decide.store import load_decisions

    with State(tmp_path / "s.db") as state:
        record_decisions(state, seen(NOW), NOW, POLICY, Allowlist())
        late = NOW + timedelta(days=2)
        record_decisions(state, DecisionSet(), late, POLICY, Allowlist())
        assert load_decisions(state) == {}
        (d,) = record_decisions(state, seen(late), late, POLICY, Allowlist()).decisions
        assert (d.offences, d.expires_at) == (1, late + HOUR)


def test_an_agent_that_was_not_utf8_is_stored_and_read_back_exactly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A decoded log agent with invalid UTF-8 (surrogate escapes) survives the state database."""
    agent = "q1z \udcff\udcc3( bot"
    fresh = DecisionSet.of([Decision("block", Match("ua_exact", agent), ("r",), "scan", NOW, NOW)])
    with State(tmp_path / "s.db") as state:
        record_decisions(state, fresh, NOW, POLICY, Allowlist())
    with State(tmp_path / "s.db") as state:
        (d,) = active_decisions(state, NOW, Allowlist()).decisions
    assert d.match == Match("ua_exact", agent)


def test_a_long_repeat_offender_is_banned_for_bantime_max(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """bantime_factor ** offences overflows a float after ~1,000 repeats (a short bantime_max and a
    cron run every 10 minutes get there in a week): the cap still holds, no OverflowError."""
    with State(tmp_path / "s.db") as state:
        record_decisions(state, seen(NOW), NOW, POLICY, Allowlist())
        state.conn.execute("UPDATE decisions SET offences = 5000")
        later, policy = NOW + 5 * HOUR, replace(POLICY, bantime_factor=2.0)  # a float, as config reads it
        active = record_decisions(state, seen(later), later, policy, Allowlist())
        assert [d.offences for d in active.decisions] == [5001]
        assert [d.expires_at for d in active.decisions] == [later + 4 * HOUR]
