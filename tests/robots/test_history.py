"""Robots.txt history: versions, the time each was live, and the 24-hour cache grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from botguard.robots.history import RobotsHistory
from botguard.state import State

H = "example.com"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
OPEN = b"User-agent: *\nDisallow:\n"
CLOSED = b"User-agent: *\nDisallow: /\n"
HOUR = timedelta(hours=1)


@pytest.fixture
def history(tmp_path) -> RobotsHistory:  # type: ignore[no-untyped-def]
    return RobotsHistory(State(tmp_path / "state.db"))


def test_same_body_extends_last_seen(history: RobotsHistory) -> None:
    """Re-seeing the same body only moves last_seen."""
    history.record(H, OPEN, T0, 200)
    history.record(H, OPEN, T0 + 5 * HOUR, 200)
    [version] = history.versions(H)
    assert (version.first_seen, version.last_seen, version.superseded_at) == (T0, T0 + 5 * HOUR, None)


def test_new_body_supersedes(history: RobotsHistory) -> None:
    """A different body starts a new version and closes the old one."""
    history.record(H, OPEN, T0)
    history.record(H, CLOSED, T0 + 10 * HOUR)
    old, new = history.versions(H)
    assert old.superseded_at == T0 + 10 * HOUR and new.superseded_at is None
    assert history.version_at(H, T0 + HOUR).is_allowed("x", "/a")  # type: ignore[union-attr]
    assert not history.version_at(H, T0 + 11 * HOUR).is_allowed("x", "/a")  # type: ignore[union-attr]
    assert history.version_at(H, T0 - HOUR) is None


def test_grace_keeps_old_version_for_24h(history: RobotsHistory) -> None:
    """A crawler may follow the superseded version for 24 h after the change, not longer."""
    history.record(H, OPEN, T0)
    history.record(H, OPEN, T0 + 10 * HOUR)
    history.record(H, CLOSED, T0 + 10 * HOUR + timedelta(seconds=1))
    change = T0 + 10 * HOUR + timedelta(seconds=1)
    within = history.permission(H, "GPTBot", "/a", change + 23 * HOUR)
    after = history.permission(H, "GPTBot", "/a", change + 25 * HOUR)
    assert within is not None and within.allowed and len(within.versions) == 2
    assert after is not None and not after.allowed and after.rule is not None and after.rule.line == 2


def test_unobserved_change_window_is_conservative(history: RobotsHistory) -> None:
    """Between the old version's last sighting and the new one's first, both are in effect."""
    history.record(H, CLOSED, T0)
    history.record(H, OPEN, T0 + 48 * HOUR)  # the site opened up at some unknown time in between
    permission = history.permission(H, "GPTBot", "/a", T0 + 30 * HOUR)
    assert permission is not None and permission.allowed


def test_disallowed_under_every_version_is_a_violation(history: RobotsHistory) -> None:
    """Disallowed under the live version and every grace version: not allowed."""
    history.record(H, CLOSED, T0)
    history.record(H, CLOSED, T0 + 2 * HOUR)
    permission = history.permission(H, "GPTBot", "https://example.com/a", T0 + HOUR)
    assert permission is not None and not permission.allowed


def test_allowed_at_many(history: RobotsHistory) -> None:
    """Batch form: None before any version is known."""
    history.record(H, CLOSED, T0)
    got = history.allowed_at_many(H, "x", [("/a", T0 - HOUR), ("/a", T0 + HOUR)])
    assert got == [None, False]


def test_cached_respects_24h(history: RobotsHistory) -> None:
    """The fetcher's cache returns the current copy only while it is at most 24 h old."""
    history.record(H, OPEN, T0)
    assert history.cached(H, T0 + 23 * HOUR) == (OPEN, T0)
    assert history.cached(H, T0 + 25 * HOUR) is None
    assert history.cached("other.example", T0) is None


def test_naive_times_are_utc(history: RobotsHistory) -> None:
    """Naive datetimes are read as UTC."""
    history.record(H, OPEN, datetime(2026, 3, 1))
    assert history.versions(H)[0].first_seen == T0
