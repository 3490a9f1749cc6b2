"""Joining the workers' partials on the machine that asked: in log order, with the same merge
the single-machine scan uses (:func:`~botguard.judge.merge_all`)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace

from botguard.engines.records import EngineError, Piece, PieceResult
from botguard.judge import Partial, merge_all
from botguard.judge.partial import partial_from_bytes
from botguard.logs import ParseStats, format_warning
from botguard.logs.formats import resolve_format

__all__ = ["joined"]


def joined(
    pieces: Sequence[Piece], results: Sequence[PieceResult], json_fields: Mapping[str, str] | None
) -> Partial:
    """The partial of every piece's lines in log order: the partial of the whole scan.

    What a piece cannot know is put right here: its malformed-line examples are numbered from
    the start of its file (the lines of the pieces before it), and a file cut in pieces gets
    the "most lines are malformed" warning its whole would get.
    """
    found = {(result.file, result.index): result for result in results}
    parts: list[Partial] = []
    for _, group in itertools.groupby(pieces, key=lambda piece: piece.file):
        parts.extend(_file_parts(list(group), found, json_fields))
    return merge_all(parts)


def _file_parts(
    pieces: list[Piece], found: Mapping[tuple[int, int], PieceResult], json_fields: Mapping[str, str] | None
) -> list[Partial]:
    """The partials of one file's pieces in order, then its warning (a file cut in pieces)."""
    parts: list[Partial] = []
    counts = ParseStats()
    for piece in pieces:
        result = found.get((piece.file, piece.index))
        if result is None:
            raise EngineError(
                f"{piece.path}: the engine returned no result for bytes {piece.start}-{piece.end}"
            )
        if result.error is not None:
            raise EngineError(result.error)
        try:
            part = partial_from_bytes(result.partial)
        except ValueError as exc:
            raise EngineError(f"{piece.path}: a worker's partial could not be read ({exc})") from None
        parts.append(replace(part, stats=part.stats.shifted(counts.lines)) if counts.lines else part)
        counts.merge(part.stats)
    first = pieces[0]
    if not first.whole and first.log_format is not None:
        fmt = resolve_format(first.log_format, json_fields)
        warning = format_warning(first.path, fmt, counts, json_fields)
        if warning is not None:
            parts.append(Partial(stats=ParseStats(warnings=[warning])))
    return parts
