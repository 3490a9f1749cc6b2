"""Judge: per-client facts, robots.txt compliance, scores and verdicts.

Public door: a scan folds parsed log batches into a :class:`ScanResult` in steps
(:func:`aggregator` folds batches into a :class:`Partial`, :func:`merge_all` joins partials,
e.g. of several files, :func:`judge_again` judges one, on the rows kept of an earlier
judgement when given them; :mod:`botguard.judge.incremental` keeps both per file;
:func:`judge_batches` does all of it for batches at hand); the records other stages
read (:class:`ClientVerdict`, :class:`CrawlerRollup`, :class:`ModelSummary`); :data:`ASSET_RE`
and :data:`ROBOTS_RE`, what counts as an asset or a robots.txt fetch (the model reads requests
the same way); :data:`SHARED_TOOL_CATEGORIES`, catalogue categories no rule names;
:func:`with_traffic`, the scan's requests over time summarised once its verdicts are final
(:class:`RobotsChange` marks a new robots.txt version on the time axis).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import polars as pl

from botguard.catalog import Catalog, Crawler
from botguard.config import Settings
from botguard.judge._spill import Spill, Spilled
from botguard.judge.aggregate import Aggregator, RobotsLookup, crawl_delay
from botguard.judge.columns import ASSET_RE, ROBOTS_RE
from botguard.judge.partial import CLIENT_KEY, Partial, bucket_width, merge_all
from botguard.judge.records import (
    CLIENT_SCHEMA,
    JUDGED_SCHEMA,
    VERDICT_ORDER,
    Activity,
    ClientVerdict,
    CrawlerNetwork,
    CrawlerRollup,
    ModelSummary,
    RobotsChange,
    ScanResult,
    ScanSummary,
)
from botguard.judge.timeline import client_key, with_traffic
from botguard.judge.verdict import IDENTITY_COLUMNS, judge_clients
from botguard.logs.records import Batch

__all__ = [
    "ASSET_RE", "JUDGE_ROWS", "ROBOTS_RE", "SHARED_TOOL_CATEGORIES", "ClientVerdict", "CrawlerRollup",
    "Handed", "Identify", "ModelSummary", "Partial", "RobotsChange", "ScanResult", "Spill", "aggregator",
    "judge_again", "merge_all", "with_traffic",
]  # fmt: skip

col = pl.col


def _evidence_lists(evidence: pl.DataFrame) -> pl.DataFrame:
    """(ip, user_agent) -> evidence: list of the earliest disallowed requests with their rule."""
    schema = pl.Schema({"ip": pl.String(), "user_agent": pl.String(), "evidence": CLIENT_SCHEMA["evidence"]})
    if evidence.height == 0:
        return pl.DataFrame(schema=schema)
    return (
        evidence.sort("time", maintain_order=True)
        .group_by(CLIENT_KEY, maintain_order=True)
        .agg(
            evidence=pl.struct(
                col("time"),
                col("method"),
                col("target"),
                col("status").cast(pl.Int64),
                col("rule").fill_null(""),
                col("rule_line").alias("line"),
            )
        )
        .cast(schema)
    )


_VERDICT_RANK = pl.col("verdict").replace_strict(VERDICT_ORDER, return_dtype=pl.Int8)
#: The clients' report order: harshest verdict, highest score, most requests, then by address
#: and agent (a total order: every client is one address and agent).
_REPORT_ORDER = [_VERDICT_RANK, col("score"), col("requests"), col("ip"), col("user_agent")]
_DESCENDING = [True, True, True, False, False]

#: The identity stage as the judge sees it: distinct (ip, crawler) pairs in, one row per pair
#: out with verified, identity, verified_by, asn, as_org, country, hosting (botguard.identity.enrich).
Identify = Callable[[pl.DataFrame], pl.DataFrame]


def _identities(clients: pl.DataFrame, identify: Identify | None) -> pl.DataFrame | None:
    """Identity of each distinct (ip, claimed crawler): work per pair, never per request."""
    if identify is None:
        return None
    return identify(clients.group_by("ip", "crawler").agg(col("last_seen").max()))


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What every shard of a partial's clients is judged with: crawlers and rules by id, the
    Crawl-delays the clients' tokens are asked."""

    crawler_ids: pl.DataFrame
    crawlers: pl.DataFrame
    delays: pl.DataFrame
    rules: pl.DataFrame


