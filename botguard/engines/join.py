"""Joining the pieces' partials: consecutive segments into one, with the same merge the
single-machine scan uses (:func:`~botguard.judge.merge_all`), wherever the engine runs it (on
the workers, in a tree) and once more for the root where the scan runs.

What a piece cannot know is put right when the segment holding it is joined to its
neighbour: its malformed-line examples are numbered from the start of its file (the lines of
that file in the segment before it), and a file cut in pieces gets the "most lines are
malformed" warning its whole would get, once all of its pieces are in one segment, after the
file's own warnings. Joining is associative with segments in log order: any tree over the
pieces in order gives the partial of the whole (``tests/engines/test_join.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace

from botguard.engines.records import EngineError, FileCounts, Piece, Segment
from botguard.judge import Partial, merge_all
from botguard.judge.partial import partial_from_bytes, partial_to_bytes
from botguard.logs import ParseStats, format_warning
from botguard.logs.formats import resolve_format

__all__ = ["finish", "join_all"]


def join_all(segments: Sequence[Segment], json_fields: Mapping[str, str] | None) -> Segment:
    """The segment of ``segments``, consecutive and in log order, joined into one (a
    piece's error, the first in log order, stands for the whole)."""
    if not segments:
        raise ValueError("nothing to join")
    _check_order(segments)
    first, last = segments[0], segments[-1]
    seconds, size = sum(s.seconds for s in segments), sum(s.size for s in segments)
    failed = next((s.error for s in segments if s.error is not None), None)
    if failed is not None:
        return Segment(first.first, last.last, b"", FileCounts(), FileCounts(), 0, 0, failed, seconds, size)
    if len(segments) == 1:
        return first
    parts = [_partial(first)]
    edges = first
    for segment in segments[1:]:
        part, edges = _joined_edges(edges, segment, json_fields)
        parts.extend(part)
    merged = merge_all(parts)
    return replace(
        edges,
        partial=partial_to_bytes(merged),
        head_examples=min(edges.head_examples, len(merged.stats.malformed_examples)),
        seconds=seconds,
        size=size,
    )


def _joined_edges(
    done: Segment, segment: Segment, json_fields: Mapping[str, str] | None
) -> tuple[list[Partial], Segment]:
    """``segment``'s partial put right to follow ``done`` (what is joined so far), and the
    edges of the two joined: ``done`` with ``segment``'s last piece, head and tail counts, and
    examples and warnings of the first file (its examples counted before the cap on them).
    ``done.partial`` is not read or written here."""
    first_file = done.first.file == done.last.file  # everything so far is the first file's
    cut = done.last.file == segment.first.file  # a file runs on across this cut
    part = _partial(segment)
    if cut and done.tail.lines:
        part = replace(part, stats=part.stats.shifted(done.tail.lines, segment.head_examples))
    starts = done.first.file != segment.first.file or done.first.index == 0
    ends = segment.last.file != segment.first.file or segment.last.last
    whole = cut and starts and ends  # all of the file's pieces are joined now
    warning = _warning(segment.first, done.tail + segment.head, json_fields) if whole else None
    edges = replace(
        done,
        last=segment.last,
        tail=done.tail + segment.tail if cut and segment.first.file == segment.last.file else segment.tail,
    )
    if first_file and cut:
        edges = replace(
            edges,
            head=done.head + segment.head,
            head_examples=done.head_examples + segment.head_examples,
            head_warnings=done.head_warnings + segment.head_warnings + (warning is not None),
        )
    return _with_warning(part, segment.head_warnings, warning), edges


def _check_order(segments: Sequence[Segment]) -> None:
    for before, after in itertools.pairwise(segments):
        if not _follows(before.last, after.first):
            piece = after.first
            raise EngineError(
                f"{piece.path}: the engine joined bytes {piece.start}-{piece.end} out of log order"
            )


def finish(root: Segment, pieces: Sequence[Piece]) -> Partial:
    """The partial of the whole scan from the segment of all of ``pieces`` (its error, if a
    piece had one, raised as one line)."""
    if root.error is not None:
        raise EngineError(root.error)
    if root.first != pieces[0] or root.last != pieces[-1]:
        piece = pieces[0] if root.first != pieces[0] else pieces[-1]
        raise EngineError(f"{piece.path}: the engine returned no result for bytes {piece.start}-{piece.end}")
    return _partial(root)


def _follows(before: Piece, after: Piece) -> bool:
    """Whether ``after`` is the piece right after ``before`` in log order."""
    if after.file == before.file:
        return after.index == before.index + 1
    return after.file == before.file + 1 and after.index == 0 and before.last


def _partial(segment: Segment) -> Partial:
    try:
        return partial_from_bytes(segment.partial)
    except ValueError as exc:
        raise EngineError(f"{segment.first.path}: a worker's partial could not be read ({exc})") from None


def _warning(piece: Piece, counts: FileCounts, json_fields: Mapping[str, str] | None) -> str | None:
    """The warning the whole of ``piece``'s file draws with these counts (None for a file read
    whole by one worker: its reader gave it its warning already)."""
    if piece.whole or piece.log_format is None:
        return None
    stats = ParseStats(lines=counts.lines, malformed=counts.malformed)
    stats.malformed_by_reason["empty"] = counts.blank
    return format_warning(piece.path, resolve_format(piece.log_format, json_fields), stats, json_fields)


def _with_warning(part: Partial, head_warnings: int, warning: str | None) -> list[Partial]:
    """``part``, with ``warning`` placed after its first ``head_warnings`` warnings (those of the
    file it ends): as a partial of its own, which merge_all keeps in order."""
    if warning is None:
        return [part]
    said = part.stats.warnings
    if head_warnings == len(said):
        return [part, Partial(stats=ParseStats(warnings=[warning]))]
    first = replace(part, stats=replace(part.stats, warnings=said[:head_warnings]))
    return [first, Partial(stats=ParseStats(warnings=[warning, *said[head_warnings:]]))]
