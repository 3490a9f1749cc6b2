"""Per-client partial aggregates of some lines of a log, and the one function that merges them.

A scan folds its batches into a :class:`Partial` and judges the merged result. The same record
and the same :func:`merge` serve every way of cutting a log into pieces: the batches of one
scan, an incremental scan (the partial stored for the lines already scanned, merged with the
partial of the lines appended since), and partitions aggregated apart (a cluster) and merged.

``merge(a, b)`` is pure and associative, with ``a``'s lines coming before ``b``'s in the log;
merging the partials of consecutive pieces gives exactly the partial of the whole. That holds
because every fact kept here merges exactly:

- counts add up; first and last times are the min and max; a client's crawler and token come
  from its user agent, the same on every line; its ``robots_host`` is the first one logged;
- ``fast_gaps`` counts the intervals, in log order, between consecutive requests a Crawl-delay
  governs that are shorter than ``min_gap``: each piece counts its own, and a merge adds the one
  interval across the cut (``b.gap_first - a.gap_last``);
- evidence keeps each client's :data:`EVIDENCE_PER_CLIENT` earliest disallowed requests (ties
  in log order); the earliest of a union are among the earliest of its parts;
- rule counts add up per (client, rule); a rule is named by its host, line and text, so
  partials from different runs name the same rule the same way;
- requests and bytes per client and time bucket add up once both sides are counted in buckets
  of one width: a merge counts in the narrowest of :data:`~botguard.judge.timeline.WIDTHS`
  that cuts its time span into at most ``MAX_BUCKETS`` (:func:`bucket_width`); the span of a
  merge covers each part's, so its width is the same as or wider than each part's (a part may
  count in a wider one than its own span needs, never wider than the whole's), and since each
  width divides the next, a bucket floored to the merge's width is the one its requests fall in;
- disallowed requests add up per (client, path without its query); these and the time counts
  name a client by a hash of its address and agent (see :data:`TIME_COUNT_SCHEMA`);
- parse counts add up; malformed-line examples and warnings keep their order.

What a partial depends on besides the lines (the robots.txt files, the catalogue, the
settings that shape the aggregation) is not in it: whoever stores one keeps a fingerprint of
those inputs with it (see :mod:`botguard.judge.incremental`).

Distinct sets (e.g. distinct paths per client) are not needed by any verdict today; one added
later must merge exactly too, or be a mergeable sketch (HyperLogLog registers, merged by
element-wise max) where an exact set would be too big. The one set a partial keeps, the
disallowed paths, is bounded that way: a merge keeps the counts of at most
:data:`PATHS_KEPT` paths (exact below it; above it, of the paths requested most).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import struct
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import IO

import polars as pl
from polars.exceptions import PanicException

from botguard.judge._ids import group_ids
from botguard.judge._spill import Spilled
from botguard.judge.columns import compact_strings
from botguard.judge.timeline import client_key, width_for
from botguard.logs.records import ParseStats
from botguard.native import kernel

__all__ = [
    "CLIENT_KEY",
    "CLIENT_PARTIAL_SCHEMA",
    "EVIDENCE_PARTIAL_SCHEMA",
    "EVIDENCE_PER_CLIENT",
    "PATHS_KEPT",
    "PATH_COUNT_SCHEMA",
    "RULE_COUNT_SCHEMA",
    "SHARDS",
    "TIME_COUNT_SCHEMA",
    "Partial",
    "bucket_width",
    "frame_from_bytes",
    "frame_to_bytes",
    "join_shards",
    "merge",
    "merge_all",
    "parse_stats",
    "partial_from_bytes",
    "partial_to_bytes",
    "split_shards",
    "write_partial",
]

#: Keys of one client.
CLIENT_KEY = ["ip", "user_agent"]

#: String columns whose few distinct values repeat over many rows (59 user agents over 300k
#: clients of a 10M-line log): a partial kept across batches holds each value once
#: (:func:`~botguard.judge.columns.compact_strings`).
REPEATED = ("user_agent", "rule")

#: How many example disallowed requests each client keeps as evidence.
EVIDENCE_PER_CLIENT = 3

_TIME = pl.Datetime("us", "UTC")

#: One row per client: what its lines add up to.
CLIENT_PARTIAL_SCHEMA: dict[str, pl.DataType] = {
    "ip": pl.String(),
    "user_agent": pl.String(),  # null: the log format records no agent
    "crawler": pl.String(),  # the catalogue entry its agent matches (null: none)
    "token": pl.String(),  # the robots.txt product token its requests were judged as
    "robots_host": pl.String(),  # first host logged (null unless judged per host): its Crawl-delay applies
    "requests": pl.Int64(),
    "first_seen": _TIME,
    "last_seen": _TIME,
    "robots_fetched": pl.Int64(),
    "first_robots": _TIME,  # first robots.txt fetch (null: none)
    "first_other": _TIME,  # first other request (null: none)
    "judged": pl.Int64(),  # requests robots.txt was asked about
    "disallowed": pl.Int64(),
    "honeypot": pl.Int64(),  # disallowed requests into a trap path
    "invalid": pl.Int64(),  # request lines that are not HTTP
    "assets": pl.Int64(),
    "pages": pl.Int64(),
    "referers": pl.Int64(),
    "client_errors": pl.Int64(),  # 4xx responses
    "fast_gaps": pl.Int64(),  # intervals shorter than min_gap (see the module docstring)
    "gap_first": _TIME,  # first and last request a Crawl-delay governs (null: none)
    "gap_last": _TIME,
    "min_gap": pl.Float64(),  # seconds: Crawl-delay x tolerance (null: no Crawl-delay applies)
}

#: Disallowed requests per client and rule.
RULE_COUNT_SCHEMA: dict[str, pl.DataType] = {
    "ip": pl.String(),
    "user_agent": pl.String(),
    "rule_host": pl.String(),  # whose robots.txt the rule is in (null: the one robots.txt)
    "rule_line": pl.Int64(),
    "rule": pl.String(),  # "Disallow: /cart"
    "count": pl.Int64(),
}

#: Up to EVIDENCE_PER_CLIENT earliest disallowed requests per client.
EVIDENCE_PARTIAL_SCHEMA: dict[str, pl.DataType] = {
    "ip": pl.String(),
    "user_agent": pl.String(),
    "time": _TIME,
    "method": pl.String(),
    "target": pl.String(),
    "status": pl.Int16(),
    "rule_line": pl.Int64(),
    "rule": pl.String(),
}

#: Requests and bytes per client and time bucket (the reports' charts), at the partial's
#: :func:`bucket_width`. Clients are named by ``key``, a 64-bit hash of address and agent
#: (:func:`~botguard.judge.timeline.client_key`), not by the two strings: those would double a
#: 5M-line scan's memory. polars computes it alike in every process of one polars version,
#: which is why a stored partial's fingerprint names that version.
TIME_COUNT_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.UInt64(),
    "bucket": pl.Int64(),  # Unix seconds of the bucket's start, a multiple of the width
    "requests": pl.Int64(),
    "bytes": pl.Int64(),
}

#: Disallowed requests per client and path (without its query: the reports' top paths).
PATH_COUNT_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.UInt64(),
    "path": pl.String(),
    "requests": pl.Int64(),
}

#: Distinct disallowed paths a partial keeps counts of (the reports name the most requested).
#: A log can name any number: a scanner walking made-up URLs under a disallowed prefix adds a
#: row per request, so without a bound the partial grows with the lines while the clients stay
#: few (20 such clients: 1M rows for 1M lines, the scan's peak 253 MiB at 200k lines, 395 at
#: 1M). Past this many
#: paths a merge keeps the rows of those requested most (ties: the first in text order, as the
#: report ranks them) and drops the rest. Below it every merge is exact (the bench logs name
#: ~700); above it a kept path's count is exact unless it fell below the cut earlier in the log.
PATHS_KEPT = 10_000

_SUMS = [name for name, dtype in CLIENT_PARTIAL_SCHEMA.items() if dtype == pl.Int64() and name != "fast_gaps"]


def _empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


@dataclass(frozen=True, slots=True)
class Partial:
    """What some consecutive lines of a log add up to, per client (see the module docstring).

    Five frames with fixed schemas (:data:`CLIENT_PARTIAL_SCHEMA`, :data:`RULE_COUNT_SCHEMA`,
    :data:`EVIDENCE_PARTIAL_SCHEMA`, :data:`TIME_COUNT_SCHEMA`, :data:`PATH_COUNT_SCHEMA`) and
    the parse counts of those lines. Treat ``stats`` as read-only: :func:`merge` builds new counts.
    """

    clients: pl.DataFrame = field(default_factory=lambda: _empty(CLIENT_PARTIAL_SCHEMA))
    rule_counts: pl.DataFrame = field(default_factory=lambda: _empty(RULE_COUNT_SCHEMA))
    evidence: pl.DataFrame = field(default_factory=lambda: _empty(EVIDENCE_PARTIAL_SCHEMA))
    time_counts: pl.DataFrame = field(default_factory=lambda: _empty(TIME_COUNT_SCHEMA))
    path_counts: pl.DataFrame = field(default_factory=lambda: _empty(PATH_COUNT_SCHEMA))
    stats: ParseStats = field(default_factory=ParseStats)

    def compacted(self) -> Partial:
        """The same partial holding copies of its strings, so it does not keep alive the batch
        its rows were cut from (see :func:`botguard.judge.columns.compact_strings`)."""
        return _partial([compact_strings(getattr(self, name), REPEATED) for name in _FRAMES], self.stats)


def bucket_width(clients: pl.DataFrame) -> int:
    """The bucket width a partial with these client rows counts its requests in: the narrowest
    that cuts its span (first to last request, in whole seconds) into at most ``MAX_BUCKETS``.

    Examples:
        >>> bucket_width(Partial().clients)
        60
    """
    low, high = clients.select(
        pl.col("first_seen").min().dt.epoch("s"), pl.col("last_seen").max().dt.epoch("s")
    ).row(0)
    return width_for(low, high) if low is not None and high is not None else width_for(0, 0)


#: Bumped when a schema above or what a column means changes: stored partials of another
#: version are not merged with new ones (the file is read whole again).
PARTIAL_VERSION = 2

#: Bytes of the blake2b digest that ends a stored partial.
_DIGEST_SIZE = 32

_FRAMES = ("clients", "rule_counts", "evidence", "time_counts", "path_counts")
_SCHEMAS = (
    CLIENT_PARTIAL_SCHEMA, RULE_COUNT_SCHEMA, EVIDENCE_PARTIAL_SCHEMA, TIME_COUNT_SCHEMA, PATH_COUNT_SCHEMA,
)  # fmt: skip


def partial_to_bytes(part: Partial) -> bytes:
    """A partial as bytes: its five frames as Arrow IPC streams and its parse counts as JSON,
    each behind its length (what the state database stores; a cluster can ship the same)."""
    buffer = io.BytesIO()
    write_partial(part, buffer)
    return buffer.getvalue()


def write_partial(part: Partial, out: IO[bytes]) -> None:
    """:func:`partial_to_bytes`'s bytes written into ``out`` from its position (a scan spills
    them to a temporary file: judge._spill), never held whole in memory."""
    stats = part.stats
    counts = json.dumps(
        {
            "lines": stats.lines,
            "parsed": stats.parsed,
            "malformed": stats.malformed,
            "invalid_requests": stats.invalid_requests,
            "by_reason": dict(stats.malformed_by_reason),
            "examples": stats.malformed_examples,
            "warnings": stats.warnings,
        }
    ).encode()
    frames = [partial(getattr(part, name).write_ipc_stream, compression="lz4") for name in _FRAMES]
    _write_sealed([*frames, counts], out)


def _sealed(pieces: Sequence[bytes | Callable[[IO[bytes]], object]]) -> bytes:
    """``pieces``, each behind its length, then a digest of them all, as bytes (:func:`_write_sealed`)."""
    buffer = io.BytesIO()
    _write_sealed(pieces, buffer)
    return buffer.getvalue()


def _write_sealed(pieces: Sequence[bytes | Callable[[IO[bytes]], object]], out: IO[bytes]) -> None:
    """``pieces``, each behind its length, then a digest of them all, written into ``out`` from
    its position: a piece given as a function writes itself there and its length is filled in
    after it, so a big frame is never held encoded twice (pieces joined at the end held a
    10M-line log's partial twice: ~40 MiB each, at the scan's end, beside its clients)."""
    start = out.tell()
    for piece in pieces:
        at = out.tell()
        out.write(bytes(8))
        if isinstance(piece, bytes):
            out.write(piece)
        else:
            piece(out)
        end = out.tell()
        out.seek(at)
        out.write(struct.pack("<Q", end - at - 8))
        out.seek(end)
    digest = _digest_between(out, start, out.tell())
    out.write(struct.pack("<Q", _DIGEST_SIZE) + digest)


def _digest_between(out: IO[bytes], start: int, end: int) -> bytes:
    """:func:`_digest` of ``out``'s bytes from ``start`` to ``end`` (its position, left there):
    from an in-memory buffer's memory, from a file a piece at a time (read as the spill reads)."""
    if isinstance(out, io.BytesIO):
        with out.getbuffer() as body:
            return _digest(body[start:end])
    out.flush()  # the pieces are read from the descriptor, past the file object's buffer
    hasher = hashlib.blake2b(digest_size=_DIGEST_SIZE)
    for piece in Spilled(out, start, end - start).pieces():
        hasher.update(piece)
    return hasher.digest()


