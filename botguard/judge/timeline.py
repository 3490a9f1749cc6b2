"""Requests over time: counted per client and time bucket while the judge reads batches, then
summarised into a :class:`~botguard.judge.records.Traffic` once the verdicts are final.

The counts are part of each :class:`~botguard.judge.partial.Partial` (``time_counts``,
``path_counts``), so they merge like the rest of it: across batches, the files of an
incremental scan and partitions aggregated apart. The bucket width grows with the time span
(:data:`WIDTHS`, each a multiple of the one before): counts kept at one width fold into the
next by flooring, and a scan of minutes or of weeks both end with at most :data:`MAX_BUCKETS`
buckets. Kinds and verdicts are per client and known only at the end, which is why the counts
are per client and joined to the verdicts afterwards (the model step may still change some).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

import polars as pl

from botguard.judge.records import (
    OTHER_KIND,
    TRAFFIC_KINDS,
    VERDICT_ORDER,
    Activity,
    ClientSeries,
    KindShare,
    PathHits,
    RobotsChange,
    ScanResult,
    Series,
    Traffic,
)

__all__ = ["client_key", "kind_of", "path_of", "traffic_of", "width_for", "with_traffic"]

#: Bucket widths in seconds (a minute ... a week), each a multiple of the one before.
WIDTHS = (60, 300, 900, 3600, 10_800, 21_600, 86_400, 604_800)
#: The most buckets a scan's span is cut into (the narrowest width that fits is used).
MAX_BUCKETS = 200
#: How many operators, harshest-judged clients and disallowed paths a summary keeps.
TOP_OPERATORS = 8
TOP_CLIENTS = 100
TOP_PATHS = 20
WHO_PER_PATH = 5

_CATEGORY_KIND = {category: kind for kind, categories in TRAFFIC_KINDS.items() for category in categories}
#: A target's query (or fragment) and what follows it: what :func:`path_of` cuts off.
QUERY_RE = r"[?#].*$"


def client_key() -> pl.Expr:
    """A 64-bit hash of (ip, user_agent): one client, hashed alike in every process of one polars
    version (partials keep their time counts by it; a stored one's fingerprint names the version)."""
    return (pl.col("ip").hash(1) ^ pl.col("user_agent").hash(2)).alias("key")


def kind_of() -> pl.Expr:
    """The traffic kind of each client's ``category`` (:data:`TRAFFIC_KINDS`)."""
    return pl.col("category").replace_strict(_CATEGORY_KIND, default=OTHER_KIND, return_dtype=pl.String)


def path_of() -> pl.Expr:
    """A request's path as the reports count disallowed paths: its ``target`` without the query."""
    return pl.col("target").str.replace(QUERY_RE, "").alias("path")


def width_for(low: int, high: int) -> int:
    """The narrowest of :data:`WIDTHS` that cuts ``low``..``high`` (Unix seconds) into at most
    :data:`MAX_BUCKETS` buckets.

    Examples:
        >>> width_for(0, 3_599), width_for(0, 86_399), width_for(0, 3 * 86_400)
        (60, 900, 3600)
    """
    for width in WIDTHS:
        if high // width - low // width < MAX_BUCKETS:
            return width
    return WIDTHS[-1]


def _dense(frame: pl.DataFrame, name: str, names: Iterable[str], buckets: int) -> tuple[Series, ...]:
    """One series per name (in ``names`` order, empty ones left out) from (name, index, requests)."""
    grouped = frame.group_by(name, "index").agg(pl.col("requests").sum())
    values: dict[str, list[int]] = {}
    for who, index, requests in grouped.iter_rows():
        values.setdefault(who, [0] * buckets)[index] = requests
    return tuple(Series(n, tuple(values[n])) for n in names if n in values)


def _client_series(
    counts: pl.DataFrame, clients: pl.DataFrame, first: int, width: int, buckets: int
) -> tuple[ClientSeries, ...]:
    top = clients.head(TOP_CLIENTS).select("ip", "user_agent", client_key()).with_row_index("rank")
    values = [[0] * buckets for _ in range(top.height)]
    rows = counts.join(top.select("key", "rank"), on="key").select("rank", _index(first, width), "requests")
    for rank, index, requests in rows.iter_rows():
        values[rank][index] += requests
    return tuple(
        ClientSeries(ip, agent, tuple(counts))
        for (ip, agent), counts in zip(top.select("ip", "user_agent").iter_rows(), values, strict=True)
    )


def _index(first: int, width: int) -> pl.Expr:
    """The bucket's place on the time axis (0: the first bucket)."""
    return ((pl.col("bucket") - first) // width).cast(pl.Int64).alias("index")


def _paths(activity: Activity, clients: pl.DataFrame) -> tuple[PathHits, ...]:
    """The disallowed paths requested most, each with who requested it most (only the top
    paths' hits are named: naming every hit took a string per client and path)."""
    if activity.disallowed.height == 0:
        return ()
    hits = activity.disallowed.join(clients.select(client_key()), on="key", how="semi")
    totals = (
        hits.group_by("path")
        .agg(pl.col("requests").sum(), clients=pl.len())
        .sort(["requests", "path"], descending=[True, False])
        .head(TOP_PATHS)
    )
    top = hits.join(totals.select("path"), on="path")
    people = (
        clients.select(client_key(), "ip", "crawler", "category")
        .join(top.select("key"), on="key", how="semi")
        .select("key", "ip", "crawler", kind_of().alias("kind"))
    )
    who = pl.coalesce(pl.col("crawler"), pl.col("ip") + pl.lit(" (") + pl.col("kind") + pl.lit(")"))
    by = (
        top.join(people, on="key")
        .group_by("path", who.alias("who"))
        .agg(pl.col("requests").sum())
        .sort(["requests", "who"], descending=[True, False])
    )
    named: dict[str, list[tuple[str, int]]] = {}
    for path, name, requests in by.iter_rows():
        if len(entries := named.setdefault(path, [])) < WHO_PER_PATH:
            entries.append((name, requests))
    return tuple(
        PathHits(path, requests, clients, tuple(named.get(path, ())))
        for path, requests, clients in totals.iter_rows()
    )


def _labelled(activity: Activity, clients: pl.DataFrame, first: int) -> pl.DataFrame:
    """Requests and bytes per kind, operator, verdict and bucket: the counts of every client
    joined to its labels and summed at once (the labels as categories while joined: one row
    per client and bucket with three strings was most of the summary's memory)."""
    names = {"kind": kind_of(), "operator": pl.col("operator"), "verdict": pl.col("verdict")}
    labels = clients.select(client_key(), *(e.cast(pl.Categorical).alias(n) for n, e in names.items()))
    return (
        activity.counts.lazy()
        .join(labels.lazy(), on="key")
        .group_by(*names, _index(first, activity.width))
        .agg(pl.col("requests", "bytes").sum())
        .collect()
        .cast(dict.fromkeys(names, pl.String))
    )


def summarise(
    clients: pl.DataFrame, activity: Activity, robots_changes: Iterable[RobotsChange] = ()
) -> Traffic | None:
    """The traffic summary of a judged scan (clients in report order, harshest first)."""
    if activity.counts.height == 0:
        return None
    first, last = activity.counts.select(
        pl.col("bucket").min().alias("a"), pl.col("bucket").max().alias("b")
    ).row(0)
    buckets = (last - first) // activity.width + 1
    keyed = _labelled(activity, clients, first)
    busiest = (
        keyed.filter(pl.col("operator").is_not_null())
        .group_by("operator")
        .agg(pl.col("requests").sum())
        .sort(["requests", "operator"], descending=[True, False])
        .head(TOP_OPERATORS)
        .get_column("operator")
        .to_list()
    )
    verdicts = sorted(set(keyed.get_column("verdict").unique().to_list()), key=_verdict_rank)
    return Traffic(
        start=datetime.fromtimestamp(first, UTC),
        width=activity.width,
        buckets=buckets,
        kinds=_kind_shares(clients, keyed),
        by_kind=_dense(keyed, "kind", TRAFFIC_KINDS, buckets),
        by_operator=_dense(keyed.filter(pl.col("operator").is_in(busiest)), "operator", busiest, buckets),
        by_verdict=_dense(keyed, "verdict", verdicts, buckets),
        clients=_client_series(activity.counts, clients, first, activity.width, buckets),
        disallowed_paths=_paths(activity, clients),
        robots_changes=tuple(sorted(robots_changes, key=lambda c: (c.time, c.host))),
    )


def _verdict_rank(verdict: str) -> tuple[int, str]:
    """Mildest first; a verdict this table does not know goes last (reports show what they get)."""
    return (VERDICT_ORDER.get(verdict, len(VERDICT_ORDER)), verdict)


def _kind_shares(clients: pl.DataFrame, keyed: pl.DataFrame) -> tuple[KindShare, ...]:
    per_category = clients.group_by("category").agg(n=pl.len(), requests=pl.col("requests").sum())
    counted = {
        kind: (n, requests)
        for kind, n, requests in per_category.group_by(kind_of().alias("kind"))
        .agg(pl.col("n", "requests").sum())
        .iter_rows()
    }
    sent = dict(keyed.group_by("kind").agg(pl.col("bytes").sum()).iter_rows())
    return tuple(
        KindShare(kind, counted[kind][0], counted[kind][1], int(sent.get(kind, 0)))
        for kind in TRAFFIC_KINDS
        if kind in counted
    )


def with_traffic(result: ScanResult, robots_changes: Iterable[RobotsChange] = ()) -> ScanResult:
    """The scan with its traffic summarised from the judge's counts (call once the verdicts are
    final); the raw counts are dropped."""
    if result.activity is None:
        return result
    traffic = summarise(result.clients, result.activity, robots_changes)
    return replace(result, traffic=traffic, activity=None)


def traffic_of(result: ScanResult) -> Traffic | None:
    """The scan's traffic summary: stored, or summarised now from the judge's counts."""
    if result.traffic is not None or result.activity is None:
        return result.traffic
    return summarise(result.clients, result.activity)
