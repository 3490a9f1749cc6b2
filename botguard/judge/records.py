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

Verdict = Literal["allow", "monitor", "block"]

#: Verdicts from mildest to harshest; roll-ups take the harshest of their parts.
VERDICT_ORDER: dict[str, int] = {"allow": 0, "monitor": 1, "block": 2}

#: Kinds of client that match no catalogue entry (catalogue matches use the crawler's category).
HUMAN = "human"  # browser user agent, behaves like a person
AUTOMATED = "automated"  # browser user agent, behaves like a program (no assets, many pages, traps)
BROWSER = "browser"  # browser user agent, too little traffic to tell a person from a program
UNKNOWN = "unknown"  # neither a known crawler nor a browser (custom or empty user agent)


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
    "model_score": pl.Float64(),  # filled by the model step of the scan (botguard.model.clients)
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
    # Of the raised: tied to a campaign across addresses (the rest: a shared signature or candidate).
    raised_by_campaign: int = 0

    @property
    def raised(self) -> int:
        """Clients the model gave a harsher verdict."""
        return self.raised_to_monitor + self.raised_to_block


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
