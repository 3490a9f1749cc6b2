"""Engines: the scan's parse and per-client aggregation run on Spark or Dask, one piece of the
logs per task, and the partials joined on the workers with the judge's own merge.

Public door: :func:`engine_partial` (the merged partial of a scan's files, which the scan then
judges as it judges its own), :func:`engine_options` (``--engine``/``--scheduler`` checked),
:class:`EngineOptions`, :class:`Job` (what every worker needs), :data:`ENGINES`. Spark and Dask
are optional extras, imported only by the engine that runs (``botguard[spark]``,
``botguard[dask]``). Every scan reads this door for ``--engine``'s choices; the records are
imported when a scan names an engine (a cron job's small scan on one machine never does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any

from botguard.errors import UsageError
from botguard.judge import Partial
from botguard.loading import lazy_attribute

if TYPE_CHECKING:
    from botguard.engines.records import EngineOptions, Job, Piece, Segment

__all__ = ["ENGINES", "EngineOptions", "Job", "engine_options", "engine_partial"]

#: engine name -> the module whose ``run(pieces, job, options)`` runs the pieces on it.
_RUNNERS = {"spark": "botguard.engines._spark", "dask": "botguard.engines._dask"}

#: The engines ``--engine`` names.
ENGINES = tuple(_RUNNERS)


def engine_options(
    name: str | None, scheduler: str | None = None, piece_mib: int | None = None
) -> EngineOptions | None:
    """The options of ``--engine NAME [--scheduler URL] [--piece-mib N]`` (None: no engine).

    Examples:
        >>> engine_options("dask", "tcp://10.0.0.5:8786").scheduler
        'tcp://10.0.0.5:8786'
        >>> engine_options(None, "tcp://10.0.0.5:8786")
        Traceback (most recent call last):
        botguard.errors.UsageError: --scheduler and --piece-mib need --engine spark|dask
    """
    if name is None:
        if scheduler is not None or piece_mib is not None:
            raise UsageError("--scheduler and --piece-mib need --engine spark|dask")
        return None
    if name not in _RUNNERS:
        raise UsageError(f"--engine {name}: not one of {', '.join(ENGINES)}")
    if piece_mib is not None and piece_mib < 1:
        raise UsageError("--piece-mib must be at least 1")
    from botguard.engines.records import PIECE_BYTES, EngineOptions

    size = piece_mib * 1024 * 1024 if piece_mib is not None else PIECE_BYTES
    return EngineOptions(name, scheduler or None, size)


def engine_partial(
    paths: Sequence[str],
    options: EngineOptions,
    job: Job,
    log_format: str | None,
    progress: Callable[[int], None] | None = None,
) -> Partial:
    """The partial of ``paths`` (in log order) computed on the engine: what
    :func:`~botguard.judge.merge_all` of the single-machine scan's per-file partials is. The
    engine joins the pieces' partials on its workers, in a tree of ``options.fan_in``: this
    machine receives one partial, the merged clients."""
    # Imported here: every scan reads this door for --engine's options, and a scan on one
    # machine (a cron job's small log) has no pieces to cut or join.
    from botguard.engines.join import finish
    from botguard.engines.pieces import plan

    json_fields = job.settings.json_fields or None
    pieces = plan(paths, log_format, json_fields, options.piece_bytes)
    if not pieces:
        return Partial()
    merged = finish(run_pieces(pieces, job, options), pieces)
    if progress is not None:
        progress(merged.stats.lines)
    return merged


def run_pieces(pieces: list[Piece], job: Job, options: EngineOptions) -> Segment:
    """All of ``pieces`` joined into one segment by the engine ``options`` names (its module
    imported now)."""
    runner: Callable[[list[Piece], Job, EngineOptions], Segment]
    runner = import_module(_RUNNERS[options.name]).run
    return runner(pieces, job, options)


def __getattr__(name: str) -> Any:
    """:class:`EngineOptions` and :class:`Job`, imported on first use (PEP 562)."""
    return lazy_attribute(__name__, {"EngineOptions": "records", "Job": "records"}, name)
