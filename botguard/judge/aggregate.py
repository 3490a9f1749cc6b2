"""Turn parsed batches into per-client facts: robots.txt judgement and running totals.

The hot path works on whole polars batches. Anything that needs Python (catalogue
classification, robots.txt matching) runs once per *distinct* value -- per user agent, per
(host, product token, target) -- memoised across batches, then joined back onto the rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from botguard.catalog import Catalog, Crawler
from botguard.judge.columns import (
    compact_strings,
    has_referer,
    honeypot_expr,
    is_asset,
    is_robots,
    is_valid,
)
from botguard.judge.records import Activity
from botguard.judge.timeline import ActivityCounter
from botguard.robots import RobotsTxt
from botguard.robots.history import RobotsTimeline

#: Maps a virtual host (None when the log has none) to the robots.txt that governs it: one
#: file, or its recorded history (a timeline of versions) when robots.txt is fetched.
RobotsLookup = Callable[[str | None], "RobotsTxt | RobotsTimeline | None"]

#: Product token used for clients the catalogue does not know: only `*` groups apply to them.
GLOBAL_TOKEN = "*"

_WORD_RE = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN_RE = re.compile(r"[A-Za-z_-]+")

#: Keys of one client.
CLIENT_KEY = ["ip", "user_agent"]

#: Per-batch partial results are folded together every this many batches (see _Folded).
MERGE_EVERY = 8

#: Verdicts remembered, over all (host, epoch, token) together, before the memo starts afresh:
#: the memo's memory is bounded whatever the number of hosts, tokens or robots.txt versions.
MEMO_LIMIT = 400_000

#: How many example disallowed requests each client keeps as evidence.
EVIDENCE_PER_CLIENT = 3


def robots_token(crawler: Crawler | None) -> str:
    """The agent string robots.txt groups are matched against for this crawler.

    Google's matcher cuts a `User-agent:` value to its leading run of [A-Za-z_-], so a
    group written for "MJ12bot" is the group "MJ"; the caller's token is cut the same way
    to find the group that crawler would obey. Entries without a documented token fall
    back to their name when it is a single word (site owners write `User-agent: <name>`).
    """
    if crawler is None:
        return GLOBAL_TOKEN
    token = crawler.robots_token or (crawler.name if _WORD_RE.fullmatch(crawler.name) else "")
    cut = _TOKEN_RE.match(token)
    return cut.group() if cut else GLOBAL_TOKEN


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A robots.txt rule as reports cite it."""

    host: str | None
    line: int | None
    text: str  # "Disallow: /cart"


def _fold_totals(parts: pl.DataFrame) -> pl.DataFrame:
    """Per-batch totals -> one row per client (sums, mins, maxes)."""
    sums = [c for c, t in parts.schema.items() if t == pl.Int64]
    return (
        parts.group_by(CLIENT_KEY)
        .agg(
            pl.col("crawler_id").first(),
            pl.col("token").first(),
            pl.col("robots_host").drop_nulls().first(),
            pl.col("first_seen", "first_robots", "first_other").min(),
            pl.col("last_seen").max(),
            *[pl.col(c).sum() for c in sums],
        )
        .select(parts.columns)
    )


def _fold_rule_counts(parts: pl.DataFrame) -> pl.DataFrame:
    return parts.group_by([*CLIENT_KEY, "rule_id"]).agg(pl.col("count").sum())


def _fold_evidence(parts: pl.DataFrame) -> pl.DataFrame:
    return parts.sort("time").group_by(CLIENT_KEY, maintain_order=True).head(EVIDENCE_PER_CLIENT)


@dataclass(slots=True)
class _Folded:
    """Per-batch partial results folded together every MERGE_EVERY batches.

    Often enough to bound memory by the number of clients, rarely enough that re-grouping
    costs little. Frames are compacted first: they outlive the batch they were cut from.
    """

    fold: Callable[[pl.DataFrame], pl.DataFrame]
    merged: pl.DataFrame | None = None
    pending: list[pl.DataFrame] = field(default_factory=list)

    def add(self, part: pl.DataFrame) -> None:
        self.pending.append(compact_strings(part))
        if len(self.pending) >= MERGE_EVERY:
            self._flush()

    def result(self) -> pl.DataFrame | None:
        self._flush()
        return self.merged

    def _flush(self) -> None:
        parts = ([self.merged] if self.merged is not None else []) + self.pending
        self.pending = []
        if parts:
            self.merged = parts[0] if len(parts) == 1 else self.fold(pl.concat(parts))


