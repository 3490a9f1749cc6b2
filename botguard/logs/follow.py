"""Follow growing access logs like ``tail -F``, with offsets that survive a restart.

Why a follower of its own: ``botguard watch`` feeds the online model from live logs, so every
line must be seen exactly once even when logrotate renames the file (``create``) or copies and
truncates it (``copytruncate``), and a restart must resume where the last run stopped.

How (polling; inotify is not needed at a 1 s interval):

- Only whole lines are handed out: a partial last line waits for its newline (the offset stays
  at its start and it is read again next time).
- **Rename rotation**: the path now names another inode. The old file (still open) is read to
  its end first and kept open ("retired") while it is still written (nginx writes to it until
  it reopens its logs), then the new file is read from byte 0.
- **copytruncate**: the file is shorter than our offset, or its first bytes changed. The lines
  between our offset and the truncation are in the copy (``access.log.1``): it is found by the
  hash of its first bytes and read from our offset; then the live file is read from byte 0.
- **Rotated more than once** between two reads or while stopped: rotations newer than the last
  one we know (located by device+inode, since names move) and that we never read are read
  whole, all rotated files oldest first. The last rotated file let go stays stored as an
  anchor for this, so a ``--once`` run right after each copytruncate (finding the log empty)
  still finds the next day's copy. Known limit: a file last seen *empty*, then written to and
  copied+truncated before the next poll (within one interval), has nothing to be matched by;
  with no anchor either, those lines are not read.
- Files that do not exist yet are waited for; a file that vanishes is read to its end.
- Compressed rotations (``.gz``, ``.bz2``, ``.xz``, ``.zst``) are never read: they are old.
- **Checkpoints**: a cursor (path, device, inode, offset, line count, hash of the first bytes)
  per open file lives in the state database table ``watch_offsets``. :meth:`LogFollower.commit`
  writes a chunk's end cursor (and per-path line counters in ``watch_totals``) in one
  transaction after the caller processed the chunk, so a crash re-reads at most the chunk being
  processed and never skips one. On restart a stored cursor is matched to the file by
  device+inode (a rotated file is found again under its new name) and the head hash (an inode
  reused by another file, or a truncation while we were down, is not taken for ours).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Self

from botguard.logs._malformed import MAX_LINE_BYTES
from botguard.logs.readers import order_paths, rotation_key
from botguard.logs.records import ParseStats
from botguard.state import State

HEAD_BYTES = 1024  # bytes hashed to recognise a file (~5 lines): survives rename, not truncation
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024  # bytes read at once (~17k lines): bounded memory per step
RETIRE_AFTER = 30.0  # seconds a rotated file must stay unchanged before it is let go
_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zstd", ".lz4")
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")

DDL = """
CREATE TABLE IF NOT EXISTS watch_offsets (
    path TEXT NOT NULL,          -- the watched path (a rotated file keeps the path it came from)
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL,  -- bytes processed; always just after a newline
    line_no INTEGER NOT NULL,    -- lines processed in this file
    head_hash TEXT NOT NULL,     -- blake2b of the first head_len bytes
    head_len INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (path, device, inode)
);
CREATE TABLE IF NOT EXISTS watch_totals (
    path TEXT PRIMARY KEY,
    lines INTEGER NOT NULL,      -- lines processed under this path, across rotations and restarts
    parsed INTEGER NOT NULL,
    malformed INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in one file: everything before ``offset`` (``line_no`` lines) is consumed."""

    path: str
    device: int
    inode: int
    offset: int = 0
    line_no: int = 0
    head_hash: str = ""
    head_len: int = 0

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.path, self.device, self.inode)

    @property
    def file(self) -> tuple[int, int]:
        """Device and inode: the file, whatever name it has now (compare with :func:`_identity`)."""
        return (self.device, self.inode)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole lines read from one file (``data`` ends with a newline) and where they end."""

    path: str  # the watched path
    data: bytes
    first_line_no: int  # 1-based number of the first line in its file
    end: Cursor  # commit this once the lines are processed

    @property
    def lines(self) -> int:
        return self.data.count(b"\n")


@dataclass(frozen=True, slots=True)
class Totals:
    """Lines processed under one watched path (what ``watch_totals`` stores)."""

    lines: int = 0
    parsed: int = 0
    malformed: int = 0


@dataclass(slots=True)
class _Handle:
    """An open file being read: its read cursor runs ahead of the committed one."""

    fd: int
    cursor: Cursor
    retired: bool = False
    skipping: bool = False  # inside an over-long line: drop bytes up to the next newline
    changed_at: float = field(default_factory=time.time)


def is_compressed_name(path: str) -> bool:
    """A rotated, compressed file: never followed (its lines were read before it was rotated)."""
    return path.lower().endswith(_COMPRESSED_SUFFIXES)


class LogFollower:
    """Reads what was appended to ``paths`` since the last call, rotation-aware.

    Use :meth:`poll` to get the chunks available now, process each, then :meth:`commit` it.
    With a ``state`` the cursors are loaded at start and saved at each commit.

    Examples:
        >>> import tempfile, os
        >>> log = os.path.join(tempfile.mkdtemp(), "access.log")
        >>> with open(log, "wb") as f: _ = f.write(b"one\\ntwo\\nthr")
        >>> follower = LogFollower([log])
        >>> [chunk.data for chunk in follower.poll()]
        [b'one\\ntwo\\n']
        >>> with open(log, "ab") as f: _ = f.write(b"ee\\n")
        >>> [(chunk.first_line_no, chunk.data) for chunk in follower.poll()]
        [(3, b'three\\n')]
    """

    def __init__(
        self,
        paths: Sequence[str],
        *,
        state: State | None = None,
        from_end: bool = False,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        retire_after: float = RETIRE_AFTER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if chunk_bytes < 1:
            raise ValueError("chunk_bytes must be positive")
        self.paths = list(dict.fromkeys(paths))
        self._state = state
        self._from_end = from_end
        self._chunk_bytes = chunk_bytes
        self._retire_after = retire_after
        self._clock = clock
        self._live: dict[str, _Handle] = {}
        self._retired: dict[str, list[_Handle]] = {path: [] for path in self.paths}
        self._known: set[str] = set()  # paths with a stored cursor: a new file there starts at 0
        self._forget: list[tuple[str, int, int]] = []  # cursors of files let go, deleted at commit
        # Per path, the last rotated file let go: kept stored so that files rotated after it can
        # be told apart as unread (a --once run after each copytruncate sees an empty live file).
        self._anchor: dict[str, Cursor] = {}
        self.events: list[str] = []  # rotations and truncations seen, for the caller's log
        if state is not None:
            state.ensure_schema(DDL)
            self._restore(state)

    # ------------------------------------------------------------------ public

    def poll(self) -> Iterator[Chunk]:
        """Chunks of whole lines appended since the last call: rotated files first, in order.

        The read position advances as each chunk is yielded; a chunk that is never committed
        is read again after a restart.
        """
        for path in self.paths:
            self._check_live(path)
            yield from self._read_retired(path)
            live = self._live.get(path)
            if live is not None:
                yield from self._read_live(path, live)

    def _read_live(self, path: str, live: _Handle) -> Iterator[Chunk]:
        for _ in range(3):  # truncated again under each read: left for the next poll
            if self._check_truncated(path, live):
                yield from self._read_retired(path)  # the copy's unread lines come first
            if (yield from self._read(path, live)):
                return

    def _read_retired(self, path: str) -> Iterator[Chunk]:
        handles, i, rescans = self._retired[path], 0, 0
        while i < len(handles):
            handle = handles[i]
            if self._check_truncated(path, handle) and rescans < 8:
                i, rescans = 0, rescans + 1  # truncated, then rotated: its copy now comes before it
                continue
            yield from self._read(path, handle)
            if self._clock() - handle.changed_at >= self._retire_after:  # quiet: its writer moved on
                yield from self._read(path, handle, final=True)
                self._let_go(path, handle)
            else:
                i += 1

    def drain(self) -> Iterator[Chunk]:
        """Like :meth:`poll`, and let go of rotated files now (``--once``: nobody waits)."""
        yield from self.poll()
        for path in self.paths:
            for handle in list(self._retired[path]):
                yield from self._read(path, handle, final=True)
                self._let_go(path, handle)

    def commit(self, chunk: Chunk, stats: ParseStats | None = None) -> None:
        """Record that ``chunk`` was processed: its end cursor and counts, in one transaction."""
        if self._state is None:
            self._forget.clear()
            return
        cursor, now = chunk.end, self._clock()
        with self._state.transaction() as conn:
            self._delete_forgotten(conn)
            _store_cursor(conn, cursor, now)
            parsed = stats.parsed if stats is not None else 0
            malformed = stats.malformed if stats is not None else 0
            conn.execute(
                "INSERT INTO watch_totals VALUES (?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET "
                "lines = lines + excluded.lines, parsed = parsed + excluded.parsed, "
                "malformed = malformed + excluded.malformed, updated_at = excluded.updated_at",
                (chunk.path, chunk.lines, parsed, malformed, now),
            )

    def save(self) -> None:
        """Store every open file's cursor and forget the files let go, in one transaction.

        Call it between polls, once every chunk :meth:`poll` gave was committed: then each read
        cursor equals its committed one, and positions that moved without a chunk (a
        ``from_end`` start, a reset to 0 after copytruncate) are stored too.
        """
        if self._state is None:
            return
        with self._state.transaction() as conn:
            self._delete_forgotten(conn)
            for cursor in [*(handle.cursor for handle in self._handles()), *self._anchor.values()]:
                _store_cursor(conn, cursor, self._clock())

    def totals(self) -> dict[str, Totals]:
        """Stored per-path counters (empty without a state database)."""
        if self._state is None:
            return {}
        rows = self._state.conn.execute("SELECT path, lines, parsed, malformed FROM watch_totals")
        return {path: Totals(lines, parsed, malformed) for path, lines, parsed, malformed in rows}

    def close(self) -> None:
        for handle in list(self._handles()):
            os.close(handle.fd)
        self._live.clear()
        for handles in self._retired.values():
            handles.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def _read(self, path: str, handle: _Handle, *, final: bool = False) -> Generator[Chunk, None, bool]:
        """Whole lines from the handle's cursor to the end of the file, in chunks.

        ``final``: the file will not be read again, so a last line without newline counts.
        Returns False when the live file turned out truncated or replaced under the read
        (its first bytes changed): the data read is not handed out, the caller checks again.
        """
        while True:
            start = handle.cursor.offset
            try:
                data = os.pread(handle.fd, self._chunk_bytes, start)
                wanted = self._chunk_bytes
                if len(data) == wanted and b"\n" not in data and wanted <= MAX_LINE_BYTES:
                    wanted = MAX_LINE_BYTES + 2  # one line longer than a chunk: read all of it
                    data = os.pread(handle.fd, wanted, start)
                if data and not handle.retired and not _head_matches(handle.fd, handle.cursor):
                    return False  # copytruncate between our check and this read: data is not ours
            except OSError as exc:  # e.g. EIO on a vanished network share: stop reading this file
                self.events.append(f"{path}: read error ({exc.strerror})")
                return True
            if not data:
                return True
            at_end = len(data) < wanted
            consumed, lines = self._cut(handle, data, final=final and at_end)
            if consumed == 0:
                return True  # only a partial line: wait for its newline
            handle.changed_at = self._clock()
            first = handle.cursor.line_no + 1
            handle.cursor = self._advance(handle, consumed, lines.count(b"\n"))
            if lines:
                yield Chunk(path, lines, first, handle.cursor)
            if at_end:
                return True

    def take_events(self) -> list[str]:
        """Rotations, truncations and read errors noticed since the last call (for a log line)."""
        events, self.events = self.events, []
        return events

    def _cut(self, handle: _Handle, data: bytes, *, final: bool) -> tuple[int, bytes]:
        """(bytes consumed, whole lines to hand out) from freshly read ``data``.

        Leniency: a line longer than :data:`MAX_LINE_BYTES` is handed out cut to that length
        plus one byte (the parser counts it ``too_long``) and the rest of it is skipped, so an
        endless line cannot stall the follower or exhaust memory.
        """
        skipped = 0
        if handle.skipping:
            end = data.find(b"\n")
            if end < 0:
                return len(data), b""
            skipped, data, handle.skipping = end + 1, data[end + 1 :], False
        cut = data.rfind(b"\n")
        if cut >= 0:
            return skipped + cut + 1, data[: cut + 1]
        if len(data) > MAX_LINE_BYTES:
            handle.skipping = True
            return skipped + len(data), data[: MAX_LINE_BYTES + 1] + b"\n"
        if final and data:
            return skipped + len(data), data + b"\n"
        return skipped, b""

    def _advance(self, handle: _Handle, consumed: int, lines: int) -> Cursor:
        cursor = handle.cursor
        offset = cursor.offset + consumed
        head_hash, head_len = cursor.head_hash, cursor.head_len
        if head_len < HEAD_BYTES and offset > head_len:
            head_len = min(HEAD_BYTES, offset)
            head_hash = _hash(os.pread(handle.fd, head_len, 0))
        return replace(
            cursor, offset=offset, line_no=cursor.line_no + lines, head_hash=head_hash, head_len=head_len
        )

    # ------------------------------------------------------------------ rotation

    def _check_live(self, path: str) -> None:
        """Notice rename rotation, a vanished file, or a new file (truncation: at each read)."""
        live = self._live.get(path)
        info = _stat(path)
        if info is not None and not stat.S_ISREG(info.st_mode):
            info = None
        if live is not None and (info is None or _identity(info) != live.cursor.file):
            # Renamed away (or deleted): keep reading the old file while its writer still does.
            self.events.append(f"{path}: rotated (new file)" if info else f"{path}: file vanished")
            live.retired, live.changed_at = True, self._clock()
            self._retired[path].append(live)
            del self._live[path]
            self._retired[path].extend(self._unseen_rotations(path, [live]))
            self._order_retired(path)
            live = None
        if live is None and info is not None:
            # Files that came and were rotated while we had none open.
            self._retired[path].extend(self._unseen_rotations(path, self._retired[path]))
            self._order_retired(path)
            self._open_live(path, info)

    def _open_live(self, path: str, info: os.stat_result) -> None:
        fd = _open(path)
        if fd is None:
            return
        cursor = _with_head(fd, Cursor(path, info.st_dev, info.st_ino))
        if self._from_end and path not in self._known:
            cursor = _at_end(fd, cursor, info.st_size)
        self._known.add(path)
        self._live[path] = _Handle(fd, cursor, changed_at=self._clock())

    def _check_truncated(self, path: str, handle: _Handle) -> bool:
        """copytruncate: shorter than our offset, or other first bytes -> restart at 0.

        The lines we had not read yet are in the copy (found by our first bytes), which is put
        before the file in the reading order, from our offset. Returns whether it was truncated.
        """
        cursor = handle.cursor
        size = os.fstat(handle.fd).st_size
        if size >= cursor.offset and _head_matches(handle.fd, cursor):
            return False
        self.events.append(f"{path}: truncated (copytruncate)")
        copy = self._find_rotated(path, cursor, by_inode=False)
        if copy is not None:
            self._retired[path] += [copy, *self._unseen_rotations(path, [copy])]
            self._order_retired(path)
        elif cursor.offset:
            self.events.append(
                f"{path}: no uncompressed copy of the truncated file found; its unread lines are lost"
            )
        handle.cursor = _with_head(handle.fd, Cursor(path, cursor.device, cursor.inode))
        handle.skipping = False
        return True

    def _order_retired(self, path: str) -> None:
        """Rotated files in reading order: oldest rotation first (``.3``, ``.2``, ``.1``), files
        no longer beside the log (deleted, moved away) before them."""
        handles = self._retired[path]
        if len(handles) < 2:
            return
        position = {_identity(info): i for i, (_, info) in enumerate(self._siblings(path))}
        handles.sort(key=lambda h: position.get(h.cursor.file, -1))

    def _siblings(self, path: str) -> list[tuple[str, os.stat_result]]:
        """Rotations of ``path`` beside it (``access.log.1``, ``access.log-20261126.gz``), oldest first."""
        directory, base = os.path.split(path)
        found: dict[str, os.stat_result] = {}
        try:
            for entry in os.scandir(directory or "."):
                if entry.name.startswith(base) and entry.name != base and rotation_key(entry.path)[0] == path:
                    found[entry.path] = entry.stat()
        except OSError:
            return []
        return [(name, found[name]) for name in order_paths(found)]

    def _let_go(self, path: str, handle: _Handle) -> None:
        self._retired[path].remove(handle)
        os.close(handle.fd)
        previous = self._anchor.get(path)
        if previous is not None and previous.key != handle.cursor.key:
            self._forget.append(previous.key)
        self._anchor[path] = handle.cursor

    def _find_rotated(self, path: str, cursor: Cursor, *, by_inode: bool) -> _Handle | None:
        """The rotated sibling holding ``cursor``'s file, opened at its offset, or None.

        ``by_inode``: renamed (same device+inode; if it was also truncated before the rename,
        the next read notices it and finds its copy); else copied (same first bytes, long
        enough). Compressed siblings are skipped: their content cannot continue at an offset.
        """
        directory, base = os.path.split(path)
        try:
            entries = list(os.scandir(directory or "."))
        except OSError:
            return None
        found: list[tuple[float, _Handle]] = []
        already = {h.cursor.file for h in self._retired.get(path, [])}
        for entry in entries:
            if entry.name == base or not entry.name.startswith(base) or is_compressed_name(entry.name):
                continue
            try:
                info = entry.stat()
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if by_inode and _identity(info) != cursor.file:
                continue
            if not by_inode and (info.st_size < cursor.offset or _identity(info) in already):
                continue  # too short to be our copy, or a copy already being read from its cursor
            handle = self._open_candidate(entry.path, cursor, info, check_head=not by_inode)
            if handle is not None:
                found.append((info.st_mtime, handle))
        found.sort(key=lambda item: item[0])
        for _, extra in found[:-1]:
            os.close(extra.fd)
        return found[-1][1] if found else None

    def _open_candidate(
        self, name: str, cursor: Cursor, info: os.stat_result, *, check_head: bool
    ) -> _Handle | None:
        fd = _open(name)
        if fd is None:
            return None
        if _compressed(fd) or (check_head and not _head_matches(fd, cursor)):
            os.close(fd)
            return None
        moved = replace(cursor, device=info.st_dev, inode=info.st_ino)
        if moved.key != cursor.key:  # a copy: its cursor is new, the old one is done with
            self._forget.append(cursor.key)
        return _Handle(fd, moved, retired=True, changed_at=self._clock())

    # ------------------------------------------------------------------ restart

    def _restore(self, state: State) -> None:
        """Reopen every stored cursor: the live file at its offset, rotated files found again."""
        rows = state.conn.execute(
            "SELECT path, device, inode, byte_offset, line_no, head_hash, head_len FROM watch_offsets "
            "ORDER BY updated_at"
        ).fetchall()
        stored: dict[str, list[Cursor]] = {}
        for row in rows:
            stored.setdefault(row[0], []).append(Cursor(*row))
        for path in self.paths:
            cursors = stored.get(path, [])
            if cursors:
                self._known.add(path)
            info = _stat(path)
            here = _identity(info) if info is not None and stat.S_ISREG(info.st_mode) else None
            live = [cursor for cursor in cursors if cursor.file == here]
            for cursor in cursors:  # rotated files first: their lines come before the live file's
                if cursor.file == here:
                    continue
                handle = self._find_rotated(path, cursor, by_inode=True)
                if handle is None:
                    self.events.append(
                        f"{path}: rotated file of a previous run is gone (inode {cursor.inode})"
                    )
                    self._forget.append(cursor.key)
                else:
                    self._retired[path].append(handle)
            if not live or live[0].head_len == 0:  # nothing read of the live file
                self._retired[path].extend(self._unseen_rotations(path, self._retired[path]))
            self._order_retired(path)
            if live:
                self._resume_live(path, live[0])

    def _unseen_rotations(self, path: str, found: list[_Handle]) -> list[_Handle]:
        """Files rotated after ours before we saw them (rotated twice between two reads, or
        while stopped): read whole, oldest first.

        Every uncompressed rotation newer than the newest of ``found`` (``access.log.1`` when
        ours is now ``.2``) that we do not track holds lines nobody read yet. Ours are located
        by device+inode, since their names move with each rotation.
        """
        siblings = dict(self._siblings(path))
        ordered = list(siblings)  # oldest first: access.log.3, access.log.2, access.log.1
        anchor = self._anchor.get(path)
        ours = {h.cursor.file for h in found}
        ours |= {anchor.file} if anchor is not None else set()
        newest = max((i for i, name in enumerate(ordered) if _identity(siblings[name]) in ours), default=None)
        if newest is None:
            return []
        known = {h.cursor.file for h in [*self._retired[path], *self._live.values()]} | ours
        out = []
        for name in ordered[newest + 1 :]:
            info = siblings[name]
            if not stat.S_ISREG(info.st_mode) or _identity(info) in known:
                continue
            fd = None if is_compressed_name(name) else _open(name)
            if fd is not None and _compressed(fd):
                os.close(fd)
                fd = None
            if fd is None:
                self.events.append(f"{path}: {name} was compressed before it was read; its lines are skipped")
                continue
            self.events.append(f"{path}: reading {name}, rotated before it was read")
            cursor = _with_head(fd, Cursor(path, info.st_dev, info.st_ino))
            out.append(_Handle(fd, cursor, retired=True, changed_at=self._clock()))
        return out

    def _resume_live(self, path: str, cursor: Cursor) -> None:
        fd = _open(path)
        if fd is None:
            return
        handle = _Handle(fd, cursor, changed_at=self._clock())
        self._live[path] = handle
        if os.fstat(fd).st_size < cursor.offset or not _head_matches(fd, cursor):
            self._check_truncated(path, handle)  # truncated while we were down

    # ------------------------------------------------------------------ helpers

    def _handles(self) -> Iterator[_Handle]:
        yield from self._live.values()
        for handles in self._retired.values():
            yield from handles

    def _delete_forgotten(self, conn: sqlite3.Connection) -> None:
        keys, self._forget = self._forget, []
        open_keys = {handle.cursor.key for handle in self._handles()} | {a.key for a in self._anchor.values()}
        conn.executemany(
            "DELETE FROM watch_offsets WHERE path = ? AND device = ? AND inode = ?",
            [key for key in keys if key not in open_keys],
        )


def _store_cursor(conn: sqlite3.Connection, cursor: Cursor, updated_at: float) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO watch_offsets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*cursor.key, cursor.offset, cursor.line_no, cursor.head_hash, cursor.head_len, updated_at),
    )


