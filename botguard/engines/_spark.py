"""Running the pieces on Spark: one piece per partition through ``mapInArrow``, then the
segments joined on the executors in rounds: each round groups ``fan_in`` consecutive segments
(by the position of their first piece) and joins each group in one ``applyInArrow`` task,
until one segment is left, the only one collected here. The job and the pieces travel to the
executors once, as a broadcast variable.

Not ``RDD.treeReduce``/``treeAggregate``: they pair partition i with i + n/scale (not its
neighbour) and combine in whatever order the shuffle delivers, which needs a commutative
merge; joining is associative only in log order (the Crawl-delay interval across a cut, the
examples' line numbers, the earliest evidence's ties). A round's group arrives in any order
and is put back in log order before joining; a task holds at most ``fan_in`` segments.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from botguard.engines.join import join_all
from botguard.engines.records import EngineError, EngineOptions, Job, Piece, Segment
from botguard.engines.work import piece_segment
from botguard.errors import BotguardError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["run"]

#: What each task sends on: the position of the segment's first piece in the plan, and the
#: segment (pickled, as Spark pickles the job: it goes from this scan's workers to its own).
_SCHEMA = "number long, segment binary"


def run(pieces: list[Piece], job: Job, options: EngineOptions) -> Segment:
    """All pieces joined into one segment on the active Spark session or one started for this
    scan (and stopped after it): only that segment comes back here."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError("--engine spark needs pyspark: pip install 'botguard[spark]'") from None
    owned = SparkSession.getActiveSession() is None
    if owned and "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Started here, not by spark-submit: local executors run this Python, which has botguard.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    try:
        builder = SparkSession.builder.appName("botguard scan").config(
            "spark.ui.showConsoleProgress", "false"
        )
        if options.scheduler is not None:
            builder = builder.master(options.scheduler)
        spark = builder.getOrCreate()
        try:
            return _root(spark, pieces, job, options.fan_in)
        finally:
            if owned:
                spark.stop()
    except BotguardError:
        raise
    except Exception as exc:  # Py4J, the JVM, a lost executor: the engine failed, not the input
        raise EngineError.of("spark", exc) from exc


def _root(spark: SparkSession, pieces: list[Piece], job: Job, fan_in: int) -> Segment:
    context = spark.sparkContext
    shared = context.broadcast((job, pieces))
    try:
        numbers = context.parallelize([(number,) for number in range(len(pieces))], len(pieces))
        frame = numbers.toDF("number long").mapInArrow(partial(_arrow_pieces, shared), _SCHEMA)
        width = 1
        while width < len(pieces):
            width *= fan_in
            frame = _joined_round(frame, width, -(-len(pieces) // width), job.settings.json_fields or None)
        rows = frame.collect()
    finally:
        shared.destroy()
    if len(rows) != 1:
        raise EngineError(f"spark: {len(rows)} joined segments came back, not one")
    segment: Segment = pickle.loads(rows[0]["segment"])
    return segment


def _joined_round(
    frame: DataFrame, width: int, groups: int, json_fields: Mapping[str, str] | None
) -> DataFrame:
    """One round: the segments whose first pieces lie in the same ``width`` consecutive pieces
    joined into one (numbered by the group's first position)."""
    from pyspark.sql import functions as F

    grouped = frame.withColumn("number", F.col("number") - F.col("number") % width)
    # A lambda: pyspark reads a function's type hints to choose how to call it, and fails on
    # a functools.partial of an annotated one; one without hints gets the whole group's table.
    return (
        grouped.repartition(groups, "number")
        .groupBy("number")
        .applyInArrow(lambda table: _arrow_join(json_fields, table), _SCHEMA)
    )


def _arrow_pieces(shared: Any, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """On an executor: the segment of each piece whose number arrives."""
    import pyarrow as pa

    job, pieces = shared.value
    for batch in batches:
        for number in batch.column("number").to_pylist():
            segment = pickle.dumps(piece_segment(job, pieces[number]))
            yield pa.RecordBatch.from_pydict(
                {"number": [number], "segment": [segment]}, schema=_arrow_schema()
            )


def _arrow_join(json_fields: Mapping[str, str] | None, table: pa.Table) -> pa.Table:
    """On an executor: one group's segments (arriving in any order) joined in log order."""
    import pyarrow as pa

    segments: list[Segment] = [pickle.loads(data) for data in table.column("segment").to_pylist()]
    segments.sort(key=lambda segment: (segment.first.file, segment.first.index))
    joined = join_all(segments, json_fields)
    number = table.column("number")[0].as_py()
    return pa.table({"number": [number], "segment": [pickle.dumps(joined)]}, schema=_arrow_schema())


def _arrow_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("number", pa.int64()), ("segment", pa.binary())])
