"""StreamLearner: the online model over a request stream (score, weak-label, learn, propose rules).

Why this shape (Monolith's loop in one process, ../shared/notes/online-model.md §2):

- a **scorer** with its own copy of the weights scores each micro-batch (~1k requests) first;
- per-actor rolling behaviour (rate, asset share, robots.txt fetched before the first page,
  invalid-request share) lives in a TTL dict and only ever reads events up to the current one;
- weak labels (:mod:`botguard.model.labels`) are decided per actor; an actor's events wait in a
  short join buffer until its label arrives (then they are trained, masked per label source) or
  the join window passes (then they were only scored);
- a **trainer** learns from the labelled examples; every ``delta_interval`` seconds of stream time
  its changed rows (values, not gradients) are applied to the scorer, so a new crawler family is
  blocked by the scorer within seconds of the trainer learning it;
- every scored request updates signature statistics (:mod:`botguard.model.signatures`), which
  turn into :class:`~botguard.model.records.RuleCandidate` s.

Time is the requests' own timestamps (stream time), so a replayed log behaves as it would live.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl

from botguard.catalog import Catalog, Crawler, load_catalog
from botguard.config import Settings
from botguard.decide.agents import candidate_tokens
from botguard.identity.asn import AsnDb
from botguard.identity.ranges import PublishedRanges
from botguard.identity.setup import asn_source, updated_ranges_dir
from botguard.judge._columns import ASSET_RE, ROBOTS_RE
from botguard.judge.aggregate import robots_token
from botguard.model.features import FeatureExtractor, ip_prefixes, log2_bucket
from botguard.model.labels import BROWSER, MASKS, ActorEvidence, Label, Labeler, identity_of
from botguard.model.learner import OnlineLR
from botguard.model.records import LearnerConfig, RuleCandidate, SlotPolicy
from botguard.model.signatures import CandidateRules, SignatureBook, SignatureGroup
from botguard.model.table import ParamTable, StringTable, load_arrays, save_arrays
from botguard.robots.history import RobotsTimeline
from botguard.state import State

#: Per-slot admission and expiry (notes §2 "Table design"); config `model.slots` overrides them.
DEFAULT_POLICIES: Mapping[str, SlotPolicy] = MappingProxyType(
    {
        "ip24": SlotPolicy(admit_after=2, ttl=7 * 86400.0),
        "ip16": SlotPolicy(admit_after=2, ttl=30 * 86400.0),
        "ip6_48": SlotPolicy(admit_after=3, ttl=7 * 86400.0),
        "ip6_64": SlotPolicy(admit_after=3, ttl=3 * 86400.0),
        "asn": SlotPolicy(admit_after=2, ttl=30 * 86400.0),
        "ua_fam": SlotPolicy(admit_after=2, ttl=30 * 86400.0),
        "ua_tok": SlotPolicy(admit_after=2, ttl=30 * 86400.0),
        "path_tpl": SlotPolicy(admit_after=2, ttl=7 * 86400.0),
        "path_p1": SlotPolicy(admit_after=2, ttl=7 * 86400.0),
        "ext": SlotPolicy(admit_after=2, ttl=7 * 86400.0),
        "ua_fam_x_asn": SlotPolicy(admit_after=3, ttl=3 * 86400.0),
        "ua_fam_x_host": SlotPolicy(admit_after=2, ttl=3 * 86400.0),
    }
)
SNAPSHOT_VERSION = 2  # 2: signatures and pending keys as arrays of string ids (1: all JSON, still read)
#: A request's feature keys in parts: the actor's (UA and network), path, the rest (behaviour, method,
#: crosses). Each part is a memoised tuple, so masking is memoised per part object.
Parts = tuple[tuple[str, ...], ...]
_MEMO_LIMIT = 100_000
_PAGE, _ASSET, _HONEYPOT, _OTHER = range(4)  # what a request was, for its actor's evidence
_COLUMNS = ("ip", "time", "method", "target", "valid_request", "status", "referer", "user_agent", "host")


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Knobs of the stream loop; :meth:`from_settings` fills them from config `model:`."""

    batch_size: int = 1024  # requests per micro-batch at most
    batch_seconds: float = 5.0  # stream seconds a micro-batch spans at most (quiet sites learn as often)
    delta_interval: float = 10.0  # seconds of stream time between trainer -> scorer deltas
    snapshot_every: float = 900.0
    join_window: float = 1800.0  # seconds an unlabelled event waits for its actor's label
    max_pending: int = 32  # unlabelled events kept per actor (the most recent)
    actor_ttl: float = 3600.0  # an actor idle this long is forgotten
    max_train_per_actor_minute: int = 30  # caps how much one chatty client weighs in training
    maintenance_every: int = 20  # micro-batches between expiry sweeps
    sketch_age_every: float = 3600.0  # seconds between halvings of the admission sketch
    learner: LearnerConfig = field(default_factory=lambda: LearnerConfig(lr=0.5))
    policies: Mapping[str, SlotPolicy] = field(default_factory=lambda: DEFAULT_POLICIES)
    rules: CandidateRules = field(default_factory=CandidateRules)

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamSettings:
        model = settings.model
        policies = dict(DEFAULT_POLICIES)
        for slot, override in model.slots.items():
            policies[slot] = SlotPolicy(admit_after=override.admit_after, ttl=override.ttl)
        rules = CandidateRules(
            threshold=model.threshold,
            lcb=model.lcb,
            min_requests=model.min_requests,
            min_ips=model.min_ips,
            min_requests_single_net=model.min_requests_single_net,
            max_human_share=model.max_human_share,
            allow_agents=settings.allowlist.user_agents,
            allow_networks=settings.allowlist.networks,
        )
        return cls(
            delta_interval=model.delta_interval,
            snapshot_every=model.snapshot_every,
            policies=MappingProxyType(policies),
            rules=rules,
        )


