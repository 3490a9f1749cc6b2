"""Bytes a scan stores at its end, written to a temporary file as soon as they are made.

Why: an incremental scan encodes each file's partial and its judged rows right after judging
(:func:`botguard.judge.incremental.encoded`, :func:`~botguard.judge.incremental.judgement`)
and stores them only after the model step, the traffic summary and the scan's own rows. Held
as bytes, they sat under every one of those steps (~32 MB at 5M lines, ~66 MB at 10M: they
grow with the clients), and storing the partial held it three times more for a moment (the
blob, the blob with its seal, SQLite's copy of the bound value). Spilled, they cost a file's
page cache, and :func:`write_blob` stores one through SQLite's incremental blob I/O a
:data:`PIECE_BYTES` piece at a time (SQLite itself still holds a ``scan_partials`` row's
zeroblob for a moment as it inserts it: see ``incremental._fill``).

The file is unlinked as it is made (:func:`tempfile.TemporaryFile`) and goes with the last
:class:`Spilled` that names it. Where no temporary file can be made, or the one made cannot take
more bytes (its filesystem full, a file size limit), the bytes are held in memory as before
(:class:`Spill` on an :class:`io.BytesIO`): the scan's results do not depend on it, and a small
temporary directory costs memory, not the scan.
"""

from __future__ import annotations

import io
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

import polars as pl

__all__ = ["PIECE_BYTES", "Spill", "Spilled", "write_blob"]

#: Bytes read back and written into a stored blob at a time.
PIECE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Spilled:
    """``size`` bytes at ``start`` of a spill ``file`` (what :meth:`Spill.write` returned)."""

    file: IO[bytes]
    start: int
    size: int

    def pieces(self, size: int = PIECE_BYTES) -> Iterator[bytes]:
        """The bytes in order, at most ``size`` at a time."""
        at, end = self.start, self.start + self.size
        read = _reader(self.file)
        while at < end:
            piece = read(at, min(size, end - at))
            if not piece:
                raise OSError(f"spill file ends {end - at} bytes early")
            at += len(piece)
            yield piece

    def last(self, count: int) -> bytes:
        """The last ``count`` bytes (a blob's own digest, which its seal covers: judge._seal)."""
        count = min(count, self.size)
        return b"".join(Spilled(self.file, self.start + self.size - count, count).pieces())

    def read(self) -> bytes:
        """All the bytes at once (a small chunk's; a partial is stored by :func:`write_blob`)."""
        return b"".join(self.pieces())

    def frame(self) -> pl.DataFrame:
        """The frame :meth:`Spill.add_frame` wrote here."""
        return pl.read_ipc_stream(self.read())


class Spill:
    """An append-only temporary file (in memory when none can be made) that scans' encoders
    write into: each :meth:`write` gives back where its bytes are."""

    def __init__(self, file: IO[bytes] | None = None) -> None:
        self._file = file if file is not None else _temporary()

    def write(self, encode: Callable[[IO[bytes]], object]) -> Spilled:
        """What ``encode(file)`` writes at the file's end (it may seek back within what it wrote).
        When the temporary file cannot take it (its filesystem full), it and every later write
        go to memory: what was spilled before stays readable where it is."""
        try:
            return _written(self._file, encode)
        except OSError:
            if isinstance(self._file, io.BytesIO):
                raise
        self._file = io.BytesIO()
        return _written(self._file, encode)

    def add(self, data: bytes) -> Spilled:
        """``data`` written at the file's end."""
        return self.write(lambda file: file.write(data))

    def add_frame(self, frame: pl.DataFrame) -> Spilled:
        """``frame`` as an uncompressed Arrow IPC stream (:meth:`Spilled.frame` reads it back:
        the same values, types and row order)."""
        return self.write(lambda out: frame.write_ipc_stream(out, compression="uncompressed"))


def _written(file: IO[bytes], encode: Callable[[IO[bytes]], object]) -> Spilled:
    """What ``encode(file)`` wrote at the end of ``file``, on disk when it returns (flushed: an
    error of its own bytes is its own, not a later write's)."""
    start = file.seek(0, io.SEEK_END)
    encode(file)
    file.flush()
    end = file.seek(0, io.SEEK_END)
    return Spilled(file, start, end - start)


def _reader(file: IO[bytes]) -> Callable[[int, int], bytes]:
    """How to read ``count`` bytes at ``at`` of ``file``: straight from its descriptor when it
    has one (``os.pread``), so a write that failed (a full filesystem) and left bytes in the
    file object's buffer cannot fail the reads of what was spilled before it; else by seeking."""
    try:
        descriptor = file.fileno()
    except (OSError, ValueError, AttributeError):  # in memory (io.BytesIO): no descriptor

        def by_seeking(at: int, count: int) -> bytes:
            file.seek(at)
            return file.read(count)

        return by_seeking
    return lambda at, count: os.pread(descriptor, count, at)


def _temporary() -> IO[bytes]:
    try:
        return tempfile.TemporaryFile(prefix="botguard-spill-")
    except OSError:  # no writable temporary directory: hold the bytes as before
        return io.BytesIO()


def write_blob(conn: sqlite3.Connection, table: str, column: str, rowid: int, parts: Iterator[bytes]) -> None:
    """Write ``parts`` in turn into the blob at ``rowid`` of ``table.column``, which the caller
    made exactly their size (``zeroblob(n)``): never more than a piece in memory at once."""
    with conn.blobopen(table, column, rowid) as blob:
        for part in parts:
            blob.write(part)