_RULE_KEYS = ["rule_host", "rule_line", "rule"]


def _inputs(partial: Partial, catalog: Catalog, robots_for: RobotsLookup) -> _Inputs:
    """Number the crawlers and rules a partial names; look up the Crawl-delays it needs."""
    clients = partial.clients
    names = clients.get_column("crawler").drop_nulls().unique().sort().to_list()
    entries: list[Crawler | None] = [None, *(catalog.by_name(name) for name in names)]
    crawler_ids = pl.DataFrame(
        {"crawler": names, "crawler_id": range(1, len(names) + 1)},
        schema={"crawler": pl.String, "crawler_id": pl.Int32},
    )
    pairs = clients.select("robots_host", "token").unique().rows()
    found = [(host, token, crawl_delay(robots_for(host), token)) for host, token in pairs]
    delays = pl.DataFrame(
        [row for row in found if row[2]],
        schema={"robots_host": pl.String, "token": pl.String, "delay": pl.Float64},
        orient="row",
    )
    rules = (
        partial.rule_counts.select(_RULE_KEYS)
        .unique()
        .sort(_RULE_KEYS, nulls_last=True)
        .with_row_index("rule_id")
        .with_columns(pl.col("rule_id").cast(pl.Int32))
    )
    return _Inputs(crawler_ids, _crawler_frame(entries), delays, rules)


def _crawler_frame(entries: list[Crawler | None]) -> pl.DataFrame:
    """crawler_id -> name, operator, category, robots_token, verifiable (null entries: no crawler)."""
    return pl.DataFrame(
        {
            "crawler_id": list(range(len(entries))),
            "crawler": [c.name if c else None for c in entries],
            "operator": [c.operator if c else None for c in entries],
            "crawler_category": [c.category if c else None for c in entries],
            "robots_token": [c.robots_token if c else None for c in entries],
            "verifiable": [c is not None and c.verification is not None for c in entries],
        },
        schema={
            "crawler_id": pl.Int32, "crawler": pl.String, "operator": pl.String,
            "crawler_category": pl.String, "robots_token": pl.String, "verifiable": pl.Boolean,
        },
    )  # fmt: skip


#: Clients judged at a time: a partial with more is judged one shard of its addresses after
#: another, so the verdict step's working frames (~60 columns per client: facts, identity,
#: reasons) are a shard's, not every client's. A 10M-line log has ~300k clients.
JUDGE_ROWS = 50_000


def _address_shards(partial: Partial, count: int) -> Iterator[Partial]:
    """The clients, rule counts and evidence of ``partial``, one hash shard of addresses at a
    time (each cut when its turn comes). Every fact a verdict reads is a client's or its
    address's (identity is per address and claimed crawler), so shards are judged apart."""
    if count == 1:
        yield partial
        return
    shard = col("ip").hash(7) % count
    for index in range(count):
        yield Partial(
            partial.clients.filter(shard == index),
            partial.rule_counts.filter(shard == index),
            partial.evidence.filter(shard == index),
        )


class Handed:
    """A merged partial handed to :func:`judge_again` by a caller that keeps no other reference
    to it (nor to its frames): the judge lets the per-client frames go once it has cut them into
    shards spilled to a temporary file (:func:`_spilled_shards`), so judging a big partial holds
    one shard of them beside the judged rows, not every client's (~370 B a client: ~56 MiB of a
    5M-line log's ~155k clients, ~110 MiB at 10M lines)."""

    __slots__ = ("_partial",)

    def __init__(self, partial: Partial) -> None:
        self._partial: Partial | None = partial

    def take(self) -> Partial:
        """The partial, which this no longer holds (taken once)."""
        partial, self._partial = self._partial, None
        if partial is None:
            raise RuntimeError("a handed partial is taken once")
        return partial


