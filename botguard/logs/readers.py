"""Byte sources -> chunks of lines: files, stdin, gzip/bzip2/xz, rotated sets.

Why chunks of bytes: a per-line Python loop is ~20x too slow for the scan budget, so a file is
read in fixed-size blocks cut at the last newline and each block is split into a polars Series
in one call (multi-threaded, UTF-8 decoded with replacement). Memory stays bounded by the block
size whatever the file size, and line numbers are counted per file.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import queue
import re
import sys
import threading
import zlib
from collections.abc import Generator, Iterable, Iterator
from typing import BinaryIO, TypeVar

import polars as pl

from botguard.errors import InputError, Location
from botguard.logs._malformed import MAX_LINE_BYTES

T = TypeVar("T")
STDIN = "-"
DEFAULT_CHUNK_BYTES = (
    8 * 1024 * 1024
)  # ~35k lines: bounded memory, still big enough to amortise per-call costs
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_DECOMPRESS_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)
_SEPARATOR = b"\x1f"  # ASCII unit separator: splits nothing in a real log line
_REPLACEMENT = "\ufffd".encode()
_ROTATED = re.compile(
    r"^(?P<base>.+?)(?:[.-](?P<num>\d{1,4})|[.-](?P<date>\d{8}|\d{4}-\d{2}-\d{2}))?(?P<ext>\.(?:gz|bz2|xz))?$"
)


def check_readable(path: str) -> None:
    """Fail early, before any work, with a one-line reason if ``path`` cannot be read."""
    if path == STDIN:
        return
    if os.path.isdir(path):
        raise InputError("is a directory (pass the log files, e.g. a glob)", Location(path))
    if not os.path.exists(path):
        raise InputError("no such file", Location(path))
    if not os.access(path, os.R_OK):
        raise InputError("permission denied", Location(path))


def open_source(path: str) -> BinaryIO:
    """A binary stream of the decompressed content of ``path`` (``-`` is stdin).

    Compression is recognised by magic bytes, not by suffix, so a renamed or piped .gz works.
    """
    try:
        raw: BinaryIO = sys.stdin.buffer if path == STDIN else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", Location(path)) from exc
    if hasattr(raw, "peek"):
        head = raw.peek(8)[:8]
    else:  # e.g. a BytesIO standing in for stdin: read the head and put it back in front
        head = raw.read(8)
        raw = _Prepended(head, raw)  # type: ignore[assignment]
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), "plain")
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(raw, mode="rb")  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(raw, mode="rb")  # type: ignore[return-value]
    if kind == "zstd":
        raise InputError(
            "zstd-compressed logs are not supported; decompress with `zstd -dc FILE | botguard scan -`",
            Location(path),
        )
    return raw


def open_range(path: str, start: int, end: int | None) -> BinaryIO:
    """The bytes ``start`` to ``end`` (None: the end) of an uncompressed file, as a stream."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed by the caller, as open_source's)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", Location(path)) from exc
    raw.seek(start)
    return raw if end is None else _Window(raw, end - start)  # type: ignore[return-value]


class _Window(io.RawIOBase):
    """At most ``size`` bytes of ``stream`` from where it stands: a file that grows while it is
    read is read up to the size it had when the scan looked at it."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream, self._left = stream, size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(want) if want else b""
        self._left -= len(data)
        return data

    read1 = read

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


class _Prepended(io.RawIOBase):
    """A read-only stream that yields ``head`` and then the rest of ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class DamagedInput(InputError):
    """A file stops being readable part-way (a cut or corrupt archive).

    Raised after every whole line before the damage was handed over, so a reader can keep them;
    the line the damage cut is lost with the rest of the file.
    """


def iter_blocks(stream: BinaryIO, chunk_bytes: int, path: str) -> Iterator[bytes]:
    """Blocks of whole lines (each ends with a newline, except perhaps the last).

    Leniency: a line longer than :data:`MAX_LINE_BYTES` is cut to that length plus one byte
    (so the parser counts it as ``too_long``) and the rest of it is skipped, so one endless
    line of junk cannot exhaust memory. Damaged data ends the file with :class:`DamagedInput`.
    """
    carry = b""
    skipping = False
    damage: Exception | None = None
    while damage is None:
        block, damage = _read_some(stream, chunk_bytes)
        if not block:
            break
        if skipping:
            end = block.find(b"\n")
            if end < 0:
                continue
            block, skipping = block[end + 1 :], False
        cut = block.rfind(b"\n")  # (``carry`` holds no newline: the last one is the block's)
        if cut < 0:
            data = carry + block if carry else block
            if len(data) > MAX_LINE_BYTES:
                yield data[: MAX_LINE_BYTES + 1] + b"\n"
                carry, skipping = b"", True
            else:
                carry = data
            continue
        # One copy of the block's whole lines, none when it ends at a newline (most reads of a
        # file): joining the carry first and cutting after copied every block twice.
        if carry or cut + 1 < len(block):
            yield b"".join((carry, memoryview(block)[: cut + 1]))
        else:
            yield block
        carry = block[cut + 1 :]
    if damage is not None:
        what = "truncated or corrupt compressed data" if _compressed(stream) else "read error"
        raise DamagedInput(f"{what} ({damage})", Location(path)) from damage
    if carry and not skipping:
        yield carry


