"""What a worker runs on one piece: botguard's own parse and per-client aggregation, exactly as
the single-machine scan runs them on a file, giving the piece's partial as a segment of one
piece (which :mod:`botguard.engines.join` joins to its neighbours)."""

from __future__ import annotations

import os
import time

from botguard.engines.records import FileCounts, Job, Piece, Segment
from botguard.errors import BotguardError
from botguard.judge import aggregator
from botguard.judge.partial import partial_to_bytes
from botguard.logs import FileRead, read_file
from botguard.logs.formats import resolve_format

__all__ = ["piece_segment"]


def piece_segment(job: Job, piece: Piece) -> Segment:
    """The partial of ``piece`` (a fresh aggregator per piece: nothing is carried between
    pieces, so it does not matter which worker runs which). A botguard error (the file is not
    there on this worker, a damaged archive) comes back as its one line, not as an exception
    the engine would wrap in its own traceback."""
    began = time.perf_counter()
    settings = job.settings
    json_fields = settings.json_fields or None
    try:
        size = os.path.getsize(piece.path) if piece.end is None else piece.end - piece.start
        fmt = resolve_format(piece.log_format, json_fields) if piece.log_format is not None else None
        agg = aggregator(job.catalog, job.robots, settings, per_host=job.per_host)
        read = FileRead(piece.path, piece.start, piece.end, whole=piece.whole)
        for batch in read_file(read, fmt, json_fields=json_fields):
            agg.add(batch.requests, batch.stats)
        part = agg.take()
    except (BotguardError, OSError) as exc:
        error = f"{piece.path}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        return Segment(
            piece, piece, b"", FileCounts(), FileCounts(), 0, 0, error, time.perf_counter() - began
        )
    stats = part.stats
    counts = FileCounts(stats.lines, stats.malformed, stats.malformed_by_reason["empty"])
    data = partial_to_bytes(part)
    return Segment(
        piece, piece, data, counts, counts, len(stats.malformed_examples), len(stats.warnings), None,
        time.perf_counter() - began, size,
    )  # fmt: skip
