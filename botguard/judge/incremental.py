"""Incremental scans: the partial of each log file's lines kept in the state database.

A cron job scanning a day log every ten minutes would otherwise read and judge the whole day
each time. The scan stores, per file, the :class:`~botguard.judge.partial.Partial` of every
line it read and where it stopped; the next scan of the same file reads only what was appended
and merges (:func:`~botguard.judge.partial.merge`): the result equals a full scan.

A stored partial is used only when it is certainly the partial of the file's first bytes:

- the file is found as ``watch`` finds it after a rotation: by device and inode (a renamed
  ``access.log.1`` is the file scanned as ``access.log``), else by content (a copytruncate
  copy, a restored file), and in both cases the bytes at its start and samples spread up to
  the stored offset must hash as they did (a truncated or rewritten file is read whole);
- the inputs that shaped it are the same (:func:`fingerprint`: catalogue, robots.txt files,
  the aggregation settings, log format, this partial version);
- a compressed file is reused only unchanged (it cannot be read from the middle).

A cron run appends a few thousand clients to a partial of a hundred thousand, so a file that
grew is stored as its earlier partial (kept as it was) and a *tail*: the partial of everything
appended since (``scan_partial_tails``), rewritten each run. Encoding the whole partial again
each run cost about half a second on a 5M-line day; the tail costs what it holds. When the tail
holds more than :data:`TAIL_SHARE` of the clients the earlier partial does, the two are stored
as one again. A damaged tail is dropped (the file is read from where the earlier partial ends);
a tail is stored only while the partial it extends is still the file's stored one, with the
same inputs (a scan with another config may have stored its own meanwhile). A stored row
whose values this version cannot use (an offset of another SQLite type, a format it does not
know) is passed over: the file is read whole.

Every stored row is sealed (:mod:`botguard.judge._seal`: a keyed digest of its blob and its
place: file, offsets, hashes, inputs, format, and for a tail or kept rows the seal of the
partial below them); a row whose seal does not check (edited, moved, another key, stored
before seals) is passed over like a damaged one: the file is read whole and stored again.

A file whose last line has no newline yet, or that drew a warning, is read but not stored: the
next scan reads it again. ``--fetch-robots`` scans are not incremental (fetched robots.txt
change between runs).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from botguard import __version__
from botguard.config import Settings
from botguard.judge._seal import DIGEST_BYTES, SEAL_BYTES, seal, sealed, sealing_key, split_seal, state_key
from botguard.judge._spill import Spill, Spilled, write_blob
from botguard.judge.columns import compact_strings
from botguard.judge.partial import (
    _FRAMES,
    PARTIAL_VERSION,
    Partial,
    _partial,
    frame_from_bytes,
    frame_to_bytes,
    join_shards,
    merge_all,
    parse_stats,
    partial_from_bytes,
    write_partial,
)
from botguard.judge.records import JUDGED_SCHEMA
from botguard.judge.timeline import client_key
from botguard.logs.records import ParseStats
from botguard.state import State

__all__ = [
    "DDL",
    "JUDGED_CHUNK_ROWS",
    "KEEP_FILES",
    "Judgement",
    "Kept",
    "LogFile",
    "Stored",
    "after",
    "encoded",
    "find",
    "find_judged",
    "fingerprint",
    "judgement",
    "judgement_fingerprint",
    "keep",
    "kept",
    "look",
    "merged",
]

#: Bytes hashed at a file's start and before the stored offset to recognise it.
PROBE_BYTES = 1024

#: How many places of a stored file are sampled to recognise it (the last: just before the offset).
PROBES = 16

#: Files whose partials are kept (most recently scanned first): a day log and its rotations.
KEEP_FILES = 32

#: Judged rows per stored chunk: a scan encodes, stores, reads and decodes the rows it keeps a
#: chunk at a time, so neither a full scan's end nor a cron run holds all of them encoded (a
#: 5M-line day's ~150k clients are ~12 MB encoded, ~55 MB decoded).
JUDGED_CHUNK_ROWS = 10_000

#: A tail holding more clients than this share of its file's stored partial's is stored with it
#: as one partial (the next runs' tails start small again). A scan merges both each run, so a
#: longer tail costs merge time; a shorter one, whole partials encoded more often.
TAIL_SHARE = 0.25

DDL = """
CREATE TABLE IF NOT EXISTS scan_partials (
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    path TEXT NOT NULL,           -- where it was scanned last (names move on rotation)
    byte_offset INTEGER NOT NULL, -- bytes the partial covers; just after a newline
    head_hash TEXT NOT NULL,      -- blake2b of the first min(PROBE_BYTES, offset) bytes
    tail_hash TEXT NOT NULL,      -- blake2b of PROBES samples of the first offset bytes
    compressed INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,    -- the inputs the partial depends on (fingerprint())
    format TEXT NOT NULL,         -- the log format the file was read as
    partial BLOB NOT NULL,        -- judge.partial.partial_to_bytes, then its seal (judge._seal)
    updated_at REAL NOT NULL,
    PRIMARY KEY (device, inode)
);
CREATE TABLE IF NOT EXISTS scan_partial_tails (
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    base_offset INTEGER NOT NULL, -- where the file's scan_partials partial ends, this one starts
    byte_offset INTEGER NOT NULL, -- bytes both cover; just after a newline
    head_hash TEXT NOT NULL,      -- as scan_partials', at byte_offset
    tail_hash TEXT NOT NULL,
    partial BLOB NOT NULL,        -- the partial of the bytes from base_offset to byte_offset, sealed
    PRIMARY KEY (device, inode)
);
CREATE TABLE IF NOT EXISTS scan_partial_judgements (
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    tail INTEGER NOT NULL,        -- 0: every client; 1: the clients the stored tail names
    chunk INTEGER NOT NULL,       -- 0, 1, ...: JUDGED_CHUNK_ROWS rows of the layer each
    byte_offset INTEGER NOT NULL, -- judged up to here: 0 from the partial's end to the tail's, 1 the tail's
    fingerprint TEXT NOT NULL,    -- judgement_fingerprint(): the partial's inputs and the policy
    judged BLOB NOT NULL,         -- judge.partial.frame_to_bytes of the chunk's rows (judge.JUDGED_SCHEMA)
                                  -- under _chunk_label(): where they belong; then its seal
    PRIMARY KEY (device, inode, tail, chunk)
);
"""

#: Each table's columns, in the order its INSERT gives them. A row's seal (judge._seal) ends its
#: blob rather than filling a column: the tables stay the ones earlier versions write, so going
#: back to one keeps working (its rows are then unsealed: read whole once; ours look damaged to it).
_PARTIAL_COLUMNS = (
    "device, inode, path, byte_offset, head_hash, tail_hash, compressed, fingerprint, format, partial,"
    " updated_at"
)
_TAIL_COLUMNS = "device, inode, base_offset, byte_offset, head_hash, tail_hash, partial"
_JUDGED_COLUMNS = "device, inode, tail, chunk, byte_offset, fingerprint, judged"

_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


@dataclass(frozen=True, slots=True)
class LogFile:
    """A file as the scan found it: its identity, its size then, and whether a partial of it
    may be stored (uncompressed files only once they end with a newline)."""

    path: str
    device: int
    inode: int
    size: int
    compressed: bool
    storable: bool


@dataclass(frozen=True, slots=True)
class Stored:
    """What is stored of a file's first ``offset`` bytes, read as ``format``: the partial of its
    first ``base_offset`` bytes and, when it grew since, the ``tail`` of the rest; ``file`` is the
    device and inode it was stored under; ``seal`` the stored partial's (judge._seal: a tail
    and kept rows are sealed with it, so they are used only on top of that very partial)."""

    offset: int
    format: str
    partial: Partial
    file: tuple[int, int] = (0, 0)
    tail: Partial | None = None
    base_offset: int = -1  # -1: ``offset`` (no tail)
    seal: bytes = b""

    @property
    def base(self) -> int:
        """Where the stored partial (without its tail) ends."""
        return self.offset if self.base_offset < 0 else self.base_offset

    @property
    def parts(self) -> list[Partial]:
        """The stored partials in log order (to merge with what is read next, in one pass)."""
        return [self.partial] if self.tail is None else [self.partial, self.tail]

    def stats(self) -> ParseStats:
        """The parse counts of the first ``offset`` bytes."""
        return self.partial.stats if self.tail is None else parse_stats(self.parts)


@dataclass(frozen=True, slots=True)
class Kept:
    """A file read to its end, to store: the partial of all of it (``whole``, read as
    ``format``), or only the ``tail`` after what is stored of it up to ``base_offset``
    (:func:`kept`; ``whole`` is None then, so nothing holds the merged partial once the scan
    has judged it); :func:`encoded` holds either only as the bytes to store, spilled
    (judge._spill)."""

    file: LogFile
    format: str
    whole: Partial | None
    tail: Partial | None = None
    base_offset: int = 0
    is_tail: bool = False  # ``tail`` is what to store (a tail), also once encoded
    encoded: Spilled | None = None  # the partial to store (whole or tail), once :func:`encoded`
    base_seal: bytes = b""  # a tail's: the seal of the stored partial it extends


def encoded(item: Kept, spill: Spill | None = None) -> Kept:
    """``item`` holding its partial only as the bytes :func:`keep` stores, written to ``spill``
    (a temporary file of its own when None).

    Why: a scan stores its partials after the model step, traffic and report; holding the
    merged partial's frames until then was ~146 MiB at 10M lines (~41 MiB encoded), at the
    scan's peak. A scan encodes each as soon as the partial is judged and lets the frames go;
    the bytes go to a file (judge._spill), not memory, so nothing of them grows the steps after."""
    if item.encoded is not None:
        return item
    part = item.tail if item.tail is not None else item.whole
    if part is None:  # (never: kept() gives each file its whole partial or a tail)
        return item
    written = (spill or Spill()).write(lambda out: write_partial(part, out))
    return replace(item, whole=None, tail=None, encoded=written)


def _stored_bytes(item: Kept) -> Spilled | None:
    """The bytes :func:`keep` stores for ``item`` (encoded now unless :func:`encoded` did)."""
    return encoded(item).encoded


@dataclass(frozen=True, slots=True)
class Judgement:
    """A scan's judged rows (judge.JUDGED_SCHEMA) of one file's partial up to ``file.size``,
    judged as :func:`judgement_fingerprint` says: kept beside the stored partial so the next
    scan judges again only the clients its new lines name (judge.judge_again). Every client's
    rows, or (``tail``) only those of the clients the file's stored tail names (:func:`judgement`)."""

    file: LogFile
    fingerprint: str
    chunks: tuple[Spilled, ...]  # the rows encoded (_encoded_chunks), spilled (judge._spill)
    tail: bool = False


