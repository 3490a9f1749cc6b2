"""The stream learner taught one event per judged client: a scan's scores without the replay.

Why: replaying every request through the learner (``scan --campaigns``) costs about 11 times the
rest of the scan, but every client of a scan still deserves a model score, and the scan's
shared-signature raises are gated by it. The judge has already folded the requests into
per-client totals, so this pass reads those (tens of thousands of rows, not millions) and teaches
the *same* learner a watch runs: its trainer and scorer, its feature vocabulary and memoised parts
(:mod:`~botguard.model._keys`: the agent's keys, the address's, and the behaviour part of the
client's totals; no path keys, which a total does not have) and its masked training
(:class:`~botguard.model._join.Trainer`), then its trainer -> scorer publication.

Labels are the judge's evidence over each whole session (:func:`botguard.model.clients.weak_labels`,
the labels the shared signatures count), each example masked of the slots its source read
(:data:`CLIENT_MASKS`). A source labels at most ``model.scan.max_examples_per_source`` clients,
evenly spread in time: a flood of easy negatives adds time, not knowledge.

Time order, score first: the clients are taught in micro-batches by first request; each batch's
examples are scored with the scorer as it stands, then trained, then published. An example keeps
that score (the model had not seen it); every other client is scored by the final weights, since
a scan sees the whole log and a disguised client that came before its operator was caught is
still judged with everything the log taught.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from botguard.config import ScanModelSettings
from botguard.model._actors import actor_uid, behaviour_buckets
from botguard.model._batches import PartIds, PartSums, bias
from botguard.model._join import Trainer
from botguard.model._keys import Call, _intern
from botguard.model.clients import LABEL_SOURCES, _key, ipv4_prefixes, ipv6_prefixes, weak_labels
from botguard.model.features import UA_SLOTS, FeatureExtractor
from botguard.model.labels import HUMAN_SLOTS, MASKS
from botguard.model.learner import sigmoid

if TYPE_CHECKING:
    from botguard.model.stream import StreamLearner
    from botguard.model.table import ParamTable

col = pl.col

#: Micro-batches per pass (fewer, larger ones learned less: 95% of disguised scrapers caught at
#: 16 batches vs 99% at 64 on generated logs), each of at least 8 examples.
BATCHES = 64
_NETWORK = frozenset({"asn", "asn_type", "ua_fam_x_asn", "ua_fam_x_host"})
_ADDRESS = frozenset({"ip24", "ip16", "ip6_48", "ip6_64"})
#: Slots masked on the examples each client label source labelled: the ones it read.
CLIENT_MASKS: dict[str, frozenset[str]] = {
    "honeypot": MASKS["honeypot"],
    "spoofed": UA_SLOTS | _ADDRESS | _NETWORK,  # the agent's claim and the address's network
    "verified": UA_SLOTS | _ADDRESS | _NETWORK,
    "robots": MASKS["robots"],
    "blocked_category": MASKS["catalog"],
    "automated": HUMAN_SLOTS,  # a browser agent that behaves like a program
    "hosting_violator": _NETWORK | frozenset({"asset_b", "robots"}),
    "obedient_crawler": UA_SLOTS | frozenset({"robots"}),
    "person": HUMAN_SLOTS,
}
assert set(CLIENT_MASKS) == {source.name for source in LABEL_SOURCES}
#: Columns of the clients frame the pass reads.
READS = (
    "ip", "user_agent", "crawler", "category", "verdict", "identity", "asn", "hosting", "requests",
    "assets", "referers", "invalid_requests", "disallowed_requests", "honeypot_requests", "judged_requests",
    "robots_fetched", "robots_fetched_first", "first_seen", "last_seen",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClientScores:
    """Each client's model probability (the clients frame's row order) and examples trained on."""

    scores: np.ndarray
    trained: int


def fit_clients(learner: StreamLearner, clients: pl.DataFrame, settings: Any) -> ClientScores:
    """Teach ``learner`` one event per client of a judged clients frame (CLIENT_SCHEMA), then score
    every client; the learner keeps what it learned."""
    n = clients.height
    if n == 0:
        return ClientScores(np.zeros(0), 0)
    model = ScanModelSettings.from_settings(settings)
    frame = weak_labels(clients.select(READS), settings, model)
    # Time order (first request, then row) as positions only: a sorted copy of the clients was
    # ~110 MiB at 10M lines, while only the examples are taught in that order; every other
    # client's score is its own row's (:func:`_score_all`), whatever the order.
    order = frame.select(pl.arg_sort_by("first_seen", maintain_order=True)).to_series().to_numpy()
    examples = _examples(frame.select("label", "label_source")[order], model.max_examples_per_source)
    rows = order[examples]
    pre = _train(learner, frame[rows], _times(frame.get_column("first_seen").gather(order))[examples])
    scores = _score_all(learner, frame)
    scores[rows] = pre
    return ClientScores(scores, len(examples))


def _train(learner: StreamLearner, frame: pl.DataFrame, t: np.ndarray) -> np.ndarray:
    """Teach the examples (``frame``: their rows in time order; ``t``: their stream times) in
    micro-batches, each scored before it is learned; returns those scores."""
    call, address_of, addresses = _call(learner, frame, t)
    rest_id, rest_parts = learner._keys.rests(call, _behaviour(frame))
    parts = PartIds(
        [
            ([info.ua_keys for info in call.ua_infos], call.ua_of),
            ([learner.features._ip(ip) for ip in addresses], address_of),
            (rest_parts, rest_id),
        ]
    )
    trainer = Trainer(CLIENT_MASKS)
    source = frame.get_column("label_source").to_list()
    y = frame.get_column("label").fill_null(False).to_numpy()
    pre = np.empty(frame.height)
    step = max(8, -(-frame.height // BATCHES))
    for start in range(0, frame.height, step):
        rows = np.arange(start, min(start + step, frame.height))
        pre[rows] = _score(learner, parts, rows)
        now = float(call.t[rows[-1]])
        xs = [parts.of(r) for r in rows.tolist()]
        uids = np.fromiter((actor_uid(call.ip[r], call.ua[r]) for r in rows.tolist()), np.int64, len(rows))
        trainer.learn(
            learner.trainer, xs, y[rows], call.t[rows].tolist(), [source[r] for r in rows.tolist()], uids,
            now, learner.counters,
        )  # fmt: skip
        learner.publish(now)
    return pre


def _times(first_seen: pl.Series) -> np.ndarray:
    """Each client's stream time (``first_seen`` in time order): its first request, never before
    an earlier client's."""
    t = first_seen.dt.epoch("us").to_numpy().astype(np.float64) / 1e6
    return np.maximum.accumulate(np.nan_to_num(t, nan=0.0))


