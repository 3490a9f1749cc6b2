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
from botguard.model._batches import PartIds
from botguard.model._join import Trainer
from botguard.model._keys import Call, _intern
from botguard.model.clients import LABEL_SOURCES, weak_labels
from botguard.model.features import UA_SLOTS
from botguard.model.labels import HUMAN_SLOTS, MASKS
from botguard.model.learner import sigmoid

if TYPE_CHECKING:
    from botguard.model.stream import StreamLearner

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
    frame = clients.select(READS).with_row_index("row").sort(["first_seen", "row"])
    frame = weak_labels(frame, settings, model)
    call, address_of, addresses = _call(learner, frame)
    rest_id, rest_parts = learner._keys.rests(call, _behaviour(frame))
    parts = PartIds(
        [
            ([info.ua_keys for info in call.ua_infos], call.ua_of),
            ([learner.features._ip(ip) for ip in addresses], address_of),
            (rest_parts, rest_id),
        ]
    )
    examples = _examples(frame, model.max_examples_per_source)
    trainer = Trainer(CLIENT_MASKS)
    source = frame.get_column("label_source").to_list()
    y = frame.get_column("label").fill_null(False).to_numpy()
    pre = np.empty(len(examples))
    step = max(8, -(-len(examples) // BATCHES))
    for start in range(0, len(examples), step):
        rows = examples[start : start + step]
        pre[start : start + len(rows)] = _score(learner, parts, rows)
        now = float(call.t[rows[-1]])
        xs = [parts.of(r) for r in rows.tolist()]
        uids = np.fromiter((actor_uid(call.ip[r], call.ua[r]) for r in rows.tolist()), np.int64, len(rows))
        trainer.learn(
            learner.trainer, xs, y[rows], call.t[rows].tolist(), [source[r] for r in rows.tolist()], uids,
            now, learner.counters,
        )  # fmt: skip
        learner.publish(now)
    scores = _score(learner, parts, slice(None))
    scores[examples] = pre
    out = np.empty(n)
    out[frame.get_column("row").to_numpy()] = scores
    return ClientScores(out, len(examples))


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


def _call(learner: StreamLearner, frame: pl.DataFrame) -> tuple[Call, np.ndarray, list[str]]:
    """The clients as one call of the learner's keys (one row per client, at its first request),
    and each client's address as an index into the distinct addresses.

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
    t = frame.get_column("first_seen").dt.epoch("us").to_numpy().astype(np.float64) / 1e6
    t = np.maximum.accumulate(np.nan_to_num(t, nan=0.0))
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