def _unsealed(data: bytes) -> list[bytes]:
    """The pieces :func:`_sealed` wrote, once their digest is checked (``ValueError``, or
    ``struct.error`` on cut-off lengths, if the bytes are not such pieces)."""
    pieces, at, last = [], 0, 0
    while at < len(data):
        (size,) = struct.unpack_from("<Q", data, at)
        pieces.append(data[at + 8 : at + 8 + size])
        at, last = at + 8 + size, at
    *body, digest = pieces or [b""]
    if not hmac.compare_digest(digest, _digest(data[:last])):
        raise ValueError("its digest differs (damaged or edited)")
    return body


def _digest(body: bytes | memoryview) -> bytes:
    return hashlib.blake2b(body, digest_size=_DIGEST_SIZE).digest()


#: What decoding stored bytes may raise besides ValueError: damage the digest let through
#: never reaches the decoders, but a version's other layout might.
_DECODE_ERRORS = (struct.error, KeyError, TypeError, OSError, pl.exceptions.PolarsError, PanicException)


def frame_to_bytes(frame: pl.DataFrame, label: str = "") -> bytes:
    """One frame as :func:`partial_to_bytes` stores each of a partial's: Arrow IPC (LZ4) behind
    its length, after ``label`` (where the bytes belong: incremental scans keep a scan's judged
    rows beside its partial in numbered chunks), and a digest of both. Text as Arrow's offsets and
    bytes (the oldest compat level), not polars' views: a view column of a slice keeps, and
    would write, every buffer of the frame it was cut from (a 5M-line day's kept rows in 10k-row
    slices of one frame: 100 MB encoded, 2.6 GB decoded; so 12.5 MB and ~90 MB)."""
    return _sealed([label.encode(), _ipc(frame, pl.CompatLevel.oldest())])