@dataclass(slots=True)
class Aggregator:
    """Accumulates per-client totals over batches; one instance per scan.

    ``add(batch)`` for each parsed batch, then ``clients()``, ``rule_counts()`` and
    ``evidence()`` give the merged frames.
    """

    catalog: Catalog
    robots_for: RobotsLookup
    honeypots: tuple[str, ...] = ()
    per_host: bool = False  # judge each virtual host against its own robots.txt
    crawl_delay_tolerance: float = 0.5  # an interval under this share of Crawl-delay is too fast
    crawlers: list[Crawler | None] = field(default_factory=list)  # crawler_id -> entry
    rules: list[RuleRef] = field(default_factory=list)  # rule_id -> rule
    _crawler_ids: dict[Crawler | None, int] = field(default_factory=dict)
    _ua_crawler: dict[str, int] = field(default_factory=dict)
    _delays: dict[tuple[str | None, str], float | None] = field(default_factory=dict)
    _rule_ids: dict[RuleRef, int] = field(default_factory=dict)
    _memo: dict[tuple[str | None, int, str], dict[str, tuple[bool | None, int | None]]] = field(
        default_factory=dict
    )
    _memo_size: int = 0  # verdicts held in _memo, all keys together
    _totals: _Folded = field(default_factory=lambda: _Folded(_fold_totals))
    _rule_counts: _Folded = field(default_factory=lambda: _Folded(_fold_rule_counts))
    _evidence: _Folded = field(default_factory=lambda: _Folded(_fold_evidence))
    _activity: ActivityCounter = field(default_factory=ActivityCounter)

    # ------------------------------------------------------------ identify
    def _crawler_id(self, crawler: Crawler | None) -> int:
        known = self._crawler_ids.get(crawler)
        if known is None:
            known = self._crawler_ids[crawler] = len(self.crawlers)
            self.crawlers.append(crawler)
        return known

    def _classify(self, user_agents: pl.Series) -> pl.DataFrame:
        """Crawler id and robots token for each distinct user agent of a batch."""
        fresh = [ua for ua in user_agents.to_list() if ua not in self._ua_crawler]
        for ua, crawler in zip(fresh, self.catalog.classify_many(fresh), strict=False):
            self._ua_crawler[ua] = self._crawler_id(crawler)
        ids = [self._ua_crawler[ua] for ua in user_agents.to_list()]
        tokens = [robots_token(self.crawlers[i]) for i in ids]
        return pl.DataFrame(
            {"user_agent": user_agents, "crawler_id": ids, "token": tokens},
            schema={"user_agent": pl.String, "crawler_id": pl.Int32, "token": pl.String},
        )

    # ------------------------------------------------------------ robots.txt
    def _rule_id(self, ref: RuleRef) -> int:
        known = self._rule_ids.get(ref)
        if known is None:
            known = self._rule_ids[ref] = len(self.rules)
            self.rules.append(ref)
        return known

    def _verdicts(
        self, host: str | None, epoch: int, token: str, paths: list[str]
    ) -> list[tuple[bool | None, int | None]]:
        """(allowed, rule_id) for each path, from the memo or the robots.txt engine."""
        memo = self._memo.setdefault((host, epoch, token), {})
        fresh = [path for path in paths if path not in memo]
        if fresh:
            robots = self.robots_for(host)
            if robots is None:
                memo.update(dict.fromkeys(fresh, (None, None)))
            else:
                self._judge_fresh(memo, robots, host, epoch, token, fresh)
            self._memo_size += len(fresh)
        verdicts = [memo[path] for path in paths]
        if self._memo_size > MEMO_LIMIT:  # bound memory on huge logs: start afresh, correctness is unchanged
            self._memo.clear()
            self._memo_size = 0
        return verdicts

    def _judge_fresh(
        self,
        memo: dict[str, tuple[bool | None, int | None]],
        robots: RobotsTxt | RobotsTimeline,
        host: str | None,
        epoch: int,
        token: str,
        paths: list[str],
    ) -> None:
        if isinstance(robots, RobotsTimeline):
            allowed = robots.allowed_many(epoch, token, paths)
            explain = lambda blocked: robots.explain_many(epoch, token, blocked)  # noqa: E731
        else:
            allowed = robots.allowed_many(token, paths)
            explain = lambda blocked: robots.explain_many(token, blocked)  # noqa: E731
        blocked = [path for path, ok in zip(paths, allowed, strict=False) if not ok]
        rule_of = dict(zip(blocked, explain(blocked), strict=False)) if blocked else {}
        for path, ok in zip(paths, allowed, strict=False):
            rule = rule_of.get(path)
            rule_id = None
            if rule is not None:
                rule_id = self._rule_id(
                    RuleRef(host, rule.line, f"{rule.directive.capitalize()}: {rule.pattern}")
                )
            memo[path] = (ok, rule_id)

    def _epochs(self, rows: pl.DataFrame) -> pl.Expr:
        """Which robots.txt epoch each row falls in (0 unless a host's history has changes)."""
        epoch: pl.Expr = pl.lit(0, pl.Int32)
        for host in rows.get_column("robots_host").unique().to_list():
            robots = self.robots_for(host)
            if isinstance(robots, RobotsTimeline) and robots.boundaries:
                index = pl.sum_horizontal([(pl.col("time") >= b).cast(pl.Int32) for b in robots.boundaries])
                epoch = pl.when(pl.col("robots_host") == host).then(index).otherwise(epoch)
        return epoch

    def _judge(self, rows: pl.DataFrame) -> pl.DataFrame:
        """allowed/rule_id per row; robots.txt fetches and invalid requests are not judged.

        Each distinct (host, epoch, token, target) of the batch is judged once (memoised across
        batches in plain dicts) and the answers are joined back onto the rows. An epoch is a
        stretch of time with one set of robots.txt versions in effect (see RobotsTimeline).
        """
        rows = rows.with_columns(epoch=self._epochs(rows))
        keys = ["robots_host", "epoch", "token", "target"]
        distinct = (
            rows.filter(is_valid & ~is_robots & pl.col("target").is_not_null())
            .group_by(["robots_host", "epoch", "token"])
            .agg(pl.col("target").unique())
        )
        hosts: list[str | None] = []
        epochs: list[int] = []
        tokens: list[str] = []
        targets: list[str] = []
        verdicts: list[tuple[bool | None, int | None]] = []
        for host, epoch, token, paths in distinct.iter_rows():
            verdicts += self._verdicts(host, epoch, token, paths)
            hosts += [host] * len(paths)
            epochs += [epoch] * len(paths)
            tokens += [token] * len(paths)
            targets += paths
        lookup = pl.DataFrame(
            {
                "robots_host": hosts,
                "epoch": epochs,
                "token": tokens,
                "target": targets,
                "allowed": [allowed for allowed, _ in verdicts],
                "rule_id": [rule_id for _, rule_id in verdicts],
            },
            schema={
                "robots_host": pl.String, "epoch": pl.Int32, "token": pl.String, "target": pl.String,
                "allowed": pl.Boolean, "rule_id": pl.Int32,
            },
        )  # fmt: skip
        return rows.join(lookup, on=keys, how="left", nulls_equal=True)

    def _robots_host(self) -> pl.Expr:
        """The host whose robots.txt governs a row: one for all rows unless judging per host."""
        if not self.per_host:
            return pl.lit(None, pl.String)
        return pl.col("host").str.to_lowercase()

    # ------------------------------------------------------------ aggregate
    def add(self, batch: pl.DataFrame) -> None:
        """Fold one parsed batch (logs.REQUEST_SCHEMA) into the running totals."""
        if batch.height == 0:
            return
        ua_map = self._classify(batch.get_column("user_agent").unique())
        rows = batch.join(ua_map, on="user_agent", how="left", nulls_equal=True).with_columns(
            robots_host=self._robots_host()
        )
        rows = self._judge(rows)
        rows = rows.with_columns(
            is_robots=is_robots,
            is_asset=is_asset,
            has_referer=has_referer,
            disallowed=(pl.col("allowed") == False).fill_null(False),  # noqa: E712 (polars)
            honeypot=honeypot_expr(self.honeypots),
        ).with_columns(honeypot=pl.col("honeypot") & pl.col("disallowed"))
        totals = self._batch_totals(rows).join(
            self._fast_gaps(rows), on=CLIENT_KEY, how="left", nulls_equal=True
        )
        self._merge_totals(totals.with_columns(pl.col("fast_gaps").fill_null(0)))
        self._merge_rule_counts(rows)
        self._merge_evidence(rows)
        self._activity.add(rows)

    def _crawl_delay(self, host: str | None, token: str) -> float | None:
        key = (host, token)
        if key not in self._delays:
            robots = self.robots_for(host)
            self._delays[key] = (
                robots.crawl_delay(token) if robots is not None and token != GLOBAL_TOKEN else None
            )
        return self._delays[key]

    def _fast_gaps(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Per client with a Crawl-delay: how many intervals between its requests were too short."""
        pairs = rows.select("robots_host", "token").unique()
        limits = [
            (host, token, delay * self.crawl_delay_tolerance)
            for host, token in pairs.iter_rows()
            if (delay := self._crawl_delay(host, token))
        ]
        empty = pl.DataFrame(schema={"ip": pl.String, "user_agent": pl.String, "fast_gaps": pl.Int64})
        if not limits:
            return empty
        limit_frame = pl.DataFrame(
            limits, schema={"robots_host": pl.String, "token": pl.String, "min_gap": pl.Float64}, orient="row"
        )
        timed = rows.select(*CLIENT_KEY, "robots_host", "token", "time").join(
            limit_frame, on=["robots_host", "token"], how="inner", nulls_equal=True
        )
        return timed.group_by(CLIENT_KEY).agg(
            fast_gaps=(pl.col("time").sort().diff().dt.total_microseconds() / 1e6 < pl.col("min_gap").first())
            .sum()
            .cast(pl.Int64)
        )

    @staticmethod
    def _batch_totals(rows: pl.DataFrame) -> pl.DataFrame:
        page = is_valid & ~pl.col("is_robots") & ~pl.col("is_asset")
        status = pl.col("status")
        return rows.group_by(CLIENT_KEY).agg(
            crawler_id=pl.col("crawler_id").first(),
            token=pl.col("token").first(),
            robots_host=pl.col("robots_host").drop_nulls().first(),
            requests=pl.len().cast(pl.Int64),
            first_seen=pl.col("time").min(),
            last_seen=pl.col("time").max(),
            robots_fetched=pl.col("is_robots").sum().cast(pl.Int64),
            first_robots=pl.col("time").filter(pl.col("is_robots")).min(),
            first_other=pl.col("time").filter(~pl.col("is_robots")).min(),
            judged=pl.col("allowed").is_not_null().sum().cast(pl.Int64),
            disallowed=pl.col("disallowed").sum().cast(pl.Int64),
            honeypot=pl.col("honeypot").sum().cast(pl.Int64),
            invalid=(~is_valid).sum().cast(pl.Int64),
            assets=pl.col("is_asset").sum().cast(pl.Int64),
            pages=page.sum().cast(pl.Int64),
            referers=pl.col("has_referer").sum().cast(pl.Int64),
            client_errors=((status >= 400) & (status < 500)).sum().cast(pl.Int64),
        )

    def _merge_totals(self, fresh: pl.DataFrame) -> None:
        self._totals.add(fresh)

    def _merge_rule_counts(self, rows: pl.DataFrame) -> None:
        self._rule_counts.add(
            rows.filter(pl.col("rule_id").is_not_null() & pl.col("disallowed"))
            .group_by([*CLIENT_KEY, "rule_id"])
            .agg(count=pl.len().cast(pl.Int64))
        )

    def _merge_evidence(self, rows: pl.DataFrame) -> None:
        self._evidence.add(
            rows.filter(pl.col("disallowed"))
            .select(*CLIENT_KEY, "time", "method", "target", "status", "rule_id")
            .group_by(CLIENT_KEY, maintain_order=True)
            .head(EVIDENCE_PER_CLIENT)
        )

    # ------------------------------------------------------------ results
    def totals(self) -> pl.DataFrame | None:
        """One row per client with every counter (None when no request was parsed)."""
        return self._totals.result()

    def rule_counts(self) -> pl.DataFrame | None:
        """(ip, user_agent, rule_id, count) for every disallowed request."""
        return self._rule_counts.result()

    def crawl_delays(self) -> pl.DataFrame:
        """(robots_host, token, delay): the Crawl-delay robots.txt asks of each token seen."""
        rows = [(host, token, delay) for (host, token), delay in self._delays.items() if delay]
        schema = {"robots_host": pl.String, "token": pl.String, "delay": pl.Float64}
        return pl.DataFrame(rows, schema=schema, orient="row")

    def crawler_frame(self) -> pl.DataFrame:
        """crawler_id -> name, operator, category, robots_token, verifiable (null entries: no crawler)."""
        entries = list(enumerate(self.crawlers))
        return pl.DataFrame(
            {
                "crawler_id": [i for i, _ in entries],
                "crawler": [c.name if c else None for _, c in entries],
                "operator": [c.operator if c else None for _, c in entries],
                "crawler_category": [c.category if c else None for _, c in entries],
                "robots_token": [c.robots_token if c else None for _, c in entries],
                "verifiable": [c is not None and c.verification is not None for _, c in entries],
            },
            schema={
                "crawler_id": pl.Int32, "crawler": pl.String, "operator": pl.String,
                "crawler_category": pl.String, "robots_token": pl.String, "verifiable": pl.Boolean,
            },
        )  # fmt: skip

    def rules_frame(self) -> pl.DataFrame:
        """rule_id -> rule text and line, for reasons and evidence."""
        return pl.DataFrame(
            {
                "rule_id": list(range(len(self.rules))),
                "rule": [r.text for r in self.rules],
                "line": [r.line for r in self.rules],
            },
            schema={"rule_id": pl.Int32, "rule": pl.String, "line": pl.Int64},
        )

    def activity(self) -> Activity | None:
        """Requests per client per time bucket (None when no request was parsed)."""
        return self._activity.result()

    def evidence(self) -> pl.DataFrame | None:
        """Up to EVIDENCE_PER_CLIENT earliest disallowed requests per client."""
        return self._evidence.result()
