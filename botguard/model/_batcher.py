"""Micro-batches of the stream: each ``observe()`` call's rows cut by count and stream time, and
each micro-batch walked request by request into what the models take at once.

Why time as well as count: Adagrad moves a weight by about ``lr`` per update, so how fast a new
crawler is learned depends on updates per stream second, not per request: a quiet site must not
wait for 1,024 requests (minutes) before its first update.

Why flat keys: each request's features are three memoised tuples (actor, path, the rest), so the
walk only concatenates them into one list for the scorer (no dict per request); signature stats
are grouped per actor during the walk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from botguard.model._actors import ASSET, HONEYPOT, Actors
from botguard.model._groups import BatchGroups
from botguard.model._join import Example, LabelJoin
from botguard.model._keys import RequestKeys
from botguard.model.records import StreamCounters

#: The request columns the stream reads (botguard.logs.records.REQUEST_SCHEMA names).
COLUMNS = ("ip", "time", "method", "target", "valid_request", "status", "referer", "user_agent", "host")


def columns(requests: pl.DataFrame) -> dict[str, list[Any]]:
    """The columns the stream reads as Python lists, times as epoch seconds (stream time)."""
    frame = requests.select(COLUMNS).with_columns((pl.col("time").dt.epoch("us") / 1e6).alias("time"))
    return {name: frame.get_column(name).to_list() for name in COLUMNS}


def cuts(times: list[float | None], size: int, span: float) -> list[tuple[int, int]]:
    """Micro-batch bounds: at most ``size`` requests spanning at most ``span`` seconds each.

    Examples:
        >>> cuts([0.0, 1.0, 2.0, 9.0, 9.5], size=2, span=5.0)
        [(0, 2), (2, 3), (3, 5)]
    """
    bounds, start = [], 0
    first = times[0] if times else None
    for i, t in enumerate(times):
        if i - start >= size or (t is not None and first is not None and t - first >= span):
            bounds.append((start, i))
            start, first = i, t
        elif first is None:
            first = t
    if start < len(times):
        bounds.append((start, len(times)))
    return bounds


@dataclass(frozen=True, slots=True)
class MicroBatch:
    """One micro-batch walked: its times, every request's keys flat (``lens[j]`` keys from
    ``offsets[j]``), the labelled examples to train, and its signature groups."""

    times: list[float]
    keys: list[str]
    lens: list[int]
    offsets: list[int]
    train: list[Example]
    groups: BatchGroups


@dataclass(frozen=True, slots=True)
class Walker:
    """The parts a request goes through, in order: its keys' facts, its actor, the label join."""

    keys: RequestKeys
    actors: Actors
    join: LabelJoin
    max_ips: int  # distinct IPs a signature group counts at most

    def walk(
        self, cols: dict[str, list[Any]], start: int, stop: int, clock: float, counters: StreamCounters
    ) -> MicroBatch:
        """Rows ``start:stop`` of a call's columns (their facts prepared), request by request:
        actor evidence, keys, label join and signature groups, each seeing requests up to its own."""
        times = [t if t is not None else clock for t in cols["time"][start:stop]]
        batch = MicroBatch(times, [], [], [], [], BatchGroups())
        keys, lens, offsets, train = batch.keys, batch.lens, batch.offsets, batch.train
        uas, ips, targets = cols["user_agent"], cols["ip"], cols["target"]
        ua_memo, ip_memo, actors, table = self.keys.ua, self.keys.ip, self.actors, self.actors.table
        update, parts_of, route, see = actors.update, self.keys.parts, self.join.route, batch.groups.see
        max_ips = self.max_ips
        for j, t in enumerate(times):
            i = start + j
            ua, ip = uas[i] or "", ips[i] or ""
            uinfo, iinfo = ua_memo[ua], ip_memo[ip]
            actor = table.get((iinfo.actor_ip, ua))
            if actor is None or actor.ctx is None:
                actor = actors.get(iinfo.actor_ip, ua, uinfo, iinfo, ip)
            target = targets[i]
            kind = update(actor, uinfo, cols, i, t, target)
            parts = parts_of(actor, ua, ip, iinfo, cols, i, target, kind == HONEYPOT)
            offsets.append(len(keys))
            keys += parts[0]
            keys += parts[1]
            keys += parts[2]
            lens.append(len(parts[0]) + len(parts[1]) + len(parts[2]))
            route(actor, t, parts, train, counters)
            label = actor.label.source if actor.label is not None else None
            # a browser loading page assets is evidence of a person, labelled or not (signature safety)
            humanlike = label == "human" or (label is None and kind == ASSET and uinfo.browser)
            see(j, actor.ctx.sig_keys, ip, iinfo.net, ua, label, humanlike, max_ips)  # type: ignore[union-attr]
        return batch