def frame_from_bytes(data: bytes, schema: Mapping[str, pl.DataType], label: str = "") -> pl.DataFrame:
    """The frame :func:`frame_to_bytes` wrote under ``label``, with exactly ``schema``'s columns
    (``ValueError`` otherwise: damaged, edited, misplaced or another version's bytes are never
    decoded or used)."""
    try:
        written, piece = _unsealed(data)
        if written != label.encode():
            raise ValueError(f"written as {written[:80]!r}, read as {label[:80]!r}")
        frame = pl.read_ipc_stream(piece)
    except (ValueError, *_DECODE_ERRORS) as exc:
        raise ValueError(f"not a stored frame: {exc}") from exc
    if dict(frame.schema) != dict(schema):
        raise ValueError("not a stored frame: its columns differ from this version's")
    return frame


def partial_from_bytes(data: bytes) -> Partial:
    """The partial :func:`partial_to_bytes` wrote (``ValueError`` if the bytes are not one).

    The last piece is a digest of the others, checked before anything is decoded: damaged or
    edited bytes are refused, never merged, and never reach the Arrow or LZ4 decoders (which
    raise OSError or panic on some damage)."""
    try:
        *tables, raw = _unsealed(data)
        if len(tables) != len(_FRAMES):  # e.g. stored by a version without the time counts
            raise ValueError(f"{len(tables)} frames, not {len(_FRAMES)}")
        frames = [pl.read_ipc_stream(piece) for piece in tables]
        values = json.loads(raw)
        stats = ParseStats(
            lines=values["lines"], parsed=values["parsed"], malformed=values["malformed"],
            invalid_requests=values["invalid_requests"], malformed_by_reason=Counter(values["by_reason"]),
            malformed_examples=[tuple(e) for e in values["examples"]], warnings=list(values["warnings"]),
        )  # fmt: skip
    except (ValueError, *_DECODE_ERRORS) as exc:
        raise ValueError(f"not a stored partial: {exc}") from exc
    if any(dict(frame.schema) != schema for frame, schema in zip(frames, _SCHEMAS, strict=True)):
        raise ValueError("not a stored partial: its columns differ from this version's")
    return Partial(frames[0], frames[1], frames[2], frames[3], frames[4], stats)


