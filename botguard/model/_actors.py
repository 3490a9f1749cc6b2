"""Per-actor behaviour state: what each client did so far, folded request by request, with a TTL.

An actor is one client: an IP (an IPv6 /64) with its user agent. Its :class:`ActorEvidence` (rate,
asset share, robots.txt fetched before the first page, invalid-request share, disallowed and
honeypot pages) only ever reads events up to the current one, so a score never looks ahead. An
actor idle for ``ttl`` seconds of stream time is forgotten (its unlabelled events with it).
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botguard.catalog import Crawler
from botguard.identity.ranges import PublishedRanges
from botguard.judge import ASSET_RE, ROBOTS_RE
from botguard.model._keys import MEMO_LIMIT, ActorCtx, IpInfo, Parts, UaInfo, actor_context
from botguard.model.labels import ActorEvidence, Label, identity_of
from botguard.robots.history import RobotsTimeline

#: What a request was, for its actor's evidence (robots.txt and invalid requests are OTHER).
PAGE, ASSET, HONEYPOT, OTHER = range(4)


@dataclass(slots=True)
class Actor:
    """One client (IP, or IPv6 /64, with its user agent): evidence so far, label, join buffer."""

    evidence: ActorEvidence
    robots_first: bool | None = None  # fetched robots.txt before its first page (None: no page yet)
    label: Label | None = None
    pending: list[tuple[Parts, float]] = field(default_factory=list)
    minute: int = -1
    trained_this_minute: int = 0
    ctx: ActorCtx | None = None  # derived from (ip, user agent); rebuilt after a restore
    uid: int = 0  # stable id of (ip, user agent): admission counts distinct clients per key


def actor_uid(actor_ip: str, ua: str) -> int:
    """A client's stable id (CRC32 of IP and UA: the same across restarts, unlike ``hash()``)."""
    return zlib.crc32(f"{actor_ip}\x1f{ua}".encode("utf-8", "surrogatepass"))


class Actors:
    """The actors seen within ``ttl`` seconds (:attr:`table`, keyed by (IP, user agent)), and how
    a request changes its actor's evidence.

    ``robots`` is a callable host -> RobotsTxt | RobotsTimeline | None (scan.RobotsSources);
    without one, or for a host without a robots.txt, every path counts as allowed.
    """

    def __init__(
        self,
        *,
        ttl: float,
        ranges: PublishedRanges,
        robots: Callable[[str | None], Any] | None,
        honeypots: Sequence[str],
        min_seconds_per_page: float,
    ) -> None:
        self.table: dict[tuple[str, str], Actor] = {}
        self.ttl = ttl
        self.ranges = ranges
        self.robots = robots
        self._honeypots = honeypots
        self._min_seconds_per_page = min_seconds_per_page
        self._identity: dict[tuple[str, str], str] = {}
        self._robots_memo: dict[tuple[str | None, int, str, str], bool] = {}
        self._kinds: dict[str, int] = {}
        self._asset = re.compile(ASSET_RE)
        self._robots_path = re.compile(ROBOTS_RE)

    def get(self, actor_ip: str, ua: str, uinfo: UaInfo, iinfo: IpInfo, ip: str) -> Actor:
        """The actor of (``actor_ip``, ``ua``), created on its first request, with its fixed keys."""
        key = (actor_ip, ua)
        actor = self.table.get(key)
        if actor is None:
            identity = self._identity_of(ip, uinfo.crawler, iinfo)
            actor = self.table[key] = Actor(
                ActorEvidence(uinfo.crawler, identity, uinfo.browser), uid=actor_uid(actor_ip, ua)
            )
        if actor.ctx is None:
            actor.ctx = actor_context(uinfo, iinfo)
        return actor

    def _identity_of(self, ip: str, crawler: Crawler | None, iinfo: IpInfo) -> str:
        name = crawler.name if crawler is not None else ""
        known = self._identity.get((ip, name))
        if known is None:
            lists = crawler.verification.ip_ranges if crawler and crawler.verification else ()
            in_range = bool(lists) and bool(self.ranges.match(ip, lists))
            if len(self._identity) > MEMO_LIMIT:
                self._identity.clear()
            known = self._identity[(ip, name)] = identity_of(crawler, in_range, iinfo.network)
        return known

    def update(
        self, actor: Actor, uinfo: UaInfo, cols: dict[str, list[Any]], i: int, t: float, target: str | None
    ) -> int:
        """Fold one request into its actor's evidence; say what it was (PAGE, ASSET, HONEYPOT, OTHER)."""
        ev = actor.evidence
        if ev.requests == 0:
            ev.first = t
        ev.last = t
        ev.requests += 1
        referer = cols["referer"][i]
        if referer and referer != "-":
            ev.referers += 1
        if not cols["valid_request"][i] or target is None:
            ev.invalid += 1
            return OTHER
        kind = self._kinds.get(target)
        if kind is None:
            kind = self.kind_of(target)
        if kind == OTHER:  # robots.txt
            if actor.robots_first is None:
                actor.robots_first = True
            return OTHER
        if kind == ASSET:
            ev.assets += 1
            return ASSET
        ev.pages += 1
        if actor.robots_first is None:
            actor.robots_first = False
        if ev.last_page is not None and t - ev.last_page < self._min_seconds_per_page:
            ev.fast_pages += 1
        ev.last_page = t
        honeypot = kind == HONEYPOT
        if honeypot:
            ev.honeypot += 1
        elif not self.allowed(cols["host"][i], t, uinfo.token, target):
            ev.disallowed += 1
        return HONEYPOT if honeypot else PAGE

    def kind_of(self, target: str) -> int:
        """What a request target is, whoever asks (memoised per distinct target): robots.txt
        (OTHER), an asset, a honeypot page or a page."""
        if self._robots_path.search(target):
            kind = OTHER
        elif self._asset.search(target):
            kind = ASSET
        else:
            kind = HONEYPOT if any(target.startswith(p) for p in self._honeypots) else PAGE
        if len(self._kinds) > MEMO_LIMIT:
            self._kinds.clear()
        self._kinds[target] = kind
        return kind

    def allowed(self, host: str | None, t: float, token: str, target: str) -> bool:
        """robots.txt verdict for the request (allowed when no robots.txt is known)."""
        if self.robots is None:
            return True
        robots = self.robots(host)
        if robots is None:
            return True
        epoch = 0
        if isinstance(robots, RobotsTimeline) and robots.boundaries:
            epoch = bisect_right([b.timestamp() for b in robots.boundaries], t)
        key = (host, epoch, token, target)
        allowed = self._robots_memo.get(key)
        if allowed is None:
            if len(self._robots_memo) > MEMO_LIMIT:
                self._robots_memo.clear()
            if isinstance(robots, RobotsTimeline):
                allowed = robots.allowed_many(epoch, token, [target])[0]
            else:
                allowed = robots.is_allowed(token, target)
            self._robots_memo[key] = allowed
        return allowed

    def expire(self, now: float) -> int:
        """Forget actors idle for ``ttl`` seconds; return how many buffered events went with them."""
        idle = now - self.ttl
        stale = [key for key, actor in self.table.items() if actor.evidence.last < idle]
        return sum(len(self.table.pop(key).pending) for key in stale)
