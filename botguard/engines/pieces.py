"""Cutting a scan's logs into pieces: by file, and an uncompressed file into byte ranges cut just
after a newline, so that no line is split or read twice."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import BinaryIO

from botguard.engines.records import Piece
from botguard.errors import UsageError
from botguard.judge import incremental
from botguard.logs import file_format

__all__ = ["cut_points", "plan"]

_SCAN_BYTES = 64 * 1024  # read at a time while looking for the end of a line


def plan(
    paths: Sequence[str], log_format: str | None, json_fields: Mapping[str, str] | None, piece_bytes: int
) -> list[Piece]:
    """The pieces of ``paths`` (in log order), each file cut as it is now (what is appended
    meanwhile is for the next scan). A file cut in several pieces is read as the format its
    first lines have (``log_format`` if given), as a scan of the whole file would read it."""
    pieces: list[Piece] = []
    for number, path in enumerate(paths):
        file = incremental.look(path)
        if file is None:
            raise UsageError(f"{path}: --engine reads regular files (not standard input or a pipe)")
        if file.compressed:
            pieces.append(Piece(number, 0, path, 0, None, True, log_format, True))
            continue
        with open(path, "rb") as stream:
            cuts = cut_points(stream, file.size, piece_bytes)
        if len(cuts) == 2:
            pieces.append(Piece(number, 0, path, 0, file.size, True, log_format, True))
            continue
        fmt = log_format or file_format(path, json_fields).name
        pieces.extend(
            Piece(number, index, path, start, end, False, fmt, end == file.size)
            for index, (start, end) in enumerate(itertools.pairwise(cuts))
        )
    return pieces


def cut_points(stream: BinaryIO, size: int, piece_bytes: int) -> list[int]:
    """Offsets from 0 to ``size`` cutting the first ``size`` bytes of ``stream`` into pieces of
    about ``piece_bytes``, each inner cut just after a newline (a line longer than a piece
    stays whole in one piece).

    Examples:
        >>> import io
        >>> cut_points(io.BytesIO(b"aaa\\nbb\\ncccc\\nd\\n"), 14, 4)
        [0, 4, 12, 14]
        >>> cut_points(io.BytesIO(b""), 0, 4)
        [0, 0]
    """
    if piece_bytes < 1:
        raise ValueError("piece_bytes must be positive")
    cuts = [0]
    target = piece_bytes
    while target < size:
        at = _line_start(stream, target, size)
        if at >= size:
            break
        cuts.append(at)
        target = at + piece_bytes
    cuts.append(size)
    return cuts


def _line_start(stream: BinaryIO, at: int, size: int) -> int:
    """The first offset at or after ``at`` that starts a line (``size``: none before the end)."""
    position = at - 1  # the byte before ``at``: a newline there makes ``at`` a line start
    stream.seek(position)
    while position < size:
        block = stream.read(min(_SCAN_BYTES, size - position))
        if not block:
            break
        found = block.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(block)
    return size
