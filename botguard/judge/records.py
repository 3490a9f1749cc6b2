"""Records the judge stage produces: one verdict per client, one roll-up per crawler.

A *client* is one (IP, user agent) pair; clients roll up to *crawlers* (catalogue entries,
operator level). Field names follow the scan JSON contract in DESIGN.md; identity fields
(verified, identity, asn, as_org, country) are filled by the identity stage and stay None
until it runs.
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import polars as pl

Verdict = Literal["allow", "monitor", "challenge", "block"]

#: Verdicts from mildest to harshest; roll-ups take the harshest of their parts. ``challenge``: the
#: client must pass a proof of work in its browser (botguard serve) before it gets the content.
VERDICT_ORDER: dict[str, int] = {"allow": 0, "monitor": 1, "challenge": 2, "block": 3}

#: Kinds of client that match no catalogue entry (catalogue matches use the crawler's category).
HUMAN = "human"  # browser user agent, behaves like a person
AUTOMATED = "automated"  # browser user agent, behaves like a program (no assets, many pages, traps)
BROWSER = "browser"  # browser user agent, too little traffic to tell a person from a program
UNKNOWN = "unknown"  # neither a known crawler nor a browser (custom or empty user agent)

#: The kinds of traffic reports group clients into (headline shares, stacked charts), in the
#: order they are shown, each with the client categories it holds (the catalogue's and the
#: judge's own). People are browser agents judged human or too quiet to tell, as the deploy
#: impact counts them; a category not listed here is unknown automation.
TRAFFIC_KINDS: dict[str, tuple[str, ...]] = {
    "people": (HUMAN, BROWSER),
    "search engines": ("search-engine",),
    "AI training": ("ai-training",),
    "AI search & assistants": ("ai-search", "ai-assistant"),
    "SEO": ("seo",),
    "archivers": ("archiver",),
    "monitors": ("monitor",),
    "scanners": ("scanner",),
    "previews & feeds": ("social-preview", "feed-reader"),
    "unknown automation": (AUTOMATED, UNKNOWN, "library", "other"),
}
#: The kind of a category :data:`TRAFFIC_KINDS` does not list.
OTHER_KIND = "unknown automation"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One request robots.txt disallowed, with the rule that forbade it."""

    time: datetime
    method: str | None
    target: str
    status: int | None
    rule: str  # e.g. "Disallow: /cart"
    line: int | None  # line of that rule in robots.txt


@dataclass(frozen=True, slots=True)
class ClientVerdict:
    """What one client did and what botguard would do about it (a row of ScanResult.clients)."""

    ip: str
    user_agent: str | None  # None: the log format records no agent; "": the client sent none
    crawler: str | None
    operator: str | None
    category: str
    robots_token: str | None
    requests: int
    robots_fetched: int
    robots_fetched_first: bool | None  # None when it never fetched robots.txt
    judged_requests: int | None  # None in a scan read back from JSON (the contract does not carry it)
    disallowed_requests: int
    honeypot_requests: int
    invalid_requests: int | None  # likewise
    compliance: float | None  # share of judged requests robots.txt allowed; None if none judged
    score: int
    verdict: Verdict
    reasons: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    evidence: tuple[Evidence, ...]
    verified: bool | None = None
    identity: str | None = None
    asn: int | None = None
    as_org: str | None = None
    country: str | None = None
    model_score: float | None = None  # the online model's P(unwanted); None when the model did not run


