"""What a worker runs on one piece: botguard's own parse and per-client aggregation, exactly as
the single-machine scan runs them on a file, giving the piece's partial as bytes."""

from __future__ import annotations

import os
import time

from botguard.engines.records import Job, Piece, PieceResult
from botguard.errors import BotguardError
from botguard.judge import aggregator
from botguard.judge.partial import partial_to_bytes
from botguard.logs import FileRead, read_file
from botguard.logs.formats import resolve_format

__all__ = ["piece_result"]


def piece_result(job: Job, piece: Piece) -> PieceResult:
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
        return PieceResult(piece.file, piece.index, b"", error, time.perf_counter() - began, 0, 0)
    data = partial_to_bytes(part)
    return PieceResult(
        piece.file, piece.index, data, None, time.perf_counter() - began, part.stats.lines, size
    )