def _examples(frame: pl.DataFrame, cap: int) -> np.ndarray:
    """Rows to train on, in time order: each label source's clients, every k-th when it labelled
    more than ``cap``."""
    labelled = frame.select("label", "label_source").with_row_index("at").filter(col("label").is_not_null())
    rows = [
        part.get_column("at").gather_every(max(1, -(-part.height // max(cap, 1))))
        for part in labelled.partition_by("label_source", maintain_order=True)
    ]
    return np.sort(pl.concat(rows).to_numpy()) if rows else np.zeros(0, dtype=np.int64)


def _score(learner: StreamLearner, parts: PartIds, rows: slice | np.ndarray) -> np.ndarray:
    """The scorer's probability of the clients ``rows``, as its weights stand now."""
    z = parts.logit(rows, learner.scorer.table, learner._epoch)
    return sigmoid(np.asarray(z, dtype=np.float64))


#: Clients scored at a time by :func:`_score_all`: its column-wise keys and joins of every client
#: of a 10M-line log at once (300k) were ~70 MiB at the scan's peak; each score is its own row's.
SCORE_ROWS = 50_000


def _score_all(learner: StreamLearner, frame: pl.DataFrame) -> np.ndarray:
    """Every client's probability by the final weights, :data:`SCORE_ROWS` clients at a time
    (:func:`_score_rows`)."""
    if frame.height <= SCORE_ROWS:
        return _score_rows(learner, frame)
    return np.concatenate(
        [_score_rows(learner, frame.slice(start, SCORE_ROWS)) for start in range(0, frame.height, SCORE_ROWS)]
    )


def _score_rows(learner: StreamLearner, frame: pl.DataFrame) -> np.ndarray:
    """Each client's probability by the final weights: the sums :func:`_score` makes of each
    client's three parts (agent, address, the rest), column-wise.

    Why not per client: a 5M-line day has ~150k clients but ~60 agents, a few thousand networks
    and a few hundred behaviours; building each client's parts in Python was most of the pass.
    Each part's keys still come from the feature extractor (per distinct agent, network and
    behaviour; a dotted IPv4 address's prefixes column-wise), and each sum adds its keys' weights
    in the part's order, so the scores are the per-client ones to the last bit.
    """
    table = learner.scorer.table
    weights = _Weights(table)
    ua_of, uas = _ids(frame.get_column("user_agent").fill_null(""))
    parts = [learner._keys.agent_keys(ua).ua_keys for ua in uas]
    agent = PartSums(parts).get(np.arange(len(uas)), table, 0)[ua_of]
    address = _address_sums(learner, frame.get_column("ip").fill_null(""), weights)
    rest = _rest_sums(learner, frame, ua_of, uas, weights)
    return sigmoid(np.asarray(bias(table) + (agent + address + rest), dtype=np.float64))


class _Weights:
    """The scorer's weight of each key (0.0 for a key it does not know: adding it changes no sum)."""

    def __init__(self, table: ParamTable) -> None:
        self.table = table
        self.frame = pl.DataFrame(
            {"key": list(table.index), "w": table.w[np.fromiter(table.index.values(), np.int64)]},
            schema={"key": pl.String, "w": pl.Float64},
        )

    def of(self, key: str) -> float:
        row = self.table.index.get(key)
        return 0.0 if row is None else float(self.table.w[row])

    def column(self, keys: pl.Series) -> np.ndarray:
        joined = keys.to_frame("key").join(self.frame, on="key", how="left", maintain_order="left")
        return joined.get_column("w").fill_null(0.0).to_numpy()


def _ids(values: pl.Series) -> tuple[np.ndarray, list[Any]]:
    """Index of each value into the distinct values (first-seen order), column-wise."""
    of, first = _groups(values.to_frame())
    return of, values.gather(first).to_list()


def _groups(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group of equal rows (first-seen order), and the first row of each group."""
    keyed = frame.with_row_index("_at")
    first = keyed.unique(frame.columns, keep="first", maintain_order=True)
    ids = keyed.join(
        first.with_row_index("_id").drop("_at"), on=frame.columns, how="left", nulls_equal=True,
        maintain_order="left",
    )  # fmt: skip
    return ids.get_column("_id").to_numpy().astype(np.int64), first.get_column("_at").to_numpy()


def _address_sums(learner: StreamLearner, ips: pl.Series, weights: _Weights) -> np.ndarray:
    """Each client's address part sum: the weights of its two prefixes (IPv4 /24 then /16, IPv6
    /48 then /64, as :func:`~botguard.model.features.ip_prefixes` writes them) column-wise, and
    the extractor's keys for an address spelled any other way."""
    out = np.zeros(ips.len())
    v6 = ips.str.contains(":", literal=True).to_numpy()
    odd = []
    for rows, prefixes, slots in (
        (np.flatnonzero(~v6), ipv4_prefixes, ("ip24", "ip16")),
        (np.flatnonzero(v6), ipv6_prefixes, ("ip6_48", "ip6_64")),
    ):
        if not rows.size:
            continue
        found = ips.gather(rows).to_frame("ip").select(p=prefixes(col("ip"))).unnest("p")
        wide = found.select(_key(slots[0], col("1"))).to_series()
        narrow = found.select(_key(slots[1], col("2"))).to_series()
        out[rows] = out[rows] + weights.column(wide) + weights.column(narrow)
        odd.append(rows[wide.is_null().to_numpy()])
    rows = np.concatenate(odd) if odd else np.zeros(0, np.int64)
    if rows.size:
        of, values = _intern(ips.gather(rows).to_list())
        parts = [learner.features._ip(ip) for ip in values]
        out[rows] = PartSums(parts).get(np.arange(len(parts)), weights.table, 0)[of]
    return out


def _rest_sums(
    learner: StreamLearner, frame: pl.DataFrame, agent_of: np.ndarray, agents: list[str], weights: _Weights
) -> np.ndarray:
    """Each client's rest part sum (:meth:`~botguard.model._keys.RequestKeys.rests` of the client's
    whole session), slot by slot in the part's order.

    A rest key is read either from the client's network and agent family (AS, hosting class,
    their crosses) or from its behaviour buckets: the keys of each distinct network and of each
    distinct behaviour are the extractor's, for the first client that has them.
    """
    fx = learner.features
    behaviour = _behaviour(frame)
    order, by_behaviour = _rest_slots(fx)
    at = {slot: j for j, slot in enumerate(order)}
    family = [fx._ua(ua)[0] for ua in agents]
    nets = frame.select("asn", "hosting").with_columns(fam=pl.Series(family).gather(agent_of))
    net_of, net_first = _groups(nets)
    firsts = nets[net_first]
    net_w = np.zeros((len(net_first), len(order)))
    for g, (agent, asn, hosting) in enumerate(
        zip(
            agent_of[net_first].tolist(),
            firsts.get_column("asn").to_list(),
            firsts.get_column("hosting").to_list(),
        )
    ):
        for key in _rest(fx, {"user_agent": agents[agent], "asn": asn, "hosting": hosting}):
            net_w[g, at[_slot(key)]] = weights.of(key)
    buckets = pl.DataFrame({k: behaviour[k] for k in ("robots", "ref", "rate_b", "asset_b", "inv_b")})
    beh_of, beh_first = _groups(buckets.with_columns(col("rate_b").clip(upper_bound=31)))
    beh_w = np.zeros((len(beh_first), len(order)))
    for g, r in enumerate(beh_first.tolist()):
        event = {
            "robots_fetched": bool(behaviour["robots"][r]), "rate": float(behaviour["rate"][r]),
            "asset_ratio": float(behaviour["asset_ratio"][r]), "has_referer": bool(behaviour["ref"][r]),
            "invalid_share": float(behaviour["invalid_share"][r]),
        }  # fmt: skip
        for key in _rest(fx, event):
            if _slot(key) in by_behaviour:
                beh_w[g, at[_slot(key)]] = weights.of(key)
    out = np.zeros(frame.height)
    for j, slot in enumerate(order):
        out = out + (beh_w[beh_of, j] if slot in by_behaviour else net_w[net_of, j])
    return out


def _rest_slots(fx: FeatureExtractor) -> tuple[list[str], frozenset[str]]:
    """The slots of a client's rest part in the extractor's order, and those its behaviour sets."""
    behaviour = {
        "robots_fetched": True,
        "rate": 1.0,
        "asset_ratio": 0.0,
        "has_referer": True,
        "invalid_share": 0.0,
    }
    order = [_slot(k) for k in _rest(fx, {"asn": 0, "hosting": True, **behaviour})]
    bare = {_slot(k) for k in _rest(fx, {})}
    return order, frozenset(_slot(k) for k in _rest(fx, behaviour)) - bare


def _rest(fx: FeatureExtractor, event: dict[str, Any]) -> list[str]:
    """A client ``event``'s rest part: the extractor's keys of it besides its agent's, address's
    and path's (as :meth:`~botguard.model._keys.RequestKeys.rests` makes it)."""
    return fx.rest_keys(event, fx._ua(str(event.get("user_agent") or ""))[0])


def _slot(key: str) -> str:
    return key.partition("=")[0]


def _call(learner: StreamLearner, frame: pl.DataFrame, t: np.ndarray) -> tuple[Call, np.ndarray, list[str]]:
    """The clients as one call of the learner's keys (one row per client, at its first request,
    ``t`` its stream time), and each client's address as an index into the distinct addresses.

    The call's agents are the clients' (feature keys only: the judge already read the
    catalogue); its addresses stand for the clients' networks, the AS and hosting class the judge
    found, which is all the behaviour part reads of an address.
    """
    keys = learner._keys
    n = frame.height
    ip = frame.get_column("ip").fill_null("").to_list()
    ua = frame.get_column("user_agent").fill_null("").to_list()
    ua_of, uas = _intern(ua)
    address_of, addresses = _intern(ip)
    nets = frame.select("asn", "hosting", first=col("ip").fill_null(""))
    distinct = nets.unique(["asn", "hosting"], keep="first", maintain_order=True)
    net_of = nets.join(
        distinct.select("asn", "hosting", net=pl.int_range(pl.len(), dtype=pl.Int64)),
        on=["asn", "hosting"], how="left", nulls_equal=True, maintain_order="left",
    ).get_column("net")  # fmt: skip
    firsts = distinct.get_column("first").to_list()
    networks = [
        keys._ip_info(first, _Network(asn, hosting), ())
        for first, asn, hosting in zip(firsts, distinct.get_column("asn"), distinct.get_column("hosting"))
    ]
    referers = frame.get_column("referers").fill_null(0).to_numpy()
    requests = np.maximum(frame.get_column("requests").fill_null(1).to_numpy(), 1)
    none: list[str | None] = [None] * n
    call = Call(
        n=n, t=t, ip=ip, ua=ua, target=none, referer=none, method=none, protocol=none, host=none,
        status=np.full(n, -1, dtype=np.int64), valid=np.zeros(n, dtype=bool),
        has_ref=2 * referers >= requests, ua_of=ua_of, uas=uas, ua_infos=[keys.agent_keys(v) for v in uas],
        ip_of=net_of.to_numpy(), ips=firsts, ip_infos=networks,
    )  # fmt: skip
    return call, address_of, addresses


@dataclass(frozen=True, slots=True)
class _Network:
    """What the judge found of an address's network (the AS and hosting facts keys read)."""

    asn: int | None
    hosting: bool | None


def _behaviour(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """Each client's behaviour over its whole session, bucketed as the stream's features read it."""

    def values(name: str) -> np.ndarray:
        return frame.get_column(name).fill_null(0).cast(pl.Float64).to_numpy()

    n = np.maximum(values("requests"), 1.0)
    span = frame.get_column("last_seen") - frame.get_column("first_seen")
    seconds = span.dt.total_seconds(fractional=True).fill_null(0.0).to_numpy()
    return {
        **behaviour_buckets(n, seconds, values("assets"), values("invalid_requests")),
        "robots": frame.get_column("robots_fetched_first").fill_null(False).cast(pl.Int64).to_numpy(),
        "ref": (2 * values("referers") >= n).astype(np.int64),
    }