#: Columns of ScanResult.clients, in order: the scan-JSON client keys first (DESIGN.md), then
#: the ones later stages use. Identity columns stay null until the identity stage fills them.
CLIENT_SCHEMA: dict[str, pl.DataType] = {
    "ip": pl.String(),
    "user_agent": pl.String(),
    "crawler": pl.String(),
    "operator": pl.String(),
    "category": pl.String(),
    "requests": pl.Int64(),
    "robots_fetched": pl.Int64(),
    "robots_fetched_first": pl.Boolean(),
    "disallowed_requests": pl.Int64(),
    "honeypot_requests": pl.Int64(),
    "compliance": pl.Float64(),
    "verified": pl.Boolean(),
    "identity": pl.String(),
    "asn": pl.Int64(),
    "as_org": pl.String(),
    "country": pl.String(),
    "score": pl.Int64(),
    "verdict": pl.String(),
    "reasons": pl.List(pl.String()),
    "first_seen": pl.Datetime("us", "UTC"),
    "last_seen": pl.Datetime("us", "UTC"),
    "evidence": pl.List(
        pl.Struct(
            {
                "time": pl.Datetime("us", "UTC"),
                "method": pl.String(),
                "target": pl.String(),
                "status": pl.Int64(),
                "rule": pl.String(),
                "line": pl.Int64(),
            }
        )
    ),
    "model_score": pl.Float64(),  # filled by the model step of the scan (botguard.model.ScanReplay)
    "robots_token": pl.String(),
    "judged_requests": pl.Int64(),
    "invalid_requests": pl.Int64(),
    # What the online model reads besides the keys above (not part of the JSON contract).
    "assets": pl.Int64(),
    "referers": pl.Int64(),
    "pages": pl.Int64(),
    "hosting": pl.Boolean(),
    "allowlisted": pl.String(),  # why the client is allowlisted, or null
}

#: A client's judged row as an incremental scan keeps it beside the stored partial
#: (:func:`botguard.judge.judge_again`): the CLIENT_SCHEMA row before the model step, and the
#: identity's ``verified_by``, which the reasons read but the row does not carry.
JUDGED_SCHEMA: dict[str, pl.DataType] = {**CLIENT_SCHEMA, "verified_by": pl.String()}

#: The first columns of CLIENT_SCHEMA are the scan-JSON client keys.
CLIENT_JSON_KEYS: tuple[str, ...] = tuple(CLIENT_SCHEMA)[: tuple(CLIENT_SCHEMA).index("model_score") + 1]


@dataclass(frozen=True, slots=True)
class CrawlerNetwork:
    """One network (autonomous system) a crawler's clients came from."""

    asn: int
    as_org: str | None
    ips: int
    requests: int


@dataclass(frozen=True, slots=True)
class CrawlerRollup:
    """One catalogue crawler across all the clients that claimed it."""

    name: str
    operator: str
    category: str
    robots_token: str | None
    clients: int
    ips: int
    requests: int
    disallowed_requests: int
    compliance: float | None
    verdict: Verdict
    reasons: tuple[str, ...]
    asns: tuple[CrawlerNetwork, ...] = ()  # networks seen, busiest first


@dataclass(frozen=True, slots=True)
class ModelSummary:
    """Totals of the scan's model step: clients scored, examples trained on, signatures that
    qualified, and how many clients it raised to each verdict."""

    clients_scored: int
    trained_on: int
    signatures: int
    raised_to_monitor: int
    raised_to_block: int
    raised_to_challenge: int = 0
    # Of the raised: tied to a campaign across addresses (the rest: a shared signature or candidate).
    raised_by_campaign: int = 0

    @property
    def raised(self) -> int:
        """Clients the model gave a harsher verdict."""
        return self.raised_to_monitor + self.raised_to_challenge + self.raised_to_block


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """Totals for the whole scan."""

    lines: int
    parsed: int
    malformed: int
    invalid_requests: int | None  # None in a scan read back from JSON (the contract does not carry it)
    clients: int
    first_seen: datetime | None
    last_seen: datetime | None
    robots: dict[str, str]  # host ("*" = every host) -> where its robots.txt came from
    model: ModelSummary | None = None  # None when the model step did not run


@dataclass(frozen=True, slots=True)
class Activity:
    """Requests per client per time bucket, as the judge counted them (reports summarise it).

    ``counts`` has one row per (client, bucket) the client was active in: ``key`` (the client's
    hash, see ``botguard.judge.timeline.client_key``), ``bucket`` (Unix seconds of its start, a
    multiple of ``width``), ``requests`` and ``bytes``. ``disallowed`` counts the requests
    robots.txt disallowed per (client ``key``, ``path`` without its query).
    """

    width: int  # seconds per bucket
    counts: pl.DataFrame
    disallowed: pl.DataFrame