#: One address shard's clients, rule counts and evidence as spilled Arrow IPC streams.
_SpilledShard = tuple[Spilled, Spilled, Spilled]


def _spilled_shards(partial: Partial, count: int) -> list[_SpilledShard]:
    """:func:`_address_shards` of ``partial`` written to a temporary file one at a time (each
    frame an uncompressed Arrow IPC stream: what the judge reads, the same values and order)."""
    spill = Spill()
    return [
        (spill.add_frame(piece.clients), spill.add_frame(piece.rule_counts), spill.add_frame(piece.evidence))
        for piece in _address_shards(partial, count)
    ]


def _unspilled(shards: list[_SpilledShard]) -> Iterator[Partial]:
    """The shards :func:`_spilled_shards` wrote, read back one at a time as their turn comes."""
    while shards:
        clients, rule_counts, evidence = (part.frame() for part in shards.pop(0))
        yield Partial(clients, rule_counts, evidence)


def _judged(
    piece: Partial, inputs: _Inputs, settings: Settings, identities: pl.DataFrame | None
) -> pl.DataFrame:
    """One row per client of ``piece`` with JUDGED_SCHEMA's columns (unsorted); ``identities``
    (:func:`_identities`) holds at least the (ip, crawler) pairs of its clients."""
    totals = (
        piece.clients.join(inputs.crawler_ids, on="crawler", how="left")
        .with_columns(pl.col("crawler_id").fill_null(0))
        .drop("crawler", "gap_first", "gap_last", "min_gap")
    )
    counts = piece.rule_counts.join(inputs.rules, on=_RULE_KEYS, how="left", nulls_equal=True)
    judged = judge_clients(
        totals, inputs.crawlers, inputs.delays,
        inputs.rules.select("rule_id", "rule", pl.col("rule_line").alias("line")),
        counts.select(*CLIENT_KEY, "rule_id", "count"), settings, identities,
    )  # fmt: skip
    judged = judged.join(_evidence_lists(piece.evidence), on=CLIENT_KEY, how="left", nulls_equal=True)
    return judged.select(
        "ip", "user_agent", "crawler", "operator", "category", "requests", "robots_fetched",
        "robots_fetched_first", col("disallowed").alias("disallowed_requests"),
        col("honeypot").alias("honeypot_requests"), "compliance", "verified", "identity", "asn", "as_org",
        "country", "score", "verdict", "reasons", "first_seen", "last_seen",
        col("evidence").fill_null(pl.lit([], CLIENT_SCHEMA["evidence"])),
        pl.lit(None, pl.Float64).alias("model_score"), "robots_token", col("judged").alias("judged_requests"),
        col("invalid").alias("invalid_requests"),
        "assets", "referers", "pages", "hosting", "allowlisted", "verified_by",
    ).cast(JUDGED_SCHEMA)  # type: ignore[arg-type]  # fmt: skip


def _client_frame(
    partial: Partial, inputs: _Inputs, settings: Settings, identify: Identify | None, shards: int
) -> pl.DataFrame:
    """One row per client with JUDGED_SCHEMA's columns, harshest verdict first, judged
    ``shards`` hash shards of addresses at a time."""
    if partial.clients.height == 0:
        return pl.DataFrame(schema=JUDGED_SCHEMA)
    return _shards_frame(_address_shards(partial, shards), inputs, settings, identify)


def _shards_frame(
    shards: Iterable[Partial], inputs: _Inputs, settings: Settings, identify: Identify | None
) -> pl.DataFrame:
    """The judged rows of every client of ``shards`` (disjoint address shards), in report order."""
    pieces = [
        _judged(piece, inputs, settings, _identities(piece.clients, identify))
        for piece in shards
        if piece.clients.height
    ]
    return _in_report_order(pieces)


