"""The logs stage: access-log files in, batches of typed request rows out.

Public door: :func:`read_file` (what the scan uses: one file, or the byte range of it an
incremental scan or a cluster's partition reads: :class:`FileRead`; :func:`read_batches` reads
several) and their records (:class:`Batch`, :class:`ParseStats`); for a file read in pieces,
:func:`file_format` (the format of the whole) and :func:`format_warning` (weighed on the
whole). Format detection, the format registry (:data:`~botguard.logs.formats.FORMATS` with its
:class:`~botguard.logs.formats.LogFormat` protocol) and the live follower live in their own
modules of this package.

Examples:
    >>> import gzip, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> line = (b'1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET /robots.txt HTTP/1.1" 200 5 "-" '
    ...         b'"Googlebot/2.1"\\n')
    >>> with gzip.open(os.path.join(d, "access.log.1.gz"), "wb") as f: _ = f.write(line * 2)
    >>> with open(os.path.join(d, "access.log"), "wb") as f: _ = f.write(line + b"garbage\\n")
    >>> batches = list(read_batches([os.path.join(d, "access.log"), os.path.join(d, "access.log.1.gz")]))
    >>> [(os.path.basename(b.requests["source"][0]), b.stats.parsed, b.stats.malformed) for b in batches]
    [('access.log.1.gz', 2, 0), ('access.log', 1, 1)]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from botguard.errors import InputError, Location, UsageError
from botguard.logs._malformed import EXAMPLES_PER_BATCH
from botguard.logs.detect import SAMPLE_LINES, detect_format, header_loss
from botguard.logs.escapes import escape_raw_bytes
from botguard.logs.formats import FORMATS, BlockFormat, LogFormat, resolve_format
from botguard.logs.jsonl import JsonFormat
from botguard.logs.readers import (
    DEFAULT_CHUNK_BYTES,
    DamagedInput,
    check_readable,
    cut_lines,
    open_source,
    order_paths,
    prefetched,
    read_blocks,
    split_lines,
)
from botguard.logs.records import REQUEST_SCHEMA, Batch, ParseStats
from botguard.logs.text import TemplateFormat

__all__ = ["Batch", "FileRead", "ParseStats", "file_format", "format_warning", "read_file"]


_HEAD_BYTES = 1024 * 1024  # of a file's first block: what format detection samples
#: Bytes parsed at once (see :func:`_parse_in_pieces`). The trade, on the 1M-line bench log: each
#: piece pays ~3.5 ms of CPU whatever its size (planning the typing query, splitting its result,
#: counting), while polars' working memory grows with the piece. Scan peak RSS and CPU (user) by
#: piece size: 2 MiB 349 MiB and 4.3-4.6 s, 4 MiB 368 MiB and 3.9-4.3 s, 8 MiB 381-398 MiB and
#: 3.9-4.1 s.
PARSE_BYTES = 4 * 1024 * 1024


def read_batches(
    paths: Sequence[str],
    log_format: str | None = None,
    *,
    batch_lines: int = 500_000,
    json_fields: Mapping[str, str] | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[Batch]:
    """Parsed batches of every line of ``paths`` (``-`` is stdin), rotated sets oldest first.

    ``log_format`` is None (detect per file), a registered name, or an nginx log_format string.
    Argument errors (:class:`~botguard.errors.UsageError`) and unreadable paths
    (:class:`~botguard.errors.InputError`) are raised here, before any batch is produced.
    A batch holds at most ``batch_lines`` lines of one file; ``chunk_bytes`` bounds the bytes
    read at once (memory).
    """
    if batch_lines < 1:
        raise ValueError("batch_lines must be positive")
    fixed = resolve_format(log_format, json_fields) if log_format is not None else None
    ordered = order_paths(paths)
    for path in ordered:
        check_readable(path)
    return _batches(ordered, fixed, json_fields, batch_lines, chunk_bytes)


def _batches(
    paths: list[str],
    fixed: LogFormat | None,
    json_fields: Mapping[str, str] | None,
    batch_lines: int,
    chunk_bytes: int,
) -> Iterator[Batch]:
    for path in paths:
        # Parsing runs one batch ahead in a worker thread (polars releases the GIL), so the
        # caller's work on a batch overlaps with parsing the next one.
        part = FileRead(path, pinned=fixed is not None)
        batches = prefetched(_file_batches(path, fixed, json_fields, batch_lines, chunk_bytes, part))
        try:
            yield from batches
        finally:
            batches.close()


def _file_batches(
    path: str,
    fmt: LogFormat | None,
    json_fields: Mapping[str, str] | None,
    batch_lines: int,
    chunk_bytes: int,
    part: FileRead | None = None,
) -> Iterator[Batch]:
    part = part or FileRead(path)
    before = part.before
    line_no, head = before.lines + 1, b""
    malformed, blank = before.malformed, before.malformed_by_reason["empty"]
    warnings: list[str] = []
    pinned, first = fmt is not None and part.pinned, True
    try:
        for block in read_blocks(path, chunk_bytes=chunk_bytes, start=part.start, end=part.end):
            if fmt is None:
                fmt = detect_block_format(block, path, json_fields)
            if first and part.start == 0:  # the file's first lines: do they fit the format?
                said = header_check(block, path, fmt, json_fields, pinned=pinned)
                warnings += [said] if said else []
            first = False
            part.format = fmt
            head = head or (block[:_HEAD_BYTES] if part.start == 0 else b"")
            for batch in parse_block(fmt, block, path, line_no, batch_lines):
                line_no += batch.stats.lines
                malformed += batch.stats.malformed
                blank += batch.stats.malformed_by_reason["empty"]
                yield batch
    except DamagedInput as exc:
        # Leniency: an old archive cut by a full disk must not cost the other files' lines.
        warnings.append(f"{Location(path, line_no)}: {exc.message}; the rest of this file could not be read")
    counts = ParseStats(lines=line_no - 1, malformed=malformed, malformed_by_reason=Counter(empty=blank))
    said = (
        format_warning(path, fmt, counts, json_fields, head=head) if fmt is not None and part.whole else None
    )
    if said is not None:
        warnings.append(said)
    if warnings:  # an empty batch that only carries them, after the file's own batches
        yield Batch(pl.DataFrame(schema=REQUEST_SCHEMA), ParseStats(warnings=warnings))


@dataclass(slots=True)
class FileRead:
    """What :func:`read_file` reads of one file, and the format it read it as once known.

    ``start``/``end``: the byte range (an uncompressed file's; ``start`` just after a newline);
    ``before``: the counts of the lines before ``start`` (line numbers continue from them, and
    the "most lines are malformed" warning weighs the whole file). ``whole``: False for one of
    several pieces of a file read apart (a cluster's partitions): the pieces number their lines
    from 1 and the "most lines are malformed" warning is left to whoever joins their counts
    (:func:`format_warning`), as it weighs the whole file. ``pinned``: the format given to
    :func:`read_file` is the user's, refused when it drops the referer and user agent the
    file's first lines carry (:func:`header_check`), where a detected one draws a warning.
    """

    path: str
    start: int = 0
    end: int | None = None
    before: ParseStats = field(default_factory=ParseStats)
    format: LogFormat | None = None
    whole: bool = True
    pinned: bool = False  # the format given was the user's choice (not detected): see header_check


def read_file(
    part: FileRead,
    log_format: LogFormat | None = None,
    *,
    batch_lines: int = 500_000,
    json_fields: Mapping[str, str] | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Iterator[Batch]:
    """Parsed batches of one file (or of the byte range ``part`` names), parsed one batch ahead
    in a worker thread; ``part.format`` is set to the format used (``log_format`` or detected)."""
    check_readable(part.path)
    batches = prefetched(_file_batches(part.path, log_format, json_fields, batch_lines, chunk_bytes, part))
    try:
        yield from batches
    finally:
        batches.close()


def _file_head(path: str) -> bytes:
    """The first bytes of a file, for the format warning of a scan that read only its end."""
    with open_source(path) as stream:
        return stream.read(_HEAD_BYTES)


def file_format(path: str, json_fields: Mapping[str, str] | None = None) -> LogFormat:
    """The format :func:`read_file` detects for a whole file, from its first block: pieces of
    one file read apart are all read as this one."""
    blocks = read_blocks(path)
    try:
        first = next(blocks, b"")
    finally:
        blocks.close()
    return detect_block_format(first, path, json_fields)


def format_warning(
    path: str, fmt: LogFormat, counts: ParseStats, json_fields: Mapping[str, str] | None, *, head: bytes = b""
) -> str | None:
    """The warning a whole file read as ``fmt`` draws when most of its lines (``counts``: the
    whole file's) are malformed, else None. ``head``: the file's first bytes when at hand."""
    blank = counts.malformed_by_reason["empty"]
    lines, bad = counts.lines - blank, counts.malformed - blank  # blank lines say nothing about the format
    if bad * 2 <= lines:
        return None
    return _format_warning(
        path, fmt, head or _file_head(path), json_fields, bad=bad, lines=lines, blank=blank
    )


def _format_warning(
    path: str, fmt: LogFormat, head: bytes, json_fields: Mapping[str, str] | None, *, bad: int, lines: int,
    blank: int,
) -> str:  # fmt: skip
    """Most lines of a file did not parse: say so, and which format its first lines match.

    ``bad`` of ``lines`` are malformed, ``blank`` blank lines left out of both. A wrong
    --log-format otherwise gives an empty report that looks like a quiet day.
    """
    share = f"{bad:,} of {lines:,} {'non-blank ' if blank else ''}lines ({bad / lines:.0%})"
    said = f"{path}: {share} are malformed when read as {fmt.name}"
    try:
        better = detect_block_format(head, path, json_fields).name
    except InputError:
        better = fmt.name
    if better == fmt.name:
        return f"{said}; no other known format reads them better (--show-malformed N prints some)"
    return f"{said}; its first lines read as {better} (--log-format {better})"


def parse_block(fmt: LogFormat, block: bytes, source: str, line_no: int, batch_lines: int) -> Iterator[Batch]:
    """Batches of at most ``batch_lines`` lines from one block, via parse_block when offered.

    Bytes that are not UTF-8 (a log written without escaping) are read as their ``\\xHH``
    escapes first (:func:`botguard.logs.escapes.escape_raw_bytes`): a rule made from the agent
    then matches the bytes the client sent, not U+FFFD.
    """
    if not isinstance(fmt, BlockFormat):  # a block format escapes what it must itself (one pass)
        block = escape_raw_bytes(block, json=isinstance(fmt, JsonFormat))
        lines = split_lines(block)
        for offset in range(0, lines.len(), batch_lines):
            part = lines.slice(offset, batch_lines)
            yield Batch(*fmt.parse_batch(part, source=source, first_line_no=line_no + offset))
        return
    requests, stats = _parse_in_pieces(fmt, block, source, line_no)
    if stats.lines <= batch_lines:
        yield Batch(requests, stats)
        return
    for piece in cut_lines(block, batch_lines):  # rare: a tiny batch size or very short lines
        requests, stats = fmt.parse_block(piece, source=source, first_line_no=line_no)
        line_no += stats.lines
        yield Batch(requests, stats)


def _parse_in_pieces(
    fmt: BlockFormat, block: bytes, source: str, line_no: int
) -> tuple[pl.DataFrame, ParseStats]:
    """``fmt.parse_block`` of ``block`` a piece of about :data:`PARSE_BYTES` at a time, put
    together as one batch (the requests in line order, the counts summed, the first examples).

    Why: polars' working memory while parsing is several times the bytes parsed (the pieces
    of every line, then ~30 typed columns), and it is what sets the scan's peak; parsed
    requests are small. Parsing in small pieces keeps the peak low, and handing the aggregator
    one batch per block keeps its per-batch costs as few as the block is big.
    """
    frames: list[pl.DataFrame] = []
    stats = ParseStats()
    start = 0
    # A compiled reader takes the whole block (see TemplateFormat.fast_reader).
    size = len(block) if isinstance(fmt, TemplateFormat) and fmt.fast_reader() else PARSE_BYTES
    while start < len(block):
        cut = block.find(b"\n", start + size)
        end = len(block) if cut < 0 else cut + 1
        requests, part = fmt.parse_block(block[start:end], source=source, first_line_no=line_no + stats.lines)
        frames.append(requests)
        stats.merge(part, keep_examples=EXAMPLES_PER_BATCH)
        start = end
    return (frames[0] if len(frames) == 1 else pl.concat(frames)), stats


def detect_block_format(block: bytes, source: str, json_fields: Mapping[str, str] | None) -> LogFormat:
    """Detect the format of a file from its first block (errors name the file)."""
    sample = sample_lines(block)
    if not sample:  # only blank lines so far: any format counts them the same way
        return FORMATS["combined"]
    candidates = _candidates(json_fields)
    try:
        return candidates[detect_format(sample, candidates)]
    except InputError as exc:
        raise InputError(exc.message, Location(source)) from None


def sample_lines(block: bytes) -> list[str]:
    """The first :data:`~botguard.logs.detect.SAMPLE_LINES` non-blank lines of a block (among
    its first few hundred lines and first MiB): what detection and :func:`header_check` read."""
    head = block[:_HEAD_BYTES]
    cut = _after_lines(head, SAMPLE_LINES)
    if cut is not None:  # the usual case: decode only the first lines (the whole MiB cost ~5 ms)
        sample = _non_blank(head[:cut].decode("utf-8", errors="replace").split("\n"))
        if len(sample) == SAMPLE_LINES:  # (a newline is never inside a UTF-8 sequence)
            return sample
    return _non_blank(head.decode("utf-8", errors="replace").split("\n")[: SAMPLE_LINES * 5])[:SAMPLE_LINES]


def _after_lines(data: bytes, lines: int) -> int | None:
    """Where the first ``lines`` lines of ``data`` end (just after a newline), or None."""
    at = -1
    for _ in range(lines):
        at = data.find(b"\n", at + 1)
        if at < 0:
            return None
    return at + 1


def _non_blank(lines: list[str]) -> list[str]:
    return [line.rstrip("\r") for line in lines if line.strip()]


def _candidates(json_fields: Mapping[str, str] | None) -> dict[str, LogFormat]:
    candidates = dict(FORMATS)
    if json_fields:
        candidates["json"] = resolve_format("json", json_fields)
    return candidates


def header_check(
    block: bytes, source: str, fmt: LogFormat, json_fields: Mapping[str, str] | None, *, pinned: bool
) -> str | None:
    """The warning to give when ``fmt`` drops the referer or user agent that most of the first
    lines of ``block`` carry (:func:`~botguard.logs.detect.header_loss`), else None; a format
    the user ``pinned`` is refused instead (:class:`UsageError`): an experienced GoAccess user
    picks COMBINED for such a log, and a pinned ``common`` would silently judge every client
    without its agent."""
    loss = header_loss(fmt, sample_lines(block), _candidates(json_fields))
    if loss is None:
        return None
    if pinned:
        raise UsageError(loss.refusal(source, fmt.name))
    return loss.warning(source, fmt.name)