@dataclass(frozen=True, slots=True)
class Series:
    """Requests per time bucket of one kind of client, operator or verdict."""

    name: str
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ClientSeries:
    """Requests per time bucket of one client (the harshest-judged clients, for sparklines)."""

    ip: str
    user_agent: str | None
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class KindShare:
    """One kind of traffic's clients, requests and response bytes (see :data:`TRAFFIC_KINDS`)."""

    kind: str
    clients: int
    requests: int
    bytes: int


@dataclass(frozen=True, slots=True)
class PathHits:
    """A path robots.txt disallowed, how often it was requested, and by whom (most first)."""

    path: str
    requests: int
    clients: int
    by: tuple[tuple[str, int], ...]  # (crawler name, or the client's address and kind; requests)


@dataclass(frozen=True, slots=True)
class RobotsChange:
    """A new robots.txt version of a host, first seen at ``time`` (a mark on the time axis)."""

    host: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Traffic:
    """The scan's requests over time in ``buckets`` equal buckets of ``width`` seconds from
    ``start``: by kind, for the busiest operators, by verdict and for the harshest-judged
    clients; with the share of each kind, the disallowed paths most requested and the
    robots.txt changes to mark."""

    start: datetime
    width: int
    buckets: int
    kinds: tuple[KindShare, ...]
    by_kind: tuple[Series, ...]
    by_operator: tuple[Series, ...]
    by_verdict: tuple[Series, ...]
    clients: tuple[ClientSeries, ...]
    disallowed_paths: tuple[PathHits, ...] = ()
    robots_changes: tuple[RobotsChange, ...] = ()


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything a scan found, in the order reports show it (harshest verdict first).

    ``clients`` is a polars frame with :data:`CLIENT_SCHEMA` (one row per client) so that
    reports and storage handle 100k clients column-wise; :meth:`client_rows` gives records.
    """

    summary: ScanSummary
    clients: pl.DataFrame
    crawlers: tuple[CrawlerRollup, ...]
    malformed_examples: tuple[tuple[str, int, str], ...] = ()
    malformed_by_reason: tuple[tuple[str, int], ...] = ()
    # What the user must know about the inputs (a damaged archive, a cut robots.txt).
    warnings: tuple[str, ...] = ()
    # Requests over time: the judge's raw counts, summarised into ``traffic`` once the verdicts
    # are final (botguard.judge.timeline); a scan read back from the state database has only
    # ``traffic``, one read back from JSON neither.
    activity: Activity | None = None
    traffic: Traffic | None = None

    def client_rows(self, limit: int | None = None) -> list[ClientVerdict]:
        """The first `limit` clients (all when None) as records."""
        return client_records(self.clients if limit is None else self.clients.head(limit))

    def verdict_counts(self) -> dict[str, int]:
        """Number of clients per verdict (every verdict present, zero when none)."""
        counts = dict(self.clients.get_column("verdict").value_counts().iter_rows())
        return {verdict: int(counts.get(verdict, 0)) for verdict in VERDICT_ORDER}


def client_records(clients: pl.DataFrame) -> list[ClientVerdict]:
    """Rows of a clients frame (:data:`CLIENT_SCHEMA`) as records, built column by column (several
    times faster than row by row on 100k clients: nested evidence rows convert slowly)."""
    columns: list[list[Any]] = []
    for name in ClientVerdict.__dataclass_fields__:
        if name == "evidence":
            columns.append(_evidence_column(clients))
        elif name == "reasons":
            columns.append(list(map(tuple, clients.get_column(name).to_list())))
        else:
            columns.append(clients.get_column(name).to_list())
    return [ClientVerdict(*values) for values in zip(*columns, strict=True)]


def _evidence_column(clients: pl.DataFrame) -> list[tuple[Evidence, ...]]:
    """Each client's evidence, read from one flat frame of the non-empty lists (most are empty)."""
    flat = (
        clients.select(pl.col("evidence"))
        .with_row_index("row")
        .filter(pl.col("evidence").list.len() > 0)
        .explode("evidence")
        .unnest("evidence")
        .select("row", *Evidence.__dataclass_fields__)
    )
    column: list[tuple[Evidence, ...]] = [()] * clients.height
    for row, items in itertools.groupby(flat.iter_rows(), key=operator.itemgetter(0)):
        column[row] = tuple(Evidence(*item[1:]) for item in items)
    return column
