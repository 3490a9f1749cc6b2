"""Model: an online, explainable crawler-signature learner.

Public door: :class:`ScanReplay` (the model step of a scan: the stream learner replaying the
log, then scores and raises on the judged clients), :class:`StreamLearner` (``botguard watch``:
a live log learned from and turned into rule candidates and campaign raises),
:class:`CandidateStore` (the candidates people review) and their :class:`RuleCandidate` record.
The learner itself is :class:`~botguard.model.learner.OnlineLR` (River dialect: ``learn_one``/
``predict_proba_one``, plus numpy micro-batches) over a collisionless
:class:`~botguard.model.table.ParamTable` (admission, expiry, deltas, atomic snapshots) and
:class:`~botguard.model.features.FeatureExtractor` (event dict → ``"slot=value"`` features).
"""

from __future__ import annotations

from botguard.model.records import RuleCandidate
from botguard.model.replay import ScanReplay
from botguard.model.store import CandidateStore
from botguard.model.stream import StreamLearner

__all__ = ["CandidateStore", "RuleCandidate", "ScanReplay", "StreamLearner"]
