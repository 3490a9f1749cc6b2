"""Decisions as JSON values: the edge format of a decision set that leaves this machine (a
``deploy-rules`` run sends its decisions to botguard on each host, which renders its own files).

Read strictly: whoever wrote the values may be hostile (a compromised deploy host), so each
field must have its type, an action and match kind botguard knows, an agent the renderers can
write (:func:`botguard.render` escapes it; text that is not bytes is refused here) and pass
:func:`~botguard.decide.store.rule_problem`, the check every stored decision passes: a set this
reads is one a deploy-rules run of the same botguard could have made. Anything else is one
:class:`~botguard.errors.InputError` naming the value, and nothing of the set is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from botguard.decide.records import ACTIONS, KINDS, SOURCES, Decision, DecisionSet, Match
from botguard.decide.store import rule_problem
from botguard.errors import InputError
from botguard.text import printable

__all__ = ["decisions_from_values", "decisions_values"]

_FIELDS = frozenset(
    (
        "action",
        "kind",
        "value",
        "ip",
        "reasons",
        "source",
        "first_seen",
        "last_seen",
        "expires_at",
        "offences",
    )
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def decisions_values(decisions: DecisionSet) -> list[dict[str, Any]]:
    """One JSON object per decision, every field of the record (a JSON text's strings may hold
    any code point: an agent's non-UTF-8 bytes travel as their surrogate escapes)."""
    return [
        {
            "action": d.action,
            "kind": d.match.kind,
            "value": d.match.value,
            "ip": d.match.ip,
            "reasons": list(d.reasons),
            "source": d.source,
            "first_seen": _iso(d.first_seen),
            "last_seen": _iso(d.last_seen),
            "expires_at": _iso(d.expires_at),
            "offences": d.offences,
        }
        for d in decisions.decisions
    ]


def decisions_from_values(values: object, source: str) -> DecisionSet:
    """The decision set :func:`decisions_values` wrote, strictly checked (``source`` names where
    it came from in the error)."""
    if not isinstance(values, list):
        raise InputError(f"{source}: decisions: expected a list, got {type(values).__name__}")
    return DecisionSet.of([_decision(value, f"{source}: decisions[{i}]") for i, value in enumerate(values)])


def _decision(value: object, where: str) -> Decision:
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected an object, got {type(value).__name__}")
    if missing := sorted(_FIELDS - value.keys()):
        raise InputError(f"{where}: no {missing[0]!r}")
    if unknown := sorted(set(value) - _FIELDS):
        raise InputError(f"{where}: unknown field {printable(str(unknown[0]), 60)!r}")
    action = _choice(value["action"], ACTIONS, f"{where}.action")
    kind = _choice(value["kind"], KINDS, f"{where}.kind")
    ip = value["ip"]
    if (kind == "client") != isinstance(ip, str) or (ip is not None and not isinstance(ip, str)):
        raise InputError(f"{where}.ip: a client match has an address, no other match has one")
    decision = Decision(
        action,  # type: ignore[arg-type]
        Match(kind, _text(value["value"], f"{where}.value"), ip),  # type: ignore[arg-type]
        tuple(_text(r, f"{where}.reasons") for r in _list(value["reasons"], f"{where}.reasons")),
        _choice(value["source"], SOURCES, f"{where}.source"),
        _time(value["first_seen"], f"{where}.first_seen"),
        _time(value["last_seen"], f"{where}.last_seen"),
        _time(value["expires_at"], f"{where}.expires_at"),
        _count(value["offences"], f"{where}.offences"),
    )
    if problem := rule_problem(decision):
        raise InputError(f"{where}: no rule may carry it ({problem})")
    return decision


def _choice(value: object, choices: Sequence[str], where: str) -> str:
    if not isinstance(value, str) or value not in choices:
        shown = printable(value, 60) if isinstance(value, str) else type(value).__name__
        raise InputError(f"{where}: {shown!r} is not one of {', '.join(choices)}")
    return value


def _text(value: object, where: str) -> str:
    """A string whose bytes a rule can be written for: code points, or the surrogate escapes of a
    log's non-UTF-8 bytes; a lone surrogate of any other kind stands for no byte at all."""
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a string, got {type(value).__name__}")
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InputError(f"{where}: a string holds a lone surrogate that is no byte") from None
    return value


def _list(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _time(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return datetime.fromisoformat(value)
    except ValueError:
        pass
    raise InputError(f"{where}: expected an ISO 8601 time or null")


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{where}: expected an integer >= 1")
    return value
