"""Decide stage: scan verdicts + policy -> a :class:`DecisionSet` every renderer can enforce.

``build_decisions`` is pure (scan document, catalogue lookup, allowlist, policy);
``record_decisions`` merges it into the state database with expiry and fail2ban-style
escalation and returns the decisions active now. ``blockable_name`` is the one judge of a name
its sender chose (a bot's own token in its agent, a model candidate's) that a user-agent rule may
block by (over ``safety.safe_ua_token``, which judges every token); ``matches``
the one answer to whether a rule's match applies to a client (dry runs, the scan's model step);
``decisions_values`` / ``decisions_from_values`` a decision set as JSON values and back, strictly
checked (what deploy-rules sends botguard on a host).
See ``README.md`` beside this file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# Bound here, not on first use: the name is its module's too, which an import would bind over it.
from botguard.decide.catalog_lookup import catalog_lookup
from botguard.loading import lazy_attribute

if TYPE_CHECKING:
    from botguard.decide.agents import blockable_name
    from botguard.decide.build import allow_decisions, build_decisions, covered_by_allowlist, judged_subjects
    from botguard.decide.match import matches
    from botguard.decide.records import Decision, DecisionSet, Match
    from botguard.decide.store import active_decisions, merge_decisions, record_decisions
    from botguard.decide.values import decisions_from_values, decisions_values

__all__ = [
    "Decision", "DecisionSet", "Match", "active_decisions", "allow_decisions", "blockable_name",
    "build_decisions", "catalog_lookup", "covered_by_allowlist", "decisions_from_values",
    "decisions_values", "judged_subjects", "matches", "merge_decisions", "record_decisions",
]  # fmt: skip

#: Each name's module. A scan's model step takes ``Match`` and ``matches`` from this door and
#: needs neither the decision store nor its checks: each module is imported on first use (PEP 562).
_HOMES = {
    "blockable_name": "agents", "allow_decisions": "build", "build_decisions": "build",
    "judged_subjects": "build", "covered_by_allowlist": "build", "matches": "match",
    "Decision": "records",
    "DecisionSet": "records", "Match": "records", "active_decisions": "store", "merge_decisions": "store",
    "record_decisions": "store", "decisions_from_values": "values", "decisions_values": "values",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """A door name, its module imported now."""
    return lazy_attribute(__name__, _HOMES, name)
