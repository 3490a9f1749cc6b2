"""``robots generate``: block crawler tokens in a robots.txt, built from a model, never by
editing rendered text.

An existing file is read into a :class:`RobotsDocument`: a preamble (lines before the first
user-agent line) and groups, each keeping its original lines byte for byte and the tokens it
names, grouped exactly as Google groups them. Generation is a pure function of that model and
a :class:`BlockPlan`; rendering writes:

1. the preamble, unchanged;
2. the botguard section between ``# BEGIN botguard`` / ``# END botguard`` markers: one
   ``User-agent: TOKEN`` / ``Disallow: /`` group per blocked token (placed *before* the existing
   groups, so it can never be absorbed into a dangling user-agent line at the end of a file);
3. every existing group, unchanged, except that a ``User-agent`` line naming a blocked token
   is removed (Google merges all groups naming a token, so an old ``Allow:`` would otherwise
   weaken the block; a group left with no user-agent line at all is dropped) and, when asked,
   a ``Content-Signal`` line is put into the first ``*`` group.

Re-running on its own output replaces the previous section (idempotent).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from botguard.errors import UsageError
from botguard.robots import _lexer as lx
from botguard.robots.parser import agent_token

BEGIN = "# BEGIN botguard: crawlers blocked by policy (generated; edits here are overwritten)"
END = "# END botguard"
_TOKEN = re.compile(r"[A-Za-z_-]+")
_SIGNAL = re.compile(r"[a-z][a-z-]*=(?:yes|no)(?:\s*,\s*[a-z][a-z-]*=(?:yes|no))*", re.IGNORECASE)


def validate_token(token: str, source: str = "--agent") -> str:
    """A robots.txt product token is only ``[A-Za-z_-]+``: anything else could inject lines."""
    if not isinstance(token, str) or _TOKEN.fullmatch(token) is None:
        raise UsageError(
            f"invalid robots.txt token {token!r} from {source}: a token is only letters, '_' and '-'"
        )
    return token


def validate_content_signal(value: str) -> str:
    """``search=yes, ai-train=no``: comma-separated ``name=yes|no`` pairs, nothing else."""
    cleaned = value.strip()
    if _SIGNAL.fullmatch(cleaned) is None:
        raise UsageError(f"invalid --content-signal {value!r}: expected e.g. 'search=yes, ai-train=no'")
    return cleaned


@dataclass(frozen=True, slots=True)
class DocGroup:
    """One existing group: its original lines and which of them are user-agent lines."""

    lines: tuple[str, ...]
    agent_lines: tuple[int, ...]  # indices into ``lines``
    tokens: tuple[str | None, ...]  # per agent line: lower-cased token, None for '*'

    @property
    def is_global(self) -> bool:
        return None in self.tokens


@dataclass(frozen=True, slots=True)
class RobotsDocument:
    """An existing robots.txt as a model: preamble lines and groups, original text kept."""

    preamble: tuple[str, ...]
    groups: tuple[DocGroup, ...]
    newline: str = "\n"


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """What to generate: tokens to block (``Disallow: /``) and an optional content signal."""

    tokens: tuple[str, ...]
    content_signal: str | None = None


def read_document(text: str | bytes) -> RobotsDocument:
    """Model an existing robots.txt, dropping a previous botguard section."""
    raw = lx.strip_bom(lx.to_bytes(text))
    newline = "\r\n" if b"\r\n" in raw else "\n"
    lines = _without_section(raw.decode("utf-8", "surrogateescape").splitlines())
    preamble: list[str] = []
    groups: list[DocGroup] = []
    current: list[str] | None = None
    agent_lines: list[int] = []
    tokens: list[str | None] = []
    in_rules = False
    for line in lines:
        kind, value = _classify(line)
        if kind == lx.USER_AGENT and (current is None or in_rules):
            if current is not None:
                groups.append(DocGroup(tuple(current), tuple(agent_lines), tuple(tokens)))
            current, agent_lines, tokens, in_rules = [], [], [], False
        if current is None:
            preamble.append(line)
            continue
        if kind == lx.USER_AGENT:
            token = agent_token(value)
            agent_lines.append(len(current))
            tokens.append(None if token is None else token.lower())
        elif kind in (lx.ALLOW, lx.DISALLOW):
            in_rules = True
        current.append(line)
    if current is not None:
        groups.append(DocGroup(tuple(current), tuple(agent_lines), tuple(tokens)))
    return RobotsDocument(tuple(preamble), tuple(groups), newline)


def _without_section(lines: list[str]) -> list[str]:
    out: list[str] = []
    inside = just_ended = False
    for line in lines:
        if line.startswith("# BEGIN botguard"):
            inside = True
        elif inside and line.startswith(END):
            inside, just_ended = False, True
        elif not inside and not (just_ended and not line.strip()):
            out.append(line)
            just_ended = False
    return out


def _classify(line: str) -> tuple[str | None, bytes]:
    kv = lx.key_value(lx._cap(line.encode("utf-8", "surrogateescape")))
    if kv is None:
        return None, b""
    return lx.key_kind(kv[0]), kv[1]


def plan_document(doc: RobotsDocument, plan: BlockPlan) -> tuple[RobotsDocument, list[str]]:
    """Apply a plan to the model: drop blocked tokens' user-agent lines, add the content signal.

    Returns the new model and human-readable notes on every change to an existing group.
    """
    blocked = {t.lower() for t in plan.tokens}
    notes: list[str] = []
    groups: list[DocGroup] = []
    for group in doc.groups:
        kept = _drop_agents(group, blocked)
        if kept is not group:
            first = group.lines[group.agent_lines[0]].strip()
            if kept is None:
                notes.append(f"removed the group starting '{first}': it named only blocked crawlers")
                continue
            notes.append(f"removed blocked crawlers' User-agent lines from the group starting '{first}'")
        groups.append(kept)
    if plan.content_signal is not None:
        groups, note = _with_signal(groups, plan.content_signal)
        notes += note
    return replace(doc, groups=tuple(groups)), notes


def _drop_agents(group: DocGroup, blocked: set[str]) -> DocGroup | None:
    drop = {i for i, t in zip(group.agent_lines, group.tokens) if t is not None and t in blocked}
    if not drop:
        return group
    if len(drop) == len(group.agent_lines):
        return None
    lines: list[str] = []
    agent_lines: list[int] = []
    tokens: list[str | None] = []
    for index, line in enumerate(group.lines):
        if index in drop:
            continue
        if index in group.agent_lines:
            agent_lines.append(len(lines))
            tokens.append(group.tokens[group.agent_lines.index(index)])
        lines.append(line)
    return DocGroup(tuple(lines), tuple(agent_lines), tuple(tokens))


def _with_signal(groups: list[DocGroup], signal: str) -> tuple[list[DocGroup], list[str]]:
    line = f"Content-Signal: {signal}"
    for position, group in enumerate(groups):
        if not group.is_global:
            continue
        lines = list(group.lines)
        existing = [
            i
            for i, text in enumerate(lines)
            if _classify(text)[0] == "unknown" and text.strip().lower().startswith("content-signal")
        ]
        if existing:
            lines[existing[0]] = line
        else:
            lines.insert(max(group.agent_lines) + 1, line)  # after the user-agent lines: no new group
        groups = groups[:position] + [replace(group, lines=tuple(lines))] + groups[position + 1 :]
        return groups, ["set the Content-Signal line in the first '*' group"]
    return groups + [DocGroup(("User-agent: *", line), (0,), (None,))], []


def robots_text(doc: RobotsDocument, plan: BlockPlan) -> str:
    """The robots.txt text for a planned model (deterministic: tokens sorted, deduplicated)."""
    out = list(doc.preamble)
    unique = {t.lower(): t for t in reversed(plan.tokens)}  # case-insensitive: first spelling wins
    tokens = sorted(unique.values(), key=str.lower)
    if tokens:
        while out and not out[-1].strip():
            out.pop()  # exactly one blank line before the section
        if out:
            out.append("")
        out.append(BEGIN)
        for index, token in enumerate(tokens):
            out += [f"User-agent: {validate_token(token, 'plan')}", "Disallow: /"]
            if index < len(tokens) - 1:
                out.append("")
        out += [END, ""]
    for group in doc.groups:
        out += group.lines
    while out and not out[-1].strip():
        out.pop()
    return doc.newline.join(out) + doc.newline


def generate(
    existing: str | bytes | None, tokens: Iterable[str], content_signal: str | None = None
) -> tuple[str, list[str]]:
    """Block ``tokens`` in ``existing`` (or a new file); returns the text and change notes."""
    plan = BlockPlan(
        tuple(dict.fromkeys(tokens)),
        validate_content_signal(content_signal) if content_signal is not None else None,
    )
    doc = read_document(existing or b"")
    planned, notes = plan_document(doc, plan)
    return robots_text(planned, plan), notes
