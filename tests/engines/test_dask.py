"""`scan --engine dask` on a real LocalCluster (2 worker processes): the same scan, row for row."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import distributed
import pytest

from botguard.engines import EngineOptions, run_pieces
from botguard.engines.join import finish
from botguard.engines.pieces import plan
from botguard.engines.records import FAN_IN, Segment
from tests.engines.conftest import Case, engine_job, scan_doc

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("name", ["example", "rotated", "60k"])
def test_dask_scan_equals_the_single_machine_scan(
    name: str, cases: dict[str, Case], single: dict[str, dict[str, Any]], scheduler: str
) -> None:
    """Every client, crawler, count, malformed-line example and warning as on one machine."""
    doc = scan_doc(cases[name], "dask", scheduler)
    assert doc["summary"]["lines"] > 0
    assert doc == single[name]


def test_pieces_joined_in_a_deep_tree_on_the_workers_equal_one_machine(
    cases: dict[str, Case], single: dict[str, dict[str, Any]], scheduler: str
) -> None:
    """Four files (one gzipped, one mostly junk) cut in 256 KiB pieces and joined two at a time
    on the workers, whatever worker finishes first: a tree five levels deep, and still the scan of one machine."""
    case = cases["rotated"]
    pieces = plan([str(path) for path in case.paths], None, None, case.piece_bytes)
    assert len(pieces) > 2**4 and len({piece.file for piece in pieces}) == 4
    doc = scan_doc(case, "dask", scheduler, fan_in=2)
    assert doc == single["rotated"]


def test_the_scan_machine_receives_one_joined_partial(cases: dict[str, Case], scheduler: str) -> None:
    """The pieces' partials are joined on the workers: what comes back is one segment covering
    every piece, the partial of the whole log."""
    case = cases["60k"]
    pieces = plan([str(path) for path in case.paths], None, None, case.piece_bytes)
    assert len(pieces) > FAN_IN  # a tree of two levels
    root = run_pieces(pieces, engine_job(case), EngineOptions("dask", scheduler, case.piece_bytes))
    assert isinstance(root, Segment) and (root.first, root.last) == (pieces[0], pieces[-1])
    assert finish(root, pieces).stats.lines == 60_000
