"""Find the literal text a regex cannot match without, so most patterns are never run.

The catalogue holds thousands of regexes; running each against each user agent would cost
seconds per scan. Instead every pattern is reduced to a small set of lower-case literals, one of
which must occur in any string it matches; a multi-string search finds those literals in one
pass and only the patterns whose literal occurred are run. The same walk yields a specificity
score (how many literal characters a match pins down), used to prefer ``Googlebot-Image`` over
``Googlebot``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The regex parser is private (its public alias, sre_parse, is deprecated); botguard needs 3.11+.
from re import _constants as _c  # type: ignore[attr-defined]
from re import _parser as _sre  # type: ignore[attr-defined]

#: Literals shorter than this would match nearly every user agent; such patterns are always run.
MIN_LITERAL = 2

#: Most catalogue patterns are plain text with escaped punctuation (``Googlebot\/``, ``^Aether``),
#: optionally with word boundaries at their ends (``\bButterfly\b``): those are handled without
#: the (slow, ~50 us) regex parser.
_PLAIN = re.compile(r"(?P<start>\^|\\b)?(?P<body>(?:[^\\\[\]().*+?{}|^$]|\\[^A-Za-z0-9])+)(?P<end>\$|\\b)?")
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a pattern needs: one of ``literals`` must occur; ``score`` literal chars are pinned."""

    literals: frozenset[str] | None
    score: int


def requirement(pattern: str) -> Requirement:
    """Return the literals one of which every match of ``pattern`` contains (case-folded)."""
    parts = _plain_parts(pattern)
    if parts is not None:
        text = parts[1].lower()
        return Requirement(frozenset((text,)) if len(text) >= MIN_LITERAL else None, len(text))
    try:
        parsed = _sre.parse(pattern, re.IGNORECASE)
    except re.error:
        return Requirement(None, 0)
    literals, score = _sequence(list(parsed))
    if literals is not None and min(map(len, literals)) < MIN_LITERAL:
        literals = None
    return Requirement(literals, score)


def is_plain(pattern: str) -> bool:
    """Whether ``pattern`` is literal text (so it compiles, and needs no regex engine to analyse)."""
    return _plain_parts(pattern) is not None


@dataclass(frozen=True, slots=True)
class PlainText:
    """A plain pattern as a string test: its lower-case text, ``^``/``$`` anchors, word edges.

    For such a pattern a case-insensitive regex search is exactly a substring (or prefix/suffix)
    test on the lower-cased text, plus, for ``\\b``, a look at the characters either side.
    """

    text: str
    at_start: bool
    at_end: bool
    word_start: bool = False
    word_end: bool = False

    def found_in(self, lowered: str) -> bool:
        """Whether the pattern matches ``lowered`` (the user agent, lower-cased)."""
        text = self.text
        if self.at_start and self.at_end:
            return lowered == text
        if self.at_start:
            return lowered.startswith(text) and self._edges_ok(lowered, 0)
        if self.at_end:
            return lowered.endswith(text) and self._edges_ok(lowered, len(lowered) - len(text))
        at = lowered.find(text)
        while at >= 0:
            if self._edges_ok(lowered, at):
                return True
            at = lowered.find(text, at + 1)
        return False

    def _edges_ok(self, lowered: str, at: int) -> bool:
        """The ``\\b`` edges hold around the occurrence at ``at`` (no word character beside it)."""
        if self.word_start and at > 0 and _is_word(lowered[at - 1]):
            return False
        end = at + len(self.text)
        return not (self.word_end and end < len(lowered) and _is_word(lowered[end]))


def _is_word(char: str) -> bool:
    """What ``\\w`` matches in a ``str`` pattern."""
    return char.isalnum() or char == "_"


def plain_literal(pattern: str) -> PlainText | None:
    """The string test equivalent to an ASCII plain ``pattern`` (case-insensitive), else ``None``."""
    parts = _plain_parts(pattern)
    if parts is None:
        return None
    start, text, end = parts
    if not text.isascii() or len(text) < MIN_LITERAL:
        return None
    return PlainText(
        text.lower(),
        at_start=start == "^",
        at_end=end == "$",
        word_start=start == "\\b",
        word_end=end == "\\b",
    )


