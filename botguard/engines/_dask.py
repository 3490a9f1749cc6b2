"""Running the pieces on Dask: a ``dask.bag`` with one piece per partition, on the scheduler
given or on a ``LocalCluster`` of this machine's cores."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from functools import partial

from botguard.engines.records import EngineError, EngineOptions, Job, Piece, PieceResult
from botguard.engines.work import piece_result
from botguard.errors import BotguardError, UsageError

__all__ = ["run"]


def run(pieces: list[Piece], job: Job, options: EngineOptions) -> list[PieceResult]:
    """Every piece's result, computed on the cluster at ``options.scheduler`` (or a local one
    started and closed for this scan)."""
    try:
        import dask.bag
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--engine dask needs dask[distributed]: pip install 'botguard[dask]'") from None
    try:
        with ExitStack() as stack:
            if options.scheduler is not None:
                client = stack.enter_context(Client(options.scheduler, set_as_default=False))
            else:
                cluster = stack.enter_context(
                    LocalCluster(
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.ERROR,
                    )
                )
                client = stack.enter_context(Client(cluster, set_as_default=False))
            bag = dask.bag.from_sequence(pieces, npartitions=len(pieces)).map(partial(piece_result, job))
            return list(bag.compute(scheduler=client))
    except BotguardError:
        raise
    except Exception as exc:  # cannot reach the scheduler, a worker died: the engine failed
        raise EngineError.of("dask", exc) from exc