def _judged_again(
    partial: Partial,
    inputs: _Inputs,
    settings: Settings,
    identify: Identify | None,
    earlier: Callable[[], list[pl.DataFrame] | None],
    named: pl.DataFrame,
) -> pl.DataFrame | None:
    """:func:`_client_frame` of ``partial`` from ``earlier()``, the judged rows (JUDGED_SCHEMA)
    of a partial it extends in layers (a client's row in a later layer supersedes an earlier
    one), judging again only the clients ``named`` (ip, user_agent: their rows of the partial
    changed since) and those whose identity is not what it was; None when there are no such
    rows or they and ``named`` do not cover the partial's clients exactly once (rows not of
    this partial: judge them all).

    Every other client's verdict stands: it reads only the client's own rows of the partial,
    its identity and what the caller keeps fixed (settings, catalogue, robots.txt, the network
    tables). Identity is asked again for every crawler claim and named client, as a full
    judgement asks it: a proof may change between runs (DNS answers, range lists, the
    last-seen time that decides whether a claim is too old to check, which moves with any
    client of the same address and claim); an address that claims nothing is only its
    network, the same while the tables are (~8.6k claims among a 5M-line day's ~150k
    clients). The earlier rows are loaded here and let go column by column as the result is
    built, so they are not held beside it.
    """
    layers = earlier()
    if not layers:
        return None
    layer_keys = [layer.select(client_key()).to_series() for layer in layers]
    superseded = _superseded(layer_keys)
    rows, keys = pl.concat(layers), pl.concat(layer_keys)
    del layers, layer_keys
    named_keys = named.select(client_key()).to_series()
    partial_keys = partial.clients.select(client_key()).to_series()
    claims = partial.clients.get_column("crawler").is_not_null()
    identities = _identities(
        partial.clients.filter(claims | partial_keys.is_in(named_keys.implode())), identify
    )
    asked = ~superseded
    if identities is not None:  # (with identity off, every kept row's identity is compared with none)
        asked = asked & (rows.get_column("crawler").is_not_null() | keys.is_in(named_keys.implode()))
    changed = _identity_changed(
        rows.select(*CLIENT_KEY, "crawler", *IDENTITY_COLUMNS).filter(asked), identities
    )
    again = pl.concat([named_keys, changed.select(client_key()).to_series()]).unique()
    stale = superseded | keys.is_in(again.implode())
    # Cut by keys alike: a client sharing a key with one named is judged again too, and only so.
    in_again = client_key().is_in(again.implode())
    piece = Partial(
        partial.clients.filter(partial_keys.is_in(again.implode())),
        partial.rule_counts.filter(in_again),
        partial.evidence.filter(in_again),
    )
    if stale.len() != rows.height or not _covers(keys.filter(~stale), piece, partial_keys):
        return None
    pieces = [rows]
    del rows
    if piece.clients.height:
        pieces.append(_judged(piece, inputs, settings, identities))
        stale = stale.append(pl.repeat(False, piece.clients.height, eager=True))
    return _in_report_order(pieces, stale)


def _superseded(layer_keys: list[pl.Series]) -> pl.Series:
    """Whether each row of the layers (their clients' 64-bit keys, in turn) is a client's that a
    later layer holds. By keys, not texts (a join of ~150k clients' texts took ~50 MiB for a
    moment): two clients that share a key only mean judging every client again (:func:`_covers`)."""
    marks = [
        keys.is_in(pl.concat(layer_keys[i + 1 :]).implode())
        if i + 1 < len(layer_keys)
        else pl.repeat(False, keys.len(), eager=True)
        for i, keys in enumerate(layer_keys)
    ]
    return pl.concat(marks)


