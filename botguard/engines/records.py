"""Records of the engines: what a scan asks of an engine, the pieces it cuts the logs into, what
every worker needs, and what a worker sends back."""

from __future__ import annotations

import re
from dataclasses import dataclass

from botguard.catalog import Catalog
from botguard.config import Settings
from botguard.errors import BotguardError
from botguard.judge.aggregate import RobotsLookup
from botguard.text import printable

__all__ = ["PIECE_BYTES", "EngineError", "EngineOptions", "Job", "Piece", "PieceResult"]

#: How many bytes of an uncompressed log one piece holds (the last piece of a file may hold
#: less, a piece may hold one line more): big enough that what each piece costs once (the
#: catalogue classifying its agents, starting a task) is small beside parsing it.
PIECE_BYTES = 64 * 1024 * 1024


_ERROR_LINE = re.compile(r"^[\w.]*(?:Error|Exception|Exit): .+")


class EngineError(BotguardError):
    """The engine failed to run the scan's pieces (cannot start, lost workers, a worker's error): exit 1."""

    @classmethod
    def of(cls, engine: str, exc: BaseException) -> EngineError:
        """The engine's exception as one line: engines put whole tracebacks (a Python worker's,
        the JVM's) in their messages, and a user is owed the line that says what went wrong.

        Examples:
            >>> str(EngineError.of("spark", RuntimeError("Failed\\nTraceback:\\n  x\\nValueError: boom")))
            'spark: ValueError: boom'
            >>> str(EngineError.of("dask", OSError("Timed out trying to connect to tcp://h:8786 after 2 s")))
            'dask: Timed out trying to connect to tcp://h:8786 after 2 s'
        """
        text = str(exc).split("JVM stacktrace:")[0]
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if _ERROR_LINE.match(line)]
        said = errors[-1] if errors else lines[0] if lines else type(exc).__name__
        return cls(f"{engine}: {printable(said, 300)}")


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Which engine runs a scan's parse and per-client aggregation, and where.

    ``scheduler``: the Spark master URL (``local[2]``, ``spark://HOST:7077``, ``k8s://...``) or
    the Dask scheduler address (``tcp://HOST:8786``); None: what ``spark-submit`` was given, else
    this machine's cores (Spark ``local[*]``, a Dask ``LocalCluster``).
    """

    name: str
    scheduler: str | None = None
    piece_bytes: int = PIECE_BYTES


@dataclass(frozen=True, slots=True)
class Piece:
    """Lines of one log file a worker reads: bytes ``start`` to ``end`` of an uncompressed file
    (``start`` just after a newline, ``end`` just after one or at the end of the file; None: a
    compressed file, read whole). ``file`` and ``index`` place it in log order. ``whole``: the
    file's only piece. ``log_format``: the format every piece of the file is read as (None:
    detected by the worker, as a scan of the file would)."""

    file: int
    index: int
    path: str
    start: int
    end: int | None
    whole: bool
    log_format: str | None


@dataclass(frozen=True, slots=True)
class Job:
    """What every worker needs besides its piece: what the single-machine scan builds its
    aggregator from (robots.txt already read: workers need not see the files)."""

    catalog: Catalog
    robots: RobotsLookup
    settings: Settings
    per_host: bool


@dataclass(frozen=True, slots=True)
class PieceResult:
    """A worker's answer for one piece: the piece's partial as bytes
    (:func:`~botguard.judge.partial.partial_to_bytes`), or the one-line error that stopped it;
    with the seconds the worker spent on it, its lines and its bytes (on disk) for the figures."""

    file: int
    index: int
    partial: bytes
    error: str | None
    seconds: float
    lines: int
    size: int
