"""Decisions in the state database, so bans outlive one run and expire on their own.

One row per (action, match key); rows are forgotten ``bantime_max`` after their ban ended.
:func:`record_decisions` merges a fresh decision set into the stored one in a single
transaction (see :mod:`botguard.decide.expiry`) and returns what is active now; allow
decisions come from the configuration and are never stored. A challenge goes away with its
verdict: one whose subject the scan judged again, later than the challenge saw it, without
challenging it again, is deleted (:func:`merge_decisions`). A decision no rule may carry
(:func:`rule_problem`: an address no rule may name, an agent no server can match) is never
stored, and one found stored is dropped (:func:`dropped_decisions` says which, for the caller's
warning), so an old or tampered row never stops a deploy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from botguard.addresses import address_problem
from botguard.config import Allowlist, DecideSettings
from botguard.decide.agents import agent_problem
from botguard.decide.build import allow_decisions, covered_by_allowlist
from botguard.decide.expiry import escalate
from botguard.decide.records import Decision, DecisionSet, DroppedDecision, Match
from botguard.state import State

__all__ = [
    "DDL", "Merged", "active_decisions", "active_of", "dropped_decisions", "load_decisions",
    "merge_decisions", "record_decisions", "rule_problem",
]  # fmt: skip

DDL = """
CREATE TABLE IF NOT EXISTS decisions (
    action TEXT NOT NULL,
    match_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    ip TEXT,
    reasons TEXT NOT NULL,
    source TEXT NOT NULL,
    first_seen TEXT,
    last_seen TEXT,
    expires_at TEXT,
    offences INTEGER NOT NULL,
    PRIMARY KEY (action, match_key)
);
"""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _text(value: str) -> str | bytes:
    """A value SQLite can hold: an agent whose log bytes were not UTF-8 (surrogate escapes) is
    stored as those bytes (a BLOB), so it comes back exactly and the rule still matches it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape")
    return value