def _ipc(frame: pl.DataFrame, compat_level: pl.CompatLevel | None = None) -> bytes:
    buffer = io.BytesIO()
    frame.write_ipc_stream(buffer, compression="lz4", compat_level=compat_level)
    return buffer.getvalue()


def merge(a: Partial, b: Partial) -> Partial:
    """The partial of ``a``'s lines followed by ``b``'s.

    Examples:
        >>> merge(Partial(), Partial()).clients.height
        0
    """
    return merge_all([a, b])


#: A merge of more client rows than this is done one hash shard of clients at a time
#: (:data:`SHARDS` of them): every fact merges within one client, so the shards' merges are
#: disjoint and put together are the whole merge, while the merge's working memory (grouping
#: keys, hash tables, joins) is one shard's. On a 5M-line log the fold of ~200k waiting client
#: rows into the merged partial set the scan's peak; see bench/README.md for the figures.
SHARD_ROWS = 40_000
#: Hash shards of clients for big merges and the scan's folds. 4 and 8 gave the same peak on
#: a 5M-line log (aggregation alone: 428 vs 425 MiB, 593 unsharded); 8 cost ~25% more
#: aggregation CPU at 1M lines (more small queries), 4 none measurable.
SHARDS = 4


def merge_all(parts: Sequence[Partial], *, shards: int | None = None) -> Partial:
    """:func:`merge` of several partials in log order, in one pass; a big merge is done
    ``shards`` hash shards of clients at a time (default: :data:`SHARDS` above
    :data:`SHARD_ROWS` client rows, else at once). The result is the same either way."""
    parts = [p for p in parts if p.stats.lines or p.stats.warnings or any(_heights(p))]
    if len(parts) == 1:
        return parts[0]
    stats = parse_stats(parts)
    if not parts:
        return Partial(stats=stats)
    frames = tuple(pl.concat([getattr(p, name) for p in parts]) for name in _FRAMES)
    width = bucket_width(frames[0])  # the merged clients span what their rows span
    count = shards or (SHARDS if frames[0].height > SHARD_ROWS else 1)
    if count == 1:
        return Partial(*_merge_frames(frames, width), stats)
    merged = [_merge_frames(shard, width) for shard in _shards(frames, count)]
    whole = [pl.concat(pieces) for pieces in zip(*merged, strict=True)]
    paths = _FRAMES.index("path_counts")
    whole[paths] = _kept_paths(whole[paths])  # each shard kept its own PATHS_KEPT
    return _partial(whole, stats)