def judgement(
    kept: Kept, fingerprint: str, rows: pl.DataFrame, whole: bool, spill: Spill | None = None
) -> Judgement:
    """What to keep of a scan's judged ``rows`` of ``kept.file``, ``whole`` when every client
    was judged (not on rows kept before): every client's rows when they are new or the file's
    partial is stored whole, else the rows of its tail's clients, on top of the rows kept
    (a run encodes rows in proportion to its tail, not the day). Encoded as soon as judged: the
    model step reorders the scan's rows, so a frame held to the end would be a second copy of
    them (~12 MB encoded against ~50 MB at 5M lines), and spilled to ``spill`` (a temporary
    file of its own when None) as each chunk is encoded, so they are not held either."""
    layer = 0
    if not whole and kept.tail is not None:
        # by the clients' keys (a join of every client's texts took ~20 MiB for a moment); a client
        # sharing a key with one of the tail's is kept in its layer too, judged as it is now
        rows = rows.filter(client_key().is_in(kept.tail.clients.select(client_key()).to_series().implode()))
        layer = 1
    spill = spill or Spill()
    chunks = tuple(spill.add(chunk) for chunk in _encoded_chunks(rows, layer, kept.file.size, fingerprint))
    return Judgement(kept.file, fingerprint, chunks, bool(layer))


