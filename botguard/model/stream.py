"""StreamLearner: the online model over a request stream (score, weak-label, learn, propose, raise).

Why this shape (Monolith's loop in one process, ../shared/notes/online-model.md §2):

- a **scorer** with its own copy of the weights scores each micro-batch first;
- per-actor behaviour (rate, asset share, robots.txt fetched before the first page,
  invalid-request share) is a running count that only ever reads requests up to the current one;
- weak labels (:mod:`botguard.model.labels`) are decided per actor; an actor's requests wait in a
  short join buffer until its label arrives (then they are trained, masked per label source) or
  the join window passes (then they were only scored);
- a **trainer** learns from the labelled examples; every ``delta_interval`` seconds of stream time
  its changed rows (values, not gradients) are applied to the scorer;
- every scored request updates signature statistics (:mod:`botguard.model.signatures`), which
  turn into :class:`~botguard.model.records.RuleCandidate` s;
- campaign signatures (:mod:`botguard.model.campaigns`) tie clients across addresses and raise
  the members of a campaign with support; a raised client's probability is the model's and the
  campaign's combined (either can make a client unwanted).

Time is the requests' own timestamps (stream time), and every step depends only on the stream's
order, never on how it was cut into ``observe()`` calls: a scan of a log (one replay) and a watch
that followed the same log (chunk by chunk, restarted from snapshots) reach the same state.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import polars as pl

from botguard.catalog import Catalog, load_catalog
from botguard.config import Settings
from botguard.identity.asn import AsnDb
from botguard.identity.ranges import PublishedRanges
from botguard.identity.setup import asn_source, updated_ranges_dir
from botguard.loading import collector_off
from botguard.model import snapshot as snap
from botguard.model._actors import (
    ASSET,
    HONEYPOT,
    HUMAN,
    SOURCES,
    Actor,
    ActorTable,
    Folded,
    behaviour_buckets,
)
from botguard.model._batches import GroupCounts, OpenBatch, PartIds, PieceGroups, pieces, slots
from botguard.model._clientpass import ClientScores, fit_clients
from botguard.model._join import Examples, JoinRules, Parts, Trainer, examples
from botguard.model._keys import Call, FeaturePart, RequestKeys, referer_kinds
from botguard.model._kinds import RequestKinds
from botguard.model._publish import Publisher
from botguard.model.campaigns import CampaignBook, CampaignRules
from botguard.model.features import FeatureExtractor
from botguard.model.labels import Labeler
from botguard.model.learner import OnlineLR, sigmoid
from botguard.model.records import (
    ClientRaise,
    Delta,
    LearnerConfig,
    RuleCandidate,
    SlotPolicy,
    StreamCounters,
)
from botguard.model.signature_arrays import signature_book
from botguard.model.signatures import CandidateRules, welcome_agents
from botguard.model.table import ParamTable
from botguard.state import State

__all__ = ["DEFAULT_POLICIES", "StreamCounters", "StreamLearner", "StreamSettings"]

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


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """Knobs of the stream loop; :meth:`from_settings` fills them from config `model:`."""

    batch_size: int = 1024  # requests per micro-batch at most
    # Stream seconds of one micro-batch (config model.micro_batch_seconds): its requests are scored
    # with the weights from before it and learned after it, as Monolith's trainer syncs its serving
    # copy every few minutes. Longer costs less per request (the per-batch work is paid once per
    # batch) and learns later: 30 s and 60 s raised AUC slightly but proposed no candidate for
    # some campaigns that got one at 10 s (and 60 s flagged a novel crawler later).
    batch_seconds: float = 10.0
    delta_interval: float = 10.0  # seconds of stream time between trainer -> scorer deltas
    snapshot_every: float = 900.0
    join_window: float = 1800.0  # seconds an unlabelled event waits for its actor's label
    max_pending: int = 32  # unlabelled events kept per actor (the most recent)
    actor_ttl: float = 3600.0  # an actor idle this long starts over (and is forgotten)
    max_train_per_actor_minute: int = 30  # caps how much one chatty client weighs in training
    maintenance_every: int = 20  # micro-batches between expiry sweeps
    sketch_age_every: float = 3600.0  # seconds between halvings of the admission sketch
    learner: LearnerConfig = field(default_factory=lambda: LearnerConfig(lr=0.5))
    policies: Mapping[str, SlotPolicy] = field(default_factory=lambda: DEFAULT_POLICIES)
    rules: CandidateRules = field(default_factory=CandidateRules)
    campaigns: CampaignRules = field(default_factory=CampaignRules)

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
            min_ips_named=model.min_ips_named,
            min_requests_single_net=model.min_requests_single_net,
            max_human_share=model.max_human_share,
            allow_agents=settings.allowlist.user_agents,
            allow_networks=settings.allowlist.networks,
        )
        return cls(
            batch_seconds=model.micro_batch_seconds,
            delta_interval=model.delta_interval,
            snapshot_every=model.snapshot_every,
            policies=MappingProxyType(policies),
            rules=rules,
            campaigns=CampaignRules.from_settings(settings),
        )


class StreamLearner:
    """Trainer + scorer in one process; see the module docstring and botguard/model/README.md.

    It composes parts with one job each: ``_keys`` (a call's columns and memoised facts and
    feature parts), ``_kinds`` (what each request is, robots.txt), ``_actors`` (per-actor
    evidence and labels as columns), ``_join`` (the label join window, masked training),
    ``_batches`` (micro-batches by stream time, the open one carried between calls),
    ``_publish`` (trainer -> scorer deltas), :mod:`~botguard.model.campaigns` and
    :mod:`~botguard.model.snapshot`.
    """

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
        self.stream = knobs = stream or StreamSettings.from_settings(settings)
        self.catalog = catalog or load_catalog()
        self.ranges = ranges or PublishedRanges.bundled()
        self.asn_db = asn_db
        self.labeler = Labeler(settings)
        self.features = FeatureExtractor()
        self.trainer = OnlineLR(knobs.learner, ParamTable(policies=knobs.policies))
        self.scorer = OnlineLR(knobs.learner, ParamTable())
        self.book = signature_book(knobs.rules, welcome_agents(self.catalog, settings.policy))
        self.campaigns = CampaignBook(knobs.campaigns, short_of=knobs.rules.threshold)
        self.counters = StreamCounters()
        self.clock = 0.0
        # tests, benches: called with (times, labels, sources, xs) of each trained micro-batch
        self.train_hook: Any = None
        self._keys = RequestKeys(self.features, self.catalog, asn_db)
        self._kinds = RequestKinds(settings.honeypots, robots)
        self._actors = ActorTable(
            ttl=knobs.actor_ttl, ranges=self.ranges, labeler=self.labeler,
            blocked_categories=settings.policy.block_categories,
        )  # fmt: skip
        self._join = JoinRules(knobs.join_window, knobs.max_pending, knobs.max_train_per_actor_minute)
        self._trainer = Trainer()
        self._publisher = Publisher(self.trainer, self.scorer, knobs.delta_interval)
        self._open: OpenBatch | None = None
        self._epoch = 0  # scorer publications so far (part sums are cached per epoch)
        self._batches = 0
        self._last_age: float | None = None

    @property
    def actors(self) -> dict[tuple[str, str], Actor]:
        """The actors within their TTL, keyed by (IP or IPv6 /64, user agent), as records."""
        return dict(self._actors.records())

    @property
    def robots(self) -> Any:
        """Callable host -> RobotsTxt | RobotsTimeline | None (scan.RobotsSources), or None."""
        return self._kinds.robots

    @classmethod
    def from_config(
        cls,
        config: Settings,
        *,
        robots: Any = None,
        state: State | None = None,
        settings: StreamSettings | None = None,
        state_path: str | None = None,
    ) -> StreamLearner:
        """The contract's door: settings from config, published ranges refreshed beside the state
        DB (``state``'s, else the one at ``state_path``)."""
        if state is not None:
            state_path = str(state.path)
        ranges = PublishedRanges.bundled(updated_ranges_dir(state_path))
        return cls(config, robots=robots, ranges=ranges, asn_db=asn_source(config.identity), stream=settings)

    # -- the loop ----------------------------------------------------------------------------
    def observe(self, requests: pl.DataFrame) -> pl.Series:
        """Score a batch (REQUEST_SCHEMA, time order) first, then label and learn; one P per row.

        Without garbage collections while it runs: the book, the actors and the memos it grows
        are long-lived objects the collector would walk again and again (~10% of the call).
        """
        if requests.height == 0:
            return pl.Series("score", [], dtype=pl.Float64)
        with collector_off():
            return self._observe(requests)

    def _observe(self, requests: pl.DataFrame) -> pl.Series:
        call = self._keys.call(requests, self.clock)
        kind, disallowed = self._kinds.kinds(call)
        aid = self._actors.ids(call)
        folded = self._actors.fold(call, aid, kind, disallowed)
        for source, count in folded.labelled.items():
            self.counters.labelled_actors[source] = self.counters.labelled_actors.get(source, 0) + count
        # the campaign book first: the referer kinds read the site's hosts it learns and which
        # requests follow their client's own links
        campaign, follows = self.campaigns.observe(call, kind, self._actors, aid)
        behaviour = _behaviour(call, folded)
        behaviour["ref_kind"] = referer_kinds(
            call, behaviour["requests"] == 1, follows, self.campaigns.referer, self.campaigns.served.own_since
        )
        parts = self._features(call, kind, aid, behaviour)
        order = folded.order
        at = order.tolist()

        def parts_of(r: int) -> Parts:
            return parts.of(at[r])

        found = examples(folded, call.t[order], parts_of, self._actors, self._join, self.counters)
        label = np.empty(call.n, dtype=np.int8)
        label[order] = folded.label
        browser = np.array([u.browser for u in call.ua_infos], dtype=bool)[call.ua_of]
        humanlike = (label >= HUMAN) | ((label == 0) & (kind == ASSET) & browser)
        scores = self._run(call, aid, label, humanlike, parts, found, campaign)
        self.counters.events += call.n
        self.clock = float(call.t[-1])
        return pl.Series("score", scores, dtype=pl.Float64)

    def _features(
        self, call: Call, kind: np.ndarray, aid: np.ndarray, behaviour: dict[str, np.ndarray]
    ) -> PartIds:
        """Each request's feature parts as three ids (its actor's keys, its path's, the rest) into
        the call's distinct parts, with their weight sums."""
        path_id, path_parts = self._keys.paths(call.target, kind == HONEYPOT)
        rest_id, rest_parts = self._keys.rests(call, behaviour)
        distinct, static_id = np.unique(aid, return_inverse=True)
        ctx = self._actors.ctx
        static_parts: list[FeaturePart] = [ctx[a].static for a in distinct.tolist()]
        return PartIds([(static_parts, static_id.reshape(-1)), (path_parts, path_id), (rest_parts, rest_id)])

    def _run(
        self, call: Call, aid: np.ndarray, label: np.ndarray, humanlike: np.ndarray,
        parts: PartIds, found: Examples, campaign: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """Cut the call into micro-batches: close the open one when its slot ends, score each piece
        with the scorer as it stands, and add the piece's requests and examples to the open batch
        (the per-actor grouping is done once for the call's pieces)."""
        knobs = self.stream
        slot = slots(call.t, knobs.batch_seconds)
        scores = np.empty(call.n)
        ex_at = np.searchsorted(
            found.row, np.arange(call.n + 1)
        )  # examples of rows [i, j): ex_at[i]:ex_at[j]
        batch = self._open
        open_slot, open_rows = (None, 0) if batch is None else (batch.slot, batch.rows)
        cuts = pieces(slot, open_slot, open_rows, knobs.batch_size)
        grouped = PieceGroups.of(cuts, aid, call.ip_of, humanlike, label, len(SOURCES))
        for k, (i, j, opens) in enumerate(cuts):
            batch = self._open
            if opens or batch is None:
                self._close()
                batch = self._start(int(slot[i]), float(call.t[i]))
            z = parts.logit(slice(i, j), self.scorer.table, self._epoch)
            p = 1.0 - (1.0 - sigmoid(np.asarray(z))) * (1.0 - campaign[i:j])
            scores[i:j] = p
            # noted per piece: upkeep between micro-batches keeps a raise while its client has a score
            self.campaigns.note_scores(call.ip[i:j], call.ua[i:j], call.t[i:j], p)
            self._add(batch, call, i, j, k, grouped, parts, p, found, ex_at)
        return scores

    def _start(self, slot: int, t: float) -> OpenBatch:
        """Open the micro-batch of ``slot``; publish first if the delta interval has passed."""
        self._publisher.start(t, self.counters)
        if self._publisher.maybe(t, self.counters):
            self._epoch += 1
        self._open = OpenBatch(slot, t, t)
        return self._open

    def _add(
        self, batch: OpenBatch, call: Call, i: int, j: int, k: int, grouped: PieceGroups, parts: PartIds,
        p: np.ndarray, found: Examples, ex_at: np.ndarray,
    ) -> None:  # fmt: skip
        """Add piece ``k`` (rows ``[i, j)``, scored ``p``) to the open batch: its examples and each
        actor's counts (grouped for the whole call; only the score sums are the piece's own)."""
        batch.rows += j - i
        batch.last = float(call.t[j - 1])
        a, b = int(ex_at[i]), int(ex_at[j])
        if b > a:
            batch.parts.extend(found.parts[a:b])
            batch.ys.extend(found.y[a:b].tolist())
            batch.times.extend(found.t[a:b].tolist())
            batch.sources.extend(found.source[a:b])
            batch.uids.extend(found.uid[a:b].tolist())
        g0, g1 = int(grouped.at[k]), int(grouped.at[k + 1])
        inverse = grouped.inverse[i:j] - g0
        high = np.bincount(inverse, p > self.stream.rules.threshold, minlength=g1 - g0).tolist()
        psum = np.bincount(inverse, p, minlength=g1 - g0).tolist()
        groups, actor_ctx, labelled = batch.groups, self._actors.ctx, grouped.labels
        max_ips, ip_at, ip_rows = self.stream.rules.max_ips, grouped.ip_at, grouped.ip_rows
        ip_infos, ip_of, ips = call.ip_infos, grouped.ip_of, call.ip
        for g in range(g0, g1):
            actor, r = grouped.actor[g], grouped.last[g]
            counts = groups.get(actor)
            if counts is None:
                ctx = actor_ctx[actor]
                assert ctx is not None  # every actor of a call has its fixed keys (ActorTable.ids)
                counts = groups[actor] = GroupCounts(ctx.sig_keys, agent=call.ua[r])
            counts.n += grouped.n[g]
            counts.high += high[g - g0]
            counts.psum += psum[g - g0]
            counts.human += grouped.human[g]
            for code, count in labelled.get(g, ()):
                source = SOURCES[code]
                counts.labels[source] = counts.labels.get(source, 0) + count
            counts.last = parts.of(r)
            for q in ip_rows[ip_at[g] : ip_at[g + 1]]:
                if len(counts.ips) < max_ips:
                    counts.ips.add(ips[q])
                    counts.nets.add(ip_infos[ip_of[q]].net)

    def _close(self) -> None:
        """Train the open micro-batch, credit its signature counts, and do the upkeep."""
        batch, self._open = self._open, None
        if batch is None:
            return
        now = max(batch.last, self.clock)
        if batch.parts:
            ys = np.asarray(batch.ys, dtype=bool)
            uids = np.asarray(batch.uids, dtype=np.int64)
            self._trainer.learn(
                self.trainer,
                batch.parts,
                ys,
                batch.times,
                batch.sources,
                uids,
                now,
                self.counters,
                self.train_hook,
            )
        groups = batch.signature_groups()
        self.book.add_groups(groups, now, self.scorer.weight, self.scorer.table.index.__contains__)
        self._maintain(now)

    def flush(self) -> None:
        """Train the open micro-batch now: a finite stream ends here (tests, one-off replays).

        A scan does not flush: the last micro-batch of its log stays open, as it does for a watch
        that followed the same log, so both hold the same state.
        """
        self._close()

    # -- deltas and maintenance --------------------------------------------------------------
    def publish(self, now: float | None = None) -> int:
        """Apply the trainer's changed rows to the scorer now; return the delta's size."""
        self._epoch += 1
        return self._publisher.publish(self.clock if now is None else now, self.counters)

    def share_deltas(self, sink: Callable[[Delta], None] | None) -> None:
        """Hand every publication's delta to ``sink`` too (other workers' scorers apply it)."""
        self._publisher.sink = sink

    def apply_peer_delta(self, delta: Delta) -> None:
        """Another worker's published rows, into the scorer (values: applying one twice is harmless).

        Only the scorer takes them: this worker's trainer keeps learning from its own lines, and
        its next delta overwrites the rows it learned itself (last publication wins per key).
        """
        self.scorer.table.apply_delta(delta, self.clock)
        self._epoch += 1  # the scorer's weights changed: cached part sums are stale

    def _maintain(self, now: float) -> None:
        """Halve the admission sketch every ``sketch_age_every`` seconds; sweep expiry every
        ``maintenance_every`` micro-batches."""
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
        self.campaigns.expire(now)
        self.counters.expired_unlabelled += self._actors.expire(now)

    # -- outputs -----------------------------------------------------------------------------
    def candidates(self) -> list[RuleCandidate]:
        """Signatures that qualify now (support, lower bound, no good-bot/human/allowlist overlap)."""
        return self.book.candidates(self.scorer.explain_many, self.scorer.weight)

    def fit_clients(self, clients: pl.DataFrame) -> ClientScores:
        """Learn from one event per judged client (a scan's totals, CLIENT_SCHEMA) in time order,
        then score every client (:mod:`botguard.model._clientpass`): a scan's scores at a small
        fraction of the cost of replaying its requests."""
        return fit_clients(self, clients, self.settings)

    def raises(self) -> dict[tuple[str, str], ClientRaise]:
        """Clients raised by a campaign signature now, by (ip, user agent)."""
        return self.campaigns.raised()

    def explain(self, event: Mapping[str, Any], top: int = 5) -> list[tuple[str, float]]:
        """Top feature contributions to the scorer's logit for one event (FeatureExtractor fields)."""
        return self.scorer.explain_one(self.features.featurize(event))[:top]

    def score(self, event: Mapping[str, Any]) -> float:
        """The scorer's probability for one event (FeatureExtractor fields), without learning."""
        return float(self.scorer.predict_proba_many([self.features.featurize(event)])[0])

    # -- snapshots ---------------------------------------------------------------------------
    def snapshot(self, directory: str | os.PathLike[str]) -> Path:
        """Write the whole learner state atomically: a complete snapshot directory or nothing
        (:mod:`botguard.model.snapshot`); a crash at any point leaves one :meth:`restore` reads."""
        self._expire_idle(self.clock)  # what memory would forget anyway is not written
        state = snap.StreamState(
            self.clock, self.counters, self._batches, self._last_age, self.actors,
            _open_to_json(self._open, self._actors), self.campaigns.to_json(),
        )  # fmt: skip
        target = snap.write(directory, self.trainer, self.scorer, self.book, state)
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
        """A learner in the state of the last complete snapshot at ``directory`` (or of the previous
        one, when a crash interrupted the last)."""
        learner = cls.from_config(config, robots=robots, state=state, settings=settings)
        learner.load(snap.complete(Path(directory)))
        return learner

    def load(self, directory: Path) -> None:
        """Replace this learner's state with a snapshot's."""
        state = snap.read(directory, self.trainer, self.scorer, self.book, self.catalog)
        self.clock, self.counters = state.clock, state.counters
        self._batches, self._last_age = state.batches, state.last_age
        self._actors.load(state.actors)
        self._open = _open_from_json(state.open_batch, self._actors)
        self.campaigns.load_json(state.campaigns)
        self._epoch += 1


def _behaviour(call: Call, f: Folded) -> dict[str, np.ndarray]:
    """Each request's actor behaviour up to it (call order), raw and bucketed as the features read it."""
    order = f.order

    def unsort(values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[order] = values
        return out

    c = f.counts
    n = unsort(c["requests"]).astype(np.float64)
    assets = unsort(c["assets"])
    return {
        "requests": n,
        "pages": unsort(c["pages"]),
        "assets": assets,
        "disallowed": unsort(c["disallowed"]),
        "honeypot": unsort(c["honeypot"]),
        **behaviour_buckets(n, call.t - unsort(f.first), assets, unsort(c["invalid"])),
        "robots": (unsort(f.robots_first) == 1).astype(np.int64),
        "ref": call.has_ref.astype(np.int64),
    }


def _open_to_json(batch: OpenBatch | None, actors: ActorTable) -> dict[str, Any] | None:
    """The open micro-batch as JSON (its actors by key: ids are not kept across a restore)."""
    if batch is None:
        return None
    return {
        "slot": batch.slot,
        "first": batch.first,
        "last": batch.last,
        "rows": batch.rows,
        "examples": [
            [[list(p) for p in parts], y, t, source, uid]
            for parts, y, t, source, uid in zip(batch.parts, batch.ys, batch.times, batch.sources, batch.uids)
        ],
        "groups": [
            {
                "actor": list(actors.keys[aid]),  # type: ignore[arg-type]
                "keys": list(g.keys),
                "n": g.n,
                "high": g.high,
                "psum": g.psum,
                "human": g.human,
                "labels": g.labels,
                "ips": sorted(g.ips),
                "nets": sorted(g.nets),
                "agent": g.agent,
                "last": [list(p) for p in g.last],
            }
            for aid, g in batch.groups.items()
            if actors.keys[aid] is not None
        ],
    }


def _open_from_json(data: Mapping[str, Any] | None, actors: ActorTable) -> OpenBatch | None:
    if data is None:
        return None
    batch = OpenBatch(data["slot"], data["first"], data["last"], data["rows"])
    for parts, y, t, source, uid in data["examples"]:
        batch.parts.append(tuple(tuple(p) for p in parts))
        batch.ys.append(y)
        batch.times.append(t)
        batch.sources.append(source)
        batch.uids.append(uid)
    for g in data["groups"]:
        aid = actors.index.get(tuple(g["actor"]))
        if aid is None:
            continue
        counts = (g["n"], g["high"], g["psum"], g["human"], dict(g["labels"]), set(g["ips"]), set(g["nets"]))
        batch.groups[aid] = GroupCounts(
            tuple(g["keys"]), *counts, g["agent"], tuple(tuple(p) for p in g["last"])
        )
    return batch