def _heights(part: Partial) -> Iterator[int]:
    """Rows of each of ``part``'s frames (the aggregator's running fold queues pieces of
    disallowed-request counts alone, without their client rows: see botguard.judge.aggregate)."""
    return (getattr(part, name).height for name in _FRAMES)


def parse_stats(parts: Sequence[Partial]) -> ParseStats:
    """The parse counts of ``parts``' lines read one after another (a fresh record)."""
    stats = ParseStats()
    for part in parts:
        stats.merge(part.stats)
    return stats


_Frames = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]


def _partial(frames: Sequence[pl.DataFrame], stats: ParseStats) -> Partial:
    """A partial of its five frames in :data:`_FRAMES` order."""
    clients, rule_counts, evidence, time_counts, path_counts = frames
    return Partial(clients, rule_counts, evidence, time_counts, path_counts, stats)


def _merge_frames(frames: Sequence[pl.DataFrame], width: int) -> _Frames:
    """The five frames of a merge, from the concatenated rows of its parts (in log order)."""
    clients, rule_counts, evidence, time_counts, path_counts = frames
    return (
        _merge_clients(clients),
        _merge_rule_counts(rule_counts),
        _merge_evidence(evidence),
        _merge_time_counts(time_counts, width),
        _merge_path_counts(path_counts),
    )