def _identity_changed(earlier: pl.DataFrame, identities: pl.DataFrame | None) -> pl.DataFrame:
    """(ip, user_agent) of the ``earlier`` rows whose (ip, crawler) pair ``identities`` holds
    with other identity columns (with identity off now: the rows with any identity column)."""
    names = list(IDENTITY_COLUMNS)
    if identities is None:
        now = earlier.select(pl.lit(None, dtype).alias(name) for name, dtype in IDENTITY_COLUMNS.items())
        asked = pl.repeat(True, earlier.height, eager=True)
    else:
        wanted = identities.select("ip", "crawler", *names).cast(IDENTITY_COLUMNS)  # type: ignore[arg-type]
        now = earlier.select("ip", "crawler").join(
            wanted.with_columns(asked=pl.lit(True)), on=["ip", "crawler"], how="left", nulls_equal=True,
            maintain_order="left",
        )  # fmt: skip
        asked = now.get_column("asked").is_not_null()
    if now.height != earlier.height:  # an address and claim asked twice: compare nothing
        return earlier.select(CLIENT_KEY)
    same = pl.all_horizontal(earlier.get_column(name).eq_missing(now.get_column(name)) for name in names)
    return earlier.select(CLIENT_KEY).filter(asked & ~earlier.select(same).to_series())


def _covers(kept: pl.Series, piece: Partial, partial: pl.Series) -> bool:
    """Whether the ``kept`` rows' keys and the clients of ``piece`` are the ``partial``'s clients
    (their keys) once each (``piece`` is cut from the partial and disjoint from ``kept`` by
    construction). Compared by the clients' 64-bit hashes (the partial's time counts name
    clients so): a third of the time of comparing the texts."""
    if kept.len() + piece.clients.height != partial.len():
        return False
    if kept.is_duplicated().any():
        return False
    return bool(kept.is_in(partial.implode()).all())


#: A judged frame of at most this many clients is reordered whole (one query, held twice for a
#: moment: a few MiB); a bigger one a column at a time (one query a column).
_WHOLE_GATHER_ROWS = 20_000


def _in_report_order(pieces: list[pl.DataFrame], drop: pl.Series | None = None) -> pl.DataFrame:
    """The judged pieces as one frame, harshest verdict first (then score, requests, address,
    agent: a total order, so how the clients were cut does not show). Reordered one column at
    a time, each unordered column dropped once copied, so the frame is never held twice; each
    is made one chunk first (gathering a list column straight from the pieces' chunks took
    ~400 MiB for a moment on a 10M-line log's evidence, 20 MiB from one chunk). Rows where
    ``drop`` (one value per row of the pieces, in turn) is true are left out."""
    frame = pl.concat(pieces)
    pieces.clear()
    index = frame.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), *_REPORT_ORDER)
    if drop is not None:
        index = index.filter(~drop)
    # A frame's sort, not the row numbers' sort_by: the same order (the keys are a total order),
    # ~45 against ~180 ms of CPU for a 5M-line day's ~155k clients.
    order = index.sort(index.columns[1:], descending=_DESCENDING, maintain_order=True).get_column("row")
    if frame.height <= _WHOLE_GATHER_ROWS:
        return frame.rechunk()[order]
    columns = frame.get_columns()
    del frame
    ordered = []
    while columns:
        ordered.append(columns.pop(0).rechunk().gather(order))
    return pl.DataFrame(ordered)


def _rollups(clients: pl.DataFrame, catalog: Catalog) -> tuple[CrawlerRollup, ...]:
    """One roll-up per catalogue crawler seen, harshest verdict first."""
    members = clients.filter(col("crawler").is_not_null())
    if members.height == 0:
        return ()
    grouped = members.group_by("crawler").agg(
        clients=pl.len(),
        ips=col("ip").n_unique(),
        requests=col("requests").sum(),
        judged=col("judged_requests").sum(),
        disallowed=col("disallowed_requests").sum(),
        blocked=(col("verdict") == "block").sum(),
        all_blocked_verified=(col("verified").filter(col("verdict") == "block").fill_null(False)).all(),
        worst=_VERDICT_RANK.max(),
    )
    asns = _asns_by_crawler(members)
    names = {rank: verdict for verdict, rank in VERDICT_ORDER.items()}
    rollups = []
    for row in grouped.iter_rows(named=True):
        entry = catalog.by_name(row["crawler"])
        verdict, reasons = _crawler_verdict(
            row["clients"], row["blocked"], names[row["worst"]], entry.verification is not None,
            row["all_blocked_verified"], shared_tool=entry.category in SHARED_TOOL_CATEGORIES,
        )  # fmt: skip
        judged, disallowed = row["judged"], row["disallowed"]
        rollups.append(
            CrawlerRollup(
                name=entry.name,
                operator=entry.operator,
                category=entry.category,
                robots_token=entry.robots_token,
                clients=row["clients"],
                ips=row["ips"],
                requests=row["requests"],
                disallowed_requests=disallowed,
                compliance=None if judged == 0 else round((judged - disallowed) / judged, 4),
                verdict=verdict,  # type: ignore[arg-type]
                reasons=reasons,
                asns=asns.get(row["crawler"], ()),
            )
        )
    rollups.sort(key=lambda r: (-VERDICT_ORDER[r.verdict], -r.requests, r.name))
    return tuple(rollups)


