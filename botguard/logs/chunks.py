"""Chunks of followed lines -> request batches, with the parsers the scan uses.

``botguard watch`` reads logs as they grow (:mod:`botguard.logs.follow` hands out chunks of whole
lines); this turns each chunk into a :class:`~botguard.logs.records.Batch` exactly as
:func:`~botguard.logs.read_batches` would parse the same lines, line numbers of the file included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import polars as pl

from botguard.errors import InputError
from botguard.logs import detect_block_format, header_check, parse_block
from botguard.logs.formats import FORMATS, LogFormat, resolve_format
from botguard.logs.records import Batch, ParseStats

__all__ = ["ChunkParser", "LineBlock"]


class LineBlock(Protocol):
    """Whole lines from one source: a followed file's chunk, or entries read from a bus."""

    @property
    def path(self) -> str: ...
    @property
    def data(self) -> bytes: ...
    @property
    def first_line_no(self) -> int: ...
    @property
    def lines(self) -> int: ...


class ChunkParser:
    """Chunks of lines -> request batches, with the scan's parsers (never raises on content).

    The format is fixed (``log_format``) or detected per watched path from its first lines
    that any format reads; detection is retried on the next chunk until it succeeds, and
    unreadable chunks meanwhile are counted as malformed. The first chunk a path's format reads
    is checked once for a referer and agent that format drops (:func:`~botguard.logs.header_check`):
    a warning in that batch's stats, for a fixed format too (a running watch does not stop on
    content; a scan refuses a pinned one).
    """

    def __init__(self, log_format: str | None = None, json_fields: Mapping[str, str] | None = None) -> None:
        self._fixed: LogFormat | None = resolve_format(log_format, json_fields) if log_format else None
        self._json_fields = dict(json_fields or {})
        self._detected: dict[str, LogFormat] = {}
        self._checked: set[str] = set()  # paths whose first read chunk was checked for dropped headers

    def parse(self, chunk: LineBlock) -> Batch:
        """The chunk's lines as one batch (rows carry the watched path and the file's line numbers)."""
        fmt = self._fixed or self._detected.get(chunk.path)
        remember = False
        if fmt is None:
            try:
                fmt, remember = detect_block_format(chunk.data, chunk.path, self._json_fields or None), True
            except InputError:  # nothing readable yet: count the lines as malformed
                fmt = FORMATS["combined"]
        batches = list(parse_block(fmt, chunk.data, chunk.path, chunk.first_line_no, chunk.lines + 1))
        batch = batches[0] if len(batches) == 1 else _merge(batches)
        if remember and batch.stats.parsed:
            self._detected[chunk.path] = fmt
        if batch.stats.parsed and chunk.path not in self._checked:
            self._checked.add(chunk.path)
            said = header_check(chunk.data, chunk.path, fmt, self._json_fields or None, pinned=False)
            batch.stats.warnings.extend([said] if said else [])
        return batch


def _merge(batches: list[Batch]) -> Batch:
    stats = ParseStats()
    for batch in batches:
        stats.merge(batch.stats)
    return Batch(pl.concat([batch.requests for batch in batches]), stats)
