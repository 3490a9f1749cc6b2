"""The facts of a batch's few new (robots.txt unit, target) pairs, in plain Python.

After a scan's first batches, each batch brings the pair book (:mod:`._pairs`) a handful of
new pairs (the 1M-line bench log: 0-7 in most of its 29 batches). Working their facts out with
polars queries (``aggregate._pair_facts``, ``_verdicts``, a join) costs ~4 ms per batch however
few they are (a query's fixed cost, ~0.1-0.4 ms each); a loop over a few strings costs
microseconds. :func:`few_pair_facts` gives the same facts, for the pairs it takes: at most
:data:`FEW_PAIRS`, every target ASCII or null. Why ASCII: the polars expressions are Rust
regexes, whose case folding differs from Python's outside ASCII (``(?i)i`` matches ``ı`` in
Python, not in Rust); on ASCII text the two read the patterns alike (``$`` read as ``\\Z``:
Python's ``$`` also matches before a final newline). Any other batch goes the polars way, which
stays the oracle (tests/judge/test_few_pairs.py compares them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from botguard.judge.columns import ASSET_RE, ROBOTS_RE
from botguard.judge.timeline import QUERY_RE

__all__ = ["FEW_PAIRS", "FewFacts", "few_pair_facts", "takes_few"]

#: Batches with at most this many new pairs take the plain-Python way.
FEW_PAIRS = 256

#: The flags' bits, as ``_rowfold.pair_flags`` packs them (``F_*`` in _fold.c).
_ROBOTS, _ASSET, _ASKED, _REFUSED, _TRAP = 1, 2, 4, 8, 16


def _python_regex(pattern: str) -> re.Pattern[str]:
    """A polars (Rust) pattern for Python's ``re``, on ASCII text: only ``$`` reads otherwise."""
    return re.compile(pattern.replace("$", r"\Z"))


_ROBOTS_PY = _python_regex(ROBOTS_RE)
_ASSET_PY = _python_regex(ASSET_RE)
_QUERY_PY = _python_regex(QUERY_RE)

#: Judges one unit's targets: (unit, targets) -> for each target, the deciding rule's
#: (line, text) where it is refused, None where allowed.
Judge = Callable[[int, list[str]], list["tuple[int | None, str] | None"]]


@dataclass(frozen=True, slots=True)
class FewFacts:
    """What the pair book learns of new pairs (see ``PairBook.learn``): flags (uint8), the
    refusing rules, None where not refused, and paths (the target without its query)."""

    flags: np.ndarray
    rules: list[tuple[int | None, str] | None]
    paths: list[str | None]


def takes_few(targets: Sequence[str | None]) -> bool:
    """Whether :func:`few_pair_facts` takes these new pairs' targets (see the module's docstring)."""
    return len(targets) <= FEW_PAIRS and all(t is None or t.isascii() for t in targets)


def few_pair_facts(
    units: Sequence[int], targets: Sequence[str | None], honeypots: tuple[str, ...], judge: Judge
) -> FewFacts:
    """The facts of these pairs (each unit and its target; ``takes_few`` of the targets), each
    asked one judged by ``judge``, once per unit, in the order the units first appear."""
    flags = np.zeros(len(targets), np.uint8)
    asked: dict[int, list[int]] = {}
    for at, (unit, text) in enumerate(zip(units, targets, strict=True)):
        if text is None:
            continue
        robots = _ROBOTS_PY.search(text) is not None
        flags[at] = (
            _ROBOTS * robots
            | _ASSET * (_ASSET_PY.search(text) is not None)
            | _TRAP * any(text.startswith(prefix) for prefix in honeypots)
        )
        if not robots and unit >= 0:
            flags[at] |= _ASKED
            asked.setdefault(unit, []).append(at)
    rules: list[tuple[int | None, str] | None] = [None] * len(targets)
    for unit, rows in asked.items():
        for at, rule in zip(rows, judge(unit, [targets[r] or "" for r in rows]), strict=True):
            if rule is not None:
                rules[at] = rule
                flags[at] |= _REFUSED
    paths = [None if t is None else _QUERY_PY.sub("", t, count=1) for t in targets]
    return FewFacts(flags, rules, paths)