def _read_some(stream: BinaryIO, size: int) -> tuple[bytes, Exception | None]:
    """Up to ``size`` bytes, and the error that ended them early (None at a clean end).

    Read piece by piece (``read1``) so that what was decoded before a damaged spot is kept: one
    ``read(size)`` would lose its whole chunk with the error.
    """
    read1 = getattr(stream, "read1", None)
    parts: list[bytes] = []
    got = 0
    try:
        if read1 is None:
            return stream.read(size), None
        while got < size:
            part = read1(size - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
    except _DECOMPRESS_ERRORS as exc:
        return b"".join(parts), exc
    return parts[0] if len(parts) == 1 else b"".join(parts), None


def _compressed(stream: BinaryIO) -> bool:
    return isinstance(stream, (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile))


def split_lines(data: bytes) -> pl.Series:
    """Lines of ``data`` as a String Series (UTF-8 with replacement, CRLF tolerated).

    Uses polars' CSV reader with separator 0x1F and no quoting, so a line is one field whatever
    it contains; blank lines stay (as null) so numbering is exact.
    """
    if not data:
        return pl.Series("line", [], dtype=pl.String)
    expected = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if _SEPARATOR in data:
        # Leniency: nginx and Apache escape control bytes, so a raw 0x1F only occurs in junk;
        # it is read like an undecodable byte (U+FFFD) so it cannot split a line in two.
        data = data.replace(_SEPARATOR, _REPLACEMENT)
    lines = pl.read_csv(
        io.BytesIO(data),
        has_header=False,
        separator=_SEPARATOR.decode(),
        quote_char=None,
        new_columns=["line"],
        schema={"line": pl.String},
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
        raise_if_empty=False,
    ).to_series()
    if lines.len() == expected:
        return lines
    # Fallback (a CSV-reader quirk, e.g. a lone carriage return): slower but exact.
    text = data.decode("utf-8", errors="replace").split("\n")
    if data.endswith(b"\n"):
        text.pop()
    return pl.Series("line", [t[:-1] if t.endswith("\r") else t for t in text], dtype=pl.String)


def read_blocks(
    path: str, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES, start: int = 0, end: int | None = None
) -> Generator[bytes, None, None]:
    """Blocks of whole lines of one source, each ending with a newline, in order.

    Reading and decompression run one block ahead in a background thread. Lines are not
    counted here (counting costs as much as a third of parsing): parsers report them.
    ``start`` and ``end`` (byte offsets of an uncompressed file, ``start`` just after a newline)
    read only that range: what an incremental scan appends.
    """
    stream = open_source(path) if (start, end) == (0, None) else open_range(path, start, end)
    blocks = prefetched(iter_blocks(stream, chunk_bytes, path))
    try:
        for block in blocks:
            yield block if block.endswith(b"\n") else block + b"\n"  # a last line without newline
    finally:
        blocks.close()  # stop the reader thread before closing what it reads
        if path != STDIN:  # stdin belongs to the caller
            stream.close()


def cut_lines(block: bytes, max_lines: int) -> list[bytes]:
    """``block`` cut into pieces of at most ``max_lines`` lines (for tiny batch sizes)."""
    pieces = []
    while block.count(b"\n") > max_lines:
        cut = -1
        for _ in range(max_lines):
            cut = block.find(b"\n", cut + 1)
        pieces.append(block[: cut + 1])
        block = block[cut + 1 :]
    if block:
        pieces.append(block)
    return pieces


def prefetched(items: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """Produce the next item in a background thread while the caller works on this one.

    Reading, decompression and polars release the GIL, so the stages overlap.
    """
    slots: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(message: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                slots.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not offer(("item", item)):
                    return
            offer(("done", None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            offer(("error", exc))

    thread = threading.Thread(target=work, name="botguard-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "done":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def order_paths(paths: Iterable[str]) -> list[str]:
    """Paths in reading order: each rotated set oldest first, sets in order of first mention.

    ``access.log.2.gz, access.log, access.log.1`` -> ``access.log.2.gz, access.log.1,
    access.log``: numbered rotations highest first, then date-suffixed ones oldest first, then
    the live file. Exact duplicates are read once.

    Examples:
        >>> order_paths(["a.log", "a.log.1", "b.log", "a.log.10.gz", "a.log.2.gz"])
        ['a.log.10.gz', 'a.log.2.gz', 'a.log.1', 'a.log', 'b.log']
    """
    groups: dict[str, list[tuple[tuple[int, int | str], str]]] = {}
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        base, rank = rotation_key(path)
        groups.setdefault(base, []).append((rank, path))
    return [path for members in groups.values() for _, path in sorted(members)]


def rotation_key(path: str) -> tuple[str, tuple[int, int | str]]:
    if path == STDIN:
        return STDIN, (2, 0)
    head, name = os.path.split(path)
    match = _ROTATED.match(name)
    if match is None:  # pragma: no cover - the pattern matches any non-empty name
        return path, (2, 0)
    base = os.path.join(head, match["base"])
    if match["num"] is not None:
        return base, (0, -int(match["num"]))
    if match["date"] is not None:
        return base, (1, match["date"].replace("-", ""))
    return base, (2, 0)