def _shard_ids(frame: pl.DataFrame, count: int) -> pl.Series:
    """The hash shard of clients each row of a partial's frame belongs to: its client's
    :func:`~botguard.judge.timeline.client_key` modulo ``count``, so the frames keyed by
    address and agent and those keyed by the hash agree."""
    key = client_key() if "ip" in frame.columns else pl.col("key")
    return frame.select((key % count).cast(pl.UInt32)).to_series()


def _shards(frames: Sequence[pl.DataFrame], count: int) -> Iterator[list[pl.DataFrame]]:
    """The rows of each frame, one hash shard of clients after another (rows keep their order);
    each shard is cut when its turn comes, so only one shard's copy is alive at a time."""
    ids = [_shard_ids(frame, count) for frame in frames]
    for shard in range(count):
        yield [frame.filter(of == shard) for frame, of in zip(frames, ids, strict=True)]


def split_shards(part: Partial, count: int, *, compact: bool = True) -> list[Partial]:
    """``part``'s rows cut into ``count`` hash shards of clients, holding a copy of ``part``'s
    strings (not views pinning the batch ``part``'s are cut from); the parse counts stay behind
    (they are not a client's).

    Each frame's strings are copied once, before the cut, and its shards' rows are views of
    that copy: a copy per shard cost four times the per-call work on frames of a few thousand
    rows. The copy is the partial's own (a few MiB at most), alive until its last shard is folded.

    Shard ``i`` of a merge is the merge of the parts' shards ``i``, and the shards of one
    partial share no client: :func:`join_shards` puts them back together. ``compact=False``:
    ``part`` already holds its own strings (the aggregator's partial of a batch), so they are
    not copied again.
    """
    cut: list[list[pl.DataFrame]] = [[] for _ in range(count)]
    for name in _FRAMES:
        frame = compact_strings(getattr(part, name)) if compact else getattr(part, name)
        if frame.height == 0:  # (the aggregator's running fold queues pieces of counts alone)
            for shard in range(count):
                cut[shard].append(frame)
            continue
        pieces = frame.with_columns(_shard_ids(frame, count).alias("_shard")).partition_by(
            "_shard", as_dict=True, include_key=False, maintain_order=True
        )
        for shard in range(count):
            cut[shard].append(pieces[(shard,)] if (shard,) in pieces else frame.clear())
    return [_partial(frames, ParseStats()) for frames in cut]


def join_shards(shards: Sequence[Partial], stats: ParseStats) -> Partial:
    """The partial whose clients are those of ``shards`` (disjoint, see :func:`split_shards`),
    with the parse counts ``stats``: rows put together, time counts at the width of the whole
    span (a shard's own span may call for a narrower one)."""
    if not shards:
        return Partial(stats=stats)
    clients = pl.concat([shard.clients for shard in shards])
    width = bucket_width(clients)
    times = [
        s.time_counts if bucket_width(s.clients) == width else _merge_time_counts(s.time_counts, width)
        for s in shards
    ]
    return Partial(
        clients,
        pl.concat([shard.rule_counts for shard in shards]),
        pl.concat([shard.evidence for shard in shards]),
        pl.concat(times),
        _kept_paths(pl.concat([shard.path_counts for shard in shards])),
        stats,
    )


