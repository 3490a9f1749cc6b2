"""Per-actor behaviour and weak labels, folded column-wise: one pass of array operations per call.

An actor is one client: an IP (an IPv6 /64) with its user agent. Its evidence (rate, asset share,
robots.txt fetched before the first page, invalid-request share, disallowed and honeypot pages)
is a running count over its requests: each request sees the counts up to and including itself,
never later ones, so a score never looks ahead. The counts are cumulative sums within each
actor's run of requests, plus what the actor carried from earlier calls; the label of every
request follows from them (:class:`~botguard.model.labels.Labeler`'s rules as array expressions).

A *session* ends when an actor is idle for ``ttl`` seconds of stream time: its next request
starts from nothing (and what it had waiting unlabelled is dropped). That rule reads only the
stream, so where a call boundary falls never changes an actor's evidence; forgetting idle actors
(:meth:`ActorTable.expire`) only frees memory the rule would ignore anyway.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from botguard.identity.ranges import PublishedRanges
from botguard.identity.records import SPOOFED, VERIFIED
from botguard.model._keys import MEMO_LIMIT, ActorCtx, Call, FeaturePart, IpInfo, UaInfo, actor_context
from botguard.model.labels import HUMAN_VIEWS, ActorEvidence, Label, Labeler, identity_of, referer_view

#: What a request was, for its actor's evidence.
PAGE, ASSET, HONEYPOT, ROBOTS, INVALID = range(5)
#: Label codes (0: none), in the Labeler's priority order; 2..5 are the positive (unwanted) sources,
#: HUMAN and above the human views (``human``: a label restored from an older snapshot, which read
#: both views' evidence and so keeps both masked).
SOURCES = ("", "verified", "honeypot", "spoofer", "catalog", "robots", *HUMAN_VIEWS, "human")
CODE = {name: i for i, name in enumerate(SOURCES) if name}
HUMAN = CODE[HUMAN_VIEWS[0]]
_COUNTS = ("requests", "pages", "assets", "referers", "invalid", "disallowed", "honeypot", "fast_pages")
_BIG = np.iinfo(np.int64).max


def behaviour_buckets(
    requests: np.ndarray, seconds: np.ndarray, assets: np.ndarray, invalid: np.ndarray
) -> dict[str, np.ndarray]:
    """An actor's pace, asset and invalid-request shares, raw and bucketed as the features read
    them: one definition for the stream (up to each request) and the scan's client pass (over a
    whole session), so both feed the learner the same slots."""
    rate = 60.0 * requests / np.maximum(seconds, 60.0)
    asset_ratio = assets / requests
    invalid_share = invalid / requests
    with np.errstate(divide="ignore"):
        rate_b = np.where(rate <= 1, 0, np.floor(np.log2(rate))).astype(np.int64)
    return {
        "rate": rate,
        "asset_ratio": asset_ratio,
        "invalid_share": invalid_share,
        "rate_b": rate_b,
        "asset_b": np.minimum((asset_ratio * 5).astype(np.int64), 4),
        "inv_b": np.minimum((invalid_share * 4).astype(np.int64), 3),
    }


def actor_uid(actor_ip: str, ua: str) -> int:
    """A client's stable id (CRC32 of IP and UA: the same across restarts, unlike ``hash()``)."""
    return zlib.crc32(f"{actor_ip}\x1f{ua}".encode("utf-8", "surrogatepass"))


@dataclass(slots=True)
class Actor:
    """One actor's state as a record (what snapshots and tests read; the table holds columns)."""

    evidence: ActorEvidence
    robots_first: bool | None = None  # fetched robots.txt before its first page (None: no page yet)
    label: Label | None = None
    pending: list[tuple[tuple[FeaturePart, ...], float]] = field(default_factory=list)
    minute: int = -1
    trained_this_minute: int = 0
    uid: int = 0


