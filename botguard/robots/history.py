"""Versions of each host's robots.txt and when each was live, in the state database.

A request at time T is judged against every version a *compliant* crawler could have been
following at T: the version live at T, plus any version superseded less than 24 hours before T
(RFC 9309 2.4 lets a crawler cache robots.txt for up to 24 hours). A request is a violation
only if it is disallowed under all of them, so a crawler is never accused for obeying a copy
it was allowed to keep.

Our observations only bound when a version changed: it changed somewhere between the old
version's ``last_seen`` and the new one's ``first_seen``. Within that window both are in effect,
so the judgement stays conservative whichever way the change went.

Only observations of the site itself become versions: a 2xx body, or "no robots.txt" (4xx,
stored as an empty body). Our own failed fetches (5xx, timeouts) are not evidence about what
the site served to the crawler, so they are not recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from botguard.robots.fetch import ALLOW_ALL, CACHE_GRACE, OK, host_key
from botguard.robots.parser import RobotsTxt
from botguard.robots.records import FetchResult, RobotsVersion, Rule
from botguard.state import State

DDL = """
CREATE TABLE IF NOT EXISTS robots_versions (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,            -- lower-cased authority, e.g. example.com or example.com:8080
    sha256 TEXT NOT NULL,
    body BLOB NOT NULL,
    status INTEGER,                -- HTTP status of the first fetch that saw this version
    first_seen INTEGER NOT NULL,   -- microseconds since the epoch, UTC
    last_seen INTEGER NOT NULL,
    superseded_at INTEGER          -- NULL while current
);
CREATE INDEX IF NOT EXISTS robots_versions_host ON robots_versions (host, first_seen);
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _to_us(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # naive times are taken as UTC
    return (when - _EPOCH) // timedelta(microseconds=1)


def _from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True, slots=True)
class HistoricalPermission:
    """Whether a request was allowed under any version the crawler could legitimately follow.

    ``versions`` are the version ids considered; ``rule`` is the deciding rule of the version
    live at the request time (the evidence a report quotes).
    """

    allowed: bool
    versions: tuple[int, ...]
    rule: Rule | None


@dataclass(frozen=True, slots=True)
class RobotsTimeline:
    """A host's robots.txt over time, cut into epochs with a constant set of versions in effect.

    ``epochs[i]`` holds the versions a compliant crawler may follow between ``boundaries[i-1]``
    and ``boundaries[i]`` (live version first); ``epochs[0]`` also covers every time before the
    first observation, where the oldest known version is the best evidence there is.
    """

    boundaries: tuple[datetime, ...]
    epochs: tuple[tuple[RobotsTxt, ...], ...]
    source: str | None = field(default=None, compare=False)  # where it was fetched, for reports
    changes: tuple[datetime, ...] = field(default=(), compare=False)  # when each newer version was first seen

    def allowed_many(self, epoch: int, user_agent: str, urls: Sequence[str]) -> list[bool]:
        """Allowed under any version in effect during the epoch."""
        versions = self.epochs[epoch]
        verdicts = list(versions[0].allowed_many(user_agent, urls))
        for other in versions[1:]:
            pending = [i for i, ok in enumerate(verdicts) if not ok]
            if not pending:
                break
            again = other.allowed_many(user_agent, [urls[i] for i in pending])
            for i, ok in zip(pending, again):
                verdicts[i] = ok
        return verdicts

    def explain_many(self, epoch: int, user_agent: str, urls: Sequence[str]) -> list[Rule | None]:
        """The deciding rules of the version live during the epoch (what evidence quotes)."""
        return self.epochs[epoch][0].explain_many(user_agent, urls)

    @property
    def latest(self) -> RobotsTxt:
        """The newest version (live now, as far as we know)."""
        return self.epochs[-1][0]

    def crawl_delay(self, user_agent: str) -> float | None:
        """Crawl-delay of the newest version."""
        return self.latest.crawl_delay(user_agent)


