"""`scan --engine dask` on a real LocalCluster (2 worker processes): the same scan, row for row."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import distributed
import pytest

from botguard.engines.pieces import plan
from tests.engines.conftest import Case, scan_doc

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
    """Four files (one gzipped, one mostly junk) cut in 64 KiB pieces and joined two at a time
    on the workers, whatever worker finishes first: a tree
    six levels deep, and still the scan of one machine."""
    case = replace(cases["rotated"], piece_bytes=64 * 1024)
    pieces = plan([str(path) for path in case.paths], None, None, case.piece_bytes)
    assert len(pieces) > 2**5 and len({piece.file for piece in pieces}) == 4
    doc = scan_doc(case, "dask", scheduler, fan_in=2)
    assert doc == single["rotated"]
