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

__all__ = [
    "FAN_IN",
    "PIECE_BYTES",
    "EngineError",
    "EngineOptions",
    "FileCounts",
    "Job",
    "Piece",
    "Segment",
]

#: How many bytes of an uncompressed log one piece holds (the last piece of a file may hold
#: less, a piece may hold one line more): big enough that what each piece costs once (the
#: catalogue classifying its agents, starting a task) is small beside parsing it.
PIECE_BYTES = 64 * 1024 * 1024

#: How many consecutive segments one task joins into one (the tree's fan-in): a task holds
#: this many partials at once, and a scan of N pieces takes log_FAN_IN(N) rounds of joining.
FAN_IN = 8


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
    fan_in: int = FAN_IN


@dataclass(frozen=True, slots=True)
class Piece:
    """Lines of one log file a worker reads: bytes ``start`` to ``end`` of an uncompressed file
    (``start`` just after a newline, ``end`` just after one or at the end of the file; None: a
    compressed file, read whole). ``file`` and ``index`` place it in log order. ``whole``: the
    file's only piece. ``log_format``: the format every piece of the file is read as (None:
    detected by the worker, as a scan of the file would). ``last``: the file's last piece."""

    file: int
    index: int
    path: str
    start: int
    end: int | None
    whole: bool
    log_format: str | None
    last: bool


@dataclass(frozen=True, slots=True)
class Job:
    """What every worker needs besides its piece: what the single-machine scan builds its
    aggregator from (robots.txt already read: workers need not see the files)."""

    catalog: Catalog
    robots: RobotsLookup
    settings: Settings
    per_host: bool


@dataclass(frozen=True, slots=True)
class FileCounts:
    """The lines of one file inside a segment: what the file's "most lines are malformed"
    warning is weighed on once all of its pieces are joined (blank lines counted apart)."""

    lines: int = 0
    malformed: int = 0
    blank: int = 0

    def __add__(self, other: FileCounts) -> FileCounts:
        return FileCounts(
            self.lines + other.lines, self.malformed + other.malformed, self.blank + other.blank
        )


@dataclass(frozen=True, slots=True)
class Segment:
    """Consecutive pieces ``first`` to ``last`` (in log order) joined into one partial, with
    what joining it to its neighbours needs: a file may be cut at either end of it.

    ``partial``: the joined partial as bytes (:func:`~botguard.judge.partial.partial_to_bytes`),
    its malformed-line examples numbered from the start of each file, except those of the
    first file (``head_examples`` of them, first in the list), numbered from ``first``'s start.
    ``head``/``tail``: the lines of the first and of the last file inside the segment (the
    same file: the same counts). ``head_warnings``: how many of the partial's warnings (first
    in the list) are the first file's. ``error``: the first error of its pieces in log order
    (then ``partial`` is empty). ``seconds``/``size``: worker seconds and bytes read, summed.
    """

    first: Piece
    last: Piece
    partial: bytes
    head: FileCounts
    tail: FileCounts
    head_examples: int
    head_warnings: int
    error: str | None = None
    seconds: float = 0.0
    size: int = 0