def _merge_clients(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per client from its rows in log order (one row per piece it appears in).

    Every aggregation here is a plain first, sum, min or max (polars' fast paths); what needs
    more (the first non-null host, the Crawl-delay intervals across cuts) is computed on the
    few rows that have it and joined back.
    """
    if rows.height == 0:
        return rows
    key, first = _client_ids(rows)
    rows = rows.with_columns(key) if key is not None else rows
    keys = [key.name] if key is not None else CLIENT_KEY
    merged = rows.group_by(keys).agg(
        *(pl.col(name).first() for name in [*first, "crawler", "token"]),
        *[pl.col(name).sum() for name in _SUMS],
        pl.col("fast_gaps").sum(),
        pl.col("first_seen", "first_robots", "first_other").min(),
        pl.col("last_seen").max(),
    )
    hosts = rows.filter(pl.col("robots_host").is_not_null())
    if hosts.height:
        merged = merged.join(
            hosts.group_by(keys).agg(pl.col("robots_host").first()), on=keys, how="left", nulls_equal=True
        )
    governed = rows.filter(pl.col("gap_first").is_not_null())
    if governed.height:
        merged = merged.join(_merge_gaps(governed, keys), on=keys, how="left", nulls_equal=True)
        merged = merged.with_columns(pl.col("fast_gaps") + pl.col("across").fill_null(0))
    return merged.select(
        [pl.col(name) if name in merged.columns else pl.lit(None, dtype).alias(name)
         for name, dtype in CLIENT_PARTIAL_SCHEMA.items()]
    ).cast(CLIENT_PARTIAL_SCHEMA)  # type: ignore[arg-type]  # fmt: skip


def _client_ids(rows: pl.DataFrame) -> tuple[pl.Series | None, list[str]]:
    """A number per client of ``rows`` (address and agent), and the key columns a group by it
    takes first; or (None, []) where no compiled kernel numbers them (group by the two strings:
    in polars, numbering first costs more than it saves)."""
    if kernel("judge._fold") is None:
        return None, []
    agents, _ = group_ids(rows.get_column("user_agent"))
    clients, _ = group_ids(rows.get_column("ip"), agents)
    return clients.alias("_client"), CLIENT_KEY


def _merge_gaps(governed: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per client with Crawl-delay rows: the intervals across the cuts between its pieces that
    are shorter than its ``min_gap`` (``across``), and its first and last governed times."""
    limit = pl.col("min_gap").first()
    across = pl.col("gap_first").shift(-1) - pl.col("gap_last")
    return governed.group_by(keys).agg(
        across=(across.dt.total_microseconds() / 1e6 < limit).sum(),
        gap_first=pl.col("gap_first").first(),
        gap_last=pl.col("gap_last").last(),
        min_gap=limit,
    )


def _merge_rule_counts(rows: pl.DataFrame) -> pl.DataFrame:
    keys = [name for name in RULE_COUNT_SCHEMA if name != "count"]
    return rows.group_by(keys).agg(pl.col("count").sum()).select(list(RULE_COUNT_SCHEMA))


def _merge_time_counts(rows: pl.DataFrame, width: int) -> pl.DataFrame:
    """Counts per client and bucket, each part's buckets floored to ``width`` (a multiple of
    every part's width: see the module docstring)."""
    return (
        rows.group_by("key", pl.col("bucket") // width * width)
        .agg(pl.col("requests", "bytes").sum())
        .select(list(TIME_COUNT_SCHEMA))
    )


def _merge_path_counts(rows: pl.DataFrame) -> pl.DataFrame:
    return _kept_paths(
        rows.group_by("key", "path").agg(pl.col("requests").sum()).select(list(PATH_COUNT_SCHEMA))
    )


def _kept_paths(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (path counts) of the :data:`PATHS_KEPT` paths requested most, all if no more."""
    if rows.get_column("path").n_unique() <= PATHS_KEPT:
        return rows
    kept = (
        rows.group_by("path")
        .agg(pl.col("requests").sum())
        .sort(["requests", "path"], descending=[True, False])
        .head(PATHS_KEPT)
    )
    return rows.join(kept.select("path"), on="path", how="semi", maintain_order="left")


def _merge_evidence(rows: pl.DataFrame) -> pl.DataFrame:
    return earliest_evidence(rows)


def earliest_evidence(rows: pl.DataFrame) -> pl.DataFrame:
    """Each client's EVIDENCE_PER_CLIENT earliest rows (ties: the earlier row first)."""
    return (
        rows.sort("time", maintain_order=True)
        .group_by(CLIENT_KEY, maintain_order=True)
        .head(EVIDENCE_PER_CLIENT)
        .select(list(EVIDENCE_PARTIAL_SCHEMA))
    )
