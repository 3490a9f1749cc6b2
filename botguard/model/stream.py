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
from botguard.model import snapshot as snap
from botguard.model._actors import Actor, Actors
from botguard.model._batcher import Walker, columns, cuts
from botguard.model._join import LabelJoin
from botguard.model._keys import RequestKeys
from botguard.model._publish import Publisher
from botguard.model.features import FeatureExtractor
from botguard.model.labels import Labeler
from botguard.model.learner import OnlineLR
from botguard.model.records import Delta, LearnerConfig, RuleCandidate, SlotPolicy, StreamCounters
from botguard.model.signatures import CandidateRules, SignatureBook
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


class StreamLearner:
    """Trainer + scorer in one process; see the module docstring and botguard/model/README.md.

    It composes parts with one job each and runs the loop: ``_batcher`` (micro-batches and the
    walk through them), ``_keys`` (memoised feature keys), ``_actors`` (per-actor state with a
    TTL), ``_join`` (the label join window, masked training), ``_groups`` (signature stats per
    micro-batch), ``_publish`` (trainer -> scorer deltas) and :mod:`botguard.model.snapshot`.
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
        self.book = SignatureBook(knobs.rules)
        self.counters = StreamCounters()
        self.clock = 0.0
        # tests, benches: called with (times, labels, sources, xs) of each trained batch
        self.train_hook: Any = None
        self._keys = RequestKeys(self.features, self.catalog, asn_db)
        self._actors = Actors(
            ttl=knobs.actor_ttl, ranges=self.ranges, robots=robots, honeypots=settings.honeypots,
            min_seconds_per_page=settings.human.min_seconds_per_page,
        )  # fmt: skip
        self._join = LabelJoin(
            self.labeler, window=knobs.join_window, max_pending=knobs.max_pending,
            max_per_minute=knobs.max_train_per_actor_minute,
        )  # fmt: skip
        self._publisher = Publisher(self.trainer, self.scorer, knobs.delta_interval)
        self._walker = Walker(self._keys, self._actors, self._join, knobs.rules.max_ips)
        self._batches = 0
        self._last_age: float | None = None

    @property
    def actors(self) -> dict[tuple[str, str], Actor]:
        """The actors within their TTL, keyed by (IP or IPv6 /64, user agent)."""
        return self._actors.table

    @property
    def robots(self) -> Any:
        """Callable host -> RobotsTxt | RobotsTimeline | None (scan.RobotsSources), or None."""
        return self._actors.robots

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
        cols = columns(requests)
        self._keys.prepare(cols["user_agent"], cols["ip"])
        scores = np.empty(requests.height)
        for start, stop in cuts(cols["time"], self.stream.batch_size, self.stream.batch_seconds):
            scores[start:stop] = self._micro_batch(cols, start, stop)
        return pl.Series("score", scores, dtype=pl.Float64)

    def _micro_batch(self, cols: dict[str, list[Any]], start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of the call's columns: walk them (actor state, labels, keys), then
        score, learn and fold signature stats once for the whole micro-batch."""
        counters = self.counters
        batch = self._walker.walk(cols, start, stop, self.clock, counters)
        self._publisher.start(batch.times[0], counters)  # the delta interval starts with the stream
        now = self.clock = max(batch.times[-1], self.clock)
        scores = self.scorer.predict_proba_keys(batch.keys, batch.lens)  # first, with the scorer's weights
        if batch.train:
            self._join.learn(self.trainer, batch.train, now, counters, self.train_hook)
        counters.events += len(batch.times)
        folded = batch.groups.fold(scores, self.stream.rules.threshold, batch.keys, batch.lens, batch.offsets)
        self.book.add_groups(folded, now, self.scorer.weight, self.scorer.table.index.__contains__)
        self._publisher.maybe(now, counters)
        self._maintain(now)
        return scores

    # -- deltas and maintenance --------------------------------------------------------------
    def publish(self, now: float | None = None) -> int:
        """Apply the trainer's changed rows to the scorer now; return the delta's size."""
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
        self.counters.expired_unlabelled += self._actors.expire(now)

    # -- outputs -----------------------------------------------------------------------------
    def candidates(self) -> list[RuleCandidate]:
        """Signatures that qualify now (support, lower bound, no good-bot/human/allowlist overlap)."""
        return self.book.candidates(self.scorer.explain_many, self.scorer.weight)

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
        state = snap.StreamState(self.clock, self.counters, self._batches, self._last_age, self.actors)
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
        self._actors.table = state.actors