@dataclass(slots=True)
class Actor:
    """One client (IP, or IPv6 /64, with its user agent): evidence so far, label, join buffer."""

    evidence: ActorEvidence
    robots_first: bool | None = None  # fetched robots.txt before its first page (None: no page yet)
    label: Label | None = None
    pending: list[tuple[Parts, float]] = field(default_factory=list)
    minute: int = -1
    trained_this_minute: int = 0
    ctx: _ActorCtx | None = None  # derived from (ip, user agent); rebuilt after a restore
    uid: int = 0  # stable id of (ip, user agent): admission counts distinct clients per key


@dataclass(frozen=True, slots=True)
class _ActorCtx:
    """What never changes for an actor: its UA and network feature keys, its signature keys."""

    ua_keys: tuple[str, ...]
    ip_keys: tuple[str, ...]
    sig_keys: tuple[str, ...]
    family: str
    static: tuple[str, ...] = ()  # ua_keys + ip_keys: the keys every request of the actor has


@dataclass(frozen=True, slots=True)
class _UaInfo:
    crawler: Crawler | None
    browser: bool
    token: str  # robots.txt agent token (judge's rule)
    sig_keys: tuple[str, ...]  # its UA signature keys (safe tokens only)
    family: str
    ua_keys: tuple[str, ...]  # its UA feature keys


@dataclass(frozen=True, slots=True)
class _IpInfo:
    asn: int | None
    hosting: bool | None
    net: str  # /24 or /48 as a key value
    net_key: str  # "ip24=..." / "ip6_48=..."
    actor_ip: str  # the IP, or its /64 for IPv6
    network: Any  # AsnInfo for the identity decision
    ip_keys: tuple[str, ...]  # its network feature keys


@dataclass(slots=True)
class StreamCounters:
    """What the stream did (for reports, benches and tests)."""

    events: int = 0
    trained: dict[str, int] = field(default_factory=dict)  # label source -> examples trained
    labelled_actors: dict[str, int] = field(default_factory=dict)
    expired_unlabelled: int = 0  # buffered events dropped without a label (only scored)
    deltas: int = 0
    last_publish: float | None = None
    last_snapshot: float | None = None  # stream time of the last snapshot() (None: never)


