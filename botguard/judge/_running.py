"""A scan's clients folded batch after batch in one compiled state (``botguard.judge._fold``).

The polars way (the pure twin, and the way for batches the kernel does not take) makes a
partial of each batch, cuts it into hash shards of clients and merges the shards' pieces as
they pile up: per batch a client frame, a time-count frame, a cut and, every few batches, a
re-grouping of every client seen. The running fold keeps each client's facts and its requests
per time bucket in the kernel instead, found by (address, agent number), and hands them back
once (:meth:`RunningFold.emit`): the same frames merging the batches' partials in log order
gives (tests/judge/test_native_fold.py compares them). Only the client rows and time counts
live here, with the disallowed requests per client and rule. What the kernel finds of a
batch's other disallowed-request facts, its path counts and the rows that may be evidence (those
among their client's earliest so far), goes through the partials, a few rows per batch.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import polars as pl

from botguard.judge._pairs import PairFacts
from botguard.judge._rowfold import row_inputs, takes, to_clients
from botguard.judge.partial import RULE_COUNT_SCHEMA, TIME_COUNT_SCHEMA
from botguard.judge.timeline import client_key

__all__ = ["BatchFound", "RunningFold"]

#: What the kernel finds of one batch: the rows that may be evidence (row numbers, in order),
#: and per (batch client id, path number) its disallowed requests (three columns).
BatchFound = tuple[pl.Series, pl.DataFrame]


class RunningFold:
    """The kernel's running fold of one scan's batches (clients and their time counts)."""

    def __init__(self, native: ModuleType) -> None:
        self._native = native
        self._state: object | None = native.running_new()
        self.batches = 0

    @staticmethod
    def takes(rows: pl.DataFrame) -> bool:
        """Whether the kernel takes these rows (times in microseconds, none null or pre-1970)."""
        return takes(rows)

    def add(
        self,
        rows: pl.DataFrame,
        pairs: tuple[np.ndarray, PairFacts],
        who: tuple[pl.Series, pl.Series],
        width: int,
    ) -> BatchFound:
        """Add one batch: ``rows`` numbered by ``client`` as for
        :func:`~botguard.judge._rowfold.fold_rows`; ``pairs``: each row's pair number in the
        scan's pair book and what the book knows of every pair (its flags, the scan's number of
        its rule where it is refused, its path's number); ``who``: the address and the scan's
        agent number of each client id; counted in buckets of ``width`` (the scan's span so
        far, this batch included)."""
        if self._state is None:
            raise RuntimeError("the running fold was emitted: it takes no more batches")
        row_flags, columns = row_inputs(rows)
        pair_ids, facts = pairs
        addresses, agents = who
        evidence, owners, path_numbers, counts = self._native.running_add(
            self._state, rows.height, addresses.len(), facts.count, _contiguous(rows.get_column("client")),
            np.ascontiguousarray(pair_ids, np.uint32), facts.flags, row_flags, *columns, width,
            addresses.__arrow_c_stream__(), _contiguous(agents.cast(pl.UInt32)),
            facts.rules, facts.paths, facts.path_count,
        )  # fmt: skip
        self.batches += 1
        found = pl.DataFrame(
            {
                "client": np.frombuffer(owners, np.uint32),
                "path": np.frombuffer(path_numbers, np.uint32),
                "requests": np.frombuffer(counts, np.int64),
            }
        )
        return pl.Series("row", np.frombuffer(evidence, np.uint32)), found

    def emit(
        self, agents: pl.DataFrame, rules: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """(client rows, time counts at the last width added with, rule counts) of every batch
        added: ``agents`` holds ``user_agent``, ``crawler`` and ``token`` of each agent
        number, ``rules`` ``rule_line`` and ``rule`` of each rule number, in number order.

        Once: the kernel's tables are let go as soon as they are copied out, before the frames
        are built from the copies (held to the end of the call, both were at a big scan's read
        peak: 10M lines, 300k clients)."""
        if self._state is None:
            raise RuntimeError("the running fold was emitted already")
        emitted, self._state = self._native.running_emit(self._state), None
        addresses, numbers, sums, limits, owners, buckets, requests, nbytes = emitted[:8]
        rule_owners, rule_numbers, rule_counts = emitted[8:]
        agent = pl.Series(np.frombuffer(numbers, np.uint32))
        named = (agents.get_column(name).gather(agent) for name in agents.columns)
        who = pl.DataFrame([pl.Series("ip", addresses, pl.String), *named]).with_columns(client_key())
        clients = to_clients(np.frombuffer(sums, np.int64).reshape(who.height, -1), limits, who)
        counts = pl.DataFrame(
            {
                "key": who.get_column("key").gather(pl.Series(np.frombuffer(owners, np.uint32))),
                "bucket": np.frombuffer(buckets, np.int64),
                "requests": np.frombuffer(requests, np.int64),
                "bytes": np.frombuffer(nbytes, np.int64),
            },
            schema=TIME_COUNT_SCHEMA,
        )
        owner = pl.Series(np.frombuffer(rule_owners, np.uint32))
        rule = pl.Series(np.frombuffer(rule_numbers, np.uint32))
        per_rule = pl.DataFrame(
            [
                *(who.get_column(name).gather(owner) for name in ("ip", "user_agent")),
                pl.Series("rule_host", [None], pl.String).extend_constant(None, owner.len() - 1)
                if owner.len()
                else pl.Series("rule_host", [], pl.String),
                *(rules.get_column(name).gather(rule) for name in ("rule_line", "rule")),
                pl.Series("count", np.frombuffer(rule_counts, np.int64)),
            ]
        ).cast(RULE_COUNT_SCHEMA)  # type: ignore[arg-type]
        return clients, counts, per_rule


def _contiguous(series: pl.Series) -> np.ndarray:
    return np.ascontiguousarray(series.to_numpy())
