"""Turn parsed batches into per-client partial aggregates (:class:`~botguard.judge.partial.Partial`).

The hot path works on whole polars batches. What needs Python runs once per *distinct* value:
catalogue classification once per user agent (remembered for the scan), robots.txt once per
distinct rule set, where every rule is one column operation over the batch's distinct targets
(:mod:`botguard.robots.columns`). The answers are joined back onto the rows, and the rows are
folded into one partial per batch, cut into hash shards of clients and merged shard by shard
as they pile up (:data:`SHARDS`, :data:`MERGE_ROWS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType

import numpy as np
import polars as pl

from botguard.catalog import Catalog, Crawler
from botguard.judge._fewpairs import FEW_PAIRS, few_pair_facts, takes_few
from botguard.judge._ids import group_ids
from botguard.judge._pairs import PairBook
from botguard.judge._rowfold import fold_rows, pair_flags
from botguard.judge._running import RunningFold
from botguard.judge.columns import (
    compact_strings,
    has_referer,
    honeypot_expr,
    is_asset,
    is_robots,
    is_valid,
    target,
)
from botguard.judge.partial import (
    CLIENT_KEY,
    CLIENT_PARTIAL_SCHEMA,
    EVIDENCE_PARTIAL_SCHEMA,
    EVIDENCE_PER_CLIENT,
    PATH_COUNT_SCHEMA,
    RULE_COUNT_SCHEMA,
    SHARDS,
    TIME_COUNT_SCHEMA,
    Partial,
    join_shards,
    merge_all,
    split_shards,
)
from botguard.judge.timeline import WIDTHS, client_key, path_of, width_for
from botguard.logs.records import ParseStats
from botguard.native import kernel
from botguard.robots import RobotsTxt
from botguard.robots.columns import judge_versions, logged_targets, refusing_ranks
from botguard.robots.history import RobotsTimeline

__all__ = ["CLIENT_KEY", "GLOBAL_TOKEN", "Aggregator", "RobotsLookup", "robots_token", "rule_text"]

#: Maps a virtual host (None when the log has none) to the robots.txt that governs it: one
#: file, or its recorded history (a timeline of versions) when robots.txt is fetched.
RobotsLookup = Callable[[str | None], "RobotsTxt | RobotsTimeline | None"]

#: Product token used for clients the catalogue does not know: only `*` groups apply to them.
GLOBAL_TOKEN = "*"

_WORD_RE = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN_RE = re.compile(r"[A-Za-z_-]+")

#: Per-batch partials wait to be merged until they hold this many client rows, or as many as
#: the merged partial up to :data:`MERGE_MAX_ROWS`: a small merged partial is re-grouped a
#: logarithmic number of times (merging every few batches re-grouped all 150k clients of a
#: 5M-line log 18 times: 5 s), a large one (a 10M-line log has 300k clients) is not doubled in
#: memory by the rows waiting for it. Both count over all :data:`SHARDS`.
MERGE_ROWS = 50_000
MERGE_MAX_ROWS = 100_000
#: Rows of the other frames (per-client counts by time bucket, path, rule; evidence) that may
#: wait, over all shards, whatever the clients: a log of a few clients never gathers
#: MERGE_ROWS client rows, so without this its batches' counts would wait to the end of the
#: file (20 clients walking made-up paths: a row per request). The bench logs fold on their
#: client rows first.
MERGE_COUNT_ROWS = 400_000
_COUNTS = ("rule_counts", "evidence", "time_counts", "path_counts")
#: Rows (of every frame) the pieces of a take may hold and still be merged at once, unsplit:
#: a small scan's pieces are not cut into SHARDS, each folded and compacted, and joined (~25
#: queries of a 100-line scan's ~450, each costing the same whatever its rows). At most
#: PATHS_KEPT, so no merge of so few rows drops a path count (see botguard.judge.partial).
SMALL_ROWS = 10_000

#: Verdicts of (unit, target) pairs kept from earlier batches, so each pair is judged once per
#: scan rather than once per batch (the 1M-line bench log: 65k pair judgements over its 29
#: batches, 2.7k distinct pairs). Past this many the kept verdicts start over, so memory stays
#: bounded on a log whose every path is new (~100 bytes a pair).
JUDGED_PAIRS = 50_000
#: ... and this many bytes of their targets (the running fold's pair book, :mod:`._pairs`, keeps
#: its own copy of each): a log of long, ever new targets starts it over sooner.
JUDGED_PAIR_BYTES = 16 << 20


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


def rule_text(directive: str, pattern: str) -> str:
    """A rule as reports cite it: ``Disallow: /cart``."""
    return f"{directive.capitalize()}: {pattern}"


def crawl_delay(robots: RobotsTxt | RobotsTimeline | None, token: str) -> float | None:
    """The Crawl-delay robots.txt asks of ``token`` (the catalogue's crawlers only)."""
    return robots.crawl_delay(token) if robots is not None and token != GLOBAL_TOKEN else None


_AGENTS_SCHEMA = {
    "user_agent": pl.String, "agent": pl.Int32, "crawler": pl.String, "token": pl.String, "number": pl.UInt32,
}  # fmt: skip
_UNITS_SCHEMA = {
    "robots_host": pl.String, "epoch": pl.Int32, "token": pl.String, "unit": pl.Int32, "min_gap": pl.Float64,
}  # fmt: skip
_VERDICT_COLUMNS = ("allowed", "rule_line", "rule", "rule_number")
_VERDICTS_SCHEMA = {
    "unit": pl.Int32, "target": pl.String, "allowed": pl.Boolean, "rule_line": pl.Int64, "rule": pl.String,
    "rule_number": pl.UInt32,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Unit:
    """What robots.txt asks of one (host, epoch, token): the versions in effect, which groups of
    each the token obeys (tokens obeying the same groups share a unit), and its Crawl-delay."""

    host: str | None
    versions: tuple[RobotsTxt, ...]
    token: str


@dataclass(slots=True)
class _Shard:
    """One hash shard of a scan's clients (:data:`~botguard.judge.partial.SHARDS` of them):
    its merged partial and the batch pieces waiting. Each shard's pieces are folded into that
    shard alone, so a fold re-groups and copies a shard's clients, not all of them, and a big
    log's peak is the merged clients plus one shard's working set."""

    merged: Partial | None = None
    pending: list[Partial] = field(default_factory=list)
    pending_rows: int = 0
    pending_counts: int = 0  # rows of the other frames

    def wait(self, piece: Partial) -> None:
        """Queue one batch's piece of this shard; fold once enough rows wait (see MERGE_ROWS
        and MERGE_COUNT_ROWS)."""
        self.pending.append(piece)
        self.pending_rows += piece.clients.height
        self.pending_counts += sum(getattr(piece, name).height for name in _COUNTS)
        merged = self.merged.clients.height if self.merged is not None else 0
        if (
            self.pending_rows * SHARDS >= min(max(MERGE_ROWS, merged * SHARDS), MERGE_MAX_ROWS)
            or self.pending_counts * SHARDS >= MERGE_COUNT_ROWS
        ):
            self.fold()

    def fold(self) -> None:
        """Merge the waiting pieces into the merged partial (dropped as soon as merged).

        The result holds its own strings: a merged row's are otherwise views into the piece it
        was first seen in, each pinning that piece's whole buffer (a 5M-line log: ~100 MiB).
        A shard's copy is a share of the clients, paid once per fold.
        """
        parts = ([self.merged] if self.merged is not None else []) + self.pending
        self.merged, self.pending, self.pending_rows, self.pending_counts = None, [], 0, 0
        if parts:
            self.merged = merge_all(parts, shards=1).compacted()


@dataclass(slots=True)
class Aggregator:
    """Folds parsed batches into one :class:`Partial`; one instance per scan.

    ``add(batch)`` for each parsed batch (with its parse counts), then ``result()``.
    """

    catalog: Catalog
    robots_for: RobotsLookup
    honeypots: tuple[str, ...] = ()
    per_host: bool = False  # judge each virtual host against its own robots.txt
    crawl_delay_tolerance: float = 0.5  # an interval under this share of Crawl-delay is too fast
    _agents: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # agent -> crawler, token
    _numbers: dict[str | None, int] = field(default_factory=dict)  # agent -> its number in the scan
    _rules: dict[tuple[int | None, str | None], int] = field(default_factory=dict)  # (line, text) -> number
    _units: dict[tuple[str | None, int, str], tuple[int, float | None]] = field(default_factory=dict)
    _unit_keys: dict[tuple[object, ...], int] = field(default_factory=dict)
    _unit_of: list[_Unit | None] = field(default_factory=list)  # unit id -> what it judges by
    _shards: list[_Shard] = field(default_factory=lambda: [_Shard() for _ in range(SHARDS)])
    _small: list[Partial] | None = field(default_factory=list)  # pieces not yet cut into shards (None: cut)
    _small_rows: int = 0
    _judged: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_VERDICTS_SCHEMA))
    _stats: ParseStats = field(default_factory=ParseStats)  # of the batches since the last take
    _span: tuple[int, int] | None = None  # first and last request (Unix seconds) since the last take
    _running: RunningFold | None = None  # the kernel's fold of the batches it took since the last take
    _book: PairBook | None = None  # the running fold's (unit, target) pairs, kept for the scan
    _shards_hold_clients: bool = False  # whether a batch since the last take went the polars way

    # ------------------------------------------------------------ identify
    def _agent_frame(self, user_agents: pl.Series) -> pl.DataFrame:
        """Crawler name and robots token for each distinct user agent of a batch, and ``agent``,
        a number for the agent within the batch (grouping by it is cheaper than by the text)."""
        agents = user_agents.to_list()
        fresh = [ua for ua in agents if ua not in self._agents and ua is not None]
        for ua, crawler in zip(fresh, self.catalog.classify_many(fresh), strict=True):
            self._agents[ua] = (crawler.name if crawler else None, robots_token(crawler))
        known = [self._agents[ua] if ua is not None else (None, GLOBAL_TOKEN) for ua in agents]
        numbers = self._numbers
        for ua in agents:
            numbers.setdefault(ua, len(numbers))
        return pl.DataFrame(
            {
                "user_agent": user_agents,
                "agent": range(len(agents)),
                "crawler": [name for name, _ in known],
                "token": [token for _, token in known],
                "number": [numbers[ua] for ua in agents],
            },
            schema=_AGENTS_SCHEMA,
        )

    def _numbered_agents(self) -> pl.DataFrame:
        """``user_agent``, ``crawler`` and ``token`` of every agent numbered so far, in number
        order, each text held once (the client rows of a running fold are views of them)."""
        agents = list(self._numbers)
        known = [self._agents[ua] if ua is not None else (None, GLOBAL_TOKEN) for ua in agents]
        return compact_strings(
            pl.DataFrame(
                {
                    "user_agent": agents,
                    "crawler": [name for name, _ in known],
                    "token": [token for _, token in known],
                },
                schema={"user_agent": pl.String, "crawler": pl.String, "token": pl.String},
            )
        )

    # ------------------------------------------------------------ robots.txt
    def _unit(self, host: str | None, epoch: int, token: str) -> tuple[int, float | None]:
        """(unit id, min_gap) of one (host, epoch, token): ids are shared by every token that
        obeys the same groups of the same robots.txt versions, so they are judged once."""
        known = self._units.get((host, epoch, token))
        if known is not None:
            return known
        robots = self.robots_for(host)
        delay = crawl_delay(robots, token)
        min_gap = delay * self.crawl_delay_tolerance if delay else None
        if robots is None:
            unit = -1  # nothing to judge by
        else:
            versions = robots.epochs[epoch] if isinstance(robots, RobotsTimeline) else (robots,)
            key = (host, *((id(v), v.rule_set(token)) for v in versions))
            unit = self._unit_keys.get(key, -1)
            if unit < 0:
                unit = self._unit_keys[key] = len(self._unit_of)
                self._unit_of.append(_Unit(host, versions, token))
        self._units[(host, epoch, token)] = (unit, min_gap)
        return unit, min_gap

    def _epochs(self, rows: pl.DataFrame) -> pl.Expr:
        """Which robots.txt epoch each row falls in (0 unless a host's history has changes)."""
        epoch: pl.Expr = pl.lit(0, pl.Int32)
        for host in rows.get_column("robots_host").unique().to_list():
            robots = self.robots_for(host)
            if isinstance(robots, RobotsTimeline) and robots.boundaries:
                index = pl.sum_horizontal([(pl.col("time") >= b).cast(pl.Int32) for b in robots.boundaries])
                epoch = pl.when(pl.col("robots_host") == host).then(index).otherwise(epoch)
        return epoch

    def _with_units(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``unit`` (what robots.txt each row is judged by; -1: none) and ``min_gap`` per row."""
        rows = rows.with_columns(epoch=self._epochs(rows))
        keys = ["robots_host", "epoch", "token"]
        distinct = rows.select(keys).unique()
        found = [self._unit(host, epoch, token) for host, epoch, token in distinct.iter_rows()]
        units = distinct.with_columns(**_unit_columns(found)).cast(_UNITS_SCHEMA)  # type: ignore[arg-type]
        return _looked_up(rows, units, keys).drop("epoch")

    def _units_by_agent(self) -> bool:
        """Whether a row's unit follows from its agent alone: one robots.txt for every host, and
        no changes in its history (else the host and the time of each row choose)."""
        if self.per_host:
            return False
        robots = self.robots_for(None)
        return not (isinstance(robots, RobotsTimeline) and robots.boundaries)

    def _with_agent_units(self, agents: pl.DataFrame) -> pl.DataFrame:
        """``agents`` (:meth:`_agent_frame`) with each one's ``unit`` and ``min_gap`` (see
        :meth:`_units_by_agent`): looked up per distinct agent, not per row."""
        found = [self._unit(None, 0, token) for token in agents.get_column("token").to_list()]
        return agents.with_columns(**_unit_columns(found))

    def _verdicts(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """allowed, rule_line, rule and the rule's number in the scan (:meth:`_rule_numbers`)
        for each distinct (unit, target) of a batch."""
        frames = []
        for (unit,), group in pairs.group_by("unit"):
            spec = self._unit_of[unit]
            assert spec is not None
            targets = group.get_column("target")
            found = judge_versions(spec.versions, spec.token, logged_targets(targets))
            named = [(rule.line, rule_text(rule.directive, rule.pattern)) for rule in found.rules]
            lines = pl.Series([line for line, _ in named], dtype=pl.Int64)
            texts = pl.Series([text for _, text in named], dtype=pl.String)
            known = self._rules
            numbers = pl.Series([known.setdefault(rule, len(known)) for rule in named], dtype=pl.UInt32)
            index = found.rule
            frames.append(
                pl.DataFrame(
                    {
                        "unit": group.get_column("unit"),
                        "target": targets,
                        "allowed": found.allowed,
                        "rule_line": lines.gather(index) if len(lines) else index.cast(pl.Int64),
                        "rule": texts.gather(index) if len(texts) else index.cast(pl.String),
                        "rule_number": numbers.gather(index) if len(numbers) else index.cast(pl.UInt32),
                    }
                )
            )
        return pl.concat(frames) if frames else pl.DataFrame(schema=_VERDICTS_SCHEMA)

    def _judge_few(self, unit: int, targets: list[str]) -> list[tuple[int | None, str] | None]:
        """:meth:`_verdicts` of a few targets of one unit, in plain Python: each one's refusing
        rule as (line, text), None where allowed; the unit's rules numbered as there."""
        spec = self._unit_of[unit]
        assert spec is not None
        ranks, rules = refusing_ranks(spec.versions, spec.token, targets)
        named = [(rule.line, rule_text(rule.directive, rule.pattern)) for rule in rules]
        known = self._rules
        for rule in named:
            known.setdefault(rule, len(known))
        return [None if rank is None else named[rank] for rank in ranks]

    def _pair_verdicts(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """``pairs`` (distinct ``unit``, ``target`` of a batch, with ``asked``: whether robots.txt
        is asked about it) with ``allowed``, ``rule_line`` and ``rule``, in their order (null
        where not asked).

        Each pair is looked up among the verdicts kept from earlier batches (one join of the
        batch's distinct pairs); the asked ones not kept yet are judged once, column-wise, kept,
        and looked up the same way. (Paths repeat from batch to batch: after the first batches
        nearly every pair is kept.)
        """
        keys = ["unit", "target"]
        found = pairs.join(self._judged, on=keys, how="left", maintain_order="left")
        missing = found.get_column("asked") & found.get_column("allowed").is_null()
        if missing.any():
            at = missing.arg_true()  # after the first batches, a new path or two
            unknown = pairs.select(keys)[at]
            fresh = self._kept(self._verdicts(unknown))
            again = unknown.join(fresh, on=keys, how="left", maintain_order="left")
            found = found.with_columns(
                found.get_column(name).scatter(at, again.get_column(name)) for name in _VERDICT_COLUMNS
            )  # (scatter writes in place: into the join's own frame)
        return found

    def _kept(self, fresh: pl.DataFrame) -> pl.DataFrame:
        """``fresh`` verdicts, kept for the batches to come (their strings copied: a view would
        pin the whole batch it was cut from); past :data:`JUDGED_PAIRS` the kept ones start over."""
        if self._judged.height + fresh.height > JUDGED_PAIRS:
            self._judged = self._judged.clear()
        self._judged = pl.concat([self._judged, compact_strings(fresh)], how="vertical_relaxed")
        return fresh

    def _robots_host(self) -> pl.Expr:
        """The host whose robots.txt governs a row: one for all rows unless judging per host."""
        if not self.per_host:
            return pl.lit(None, pl.String)
        return pl.col("host").str.to_lowercase()

    # ------------------------------------------------------------ aggregate
    def add(self, batch: pl.DataFrame, stats: ParseStats | None = None) -> None:
        """Fold one parsed batch (logs.REQUEST_SCHEMA) and its parse counts into the partial.

        With the compiled kernel, a batch it takes goes to the running fold (its client rows
        and time counts), and only its counts of disallowed requests to the shards; any other
        batch (or every batch, without the kernel) goes to the shards whole, after what the
        running fold holds (so the shards' pieces stay in log order and merge exactly).
        """
        self._stats.merge(stats or ParseStats())
        if batch.height == 0:
            return
        width = self._width_with(batch)
        if not self._run(batch, width):
            self._flush_running()
            self._queue(self.partial_of(batch, ParseStats(), width))
            self._shards_hold_clients = True

    def _queue(self, part: Partial) -> None:
        """Cut ``part`` (holding its own strings) into the shards, each piece waiting there
        (nothing for a partial without rows); while the take's pieces hold at most SMALL_ROWS
        rows they wait whole, and are cut in turn (log order) once they hold more."""
        rows = sum(getattr(part, name).height for name in ("clients", *_COUNTS))
        if not rows:
            return
        if self._small is not None:
            self._small_rows += rows
            self._small.append(part)
            if self._small_rows <= SMALL_ROWS:
                return
            waiting, self._small = self._small, None
        else:
            waiting = [part]
        for piece in waiting:
            for shard, cut in zip(self._shards, split_shards(piece, SHARDS, compact=False), strict=True):
                shard.wait(cut)

    def _flush_running(self) -> None:
        """Queue what the running fold holds as one piece, and start it over."""
        if self._running is not None:
            clients, times, rules = self._emitted()
            self._running = None
            self._queue(Partial(clients=clients, rule_counts=rules, time_counts=times))

    def _emitted(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """The running fold's client rows, time counts and rule counts."""
        assert self._running is not None
        numbered = list(self._rules)
        rules = pl.DataFrame(
            {"rule_line": [line for line, _ in numbered], "rule": [text for _, text in numbered]},
            schema={"rule_line": pl.Int64, "rule": pl.String},
        )
        return self._running.emit(self._numbered_agents(), rules)

    def result(self) -> Partial:
        """The partial of every batch added since the last ``take``."""
        if self._shards_hold_clients:
            self._flush_running()
        if self._small is not None:  # never cut: merged at once (the same partial, see SMALL_ROWS)
            whole = replace(merge_all(self._small, shards=1).compacted(), stats=self._stats)
        else:
            for shard in self._shards:
                shard.fold()
            whole = join_shards([s.merged for s in self._shards if s.merged is not None], self._stats)
        if self._running is None:
            return whole
        clients, times, rules = self._emitted()  # the shards hold no clients, no rule counts
        return Partial(clients, rules, whole.evidence, times, whole.path_counts, self._stats)

    def take(self) -> Partial:
        """The partial of the batches added since the last ``take`` (one file's, say), and start
        over: what the scan learned about agents and robots.txt is kept for the next file."""
        part = self.result()
        self._shards = [_Shard() for _ in range(SHARDS)]
        self._small, self._small_rows = [], 0
        self._stats, self._span = ParseStats(), None
        self._running, self._shards_hold_clients = None, False
        return part

    def _width_with(self, batch: pl.DataFrame) -> int:
        """The bucket width of the span seen since the last take, this batch included: the
        batch is counted in it rather than in its own narrower one, as the merge would floor its
        buckets to it anyway (a generated 1M-line log over 3 days: 143k rows to merge, not 244k)."""
        span = _seconds_span(batch)
        if span is None:
            return WIDTHS[0]
        low, high = span
        if self._span is not None:
            low, high = min(low, self._span[0]), max(high, self._span[1])
        self._span = (low, high)
        return width_for(low, high)

    def partial_of(self, batch: pl.DataFrame, stats: ParseStats, width: int = WIDTHS[0]) -> Partial:
        """The partial of one parsed batch; its requests are counted in buckets of its own
        span's width, or of ``width`` if that is wider (one of WIDTHS).

        Each row's agent, (robots.txt unit, target) pair and client (address and agent) is
        numbered once (:func:`~botguard.judge._ids.group_ids`); what follows from an agent or a
        pair is computed once per distinct one and gathered back, and every count groups by
        those numbers, not by text.
        """
        if batch.height == 0:
            return Partial(stats=stats)
        rows, agents, pairs, firsts = self._numbered(batch)
        who = _clients_of(firsts, agents)
        native = kernel("judge._fold")
        folded = fold_rows(native, rows, pairs, who, width) if native is not None else None
        if folded is None:  # the pure twin
            facts = _row_facts(rows, pairs)
            clients, times = _client_rows(facts, who), _time_counts(facts, who, width)
        else:
            clients, times, disallowed = folded
            facts = rows.with_columns(disallowed=disallowed)
            if self.per_host:
                clients = clients.with_columns(_first_hosts(rows, who.height))
        rule_counts, evidence, path_counts = self._disallowed_counts(facts, pairs, who)
        if self.per_host:  # hosts are views of the batch's lowercased ones: copied
            clients = compact_strings(clients)
        return Partial(clients, rule_counts, evidence, times, path_counts, stats)

    def _numbered(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """A batch's rows numbered (``agent``, ``pair``, ``client``, with ``unit`` and
        ``min_gap``), its agents (:meth:`_agent_frame`) and pairs (:meth:`_pairs`) in id order,
        and each client's first row's ``ip`` and ``agent`` in client id order."""
        rows, agents, agent_ids = self._with_agents(batch)
        pair_ids, pair_firsts = group_ids(
            rows.get_column("target"), (rows.get_column("unit") + 1).cast(pl.UInt32)
        )
        pairs = self._pairs(rows.select("unit", "target")[pair_firsts])
        client_ids, client_firsts = group_ids(rows.get_column("ip"), agent_ids)
        rows = rows.with_columns(pair=pair_ids, client=client_ids)
        return rows, agents, pairs, rows.select("ip", "agent")[client_firsts]

    def _with_agents(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
        """A batch's rows with ``agent`` (its number in the batch), ``robots_host``, ``unit`` and
        ``min_gap``; its agents (:meth:`_agent_frame`); each row's agent number."""
        user_agents = batch.get_column("user_agent")
        agent_ids, agent_firsts = group_ids(user_agents)
        agents = self._agent_frame(user_agents.gather(agent_firsts))
        rows = batch.with_columns(agent=agent_ids, robots_host=self._robots_host())
        if self._units_by_agent():
            agents = self._with_agent_units(agents)
            rows = rows.hstack([agents.get_column(name).gather(agent_ids) for name in ("unit", "min_gap")])
        else:
            rows = self._with_units(rows.hstack([agents.get_column("token").gather(agent_ids)]))
        return rows, agents, agent_ids

    def _booked(
        self, batch: pl.DataFrame, native: ModuleType
    ) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray, pl.DataFrame]:
        """A batch's rows numbered for the running fold (``agent``, ``client``, with ``unit`` and
        ``min_gap``), its agents, each row's pair number in the scan's pair book (pairs new to
        the book are given their facts and verdicts first: :meth:`_learn_pairs`), and each
        client's first row's ``ip`` and ``agent`` in client id order."""
        rows, agents, agent_ids = self._with_agents(batch)
        if self._book is None:
            self._book = PairBook(native, JUDGED_PAIRS, JUDGED_PAIR_BYTES)
        units = rows.get_column("unit").cast(pl.Int32).to_numpy()
        pair_ids, fresh, _ = self._book.find(rows.get_column("target"), units)
        if len(fresh):
            self._learn_pairs(rows.select("unit", "target")[pl.Series(fresh)])
        client_ids, client_firsts = group_ids(rows.get_column("ip"), agent_ids)
        rows = rows.with_columns(client=client_ids)
        return rows, agents, pair_ids, rows.select("ip", "agent")[client_firsts]

    def _learn_pairs(self, fresh: pl.DataFrame) -> None:
        """Give the pair book the facts of ``fresh`` (its new ``unit``, ``target`` pairs, in
        number order): those of :meth:`_pairs`, each asked pair judged here, once (a few
        pairs in plain Python: :mod:`._fewpairs`)."""
        assert self._book is not None
        targets = fresh.get_column("target")
        if targets.len() <= FEW_PAIRS and takes_few(texts := targets.to_list()):
            few = few_pair_facts(fresh.get_column("unit").to_list(), texts, self.honeypots, self._judge_few)
            known = self._rules
            numbers = np.array([0 if rule is None else known[rule] for rule in few.rules], np.uint32)
            self._book.learn(few.flags, numbers, few.paths)
            return
        pairs = self._pair_facts(fresh)
        asked = pairs.get_column("asked").arg_true()
        keys = ["unit", "target"]
        found = pairs.join(
            self._verdicts(pairs.select(keys)[asked]), on=keys, how="left", maintain_order="left"
        )
        refused = found.with_columns(_refused=pl.col("allowed").fill_null(True).not_())
        self._book.learn(
            pair_flags(refused), self._rule_numbers(refused), refused.get_column("path").to_list()
        )

    def _disallowed_counts(
        self, facts: pl.DataFrame, pairs: pl.DataFrame, who: pl.DataFrame
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Rule counts, evidence and path counts of a batch's rows (``facts``: with
        ``disallowed``), each holding its own strings."""
        bad = _rows_where(
            facts, pl.col("disallowed"), ["client", "pair", "robots_host", "time", "method", "status"]
        )
        rule_counts = _rule_counts(bad, pairs, who)
        if self.per_host:  # hosts are views of the batch's lowercased ones: copied
            rule_counts = compact_strings(rule_counts)
        return rule_counts, _evidence(bad, pairs, who), _path_counts(bad, pairs, who)

    def _run(self, batch: pl.DataFrame, width: int) -> bool:
        """Add a batch to the running fold and queue the partial of its disallowed requests (no
        client rows, no time counts) in the shards (see :meth:`add`); False where the kernel
        does not take it (not built or turned off, judging per host, a null or pre-1970 time)."""
        native = kernel("judge._fold") if not self.per_host else None
        if native is None or not RunningFold.takes(batch):
            return False
        rows, agents, pair_ids, firsts = self._booked(batch, native)
        assert self._book is not None
        if self._running is None:
            self._running = RunningFold(native)
        numbers = agents.get_column("number").gather(firsts.get_column("agent"))
        evidence_rows, per_path = self._running.add(
            rows, (pair_ids, self._book.facts()), (firsts.get_column("ip"), numbers), width
        )
        if per_path.height:  # (evidence rows are disallowed ones: none without path counts)
            path_owners = per_path.get_column("client").to_numpy()
            row_owners = rows.get_column("client").gather(evidence_rows).to_numpy()
            named, local = np.unique(np.concatenate([path_owners, row_owners]), return_inverse=True)
            who = _clients_of(firsts[pl.Series(named)], agents)  # only the clients cited
            owners = pl.Series("client", local.astype(np.uint32))
            self._queue(
                Partial(
                    evidence=self._evidence_of(
                        rows, pair_ids, evidence_rows, owners.slice(len(path_owners)), who
                    ),
                    path_counts=pl.DataFrame(
                        [
                            who.get_column("key").gather(owners.head(len(path_owners))),
                            pl.Series("path", self._book.path_texts(per_path.get_column("path").to_numpy())),
                            per_path.get_column("requests"),
                        ]
                    ).cast(PATH_COUNT_SCHEMA),  # type: ignore[arg-type]
                )
            )
        return True

    def _evidence_of(
        self, rows: pl.DataFrame, pair_ids: np.ndarray, at: pl.Series, owners: pl.Series, who: pl.DataFrame
    ) -> pl.DataFrame:
        """The evidence of the running fold's candidate rows ``at`` (see :meth:`_run`; ``owners``:
        each one's client in ``who``): their targets are the rows' own, their rules those the
        book numbered (refused pairs all have one)."""
        assert self._book is not None
        bad = rows.select("time", "method", "status")[at].with_columns(
            owners, pair=pl.int_range(at.len(), dtype=pl.UInt32)
        )
        numbered = list(self._rules)
        cited = [numbered[n] for n in self._book.rules_of(pair_ids[at.to_numpy()]).tolist()]
        pairs = pl.DataFrame(
            {
                "target": rows.get_column("target").gather(at),
                "rule_line": [line for line, _ in cited],
                "rule": [text for _, text in cited],
            },
            schema={"target": pl.String, "rule_line": pl.Int64, "rule": pl.String},
        )
        return _evidence(bad, pairs, who)

    @staticmethod
    def _rule_numbers(pairs: pl.DataFrame) -> np.ndarray:
        """The scan's number of each pair's rule (0 where none: never read, such a pair is not
        refused); numbered as the verdicts are judged (:meth:`_verdicts`), so that the running
        fold counts disallowed requests per client and rule by number, whatever the batch."""
        return pairs.get_column("rule_number").fill_null(0).to_numpy()

    def _pairs(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """The facts of each distinct (unit, target) pair of a batch (in id order): those of
        :meth:`_pair_facts`, and then its verdict (``_refused``: not allowed)."""
        found = self._pair_verdicts(self._pair_facts(pairs))
        return found.with_columns(_refused=pl.col("allowed").fill_null(True).not_())

    def _pair_facts(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """``pairs`` (``unit``, ``target``) with whether its target is a robots.txt fetch, an
        asset, in a trap, whether robots.txt is asked about it (not a fetch, a target, a unit to
        judge by), and ``path``: the target without its query."""
        asked = ~is_robots & target.is_not_null() & (pl.col("unit") >= 0)
        return pairs.with_columns(
            is_robots=is_robots,
            asset=is_asset,
            trap=honeypot_expr(self.honeypots),
            path=path_of(),
            asked=asked,
        )


def _unit_columns(found: list[tuple[int, float | None]]) -> dict[str, pl.Series]:
    """``unit`` and ``min_gap`` columns of :meth:`Aggregator._unit`'s answers, in their order."""
    return {
        "unit": pl.Series([unit for unit, _ in found], dtype=pl.Int32),
        "min_gap": pl.Series([gap for _, gap in found], dtype=pl.Float64),
    }


def _looked_up(
    rows: pl.DataFrame, table: pl.DataFrame, keys: list[str], *, nulls_equal: bool = True
) -> pl.DataFrame:
    """``rows`` with ``table``'s other columns beside them, by ``keys`` (``table`` holds each
    key once; rows it lacks get nulls), in the rows' order.

    Only the key columns go through the join: a left join of the whole batch gathered its
    every column again (~20 of them) for three new ones.
    """
    found = rows.select(keys).join(table, on=keys, how="left", nulls_equal=nulls_equal, maintain_order="left")
    return rows.hstack(found.drop(keys).get_columns())


def _row_facts(rows: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """What each row counts as (``rows`` with ``pair`` and ``client`` ids), one boolean column
    per fact, from its pair's facts gathered and its own status, referer and validity."""
    pair = rows.get_column("pair")
    robots, asset, asked, refused, trap = (
        pairs.get_column(name).gather(pair) for name in ("is_robots", "asset", "asked", "_refused", "trap")
    )
    valid, status, time = is_valid, pl.col("status"), pl.col("time")
    judged = valid & pl.lit(asked)
    disallowed = judged & pl.lit(refused)
    return rows.select(
        "client", "pair", "time", "status", "bytes", "method", "robots_host", "min_gap",
        pl.lit(robots).alias("is_robots"),
        pl.lit(asset).alias("asset"),
        judged.alias("_judged"),
        disallowed.alias("disallowed"),
        (disallowed & pl.lit(trap)).alias("honeypot"),
        (~valid).alias("_invalid"),
        (valid & ~pl.lit(robots) & ~pl.lit(asset)).alias("_page"),
        has_referer.alias("_referer"),
        ((status >= 400) & (status < 500)).alias("_client_error"),
        pl.when(pl.lit(robots)).then(time).alias("_robots_time"),
        pl.when(~pl.lit(robots)).then(time).alias("_other_time"),
    )  # fmt: skip


def _first_hosts(rows: pl.DataFrame, clients: int) -> pl.Series:
    """Each client's first logged host (``robots_host``), in client id order."""
    first = rows.group_by("client").agg(pl.col("robots_host").drop_nulls().first())
    hosts = pl.Series("robots_host", [None], pl.String).extend_constant(None, clients - 1)
    return hosts.scatter(first.get_column("client"), first.get_column("robots_host"))


def _clients_of(firsts: pl.DataFrame, agents: pl.DataFrame) -> pl.DataFrame:
    """One row per client id of a batch (``firsts``: its ``ip`` and ``agent`` id, in id
    order): address and agent, crawler and token as the partial keeps them (their own strings,
    not views pinning the batch), and ``key`` (:func:`~botguard.judge.timeline.client_key`)."""
    agent = firsts.get_column("agent")
    own = compact_strings(agents.select("user_agent", "crawler", "token"))
    who = pl.DataFrame(
        [
            compact_strings(firsts.select("ip")).get_column("ip"),
            *(own.get_column(n).gather(agent) for n in own.columns),
        ]
    )
    return who.with_columns(client_key())


def _with_client(frame: pl.DataFrame, who: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``frame`` (with a ``client`` id column) with those ``columns`` of its client beside it."""
    client = frame.get_column("client")
    return frame.hstack([who.get_column(name).gather(client) for name in columns])


def _client_rows(facts: pl.DataFrame, who: pl.DataFrame) -> pl.DataFrame:
    """One partial row per client of a batch (CLIENT_PARTIAL_SCHEMA).

    Each fact is a column first, so that every aggregation is a plain sum, min or first
    (polars' fast paths); clients are grouped by their id, a number.
    """
    time = pl.col("time")
    hosts = facts.get_column("robots_host")
    host = (
        pl.lit(None, pl.String)
        if hosts.null_count() == hosts.len()
        else pl.col("robots_host").drop_nulls().first()
    )
    clients = facts.group_by("client").agg(
        robots_host=host,
        requests=pl.len(),
        first_seen=time.min(),
        last_seen=time.max(),
        robots_fetched=pl.col("is_robots").sum(),
        first_robots=pl.col("_robots_time").min(),
        first_other=pl.col("_other_time").min(),
        judged=pl.col("_judged").sum(),
        disallowed=pl.col("disallowed").sum(),
        honeypot=pl.col("honeypot").sum(),
        invalid=pl.col("_invalid").sum(),
        assets=pl.col("asset").sum(),
        pages=pl.col("_page").sum(),
        referers=pl.col("_referer").sum(),
        client_errors=pl.col("_client_error").sum(),
    )
    return (
        _with_client(clients, who, ["ip", "user_agent", "crawler", "token"])
        .join(_gaps(facts), on="client", how="left")
        .with_columns(pl.col("fast_gaps").fill_null(0))
        .select(list(CLIENT_PARTIAL_SCHEMA))
        .cast(CLIENT_PARTIAL_SCHEMA)  # type: ignore[arg-type]
    )


def _gaps(facts: pl.DataFrame) -> pl.DataFrame:
    """Per client with a Crawl-delay: intervals, in log order, shorter than ``min_gap``, and the
    first and last times they were counted between (what a merge needs to count across a cut).

    Rows without a time have no interval and are left out: kept, a null first or last time
    hid the piece's intervals from a merge, so a log cut into batches counted other gaps than
    the whole log.
    """
    time, limit = pl.col("time"), pl.col("min_gap").first()
    governed = pl.col("min_gap").is_not_null() & time.is_not_null()
    return (
        _rows_where(facts, governed, ["client", "time", "min_gap"])
        .group_by("client")
        .agg(
            fast_gaps=(time.diff().dt.total_microseconds() / 1e6 < limit).sum(),
            gap_first=time.first(),
            gap_last=time.last(),
            min_gap=limit,
        )
    )


def _rows_where(rows: pl.DataFrame, condition: pl.Expr, columns: list[str]) -> pl.DataFrame:
    """The ``columns`` of the rows where ``condition`` holds.

    Why not ``rows.filter``: a batch's rows carry ~30 columns, and a filter copies every one of
    them; the counts read a few.
    """
    return rows.lazy().filter(condition).select(columns).collect()


def _rule_counts(bad: pl.DataFrame, pairs: pl.DataFrame, who: pl.DataFrame) -> pl.DataFrame:
    """Disallowed requests per client and rule (``bad``: the disallowed rows): counted per
    client and pair, then per rule (pairs of one rule add up)."""
    per_pair = bad.group_by("client", "pair", "robots_host").agg(count=pl.len())
    rules = per_pair.hstack(
        [pairs.get_column(name).gather(per_pair.get_column("pair")) for name in ("rule_line", "rule")]
    )
    return (
        rules.group_by("client", pl.col("robots_host").alias("rule_host"), "rule_line", "rule")
        .agg(pl.col("count").sum())
        .pipe(_with_client, who, CLIENT_KEY)
        .select(list(RULE_COUNT_SCHEMA))
        .cast(RULE_COUNT_SCHEMA)  # type: ignore[arg-type]
    )


def _evidence(bad: pl.DataFrame, pairs: pl.DataFrame, who: pl.DataFrame) -> pl.DataFrame:
    """Each client's earliest disallowed requests (``bad``: the disallowed rows)."""
    earliest = (
        bad.select("client", "pair", "time", "method", "status")
        .sort("time", maintain_order=True)
        .group_by("client", maintain_order=True)
        .head(EVIDENCE_PER_CLIENT)
    )
    pair = earliest.get_column("pair")
    found = earliest.hstack([pairs.get_column(name).gather(pair) for name in ("target", "rule_line", "rule")])
    return compact_strings(
        _with_client(found, who, CLIENT_KEY)
        .select(list(EVIDENCE_PARTIAL_SCHEMA))
        .cast(EVIDENCE_PARTIAL_SCHEMA)  # type: ignore[arg-type]
    )


def _seconds_span(rows: pl.DataFrame) -> tuple[int, int] | None:
    """The first and last request time of ``rows`` in Unix seconds (None: no time)."""
    seconds = pl.col("time").dt.epoch("s")
    low, high = rows.select(seconds.min().alias("low"), seconds.max().alias("high")).row(0)
    return None if low is None or high is None else (low, high)


def _time_counts(facts: pl.DataFrame, who: pl.DataFrame, least: int) -> pl.DataFrame:
    """Requests and bytes per client and bucket, at the width of the batch's own span (the one
    :func:`~botguard.judge.partial.bucket_width` gives its client rows) or ``least`` if wider.

    Grouped by one number per (client, bucket): the client id times the batch's bucket count
    plus the bucket's place in the span (one integer key: two keys cost polars a row encoding).
    """
    seconds = pl.col("time").dt.epoch("s")
    span = _seconds_span(facts)
    width = max(least, width_for(*span) if span is not None else WIDTHS[0])
    if span is None or facts.get_column("time").has_nulls():  # (a null time is a bucket of its own)
        counts = facts.group_by("client", (seconds // width * width).alias("bucket")).agg(
            requests=pl.len(), bytes=pl.col("bytes").sum()
        )
    else:
        first, buckets = span[0] // width, span[1] // width - span[0] // width + 1
        slot = pl.col("client").cast(pl.UInt64) * buckets + (seconds // width - first).cast(pl.UInt64)
        counts = facts.group_by(slot.alias("_slot")).agg(requests=pl.len(), bytes=pl.col("bytes").sum())
        place = counts.get_column("_slot")
        counts = counts.with_columns(
            (place // buckets).cast(pl.UInt32).alias("client"),
            (((place % buckets).cast(pl.Int64) + first) * width).alias("bucket"),
        )
    with_keys = _with_client(counts, who, ["key"])
    return with_keys.select(list(TIME_COUNT_SCHEMA)).cast(TIME_COUNT_SCHEMA)  # type: ignore[arg-type]


def _path_counts(bad: pl.DataFrame, pairs: pl.DataFrame, who: pl.DataFrame) -> pl.DataFrame:
    """Disallowed requests per client and path (``bad``: the disallowed rows): counted per
    client and pair, then per path (targets of one path add up)."""
    per_pair = bad.group_by("client", "pair").agg(requests=pl.len())
    paths = per_pair.hstack([pairs.get_column("path").gather(per_pair.get_column("pair"))])
    return compact_strings(
        paths.group_by("client", "path")
        .agg(pl.col("requests").sum())
        .pipe(_with_client, who, ["key"])
        .select(list(PATH_COUNT_SCHEMA))
        .cast(PATH_COUNT_SCHEMA)  # type: ignore[arg-type]
    )