def _identity(info: os.stat_result) -> tuple[int, int]:
    return (info.st_dev, info.st_ino)


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _head_matches(fd: int, cursor: Cursor) -> bool:
    if cursor.head_len == 0:
        return True
    head = os.pread(fd, cursor.head_len, 0)
    return len(head) == cursor.head_len and _hash(head) == cursor.head_hash


def _with_head(fd: int, cursor: Cursor) -> Cursor:
    """``cursor`` recognising the file by its current first bytes, before anything is read.

    Why at once: a file opened at 0 and truncated before our first read would otherwise look
    unchanged, and the lines it held (now only in the copy) would be skipped.
    """
    head = os.pread(fd, HEAD_BYTES, 0)
    return replace(cursor, head_hash=_hash(head) if head else "", head_len=len(head))


def _compressed(fd: int) -> bool:
    return os.pread(fd, 8, 0).startswith(_COMPRESSED_MAGIC)


def _at_end(fd: int, cursor: Cursor, size: int) -> Cursor:
    """A cursor just after the last newline (a partial last line will be read when complete)."""
    tail_start = max(0, size - MAX_LINE_BYTES)
    tail = os.pread(fd, size - tail_start, tail_start)
    cut = tail.rfind(b"\n")
    offset = tail_start + cut + 1 if cut >= 0 else tail_start
    head_len = min(HEAD_BYTES, offset)
    head_hash = _hash(os.pread(fd, head_len, 0)) if head_len else ""
    return replace(cursor, offset=offset, head_hash=head_hash, head_len=head_len)


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _open(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
