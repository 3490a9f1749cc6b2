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

try:  # Python >= 3.11 keeps the parser private; the public alias is deprecated
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older interpreters
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _sre  # type: ignore[no-redef]

#: Literals shorter than this would match nearly every user agent; such patterns are always run.
MIN_LITERAL = 2

#: Most catalogue patterns are plain text with escaped punctuation (``Googlebot\/``, ``^Aether``):
#: those are handled without the (slow, ~50 us) regex parser.
_PLAIN = re.compile(r"\^?((?:[^\\\[\]().*+?{}|^$]|\\[^A-Za-z0-9])+)\$?")
_UNESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a pattern needs: one of ``literals`` must occur; ``score`` literal chars are pinned."""

    literals: frozenset[str] | None
    score: int


def requirement(pattern: str) -> Requirement:
    """Return the literals one of which every match of ``pattern`` contains (case-folded)."""
    plain = _PLAIN.fullmatch(pattern)
    if plain:
        text = _UNESCAPE.sub(r"\1", plain.group(1)).lower()
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
    return _PLAIN.fullmatch(pattern) is not None


def plain_literal(pattern: str) -> tuple[str, bool, bool] | None:
    """``(lower-case text, anchored at start, anchored at end)`` of an ASCII plain pattern.

    For such a pattern a case-insensitive regex search is exactly a substring (or prefix/suffix)
    test on the lower-cased text, so the matcher never needs to compile it.
    """
    plain = _PLAIN.fullmatch(pattern)
    if plain is None:
        return None
    text = _UNESCAPE.sub(r"\1", plain.group(1))
    if not text.isascii() or len(text) < MIN_LITERAL:
        return None
    return text.lower(), pattern.startswith("^"), pattern.endswith("$") and not pattern.endswith("\\$")


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
    if op is _c.LITERAL:
        return chr(av).lower()  # type: ignore[arg-type]
    if op is _c.IN and av and all(o is _c.LITERAL for o, _ in av):  # type: ignore[union-attr]
        chars = {chr(v).lower() for _, v in av}  # type: ignore[union-attr]
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