class StreamLearner:
    """Trainer + scorer in one process; see the module docstring and botguard/model/README.md."""

    def __init__(
        self,
        settings: Settings,
        *,
        robots: Any = None,
        catalog: Catalog | None = None,
        ranges: PublishedRanges | None = None,
        asn_db: AsnDb | None = None,
        stream: StreamSettings | None = None,
    ) -> None:
        self.settings = settings
        self.stream = stream or StreamSettings.from_settings(settings)
        self.robots = robots  # callable host -> RobotsTxt | RobotsTimeline | None (scan.RobotsSources)
        self.catalog = catalog or load_catalog()
        self.ranges = ranges or PublishedRanges.bundled()
        self.asn_db = asn_db
        self.labeler = Labeler(settings)
        self.features = FeatureExtractor()
        self.trainer = OnlineLR(self.stream.learner, ParamTable(policies=self.stream.policies))
        self.scorer = OnlineLR(self.stream.learner, ParamTable())
        self.book = SignatureBook(self.stream.rules)
        self.actors: dict[tuple[str, str], Actor] = {}
        self.counters = StreamCounters()
        self.clock = 0.0
        self.train_hook: Any = (
            None  # tests, benches: called with (times, labels, sources, xs) of each trained batch
        )
        self._ua: dict[str, _UaInfo] = {}
        self._ip: dict[str, _IpInfo] = {}
        self._identity: dict[tuple[str, str], str] = {}
        self._robots_memo: dict[tuple[str | None, int, str, str], bool] = {}
        self._rest_memo: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._mask_memo: dict[tuple[int, str], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._kinds: dict[str, int] = {}
        self._batches = 0
        self._last_age: float | None = None
        self._honeypots = settings.honeypots
        self._asset = re.compile(ASSET_RE)
        self._robots_path = re.compile(ROBOTS_RE)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_config(
        cls,
        config: Settings,
        *,
        robots: Any = None,
        state: State | None = None,
        settings: StreamSettings | None = None,
    ) -> StreamLearner:
        """The contract's door: settings from config, published ranges refreshed beside the state DB."""
        state_path = state.path if state is not None else None
        ranges = PublishedRanges.bundled(updated_ranges_dir(state_path))
        return cls(config, robots=robots, ranges=ranges, asn_db=asn_source(config.identity), stream=settings)

    # -- the loop ----------------------------------------------------------------------------
    def observe(self, requests: pl.DataFrame) -> pl.Series:
        """Score a batch (REQUEST_SCHEMA, time order) first, then label and learn; one P per row."""
        if requests.height == 0:
            return pl.Series("score", [], dtype=pl.Float64)
        frame = requests.select(_COLUMNS).with_columns((pl.col("time").dt.epoch("us") / 1e6).alias("time"))
        cols = {name: frame.get_column(name).to_list() for name in _COLUMNS}
        self._prepare(cols["user_agent"], cols["ip"])
        scores = np.empty(requests.height)
        for start, stop in self._cuts(cols["time"]):
            scores[start:stop] = self._micro_batch(cols, start, stop)
        return pl.Series("score", scores, dtype=pl.Float64)

    def _cuts(self, times: list[float | None]) -> list[tuple[int, int]]:
        """Micro-batch bounds: at most ``batch_size`` requests spanning at most ``batch_seconds``.

        Adagrad moves a weight by about ``lr`` per update, so how fast a new crawler is learned
        depends on updates per stream second, not per request: a quiet site must not wait for
        1,024 requests (minutes) before its first update.
        """
        cuts, start, size, span = [], 0, self.stream.batch_size, self.stream.batch_seconds
        first = times[0] if times else None
        for i, t in enumerate(times):
            if i - start >= size or (t is not None and first is not None and t - first >= span):
                cuts.append((start, i))
                start, first = i, t
            elif first is None:
                first = t
        if start < len(times):
            cuts.append((start, len(times)))
        return cuts

    def _micro_batch(self, cols: dict[str, list[Any]], start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the call's columns: walk them (actor state, labels, keys), then
        score, learn and fold signature stats once for the whole micro-batch.

        Why flat keys: each request's features are four tuples (UA, network, path, behaviour)
        that are already memoised, so the walk only concatenates them into one list for the
        scorer (no dict per request); signature stats are grouped per actor during the walk.
        """
        clock = self.clock
        times = [t if t is not None else clock for t in cols["time"][start:stop]]
        if self.counters.last_publish is None:
            self.counters.last_publish = times[0]  # the delta interval starts with the stream
        keys: list[str] = []
        lens: list[int] = []
        offsets: list[int] = []
        group_of: list[int] = []
        # id of the actor's signature-key tuple -> its group (first-seen order)
        groups: dict[int, SignatureGroup] = {}
        group_index: dict[int, int] = {}
        last_of: dict[int, int] = {}  # group -> its last request (whose features are its sample)
        train: list[tuple[Parts, bool, float, str, int]] = []
        uas, ips, targets = cols["user_agent"], cols["ip"], cols["target"]
        ua_memo, ip_memo, actors = self._ua, self._ip, self.actors
        max_ips = self.stream.rules.max_ips
        for j, t in enumerate(times):
            i = start + j
            ua, ip = uas[i] or "", ips[i] or ""
            uinfo, iinfo = ua_memo[ua], ip_memo[ip]
            actor = actors.get((iinfo.actor_ip, ua))
            if actor is None or actor.ctx is None:
                actor = self._actor(iinfo.actor_ip, ua, uinfo, iinfo, ip)
            target = targets[i]
            kind = self._update(actor, uinfo, cols, i, t, target)
            parts = self._parts(actor, ua, ip, iinfo, cols, i, target, kind == _HONEYPOT)
            ctx = actor.ctx
            offsets.append(len(keys))
            keys += parts[0]
            keys += parts[1]
            keys += parts[2]
            lens.append(len(parts[0]) + len(parts[1]) + len(parts[2]))
            self._label(actor, t, parts, train)
            label = actor.label.source if actor.label is not None else None
            # a browser loading page assets is evidence of a person, labelled or not (signature safety)
            humanlike = label == "human" or (label is None and kind == _ASSET and uinfo.browser)
            sig = ctx.sig_keys  # type: ignore[union-attr]
            gid = id(sig)
            gi = group_index.get(gid)
            if gi is None:
                gi = group_index[gid] = len(group_index)
                group = groups[gid] = SignatureGroup(sig)
            else:
                group = groups[gid]
            group_of.append(gi)
            last_of[gid] = j
            group.see(ip, iinfo.net, ua, label, humanlike, max_ips)
        now = max(times[-1], clock)
        self.clock = now
        scores = self.scorer.predict_proba_keys(keys, lens)  # score first, with the scorer's own weights
        if train:
            self._learn(train, now)
        self.counters.events += len(times)
        self._fold_groups(groups, group_of, last_of, scores, keys, lens, offsets)
        self.book.add_groups(list(groups.values()), now, self._weight, self.scorer.table.index.__contains__)
        self._maybe_publish(now)
        self._maintain(now)
        return scores

    def _fold_groups(
        self,
        groups: dict[int, SignatureGroup],
        group_of: list[int],
        last_of: dict[int, int],
        scores: np.ndarray,
        keys: list[str],
        lens: list[int],
        offsets: list[int],
    ) -> None:
        """Per-group request counts, high scores and score sums (one bincount each), and each
        group's sample: the features of its last request."""
        index = np.asarray(group_of, dtype=np.int64)
        size = len(groups)
        n = np.bincount(index, minlength=size).tolist()
        high = np.bincount(index, scores > self.stream.rules.threshold, minlength=size).tolist()
        psum = np.bincount(index, scores, minlength=size).tolist()
        for g, (gid, group) in enumerate(groups.items()):
            group.n, group.high, group.psum = n[g], int(high[g]), psum[g]
            last = last_of[gid]
            group.x = dict.fromkeys(keys[offsets[last] : offsets[last] + lens[last]], 1.0)

    def _learn(self, train: list[tuple[Parts, bool, float, str, int]], now: float) -> None:
        """Train on the batch's labelled examples, each masked for the source that labelled it."""
        keys: list[str] = []
        lens: list[int] = []
        for parts, _, _, source, _ in train:
            before = len(keys)
            self._masked_into(keys, parts, source)
            lens.append(len(keys) - before)
        train_y = [y for _, y, _, _, _ in train]
        self.trainer.learn_keys(keys, lens, train_y, now=now, who=[uid for *_, uid in train])
        trained = self.counters.trained
        for _, _, _, source, _ in train:
            trained[source] = trained.get(source, 0) + 1
        if self.train_hook is not None:
            train_x, at = [], 0
            for size in lens:
                train_x.append(dict.fromkeys(keys[at : at + size], 1.0))
                at += size
            self.train_hook(
                [t for _, _, t, _, _ in train], train_y, [src for _, _, _, src, _ in train], train_x
            )

    def _masked_into(self, out: list[str], parts: Parts, source: str) -> None:
        """Append the example's keys without the slots its label source read (memoised per part object).

        The memo is keyed by the part's identity (parts are memoised tuples, so they recur as the
        same objects) and keeps the part alive, so an id is never reused while its entry exists.
        """
        memo, masked = self._mask_memo, MASKS[source]
        for part in parts:
            hit = memo.get((id(part), source))
            if hit is None or hit[0] is not part:
                if len(memo) > _MEMO_LIMIT:
                    memo.clear()
                hit = memo[(id(part), source)] = (
                    part,
                    tuple(k for k in part if k.partition("=")[0] not in masked),
                )
            out += hit[1]

    # -- per-request work --------------------------------------------------------------------
    def _prepare(self, agents: Sequence[str | None], ips: Sequence[str | None]) -> None:
        """UA and IP facts for this batch's new distinct values (catalogue and ASN in one pass each)."""
        if len(self._ua) > _MEMO_LIMIT:
            self._ua.clear()
        new_ua = list({ua or "": None for ua in agents if (ua or "") not in self._ua})
        if new_ua:
            for ua, crawler in zip(new_ua, self.catalog.classify_many(new_ua)):
                self._ua[ua] = self._ua_info(ua, crawler)
        if len(self._ip) > _MEMO_LIMIT:
            self._ip.clear()
        new_ip = list({ip or "": None for ip in ips if (ip or "") not in self._ip})
        if new_ip:
            networks = self.asn_db.lookup_many(new_ip) if self.asn_db is not None else {}
            for ip in new_ip:
                self._ip[ip] = self._ip_info(ip, networks.get(ip), self.features._ip(ip))

    def _ua_info(self, ua: str, crawler: Crawler | None) -> _UaInfo:
        fam, keys = self.features._ua(ua)
        # only the agent's safe product names carry signature stats ("chrome", "the", "x22" never)
        names = candidate_tokens(ua)
        sig = tuple(k for k in keys if k.startswith(("ua_tok=", "ua_fam=")) and k.partition("=")[2] in names)
        return _UaInfo(crawler, bool(BROWSER.match(ua)), robots_token(crawler), sig, fam, keys)

    @staticmethod
    def _ip_info(ip: str, network: Any, keys: tuple[str, ...]) -> _IpInfo:
        prefixes = ip_prefixes(ip)
        if "ip24" in prefixes:
            net, slot, actor_ip = prefixes["ip24"], "ip24", ip
        elif "ip6_48" in prefixes:
            net, slot, actor_ip = prefixes["ip6_48"], "ip6_48", prefixes["ip6_64"]
        else:
            net, slot, actor_ip = "none", "ip24", ip
        asn = network.asn if network is not None else None
        hosting = network.hosting if network is not None else None
        return _IpInfo(asn, hosting, net, f"{slot}={net}", actor_ip, network, keys)

    def _actor(self, actor_ip: str, ua: str, uinfo: _UaInfo, iinfo: _IpInfo, ip: str) -> Actor:
        key = (actor_ip, ua)
        actor = self.actors.get(key)
        if actor is None:
            identity = self._identity_of(ip, uinfo.crawler, iinfo)
            actor = self.actors[key] = Actor(
                ActorEvidence(uinfo.crawler, identity, uinfo.browser), uid=_uid(actor_ip, ua)
            )
        if actor.ctx is None:
            cross = (
                (f"asn={iinfo.asn}", f"ua_fam_x_asn={uinfo.family}|{iinfo.asn}")
                if iinfo.asn is not None
                else ()
            )
            actor.ctx = _ActorCtx(
                uinfo.ua_keys,
                iinfo.ip_keys,
                (*uinfo.sig_keys, iinfo.net_key, *cross),
                uinfo.family,
                uinfo.ua_keys + iinfo.ip_keys,
            )
        return actor

    def _identity_of(self, ip: str, crawler: Crawler | None, iinfo: _IpInfo) -> str:
        name = crawler.name if crawler is not None else ""
        known = self._identity.get((ip, name))
        if known is None:
            lists = crawler.verification.ip_ranges if crawler and crawler.verification else ()
            in_range = bool(lists) and bool(self.ranges.match(ip, lists))
            if len(self._identity) > _MEMO_LIMIT:
                self._identity.clear()
            known = self._identity[(ip, name)] = identity_of(crawler, in_range, iinfo.network)
        return known

    def _update(
        self, actor: Actor, uinfo: _UaInfo, cols: dict[str, list[Any]], i: int, t: float, target: str | None
    ) -> int:
        """Fold one request into its actor's evidence; say what it was (_PAGE, _ASSET, _HONEYPOT, _OTHER)."""
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
            return _OTHER
        kind = self._kinds.get(target)
        if kind is None:
            kind = self._kind_of(target)
        if kind == _OTHER:  # robots.txt
            if actor.robots_first is None:
                actor.robots_first = True
            return _OTHER
        if kind == _ASSET:
            ev.assets += 1
            return _ASSET
        ev.pages += 1
        if actor.robots_first is None:
            actor.robots_first = False
        if ev.last_page is not None and t - ev.last_page < self.labeler.human.min_seconds_per_page:
            ev.fast_pages += 1
        ev.last_page = t
        honeypot = kind == _HONEYPOT
        if honeypot:
            ev.honeypot += 1
        elif not self._allowed(cols["host"][i], t, uinfo.token, target):
            ev.disallowed += 1
        return _HONEYPOT if honeypot else _PAGE

    def _kind_of(self, target: str) -> int:
        """What a request target is, whoever asks (memoised per distinct target): robots.txt
        (_OTHER), an asset, a honeypot page or a page."""
        if self._robots_path.search(target):
            kind = _OTHER
        elif self._asset.search(target):
            kind = _ASSET
        else:
            kind = _HONEYPOT if any(target.startswith(p) for p in self._honeypots) else _PAGE
        if len(self._kinds) > _MEMO_LIMIT:
            self._kinds.clear()
        self._kinds[target] = kind
        return kind

    def _allowed(self, host: str | None, t: float, token: str, target: str) -> bool:
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
            if len(self._robots_memo) > _MEMO_LIMIT:
                self._robots_memo.clear()
            if isinstance(robots, RobotsTimeline):
                allowed = robots.allowed_many(epoch, token, [target])[0]
            else:
                allowed = robots.is_allowed(token, target)
            self._robots_memo[key] = allowed
        return allowed

    def _parts(
        self,
        actor: Actor,
        ua: str,
        ip: str,
        iinfo: _IpInfo,
        cols: dict[str, list[Any]],
        i: int,
        target: str | None,
        honeypot: bool,
    ) -> Parts:
        """The request's features, in parts; equal to ``FeatureExtractor.featurize`` of :meth:`_event`.

        The behaviour part is memoised on its bucketed inputs (a few thousand distinct ones), so
        the per-request cost is a tuple and a dict lookup; honeypot paths give no path keys.
        """
        ev, ctx = actor.evidence, actor.ctx
        n = ev.requests
        referer = cols["referer"][i]
        has_referer = bool(referer and referer != "-")
        status = cols["status"][i]
        rate = 60.0 * n / max(ev.last - ev.first, 60.0)
        memo_key = (
            ctx.family,
            iinfo.asn,
            iinfo.hosting,
            cols["method"][i],
            None if status is None else status // 100,  # type: ignore[union-attr]
            bool(actor.robots_first),
            log2_bucket(rate),
            min(int(ev.assets / n * 5), 4),
            has_referer,
            min(int(ev.invalid / n * 4), 3),
        )
        rest = self._rest_memo.get(memo_key)
        if rest is None:
            # featurize without the network and with a fixed path, then drop the UA and path keys
            full = self.features.featurize(
                {**self._event(actor, ua, ip, iinfo, cols, i, target), "ip": "", "path": "/"}
            )
            skip = {*ctx.ua_keys, *self.features._path("/")}  # type: ignore[union-attr]
            if len(self._rest_memo) > _MEMO_LIMIT:
                self._rest_memo.clear()
            rest = self._rest_memo[memo_key] = tuple(k for k in full if k not in skip)
        path = () if honeypot else self.features._path(target or "/")
        return ctx.static, path, rest  # type: ignore[union-attr]

    @staticmethod
    def _event(
        actor: Actor, ua: str, ip: str, iinfo: _IpInfo, cols: dict[str, list[Any]], i: int, target: str | None
    ) -> dict[str, Any]:
        """The feature extractor's view of one request plus its actor's behaviour up to now."""
        ev = actor.evidence
        n = ev.requests
        referer = cols["referer"][i]
        return {
            "ip": ip,
            "user_agent": ua,
            "path": target or "/",
            "method": cols["method"][i],
            "status": cols["status"][i],
            "asn": iinfo.asn,
            "hosting": iinfo.hosting,
            "robots_fetched": bool(actor.robots_first),
            "rate": 60.0 * n / max(ev.last - ev.first, 60.0),
            "asset_ratio": ev.assets / n,
            "has_referer": bool(referer and referer != "-"),
            "invalid_share": ev.invalid / n,
        }

    def _label(
        self, actor: Actor, t: float, parts: Parts, train: list[tuple[Parts, bool, float, str, int]]
    ) -> None:
        """Decide the actor's label after this request; route the request to training or the buffer."""
        label = actor.label
        if label is None or (not label.unwanted and label.source == "human"):
            fresh = self.labeler.decide(actor.evidence, t)
            if fresh is not None and (label is None or fresh.unwanted != label.unwanted):
                actor.label = label = fresh
                self.counters.labelled_actors[fresh.source] = (
                    self.counters.labelled_actors.get(fresh.source, 0) + 1
                )
                horizon = t - self.stream.join_window
                for old_parts, old_t in actor.pending:  # scored before t: the join (no look-ahead)
                    if old_t >= horizon:
                        self._train(actor, old_parts, old_t, label, train)
                    else:
                        self.counters.expired_unlabelled += 1
                actor.pending.clear()
        if label is None:
            actor.pending.append((parts, t))
            if len(actor.pending) > self.stream.max_pending:
                del actor.pending[0]
                self.counters.expired_unlabelled += 1
            return
        self._train(actor, parts, t, label, train)

    def _train(
        self,
        actor: Actor,
        parts: Parts,
        t: float,
        label: Label,
        train: list[tuple[Parts, bool, float, str, int]],
    ) -> None:
        minute = int(t // 60)
        if minute != actor.minute:
            actor.minute, actor.trained_this_minute = minute, 0
        if actor.trained_this_minute >= self.stream.max_train_per_actor_minute:
            return
        actor.trained_this_minute += 1
        train.append((parts, label.unwanted, t, label.source, actor.uid))

    # -- deltas and maintenance --------------------------------------------------------------
    def _maybe_publish(self, now: float) -> None:
        last = self.counters.last_publish
        if last is not None and now - last >= self.stream.delta_interval:
            self.publish(now)

    def publish(self, now: float | None = None) -> int:
        """Apply the trainer's changed rows to the scorer now; return the delta's size."""
        delta = self.trainer.table.take_delta()
        self.scorer.table.apply_delta(delta, self.clock if now is None else now)
        self.counters.deltas += 1
        self.counters.last_publish = self.clock if now is None else now
        return len(delta)

    def _maintain(self, now: float) -> None:
        self._batches += 1
        if self._last_age is None:
            self._last_age = now
        elif now - self._last_age >= self.stream.sketch_age_every:
            self.trainer.table.age()
            self._last_age = now
        if self._batches % self.stream.maintenance_every:
            return
        self.trainer.expire(now)
        self._expire_idle(now)

    def _expire_idle(self, now: float) -> None:
        """Forget actors idle for ``actor_ttl`` and signature keys idle for the rules' ``ttl``."""
        self.book.expire(now)
        idle = now - self.stream.actor_ttl
        stale = [key for key, actor in self.actors.items() if actor.evidence.last < idle]
        for key in stale:
            self.counters.expired_unlabelled += len(self.actors.pop(key).pending)

    def _weight(self, key: str) -> float:
        row = self.scorer.table.index.get(key)
        return float(self.scorer.table.w[row]) if row is not None else 0.0

    # -- outputs -----------------------------------------------------------------------------
    def candidates(self) -> list[RuleCandidate]:
        """Signatures that qualify now (support, lower bound, no good-bot/human/allowlist overlap)."""
        return self.book.candidates(self._explain_many, self._weight)

    def _explain_many(self, xs: Sequence[Mapping[str, float]], top: int = 5) -> list[tuple[str, float]]:
        """Mean contribution of each feature over some requests, the ``top`` largest first."""
        totals: dict[str, float] = {}
        for x in xs:
            for key, value in self.scorer.explain_one(x):
                totals[key] = totals.get(key, 0.0) + value
        ranked = sorted(((k, v / len(xs)) for k, v in totals.items()), key=lambda kv: (-kv[1], kv[0]))
        return [(k, round(v, 3)) for k, v in ranked[:top]] if xs else []

    def explain(self, event: Mapping[str, Any], top: int = 5) -> list[tuple[str, float]]:
        """Top feature contributions to the scorer's logit for one event (FeatureExtractor fields)."""
        return self.scorer.explain_one(self.features.featurize(event))[:top]

    def score(self, event: Mapping[str, Any]) -> float:
        """The scorer's probability for one event (FeatureExtractor fields), without learning."""
        return float(self.scorer.predict_proba_many([self.features.featurize(event)])[0])

    # -- snapshots ---------------------------------------------------------------------------
    def snapshot(self, directory: str | os.PathLike[str]) -> Path:
        """Write the whole learner state atomically: a complete snapshot directory or nothing.

        Files go to a temporary directory beside the target, are fsynced, and the directory is
        renamed into place with ``os.replace``; the previous snapshot is removed only afterwards. A
        crash at any point leaves either the old or the new snapshot readable by :meth:`restore`.
        """
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        self._expire_idle(self.clock)  # what memory would forget anyway is not written
        try:
            self.trainer.save(tmp / "trainer.npz")
            self.scorer.save(tmp / "scorer.npz")
            strings = StringTable()
            state = self._state_json(strings)
            arrays = self.book.to_arrays(strings)
            arrays.update(strings.to_arrays())
            save_arrays(tmp / "signatures.npz", arrays, compress=True)
            _write_json(tmp / "state.json", state)  # last: its presence marks a complete snapshot
            _fsync_dir(tmp)
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old.{os.getpid()}")
                os.replace(target, old)
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        _remove_leftovers(target)
        self.counters.last_snapshot = self.clock
        return target

    def snapshot_due(self) -> bool:
        """Whether ``snapshot_every`` seconds of stream time passed since the last snapshot (or ever)."""
        last = self.counters.last_snapshot
        return self.counters.events > 0 and (last is None or self.clock - last >= self.stream.snapshot_every)

    @classmethod
    def restore(
        cls,
        directory: str | os.PathLike[str],
        config: Settings,
        *,
        robots: Any = None,
        state: State | None = None,
        settings: StreamSettings | None = None,
    ) -> StreamLearner:
        """A learner in the state of the last complete snapshot at ``directory``.

        If a crash happened between moving the old snapshot aside and renaming the new one into
        place, the old one (``.NAME.old.*``) is used.
        """
        learner = cls.from_config(config, robots=robots, state=state, settings=settings)
        learner.load(_complete_snapshot(Path(directory)))
        return learner

    def load(self, directory: Path) -> None:
        """Replace this learner's state with a snapshot's."""
        state = json.loads((directory / "state.json").read_text(encoding="utf-8"))
        version = state.get("version")
        if version not in (1, SNAPSHOT_VERSION):
            raise ValueError(f"snapshot version {version}, expected {SNAPSHOT_VERSION}")
        self.trainer.load(directory / "trainer.npz")
        self.scorer.load(directory / "scorer.npz")
        self.clock = state["clock"]
        self.counters = StreamCounters(**state["counters"])
        self._batches, self._last_age = state["batches"], state["last_age"]
        strings: Sequence[str] = ()
        if version == 1:  # signatures as JSON, pending parts as key lists
            self.book.load_json(state["signatures"])
        else:
            arrays = load_arrays(directory / "signatures.npz")
            strings = StringTable.from_arrays(arrays).strings
            self.book.load_arrays(arrays, strings)
        self.actors = {(a["ip"], a["ua"]): self._actor_from_json(a, strings) for a in state["actors"]}

    def _actor_from_json(self, data: Mapping[str, Any], strings: Sequence[str] = ()) -> Actor:
        crawler = None
        if data["crawler"] is not None:
            try:
                crawler = self.catalog.by_name(data["crawler"])
            except KeyError:  # a catalogue without it: the actor is judged as unknown
                crawler = None
        ev = ActorEvidence(crawler=crawler, **data["evidence"])
        label = Label(*data["label"]) if data["label"] is not None else None
        if strings:  # version 2: each part is a list of string ids
            pending = [
                (tuple(tuple(strings[k] for k in part) for part in parts), float(t))
                for parts, t in data["pending"]
            ]
        else:
            pending = [(tuple(tuple(part) for part in parts), float(t)) for parts, t in data["pending"]]
        return Actor(
            ev,
            data["robots_first"],
            label,
            pending,
            data["minute"],
            data["trained"],
            uid=_uid(data["ip"], data["ua"]),
        )

    def _state_json(self, strings: StringTable) -> dict[str, Any]:
        c = self.counters
        return {
            "version": SNAPSHOT_VERSION,
            "clock": self.clock,
            "batches": self._batches,
            "last_age": self._last_age,
            "counters": {
                "events": c.events,
                "trained": c.trained,
                "labelled_actors": c.labelled_actors,
                "expired_unlabelled": c.expired_unlabelled,
                "deltas": c.deltas,
                "last_publish": c.last_publish,
                "last_snapshot": self.clock,
            },
            "actors": [_actor_to_json(ip, ua, a, strings) for (ip, ua), a in self.actors.items()],
        }


def _uid(actor_ip: str, ua: str) -> int:
    """A client's stable id (CRC32 of IP and UA: the same across restarts, unlike ``hash()``)."""
    return zlib.crc32(f"{actor_ip}\x1f{ua}".encode("utf-8", "surrogatepass"))


def _actor_to_json(ip: str, ua: str, actor: Actor, strings: StringTable) -> dict[str, Any]:
    ev = actor.evidence
    label = actor.label
    return {
        "ip": ip,
        "ua": ua,
        "crawler": ev.crawler.name if ev.crawler is not None else None,
        "evidence": {k: getattr(ev, k) for k in _EVIDENCE},
        "robots_first": actor.robots_first,
        "label": [label.unwanted, label.source, label.decided_at] if label is not None else None,
        "pending": [[[strings.ids(part) for part in parts], t] for parts, t in actor.pending],
        "minute": actor.minute,
        "trained": actor.trained_this_minute,
    }


_EVIDENCE = (
    "identity",
    "browser",
    "first",
    "last",
    "requests",
    "pages",
    "assets",
    "referers",
    "invalid",
    "disallowed",
    "honeypot",
    "fast_pages",
    "last_page",
)


def _write_json(path: Path, data: Any) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_leftovers(target: Path) -> None:
    """Delete what interrupted snapshots left beside ``target`` (temporary and moved-aside dirs).

    Only called once a new snapshot is complete in place, so nothing here is still needed.
    """
    for path in target.parent.glob(f".{target.name}.*"):
        if path.is_dir() and (path.name.endswith(".tmp") or ".old." in path.name):
            shutil.rmtree(path, ignore_errors=True)


def _complete_snapshot(target: Path) -> Path:
    """The snapshot directory to read: the target, else an old one moved aside by an interrupted write."""
    if (target / "state.json").is_file():
        return target
    olds = sorted(target.parent.glob(f".{target.name}.old.*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in olds:
        if (old / "state.json").is_file():
            return old
    raise FileNotFoundError(f"no complete snapshot at {target}")
