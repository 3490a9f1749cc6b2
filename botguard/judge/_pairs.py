"""A scan's (robots.txt unit, target) pairs, numbered once and kept across batches (the pair book).

The running fold reads each row's pair facts (a robots.txt fetch, an asset, a trap, asked,
refused), its rule's number and its path's number by the pair's number. Numbering a batch's
pairs afresh every batch (``group_ids``), then deriving their facts with polars queries over
the batch's distinct pairs and joining them to the verdicts kept from earlier batches, cost the
1M-line bench log ~0.3 s of CPU; here a pair is looked up in one compiled pass over the batch
(``botguard.judge._fold.book_find``), and only pairs the book has not seen go to polars, once.

:class:`PairNumbers` is the compiled table's pure twin (and its oracle in the tests): a dict.
Both hold at most ``bound`` pairs and ``bytes_bound`` bytes of targets before a batch, and
start over at the start of the next one past either, so memory stays bounded on a log whose
every target is new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import polars as pl

__all__ = ["BookFound", "PairBook", "PairFacts", "PairNumbers"]

#: What looking a batch up gives: each row's pair number, the first row of each pair new to
#: the book (in number order) and whether the book started over (numbers from 0 again).
BookFound = tuple[np.ndarray, np.ndarray, bool]

_IDS = np.uint32


@dataclass(slots=True)
class PairNumbers:
    """The pair book's numbering in Python (the twin of ``_fold.book_find``)."""

    bound: int
    bytes_bound: int
    _numbers: dict[tuple[int, bytes | None], int] = field(default_factory=dict)
    _bytes: int = 0

    def find(self, targets: pl.Series, units: np.ndarray) -> BookFound:
        """Each row's pair number, the first row of each new pair, whether the book started over."""
        if units.dtype != np.int32 or units.ndim != 1 or len(units) != targets.len():
            raise ValueError("PairNumbers.find: one int32 unit per target")
        started_over = len(self._numbers) >= self.bound or self._bytes >= self.bytes_bound
        if started_over:
            self._numbers, self._bytes = {}, 0
        numbers = self._numbers
        ids, fresh = np.empty(len(units), _IDS), []
        texts = targets.cast(pl.Binary).to_list()
        for row, (unit, text) in enumerate(zip(units.tolist(), texts, strict=True)):
            key = (unit, text)
            number = numbers.get(key)
            if number is None:
                number = numbers[key] = len(numbers)
                self._bytes += len(text) if text is not None else 0
                fresh.append(row)
            ids[row] = number
        return ids, np.array(fresh, _IDS), started_over


@dataclass(frozen=True, slots=True)
class PairFacts:
    """What the running fold reads of every pair in the book, by pair number: its flags
    (``F_*`` in _fold.c), its rule's number in the scan (0 where it is not refused), its path's
    number in the book (< ``paths``)."""

    flags: np.ndarray
    rules: np.ndarray
    paths: np.ndarray
    count: int
    path_count: int


class PairBook:
    """The scan's pair book: compiled numbering (or its twin) and each pair's facts beside it.

    ``find`` numbers a batch's rows; the caller works out the facts of the new pairs (polars,
    robots.txt) and hands them to ``learn`` before the batch is folded.
    """

    def __init__(self, native: ModuleType | None, bound: int, bytes_bound: int) -> None:
        self._native = native
        self._state = native.book_new(bound, bytes_bound) if native is not None else None
        self._twin = PairNumbers(bound, bytes_bound) if native is None else None
        self._flags = np.zeros(0, np.uint8)
        self._rules = np.zeros(0, np.uint32)
        self._paths = np.zeros(0, np.uint32)
        self._count = 0
        self._path_numbers: dict[str | None, int] = {}
        self._path_texts: list[str | None] = []

    def find(self, targets: pl.Series, units: np.ndarray) -> BookFound:
        """Each row's pair number (``targets`` and ``units``: int32, one per row), the first row of
        each pair new to the book, and whether the book started over (what it knew is gone)."""
        if self._twin is not None:
            found = self._twin.find(targets, units)
        else:
            assert self._native is not None
            if units.dtype != np.int32:
                raise ValueError("PairBook.find: units must be int32")
            ids, fresh, started_over = self._native.book_find(
                self._state, targets.__arrow_c_stream__(), np.ascontiguousarray(units)
            )
            found = np.frombuffer(ids, _IDS), np.frombuffer(fresh, _IDS), started_over
        if found[2]:
            self._count = 0
            self._path_numbers, self._path_texts = {}, []
        return found

    def learn(self, flags: np.ndarray, rules: np.ndarray, paths: list[str | None]) -> None:
        """The facts of the pairs :meth:`find` found new, in number order: flags (uint8), rule
        numbers (uint32) and paths (the target without its query)."""
        fresh = len(flags)
        if len(rules) != fresh or len(paths) != fresh:
            raise ValueError("PairBook.learn: one flag, rule and path per new pair")
        numbers = self._path_numbers
        texts = self._path_texts
        path_ids = np.empty(fresh, np.uint32)
        for k, path in enumerate(paths):
            number = numbers.get(path)
            if number is None:
                number = numbers[path] = len(texts)
                texts.append(path)
            path_ids[k] = number
        end = self._count + fresh
        if end > len(self._flags):
            size = max(end, 2 * len(self._flags), 256)
            self._flags = _grown(self._flags, size)
            self._rules = _grown(self._rules, size)
            self._paths = _grown(self._paths, size)
        self._flags[self._count : end] = flags
        self._rules[self._count : end] = rules
        self._paths[self._count : end] = path_ids
        self._count = end

    def facts(self) -> PairFacts:
        """The facts of every pair learned (views: valid until the next ``learn``)."""
        n = self._count
        return PairFacts(self._flags[:n], self._rules[:n], self._paths[:n], n, len(self._path_texts))

    def rules_of(self, pairs: np.ndarray) -> np.ndarray:
        """The rule number of each of these pairs."""
        return self._rules[pairs]

    def path_texts(self, numbers: np.ndarray) -> list[str | None]:
        """The path of each of these path numbers."""
        texts = self._path_texts
        return [texts[n] for n in numbers.tolist()]


def _grown(values: np.ndarray, size: int) -> np.ndarray:
    more = np.zeros(size, values.dtype)
    more[: len(values)] = values
    return more