def _encoded_chunks(rows: pl.DataFrame, tail: int, offset: int, fingerprint: str) -> Iterator[bytes]:
    """``rows`` as the layer ``tail`` of a judgement up to ``offset`` stores them: one
    :data:`JUDGED_CHUNK_ROWS` slice at a time (at least one, so an empty layer is one too),
    each labelled with its place (:func:`_chunk_label`), encoded as it is asked for."""
    count = max(1, -(-rows.height // JUDGED_CHUNK_ROWS))
    for chunk in range(count):
        piece = rows.slice(chunk * JUDGED_CHUNK_ROWS, JUDGED_CHUNK_ROWS)
        yield frame_to_bytes(piece, _chunk_label(tail, chunk, count, offset, fingerprint))


def _chunk_label(tail: int, chunk: int, count: int, offset: int, fingerprint: str) -> str:
    """Where a chunk of kept rows belongs, sealed with its bytes: a chunk read at another place
    (another layer, number or count, a layer stored up to another offset or judged otherwise)
    is refused, so a chunk that went missing, moved or was copied from elsewhere means
    judging every client again, not rows that merely look right."""
    return f"judged {tail} {chunk}/{count} {offset} {fingerprint}"


def after(stored: Stored, read: Partial) -> Partial:
    """The partial of everything a file holds after its stored partial proper: the stored tail
    (if any) and ``read``, what this scan read. One merge serves both the scan's partial
    (:func:`merged` with the stored partial) and the tail to store (:func:`kept`): the tail
    grows over a day, to :data:`TAIL_SHARE` of the partial's clients."""
    return read if stored.tail is None else merge_all([stored.tail, read])


def kept(file: LogFile, fmt: str, whole: Partial, stored: Stored | None, later: Partial | None) -> Kept:
    """What to store of a file read to its end: ``whole`` its partial, ``stored`` what was stored
    of it before and ``later`` the partial of everything after the stored partial proper
    (:func:`after`; None: this scan read nothing).

    A tail only for the file the partial was stored under, grown since, while the tail holds at
    most :data:`TAIL_SHARE` of the stored partial's clients. Decided as the file is read, so the
    stored partials are not held until the scan's results are stored."""
    if stored is None or later is None or stored.file != (file.device, file.inode):
        return Kept(file, fmt, whole)
    if later.clients.height > TAIL_SHARE * stored.partial.clients.height:
        return Kept(file, fmt, whole)
    base = stored.offset if stored.tail is None else stored.base_offset
    return Kept(file, fmt, None, later, base, is_tail=True, base_seal=stored.seal)


def merged(parts: Sequence[Partial]) -> Partial:
    """:func:`~botguard.judge.partial.merge_all` of a file's stored partial (``parts[0]``) and
    what follows it, merging only the clients the later parts name.

    Why: a cron run's new lines name a few thousand of a day's ~150k clients; merging every
    client's rows again cost ~0.4 s on a 5M-line day. The stored partial's other clients are
    kept as they are (every fact merges within one client), put together with the merged ones
    as disjoint shards (:func:`~botguard.judge.partial.join_shards`: the time counts at the
    whole's width), which is the same partial.
    """
    first, later = parts[0], list(parts[1:])
    if not later:
        return first
    # Cut by the clients' 64-bit keys in every frame (the time and path counts know no other):
    # a client sharing a key with a named one is merged with the named ones, alone, to the same
    # row. Half the CPU of joins on the texts of ~150k clients.
    named = pl.concat([part.clients.select(client_key()) for part in later]).to_series().unique().implode()
    kept, moved = [], []
    for name in _FRAMES:
        frame = getattr(first, name)
        key = client_key() if "ip" in frame.columns else pl.col("key")
        inside = frame.select(key.is_in(named)).to_series()
        kept.append(frame.filter(~inside))
        moved.append(frame.filter(inside))
    named_part = merge_all([_partial(moved, first.stats), *later])
    return join_shards([_partial(kept, ParseStats()), named_part], parse_stats(parts))


def fingerprint(
    settings: Settings,
    *,
    robots_files: dict[str, str],
    per_host: bool,
    log_format: str | None,
    catalogue: Path,
) -> str:
    """A digest of everything besides the lines that a partial depends on.

    ``robots_files``: host ("*": every host) -> the local robots.txt file judged by.
    """
    values = {
        "version": [__version__, PARTIAL_VERSION, pl.__version__],  # polars: the client hashes
        "catalogue": _file_digest(catalogue),
        "robots": {host: _file_digest(Path(path)) for host, path in sorted(robots_files.items())},
        "per_host": per_host,
        "honeypots": list(settings.honeypots),
        "tolerance": settings.policy.crawl_delay_tolerance,
        "log_format": log_format,
        "json_fields": dict(sorted((settings.json_fields or {}).items())),
    }
    return hashlib.blake2b(json.dumps(values, sort_keys=True).encode(), digest_size=16).hexdigest()


def judgement_fingerprint(settings: Settings, partial_fingerprint: str, networks: str | None) -> str:
    """A digest of everything a client's verdict depends on besides its own rows of the partial
    and a claim's identity (asked again each scan): the partial's inputs (catalogue,
    robots.txt, format), the policy the judge applies (reprs of tuples, numbers and networks:
    stable across processes) and ``networks``, what the identity of an address that claims no
    crawler depends on (identity.network_stamp; None: identity is off)."""
    values = [
        partial_fingerprint, repr(settings.policy), repr(settings.human), repr(settings.allowlist),
        repr(networks),
    ]  # fmt: skip
    return hashlib.blake2b("\n".join(values).encode(), digest_size=16).hexdigest()


def _file_digest(path: Path) -> str:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    except OSError:
        return "unreadable"


def look(path: str) -> LogFile | None:
    """The file at ``path`` now (None: stdin or not a regular file)."""
    if path == "-" or not os.path.isfile(path):  # a pipe (``<(zcat ...)``) must not be read here
        return None
    try:
        with open(path, "rb") as stream:
            info = os.fstat(stream.fileno())
            head = stream.read(8)
            stream.seek(max(0, info.st_size - 1))
            last = stream.read(1)
    except OSError:
        return None
    compressed = head.startswith(_COMPRESSED_MAGIC)
    storable = compressed or info.st_size == 0 or last == b"\n"
    return LogFile(path, info.st_dev, info.st_ino, info.st_size, compressed, storable)


def find(state: State, file: LogFile, fingerprint: str) -> Stored | None:
    """The stored partial of the longest start of ``file`` still as it was, or None.

    Only reads: a scan writes nothing before its results are stored (a damaged database is
    reported, not written over).
    """
    if not _has_table(state, "scan_partials"):
        return None
    state.check_schema(DDL)
    key = state_key(state)
    if key is None:  # nothing stored here can be trusted
        return None
    rows = state.conn.execute(
        "SELECT rowid, device, inode, byte_offset, head_hash, tail_hash, compressed, format"
        " FROM scan_partials WHERE fingerprint = ? AND typeof(byte_offset) = 'integer' AND byte_offset <= ?"
        " ORDER BY (device = ? AND inode = ?) DESC, byte_offset DESC",
        (fingerprint, file.size, file.device, file.inode),
    ).fetchall()
    for rowid, device, inode, offset, head_hash, tail_hash, compressed, fmt in rows:
        if bool(compressed) != file.compressed or (file.compressed and offset != file.size):
            continue
        if _probes(file.path, offset) != (head_hash, tail_hash):
            continue
        (stored_blob,) = state.conn.execute(
            "SELECT partial FROM scan_partials WHERE rowid = ?", (rowid,)
        ).fetchone()
        blob, found = split_seal(stored_blob)
        place = _partial_place(device, inode, offset, head_hash, tail_hash, compressed, fingerprint, fmt)
        if found is None or not sealed(key, blob, place, found):
            continue  # edited, moved or stored before seals: read the file whole, and store it anew
        try:
            stored = Stored(offset, fmt, partial_from_bytes(blob), (device, inode), seal=found)
        except ValueError:
            continue  # damaged: read the file whole, and store it anew
        return _with_tail(state, file, stored, key)
    return None


def _partial_place(
    device: int, inode: int, offset: int, head_hash: str, tail_hash: str, compressed: object,
    fingerprint: str, fmt: str,
) -> tuple[object, ...]:  # fmt: skip
    """What a stored partial's seal binds its blob to: the file, the bytes and inputs it covers,
    the format it was read as."""
    return ("partial", device, inode, offset, head_hash, tail_hash, int(bool(compressed)), fingerprint, fmt)


def _tail_place(
    device: int, inode: int, base: int, offset: int, hashes: tuple[str, str], below: bytes
) -> tuple[object, ...]:
    """What a stored tail's seal binds it to: the file, its bytes, and the partial it extends."""
    return ("tail", device, inode, base, offset, *hashes, below.hex())


def _chunk_place(
    device: int, inode: int, tail: int, chunk: int, offset: int, fingerprint: str, below: bytes
) -> tuple[object, ...]:
    """What a kept chunk's seal binds it to: its layer and number, the offset judged up to,
    the judgement's inputs, and the partial it judges."""
    return ("judged", device, inode, tail, chunk, offset, fingerprint, below.hex())


def _with_tail(state: State, file: LogFile, stored: Stored, key: bytes) -> Stored:
    """``stored`` with the tail stored after it, when the file still holds the tail's bytes as
    they were and the tail is sealed on top of it; else as it is (the file is read from where
    it ends)."""
    if file.compressed or not _has_table(state, "scan_partial_tails"):
        return stored
    row = state.conn.execute(
        "SELECT byte_offset, head_hash, tail_hash, partial FROM scan_partial_tails"
        " WHERE device = ? AND inode = ? AND base_offset = ? AND typeof(byte_offset) = 'integer'"
        " AND byte_offset <= ?",
        (*stored.file, stored.offset, file.size),
    ).fetchone()
    if row is None or _probes(file.path, row[0]) != (row[1], row[2]):
        return stored
    blob, found = split_seal(row[3])
    place = _tail_place(*stored.file, stored.offset, row[0], (row[1], row[2]), stored.seal)
    if not sealed(key, blob, place, found):
        return stored  # edited or swapped: the tail's lines are read again
    try:
        tail = partial_from_bytes(blob)
    except ValueError:
        return stored  # damaged: the tail's lines are read again
    return Stored(row[0], stored.format, stored.partial, stored.file, tail, stored.offset, stored.seal)


def find_judged(
    state: State, file: LogFile, stored: Stored, fingerprint: str
) -> tuple[Callable[[], list[pl.DataFrame] | None], list[Partial]] | None:
    """The judged rows kept of ``stored`` (found for ``file``) under ``fingerprint``, and the
    stored parts whose clients they may not have been judged with; None when none fit.

    The rows are a loader (decoded when the judge wants them: nothing else holds them) of
    layers, oldest first: every client judged up to somewhere from the stored partial's end
    to its tail's, then, when kept, the tail's clients judged up to its end on top of it (a
    client's later row supersedes its earlier one). Short of the tail's end, the tail is among
    the parts returned (its clients are judged again: they include every client named since).
    The loader reads and decodes a chunk at a time (:data:`JUDGED_CHUNK_ROWS`); a chunk that
    does not decode to JUDGED_SCHEMA under the label of its place makes it return None: every
    client is judged again (the judge checks the rows against the partial's clients as it uses
    them)."""
    if stored.file != (file.device, file.inode) or not _has_table(state, "scan_partial_judgements"):
        return None
    key = state_key(state)
    if key is None:
        return None
    found: dict[int, tuple[int, int]] = {}
    # Only integers are fetched: text that is not UTF-8 fails in sqlite3 as it is read.
    for tail, offset, count, first, last in state.conn.execute(
        "SELECT tail, CASE WHEN typeof(byte_offset) = 'integer' THEN byte_offset END, count(*),"
        " min(CASE WHEN typeof(chunk) = 'integer' THEN chunk END),"
        " max(CASE WHEN typeof(chunk) = 'integer' THEN chunk END) FROM scan_partial_judgements"
        " WHERE device = ? AND inode = ? AND fingerprint = ? AND tail IN (0, 1) GROUP BY tail, byte_offset",
        (*stored.file, fingerprint),
    ):
        if tail in found or not isinstance(offset, int) or (first, last) != (0, count - 1):
            return None  # a layer stored up to two offsets, or not numbered 0, 1, ...: not one
        found[tail] = offset, count
    if 0 not in found or not stored.base <= found[0][0] <= stored.offset:
        return None
    layers, since = [0], stored.parts[1:]
    if found[0][0] == stored.offset:
        since = []
    elif 1 in found and found[1][0] == stored.offset:
        layers, since = [0, 1], []
    places = [(tail, *found[tail]) for tail in layers]

    def load() -> list[pl.DataFrame] | None:
        return _kept_layers(state, stored, fingerprint, places, key)

    return load, since


def _kept_layers(
    state: State, stored: Stored, fingerprint: str, places: list[tuple[int, int, int]], key: bytes
) -> list[pl.DataFrame] | None:
    """The kept layers (tail, offset, chunk count) of the judgement of ``stored``'s file, each
    read and decoded a chunk at a time; None if any chunk is not the one its place needs
    (damaged, missing, moved, edited, sealed on another partial: every client is judged again)."""
    layers = []
    for tail, offset, count in places:
        chunks: list[pl.DataFrame] = []
        rows = state.conn.execute(
            "SELECT chunk, CASE WHEN typeof(judged) = 'blob' THEN judged END FROM scan_partial_judgements"
            " WHERE device = ? AND inode = ? AND tail = ? AND byte_offset = ? AND fingerprint = ?"
            " AND typeof(chunk) = 'integer' ORDER BY chunk",
            (*stored.file, tail, offset, fingerprint),
        )  # (a chunk's other values are never fetched: text that is not UTF-8 fails as it is read)
        for chunk, stored_blob in rows:
            blob, found = split_seal(stored_blob)
            label = _chunk_label(tail, chunk, count, offset, fingerprint)
            place = _chunk_place(*stored.file, tail, chunk, offset, fingerprint, stored.seal)
            if chunk != len(chunks) or not sealed(key, blob, place, found):
                return None
            try:
                chunks.append(compact_strings(frame_from_bytes(blob, JUDGED_SCHEMA, label), _REPEATED))
            except ValueError:
                return None
            del blob  # before the next chunk is fetched
        if len(chunks) != count:  # changed since the layers were found
            return None
        layers.append(pl.concat(chunks))
    return layers


#: Text columns of judged rows that repeat a few values over many clients: read back, each
#: value is held once (decoded, every row held its own copy: ~80 MiB more than a full
#: judgement, whose rows are views of the partial's and the catalogue's text, at 5M lines).
_REPEATED = (
    "user_agent", "crawler", "operator", "category", "identity", "as_org", "country", "verdict",
    "robots_token", "allowlisted", "verified_by",
)  # fmt: skip


def _has_table(state: State, name: str) -> bool:
    return state.conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def keep(
    state: State,
    kept: Sequence[Kept],
    fingerprint: str,
    unchanged: Sequence[LogFile] = (),
    judgement: Judgement | None = None,
) -> str:
    """Store what each fully read file's partial needs (:class:`Kept`): a tail after its stored
    partial when it grew, else its whole partial; mark the ``unchanged`` files (stored already,
    nothing appended) as just scanned, and forget all but the :data:`KEEP_FILES` most recently
    scanned files. A ``judgement`` of a file stored here replaces the one kept of it.

    Returns a line for the user when the key beside the database had to be made anew or could
    not be kept (:func:`~botguard.judge._seal.sealing_key`), else ""."""
    state.ensure_schema(DDL)
    key, note = sealing_key(state)
    if key is None:  # no key can be kept beside the database: nothing is stored to be trusted
        return note
    now = time.time()
    wholes: list[tuple[tuple[object, ...], Spilled, bytes]] = []  # (row, blob, its seal)
    tails: list[tuple[tuple[object, ...], Spilled, bytes]] = []
    grown = []
    seals: dict[tuple[int, int], bytes] = {}  # the seal of each file's partial, as stored here
    for item in kept:
        file = item.file
        head_hash, tail_hash = _probes(file.path, file.size)
        data = _stored_bytes(item)
        if data is None:
            continue
        digest = data.last(DIGEST_BYTES)  # what a seal covers of its blob (judge._seal)
        if item.is_tail:
            hashes = (head_hash, tail_hash)
            place = _tail_place(file.device, file.inode, item.base_offset, file.size, hashes, item.base_seal)
            tails.append(
                ((file.device, file.inode, item.base_offset, file.size, head_hash, tail_hash,
                  data.size + SEAL_BYTES, file.device, file.inode, item.base_offset, fingerprint),
                 data, seal(key, digest, place))
            )  # fmt: skip
            seals[file.device, file.inode] = item.base_seal
            grown.append(file)
            continue
        place = _partial_place(
            file.device,
            file.inode,
            file.size,
            head_hash,
            tail_hash,
            file.compressed,
            fingerprint,
            item.format,
        )
        seals[file.device, file.inode] = seal(key, digest, place)
        wholes.append(
            ((file.device, file.inode, file.path, file.size, head_hash, tail_hash, int(file.compressed),
              fingerprint, item.format, data.size + SEAL_BYTES, now),
             data, seals[file.device, file.inode])
        )  # fmt: skip
    with state.transaction() as conn:
        for row, data, sealed_by in wholes:
            cursor = conn.execute(
                f"INSERT OR REPLACE INTO scan_partials ({_PARTIAL_COLUMNS})"
                f" VALUES ({_marks(9)}, zeroblob(?), ?)",
                row,
            )
            _fill(conn, "scan_partials", cursor.lastrowid, data, sealed_by)
        conn.executemany(
            "DELETE FROM scan_partial_tails WHERE device = ? AND inode = ?", [row[:2] for row, _, _ in wholes]
        )
        # A tail only after the partial it extends: a scan with other inputs may have stored
        # the file's partial since this one found it (its tail would be merged with that; and
        # the tail's seal names the partial's, so it would not be used on another one).
        for row, data, sealed_by in tails:
            cursor = conn.execute(
                f"INSERT OR REPLACE INTO scan_partial_tails ({_TAIL_COLUMNS}) SELECT {_marks(6)},"
                " zeroblob(?) WHERE EXISTS (SELECT 1 FROM scan_partials WHERE device = ? AND inode = ?"
                " AND byte_offset = ? AND fingerprint = ?)",
                row,
            )
            if cursor.rowcount == 1:
                _fill(conn, "scan_partial_tails", cursor.lastrowid, data, sealed_by)
        conn.executemany(
            "UPDATE scan_partials SET updated_at = ?, path = ? WHERE device = ? AND inode = ?",
            [(now, file.path, file.device, file.inode) for file in (*grown, *unchanged)],
        )
        conn.execute(
            "DELETE FROM scan_partials WHERE rowid NOT IN"
            " (SELECT rowid FROM scan_partials ORDER BY updated_at DESC LIMIT ?)",
            (KEEP_FILES,),
        )
        conn.execute(
            "DELETE FROM scan_partial_tails WHERE NOT EXISTS (SELECT 1 FROM scan_partials AS s"
            " WHERE s.device = scan_partial_tails.device AND s.inode = scan_partial_tails.inode)"
        )
        _keep_judgement(conn, judgement, kept, key, seals)
    return note


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _fill(conn: sqlite3.Connection, table: str, rowid: int | None, data: Spilled, sealed_by: bytes) -> None:
    """Write ``data`` then its seal into the ``partial`` blob of the row just inserted at ``rowid``
    as a zeroblob of their size: a piece at a time from the spill file, where binding the blob
    held it in Python twice (the bytes, the bytes with the seal) beside SQLite's copy.

    SQLite still builds a ``scan_partials`` row's zeroblob in memory for a moment as the row is
    inserted (about twice the blob: ``updated_at`` follows the blob, and only a record's last
    field is kept as zeros); a tail's blob is its row's last field and never is."""
    if rowid is None:  # (never: the caller inserted the row)
        raise sqlite3.DatabaseError(f"no row to store a partial in ({table})")
    write_blob(conn, table, "partial", rowid, itertools.chain(data.pieces(), [sealed_by]))


def _keep_judgement(
    conn: sqlite3.Connection,
    judgement: Judgement | None,
    kept: Sequence[Kept],
    key: bytes,
    seals: dict[tuple[int, int], bytes],
) -> None:
    """Store ``judgement`` beside what :func:`keep` stored of its file (:func:`judgement`), a
    chunk at a time, each layer only after the partial or tail it judges, a tail's only on top
    of the partial's. Forget the layers of files stored without a judgement, and of files whose
    partial is gone."""
    drop: list[tuple[int, int, int]] = []
    for item in kept:
        file = item.file
        if judgement is None or file != judgement.file:  # a whole partial: both layers are stale
            drop += [(file.device, file.inode, tail) for tail in ((1,) if item.is_tail else (0, 1))]
            continue
        tail, below = int(judgement.tail), seals.get((file.device, file.inode))
        if below is None or not _judged_place(conn, item, judgement):
            drop.append((file.device, file.inode, tail))
            continue
        if not tail:
            drop.append((file.device, file.inode, 1))
        conn.execute(
            "DELETE FROM scan_partial_judgements WHERE device = ? AND inode = ? AND tail = ?",
            (file.device, file.inode, tail),
        )
        conn.executemany(  # each chunk sealed on the partial its rows judge
            f"INSERT INTO scan_partial_judgements ({_JUDGED_COLUMNS}) VALUES ({_marks(7)})",
            _chunk_rows(key, judgement, tail, below),
        )
    conn.executemany("DELETE FROM scan_partial_judgements WHERE device = ? AND inode = ? AND tail = ?", drop)
    conn.execute(
        "DELETE FROM scan_partial_judgements WHERE NOT EXISTS (SELECT 1 FROM scan_partials AS s"
        " WHERE s.device = scan_partial_judgements.device AND s.inode = scan_partial_judgements.inode)"
    )


def _chunk_rows(key: bytes, judgement: Judgement, tail: int, below: bytes) -> Iterator[tuple[object, ...]]:
    """The rows of a judgement's layer ``tail`` as stored, each sealed on the partial ``below``,
    each read back from its spill file as its turn comes (one chunk's bytes in memory at once)."""
    file, fingerprint = judgement.file, judgement.fingerprint
    for chunk, spilled in enumerate(judgement.chunks):
        blob = spilled.read()
        place = _chunk_place(file.device, file.inode, tail, chunk, file.size, fingerprint, below)
        yield (file.device, file.inode, tail, chunk, file.size, fingerprint, blob + seal(key, blob, place))


def _judged_place(conn: sqlite3.Connection, item: Kept, judgement: Judgement) -> bool:
    """Whether the partial or tail ``judgement`` judges is the one stored of ``item.file`` now
    (a scan with other inputs may have stored its own since), and for a tail's rows, whether
    the file's every-client rows they go on top of are kept under the same fingerprint."""
    file = item.file
    table = "scan_partial_tails" if item.is_tail else "scan_partials"
    found = conn.execute(
        f"SELECT 1 FROM {table} WHERE device = ? AND inode = ? AND byte_offset = ?",
        (file.device, file.inode, file.size),
    ).fetchone()
    if found is None or not judgement.tail:
        return found is not None
    below = conn.execute(
        "SELECT 1 FROM scan_partial_judgements WHERE device = ? AND inode = ? AND tail = 0"
        " AND fingerprint = ?",
        (file.device, file.inode, judgement.fingerprint),
    ).fetchone()
    return below is not None


def _probes(path: str, offset: int) -> tuple[str, str]:
    """Hashes of the bytes at the start of ``path``, and of :data:`PROBES` samples spread over
    its first ``offset`` bytes ending with the ones just before ``offset``: appending changes
    neither, a truncation or a rewrite almost surely changes one."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(min(PROBE_BYTES, offset))
            samples = []
            for i in range(1, PROBES + 1):
                stream.seek(max(0, offset * i // PROBES - PROBE_BYTES))
                samples.append(stream.read(min(PROBE_BYTES, offset)))
    except OSError:
        return ("", "")
    return (_hash(head), _hash(b"".join(samples)))


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
