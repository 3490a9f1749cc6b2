"""Ban lengths and renewal, fail2ban style (``bantime.increment``), as pure functions.

A first offence is banned for ``bantime``. While a ban runs, new activity in a later scan
renews it for the current length. An offender seen again *after* its ban expired is a repeat
offence: the ban grows by ``bantime_factor`` each time, capped at ``bantime_max``. A scan
with no newer activity changes nothing, so cron runs over the same data are idempotent.

A challenge is no punishment: it lasts ``challenge_time`` however often it recurs (a person
passes it once; a program that never does stays challenged while its behaviour lasts).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from botguard.config import DecideSettings
from botguard.decide.records import Decision

__all__ = ["ban_length", "decision_length", "escalate"]


def ban_length(offences: int, policy: DecideSettings) -> timedelta:
    """Length of the ban for the ``offences``-th offence.

    Examples:
        >>> from botguard.config import DecideSettings
        >>> p = DecideSettings(bantime=3600, bantime_factor=2, bantime_max=10000)
        >>> [ban_length(n, p).total_seconds() for n in (1, 2, 3, 4)]
        [3600.0, 7200.0, 10000.0, 10000.0]
    """
    try:
        seconds = policy.bantime * policy.bantime_factor ** max(offences - 1, 0)
    except OverflowError:  # a repeat offender for years (or a short bantime_max): the cap holds
        seconds = policy.bantime_max
    return timedelta(seconds=min(seconds, policy.bantime_max))


def decision_length(action: str, offences: int, policy: DecideSettings) -> timedelta:
    """How long the ``offences``-th decision of this action lasts: a challenge ``challenge_time``,
    anything else :func:`ban_length`.

    Examples:
        >>> from botguard.config import DecideSettings
        >>> p = DecideSettings(bantime=3600, bantime_factor=2, challenge_time=600)
        >>> [decision_length(a, 3, p).total_seconds() for a in ("block", "challenge")]
        [14400.0, 600.0]
    """
    if action == "challenge":
        return timedelta(seconds=policy.challenge_time)
    return ban_length(offences, policy)


def _newer(new: datetime | None, old: datetime | None) -> bool:
    return new is not None and (old is None or new > old)


def escalate(previous: Decision | None, new: Decision, now: datetime, policy: DecideSettings) -> Decision:
    """The stored decision after ``new`` (from this run's scan) meets ``previous`` (from state)."""
    if previous is None:
        return replace(new, offences=1, expires_at=now + decision_length(new.action, 1, policy))
    active = previous.expires_at is not None and previous.expires_at > now
    if not _newer(new.last_seen, previous.last_seen):
        return previous  # same evidence as before: nothing to renew
    merged = replace(
        new,
        first_seen=min((t for t in (previous.first_seen, new.first_seen) if t), default=None),
        offences=previous.offences if active else previous.offences + 1,
    )
    length = decision_length(merged.action, merged.offences, policy)
    expires = now + length
    if active and previous.expires_at is not None:
        expires = max(expires, previous.expires_at)
    return replace(merged, expires_at=expires)