class RobotsHistory:
    """Robots.txt versions per host, stored in the shared state database."""

    def __init__(self, state: State, grace: timedelta = CACHE_GRACE) -> None:
        self.state = state
        self.grace = grace
        state.ensure_schema(DDL)
        self._parsed: dict[int, RobotsTxt] = {}  # memo: version id -> parsed rules

    # -- writing -----------------------------------------------------------------------------

    def record(self, host: str, body: bytes, seen_at: datetime, status: int | None = None) -> RobotsVersion:
        """Record that ``host`` served ``body`` at ``seen_at`` (observations in time order)."""
        digest, at = hashlib.sha256(body).hexdigest(), _to_us(seen_at)
        with self.state.transaction() as conn:
            row = conn.execute(
                "SELECT id, sha256 FROM robots_versions WHERE host = ? AND superseded_at IS NULL", (host,)
            ).fetchone()
            if row is not None and row[1] == digest:
                conn.execute(
                    "UPDATE robots_versions SET last_seen = MAX(last_seen, ?) WHERE id = ?", (at, row[0])
                )
                version_id = row[0]
            else:
                if row is not None:
                    conn.execute("UPDATE robots_versions SET superseded_at = ? WHERE id = ?", (at, row[0]))
                version_id = conn.execute(
                    "INSERT INTO robots_versions (host, sha256, body, status, first_seen, last_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (host, digest, body, status, at, at),
                ).lastrowid
        return self._version(version_id)

    def record_fetch(self, result: FetchResult) -> RobotsVersion | None:
        """Record a fetch if it observed the site (2xx or 4xx); see the module docstring."""
        if result.kind not in (OK, ALLOW_ALL) or result.status is None:
            return None
        return self.record(host_key(result.url), result.body, result.fetched_at, result.status)

    # -- reading -----------------------------------------------------------------------------

    def versions(self, host: str) -> list[RobotsVersion]:
        """All versions of a host, oldest first."""
        rows = self.state.conn.execute(
            "SELECT id FROM robots_versions WHERE host = ? ORDER BY first_seen, id", (host,)
        ).fetchall()
        return [self._version(r[0]) for r in rows]

    def cached(self, host: str, now: datetime) -> tuple[bytes, datetime] | None:
        """The fetcher's cache: the current version if it was seen within the grace period."""
        row = self.state.conn.execute(
            "SELECT body, last_seen FROM robots_versions WHERE host = ? AND superseded_at IS NULL", (host,)
        ).fetchone()
        if row is None:
            return None
        seen = _from_us(row[1])
        return (bytes(row[0]), seen) if now - seen <= self.grace else None

    def version_at(self, host: str, when: datetime) -> RobotsTxt | None:
        """The robots.txt live at ``when``; None before the first recorded version."""
        live = self._live_id(host, _to_us(when))
        return None if live is None else self._robots(live)

    def versions_in_effect(self, host: str, when: datetime) -> list[int]:
        """Ids of every version a compliant crawler may follow at ``when`` (live one first)."""
        at = _to_us(when)
        live = self._live_id(host, at)
        if live is None:
            return []
        grace_start = at - self.grace // timedelta(microseconds=1)
        rows = self.state.conn.execute(
            "SELECT id FROM robots_versions WHERE host = ? AND id != ? AND first_seen <= ? "
            "AND superseded_at IS NOT NULL AND superseded_at <= ? AND superseded_at > ? "
            "ORDER BY first_seen DESC",
            (host, live, at, at, grace_start),
        ).fetchall()
        ids = [live] + [r[0] for r in rows]
        # Unobserved change window: after the live version was last seen, its successor may
        # already have been served.
        successor = self.state.conn.execute(
            "SELECT n.id FROM robots_versions o JOIN robots_versions n ON n.host = o.host "
            "AND n.first_seen = o.superseded_at WHERE o.id = ? AND o.last_seen < ? ORDER BY n.id LIMIT 1",
            (live, at),
        ).fetchone()
        return ids + ([successor[0]] if successor else [])

    def timeline(self, host: str) -> RobotsTimeline | None:
        """Epochs of constant versions-in-effect for the host; None when nothing is recorded."""
        versions = self.versions(host)
        if not versions:
            return None
        points: set[datetime] = set()
        for version in versions[1:]:
            points.add(version.first_seen)
        for version in versions:
            if version.superseded_at is not None:
                points.update((version.superseded_at, version.superseded_at + self.grace))
                points.add(version.last_seen + timedelta(microseconds=1))
        boundaries = tuple(sorted(p for p in points if p > versions[0].first_seen))
        starts = (versions[0].first_seen, *boundaries)
        epochs = tuple(
            tuple(self._robots(i) for i in self.versions_in_effect(host, start)) for start in starts
        )
        return RobotsTimeline(boundaries, epochs, changes=tuple(v.first_seen for v in versions[1:]))

    def permission(self, host: str, user_agent: str, url: str, when: datetime) -> HistoricalPermission | None:
        """Was this request allowed under any version the crawler could have been using?"""
        ids = self.versions_in_effect(host, when)
        if not ids:
            return None
        rule = self._robots(ids[0]).explain(user_agent, url)
        allowed = any(self._robots(i).is_allowed(user_agent, url) for i in ids)
        return HistoricalPermission(allowed, tuple(ids), rule)

    def allowed_at_many(
        self, host: str, user_agent: str, requests: Sequence[tuple[str, datetime]]
    ) -> list[bool | None]:
        """``judge(...).allowed`` for many (url, time) pairs of one agent; None when unknown."""
        out: list[bool | None] = []
        for url, when in requests:
            ids = self.versions_in_effect(host, when)
            out.append(any(self._robots(i).is_allowed(user_agent, url) for i in ids) if ids else None)
        return out

    # -- helpers -----------------------------------------------------------------------------

    def _live_id(self, host: str, at: int) -> int | None:
        row = self.state.conn.execute(
            "SELECT id FROM robots_versions WHERE host = ? AND first_seen <= ? "
            "AND (superseded_at IS NULL OR superseded_at > ?) ORDER BY first_seen DESC, id DESC LIMIT 1",
            (host, at, at),
        ).fetchone()
        return None if row is None else row[0]

    def _robots(self, version_id: int) -> RobotsTxt:
        robots = self._parsed.get(version_id)
        if robots is None:
            body = self.state.conn.execute(
                "SELECT body FROM robots_versions WHERE id = ?", (version_id,)
            ).fetchone()
            robots = self._parsed[version_id] = RobotsTxt.parse(bytes(body[0]))
        return robots

    def _version(self, version_id: int) -> RobotsVersion:
        row = self.state.conn.execute(
            "SELECT host, id, body, sha256, first_seen, last_seen, superseded_at, status "
            "FROM robots_versions WHERE id = ?",
            (version_id,),
        ).fetchone()
        return RobotsVersion(
            row[0],
            row[1],
            bytes(row[2]),
            row[3],
            _from_us(row[4]),
            _from_us(row[5]),
            None if row[6] is None else _from_us(row[6]),
            row[7],
        )