def _str(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value


def _row(d: Decision) -> tuple[object, ...]:
    return (
        d.action, _text(d.match.key), d.match.kind, _text(d.match.value), d.match.ip,
        json.dumps(list(d.reasons)), d.source, _iso(d.first_seen), _iso(d.last_seen), _iso(d.expires_at),
        d.offences,
    )  # fmt: skip


def rule_problem(decision: Decision) -> str | None:
    """Why no rule may carry this decision, or None: the one check of stored and fresh decisions,
    of its address (:func:`botguard.addresses.address_problem`) and its agent
    (:func:`botguard.decide.agents.agent_problem`)."""
    return address_problem(decision) or agent_problem(decision)


def load_decisions(state: State) -> dict[tuple[str, str], Decision]:
    """Every stored decision a rule may carry, active or expired, by (action, match key).

    Decisions no rule may carry (an older version stored bans on zone ids and loopback
    addresses, agents with CR/LF, tokens today's rules refuse) are left out:
    :func:`dropped_decisions` names them and :func:`record_decisions` deletes them, so one of
    them never stops a deploy.
    """
    return _split(state)[0]


def dropped_decisions(state: State) -> tuple[DroppedDecision, ...]:
    """Stored decisions no rule may carry (see :func:`rule_problem`), with why."""
    return _split(state)[1]


def _split(state: State) -> tuple[dict[tuple[str, str], Decision], tuple[DroppedDecision, ...]]:
    kept: dict[tuple[str, str], Decision] = {}
    dropped: list[DroppedDecision] = []
    for d in sorted(_stored(state), key=lambda d: d.sort_key):
        problem = rule_problem(d)
        if problem:
            dropped.append(DroppedDecision(d, problem))
        else:
            kept[(d.action, d.match.key)] = d
    return kept, tuple(dropped)


def _stored(state: State) -> list[Decision]:
    state.ensure_schema(DDL)
    columns = "action, kind, value, ip, reasons, source, first_seen, last_seen, expires_at, offences"
    return [_decision(*row) for row in state.conn.execute(f"SELECT {columns} FROM decisions")]


def _decision(
    action: str, kind: str, value: str, ip: str | None, reasons: str, source: str, first: str | None,
    last: str | None, expires: str | None, offences: int,
) -> Decision:  # fmt: skip
    return Decision(action, Match(kind, _str(value), ip), tuple(json.loads(reasons)), source,  # type: ignore[arg-type]
                    _time(first), _time(last), _time(expires), offences)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Merged:
    """Stored decisions after a fresh set met them: all of them by (action, match key), the ones
    to write, and the challenges whose verdict went away (to delete)."""

    decisions: dict[tuple[str, str], Decision]
    updates: tuple[Decision, ...]
    withdrawn: tuple[Decision, ...]


def merge_decisions(
    stored: Mapping[tuple[str, str], Decision],
    fresh: DecisionSet,
    now: datetime,
    policy: DecideSettings,
    judged: Mapping[str, datetime],
) -> Merged:
    """``fresh`` merged into ``stored`` (renew / escalate, :func:`~botguard.decide.expiry.escalate`),
    pure: the one merge a deploy and its dry run share.

    ``judged`` maps the match key of each subject the scan judged to when it last saw it
    (:func:`botguard.decide.build.judged_subjects`): a stored challenge of a subject seen after
    the challenge's own evidence, and not challenged again, is withdrawn. A ban is not: it runs
    its time whatever the client does next.
    """
    merged = dict(stored)
    updates = []
    for decision in fresh.decisions:
        if decision.action == "allow" or rule_problem(decision):  # never stored: see load_decisions
            continue
        key = (decision.action, decision.match.key)
        after = escalate(merged.get(key), decision, now, policy)
        if after != merged.get(key):
            updates.append(after)
            merged[key] = after
    again = {d.match.key for d in fresh.decisions if d.action == "challenge"}
    withdrawn = tuple(
        d
        for (action, key), d in merged.items()
        if action == "challenge" and key not in again and _seen_since(judged.get(key), d.last_seen)
    )
    for d in withdrawn:
        del merged[(d.action, d.match.key)]
    return Merged(merged, tuple(updates), withdrawn)


def _seen_since(judged: datetime | None, last_seen: datetime | None) -> bool:
    return judged is not None and (last_seen is None or judged > last_seen)


def record_decisions(
    state: State,
    fresh: DecisionSet,
    now: datetime,
    policy: DecideSettings,
    allowlist: Allowlist,
    judged: Mapping[str, datetime] | None = None,
) -> DecisionSet:
    """Merge ``fresh`` into the stored bans (renew / escalate), withdraw the challenges whose
    verdict went away (``judged``: see :func:`merge_decisions`) and return the active set."""
    stored, dropped = _split(state)
    merged = merge_decisions(stored, fresh, now, policy, judged or {})
    gone = [x.decision for x in dropped] + list(merged.withdrawn)
    with state.transaction() as conn:
        conn.executemany(
            "DELETE FROM decisions WHERE action = ? AND kind = ? AND value = ? AND ip IS ?",
            [(d.action, d.match.kind, _text(d.match.value), d.match.ip) for d in gone],
        )
        conn.executemany(
            "INSERT OR REPLACE INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [_row(d) for d in merged.updates],
        )
        # History is kept for bantime_max after a ban ends (a return within it escalates), then
        # forgotten, so a cron job's database does not grow with every address ever banned.
        conn.execute(
            "DELETE FROM decisions WHERE expires_at < ?", (_iso(now - timedelta(seconds=policy.bantime_max)),)
        )
    return active_of(merged.decisions.values(), now, allowlist)


def active_decisions(state: State, now: datetime, allowlist: Allowlist) -> DecisionSet:
    """Stored bans that have not expired, plus the allowlist."""
    return active_of(load_decisions(state).values(), now, allowlist)


def active_of(decisions: Iterable[Decision], now: datetime, allowlist: Allowlist) -> DecisionSet:
    """Unexpired decisions a rule may carry and the allowlist does not cover, plus the allowlist."""
    live = [
        d for d in decisions
        if (d.expires_at is None or d.expires_at > now) and rule_problem(d) is None
        and not covered_by_allowlist(d, allowlist)
    ]  # fmt: skip
    return DecisionSet.of(live + list(allow_decisions(allowlist)))
