"""The online model as a step of `botguard scan`: the stream learner replaying the log.

Why one learner: a scan is the stream of a log in time order, so it runs the same
:class:`~botguard.model.stream.StreamLearner` `botguard watch` runs, fed the batches the judge
reads (before the judge folds them into clients). A scan of a log and a watch that followed the
same log therefore reach the same state: the same scores, raises and candidates.

After the judge, :meth:`ScanReplay.outcome` turns the learner's state into the clients frame's
``model_score`` (each client's score at its last request) and raised verdicts. Without the replay
(the default) a fresh learner of the same code is taught one event per judged client instead
(:meth:`~botguard.model.stream.StreamLearner.fit_clients`), which scores every client at a few
percent of the scan's cost; that client pass runs in both cases, as the gate of shared signatures.
The raises:

- a client a campaign signature raised (:mod:`botguard.model.campaigns`): to ``block`` when it
  has evidence of its own (a honeypot hit, a spoofed crawler claim), else to the challenge tier
  (``model.scan.raise_to``). robots.txt violations are not such evidence for a browser agent:
  people request disallowed pages (a cart, a search) all the time, and never read robots.txt;
- a client that shares a network or agent token with clients the judge found bad
  (:mod:`botguard.model.clients`) and that the client pass scores at least
  ``model.scan.min_score``: to ``model.scan.raise_to`` (``strong_raise_to`` for a strong
  signature);
- a client matched by a rule candidate the stream proposed to block (the rule a reviewer would
  deploy; a whole AS is only ever throttled, and raises no one), scoring at least
  ``model.scan.min_score``: to ``model.scan.raise_to``.

Never raised: catalogue or verified crawlers, allowlisted clients, and (through a candidate)
clients that load page assets or mostly follow their own links.

The replay is opt-in (``model.scan.replay``, ``scan --campaigns``): it costs 6-9 times the CPU of
the rest of the scan, so by default there are no campaign raises or candidates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import polars as pl

from botguard.config import ScanModelSettings, Settings
from botguard.decide import Match, matches
from botguard.judge.records import VERDICT_ORDER, ModelSummary
from botguard.logs.records import Batch
from botguard.model.clients import signature_raises
from botguard.model.records import ClientRaise, RuleCandidate

if TYPE_CHECKING:
    from botguard.catalog import Catalog
    from botguard.model.stream import StreamLearner, StreamSettings

col = pl.col


@dataclass(frozen=True, slots=True)
class ModelOutcome:
    """The clients frame with ``model_score`` and raised verdicts, the summary, and each raise."""

    clients: pl.DataFrame
    summary: ModelSummary
    raises: tuple[ClientRaise, ...] = ()


class ScanReplay:
    """The scan's model step: a stream learner fed a scan's batches as the judge reads them, or,
    without ``stream``, the client pass and the shared signatures (no campaigns, no candidates)."""

    def __init__(
        self,
        settings: Settings,
        *,
        robots: Any = None,
        state_path: str | None = None,
        stream: bool = True,
        catalog: Catalog | None = None,
    ) -> None:
        self.settings, self.robots, self.state_path = settings, robots, state_path
        self.catalog = catalog  # the scan's, for the client pass (None: loaded)
        self.learner = _learner(settings, robots, state_path) if stream else None

    def feed(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        """The batches, each observed by the learner first (the log's time order) when it runs."""
        return batches if self.learner is None else self._observed(batches, self.learner)

    @staticmethod
    def _observed(batches: Iterable[Batch], learner: StreamLearner) -> Iterator[Batch]:
        for batch in batches:
            if batch.requests.height:
                learner.observe(batch.requests)
            yield batch

    def outcome(self, clients: pl.DataFrame) -> ModelOutcome:
        """Scores and raised verdicts for the judged clients (CLIENT_SCHEMA), in the judge's order."""
        model = ScanModelSettings.from_settings(self.settings)
        campaign, candidates, scores, trained = _learned(self.learner)
        # The client pass always runs: it scores a default scan, and with or without the replay it
        # gates the shared signatures (a session's score; the replay's is its last request's).
        fit = _client_learner(self.settings, self.robots, self.catalog).fit_clients(clients)
        gate = fit.scores.tolist()
        if self.learner is None:
            score: list[float | None] = [round(s, 4) for s in gate]
            trained = fit.trained
        else:
            ips, uas = clients.get_column("ip").to_list(), clients.get_column("user_agent").to_list()
            score = [
                None if (s := scores.get((ip, ua or ""))) is None else round(s[0], 4)
                for ip, ua in zip(ips, uas)
            ]
        out = clients.with_columns(model_score=pl.Series(score, dtype=pl.Float64))
        shared = {(r.ip, r.user_agent): r for r in signature_raises(clients, self.settings, model, gate)}
        raises = _raises(out, campaign, shared, candidates, model)
        verdicts = [_target(r, model) for r in raises]
        summary = ModelSummary(
            clients_scored=sum(s is not None for s in score),
            trained_on=trained,
            signatures=len({r.signature for r in raises} | {c.signature for c in candidates}),
            raised_to_monitor=verdicts.count("monitor"),
            raised_to_block=verdicts.count("block"),
            raised_to_challenge=verdicts.count("challenge"),
            raised_by_campaign=sum(r.kind not in ("candidate", "shared") for r in raises),
        )
        if raises:
            out = _apply(out, raises, model)
        return ModelOutcome(out, summary, tuple(raises))


def _learner(settings: Settings, robots: Any, state_path: str | None) -> StreamLearner:
    """The stream learner of a scan: ``watch``'s, keeping every client's outcome to the end."""
    from botguard.model.stream import StreamLearner

    knobs = _knobs(settings)
    return StreamLearner.from_config(settings, robots=robots, state_path=state_path, settings=knobs)


def _client_learner(settings: Settings, robots: Any, catalog: Catalog | None) -> StreamLearner:
    """The learner the client pass teaches: the stream's, given the scan's catalogue and no ASN
    source. It reads the judged clients' agents and networks (the AS and hosting class the judge
    found), never a catalogue entry or an address lookup, so loading either again (~45 ms of a
    small scan) would change nothing."""
    from botguard.model.stream import StreamLearner

    return StreamLearner(settings, robots=robots, catalog=catalog, asn_db=None, stream=_knobs(settings))


def _knobs(settings: Settings) -> StreamSettings:
    """The stream settings of a scan's learners: ``watch``'s, keeping every client's outcome to the end."""
    # Imported here: only a scan that runs the model step pays for the learner.
    from botguard.model.stream import StreamSettings

    knobs = StreamSettings.from_settings(settings)
    # A scan reports every client of its log, however many days it spans: outcomes are kept
    # to the end (a watch keeps them ``model.campaigns.keep`` seconds, a day by default).
    return replace(knobs, campaigns=replace(knobs.campaigns, keep=math.inf))


def _learned(
    learner: StreamLearner | None,
) -> tuple[
    dict[tuple[str, str], ClientRaise], list[RuleCandidate], dict[tuple[str, str], tuple[float, float]], int
]:
    """What the replay learned: campaign raises, candidates, client scores, examples trained on
    (nothing without the replay)."""
    if learner is None:
        return {}, [], {}, 0
    trained = sum(learner.counters.trained.values())
    return learner.raises(), learner.candidates(), learner.campaigns.scores, trained


def _target(raised: ClientRaise, model: ScanModelSettings) -> str:
    """The verdict a raise asks for: ``block`` on evidence, else the challenge tier's setting."""
    return "block" if raised.action == "block" else model.raise_to


def _raises(
    clients: pl.DataFrame,
    campaign: dict[tuple[str, str], ClientRaise],
    shared: dict[tuple[str, str], ClientRaise],
    candidates: list[RuleCandidate],
    model: ScanModelSettings,
) -> list[ClientRaise]:
    """The clients to raise, each once: a campaign raise first, else a signature shared with
    clients judged bad, else a matching candidate."""
    rows = _raisable(clients, [*campaign, *shared], _live(candidates, model))
    out = []
    for r in rows.iter_rows(named=True):
        key = (r["ip"], r["user_agent"] or "")
        found = campaign.get(key) or shared.get(key) or _by_candidate(r, candidates, model)
        if found is None:
            continue
        evidence = (r["honeypot_requests"] or 0) > 0 or r["identity"] == "spoofed"
        action = "block" if evidence else found.action
        raised = ClientRaise(
            found.ip, found.user_agent, found.signature, found.kind, found.reason, found.support,
            found.confidence, found.at, action,
        )  # fmt: skip
        # Kept with its reason when the verdict stays (a challenged client raised to the challenge
        # tier): what decides its fate later is the raise.
        if r["verdict"] != "block" and VERDICT_ORDER[_target(raised, model)] >= VERDICT_ORDER[r["verdict"]]:
            out.append(raised)
    return out


def _raisable(clients: pl.DataFrame, keys: list[tuple[str, str]], any_client: bool) -> pl.DataFrame:
    """The clients a raise may reach, in the frame's order: never a catalogue or verified crawler
    or an allowlisted client; and unless a live candidate may match any client, only those a
    campaign or shared signature names by ``keys`` (ip, agent): a scan has ~150k clients and a
    few raises, so the rest are dropped column-wise, not looked at one by one. The named rows
    are picked first and filtered after (the same rows): filtering first copied the 14 columns
    of nearly every client (~50 MiB for a 10M-line log's 300k clients, at the scan's peak)."""
    rows = clients.select(
        "ip", "user_agent", "verdict", "crawler", "allowlisted", "identity", "verified", "asn",
        "honeypot_requests", "disallowed_requests", "assets", "referers", "requests", "model_score",
    )  # fmt: skip
    if not any_client:
        named = pl.DataFrame(
            {"ip": [ip for ip, _ in keys], "_ua": [ua for _, ua in keys]},
            schema={"ip": pl.String, "_ua": pl.String},
        )
        rows = (
            rows.with_columns(_ua=col("user_agent").fill_null(""))
            .join(named, on=["ip", "_ua"], how="semi", nulls_equal=True, maintain_order="left")
            .drop("_ua")
        )
    return rows.filter(
        col("crawler").is_null() & col("allowlisted").is_null() & ~col("verified").fill_null(False)
        & (col("identity") != "verified").fill_null(True)
    )  # fmt: skip


def _live(candidates: list[RuleCandidate], model: ScanModelSettings) -> bool:
    """Whether any candidate may raise a client."""
    return any(_is_live(c, model) for c in candidates)


def _is_live(candidate: RuleCandidate, model: ScanModelSettings) -> bool:
    """Whether ``candidate`` may raise a client (:func:`_by_candidate` skips every other)."""
    return candidate.action == "block" and candidate.score >= model.min_score


def _by_candidate(
    row: dict[str, Any], candidates: list[RuleCandidate], model: ScanModelSettings
) -> ClientRaise | None:
    """A raise for a bare client a proposed rule candidate matches (None if none does)."""
    requests = row["requests"] or 0
    follows_links = (
        requests >= model.person_min_requests
        and (row["referers"] or 0) >= model.person_referer_share * requests
    )
    if (row["assets"] or 0) > 0 or follows_links:
        return None
    ua = row["user_agent"] or ""
    for c in candidates:
        if not _is_live(c, model):
            continue
        if matches(Match(c.match_kind, c.match_value), row["ip"], ua, row["asn"]):
            support = f"{c.support_ips} addresses, score {c.score:.2f}"
            reason = f"model: matches rule candidate {c.signature} ({support})"
            return ClientRaise(
                row["ip"],
                ua,
                c.signature,
                "candidate",
                reason,
                c.support_ips,
                c.score,
                c.proposed_at,
            )
    return None


def _apply(clients: pl.DataFrame, raises: list[ClientRaise], model: ScanModelSettings) -> pl.DataFrame:
    """Raise the verdicts and add each raise's reason; harshest verdict first, as the judge orders.

    Only the raised clients' rows are rebuilt (verdict and reasons), and only the rows between
    the first and the last that move are copied (:func:`_in_order`): the rest are slices of
    ``clients``. Sorting a frame with both columns rebuilt for every client copied all of its ~40
    columns (~110 MiB for a 10M-line log's 300k clients) at the scan's peak, beside ``clients``,
    which the caller still holds.
    """
    raised = pl.DataFrame(
        {
            "ip": [r.ip for r in raises],
            "_ua": [r.user_agent for r in raises],
            "_verdict": [_target(r, model) for r in raises],
            "_reason": [f"{r.reason} (to {r.action})" for r in raises],
        },
        schema=dict.fromkeys(("ip", "_ua", "_verdict", "_reason"), pl.String),
    )
    found = (
        clients.select("ip", _ua=col("user_agent").fill_null(""), _row=_ROW)
        .join(raised, on=["ip", "_ua"], how="inner")
        .sort("_row")
    )
    rows = found.get_column("_row")
    hit = pl.repeat(False, clients.height, eager=True).scatter(rows, True)
    rebuilt = clients[rows].with_columns(
        verdict=found.get_column("_verdict"),
        reasons=pl.concat_list(col("reasons"), pl.concat_list(found.get_column("_reason"))),
    )
    return _in_order(clients, hit, rebuilt)


#: Each row's number (a frame's rows are fewer than 2**32).
_ROW = pl.int_range(pl.len(), dtype=pl.UInt32)


def _in_order(clients: pl.DataFrame, replaced: pl.Series, rebuilt: pl.DataFrame) -> pl.DataFrame:
    """``clients`` with the rows where ``replaced`` is true replaced by ``rebuilt`` (in turn), in
    the judge's order (harshest verdict, highest score, most requests, then address and agent:
    a total order); only the rows between the first and the last that move are copied, the
    rows before and after are slices of ``clients``.

    Why: a raise only moves a client up to a harsher verdict, and most clients of a big log are
    allowed and stay at the end (a 10M-line log: 274k of 300k)."""
    rows = pl.concat([clients, rebuilt], rechunk=False)
    rank = col("verdict").replace_strict(VERDICT_ORDER, return_dtype=pl.Int8)
    keys = ["verdict", "score", "requests", "ip", "user_agent"]
    kept = replaced.not_().append(pl.repeat(True, rebuilt.height, eager=True))
    order = (
        rows.select(rank, *keys[1:], row=_ROW)
        .filter(kept)
        .sort(keys, descending=[True, True, True, False, False])
        .get_column("row")
    )
    moved = (order != pl.int_range(order.len(), dtype=pl.UInt32, eager=True)).arg_true()
    if moved.len() == 0:
        return clients
    first, last = moved[0], moved[-1]
    middle = rows[order.slice(first, last - first + 1)]
    return pl.concat([clients.head(first), middle, clients.slice(last + 1)], rechunk=False)