@dataclass(frozen=True, slots=True)
class Folded:
    """A call's requests after the fold, in actor order (``order[k]`` is the call row of sorted
    position k): evidence and labels per request, and per run of one actor's requests (a
    *segment*) its start, actor, whether it continues carried state, and where its label arrived."""

    order: np.ndarray
    aid: np.ndarray  # per sorted row
    seg: np.ndarray  # per sorted row: its segment
    starts: np.ndarray  # per segment: first sorted row
    carry: np.ndarray  # per segment: continues the actor's carried state
    label: np.ndarray  # per sorted row: label code after the request (0: none)
    arrival: np.ndarray  # per segment: sorted row where a label first arrived (-1: none, or carried)
    counts: dict[str, np.ndarray]  # per sorted row, after the request
    first: np.ndarray  # per sorted row: its session's first request time
    robots_first: np.ndarray  # per sorted row: -1 unknown, 0 no, 1 yes
    labelled: dict[str, int]  # label source -> actors that got it in this call
    dropped: np.ndarray  # actors whose carried state ended (idle past the TTL before this call's request)


class ActorTable:
    """Actors' evidence as columns indexed by actor id, with their fixed facts and join buffers."""

    # The running counts (_COUNTS) and first/last request times, one row per actor id (_grow).
    requests: np.ndarray
    pages: np.ndarray
    assets: np.ndarray
    referers: np.ndarray
    invalid: np.ndarray
    disallowed: np.ndarray
    honeypot: np.ndarray
    fast_pages: np.ndarray
    first: np.ndarray
    last: np.ndarray

    def __init__(
        self,
        *,
        ttl: float,
        ranges: PublishedRanges,
        labeler: Labeler,
        blocked_categories: Sequence[str],
    ) -> None:
        self.ttl = ttl
        self.ranges = ranges
        self.labeler = labeler
        self._blocked = frozenset(blocked_categories)
        self.index: dict[tuple[str, str], int] = {}
        self.keys: list[tuple[str, str] | None] = []
        self.ctx: list[ActorCtx | None] = []
        self.ua_info: list[UaInfo | None] = []
        self.pending: dict[int, list[tuple[tuple[FeaturePart, ...], float]]] = {}
        self._free: list[int] = []
        self._identity: dict[tuple[str, str], str] = {}
        self._cap = 0
        self._grow(1024)

    # -- storage ---------------------------------------------------------------------------
    def _grow(self, cap: int) -> None:
        def grown(old: np.ndarray | None, fill: Any, dtype: Any) -> np.ndarray:
            out = np.full(cap, fill, dtype=dtype)
            if old is not None:
                out[: len(old)] = old
            return out

        get = lambda name: getattr(self, name, None)  # noqa: E731
        for name in _COUNTS:
            setattr(self, name, grown(get(name), 0, np.int64))
        for name in ("first", "last"):
            setattr(self, name, grown(get(name), 0.0, np.float64))
        self.last_page = grown(get("last_page"), np.nan, np.float64)
        self.label_at = grown(get("label_at"), 0.0, np.float64)
        self.robots_first = grown(get("robots_first"), -1, np.int8)
        self.label = grown(get("label"), 0, np.int8)
        self.minute = grown(get("minute"), -1, np.int64)
        self.trained = grown(get("trained"), 0, np.int64)
        self.uid = grown(get("uid"), 0, np.int64)
        self.identity = grown(get("identity"), 0, np.int8)  # 1 verified, 2 spoofed
        self.browser = grown(get("browser"), False, bool)
        self.crawled = grown(get("crawled"), False, bool)  # a catalogue crawler
        self.blocked = grown(get("blocked"), False, bool)  # a catalogue category the policy blocks
        grow_list = cap - len(self.keys)
        self.keys.extend([None] * grow_list)
        self.ctx.extend([None] * grow_list)
        self.ua_info.extend([None] * grow_list)
        self._cap = cap

    def __len__(self) -> int:
        return len(self.index)

    def _new(self, key: tuple[str, str], uinfo: UaInfo, iinfo: IpInfo, ip: str) -> int:
        if self._free:
            aid = self._free.pop()
        else:
            aid = len(self.index)
            if aid >= self._cap:
                self._grow(self._cap * 2)
        self.index[key] = aid
        self.keys[aid] = key
        self.ctx[aid] = actor_context(uinfo, iinfo)
        self.ua_info[aid] = uinfo
        identity = self._identity_of(ip, uinfo, iinfo)
        self.identity[aid] = 1 if identity == VERIFIED else 2 if identity == SPOOFED else 0
        self.browser[aid] = uinfo.browser
        self.crawled[aid] = uinfo.crawler is not None
        self.blocked[aid] = uinfo.crawler is not None and uinfo.crawler.category in self._blocked
        self.uid[aid] = actor_uid(*key)
        self._clear(aid)
        return aid

    def _clear(self, aid: int) -> None:
        for name in _COUNTS:
            getattr(self, name)[aid] = 0
        self.first[aid] = self.last[aid] = self.label_at[aid] = 0.0
        self.last_page[aid] = np.nan
        self.robots_first[aid] = -1
        self.label[aid] = 0
        self.minute[aid] = -1
        self.trained[aid] = 0

    def _identity_of(self, ip: str, uinfo: UaInfo, iinfo: IpInfo) -> str:
        crawler = uinfo.crawler
        name = crawler.name if crawler is not None else ""
        known = self._identity.get((ip, name))
        if known is None:
            lists = crawler.verification.ip_ranges if crawler and crawler.verification else ()
            in_range = bool(lists) and bool(self.ranges.match(ip, lists))
            if len(self._identity) > MEMO_LIMIT:
                self._identity.clear()
            known = self._identity[(ip, name)] = identity_of(crawler, in_range, iinfo.network)
        return known

    def ids(self, call: Call) -> np.ndarray:
        """Each request's actor id (actors are created on their first request)."""
        pairs: dict[tuple[str, str], int] = {}
        index = [
            pairs.setdefault((call.ip_infos[i].actor_ip, call.uas[u]), r)
            for r, (i, u) in enumerate(zip(call.ip_of.tolist(), call.ua_of.tolist()))
        ]
        aids: dict[int, int] = {}
        for key, row in pairs.items():
            aid = self.index.get(key)
            uinfo, iinfo = call.ua_infos[call.ua_of[row]], call.ip_infos[call.ip_of[row]]
            if aid is None:
                aid = self._new(key, uinfo, iinfo, call.ip[row])
            elif self.ctx[aid] is None:  # restored from a snapshot: its fixed keys are rebuilt here
                self.ctx[aid], self.ua_info[aid] = actor_context(uinfo, iinfo), uinfo
            aids[row] = aid
        return np.fromiter((aids[r] for r in index), np.int64, len(index))

    # -- the fold --------------------------------------------------------------------------
    def fold(self, call: Call, aid: np.ndarray, kind: np.ndarray, disallowed: np.ndarray) -> Folded:
        """Evidence and labels of every request of the call; the table carries the actors' state on."""
        order = np.argsort(aid, kind="stable")
        a, t = aid[order], call.t[order]
        n = len(a)
        rows = np.arange(n)
        new_actor = np.ones(n, dtype=bool)
        new_actor[1:] = a[1:] != a[:-1]
        had = self.requests[a] > 0
        prev_t = np.empty(n)
        prev_t[1:] = t[:-1]
        prev_t[new_actor] = np.where(had[new_actor], self.last[a[new_actor]], np.nan)
        with np.errstate(invalid="ignore"):
            reset = (t - prev_t) > self.ttl
        seg_start = new_actor | reset
        starts = np.flatnonzero(seg_start)
        seg = np.cumsum(seg_start) - 1
        carry = (new_actor & had & ~reset)[starts]
        dropped = a[new_actor & had & reset]  # actors whose carried state the stream left behind
        k = kind[order]
        page = (k == PAGE) | (k == HONEYPOT)
        incs = {
            "requests": np.ones(n, dtype=np.int64),
            "pages": page,
            "assets": k == ASSET,
            "referers": call.has_ref[order],
            "invalid": k == INVALID,
            "disallowed": disallowed[order] & (k == PAGE),
            "honeypot": k == HONEYPOT,
            "fast_pages": self._fast(t, a, seg, carry, page),
        }
        carried = carry[seg]
        counts = {
            name: _segcum(inc.astype(np.int64), starts, seg) + np.where(carried, getattr(self, name)[a], 0)
            for name, inc in incs.items()
        }
        first = np.where(carry, self.first[a[starts]], t[starts])[seg]
        robots_first = self._robots_first(k, page, rows, starts, seg, carry, a)
        fresh = self._fresh(a, t, first, counts)
        label, arrival, labelled = self._sticky(fresh, rows, starts, seg, carry, a)
        folded = Folded(
            order, a, seg, starts, carry, label, arrival, counts, first, robots_first, labelled, dropped
        )
        self._carry_out(folded, t, page)
        return folded

    def _fast(
        self, t: np.ndarray, a: np.ndarray, seg: np.ndarray, carry: np.ndarray, page: np.ndarray
    ) -> np.ndarray:
        """Pages less than ``min_seconds_per_page`` after the same session's previous page."""
        at = np.flatnonzero(page)
        prev = np.full(len(at), np.nan)
        pseg = seg[at]
        same = pseg[1:] == pseg[:-1]
        prev[1:][same] = t[at[:-1]][same]
        lead = np.ones(len(at), dtype=bool)
        lead[1:] = ~same
        lead &= carry[pseg]
        prev[lead] = self.last_page[a[at[lead]]]
        fast = np.zeros(len(t), dtype=bool)
        with np.errstate(invalid="ignore"):
            fast[at] = (t[at] - prev) < self.labeler.human.min_seconds_per_page
        return fast

    def _robots_first(
        self, k: np.ndarray, page: np.ndarray, rows: np.ndarray, starts: np.ndarray, seg: np.ndarray,
        carry: np.ndarray, a: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """robots.txt before the first page: -1 until the session's first page or robots.txt fetch."""
        first_of = np.minimum.reduceat(np.where((k == ROBOTS) | page, rows, _BIG), starts)
        value = np.where(first_of < _BIG, (k == ROBOTS)[np.minimum(first_of, len(k) - 1)], -1)
        out = np.where(rows >= first_of[seg], value[seg], -1).astype(np.int8)
        held = np.where(carry, self.robots_first[a[starts]], -1)[seg]
        return np.where(held >= 0, held, out).astype(np.int8)

    def _fresh(self, a: np.ndarray, t: np.ndarray, first: np.ndarray, c: dict[str, np.ndarray]) -> np.ndarray:
        """The label each request's evidence supports on its own (Labeler.decide as arrays)."""
        policy, human = self.labeler.policy, self.labeler.human
        n = np.maximum(c["requests"], 1)
        assets_ok = c["assets"] / n >= human.min_asset_share
        referers_ok = c["referers"] / n >= human.min_referer_share
        shares_ok = assets_ok | referers_ok
        automated = (
            (c["honeypot"] > 0) | (c["invalid"] > 0)
            | ((c["pages"] > human.max_pages_without_assets) & (c["assets"] == 0))
            | (c["fast_pages"] >= 4) | ((c["pages"] >= 10) & ~shares_ok)
        )  # fmt: skip
        browser, identity = self.browser[a], self.identity[a]
        reading = (t - first) / np.maximum(c["pages"], 1) >= human.min_seconds_per_page
        person = browser & ~self.crawled[a] & ~automated & (c["requests"] >= 6) & (c["pages"] >= 1) & reading
        by_referer = referer_view(self.uid[a], assets_ok, referers_ok)
        conditions = (
            (CODE["verified"], (identity == 1) & (not policy.block_verified)),
            (CODE["honeypot"], (c["honeypot"] > 0) & policy.block_on_honeypot),
            (CODE["spoofer"], (identity == 2) & policy.block_spoofed),
            (CODE["catalog"], self.blocked[a]),
            (CODE["robots"], (c["disallowed"] >= policy.block_min_disallowed) & (~browser | automated)),
            (CODE["human_assets"], person & assets_ok & ~by_referer),
            (CODE["human_referer"], person & by_referer),
        )
        fresh = np.zeros(len(a), dtype=np.int8)
        for code, fires in reversed(conditions):  # the first source in priority order wins
            fresh[fires] = code
        return fresh

    def _sticky(
        self, fresh: np.ndarray, rows: np.ndarray, starts: np.ndarray, seg: np.ndarray, carry: np.ndarray,
        a: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:  # fmt: skip
        """Labels stick: a positive one is final, verified is fixed, a human view holds (the first
        one that fired) until a positive source fires. Returns each request's label, each segment's
        label arrival row, and how many actors got each label (a human turning positive counts for
        the positive source too)."""
        held = np.where(carry, self.label[a[starts]], 0)
        first_pos = np.minimum.reduceat(np.where((fresh >= 2) & (fresh <= 5), rows, _BIG), starts)
        first_hum = np.minimum.reduceat(np.where(fresh >= HUMAN, rows, _BIG), starts)
        first_ver = np.minimum.reduceat(np.where(fresh == 1, rows, _BIG), starts)
        last = len(fresh) - 1
        pos_code = np.where(first_pos < _BIG, fresh[np.minimum(first_pos, last)], 0)
        hum_code = np.where(first_hum < _BIG, fresh[np.minimum(first_hum, last)], 0)
        label = np.zeros(len(fresh), dtype=np.int8)
        hum = rows >= first_hum[seg]
        label[hum] = hum_code[seg][hum]
        held_hum = (held >= HUMAN)[seg]
        label[held_hum] = held[seg][held_hum]
        label[rows >= first_ver[seg]] = 1
        pos = rows >= first_pos[seg]
        label[pos] = pos_code[seg][pos]
        final = (held >= 1) & (held <= 5)
        label[final[seg]] = held[seg][final[seg]]
        arrival = np.minimum(np.minimum(first_pos, first_hum), first_ver)
        arrival = np.where((held == 0) & (arrival < _BIG), arrival, -1)
        turned = (first_pos < _BIG) & ((held >= HUMAN) | ((held == 0) & (first_hum < first_pos)))
        codes = np.concatenate([label[arrival[arrival >= 0]], pos_code[turned]])
        labelled = {SOURCES[c]: int(n) for c, n in enumerate(np.bincount(codes, minlength=len(SOURCES))) if n}
        return label, arrival, labelled

    def _carry_out(self, f: Folded, t: np.ndarray, page: np.ndarray) -> None:
        """Write each actor's state after its last request of the call."""
        ends = np.append(f.starts[1:], len(f.aid)) - 1
        last_seg = np.ones(len(f.starts), dtype=bool)
        last_seg[:-1] = f.aid[f.starts[1:]] != f.aid[f.starts[:-1]]
        end = ends[last_seg]
        who = f.aid[end]
        for name, values in f.counts.items():
            getattr(self, name)[who] = values[end]
        self.first[who] = f.first[end]
        self.last[who] = t[end]
        self.robots_first[who] = f.robots_first[end]
        changed = f.label[end] != np.where(f.carry[last_seg], self.label[who], 0)
        self.label_at[who] = np.where(changed, t[end], self.label_at[who])
        self.label[who] = f.label[end]
        page_at = np.maximum.reduceat(np.where(page, np.arange(len(t)), -1), f.starts)[last_seg]
        self.last_page[who] = np.where(
            page_at >= 0, t[np.maximum(page_at, 0)], np.where(f.carry[last_seg], self.last_page[who], np.nan)
        )

    # -- upkeep and views ------------------------------------------------------------------
    def expire(self, now: float) -> int:
        """Forget actors idle for ``ttl`` seconds; return how many buffered events went with them."""
        live = np.fromiter(self.index.values(), np.int64, len(self.index))
        idle = live[self.last[live] < now - self.ttl]
        dropped = 0
        for aid in idle.tolist():
            dropped += len(self.pending.pop(aid, ()))
            key = self.keys[aid]
            del self.index[key]
            self.keys[aid] = self.ctx[aid] = self.ua_info[aid] = None
            self._free.append(aid)
        return dropped

    def record(self, aid: int) -> Actor:
        """One actor's state as a record."""
        uinfo = self.ua_info[aid]
        identity = {1: VERIFIED, 2: SPOOFED}.get(int(self.identity[aid]), "unknown")
        ev = ActorEvidence(uinfo.crawler if uinfo else None, identity, bool(self.browser[aid]))
        for name in _COUNTS:
            setattr(ev, name, int(getattr(self, name)[aid]))
        ev.first, ev.last = float(self.first[aid]), float(self.last[aid])
        ev.last_page = None if np.isnan(self.last_page[aid]) else float(self.last_page[aid])
        code = int(self.label[aid])
        label = Label(2 <= code <= 5, SOURCES[code], float(self.label_at[aid])) if code else None  # type: ignore[arg-type]
        rf = int(self.robots_first[aid])
        return Actor(
            ev, None if rf < 0 else bool(rf), label, list(self.pending.get(aid, ())), int(self.minute[aid]),
            int(self.trained[aid]), int(self.uid[aid]),
        )  # fmt: skip

    def records(self) -> Iterator[tuple[tuple[str, str], Actor]]:
        for key, aid in self.index.items():
            yield key, self.record(aid)

    def load(self, actors: dict[tuple[str, str], Actor]) -> None:
        """Replace the table with ``actors`` (a snapshot's); their fixed keys are rebuilt on their
        next request."""
        self.index.clear()
        self.pending.clear()
        self._free.clear()
        self.keys = [None] * self._cap
        self.ctx = [None] * self._cap
        self.ua_info = [None] * self._cap
        for key, actor in actors.items():
            aid = len(self.index)
            if aid >= self._cap:
                self._grow(self._cap * 2)
            self.index[key], self.keys[aid] = aid, key
            ev = actor.evidence
            self.identity[aid] = 1 if ev.identity == VERIFIED else 2 if ev.identity == SPOOFED else 0
            self.browser[aid] = ev.browser
            self.crawled[aid] = ev.crawler is not None
            self.blocked[aid] = ev.crawler is not None and ev.crawler.category in self._blocked
            self.uid[aid] = actor.uid or actor_uid(*key)
            for name in _COUNTS:
                getattr(self, name)[aid] = getattr(ev, name)
            self.first[aid], self.last[aid] = ev.first, ev.last
            self.last_page[aid] = np.nan if ev.last_page is None else ev.last_page
            self.robots_first[aid] = -1 if actor.robots_first is None else int(actor.robots_first)
            self.label[aid] = CODE[actor.label.source] if actor.label is not None else 0
            self.label_at[aid] = actor.label.decided_at if actor.label is not None else 0.0
            self.minute[aid], self.trained[aid] = actor.minute, actor.trained_this_minute
            if actor.pending:
                self.pending[aid] = list(actor.pending)


def _segcum(inc: np.ndarray, starts: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running sum of ``inc`` within each segment (rows sorted by segment)."""
    total = np.cumsum(inc)
    return total - (total[starts] - inc[starts])[seg]