def plain_text(pattern: str) -> str | None:
    r"""The text an unanchored plain ``pattern`` looks for, as written (unescaped, case kept).

    A ``\b`` edge only says where the text may stand, so the text is still what every match
    contains; ``^``/``$`` anchored patterns and regexes give ``None`` (their text alone would
    stand for far more agents). Rule tokens for user agents come from here.

    Examples:
        >>> plain_text(r"leakix\.net"), plain_text(r"\bIFTTT\/"), plain_text("Seekport Crawler")
        ('leakix.net', 'IFTTT/', 'Seekport Crawler')
        >>> plain_text(r"^curl$"), plain_text(r"\d+bot"), plain_text(r"\b-x")
        (None, None, None)
    """
    parts = _plain_parts(pattern)
    if parts is None or "^" in parts[0] or "$" in parts[2]:
        return None
    return parts[1]


def _plain_parts(pattern: str) -> tuple[str, str, str] | None:
    """``(start marker, unescaped text, end marker)`` of a plain pattern, else ``None``.

    A ``\\b`` counts only beside a word character, where it means "no word character next to
    it"; elsewhere it means the opposite, which the string test does not do.
    """
    plain = _PLAIN.fullmatch(pattern)
    if plain is None:
        return None
    start, end = plain.group("start") or "", plain.group("end") or ""
    body = plain.group("body")
    # most bodies hold no escape: they skip the substitution (it cost 40 ms of every start-up)
    text = _UNESCAPE.sub(r"\1", body) if "\\" in body else body
    if (start == "\\b" and not _is_word(text[0])) or (end == "\\b" and not _is_word(text[-1])):
        return None
    return start, text, end


def _sequence(items: list) -> tuple[frozenset[str] | None, int]:
    """Walk one concatenation: collect literal runs, keep the most selective requirement."""
    best: frozenset[str] | None = None
    score = 0
    run: list[str] = []

    def close() -> None:
        nonlocal best, score
        if run:
            text = "".join(run)
            score += len(text)
            best = _better(best, frozenset((text,)))
            run.clear()

    for op, av in items:
        char = _literal_char(op, av)
        if char is not None:
            run.append(char)
            continue
        close()
        sub = _sub_requirement(op, av)
        if sub is not None:
            best = _better(best, sub[0])
            score += sub[1]
    close()
    return best, score


def _literal_char(op: object, av: object) -> str | None:
    """The lower-case character an item matches, if it matches exactly one (``a``, ``[aA]``)."""
    if op is _c.LITERAL and isinstance(av, int):
        return chr(av).lower()
    if op is _c.IN and isinstance(av, list) and av and all(o is _c.LITERAL for o, _ in av):
        chars = {chr(v).lower() for _, v in av}
        if len(chars) == 1:
            return chars.pop()
    return None


def _sub_requirement(op: object, av: object) -> tuple[frozenset[str] | None, int] | None:
    """Requirement of a group, alternation or mandatory repeat; ``None`` if it adds nothing."""
    if op is _c.SUBPATTERN:
        return _sequence(list(av[3]))  # type: ignore[index]
    if op is _c.BRANCH:
        return _branch(av[1])  # type: ignore[index]
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:  # type: ignore[index]
        return _sequence(list(av[2]))  # type: ignore[index]
    return None


def _branch(branches: list) -> tuple[frozenset[str] | None, int]:
    """An alternation needs one literal from every branch; its score is the weakest branch's."""
    union: set[str] = set()
    scores = []
    for branch in branches:
        literals, score = _sequence(list(branch))
        if literals is None:
            return None, 0
        union |= literals
        scores.append(score)
    return frozenset(union), min(scores)


def _better(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    """Prefer the requirement whose shortest literal is longest (fewer false candidates)."""
    if a is None:
        return b
    if b is None:
        return a
    return b if min(map(len, b)) > min(map(len, a)) else a
