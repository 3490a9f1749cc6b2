"""Model: an online, explainable crawler-signature learner (issue 6, model core).

Public door: :class:`OnlineLR` (River dialect: ``learn_one``/``predict_proba_one``, plus numpy
micro-batches), its collisionless :class:`ParamTable` (admission, expiry, deltas, atomic
snapshots) and :class:`FeatureExtractor` (event dict → ``"slot=value"`` features).
"""

from __future__ import annotations

from botguard.model.features import UA_SLOTS, FeatureExtractor
from botguard.model.learner import BIAS, OnlineLR
from botguard.model.records import Delta, LearnerConfig, SlotPolicy
from botguard.model.table import CountMinSketch, ParamTable

__all__ = [
    "BIAS",
    "UA_SLOTS",
    "CountMinSketch",
    "Delta",
    "FeatureExtractor",
    "LearnerConfig",
    "OnlineLR",
    "ParamTable",
    "SlotPolicy",
]