#: How many networks a crawler roll-up lists (most requests first).
ASNS_PER_CRAWLER = 10


def _asns_by_crawler(members: pl.DataFrame) -> dict[str, tuple[CrawlerNetwork, ...]]:
    """crawler -> the networks its clients came from, busiest first.

    Where a crawler comes from is half of who it is: Googlebot from AS15169, a "Googlebot" from
    a cloud network is something else.
    """
    networks = (
        members.filter(col("asn").is_not_null())
        .group_by("crawler", "asn")
        .agg(
            as_org=col("as_org").drop_nulls().first(),
            ips=col("ip").n_unique(),
            requests=col("requests").sum(),
        )
        .sort(["crawler", "requests", "asn"], descending=[False, True, False])
    )
    grouped: dict[str, list[CrawlerNetwork]] = {}
    for crawler, asn, as_org, ips, requests in networks.iter_rows():
        entries = grouped.setdefault(crawler, [])
        if len(entries) < ASNS_PER_CRAWLER:
            entries.append(CrawlerNetwork(asn, as_org, ips, requests))
    return {crawler: tuple(entries) for crawler, entries in grouped.items()}


#: Catalogue categories whose user agent is a tool anyone runs (curl, python-requests, headless
#: browsers), not one operator's crawler: one user's offence says nothing about the next.
SHARED_TOOL_CATEGORIES = frozenset({"library"})


def _crawler_verdict(
    clients: int,
    blocked: int,
    worst: str,
    verifiable: bool,
    blocked_verified: bool,
    *,
    shared_tool: bool = False,
) -> tuple[str, tuple[str, ...]]:
    """A crawler is blocked by name only when that cannot hit anyone innocent.

    Operators that publish IP ranges or reverse-DNS names can be impersonated cheaply, and
    blocking their user agent would also block the real crawler, so until identity
    verification proves the offenders genuine, only the offending clients (by IP) are blocked.
    Likewise a generic tool's user agent is shared by unrelated users (a monitoring script's
    curl): its offenders are blocked by IP, never the tool by name.
    """
    if not blocked:
        return worst, (f"{clients} client(s), none blocked",)
    share = f"{blocked} of {clients} client(s) blocked"
    if shared_tool:
        return "monitor", (share, "a generic tool anyone runs: blocking the offending clients by IP only")
    if verifiable and not blocked_verified:
        return "monitor", (share, "offenders not verified as the real operator: blocking them by IP only")
    return "block", (share,)


def judge_batches(
    batches: Iterable[Batch],
    catalog: Catalog,
    robots_for: RobotsLookup,
    settings: Settings,
    *,
    per_host: bool = False,
    identify: Identify | None = None,
) -> ScanResult:
    """Fold parsed batches into client verdicts and crawler roll-ups (streaming, bounded memory).

    ``identify`` (botguard.identity) proves or disproves each client's crawler claim; without
    it the identity columns stay null and no client counts as verified or spoofed.
    """
    agg = aggregator(catalog, robots_for, settings, per_host=per_host)
    for batch in batches:
        agg.add(batch.requests, batch.stats)
    return judge_partial(agg.result(), catalog, robots_for, settings, identify=identify)


