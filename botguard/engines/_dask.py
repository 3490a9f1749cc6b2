"""Running the pieces on Dask: a ``dask.bag`` with one piece per partition, on the scheduler
given or on a ``LocalCluster`` of this machine's cores, joined on the workers by the bag's tree
reduction (``split_every``: the fan-in), which joins consecutive partitions in order."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from functools import partial

from botguard.engines.join import join_all
from botguard.engines.records import EngineError, EngineOptions, Job, Piece, Segment
from botguard.engines.work import piece_segment
from botguard.errors import BotguardError, UsageError

__all__ = ["run"]


def run(pieces: list[Piece], job: Job, options: EngineOptions) -> Segment:
    """All pieces joined into one segment on the cluster at ``options.scheduler`` (or a local
    one started and closed for this scan): only that segment comes back here."""
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
            join = partial(_joined, job.settings.json_fields or None)
            bag = dask.bag.from_sequence(pieces, npartitions=len(pieces)).map(partial(piece_segment, job))
            root = bag.reduction(join, join, split_every=options.fan_in)
            segment: Segment = root.compute(scheduler=client)
            return segment
    except BotguardError:
        raise
    except Exception as exc:  # cannot reach the scheduler, a worker died: the engine failed
        raise EngineError.of("dask", exc) from exc


def _joined(json_fields: Mapping[str, str] | None, segments: Iterable[Segment]) -> Segment:
    """On a worker: consecutive segments (a partition's, or the joined segments of
    ``split_every`` consecutive partitions, in order) joined into one."""
    return join_all(list(segments), json_fields)
