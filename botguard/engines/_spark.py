"""Running the pieces on Spark: one piece per partition through ``mapInArrow``; the job and the
pieces travel to the executors once, as a broadcast variable."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import asdict
from functools import partial
from typing import TYPE_CHECKING, Any

from botguard.engines.records import EngineError, EngineOptions, Job, Piece, PieceResult
from botguard.engines.work import piece_result
from botguard.errors import BotguardError, UsageError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

__all__ = ["run"]

#: PieceResult's fields as Spark SQL types: the schema of what each partition sends back.
_COLUMNS = (
    ("file", "long"), ("index", "long"), ("partial", "binary"), ("error", "string"), ("seconds", "double"),
    ("lines", "long"), ("size", "long"),
)  # fmt: skip
_SCHEMA = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS)


def run(pieces: list[Piece], job: Job, options: EngineOptions) -> list[PieceResult]:
    """Every piece's result, from the active Spark session or one started for this scan (and
    stopped after it)."""
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
            return _results(spark, pieces, job)
        finally:
            if owned:
                spark.stop()
    except BotguardError:
        raise
    except Exception as exc:  # Py4J, the JVM, a lost executor: the engine failed, not the input
        raise EngineError.of("spark", exc) from exc


def _results(spark: SparkSession, pieces: list[Piece], job: Job) -> list[PieceResult]:
    context = spark.sparkContext
    shared = context.broadcast((job, pieces))
    try:
        numbers = context.parallelize([(number,) for number in range(len(pieces))], len(pieces))
        rows = numbers.toDF("number long").mapInArrow(partial(_arrow_results, shared), _SCHEMA).collect()
    finally:
        shared.destroy()
    return [_result(dict(zip([name for name, _ in _COLUMNS], row))) for row in rows]


def _result(values: dict[str, Any]) -> PieceResult:
    values["partial"] = bytes(values["partial"])
    return PieceResult(**values)


def _arrow_results(shared: Any, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """On an executor: the result of each piece whose number arrives."""
    import pyarrow as pa

    types = {"long": pa.int64(), "binary": pa.binary(), "string": pa.string(), "double": pa.float64()}
    schema = pa.schema([(name, types[kind]) for name, kind in _COLUMNS])
    job, pieces = shared.value
    for batch in batches:
        for number in batch.column("number").to_pylist():
            yield pa.RecordBatch.from_pylist([asdict(piece_result(job, pieces[number]))], schema=schema)