def aggregator(
    catalog: Catalog, robots_for: RobotsLookup, settings: Settings, *, per_host: bool = False
) -> Aggregator:
    """The aggregator a scan with these settings folds its batches with."""
    return Aggregator(
        catalog, robots_for, settings.honeypots, per_host, settings.policy.crawl_delay_tolerance
    )


def judge_partial(
    partial: Partial,
    catalog: Catalog,
    robots_for: RobotsLookup,
    settings: Settings,
    *,
    identify: Identify | None = None,
    shards: int | None = None,
) -> ScanResult:
    """Client verdicts and crawler roll-ups from the merged partial of a whole scan; its
    clients are judged ``shards`` hash shards of addresses at a time (default: one per
    :data:`JUDGE_ROWS` clients). The result is the same however they are cut."""
    return judge_again(partial, catalog, robots_for, settings, identify=identify, shards=shards)[0]


def judge_again(
    partial: Partial | Handed,
    catalog: Catalog,
    robots_for: RobotsLookup,
    settings: Settings,
    *,
    identify: Identify | None = None,
    shards: int | None = None,
    earlier: Callable[[], list[pl.DataFrame] | None] | None = None,
    named: pl.DataFrame | None = None,
) -> tuple[ScanResult, pl.DataFrame, bool]:
    """:func:`judge_partial`, its judged rows (JUDGED_SCHEMA, report order) to keep, and
    whether every client was judged (False: the ``earlier`` rows were used).

    ``earlier()`` loads what this returned for a partial that ``partial`` extends (in layers:
    :func:`_judged_again`), judged with the same settings, catalogue and robots.txt (the caller
    checks that), and ``named`` the clients (ip, user_agent) whose rows of the partial may
    differ from the ones it was judged from: only those and the clients whose identity changed
    are judged again (a cron run's new lines name a few thousand of a day's ~150k clients).
    Rows that do not fit the partial mean judging every client. The result equals judging
    ``partial`` whole. A :class:`Handed` partial judged in shards is let go once they are spilled.
    """
    merged = partial.take() if isinstance(partial, Handed) else partial
    inputs = _inputs(merged, catalog, robots_for)
    rows = None
    if earlier is not None and named is not None and merged.clients.height:
        rows = _judged_again(merged, inputs, settings, identify, earlier, named)
    whole = rows is None
    stats, activity = merged.stats, _activity(merged)
    if rows is None:
        count = shards or max(1, -(-merged.clients.height // JUDGE_ROWS))
        if isinstance(partial, Handed) and count > 1:
            spilled = _spilled_shards(merged, count)
            del merged  # the caller holds none of it: only the shards on disk from here
            rows = _shards_frame(_unspilled(spilled), inputs, settings, identify)
        else:
            rows = _client_frame(merged, inputs, settings, identify, count)
    clients = rows.drop("verified_by")
    summary = ScanSummary(
        lines=stats.lines,
        parsed=stats.parsed,
        malformed=stats.malformed,
        invalid_requests=stats.invalid_requests,
        clients=clients.height,
        first_seen=clients.get_column("first_seen").min() if clients.height else None,  # type: ignore[arg-type]
        last_seen=clients.get_column("last_seen").max() if clients.height else None,  # type: ignore[arg-type]
        robots={},
    )
    result = ScanResult(
        summary=summary,
        clients=clients,
        crawlers=_rollups(clients, catalog),
        malformed_examples=tuple(stats.malformed_examples),
        malformed_by_reason=tuple(sorted(stats.malformed_by_reason.items())),
        warnings=tuple(stats.warnings),
        activity=activity,
    )
    return result, rows, whole


def _activity(partial: Partial) -> Activity | None:
    """The partial's time and path counts, as the traffic summary reads them (None when no
    request was counted)."""
    if partial.time_counts.height == 0:
        return None
    return Activity(bucket_width(partial.clients), partial.time_counts, partial.path_counts)
